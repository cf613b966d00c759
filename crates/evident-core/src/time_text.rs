//! RFC 3339 text written by hand, for the two places that write it per event
//! (CSV cells, leaf hashes): strftime, or even `write!`, costs more there than
//! the rest of a row.

use jiff::civil::DateTime;

/// `value` in decimal, zero-padded to fill `slot`.
pub(crate) fn put_digits(slot: &mut [u8], mut value: u32) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    debug_assert_eq!(value, 0, "the value has more digits than its slot");
}

/// `YYYY-MM-DDTHH:MM:SS` of a date and time in years 0–9999 (None outside
/// them: the callers fall back to strftime there).
pub(crate) fn date_time(civil: DateTime) -> Option<[u8; 19]> {
    if !(0..=9999).contains(&civil.year()) {
        return None;
    }
    let mut text = *b"0000-00-00T00:00:00";
    put_digits(&mut text[0..4], civil.year() as u32);
    put_digits(&mut text[5..7], civil.month() as u32);
    put_digits(&mut text[8..10], civil.day() as u32);
    put_digits(&mut text[11..13], civil.hour() as u32);
    put_digits(&mut text[14..16], civil.minute() as u32);
    put_digits(&mut text[17..19], civil.second() as u32);
    Some(text)
}
