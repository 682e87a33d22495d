//! The real daemon crossing budget thresholds as log lines are appended: exactly which alerts
//! are stored, each sent once as a desktop notification seen by a notification service on a
//! private D-Bus session bus; after a restart, a re-scan and a backfill nothing fires again.
#![cfg(target_os = "linux")]

mod common;
mod util;

use common::lines::{append, now_ms, Req};
use common::notifications::NotificationServer;
use common::sni::TestBus;
use std::time::Duration;
use util::*;

const TIMEOUT: Duration = Duration::from_secs(20);

fn config(h: &Home, text: &str) {
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), text).unwrap();
}

/// The stored alerts, oldest first: (kind, key, delivery, message).
fn alerts(h: &Home) -> Vec<(String, String, String, String)> {
    let out = h.cmd().args(["alerts", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut a: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["key"].as_str().unwrap().to_string(),
                a["delivery"].as_str().unwrap().to_string(),
                a["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    a.reverse();
    a
}

fn today_usd(h: &Home) -> Option<f64> {
    let store = tokwatch::store::Store::open_reader(&h.db()).ok()?;
    let start = tokwatch::store::query::Zone::Utc
        .start_of(tokwatch::store::query::Zone::Utc.date(now_ms()));
    store
        .cost(tokwatch::store::query::Scope::Since(start))
        .ok()
        .map(|c| (c.usd * 1e6).round() / 1e6)
}

/// A request of `input` uncached input tokens of claude-opus-4-6 ($5 per million), now.
fn spend(log: &std::path::Path, n: u32, input: u64) {
    let mut r = Req::new("sess-1", format!("b{n}"), now_ms());
    r.input = input;
    append(log, &r.line());
}

#[test]
fn thresholds_fire_once_each_and_never_again() {
    let bus = TestBus::private();
    let notes = NotificationServer::start(&bus);
    let h = Home::new();
    config(
        &h,
        "[budget]\ndaily_usd = 10.0\ntz = \"UTC\"\n[alerts]\nforecast = false\nburn_usd_per_hour = 0\n",
    );
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let env = [("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str())];
    let d = h.start_daemon(&env);

    // $5.00 of $10.00: under every threshold.
    spend(&log, 1, 1_000_000);
    wait_until(TIMEOUT, || today_usd(&h) == Some(5.0)).expect("first request stored");
    // $8.60: 86%, the 85% threshold.
    spend(&log, 2, 720_000);
    let s = notes.wait_for(1, TIMEOUT);
    assert_eq!(s.len(), 1, "{s:?}\n{}", d.log_text());
    assert_eq!(s[0].app_name, "tokwatch");
    assert_eq!(s[0].summary, "tokwatch: budget");
    assert_eq!(s[0].body, "$8.60 of the $10.00 daily budget spent (86%)");
    // $9.60: 95%.
    spend(&log, 3, 200_000);
    let s = notes.wait_for(2, TIMEOUT);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[1].body, "$9.60 of the $10.00 daily budget spent (96%)");
    // $10.10: reached.
    spend(&log, 4, 100_000);
    let s = notes.wait_for(3, TIMEOUT);
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!(s[2].body, "Daily budget reached: $10.10 of $10.00 today");

    let day = tokwatch::store::query::Zone::Utc
        .start_of(tokwatch::store::query::Zone::Utc.date(now_ms()));
    let want: Vec<(String, String, String, String)> = [
        ("0.85", "$8.60 of the $10.00 daily budget spent (86%)"),
        ("0.95", "$9.60 of the $10.00 daily budget spent (96%)"),
        ("1", "Daily budget reached: $10.10 of $10.00 today"),
    ]
    .iter()
    .map(|(t, m)| {
        (
            "threshold".to_string(),
            format!("budget:daily:{day}:10:{t}"),
            "sent".to_string(),
            m.to_string(),
        )
    })
    .collect();
    assert_eq!(alerts(&h), want);
    drop(d);

    // A re-scan: the same requests read again from a copy (a resumed session does this), and
    // a backfill: yesterday's usage, $20 of it, arriving now.
    std::fs::copy(&log, log.with_file_name("resumed.jsonl")).unwrap();
    let st = h.cmd().args(["scan", "--json"]).output().unwrap();
    assert!(st.status.success());
    let d = h.start_daemon(&env);
    assert!(
        wait_until(TIMEOUT, || d.log_text().contains("live feed")).is_some(),
        "{}",
        d.log_text()
    );
    let mut old = Req::new("sess-old", "old1", now_ms() - 86_400_000 - 3_600_000);
    old.input = 4_000_000;
    append(&log.with_file_name("backfill.jsonl"), &old.line());
    // Another request of today that crosses nothing new.
    spend(&log, 5, 20_000);
    wait_until(TIMEOUT, || today_usd(&h) == Some(10.2)).expect("stored");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(notes.shown().len(), 3, "{:?}", notes.shown());
    assert_eq!(alerts(&h), want);
    assert!(!d.log_text().contains("budget alert"), "{}", d.log_text());
}

/// With the forecast: spend below every threshold whose projection crosses the limit raises
/// the forecast alert, once, before the limit is reached.
#[test]
fn forecast_alert_comes_before_the_limit() {
    let bus = TestBus::private();
    let notes = NotificationServer::start(&bus);
    let h = Home::new();
    // The week starts today (UTC), so it has more than six days to go: $8 spent now, at the
    // recent rate of $8 per 7 days, projects $8 + 6.x days × $1.14/day > $10.
    let today = chrono::Utc::now().format("%A").to_string().to_lowercase();
    config(
        &h,
        &format!(
            "[budget]\nweekly_usd = 10.0\ntz = \"UTC\"\nweek_start = \"{today}\"\n[alerts]\nburn_usd_per_hour = 0\n"
        ),
    );
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let d = h.start_daemon(&[("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str())]);
    spend(&log, 1, 1_600_000);
    let s = notes.wait_for(1, TIMEOUT);
    assert_eq!(s.len(), 1, "{s:?}\n{}", d.log_text());
    assert_eq!(s[0].summary, "tokwatch: budget forecast");
    assert!(
        s[0].body.starts_with("At the recent ")
            && s[0]
                .body
                .contains("the weekly budget of $10.00 would be reached")
            && s[0].body.ends_with("$8.00 spent so far"),
        "{}",
        s[0].body
    );
    let a = alerts(&h);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].0, "forecast");
    // More spend, still under 85%: the forecast was said already.
    spend(&log, 2, 20_000);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(notes.shown().len(), 1);
}

/// An `on_alert` command gets the alert in its environment and as JSON on stdin.
#[test]
fn on_alert_command_gets_the_alert() {
    let h = Home::new();
    let out = h.dir.path().join("alert-out");
    config(
        &h,
        &format!(
            r#"[budget]
daily_usd = 1.0
tz = "UTC"
[alerts]
desktop = false
forecast = false
burn_usd_per_hour = 0
on_alert = '''printf '%s|%s|%s\n' "$TOKWATCH_ALERT_KIND" "$TOKWATCH_ALERT_THRESHOLD" "$TOKWATCH_ALERT_MESSAGE" >> {p}; cat >> {p}'''
"#,
            p = out.display()
        ),
    );
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let d = h.start_daemon(&[]);
    spend(&log, 1, 200_000); // $1.00: 85%, 95% and 100% at once
    assert!(
        wait_until(TIMEOUT, || std::fs::read_to_string(&out)
            .is_ok_and(|t| t.lines().count() >= 2))
        .is_some(),
        "{}",
        d.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Three thresholds crossed at once: one is said (the highest), two are superseded.
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        "threshold|1|Daily budget reached: $1.00 of $1.00 today"
    );
    let json: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(json["kind"], "threshold");
    assert_eq!(json["threshold"], 1.0);
    assert_eq!(json["delivery"], "sent");
    let deliveries: Vec<String> = alerts(&h).into_iter().map(|a| a.2).collect();
    assert_eq!(deliveries, ["superseded", "superseded", "sent"]);
}
