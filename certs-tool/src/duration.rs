//! Human durations for flags: `90s`, `15m`, `1h30m`, `365d`, `5y` (a year is 365 days).

use time::Duration;

use crate::error::{Error, Result};

/// Parses a duration made of `<number><unit>` parts (`s`, `m`, `h`, `d`, `w`, `y`), e.g. `1h30m`.
/// A bare `0` is accepted as zero.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = |reason: &str| Error::InvalidDuration {
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut total = Duration::ZERO;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.is_empty() {
            return Err(bad("expected a number before each unit"));
        }
        let n: i64 = digits.parse().map_err(|_| bad("number too large"))?;
        digits.clear();
        let unit = match c {
            's' => Duration::SECOND,
            'm' => Duration::MINUTE,
            'h' => Duration::HOUR,
            'd' => Duration::DAY,
            'w' => Duration::WEEK,
            'y' => Duration::DAY * 365,
            _ => return Err(bad("unknown unit (use s, m, h, d, w or y)")),
        };
        let part = unit
            .checked_mul(i32::try_from(n).map_err(|_| bad("number too large"))?)
            .ok_or_else(|| bad("too large"))?;
        total = total.checked_add(part).ok_or_else(|| bad("too large"))?;
    }
    if !digits.is_empty() {
        return Err(bad(
            "missing unit after the last number (use s, m, h, d, w or y)",
        ));
    }
    Ok(total)
}

/// Formats a duration compactly (`1h30m`, `365d`, `0s`) for messages.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.whole_seconds();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if secs < 0 {
        out.push('-');
        secs = -secs;
    }
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_duration("5y").unwrap(), Duration::days(5 * 365));
        assert_eq!(parse_duration("2w1d").unwrap(), Duration::days(15));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in ["", "10", "h", "1x", "-1s", "99999999999999y"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::minutes(90)), "1h30m");
        assert_eq!(format_duration(Duration::days(365)), "365d");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::seconds(-5)), "-5s");
    }
}
