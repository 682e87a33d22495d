//! Budgets from the config and `tokwatch budget`, their status and forecast on fixed data
//! (checked against projections computed by hand), the JSON shapes the dashboard reads,
//! `report --as MODEL`, and the tool-error hashes the loop signal uses.

mod common;
mod util;

use common::lines::{append, tool_error_line, Req};
use tokwatch::status::{compute, Settings};
use util::*;

fn config(h: &Home, text: &str) {
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), text).unwrap();
}

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// Requests of claude-opus-4-6 ($25 per million output tokens; output only, so no
/// long-context tier applies) at fixed times.
fn fixed_history(h: &Home) {
    let log = h.claude_projects().join("-p/fixed.jsonl");
    for (i, (ts, output)) in [
        ("2025-06-02T10:00:00Z", 40_000), // $1.00, last week (this month)
        ("2025-06-11T09:00:00Z", 80_000), // $2.00, this week, 3 days back
        ("2025-06-14T08:00:00Z", 40_000), // $1.00, today, before the day's window
        ("2025-06-14T10:20:00Z", 20_000), // $0.50
        ("2025-06-14T11:50:00Z", 60_000), // $1.50
        ("2025-06-14T12:05:00Z", 10_000), // $0.25, in the current quarter-hour
    ]
    .iter()
    .enumerate()
    {
        let mut r = Req::new("s-fixed", format!("fx{i}"), ms(ts));
        r.output = *output;
        append(&log, &r.line());
    }
    h.scan();
}

