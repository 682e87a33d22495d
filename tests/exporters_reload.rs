//! Exporters follow the config without a daemon restart: turning `[export.prometheus]` on
//! serves `/metrics`, a new address moves it, turning it off stops it; OTLP starts and stops
//! the same way; a `[sync]` folder's writer starts at once, and what cannot change live (reading
//! the other machines' files there) is said in the log and in `status`.
#![cfg(target_os = "linux")]

mod util;

use std::net::TcpListener;
use std::time::Duration;
use util::*;

const TIMEOUT: Duration = Duration::from_secs(30);

fn config(h: &Home, toml: &str) {
    let d = h.dir.path().join("config");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.toml"), toml).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `/metrics` at `port`: its body, or `None` when nothing answers there.
fn metrics(port: u16) -> Option<String> {
    let mut r = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .config()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .call()
        .ok()?;
    r.body_mut().read_to_string().ok()
}

fn status(h: &Home) -> serde_json::Value {
    let o = h.cmd().args(["status", "--json"]).output().unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_config_reload_starts_moves_and_stops_the_exporters() {
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    let (p1, p2) = (free_port(), free_port());
    let d = h.start_daemon(&[]);
    assert_eq!(metrics(p1), None);
    assert!(strings(&status(&h)["daemon_exporting"]).is_empty());

    // On: served at once, with the stored totals.
    config(
        &h,
        &format!("[export.prometheus]\nlisten = \"127.0.0.1:{p1}\"\n"),
    );
    let up = wait_until(TIMEOUT, || metrics(p1).is_some());
    assert!(up.is_some(), "{}", d.log_text());
    let body = metrics(p1).unwrap();
    assert!(
        body.contains("tokwatch_tokens") && body.ends_with("# EOF\n"),
        "{body}"
    );
    assert!(d.log_text().contains(&format!(
        "prometheus: metrics at http://127.0.0.1:{p1}/metrics"
    )));
    wait_until(TIMEOUT, || {
        strings(&status(&h)["daemon_exporting"])
            == [format!("prometheus: http://127.0.0.1:{p1}/metrics")]
    })
    .unwrap_or_else(|| panic!("{:#}", status(&h)));

    // A new address: served there, no longer at the old one.
    config(
        &h,
        &format!("[export.prometheus]\nlisten = \"127.0.0.1:{p2}\"\n"),
    );
    let moved = wait_until(TIMEOUT, || metrics(p2).is_some() && metrics(p1).is_none());
    assert!(moved.is_some(), "{}", d.log_text());

    // Off with the section kept: stopped, and said.
    config(
        &h,
        &format!("[export.prometheus]\nenabled = false\nlisten = \"127.0.0.1:{p2}\"\n"),
    );
    let off = wait_until(TIMEOUT, || metrics(p2).is_none());
    assert!(off.is_some(), "{}", d.log_text());
    wait_until(TIMEOUT, || d.log_text().contains("prometheus: stopped")).unwrap();

    // OTLP on (a collector that is not there yet) and off again.
    let c = free_port();
    config(
        &h,
        &format!("[export.otlp]\nendpoint = \"http://127.0.0.1:{c}\"\n"),
    );
    wait_until(TIMEOUT, || {
        d.log_text()
            .contains(&format!("otlp: sending to http://127.0.0.1:{c}/v1/logs"))
    })
    .unwrap_or_else(|| panic!("{}", d.log_text()));
    config(&h, "");
    wait_until(TIMEOUT, || d.log_text().contains("otlp: stopped"))
        .unwrap_or_else(|| panic!("{}", d.log_text()));
    wait_until(TIMEOUT, || {
        strings(&status(&h)["daemon_exporting"]).is_empty()
    })
    .unwrap();

    // A sync folder: this machine's file is written at once; reading the other machines'
    // files there needs a restart, which the log and `status` say.
    let sync = h.dir.path().join("sync");
    std::fs::create_dir_all(&sync).unwrap();
    config(&h, &format!("[sync]\ndir = \"{}\"\n", sync.display()));
    let written = wait_until(TIMEOUT, || {
        std::fs::read_dir(&sync)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.len() > 1000))
    });
    assert!(written.is_some(), "{}", d.log_text());
    wait_until(TIMEOUT, || {
        d.log_text().contains("read only after a restart")
    })
    .unwrap();
    let s = wait_until(TIMEOUT, || {
        !strings(&status(&h)["restart_needed"]).is_empty()
    })
    .map(|_| status(&h));
    let s = s.unwrap_or_else(|| panic!("{:#}", status(&h)));
    assert_eq!(
        s["ok"], false,
        "a change waiting for a restart needs the user"
    );
    let needs = strings(&s["needs_attention"]).join("\n");
    assert!(needs.contains("restart the daemon"), "{needs}");
    let text =
        String::from_utf8_lossy(&h.cmd().arg("status").output().unwrap().stdout).into_owned();
    assert!(text.contains("restart    needed: sync:"), "{text}");
    assert!(text.contains("exporting  sync:"), "{text}");
}
