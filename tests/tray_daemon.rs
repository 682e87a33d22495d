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
                && v.item.tooltip_text.contains(amount)
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

/// The configured `near` fraction is the one the tray and the alerts use: with `near = 0.5`,
/// half the daily budget spent is "near" in the tray's menu and raises the near alert.
#[test]
fn configured_near_fraction_is_shared_by_tray_and_alerts() {
    let bus = TestBus::private();
    let h = Home::new();
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[budget]\ndaily_usd = 10.0\nnear = 0.5\n",
    )
    .unwrap();
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let d = h.start_daemon_with(&["run"], &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]);
    let conn = bus.connect();
    let name = sni::find_item_by_pid(&conn, d.child.id(), TIMEOUT).unwrap();
    sni::wait_for_view(&conn, &name, TIMEOUT, |v| v.item.title == "$0.00").unwrap();
    // $5.00 of $10.00: 50%, which is "near" with near = 0.5 (the old tray said near at 80%).
    append(&log, &line(1, 1_000_000));
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| v.item.title == "$5.00")
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert!(
        v.labels()
            .iter()
            .any(|l| l == "Budget: $5.00 of $10.00 today (50%, near)"),
        "{:?}",
        v.labels()
    );
    assert!(
        wait_until(TIMEOUT, || d
            .log_text()
            .contains("budget alert: $5.00 of the $10.00 daily budget spent"))
        .is_some(),
        "{}",
        d.log_text()
    );
}

/// Overwrites the root page of `table` in the database file with garbage, the way a failing
/// disk would, then commits a small write so every open connection reads the file afresh.
fn damage_table(db: &std::path::Path, table: &str) {
    use std::io::{Seek, SeekFrom};
    let c = rusqlite::Connection::open(db).unwrap();
    let (busy, _, _): (i64, i64, i64) = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "checkpoint while the daemon is idle");
    let root: i64 = c
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let page: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start(((root - 1) * page) as u64)).unwrap();
    f.write_all(&vec![0xA5u8; page as usize]).unwrap();
    f.sync_all().unwrap();
    c.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES('test-poke', '1')",
        [],
    )
    .unwrap();
}

/// A database that fails under a running query: the tray and the statusline say "database
/// error", never "$0.00".
#[test]
fn a_failing_database_is_shown_as_an_error_not_zero() {
    let bus = TestBus::private();
    let h = Home::new();
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let d = h.start_daemon_with(&["run"], &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]);
    let conn = bus.connect();
    let name = sni::find_item_by_pid(&conn, d.child.id(), TIMEOUT).unwrap();
    append(&log, &line(1, 1_000_000));
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| v.item.title == "$5.00")
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));

    damage_table(&h.db(), "rollup");
    let out = h.cmd().arg("statusline").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("database error") && !text.contains("$0.00"),
        "statusline: {text}"
    );

    // The tray recomputes its status (as after any event); the figures cannot be read.
    let pause = v
        .node(tokwatch::tray::format::LABEL_PAUSE_ALERTS)
        .expect("pause item")
        .id;
    sni::click(&conn, &name, &v.item.menu_path, pause).unwrap();
    // Title and tooltip are separate properties: wait until both have been re-read.
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        v.item.title == "database error" && v.item.tooltip_text.contains("database error")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert!(
        v.item.tooltip_text.contains("database error"),
        "{:?}",
        v.item.tooltip_text
    );
    assert!(
        v.labels().iter().all(|l| !l.contains("$0.00")),
        "{:?}",
        v.labels()
    );
}