/// The projections of `docs/budgets.md`, worked out by hand for the history above at
/// 2025-06-14 12:07 UTC (a Saturday; weeks from Monday).
///
/// Day: the window is the 11 quarter-hours from 09:15 plus the 7 minutes of the current one,
/// 2.8667 h holding $0.50 + $1.50 + $0.25 = $2.25: rate $0.78488/h. Slot rates: $2.1429/h for
/// 7 min, $6/h and $2/h for a quarter-hour each, $0 for nine: s = $1.74906/h. 11.8833 h are
/// left on $3.25 spent: mid 3.25 + 0.78488 × 11.8833 = 12.577035, low 3.25 (rate − s < 0),
/// high 3.25 + 2.53394 × 11.8833 = 33.361684.
///
/// Week and month: 7 slots of 24 h (the newest 23.8667 h long) holding $3.25 and $2.00: rate
/// $5.25 / 167.8667 h = $0.031275/h, s = $0.051489/h. Week: 35.8833 h left on $5.25: mid
/// 6.372245, high 8.219847. Month: 395.8833 h left on $6.25: mid 18.631181, high 39.014875.
#[test]
fn forecast_matches_the_hand_computed_projection() {
    let h = Home::new();
    fixed_history(&h);
    config(
        &h,
        "[budget]\ndaily_usd = 10.0\nmonthly_usd = 15.0\ntz = \"UTC\"\n",
    );
    let settings = Settings::from_config(&h.app().config().unwrap()).unwrap();
    let s = compute(&h.reader(), &settings, ms("2025-06-14T12:07:00Z")).unwrap();
    let f = |p: &tokwatch::status::PeriodStatus| {
        let f = p.forecast.unwrap();
        (p.cost_usd, f.low_usd, f.mid_usd, f.high_usd)
    };
    assert_eq!(f(&s.periods.day), (3.25, 3.25, 12.577035, 33.361684));
    assert_eq!(f(&s.periods.week), (5.25, 5.25, 6.372245, 8.219847));
    assert_eq!(f(&s.periods.month), (6.25, 6.25, 18.631181, 39.014875));
    assert_eq!(s.periods.day.start_ms, ms("2025-06-14T00:00:00Z"));
    assert_eq!(s.periods.week.start_ms, ms("2025-06-09T00:00:00Z"));
    assert_eq!(s.periods.month.start_ms, ms("2025-06-01T00:00:00Z"));
    // The budgets carry the same forecasts; the monthly one is "under" today but its
    // projection is over: that is what the forecast alert says.
    let ids: Vec<&str> = s.budgets.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["daily", "monthly"]);
    assert_eq!(s.budgets[0].forecast, s.periods.day.forecast);
    assert_eq!(s.budgets[1].fraction, 6.25 / 15.0);
    assert_eq!(
        format!("{:?}", s.budgets[1].state),
        "Under",
        "{:?}",
        s.budgets[1]
    );
    let month = tokwatch::alerts::budget_candidates(
        &s.budgets[1],
        s.now_ms,
        tokwatch::store::query::Zone::Utc,
        true,
    );
    assert_eq!(month.len(), 1);
    assert_eq!(month[0].alert.kind, "forecast");
    assert!(
        month[0]
            .alert
            .message
            .contains("forecast $18.63 by the end of the month ($6.25–$39.01)"),
        "{}",
        month[0].alert.message
    );

    // The same figures in `report --json`'s forecast for a filter that covers everything are
    // made at the real "now"; here only their presence is checked.
    let out = h.cmd().args(["report", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for p in ["day", "week", "month"] {
        assert!(v["forecast"][p]["mid_usd"].is_number(), "{v}");
    }
}

/// The budget and period objects serialize to exactly the shape `docs/dashboard.md` gives
/// `/api/status`.
#[test]
fn status_json_is_the_dashboards_shape() {
    let h = Home::new();
    fixed_history(&h);
    config(
        &h,
        "[budget]\ndaily_usd = 10.0\ntz = \"UTC\"\n[[budgets]]\nusd = 25\nperiod = \"week\"\nrepo = \"widget\"\n",
    );
    let settings = Settings::from_config(&h.app().config().unwrap()).unwrap();
    let s = compute(&h.reader(), &settings, ms("2025-06-14T12:07:00Z")).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    let keys = |o: &serde_json::Value| {
        let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v["budgets"][0]),
        [
            "forecast",
            "fraction",
            "has_unpriced",
            "id",
            "limit_usd",
            "period",
            "scope",
            "spent_usd",
            "state",
            "thresholds"
        ]
    );
    assert_eq!(v["budgets"][0]["period"], "day");
    assert_eq!(v["budgets"][0]["scope"], "all");
    assert_eq!(v["budgets"][0]["state"], "under");
    assert_eq!(
        v["budgets"][0]["thresholds"],
        serde_json::json!([0.85, 0.95, 1.0])
    );
    assert_eq!(
        keys(&v["budgets"][0]["forecast"]),
        ["high_usd", "low_usd", "mid_usd"]
    );
    assert_eq!(v["budgets"][1]["id"], "weekly-repo:widget");
    assert_eq!(v["budgets"][1]["scope"], "repo:widget");
    assert_eq!(keys(&v["periods"]), ["day", "month", "week"]);
    assert_eq!(
        keys(&v["periods"]["day"]),
        ["cost_usd", "forecast", "has_unpriced", "start_ms"]
    );
    assert_eq!(v["periods"]["day"]["cost_usd"], 3.25);
    assert_eq!(v["alerts_paused"], false);
}

