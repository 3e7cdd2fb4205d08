//! ISO-8601 dates as the workspace stores them (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

pub const DATE_FMT: &str = "%Y-%m-%d";
pub const DATETIME_FMT: &str = "%Y-%m-%d %H:%M:%S";

/// Day number (`num_days_from_ce`) of a stored date (`YYYY-MM-DD`, a timestamp's date part),
/// read straight from its bytes: millions of usage rows go through this.
pub fn day_number(s: &str) -> Option<i32> {
    use chrono::Datelike;
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
        .map(|d| d.num_days_from_ce())
}

/// [`day_number`] of a stored value, or an error naming its column and the value.
pub fn stored_day(column: &str, value: &str) -> anyhow::Result<i32> {
    day_number(value).ok_or_else(|| anyhow::anyhow!("{column} {value:?} is not a date"))
}

/// Parse a date written exactly `YYYY-MM-DD` (four-digit year, two-digit month and day).
/// chrono alone accepts `24-01-01` (year 24) and `2024- 1- 5`; stored dates must compare as text.
pub fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, DATE_FMT).ok()
}

/// Parse a date `YYYY-MM-DD`; a timestamp (see [`parse_datetime`]) is accepted and its date kept.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() == 10 {
        return parse_iso_date(s);
    }
    parse_datetime(s).map(|dt| dt.date())
}

/// Parse a timestamp `YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z]`; a bare date means midnight.
/// As strict as [`parse_iso_date`]: chrono's own parser takes `2024-01-02 3:4` and
/// `2024- 1- 2 03:04`, which stored as text would sort wrongly.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let date = parse_iso_date(s.get(..10)?)?;
    let rest = &s[10..];
    if rest.is_empty() {
        return date.and_hms_opt(0, 0, 0);
    }
    let rest = rest.strip_suffix('Z').unwrap_or(rest);
    let time = rest.strip_prefix(['T', ' '])?;
    parse_time(time).map(|t| date.and_time(t))
}

/// `HH:MM[:SS[.fff]]` with two-digit fields and up to nine fraction digits.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    let two = |i: usize| -> Option<u32> {
        match (b.get(i), b.get(i + 1)) {
            (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
                Some(u32::from((x - b'0') * 10 + (y - b'0')))
            }
            _ => None,
        }
    };
    let hour = two(0)?;
    if b.get(2) != Some(&b':') {
        return None;
    }
    let min = two(3)?;
    let (mut sec, mut nano) = (0, 0);
    if b.len() > 5 {
        if b[5] != b':' {
            return None;
        }
        sec = two(6)?;
        if b.len() > 8 {
            let frac = &b[9..];
            if b[8] != b'.' || frac.is_empty() || frac.len() > 9 {
                return None;
            }
            for (i, c) in frac.iter().enumerate() {
                if !c.is_ascii_digit() {
                    return None;
                }
                nano += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
            }
        }
    } else if b.len() != 5 {
        return None;
    }
    // Seconds stop at 59: chrono's leap-second encoding has no place in stored data.
    if sec > 59 {
        return None;
    }
    NaiveTime::from_hms_nano_opt(hour, min, sec, nano)
}

pub fn format_date(d: NaiveDate) -> String {
    d.format(DATE_FMT).to_string()
}

pub fn format_datetime(dt: NaiveDateTime) -> String {
    dt.format(DATETIME_FMT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_date("2023-02-29"), None, "not a leap year");
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(
            parse_date("2024-01-02 03:04:05")
                .map(format_date)
                .as_deref(),
            Some("2024-01-02")
        );
        assert_eq!(
            parse_datetime("2024-01-02").map(format_datetime).as_deref(),
            Some("2024-01-02 00:00:00")
        );
        assert_eq!(
            parse_datetime("2024-01-02T03:04:05.250Z")
                .map(format_datetime)
                .as_deref(),
            Some("2024-01-02 03:04:05")
        );
        assert_eq!(parse_datetime("02/01/2024"), None);
        assert_eq!(
            parse_datetime("2024-01-02 03:04")
                .map(format_datetime)
                .as_deref(),
            Some("2024-01-02 03:04:00")
        );
        assert_eq!(
            parse_datetime("2024-01-02T23:59:59.123456789")
                .map(|d| d.format("%H:%M:%S%.9f").to_string())
                .as_deref(),
            Some("23:59:59.123456789")
        );
        for odd in [
            "2024- 1- 5",
            "2024- 1- 5 03:04:05",
            "2024/01/05",
            "05/01/2024",
            "2024-01-05 3:04:05",
            "2024-01-05 03:4",
            "2024-01-05 03:04:5",
            "2024-01-05  03:04:05",
            "2024-01-05 03:04:05.",
            "2024-01-05 03:04:05.1234567890",
            "2024-01-05 03:04:60",
            "2024-01-05 24:00",
            "2024-01-05 03:04:05+02:00",
            "2024-01-05Z",
            "2024-01-05x03:04",
            "2024-01-05 03:04:05 ",
            "2024-01-0\u{e9} 03:04",
        ] {
            assert_eq!(parse_datetime(odd), None, "{odd}");
            assert_eq!(parse_date(odd), None, "{odd}");
        }
        assert_eq!(
            parse_date("2024-01-05T03:04Z").map(format_date).as_deref(),
            Some("2024-01-05")
        );
        for odd in [
            "24-01-01",
            "2024- 1- 5",
            "2024-1-05",
            "2024/01/05",
            "05/01/2024",
            "+2024-01-0",
        ] {
            assert_eq!(parse_iso_date(odd), None, "{odd}");
        }
        assert_eq!(
            parse_iso_date("0024-01-01").map(format_date).as_deref(),
            Some("0024-01-01")
        );
        assert_eq!(
            parse_iso_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
    }
}
