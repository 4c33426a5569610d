//! Durations in settings: `"2s"`, `"500ms"`, `"1m"`, `"1h"`, or a number of
//! seconds (`2`, `0.5`).
//!
//! ```
//! use std::time::Duration;
//! use ipvs::health::duration::parse;
//! assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
//! assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
//! assert!(parse("-1s").is_err());
//! ```

use std::time::Duration;

/// Parse a duration: a number with an optional unit (`ms`, `s`, `m`, `h`;
/// seconds without one). Negative, empty or non-finite values are refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (say 2s, 500ms, 1m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    seconds(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

/// A number of seconds as a duration; negative or non-finite refused.
pub fn seconds(value: f64) -> Result<Duration, String> {
    if !value.is_finite() {
        return Err("not a finite number".into());
    }
    if value < 0.0 {
        return Err("must not be negative".into());
    }
    Duration::try_from_secs_f64(value).map_err(|e| e.to_string())
}

/// A duration as the shortest text [`parse`] reads back (`2s`, `1500ms`).
pub fn format(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// A duration from a JSON value: a number of seconds or a string
/// [`parse`] reads.
pub(crate) fn from_value(value: &serde_json::Value) -> Result<Duration, String> {
    match value {
        serde_json::Value::Number(n) => seconds(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => parse(s),
        other => Err(format!("{other} is not a duration (say 2s, 500ms, 1m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bad_text() {
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse(" 3 s "), Ok(Duration::from_secs(3)));
        assert!(parse("").is_err());
        assert!(parse("2 weeks").is_err());
        assert!(parse("-0.1").unwrap_err().contains("negative"));
        for d in [Duration::from_secs(2), Duration::from_millis(1500)] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