fn run(h: &Home, args: &[&str]) -> (bool, String, String) {
    let out = h.cmd().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn budget_set_list_rm() {
    let h = Home::new();
    let log = h.claude_projects().join("-p/now.jsonl");
    let mut r = Req::new("s-now", "n1", common::lines::now_ms());
    r.input = 1_000_000; // $5.00 today
    append(&log, &r.line());
    h.scan();
    config(&h, "[budget]\ndaily_usd = 20.0\n");

    let (ok, out, err) = run(
        &h,
        &[
            "budget",
            "set",
            "50",
            "--weekly",
            "--repo",
            "owner/app",
            "--hard",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("Budget weekly-repo:owner/app set: $50.00 per week for owner/app"),
        "{out}"
    );
    assert!(
        out.contains("No usage of a repository \"owner/app\""),
        "{out}"
    );
    let (ok, out, _) = run(
        &h,
        &["budget", "set", "4", "--daily", "--thresholds", "0.5,1"],
    );
    assert!(ok);
    assert!(out.contains("It replaces the budget daily of"), "{out}");
    let (ok, out, _) = run(&h, &["budget", "list", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let b = v["budgets"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0]["id"], "daily");
    assert_eq!(b[0]["limit_usd"], 4.0);
    assert_eq!(b[0]["spent_usd"], 5.0);
    assert_eq!(b[0]["state"], "over");
    assert_eq!(b[0]["thresholds"], serde_json::json!([0.5, 1.0]));
    assert_eq!(b[0]["source"], "set");
    assert_eq!(b[1]["id"], "weekly-repo:owner/app");
    assert_eq!(b[1]["hard"], true);
    assert_eq!(b[1]["spent_usd"], 0.0);
    let (ok, out, _) = run(&h, &["budget", "list"]);
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("daily ") && l.contains("over")),
        "{out}"
    );

    // Removing the set one brings the config's back; the config's cannot be removed here.
    let (ok, out, _) = run(&h, &["budget", "rm", "daily"]);
    assert!(ok);
    assert!(out.contains("applies again"), "{out}");
    let (ok, _, err) = run(&h, &["budget", "rm", "daily"]);
    assert!(!ok);
    assert!(
        err.contains("defined in") && err.contains("remove it there"),
        "{err}"
    );
    let (ok, _, _) = run(&h, &["budget", "rm", "--weekly", "--repo", "owner/app"]);
    assert!(ok);
    let (_, out, _) = run(&h, &["budget", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["budgets"].as_array().unwrap().len(), 1);
    assert_eq!(v["budgets"][0]["limit_usd"], 20.0);
    assert_eq!(v["budgets"][0]["source"], "config");

    // Mistakes are said plainly.
    let (ok, _, err) = run(&h, &["budget", "set", "5"]);
    assert!(
        !ok && err.contains("--daily, --weekly or --monthly"),
        "{err}"
    );
    let (ok, _, err) = run(&h, &["budget", "set", "5", "--daily", "--thresholds", "85"]);
    assert!(!ok && err.contains("fraction"), "{err}");
    let (ok, _, err) = run(
        &h,
        &[
            "budget", "set", "5", "--daily", "--repo", "a", "--tool", "b",
        ],
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

#[test]
fn report_as_another_model() {
    let h = Home::new();
    let log = h.claude_projects().join("-p/as.jsonl");
    let mut r = Req::new("s-as", "a1", ms("2025-06-14T10:00:00Z"));
    r.input = 100_000; // opus: $0.50; haiku 4.5 ($1/M): $0.10
    r.output = 100_000; // opus: $2.50; haiku 4.5 ($5/M): $0.50
    append(&log, &r.line());
    h.scan();
    let (ok, out, err) = run(
        &h,
        &[
            "report",
            "day",
            "--json",
            "--as",
            "claude-haiku-4-5",
            "--tz",
            "utc",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["totals"]["cost_usd"], 3.0);
    assert_eq!(v["as"]["model"], "claude-haiku-4-5");
    assert_eq!(v["as"]["totals"]["as_cost_usd"], 0.6);
    assert_eq!(v["as"]["rows"][0]["key"], "2025-06-14");
    assert_eq!(v["as"]["rows"][0]["as_cost_usd"], 0.6);
    let (ok, out, _) = run(&h, &["report", "model", "--as", "claude-haiku-4-5"]);
    assert!(ok);
    assert!(
        out.contains("What it would have cost as claude-haiku-4-5"),
        "{out}"
    );
    assert!(out.contains("-$2.40 (-80%)"), "{out}");
    let (ok, _, err) = run(&h, &["report", "--as", "no-such-model-xyz"]);
    assert!(!ok && err.contains("no price is known"), "{err}");
}

/// Failed tool calls reach the events as a hash only: identical errors hash alike, a success
/// in between clears it, the text is nowhere in the database.
#[test]
fn tool_errors_are_hashes() {
    use tokwatch::parser::claude::ClaudeParser;
    use tokwatch::parser::{FileState, Parser};
    let p = ClaudeParser;
    let mut st = FileState::default();
    let mut out = Vec::new();
    let path = std::path::Path::new("/x/s.jsonl");
    let t = ms("2025-06-14T10:00:00Z");
    let req = |n: u32| {
        let mut r = Req::new("s", format!("te{n}"), t + n as i64 * 1000);
        r.input = 10;
        r.line()
    };
    let ok_result = r#"{"type":"user","sessionId":"s","message":{"role":"user","content":[{"type":"tool_result","content":"fine","tool_use_id":"t"}]},"timestamp":"2025-06-14T10:00:00Z"}"#;
    let lines = [
        req(0),
        tool_error_line("s", 1, t, "Error: ENOENT secret-file.txt"),
        req(1),
        req(1), // a streaming copy of the same request
        tool_error_line("s", 2, t, "Error: ENOENT secret-file.txt"),
        req(2),
        tool_error_line("s", 3, t, "Error: EACCES other"),
        req(3),
        ok_result.to_string(),
        req(4),
    ];
    for l in &lines {
        p.parse_line(l.as_bytes(), path, &mut st, &mut out).unwrap();
    }
    let errs: Vec<Option<u64>> = out.iter().map(|e| e.tool_error).collect();
    assert_eq!(errs[0], None);
    assert!(errs[1].is_some());
    assert_eq!(errs[1], errs[2], "every copy of the request carries it");
    assert_eq!(errs[1], errs[3], "the same error hashes alike");
    assert!(errs[4].is_some() && errs[4] != errs[1]);
    assert_eq!(errs[5], None, "a success clears it");
    let state = serde_json::to_string(&st).unwrap();
    assert!(
        !state.contains("ENOENT") && !state.contains("secret"),
        "{state}"
    );
}

/// A database of the first schema is migrated by the writer; a reader of it sees no budgets.
#[test]
fn first_schema_databases_keep_working() {
    let h = Home::new();
    {
        let c = rusqlite::Connection::open(h.db()).unwrap();
        c.execute_batch(include_str!("../src/store/schema_v1.sql"))
            .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    let r = h.reader();
    assert!(r.budgets().unwrap().is_empty());
    assert!(r.alerts(0).unwrap().is_empty());
    assert!(!r.alerts_paused().unwrap());
    drop(r);
    let (ok, out, err) = run(&h, &["budget", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains("No budgets set"), "{out}");
    let (ok, _, err) = run(&h, &["budget", "set", "3", "--daily"]);
    assert!(ok, "{err}");
    let v: i64 = sql(&h.db())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(v >= 2);
}

/// The statusline marks the budgets near or over that concern the session it is shown for,
/// and shows the plan limits of Claude Code's input.
#[test]
fn statusline_marks_budgets_and_plan_limits() {
    use std::io::Write;
    let h = Home::new();
    let log = h.claude_projects().join("-p/now.jsonl");
    let mut r = Req::new("s-now", "n1", common::lines::now_ms());
    r.input = 900_000; // $4.50 today
    append(&log, &r.line());
    h.scan();
    config(
        &h,
        "[budget]\ndaily_usd = 5.0\n[[budgets]]\nusd = 4\nperiod = \"week\"\ntool = \"claude-code\"\n[[budgets]]\nusd = 1\nperiod = \"day\"\ntool = \"codex\"\n",
    );
    let run = |input: &str| {
        let mut c = h
            .cmd()
            .arg("statusline")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
    };
    let line = run(
        r#"{"session_id":"s-now","cwd":"/tmp","model":{"id":"claude-opus-4-6"},"rate_limits":{"five_hour":{"used_percentage":12,"resets_at":4102444800}}}"#,
    );
    assert!(line.contains("session $4.50"), "{line}");
    assert!(line.contains("daily budget 90%"), "{line}");
    assert!(
        line.contains("weekly claude-code budget over ($4.50 of $4.00)"),
        "{line}"
    );
    assert!(
        !line.contains("codex"),
        "a codex budget does not concern Claude Code: {line}"
    );
    assert!(line.trim_end().ends_with("5h 12%"), "{line}");
    // Without Claude Code's input (tmux, a prompt): every budget near or over.
    let line = run("");
    assert!(line.contains("daily budget 90%"), "{line}");
    // No plan limits in the input: none shown, nothing written for the daemon.
    assert!(!line.contains("5h"), "{line}");
}
