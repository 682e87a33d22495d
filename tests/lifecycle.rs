//! The daemon that is always there: a figure command starts it when none runs; a replaced
//! binary restarts it without losing or doubling a token; a changed config takes effect
//! without a restart, and a broken edit keeps the last good one and is reported.
#![cfg(target_os = "linux")]

mod common;
mod util;

use common::lines::{append, now_ms, Req};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokwatch::daemon::lock::InstanceLock;
use util::*;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A request of `input` uncached input tokens of claude-opus-4-6 ($5 per million), now.
fn spend(log: &Path, n: u32, input: u64) {
    let mut r = Req::new("sess-1", format!("r{n}"), now_ms());
    r.input = input;
    r.output = 10;
    append(log, &r.line());
}

fn log_file(h: &Home) -> PathBuf {
    let d = h.claude_projects().join("-p");
    std::fs::create_dir_all(&d).unwrap();
    d.join("s.jsonl")
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

fn wait_usd(h: &Home, want: f64) {
    let ok = wait_until(TIMEOUT, || today_usd(h) == Some(want));
    assert!(ok.is_some(), "today is {:?}, want {want}", today_usd(h));
}

/// Kills the daemon holding `db` when dropped (one started in the background by a command).
struct KillOnDrop(PathBuf);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = InstanceLock::holder(&self.0) {
            // SAFETY: kill(2) on the pid the test's own daemon wrote in its lock file.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

fn config(h: &Home, text: &str) {
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), text).unwrap();
}

#[test]
fn statusline_starts_the_daemon_and_shows_the_current_figure() {
    let h = Home::new();
    let _kill = KillOnDrop(h.db());
    let log = log_file(&h);
    spend(&log, 1, 1_000_000);
    spend(&log, 2, 1_000_000);
    assert!(!InstanceLock::is_held(&h.db()));
    let statusline = || {
        let out = h
            .cmd()
            .arg("statusline")
            .env_remove("TOKWATCH_AUTO_START")
            .env("XDG_RUNTIME_DIR", h.dir.path())
            .env("TOKWATCH_CATCH_UP_WAIT_MS", "20000")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let line = statusline();
    assert!(InstanceLock::is_held(&h.db()), "no daemon was started");
    // $5 per million input tokens, 10 output tokens at $25 per million each.
    assert_eq!(line.trim(), "all today $10.00", "{line}");
    // The daemon it started keeps following.
    spend(&log, 3, 1_000_000);
    wait_usd(&h, 15.00075);
    assert_eq!(statusline().trim(), "all today $15.00");

    // Killed: the next statusline starts it again and is current, never $0.00.
    let pid = InstanceLock::holder(&h.db()).unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    wait_until(TIMEOUT, || !InstanceLock::is_held(&h.db())).unwrap();
    spend(&log, 4, 1_000_000);
    let line = statusline();
    assert_ne!(InstanceLock::holder(&h.db()), Some(pid));
    assert!(InstanceLock::is_held(&h.db()));
    assert_eq!(line.trim(), "all today $20.00", "{line}");
}

#[test]
fn with_auto_start_off_a_stale_figure_is_marked() {
    let h = Home::new();
    let log = log_file(&h);
    spend(&log, 1, 1_000_000);
    h.scan();
    spend(&log, 2, 1_000_000);
    let out = h
        .cmd()
        .arg("statusline")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        line.trim(),
        "all today $5.00 · stale: tokwatch is not running"
    );
    assert!(!InstanceLock::is_held(&h.db()));
}

