//! `docs/config.md` against the code: every key tokwatch reads is in the table with the default
//! the code uses, every row is a key the code reads, and `tokwatch config check` names the line
//! and key of a problem and the nearest known key of a typo.

mod util;

use std::collections::BTreeMap;
use tokwatch::config::check::check_text;
use tokwatch::config::keys::KEYS;
use util::*;

/// (type, default) of each row of the docs' key table.
fn doc_rows() -> BTreeMap<String, (String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md")).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let unquote = |s: &str| {
            s.trim_matches(|c| c == '|' || c == ' ' || c == '`')
                .to_string()
        };
        rows.insert(unquote(cells[0]), (unquote(cells[1]), unquote(cells[2])));
    }
    rows
}

#[test]
fn the_docs_table_is_the_code_key_list() {
    let docs = doc_rows();
    let code: BTreeMap<String, (String, String)> = KEYS
        .iter()
        .map(|k| {
            (
                k.path.to_string(),
                (k.kind.to_string(), k.default.to_string()),
            )
        })
        .collect();
    assert_eq!(docs, code);
}

fn sample(kind: &str, key: &str) -> String {
    match (kind, key) {
        (_, "period") => "\"week\"".into(),
        (_, "week_start") => "\"sunday\"".into(),
        (_, "tz") => "\"utc\"".into(),
        (_, "tool") => "\"claude-code\"".into(),
        (_, "repo" | "branch") if !key.is_empty() => "\"hash\"".into(),
        (_, "protocol") => "\"http/protobuf\"".into(),
        (_, "near" | "loop_size_tolerance") => "0.5".into(),
        ("float", _) => "1.5".into(),
        ("integer", _) => "7".into(),
        ("bool", _) => "true".into(),
        ("[float]", _) => "[0.5, 1.0]".into(),
        ("[string]", _) => "[\"~/src\"]".into(),
        _ => "\"x\"".into(),
    }
}

/// A config that sets every key of the list, each to a value of its type.
fn full_config() -> String {
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut budgets = vec![Vec::new(); 4];
    for k in KEYS {
        let (table, key) = k.path.rsplit_once('.').unwrap();
        if let Some(field) = k.path.strip_prefix("budgets[].") {
            // One scope per budget.
            let i = ["tool", "model", "provider"]
                .iter()
                .position(|s| *s == field)
                .map(|p| p + 1)
                .unwrap_or(0);
            let v = if field == "repo" {
                "\"owner/app\"".to_string()
            } else {
                sample(k.kind, field)
            };
            budgets[i].push(format!("{field} = {v}"));
            continue;
        }
        let table = table.replace('*', "\"my-model\"");
        let (table, key) = if key == "*" {
            (table, "\"user.name\"".to_string())
        } else {
            (table, key.to_string())
        };
        let v = if table.starts_with("export") && (key == "repo" || key == "branch") {
            "\"hash\"".to_string()
        } else {
            sample(k.kind, &key)
        };
        let v = if k.kind == "string" && table.contains("headers") || table.contains("resource") {
            "\"x\"".to_string()
        } else {
            v
        };
        tables
            .entry(table)
            .or_default()
            .push(format!("{key} = {v}"));
    }
    let mut out = String::new();
    for (t, lines) in tables {
        out += &format!("[{t}]\n{}\n\n", lines.join("\n"));
    }
    for (i, b) in budgets.iter_mut().enumerate() {
        if i > 0 {
            b.push("usd = 2.0".into());
            b.push("period = \"month\"".into());
        }
        out += &format!("[[budgets]]\n{}\n\n", b.join("\n"));
    }
    out
}

#[test]
fn every_listed_key_is_read_by_the_code() {
    let text = full_config();
    let tools = vec!["claude-code".to_string()];
    let c = check_text(&text, Some(&tools));
    assert_eq!(c.problems, vec![], "{text}");
    let cfg = c.config.unwrap();
    assert_eq!(cfg.budgets.len(), 4);
    assert_eq!(cfg.daemon.auto_start, Some(true));
    assert_eq!(cfg.prices["my-model"].cache_write_1h, Some(1.5));
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    let d = |p: &str| KEYS.iter().find(|k| k.path == p).unwrap().default;
    let list = |v: &[f64]| {
        format!(
            "[{}]",
            v.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    assert_eq!(
        d("budget.thresholds"),
        list(&tokwatch::config::DEFAULT_THRESHOLDS)
    );
    assert_eq!(d("budget.near"), tokwatch::config::DEFAULT_NEAR.to_string());
    assert_eq!(
        d("alerts.plan_thresholds"),
        list(&tokwatch::alerts::DEFAULT_PLAN_THRESHOLDS)
    );
    let s = tokwatch::alerts::signals::SignalConfig::from_config(&Default::default());
    assert_eq!(
        d("alerts.burn_usd_per_hour"),
        s.burn_usd_per_hour.to_string()
    );
    assert_eq!(d("alerts.burn_minutes"), s.burn_minutes.to_string());
    assert_eq!(d("alerts.loop_minutes"), s.loop_minutes.to_string());
    assert_eq!(
        d("alerts.loop_min_requests"),
        s.loop_min_requests.to_string()
    );
    assert_eq!(
        d("alerts.loop_size_tolerance"),
        s.loop_size_tolerance.to_string()
    );
    assert_eq!(d("alerts.loop_max_output"), s.loop_max_output.to_string());
    assert_eq!(d("alerts.loop_same_errors"), s.loop_same_errors.to_string());
    assert_eq!(d("alerts.fallback"), s.fallback.to_string());
    let a = tokwatch::alerts::AlertConfig::from_config(&Default::default());
    assert_eq!(d("alerts.desktop"), a.desktop.to_string());
    assert_eq!(d("alerts.forecast"), a.forecast.to_string());
    assert_eq!(
        d("export.prometheus.listen"),
        tokwatch::export::prometheus::DEFAULT_LISTEN
    );
    let h = Home::new();
    assert_eq!(d("daemon.auto_start"), h.app().auto_start().to_string());
}

#[test]
fn config_check_names_line_key_and_nearest_key() {
    let h = Home::new();
    let dir = h.dir.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[budget]\nweekly_usd = 10\ndaly_usd = 3\n",
    )
    .unwrap();
    let out = h.cmd().args(["config", "check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: line 3, key budget.daly_usd: unknown key, ignored: did you mean budget.daily_usd?"),
        "{text}"
    );
    std::fs::write(dir.join("config.toml"), "[budget]\nnear = 0\n").unwrap();
    let out = h.cmd().args(["config", "check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("error: line 2, key budget.near:"), "{text}");
    // Every other command says the same, and does not run on it.
    let out = h.cmd().args(["budget", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2, key budget.near"));
}
