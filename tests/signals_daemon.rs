//! Early signals of running sessions, through the real daemon: a retry loop raises the loop
//! alert and an ordinary session of the same cost does not; repeated identical tool errors
//! raise it too; a session that switches model raises the fallback alert (and `watch` marks
//! it); a session spending fast raises the burn alert. Plan limits from the statusline input
//! reach the daemon and alert at 85% and 95%.

mod common;
mod util;

use common::lines::{append, now_ms, tool_error_line, Req};
use std::io::{BufRead, Write};
use std::time::Duration;
use util::*;

const TIMEOUT: Duration = Duration::from_secs(20);

fn config(h: &Home, text: &str) {
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), text).unwrap();
}

/// Stored alerts: (kind, session, message).
fn alerts(h: &Home) -> Vec<(String, String, String)> {
    let out = h.cmd().args(["alerts", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["session"].as_str().unwrap_or("").to_string(),
                a["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn requests(h: &Home, session: &str) -> i64 {
    h.sums(&tokwatch::store::query::Filter {
        session: Some(session.into()),
        ..Default::default()
    })
    .requests
}

#[test]
fn loops_fallbacks_and_burn() {
    let h = Home::new();
    config(
        &h,
        "[alerts]\ndesktop = false\nforecast = false\nburn_usd_per_hour = 2.0\n",
    );
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let d = h.start_daemon(&[]);
    let t0 = now_ms() - 60_000;

    // A retry loop: eight requests in 8 s, the same 50,000-token context, 40 output tokens.
    // Each costs 50,000 × $0.50/M + 40 × $25/M = $0.026; $0.208 in all.
    let loop_log = dir.join("loop.jsonl");
    for i in 0..8 {
        let mut r = Req::new("sess-loop", format!("l{i}"), t0 + i * 1000);
        r.cache_read = 50_000;
        r.output = 40;
        append(&loop_log, &r.line());
    }
    // An ordinary session of the same cost: the context grows as work is done (36k .. 64k,
    // 400,000 cache-read tokens in all, as above).
    let work_log = dir.join("work.jsonl");
    for i in 0..8 {
        let mut r = Req::new("sess-work", format!("w{i}"), t0 + i * 1000);
        r.cache_read = 36_000 + 4_000 * i as u64;
        r.output = 40;
        append(&work_log, &r.line());
    }
    wait_until(TIMEOUT, || {
        requests(&h, "sess-loop") == 8 && requests(&h, "sess-work") == 8
    })
    .expect("both sessions stored");
    assert_eq!(
        h.sums(&tokwatch::store::query::Filter {
            session: Some("sess-loop".into()),
            ..Default::default()
        })
        .cost_usd,
        h.sums(&tokwatch::store::query::Filter {
            session: Some("sess-work".into()),
            ..Default::default()
        })
        .cost_usd,
        "the same cost"
    );
    assert!(
        wait_until(TIMEOUT, || alerts(&h).iter().any(|a| a.0 == "loop")).is_some(),
        "{}",
        d.log_text()
    );
    let a = alerts(&h);
    let loops: Vec<_> = a.iter().filter(|a| a.0 == "loop").collect();
    assert_eq!(loops.len(), 1, "{a:?}");
    assert_eq!(loops[0].1, "sess-loop");
    assert!(
        loops[0].2.contains("6 requests") && loops[0].2.contains("same context size"),
        "{}",
        loops[0].2
    );

    // The same tool error three times in a row (growing context: not the size shape).
    let err_log = dir.join("errors.jsonl");
    for i in 0..4u32 {
        let mut r = Req::new("sess-err", format!("e{i}"), t0 + 20_000 + i as i64 * 2000);
        r.cache_read = 20_000 + 7_000 * i as u64;
        r.output = 300;
        append(&err_log, &r.line());
        if i < 3 {
            append(
                &err_log,
                &tool_error_line(
                    "sess-err",
                    i,
                    t0 + 21_000 + i as i64 * 2000,
                    "Exit code 1: npm ERR! missing script: tset",
                ),
            );
        }
    }
    assert!(
        wait_until(TIMEOUT, || alerts(&h)
            .iter()
            .any(|a| a.0 == "loop" && a.1 == "sess-err"))
        .is_some(),
        "{:?}\n{}",
        alerts(&h),
        d.log_text()
    );
    let e = alerts(&h)
        .into_iter()
        .find(|a| a.0 == "loop" && a.1 == "sess-err")
        .unwrap();
    assert!(
        e.2.contains("the same tool error came back 3 times in a row"),
        "{}",
        e.2
    );

    // A model switch, seen by `watch` too.
    let mut watch = h
        .cmd()
        .arg("watch")
        .env("XDG_RUNTIME_DIR", h.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    // Watch is following once it printed its first lines.
    let first = rx.recv_timeout(TIMEOUT).expect("watch starts");
    assert!(first.contains("today so far"), "{first}");
    let fb_log = dir.join("fallback.jsonl");
    for (i, m) in ["claude-opus-4-6", "claude-opus-4-6", "claude-sonnet-4-5"]
        .iter()
        .enumerate()
    {
        let mut r = Req::new("sess-fallback", format!("f{i}"), now_ms());
        r.model = m;
        r.cache_read = 10_000 + 5_000 * i as u64;
        r.output = 500;
        append(&fb_log, &r.line());
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut seen = Vec::new();
    let marker = loop {
        let l = rx.recv_timeout(TIMEOUT).expect("watch lines");
        if l.contains('⇄') {
            break l;
        }
        seen.push(l);
    };
    assert!(
        marker.contains("model claude-opus-4-6 → claude-sonnet-4-5"),
        "{marker}\n{seen:?}"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        wait_until(TIMEOUT, || alerts(&h).iter().any(|a| a.0 == "fallback")).is_some(),
        "{}",
        d.log_text()
    );
    let f = alerts(&h).into_iter().find(|a| a.0 == "fallback").unwrap();
    assert_eq!(f.1, "sess-fallback");
    assert!(
        f.2.contains("switched model from claude-opus-4-6 to claude-sonnet-4-5 (cheaper: $25.00 → $15.00 per million output tokens)"),
        "{}",
        f.2
    );

    // Reports list the model change of the session.
    let out = h
        .cmd()
        .args(["report", "session", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model_changes"][0]["session"], "sess-fallback", "{v}");
    let out = h.cmd().args(["report", "session"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Model change in session sess-fallback: Session in"),
        "{text}"
    );

    // Burn: $1.05 in the last minute is $6.30/h over the 10-minute window, above $2/h.
    let burn_log = dir.join("burn.jsonl");
    let mut r = Req::new("sess-burn", "b0", now_ms());
    r.input = 210_000;
    append(&burn_log, &r.line());
    assert!(
        wait_until(TIMEOUT, || alerts(&h).iter().any(|a| a.0 == "burn")).is_some(),
        "{}",
        d.log_text()
    );
    let a = alerts(&h);
    let burns: Vec<_> = a.iter().filter(|a| a.0 == "burn").collect();
    assert_eq!(burns.len(), 1, "{a:?}");
    assert_eq!(burns[0].1, "sess-burn");
    assert!(burns[0].2.contains("spending $6.30/h"), "{}", burns[0].2);
    // No session but these raised a signal: the ordinary one stayed quiet.
    assert!(a.iter().all(|a| a.1 != "sess-work"), "{a:?}");
}

/// Claude Code's statusline input with `rate_limits`: shown, handed to the daemon, alerted on
/// at 85% and 95% once each.
#[test]
fn plan_limits_from_the_statusline() {
    let h = Home::new();
    config(&h, "[alerts]\ndesktop = false\n");
    std::fs::create_dir_all(h.claude_projects()).unwrap();
    let d = h.start_daemon(&[]);
    let resets = now_ms() / 1000 + 3600;
    let input = |five: f64, seven: f64| {
        format!(
            r#"{{"session_id":"s1","cwd":"/tmp","model":{{"id":"claude-opus-4-6"}},"rate_limits":{{"five_hour":{{"used_percentage":{five},"resets_at":{resets}}},"seven_day":{{"used_percentage":{seven},"resets_at":{}}}}}}}"#,
            resets + 86_400
        )
    };
    let statusline = |json: &str| {
        let mut c = h
            .cmd()
            .arg("statusline")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let line = statusline(&input(42.0, 20.5));
    assert!(line.contains("5h 42% · 7d 20%"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(alerts(&h).is_empty());
    let line = statusline(&input(87.2, 20.5));
    assert!(line.contains("5h 87% (near)"), "{line}");
    assert!(
        wait_until(TIMEOUT, || alerts(&h).iter().any(|a| a.0 == "plan")).is_some(),
        "{}",
        d.log_text()
    );
    let plan: Vec<_> = alerts(&h).into_iter().filter(|a| a.0 == "plan").collect();
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(
        plan[0]
            .2
            .starts_with("Claude Code plan limit: 87% of the five-hour window used (resets "),
        "{}",
        plan[0].2
    );
    // The same figure again, then 96%: the 95% threshold, once.
    statusline(&input(87.2, 20.5));
    statusline(&input(96.0, 20.5));
    assert!(
        wait_until(TIMEOUT, || alerts(&h)
            .iter()
            .filter(|a| a.0 == "plan")
            .count()
            == 2)
        .is_some(),
        "{:?}",
        alerts(&h)
    );
    statusline(&input(97.0, 21.0));
    // The daemon stores the latest snapshot.
    assert!(
        wait_until(TIMEOUT, || h
            .reader()
            .plan_limits()
            .unwrap()
            .first()
            .is_some_and(|l| l.used_pct == 97.0))
        .is_some(),
        "{}",
        d.log_text()
    );
    assert_eq!(alerts(&h).iter().filter(|a| a.0 == "plan").count(), 2);
    let store = h.reader();
    let l = store.plan_limits().unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].name, "five_hour");
    assert_eq!(l[0].used_pct, 97.0);
    assert_eq!(l[0].resets_at_ms, Some(resets * 1000));
}
