//! ISO-8601 dates as the workspace stores them (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`).

use chrono::{NaiveDate, NaiveDateTime};

pub const DATE_FMT: &str = "%Y-%m-%d";
pub const DATETIME_FMT: &str = "%Y-%m-%d %H:%M:%S";

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

/// Parse a date; a timestamp (`T` or space separated) is accepted and its date kept.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, DATE_FMT).ok();
    }
    parse_datetime(s).map(|dt| dt.date())
}

/// Parse a timestamp; a bare date means midnight. Seconds and fractions are optional.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, DATE_FMT)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
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
