//! RFC 3339 text and IP addresses written by hand, for the two places that
//! write them per event (CSV cells, leaf hashes): strftime, or even `write!`,
//! costs more there than the rest of a row.

use std::io::Write as _;
use std::net::IpAddr;

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

/// The longest text of an IP address (an IPv6 address ending in an IPv4 one).
pub(crate) const IP_TEXT_BYTES: usize = 45;

/// An address's text as `Display` writes it, in `buffer`: IPv4, the common
/// case, by hand; IPv6 (whose shortening rules `Display` keeps) through it.
pub(crate) fn ip_text(ip: IpAddr, buffer: &mut [u8; IP_TEXT_BYTES]) -> &str {
    let written = match ip {
        IpAddr::V4(v4) => {
            let mut at = 0;
            for (position, octet) in v4.octets().into_iter().enumerate() {
                if position > 0 {
                    buffer[at] = b'.';
                    at += 1;
                }
                let digits = match octet {
                    0..=9 => 1,
                    10..=99 => 2,
                    _ => 3,
                };
                put_digits(&mut buffer[at..at + digits], u32::from(octet));
                at += digits;
            }
            at
        }
        IpAddr::V6(v6) => {
            let mut rest = &mut buffer[..];
            write!(rest, "{v6}").expect("an IPv6 address's text fits 45 bytes");
            IP_TEXT_BYTES - rest.len()
        }
    };
    std::str::from_utf8(&buffer[..written]).expect("an address's text is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn an_address_is_written_as_display_writes_it(v4: u32, v6: u128, mapped: u32) {
            let mapped = std::net::Ipv4Addr::from(mapped).to_ipv6_mapped();
            for ip in [
                IpAddr::from(std::net::Ipv4Addr::from(v4)),
                IpAddr::from(std::net::Ipv6Addr::from(v6)),
                IpAddr::from(mapped),
            ] {
                let mut text = [0; IP_TEXT_BYTES];
                prop_assert_eq!(ip_text(ip, &mut text), ip.to_string());
            }
        }
    }

    #[test]
    fn the_edges_of_each_octet_and_the_longest_addresses() {
        for text in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
            "::",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut buffer = [0; IP_TEXT_BYTES];
            assert_eq!(ip_text(ip, &mut buffer), text);
        }
    }
}