#[test]
fn replaced_binary_restarts_the_daemon_without_losing_or_doubling_a_token() {
    let h = Home::new();
    let bin = h.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("tokwatch");
    std::fs::copy(env!("CARGO_BIN_EXE_tokwatch"), &exe).unwrap();
    let log = log_file(&h);
    let err = h.dir.path().join("daemon.log");
    let mut c = Command::new(&exe);
    c.args(["run", "--no-tray"])
        .env_clear()
        .env("HOME", h.home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TOKWATCH_DB", h.db())
        .env("TOKWATCH_CONFIG_DIR", h.dir.path().join("config"))
        .env("XDG_RUNTIME_DIR", h.dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap());
    let child = c.spawn().unwrap();
    let d = DaemonProc { child, log: err };
    wait_until(TIMEOUT, || d.log_text().contains("following")).unwrap();
    for n in 0..20 {
        spend(&log, n, 1000 + n as u64);
    }
    // The new binary lands as `cargo install` puts it: a new file in place of the old one,
    // while requests keep arriving.
    let new = bin.join("tokwatch.new");
    std::fs::copy(env!("CARGO_BIN_EXE_tokwatch"), &new).unwrap();
    std::fs::rename(&new, &exe).unwrap();
    for n in 20..60 {
        spend(&log, n, 1000 + n as u64);
        std::thread::sleep(Duration::from_millis(20));
    }
    let restarted = wait_until(TIMEOUT, || d.log_text().matches("following").count() == 2);
    assert!(restarted.is_some(), "{}", d.log_text());
    assert!(d
        .log_text()
        .contains("was replaced: restarting on the new binary"));
    for n in 60..80 {
        spend(&log, n, 1000 + n as u64);
    }
    let want_input: i64 = (0..80).map(|n| 1000 + n as i64).sum();
    let ok = wait_until(TIMEOUT, || {
        try_sums(&h.db(), &tokwatch::store::query::Filter::default())
            .is_some_and(|s| s.requests == 80 && s.input == want_input && s.output == 800)
    });
    let s = try_sums(&h.db(), &tokwatch::store::query::Filter::default());
    assert!(ok.is_some(), "{s:?}\n{}", d.log_text());
    // Same process (exec), and it still holds the lock.
    assert_eq!(InstanceLock::holder(&h.db()), Some(d.child.id()));
}

fn alerts_json(h: &Home) -> serde_json::Value {
    let out = h.cmd().args(["alerts", "--json"]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn config_changes_take_effect_live_and_a_broken_edit_keeps_the_last_good_one() {
    let h = Home::new();
    let log = log_file(&h);
    let d = h.start_daemon(&[]);
    spend(&log, 1, 1_000_000);
    wait_usd(&h, 5.00025);

    // A price override and a daily budget, without a restart.
    config(
        &h,
        "[budget]\ndaily_usd = 50.0\n\n[alerts]\ndesktop = false\n\n[prices.\"claude-opus-4-6\"]\ninput = 100.0\noutput = 100.0\n",
    );
    wait_until(TIMEOUT, || d.log_text().contains("reloaded")).unwrap();
    spend(&log, 2, 1_000_000);
    // 1M input at the override's $100 per million, 10 output at $100 per million.
    wait_usd(&h, 5.00025 + 100.001);
    let ok = wait_until(TIMEOUT, || {
        alerts_json(&h)
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["message"].as_str().unwrap_or("").contains("daily budget"))
    });
    assert!(
        ok.is_some(),
        "no alert for the new budget: {}",
        alerts_json(&h)
    );

    // A broken edit: the daemon keeps the last good config and says so.
    config(&h, "[budget]\ndaily_usd = \"fifty\"\n");
    wait_until(TIMEOUT, || d.log_text().contains("keeping the config")).unwrap();
    let log_text = d.log_text();
    assert!(
        log_text.contains("line 2, key budget.daily_usd"),
        "{log_text}"
    );
    spend(&log, 3, 1_000_000);
    wait_usd(&h, 5.00025 + 2.0 * 100.001);
    let out = h.cmd().args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["daemon"]["running"], true);
    assert_eq!(v["config_ok"], false);
    assert_eq!(v["daemon_on_last_good_config"], true);
    assert!(
        v["config_errors"][0]
            .as_str()
            .unwrap()
            .starts_with("line 2, key budget.daily_usd:"),
        "{v}"
    );
    let doctor = h.cmd().args(["doctor", "--json"]).output().unwrap();
    let dv: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(dv["config_ok"], false, "{dv}");

    // Fixed again: reloaded, all well.
    config(&h, "[budget]\ndaily_usd = 500.0\n");
    wait_until(TIMEOUT, || d.log_text().matches("reloaded").count() == 2).unwrap();
    let out = h.cmd().args(["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["config_ok"], true, "{v}");
    assert_eq!(v["daemon_on_last_good_config"], false, "{v}");
    assert_eq!(out.status.code(), Some(0), "{v}");
}
