//! Exports as people open them: the CSV columns in the words of the audit
//! log pages users know, times in a chosen zone, and the defence against
//! cells that a spreadsheet would run as formulas.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::event::{ActorType, Event};
use crate::time_text;
use crate::view::{EventView, TargetView};

/// One CSV column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Time,
    Event,
    Description,
    Area,
    User,
    ActorType,
    CompanyName,
    AccountId,
    Targets,
    IpAddress,
    Channel,
    Outcome,
    EventId,
    Seq,
    RecordedAt,
    ActorId,
    ActorEmail,
    UserAgent,
    Metadata,
}

impl Column {
    /// Every column: the default ones first.
    pub const ALL: [Column; 19] = [
        Column::Time,
        Column::Event,
        Column::Description,
        Column::Area,
        Column::User,
        Column::ActorType,
        Column::CompanyName,
        Column::AccountId,
        Column::Targets,
        Column::IpAddress,
        Column::Channel,
        Column::Outcome,
        Column::EventId,
        Column::Seq,
        Column::RecordedAt,
        Column::ActorId,
        Column::ActorEmail,
        Column::UserAgent,
        Column::Metadata,
    ];

    /// The columns of an export that names none, in the words of the seeds' pages.
    pub const DEFAULT: &'static [Column] = {
        let all: &[Column] = &Column::ALL;
        all.split_at(14).0
    };

    /// The header cell.
    pub fn header(self) -> &'static str {
        match self {
            Column::Time => "Time",
            Column::Event => "Event",
            Column::Description => "Description",
            Column::Area => "Area",
            Column::User => "User",
            Column::ActorType => "Actor type",
            Column::CompanyName => "Company name",
            Column::AccountId => "Account ID",
            Column::Targets => "Targets",
            Column::IpAddress => "IP address",
            Column::Channel => "Channel",
            Column::Outcome => "Outcome",
            Column::EventId => "Event ID",
            Column::Seq => "Seq",
            Column::RecordedAt => "Recorded at",
            Column::ActorId => "Actor ID",
            Column::ActorEmail => "Actor email",
            Column::UserAgent => "User agent",
            Column::Metadata => "Metadata",
        }
    }

    /// The name in `columns=`: the header in lower case, words joined by `_`.
    pub fn key(self) -> String {
        self.header().to_lowercase().replace(' ', "_")
    }

    /// A column by its key or its header, in any case.
    pub fn parse(name: &str) -> Option<Column> {
        let wanted = name.trim().to_lowercase().replace([' ', '-'], "_");
        Column::ALL
            .into_iter()
            .find(|column| column.key() == wanted)
    }

    /// A comma list of columns, in the order given.
    pub fn parse_list(text: &str) -> Result<Vec<Column>, String> {
        let columns = text
            .split(',')
            .filter(|name| !name.trim().is_empty())
            .map(|name| {
                Column::parse(name).ok_or_else(|| {
                    let known: Vec<String> =
                        Column::ALL.iter().map(|column| column.key()).collect();
                    format!(
                        "{:?} is not a column; the columns are {}",
                        name.trim(),
                        known.join(", ")
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if columns.is_empty() {
            return Err("name at least one column".to_owned());
        }
        Ok(columns)
    }
}

/// How events become CSV rows.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    pub columns: Vec<Column>,
    /// The zone of the Time and Recorded at cells (written with their offset).
    pub time_zone: TimeZone,
    /// Cells exactly as stored, without the formula defence.
    pub raw: bool,
}

impl Default for CsvLayout {
    fn default() -> Self {
        CsvLayout {
            columns: Column::DEFAULT.to_vec(),
            time_zone: TimeZone::UTC,
            raw: false,
        }
    }
}

impl CsvLayout {
    pub fn header(&self) -> Vec<&'static str> {
        self.columns.iter().map(|column| column.header()).collect()
    }

    /// Hands each cell of one event's row to `cell`, in column order, each
    /// written into `scratch` (reused: a row allocates nothing once it has
    /// grown). `company` names the tenant when the event does not carry the
    /// name (a view of one tenant).
    pub fn cells(
        &self,
        event: &EventView<'_>,
        company: &str,
        scratch: &mut String,
        cell: &mut dyn FnMut(&str),
    ) {
        for column in &self.columns {
            scratch.clear();
            self.write_cell(*column, event, company, scratch);
            if !self.raw && needs_neutralising(scratch) {
                scratch.insert(0, '\'');
            }
            cell(scratch);
        }
    }

    /// The row of one event, as owned cells (see [`CsvLayout::cells`]).
    pub fn row(&self, event: &Event, company: &str) -> Vec<String> {
        let mut row = Vec::with_capacity(self.columns.len());
        self.cells(&event.view(), company, &mut String::new(), &mut |cell| {
            row.push(cell.to_owned())
        });
        row
    }

    fn write_cell(&self, column: Column, event: &EventView<'_>, company: &str, out: &mut String) {
        use std::fmt::Write as _;
        let text = |value: &Option<std::borrow::Cow<'_, str>>, out: &mut String| {
            out.push_str(value.as_deref().unwrap_or(""));
        };
        match column {
            Column::Time => write_time(event.occurred_at, &self.time_zone, out),
            Column::Event => out.push_str(event.action),
            Column::Description => match &event.display {
                Some(display) => out.push_str(display),
                None => text(&event.description, out),
            },
            Column::Area => out.push_str(event.category),
            Column::User => out.push_str(label_of(
                [&event.actor.email, &event.actor.name, &event.actor.id]
                    .map(|part| part.as_deref()),
                event.actor.actor_type,
            )),
            Column::ActorType => out.push_str(event.actor.actor_type.as_str()),
            Column::CompanyName => out.push_str(event.tenant_name.unwrap_or(company)),
            Column::AccountId => out.push_str(event.tenant),
            Column::Targets => write_targets(&event.targets, out),
            Column::IpAddress => {
                if let Some(ip) = event.context.ip {
                    out.push_str(time_text::ip_text(ip, &mut [0; time_text::IP_TEXT_BYTES]));
                }
            }
            Column::Channel => out.push_str(event.channel.unwrap_or("")),
            Column::Outcome => out.push_str(event.outcome.as_str()),
            Column::EventId => {
                let mut buffer = uuid::Uuid::encode_buffer();
                out.push_str(event.id.hyphenated().encode_lower(&mut buffer));
            }
            Column::Seq => {
                let _ = write!(out, "{}", event.seq);
            }
            Column::RecordedAt => write_time(event.recorded_at, &self.time_zone, out),
            Column::ActorId => text(&event.actor.id, out),
            Column::ActorEmail => text(&event.actor.email, out),
            Column::UserAgent => text(&event.context.user_agent, out),
            Column::Metadata if event.metadata.is_empty() => {}
            Column::Metadata => event.metadata.write_json(out),
        }
    }
}

/// The actor as a person reads it: email, else name, else id, else its type.
pub fn user_label(event: &Event) -> &str {
    let actor = &event.actor;
    label_of(
        [&actor.email, &actor.name, &actor.id].map(|part| part.as_deref()),
        actor.actor_type,
    )
}

/// The first of `parts` that is not empty, else the actor's type.
fn label_of(parts: [Option<&str>; 3], actor_type: ActorType) -> &str {
    parts
        .into_iter()
        .find_map(|part| part.filter(|part| !part.is_empty()))
        .unwrap_or(actor_type.as_str())
}

/// `type:id (name)` for each target, joined by `; `.
pub fn targets_label(event: &Event) -> String {
    let mut out = String::new();
    write_targets(&event.view().targets, &mut out);
    out
}

fn write_targets(targets: &[TargetView<'_>], out: &mut String) {
    for (position, target) in targets.iter().enumerate() {
        if position > 0 {
            out.push_str("; ");
        }
        out.push_str(&target.target_type);
        out.push(':');
        out.push_str(&target.id);
        let label = [&target.name, &target.email]
            .into_iter()
            .find_map(|part| part.as_deref().filter(|part| !part.is_empty()));
        if let Some(label) = label {
            out.push_str(" (");
            out.push_str(label);
            out.push(')');
        }
    }
}

/// RFC 3339 in `zone`, with its offset, to the microsecond when there is one.
fn write_time(time: Timestamp, zone: &TimeZone, out: &mut String) {
    let offset = zone.to_offset(time);
    let civil = offset.to_datetime(time);
    let Some(date_time) = time_text::date_time(civil) else {
        out.push_str(
            &time
                .to_zoned(zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
                .to_string(),
        );
        return;
    };
    out.push_str(std::str::from_utf8(&date_time).expect("digits are ASCII"));
    let micros = civil.subsec_nanosecond() as u32 / 1000;
    if micros != 0 {
        let mut digits = 6;
        let mut value = micros;
        while value.is_multiple_of(10) {
            value /= 10;
            digits -= 1;
        }
        out.push('.');
        push_digits(out, value, digits);
    }
    let seconds = offset.seconds();
    out.push(if seconds < 0 { '-' } else { '+' });
    let seconds = seconds.unsigned_abs();
    push_digits(out, seconds / 3600, 2);
    out.push(':');
    push_digits(out, seconds / 60 % 60, 2);
    if !seconds.is_multiple_of(60) {
        out.push(':');
        push_digits(out, seconds % 60, 2);
    }
}

/// `value` in decimal, zero-padded to `width` digits (at most ten).
fn push_digits(out: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    time_text::put_digits(&mut digits[..width], value);
    out.push_str(std::str::from_utf8(&digits[..width]).expect("digits are ASCII"));
}

/// Whether a spreadsheet would read the cell as a formula: it starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return. The OWASP defence against
/// CSV injection then puts a `'` first, which spreadsheets show as text.
fn needs_neutralising(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, ActorType, Context, Outcome, Target};

    fn format_time(time: Timestamp, zone: &TimeZone) -> String {
        let mut out = String::new();
        write_time(time, zone, &mut out);
        out
    }

    fn event() -> Event {
        Event {
            id: uuid::Uuid::nil(),
            tenant: "acme".to_owned(),
            tenant_name: None,
            seq: 7,
            recorded_at: "2026-03-29T01:30:00.5Z".parse().unwrap(),
            occurred_at: "2026-03-29T00:59:59Z".parse().unwrap(),
            action: "license.revoked".to_owned(),
            category: "licensing".to_owned(),
            actor: Actor {
                actor_type: ActorType::User,
                id: Some("usr_1".to_owned()),
                name: Some("Ada".to_owned()),
                email: None,
            },
            targets: vec![
                Target {
                    target_type: "license".to_owned(),
                    id: "lic_1".to_owned(),
                    name: Some("Pro".to_owned()),
                    email: None,
                },
                Target {
                    target_type: "user".to_owned(),
                    id: "usr_2".to_owned(),
                    name: None,
                    email: None,
                },
            ],
            context: Context {
                ip: Some("2001:db8::1".parse().unwrap()),
                user_agent: None,
            },
            channel: None,
            outcome: Outcome::Failure,
            description: Some("=HYPERLINK(\"http://x\")".to_owned()),
            metadata: serde_json::Map::new(),
            display: None,
        }
    }

    #[test]
    fn columns_parse_by_key_or_header_and_unknown_ones_are_named() {
        assert_eq!(
            Column::parse_list("time, IP address,account-id,Seq").unwrap(),
            vec![
                Column::Time,
                Column::IpAddress,
                Column::AccountId,
                Column::Seq
            ]
        );
        for column in Column::ALL {
            assert_eq!(Column::parse(&column.key()), Some(column));
            assert_eq!(Column::parse(column.header()), Some(column));
        }
        let error = Column::parse_list("time,colour").unwrap_err();
        assert!(
            error.contains("\"colour\"") && error.contains("ip_address"),
            "{error}"
        );
        assert!(Column::parse_list(" , ").is_err());
    }

    #[test]
    fn rows_hold_the_default_columns_in_order() {
        let event = event();
        let row = CsvLayout::default().row(&event, "Acme Corp");
        let expected = [
            "2026-03-29T00:59:59+00:00",
            "license.revoked",
            "'=HYPERLINK(\"http://x\")",
            "licensing",
            "Ada",
            "user",
            "Acme Corp",
            "acme",
            "license:lic_1 (Pro); user:usr_2",
            "2001:db8::1",
            "",
            "failure",
            "00000000-0000-0000-0000-000000000000",
            "7",
        ];
        assert_eq!(row, expected);
    }

    #[test]
    fn times_carry_the_zones_offset_across_a_dst_change() {
        let london = TimeZone::get("Europe/London").unwrap();
        let before: Timestamp = "2026-03-29T00:59:59Z".parse().unwrap();
        let after: Timestamp = "2026-03-29T01:00:00.25Z".parse().unwrap();
        assert_eq!(format_time(before, &london), "2026-03-29T00:59:59+00:00");
        assert_eq!(format_time(after, &london), "2026-03-29T02:00:00.25+01:00");
        let new_york = TimeZone::get("America/New_York").unwrap();
        let precise: Timestamp = "2026-07-04T12:00:00.000001Z".parse().unwrap();
        assert_eq!(
            format_time(precise, &new_york),
            "2026-07-04T08:00:00.000001-04:00"
        );
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(format_time(before, &kolkata), "2026-03-29T06:29:59+05:30");
        // Every zone and instant agrees with jiff's own formatting.
        for zone in [&london, &new_york, &kolkata, &TimeZone::UTC] {
            for micros in [0i64, 1, 999_999, 1_774_745_999_123_400, -86_400_000_001] {
                let time = Timestamp::from_microsecond(micros).unwrap();
                let expected = time
                    .to_zoned(zone.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
                    .to_string();
                assert_eq!(format_time(time, zone), expected);
            }
        }
    }

    proptest::proptest! {
        /// The hand-written time agrees with jiff's formatting at any instant
        /// of years 0 to 9999, to the microsecond, in zones with and without DST.
        #[test]
        fn times_agree_with_jiff_anywhere(
            micros in -62_167_219_200_000_000i64..253_402_300_799_999_999i64,
            zone in 0usize..4,
        ) {
            let zone = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"][zone];
            let zone = TimeZone::get(zone).unwrap();
            let time = Timestamp::from_microsecond(micros).unwrap();
            let zoned = time.to_zoned(zone.clone());
            proptest::prop_assume!(zoned.offset().seconds() % 60 == 0 && (0..=9999).contains(&zoned.year()));
            let expected = zoned.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string();
            proptest::prop_assert_eq!(format_time(time, &zone), expected);
        }
    }

    #[test]
    fn formula_cells_are_neutralised_unless_raw() {
        for (cell, expected) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=1", "a=1"),
            ("", ""),
            ("Ünïcode", "Ünïcode"),
        ] {
            let layout = CsvLayout {
                columns: vec![Column::Description],
                ..CsvLayout::default()
            };
            let mut event = event();
            event.description = Some(cell.to_owned());
            assert_eq!(layout.row(&event, ""), [expected]);
        }
        let event = event();
        let layout = CsvLayout {
            columns: vec![Column::Description],
            raw: true,
            ..CsvLayout::default()
        };
        assert_eq!(layout.row(&event, ""), ["=HYPERLINK(\"http://x\")"]);
    }

    #[test]
    fn the_user_is_the_email_else_the_name_else_the_id_else_the_type() {
        let mut event = event();
        assert_eq!(user_label(&event), "Ada");
        event.actor.email = Some("ada@acme.example".to_owned());
        assert_eq!(user_label(&event), "ada@acme.example");
        event.actor = Actor {
            actor_type: ActorType::System,
            id: None,
            name: None,
            email: None,
        };
        assert_eq!(user_label(&event), "system");
    }
}