/// Every budget's state is in the menu; "Pause alerts" is remembered across a restart, and
/// while paused an alert is recorded (delivery `paused`) but no notification is shown.
#[test]
fn budgets_in_the_menu_and_pause_survives_a_restart() {
    use common::notifications::NotificationServer;
    let bus = TestBus::private();
    let notes = NotificationServer::start(&bus);
    let h = Home::new();
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[budget]\ndaily_usd = 100.0\n[[budgets]]\nusd = 6.0\nperiod = \"week\"\ntool = \"claude-code\"\n[alerts]\nforecast = false\nburn_usd_per_hour = 0\n",
    )
    .unwrap();
    let log = h.claude_projects().join("-p/s.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let env = [("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str())];
    let d = h.start_daemon_with(&["run"], &env);
    let conn = bus.connect();
    let name = sni::find_item_by_pid(&conn, d.child.id(), TIMEOUT).unwrap();
    // $4.50 of the weekly claude-code budget of $6: 75%, under.
    append(&log, &line(1, 900_000));
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        let l = v.labels();
        l.iter()
            .any(|l| l == "Budget weekly claude-code: $4.50 of $6.00 this week (75%)")
            && l.iter().any(|l| l == "Budget: $4.50 of $100.00 today (4%)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));

    // Pause, then restart: the item comes back checked.
    let pause = v
        .node(tokwatch::tray::format::LABEL_PAUSE_ALERTS)
        .expect("pause item")
        .id;
    sni::click(&conn, &name, &v.item.menu_path, pause).unwrap();
    assert!(wait_until(TIMEOUT, || d.log_text().contains("alerts paused")).is_some());
    assert!(
        wait_until(TIMEOUT, || h.reader().alerts_paused().unwrap_or(false)).is_some(),
        "the pause is stored"
    );
    drop(d);
    let d = h.start_daemon_with(&["run"], &env);
    let name = sni::find_item_by_pid(&conn, d.child.id(), TIMEOUT).unwrap();
    // (The tooltip and the menu are separate D-Bus properties: wait for both.)
    sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        v.node(tokwatch::tray::format::LABEL_PAUSE_ALERTS)
            .is_some_and(|n| n.toggle_state == Some(1))
            && v.item.tooltip_text.contains("Alerts paused")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));

    // $5.50 of $6: 91%, near. Recorded, not shown.
    append(&log, &line(2, 200_000));
    sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        v.labels()
            .iter()
            .any(|l| l == "Budget weekly claude-code: $5.50 of $6.00 this week (91%, near)")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log_text()));
    assert!(
        wait_until(TIMEOUT, || !h.reader().alerts(0).unwrap().is_empty()).is_some(),
        "{}",
        d.log_text()
    );
    let a = h.reader().alerts(0).unwrap();
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].delivery, "paused");
    assert_eq!(a[0].budget_id.as_deref(), Some("weekly-tool:claude-code"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(notes.shown().is_empty(), "{:?}", notes.shown());
}

/// "Open dashboard" hands the daemon's dashboard, with the install's token, to the browser
/// (`$BROWSER` here), instead of writing a text report next to the database.
#[test]
fn open_dashboard_opens_the_dashboard_in_the_browser() {
    let bus = TestBus::private();
    let h = Home::new();
    let seen = h.dir.path().join("browser-arg");
    let script = h.dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", seen.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let d = h.start_daemon_with(
        &["run"],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", &bus.address),
            ("BROWSER", script.to_str().unwrap()),
        ],
    );
    assert!(
        wait_until(TIMEOUT, || d.log_text().contains("tray indicator")
            && d.log_text().contains("dashboard at"))
        .is_some(),
        "{}",
        d.log_text()
    );
    let conn = bus.connect();
    let name = sni::find_item_by_pid(&conn, d.child.id(), TIMEOUT).unwrap();
    let v = sni::wait_for_view(&conn, &name, TIMEOUT, |v| {
        v.node(tokwatch::tray::format::LABEL_OPEN_DASHBOARD)
            .is_some()
    })
    .unwrap();
    let item = v
        .node(tokwatch::tray::format::LABEL_OPEN_DASHBOARD)
        .unwrap()
        .id;
    sni::click(&conn, &name, &v.item.menu_path, item).unwrap();
    assert!(
        wait_until(TIMEOUT, || seen.exists()).is_some(),
        "the browser was not started: {}",
        d.log_text()
    );
    let port = tokwatch::dashboard::remembered_port(&h.db()).unwrap();
    let token = tokwatch::dashboard::read_token(&h.db()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().trim(),
        format!("http://127.0.0.1:{port}/#token={token}")
    );
    assert!(!h.db().with_file_name("tokwatch-report.txt").exists());
}
