//! Plan limits of subscription users: Claude Code hands its statusline command a `rate_limits`
//! object (the five-hour and seven-day windows: `used_percentage` 0..100 and `resets_at`, Unix
//! seconds). `tokwatch statusline` reads it and leaves the latest snapshot in a small file
//! beside the database, `<db>.limits/claude-code.json` (written only when it changed, by rename,
//! so a reader never sees half of it); the daemon watches that directory, stores the figures
//! (it is the database's writer) and alerts on them. The statusline never waits for the
//! database's write lock.
//!
//! The parser is tolerant: a window may carry numbers or numeric strings, `resets_at` in
//! seconds, milliseconds or as an RFC 3339 text; windows other than the two known ones are kept
//! under their own names; anything unreadable is left out.

use crate::store::budget::PlanLimit;
use std::path::{Path, PathBuf};

/// The directory of hints for the daemon of the database `db` (`<db>.hints`).
pub fn hints_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".hints");
    db.with_file_name(name)
}

/// The snapshot file of Claude Code's limits.
pub fn limits_file(db: &Path) -> PathBuf {
    hints_dir(db).join("claude-code-limits.json")
}

fn make_hints_dir(db: &Path) -> std::io::Result<PathBuf> {
    let dir = hints_dir(db);
    if !dir.is_dir() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&dir)?;
    }
    Ok(dir)
}

/// Creates the hints directory (0700) when it is not there.
pub fn ensure_hints_dir(db: &Path) -> std::io::Result<PathBuf> {
    make_hints_dir(db)
}

/// Tells a running daemon that budgets or guard settings changed (it looks again at once).
/// Without a daemon the file does no harm.
pub fn poke(db: &Path, what: &str) {
    if let Ok(dir) = make_hints_dir(db) {
        let _ = std::fs::write(dir.join(what), crate::store::now_ms().to_string());
    }
}

fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

fn instant_ms(v: &serde_json::Value) -> Option<i64> {
    if let serde_json::Value::String(s) = v {
        if let Some(ms) = crate::event::parse_ts_ms(s) {
            return Some(ms);
        }
    }
    let x = number(v)?;
    // Seconds (as documented) or milliseconds: 10^11 seconds is the year 5138.
    Some(if x > 1e11 {
        x as i64
    } else {
        (x * 1000.0) as i64
    })
}

/// The windows of a statusline input's `rate_limits` (empty when it has none).
pub fn parse_rate_limits(input: &serde_json::Value, now_ms: i64) -> Vec<PlanLimit> {
    let Some(serde_json::Value::Object(m)) = input.get("rate_limits") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, w) in m {
        let used = w
            .get("used_percentage")
            .or_else(|| w.get("used_percent"))
            .or_else(|| w.get("utilization"))
            .and_then(number);
        let Some(used) = used.filter(|u| *u >= 0.0) else {
            continue;
        };
        let resets = w
            .get("resets_at")
            .or_else(|| w.get("reset_at"))
            .and_then(instant_ms);
        out.push(PlanLimit {
            name: name.clone(),
            used_pct: used,
            resets_at_ms: resets,
            captured_ms: now_ms,
        });
    }
    out.sort_by(|a, b| {
        order(&a.name)
            .cmp(&order(&b.name))
            .then(a.name.cmp(&b.name))
    });
    out
}

fn order(name: &str) -> u8 {
    match name {
        "five_hour" => 0,
        "seven_day" => 1,
        _ => 2,
    }
}

/// `5h 42%`, `7d 75%`, or the window's own name.
pub fn short_name(name: &str) -> String {
    match name {
        "five_hour" => "5h".into(),
        "seven_day" => "7d".into(),
        n => n.replace('_', " "),
    }
}

/// Writes the snapshot for the daemon when its figures differ from the file's (the capture
/// time alone is no change). Errors are the caller's to ignore: a statusline must not fail.
pub fn write_snapshot(db: &Path, limits: &[PlanLimit]) -> std::io::Result<bool> {
    let file = limits_file(db);
    let same = |old: &[PlanLimit]| {
        old.len() == limits.len()
            && old.iter().zip(limits).all(|(a, b)| {
                a.name == b.name && a.used_pct == b.used_pct && a.resets_at_ms == b.resets_at_ms
            })
    };
    if let Some(old) = read_snapshot(&file) {
        if same(&old) {
            return Ok(false);
        }
    }
    let dir = make_hints_dir(db)?;
    let tmp = dir.join(format!(".claude-code-limits.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(limits).unwrap_or_default())?;
    std::fs::rename(&tmp, &file)?;
    Ok(true)
}

/// The snapshot in `file`, if there is a readable one.
pub fn read_snapshot(file: &Path) -> Option<Vec<PlanLimit>> {
    let bytes = std::fs::read(file).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_and_tolerated_shapes() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"rate_limits": {
                "seven_day": {"used_percentage": 75.0, "resets_at": 1738857600},
                "five_hour": {"used_percentage": "42.5", "resets_at": "2025-02-01T16:00:00Z"},
                "seven_day_opus": {"used_percentage": 10, "resets_at": 1738857600000},
                "weird": {"resets_at": 1}
            }}"#,
        )
        .unwrap();
        let l = parse_rate_limits(&v, 7);
        let names: Vec<&str> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["five_hour", "seven_day", "seven_day_opus"]);
        assert_eq!(l[0].used_pct, 42.5);
        assert_eq!(l[0].resets_at_ms, Some(1_738_425_600_000));
        assert_eq!(l[1].resets_at_ms, Some(1_738_857_600_000));
        assert_eq!(l[2].resets_at_ms, Some(1_738_857_600_000));
        assert_eq!(l[1].captured_ms, 7);
        assert!(parse_rate_limits(&serde_json::json!({"rate_limits": null}), 0).is_empty());
        assert!(parse_rate_limits(&serde_json::json!({}), 0).is_empty());
    }

    #[test]
    fn snapshot_is_written_only_when_it_changes() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("t.db");
        let mut l = vec![PlanLimit {
            name: "five_hour".into(),
            used_pct: 10.0,
            resets_at_ms: Some(5),
            captured_ms: 1,
        }];
        assert!(write_snapshot(&db, &l).unwrap());
        l[0].captured_ms = 2;
        assert!(!write_snapshot(&db, &l).unwrap(), "same figures");
        l[0].used_pct = 11.0;
        assert!(write_snapshot(&db, &l).unwrap());
        assert_eq!(read_snapshot(&limits_file(&db)).unwrap(), l);
    }
}
