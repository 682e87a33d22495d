//! Small helpers shared by the plug-in spec engine and the line/JSON tool parsers.
//!
//! Error strings built here name fields and expectations only, never values from the log
//! (privacy rule: log text must not leak into error messages).

use super::{ParseError, WholeReport};
use crate::event::{Tokens, UsageEvent};
use serde_json::Value;
use std::path::Path;

/// A token count from a JSON value: missing/`null` count as 0 (some proxies write `null`),
/// non-negative integers (or integral floats, or decimal strings) are accepted, anything else is
/// an error naming `what`.
pub fn count(v: Option<&Value>, what: &str) -> Result<i64, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                if i < 0 {
                    return Err(ParseError(format!("`{what}` is negative")));
                }
                Ok(i)
            } else if let Some(u) = n.as_u64() {
                i64::try_from(u).map_err(|_| ParseError(format!("`{what}` is out of range")))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 {
                    Ok(f as i64)
                } else {
                    Err(ParseError(format!("`{what}` is not a whole token count")))
                }
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            t.parse::<i64>()
                .ok()
                .filter(|i| *i >= 0)
                .ok_or_else(|| ParseError(format!("`{what}` is not a number")))
        }
        Some(_) => Err(ParseError(format!("`{what}` is not a number"))),
    }
}

/// Like [`count`] for a key of an object.
pub fn count_at(obj: &Value, key: &str, what: &str) -> Result<i64, ParseError> {
    count(obj.get(key), what)
}

/// A cost in USD: numbers, or numeric strings with an optional leading `$`. Missing/`null` is
/// `None`; anything else is an error.
pub fn money(v: Option<&Value>, what: &str) -> Result<Option<f64>, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| ParseError(format!("`{what}` is not a number"))),
        Some(Value::String(s)) => {
            let t = s.trim().trim_start_matches('$').trim();
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| ParseError(format!("`{what}` is not a number")))
        }
        Some(_) => Err(ParseError(format!("`{what}` is not a number"))),
    }
}

/// A non-empty string at `key`, or a number rendered as a string (ids are sometimes numeric).
pub fn text(obj: &Value, key: &str) -> Option<String> {
    scalar_string(obj.get(key)?)
}

/// A scalar rendered as a string (`None` for null, empty strings, objects and arrays).
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Epoch milliseconds from an RFC 3339 string or an epoch number (ms when large, else seconds).
pub fn timestamp(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => crate::event::parse_ts_ms(s.trim()).or_else(|| {
            let t = s.trim();
            // Numeric strings: epoch values.
            t.parse::<f64>().ok().and_then(epoch_number)
        }),
        Value::Number(n) => n.as_f64().and_then(epoch_number),
        _ => None,
    }
}

/// Epoch seconds or milliseconds to milliseconds: values of 1e11 and above are taken as ms
/// (1e11 s is the year 5138; 1e11 ms is 1973).
pub fn epoch_number(f: f64) -> Option<i64> {
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    if f >= 1.0e11 {
        Some(f as i64)
    } else {
        Some((f * 1000.0).round() as i64)
    }
}

/// Parse a humanized token count as printed by tools (`999`, `1.2k`, `12k`, `1.5M`, `2B`).
/// Returns the value and whether it was rounded (had a suffix or a fraction).
pub fn humanized(s: &str) -> Option<(i64, bool)> {
    let t = s.trim().replace(',', "");
    if t.is_empty() {
        return None;
    }
    let (num, mult) = match t.chars().last()? {
        'k' | 'K' => (&t[..t.len() - 1], 1_000f64),
        'm' | 'M' => (&t[..t.len() - 1], 1_000_000f64),
        'b' | 'B' => (&t[..t.len() - 1], 1_000_000_000f64),
        _ => (&t[..], 1f64),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let f: f64 = num.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    let rounded = mult > 1.0 || f.fract() != 0.0;
    Some(((f * mult).round() as i64, rounded))
}

/// `a - b`, never below zero.
pub fn sub0(a: i64, b: i64) -> i64 {
    (a - b).max(0)
}

/// Name of the directory that holds `path` (`tasks/<id>/ui_messages.json` -> `<id>`).
pub fn parent_name(path: &Path) -> Option<String> {
    path.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

/// File name without its extension.
pub fn file_stem(path: &Path) -> Option<String> {
    path.file_stem().map(|n| n.to_string_lossy().into_owned())
}

/// Read a whole file (for whole-file formats). Errors name the file, never its content.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ParseError> {
    std::fs::read(path).map_err(|e| ParseError(format!("cannot read {}: {e}", path.display())))
}

/// A whole-file JSON document (for whole-file formats). A file that does not parse (mid-rewrite
/// or damaged) is one bad record in `report` and `None`, never fatal: the next change re-reads
/// it. An unreadable file is an error naming the file.
pub fn read_json_doc(path: &Path, report: &mut WholeReport) -> Result<Option<Value>, ParseError> {
    let bytes = read_file(path)?;
    match serde_json::from_slice(&bytes) {
        Ok(d) => Ok(Some(d)),
        Err(e) => {
            report.bad(ParseError::from(e).0);
            Ok(None)
        }
    }
}

/// Build an event from the common pieces.
pub fn event(
    tool: &str,
    key: String,
    merge: crate::event::Merge,
    ts: i64,
    tokens: Tokens,
) -> UsageEvent {
    let mut e = UsageEvent::new(tool, key, merge, ts);
    e.tokens = tokens;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts() {
        assert_eq!(count(None, "x").unwrap(), 0);
        assert_eq!(count(Some(&json!(null)), "x").unwrap(), 0);
        assert_eq!(count(Some(&json!(12)), "x").unwrap(), 12);
        assert_eq!(count(Some(&json!(12.0)), "x").unwrap(), 12);
        assert_eq!(count(Some(&json!("12")), "x").unwrap(), 12);
        assert!(count(Some(&json!(-1)), "x").is_err());
        assert!(count(Some(&json!(1.5)), "x").is_err());
        assert!(count(Some(&json!("abc")), "x").is_err());
        assert!(count(Some(&json!({"a": 1})), "x").is_err());
        assert!(count(Some(&json!(true)), "x").is_err());
    }

    #[test]
    fn humanized_numbers() {
        assert_eq!(humanized("999"), Some((999, false)));
        assert_eq!(humanized("1.2k"), Some((1200, true)));
        assert_eq!(humanized("12k"), Some((12000, true)));
        assert_eq!(humanized("1.5M"), Some((1_500_000, true)));
        assert_eq!(humanized("1,234"), Some((1234, false)));
        assert_eq!(humanized("12x"), None);
        assert_eq!(humanized("k"), None);
        assert_eq!(humanized(""), None);
        assert_eq!(humanized("1.2.3k"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp(&json!("2026-04-23T12:53:11.257Z")),
            Some(1776948791257)
        );
        assert_eq!(timestamp(&json!(1781220419000i64)), Some(1781220419000));
        assert_eq!(timestamp(&json!(1761123456)), Some(1761123456000));
        assert_eq!(timestamp(&json!("yesterday")), None);
    }
}
