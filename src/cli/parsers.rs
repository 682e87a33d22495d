//! `tokwatch parsers list` and `tokwatch parsers test`: the text forms.

use crate::registry::list::{ParserInfo, ParserTest};
use crate::registry::Origin;

/// Plain-text rendering of `parsers list`.
pub fn render_parsers_text(list: &[ParserInfo]) -> String {
    let mut s = String::new();
    for p in list {
        if let Some(e) = &p.error {
            s.push_str(&format!("{:<12} {:<8} ERROR {}\n", p.tool, "user", e));
            continue;
        }
        let origin = match p.origin {
            Origin::Builtin => "builtin",
            Origin::User => "user",
            Origin::Rust => "rust",
        };
        s.push_str(&format!(
            "{:<12} {:<8} {:<10} {}  [{}]\n",
            p.tool,
            origin,
            p.format,
            if p.found { "found" } else { "not found" },
            p.patterns.join(", ")
        ));
        if let Some(f) = &p.spec_file {
            s.push_str(&format!("    spec {}\n", f.display()));
        }
        // Present locations in full; absent ones only when nothing is present (then a few).
        let present: Vec<_> = p.roots.iter().filter(|r| r.exists).collect();
        let shown: Vec<_> = if present.is_empty() {
            p.roots.iter().take(3).collect()
        } else {
            present.clone()
        };
        for r in &shown {
            s.push_str(&format!(
                "    {} {}\n",
                if r.exists { "+" } else { "-" },
                r.path.display()
            ));
        }
        let rest = p.roots.len() - shown.len();
        if rest > 0 {
            s.push_str(&format!(
                "    ({rest} more locations checked, not present)\n"
            ));
        }
    }
    s
}

fn ts_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Plain-text rendering of `parsers test`.
pub fn render_spec_test_text(o: &ParserTest) -> String {
    let mut s = format!(
        "spec {} (tool {}, format {})\nfile {}\n",
        o.spec,
        o.tool,
        o.format,
        o.file.display()
    );
    s.push_str(&format!(
        "{:<20} {:<28} {:>10} {:>9} {:>9} {:>11} {:>9} {:>9}  key\n",
        "time", "model", "input", "cw5m", "cw1h", "cache_read", "output", "reasoning"
    ));
    for e in &o.events {
        s.push_str(&format!(
            "{:<20} {:<28} {:>10} {:>9} {:>9} {:>11} {:>9} {:>9}  {}{}\n",
            ts_text(e.timestamp_ms),
            e.model.as_deref().unwrap_or("-"),
            e.tokens.input,
            e.tokens.cache_write_5m,
            e.tokens.cache_write_1h,
            e.tokens.cache_read,
            e.tokens.output,
            e.tokens.reasoning,
            e.dedup_key,
            if e.estimated { " (estimated)" } else { "" }
        ));
    }
    let t = &o.totals;
    s.push_str(&format!(
        "{}, {} after dedup, {}; input {}, cache write {} (5m) + {} (1h), cache read {}, output {} (reasoning {})\n",
        crate::format::count(o.events.len() as i64, "event", "events"),
        o.unique_events,
        crate::format::count(o.requests, "request", "requests"),
        t.input,
        t.cache_write_5m,
        t.cache_write_1h,
        t.cache_read,
        t.output,
        t.reasoning
    ));
    if let Some(c) = o.reported_cost_usd {
        s.push_str(&format!("reported cost ${c:.4}\n"));
    }
    if !o.models.is_empty() {
        s.push_str(&format!("models: {}\n", o.models.join(", ")));
    }
    s.push_str(&format!("malformed records: {}", o.malformed));
    if let Some(e) = &o.first_error {
        s.push_str(&format!(" (first: {e})"));
    }
    s.push('\n');
    s
}
