//! What a user sees (issue 10): tables with text left and numbers right, a session table with
//! its dates, the time-zone note only where days are shown, CSV with the columns of the JSON
//! and no TOTAL row, help text on every `--json`, `prices` saying "fast mode" for a `-fast` name.

mod util;

use clap::CommandFactory;
use std::process::Output;
use util::*;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn home_with_samples() -> Home {
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    copy_tree(&fixtures().join("codex/sessions"), &h.codex_sessions());
    h.scan();
    h
}

#[test]
fn session_table_has_dates_text_left_numbers_right_and_no_zone_note() {
    let h = home_with_samples();
    let o = h
        .cmd()
        .args(["report", "session", "--tz", "UTC"])
        .output()
        .unwrap();
    let t = stdout(&o);
    let lines: Vec<&str> = t.lines().collect();
    let header = lines[0];
    assert!(header.starts_with("session"), "{t}");
    assert!(header.contains("first used"), "a date column: {t}");
    // Text columns start where their header starts (left-aligned).
    let tool_col = header.find("tool").unwrap();
    let rows: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| l.contains("claude-code") || l.contains("codex"))
        .collect();
    assert!(!rows.is_empty(), "{t}");
    for r in &rows {
        let at = r.find("claude-code").or_else(|| r.find("codex")).unwrap();
        assert_eq!(at, tool_col, "tool left-aligned under its header:\n{t}");
        assert!(
            r.contains("2026-02-"),
            "each session row has its date:\n{t}"
        );
    }
    // Numbers end where their header ends (right-aligned).
    let req_end = header.find("requests").unwrap() + "requests".len();
    for r in &rows {
        let b = r.as_bytes();
        assert!(
            b[req_end - 1].is_ascii_digit() && (b.len() == req_end || b[req_end] == b' '),
            "requests right-aligned:\n{t}"
        );
    }
    assert!(!t.contains("days in"), "no days shown, no zone note:\n{t}");
    let o = h
        .cmd()
        .args(["report", "day", "--tz", "UTC"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("days in UTC"), "{}", stdout(&o));
}

#[test]
fn csv_has_the_columns_of_the_json_and_no_total_row() {
    let h = home_with_samples();
    for by in ["day", "session", "model"] {
        let o = h
            .cmd()
            .args(["report", by, "--csv", "--tz", "UTC"])
            .output()
            .unwrap();
        let csv = stdout(&o);
        let o = h
            .cmd()
            .args(["report", by, "--json", "--tz", "UTC"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut json_cols: Vec<String> =
            v["rows"][0].as_object().unwrap().keys().cloned().collect();
        let mut csv_cols: Vec<String> = csv
            .lines()
            .next()
            .unwrap()
            .split(',')
            .map(String::from)
            .collect();
        json_cols.sort();
        csv_cols.sort();
        assert_eq!(csv_cols, json_cols, "{by}");
        assert!(!csv.contains("TOTAL"), "{by}: {csv}");
        assert_eq!(
            csv.lines().count() - 1,
            v["rows"].as_array().unwrap().len(),
            "{by}"
        );
    }
}

#[test]
fn every_json_flag_has_help_text() {
    fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in c.get_arguments() {
            if a.get_id() == "json" && a.get_help().is_none_or(|h| h.to_string().trim().is_empty())
            {
                missing.push(format!("{path} --json"));
            }
        }
        for s in c.get_subcommands() {
            walk(s, &format!("{path} {}", s.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&tokwatch::cli::Cli::command(), "tokwatch", &mut missing);
    assert!(missing.is_empty(), "without help: {missing:?}");
}

#[test]
fn prices_says_fast_mode_for_a_fast_name() {
    let h = Home::new();
    let o = h
        .cmd()
        .args(["prices", "claude-opus-4-6-fast"])
        .output()
        .unwrap();
    let t = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.lines().next().unwrap().contains("fast mode"), "{t}");
    assert!(!t.contains("exact match"), "{t}");
    let o = h
        .cmd()
        .args(["prices", "claude-opus-4-6"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("exact match"), "{}", stdout(&o));
}

#[test]
fn tables_fit_the_terminal_width() {
    let h = home_with_samples();
    let wide = h
        .cmd()
        .args(["report", "session", "--tz", "UTC"])
        .output()
        .unwrap();
    let widest = stdout(&wide)
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert!(widest > 100, "the sample's session table is wide: {widest}");
    let o = h
        .cmd()
        .args(["report", "session", "--tz", "UTC"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let t = stdout(&o);
    let table: Vec<&str> = t.lines().take_while(|l| !l.starts_with('(')).collect();
    for l in &table {
        assert!(l.chars().count() <= 100, "{} wide:\n{t}", l.chars().count());
    }
    assert!(t.contains('…'), "names shortened:\n{t}");
    assert!(t.contains("2026-02-11 "), "dates whole:\n{t}");
    assert!(t.contains("left out to fit the terminal"), "{t}");
    // The figures that stay are whole: requests and cost of the TOTAL row are unchanged.
    let total = |s: &str| {
        let w: Vec<String> = s
            .lines()
            .find(|l| l.starts_with("TOTAL"))
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect();
        (w[1].clone(), w.last().unwrap().clone())
    };
    assert_eq!(total(&t), total(&stdout(&wide)));
}
