//! The real daemon's tray on a private D-Bus session bus (no X): a usage line appended to a
//! watched log changes the StatusNotifierItem's title, tooltip and menu labels to the new
//! amounts; menu clicks reach the daemon.
#![cfg(target_os = "linux")]

mod common;
mod util;

use common::sni::{self, TestBus};
use std::io::Write;
use std::time::Duration;
use util::*;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A Claude Code request made now: `input` uncached input tokens of claude-opus-4-6
/// ($5 per million).
fn line(i: u32, input: u64) -> String {
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    format!(
        r#"{{"type":"assistant","sessionId":"sess-1","cwd":"/nonexistent/acme/widget","gitBranch":"main","requestId":"req_{i}","timestamp":"{ts}","message":{{"model":"claude-opus-4-6","id":"msg_{i}","usage":{{"input_tokens":{input},"output_tokens":0}}}}}}"#
    )
}

fn append(p: &std::path::Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    writeln!(f, "{s}").unwrap();
}

#[test]
fn appended_usage_changes_title_tooltip_and_menu() {
    let bus = TestBus::private();
    let h = Home::new();
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[budget]\ndaily_usd = 10.0\n").unwrap();
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let d = h.start_daemon_with(&["run"], &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]);
    assert!(
        wait_until(TIMEOUT, || d.log_text().contains("tray indicator")).is_some(),
        "{}",
        d.log_text()
    );
    let conn = bus.connect();
    let name = sni::find_item_by_pid(&conn, d.child.id(), TIMEOUT).unwrap();
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| v.item.title == "$0.00").unwrap();
    assert!(
        v.labels().iter().any(|l| l.contains("Budget")),
        "{:?}",
        v.labels()
    );

    // 1,000,000 input tokens of claude-opus-4-6: $5.00.
    append(&log, &line(1, 1_000_000));
    let all = |amount: &'static str| {
        move |v: &sni::SniView| {
            v.item.title == amount
                && format!("{} {}", v.item.tooltip_title, v.item.tooltip_text).contains(amount)
                && v.labels()
                    .iter()
                    .any(|l| l.contains("claude-code") && l.contains(amount))
        }
    };
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, all("$5.00"))
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    let tip = format!("{} {}", v.item.tooltip_title, v.item.tooltip_text);
    assert!(tip.contains("$5.00"), "tooltip: {tip}");
    assert!(
        tip.contains("widget"),
        "the active session's repository: {tip}"
    );
    let labels = v.labels();
    assert!(
        labels
            .iter()
            .any(|l| l.contains("claude-code") && l.contains("$5.00")),
        "today by tool: {labels:?}"
    );
    assert!(
        labels.iter().any(|l| l.contains("$5.00 of $10.00")),
        "budget: {labels:?}"
    );

    // Another $3.50: title, tooltip and menu follow.
    append(&log, &line(2, 700_000));
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, all("$8.50")).unwrap();
    assert_eq!(v.item.title, "$8.50");
    // $8.50 of $10 is past the 80% mark: the alert fired before the limit.
    assert!(
        wait_until(TIMEOUT, || d.log_text().contains("budget alert")).is_some(),
        "{}",
        d.log_text()
    );

    // Pause alerts from the menu, then Quit.
    let pause = v
        .node(tokwatch::tray::format::LABEL_PAUSE_ALERTS)
        .expect("pause item")
        .id;
    sni::click(&conn, &name, &v.item.menu_path, pause).unwrap();
    assert!(wait_until(TIMEOUT, || d.log_text().contains("alerts paused")).is_some());
    let v = sni::read_view(&conn, &name).unwrap();
    let quit = v
        .node(tokwatch::tray::format::LABEL_QUIT)
        .expect("quit item")
        .id;
    sni::click(&conn, &name, &v.item.menu_path, quit).unwrap();
    let mut d = d;
    assert!(
        wait_until(TIMEOUT, || matches!(d.child.try_wait(), Ok(Some(_)))).is_some(),
        "the daemon quits from the menu"
    );
    assert!(d.log_text().contains("stopped"));
}

#[test]
fn no_session_bus_means_headless_with_one_line() {
    let h = Home::new();
    let d = h.start_daemon_with(
        &["run"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    let log = d.log_text();
    assert_eq!(log.matches("running headless").count(), 1, "{log}");
}
