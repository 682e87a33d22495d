//! The dashboard as the user gets it: the real daemon on copies of the real sample logs, its
//! HTTP API compared with `tokwatch report --json`, its security rules (Host check, no CORS,
//! token-guarded mutations), the live stream, and every page loaded in a real headless Chromium
//! (Debian's `chromium`, driven by `tests/browser/dashboard.mjs` through playwright-core; `.ci/test`
//! installs both), whose DOM figures must equal the CLI's for the same range and change without
//! a reload when a log line is appended.

mod common;
mod util;

use common::lines::{append, now_ms, Req};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use util::*;

/// The range of the sample logs (February 2026).
const SINCE: &str = "2026-02-01";
const UNTIL: &str = "2026-02-28";

struct Dash {
    h: Home,
    _d: DaemonProc,
    port: u16,
    token: String,
}

fn live_file(h: &Home) -> PathBuf {
    h.claude_projects().join("-tmp-live/live.jsonl")
}

/// A request of today in the live session `dash-live`.
fn today_line(n: u32, output: u64) -> String {
    let mut r = Req::new("dash-live", format!("dash{n}"), now_ms() - 5_000);
    r.input = 1_000;
    r.cache_read = 20_000;
    r.output = output;
    r.line()
}

fn start() -> Dash {
    let h = Home::new();
    h.copy_samples(usize::MAX);
    append(&live_file(&h), &today_line(0, 500));
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[budget]\ndaily_usd = 20.0\n").unwrap();
    serve(h)
}

/// The daemon with its dashboard on the logs of `h`.
fn serve(h: Home) -> Dash {
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(20), || {
        d.log_text().contains("dashboard at")
    })
    .unwrap_or_else(|| panic!("no dashboard: {}", d.log_text()));
    let db = h.db();
    let port: u16 = std::fs::read_to_string(tokwatch::dashboard::port_file(&db))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        d.log_text()
            .contains(&format!("dashboard at http://127.0.0.1:{port}/")),
        "{}",
        d.log_text()
    );
    let token = tokwatch::dashboard::read_token(&db).expect("a token file");
    Dash {
        h,
        _d: d,
        port,
        token,
    }
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 request with exactly the headers given (`Host` included), read to the end.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

impl Dash {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn get(&self, path: &str) -> Answer {
        http(self.port, "GET", path, &[("Host", &self.host())], "")
    }
    fn api(&self, path: &str) -> Value {
        let a = self.get(path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.header("cache-control").as_deref(), Some("no-store"));
        a.json()
    }
    fn cli(&self, args: &[&str]) -> Value {
        let o = self.h.cmd().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }
    fn report(&self, by: &str, extra: &[&str]) -> Value {
        let mut a = vec!["report", by, "--json"];
        a.extend_from_slice(extra);
        self.cli(&a)
    }
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Every field the CLI prints is in the API's answer with the same value (the API may add the
/// optional fields of `docs/dashboard.md`).
fn assert_contains(api: &Value, cli: &Value, at: &str) {
    match (api, cli) {
        (Value::Object(a), Value::Object(c)) => {
            for (k, v) in c {
                let Some(av) = a.get(k) else {
                    panic!("{at}.{k} missing from the API's answer");
                };
                assert_contains(av, v, &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(c)) => {
            assert_eq!(
                a.len(),
                c.len(),
                "{at}: {} rows vs the CLI's {}",
                a.len(),
                c.len()
            );
            for (i, (x, y)) in a.iter().zip(c).enumerate() {
                assert_contains(x, y, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(api, cli, "{at}"),
    }
}

fn rows_by_key(v: &Value) -> Vec<(String, Value)> {
    let mut r: Vec<(String, Value)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r.clone()))
        .collect();
    r.sort_by(|a, b| a.0.cmp(&b.0));
    r
}

fn chromium() -> PathBuf {
    let p = std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.exists(),
        "headless Chromium is needed at {} (Debian package `chromium`; .ci/test installs it)",
        p.display()
    );
    p
}

fn driver() -> Command {
    chromium();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is needed: `npm ci --prefix tests/browser` (.ci/test runs it)"
    );
    let mut c = Command::new("node");
    c.arg(dir.join("dashboard.mjs"));
    c
}

/// Loads every page in headless Chromium and returns the driver's JSON.
fn load_pages(d: &Dash, extra: &[&str]) -> Value {
    let o = driver()
        .arg(d.base())
        .args(["--since", SINCE, "--until", UNTIL])
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "driver output is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert!(
        o.status.success() && v["ok"] == true,
        "the pages did not render cleanly: {}",
        serde_json::to_string_pretty(&v).unwrap()
    );
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn every_api_endpoint_answers_in_the_cli_shapes() {
    let d = start();
    let range = format!("since={SINCE}&until={UNTIL}");
    for by in [
        "day", "week", "month", "session", "repo", "branch", "model", "tool", "provider",
    ] {
        let api = d.api(&format!("/api/report?by={by}&{range}"));
        let cli = d.report(by, &["--since", SINCE, "--until", UNTIL]);
        // What a report of a closed range prints (no forecast), field by field.
        let mut cli = cli.as_object().unwrap().clone();
        cli.remove("model_changes");
        assert_contains(&api, &Value::Object(cli), &format!("report {by}"));
        assert!(!api["rows"].as_array().unwrap().is_empty(), "{by}: no rows");
    }
    // Session rows carry the exact first and last request, models and branch.
    let sessions = d.api(&format!("/api/report?by=session&{range}"));
    for r in sessions["rows"].as_array().unwrap() {
        let (a, b) = (
            r["first_ms"].as_i64().unwrap(),
            r["last_ms"].as_i64().unwrap(),
        );
        assert!(a <= b, "{r}");
        assert!(!r["models"].as_array().unwrap().is_empty(), "{r}");
        assert!(r.get("branch").is_some(), "{r}");
    }

    // /api/repos: this period against the same-length one before it.
    let repos = d.api(&format!("/api/repos?{range}"));
    let cli = d.report("repo", &["--since", SINCE, "--until", UNTIL]);
    assert_eq!(
        rows_by_key(&repos["current"]).len(),
        rows_by_key(&cli).len()
    );
    for ((ka, a), (kc, c)) in rows_by_key(&repos["current"]).iter().zip(rows_by_key(&cli)) {
        assert_eq!(*ka, kc);
        assert_eq!(a["cost_usd"], c["cost_usd"], "{ka}");
        assert_eq!(a["requests"], c["requests"], "{ka}");
        // The trend's days add up to the row.
        let t: f64 = repos["trend"][ka]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["cost_usd"].as_f64().unwrap())
            .sum();
        assert!(
            (t - c["cost_usd"].as_f64().unwrap()).abs() < 1e-5,
            "{ka}: {t} vs {c}"
        );
    }
    let prev = d.report("repo", &["--since", "2026-01-04", "--until", "2026-01-31"]);
    assert_eq!(repos["previous"]["totals"], prev["totals"]);

    // /api/workspace: `tokwatch history REPO --json` plus the branches.
    let top = cli["rows"][0]["key"].as_str().unwrap().to_string();
    let enc = top.replace('/', "%2F");
    let ws = d.api(&format!("/api/workspace?repo={enc}&{range}"));
    let hist = d.cli(&[
        "history", &top, "--json", "--since", SINCE, "--until", UNTIL,
    ]);
    assert_contains(&ws["days"], &hist["days"], "workspace days");
    assert_eq!(
        rows_by_key(&ws["sessions"]).len(),
        rows_by_key(&hist["sessions"]).len()
    );
    for ((ka, a), (kc, c)) in rows_by_key(&ws["sessions"])
        .iter()
        .zip(rows_by_key(&hist["sessions"]))
    {
        assert_eq!(*ka, kc);
        assert_contains(a, &c, &format!("workspace session {ka}"));
    }
    let branches = d.report(
        "branch",
        &["--since", SINCE, "--until", UNTIL, "--repo", &top],
    );
    assert_contains(&ws["branches"], &branches, "workspace branches");

    // /api/session: every request of the session, adding up to its totals and to its report row.
    let sid = ws["sessions"]["rows"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let s = d.api(&format!("/api/session?id={sid}"));
    let reqs = s["requests"].as_array().unwrap();
    let cli_row = rows_by_key(&d.report("session", &[]))
        .into_iter()
        .find(|(k, _)| *k == sid)
        .unwrap()
        .1;
    assert_eq!(s["totals"]["requests"], cli_row["requests"]);
    assert_eq!(s["totals"]["cost_usd"], cli_row["cost_usd"]);
    assert_eq!(reqs.len() as i64, cli_row["requests"].as_i64().unwrap());
    for f in [
        "input",
        "cache_read",
        "output",
        "cache_write_5m",
        "cache_write_1h",
    ] {
        let sum: i64 = reqs.iter().map(|r| r[f].as_i64().unwrap()).sum();
        assert_eq!(sum, cli_row[f].as_i64().unwrap(), "{f}");
    }
    let cost: f64 = reqs.iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
    assert!((cost - cli_row["cost_usd"].as_f64().unwrap()).abs() < 1e-5);
    assert!(reqs
        .windows(2)
        .all(|w| w[0]["ts_ms"].as_i64() <= w[1]["ts_ms"].as_i64()));
    let unknown = d.get("/api/session?id=no-such-session");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "no such session: no-such-session");

    // /api/treemap: repository -> session -> model, adding up to the report.
    let tm = d.api(&format!("/api/treemap?{range}"));
    let all = d.report("repo", &["--since", SINCE, "--until", UNTIL]);
    assert!(close(
        tm["cost_usd"].as_f64().unwrap(),
        all["totals"]["cost_usd"].as_f64().unwrap()
    ));
    for repo in tm["children"].as_array().unwrap() {
        let sum: f64 = repo["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["cost_usd"].as_f64().unwrap())
            .sum();
        assert!(
            (sum - repo["cost_usd"].as_f64().unwrap()).abs() < 1e-5,
            "{repo}"
        );
    }

    // /api/status: today's figures as `report --since today`.
    let st = d.api("/api/status");
    let today = d.report("tool", &["--since", "today"]);
    assert_eq!(
        st["periods"]["day"]["cost_usd"],
        today["totals"]["cost_usd"]
    );
    assert_eq!(st["by_tool_today"][0]["key"], today["rows"][0]["key"]);
    assert_eq!(st["budgets"][0]["id"], "daily");
    assert_eq!(st["budgets"][0]["limit_usd"], 20.0);
    assert_eq!(st["active_sessions"][0]["session"], "dash-live");
    assert_eq!(st["alerts_paused"], false);

    // Errors are errors: a bad day is a 400 that says the form, an unknown endpoint a 404.
    let bad = d.get("/api/report?by=day&since=yesterday-ish");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("YYYY-MM-DD"));
    assert_eq!(d.get("/api/nothing").status, 404);
}

#[test]
fn foreign_hosts_cors_and_missing_tokens_are_refused() {
    let d = start();
    let p = d.port;
    // DNS rebinding: the same socket, another name.
    for host in [
        "evil.example",
        "evil.example:80",
        &format!("evil.example:{p}"),
        "127.0.0.1",
        &format!("127.0.0.1:{}", p + 1),
        "",
    ] {
        for path in ["/", "/api/status", "/api/events", "/assets/app.js"] {
            let a = http(p, "GET", path, &[("Host", host)], "");
            assert_eq!(a.status, 421, "Host {host:?} {path}: {}", a.head);
            assert!(!a.body.contains("cost_usd"));
        }
        let a = http(
            p,
            "POST",
            "/api/alerts/pause",
            &[("Host", host), ("X-Tokwatch-Token", &d.token)],
            r#"{"paused": true}"#,
        );
        assert_eq!(a.status, 421, "POST with Host {host:?}");
    }
    // The loopback names with the port are served.
    for host in [
        format!("localhost:{p}"),
        format!("[::1]:{p}"),
        format!("LOCALHOST:{p}"),
    ] {
        assert_eq!(
            http(p, "GET", "/api/status", &[("Host", &host)], "").status,
            200,
            "{host}"
        );
    }
    // HEAD on the stream answers its headers and ends: no stream is opened for it.
    let t0 = std::time::Instant::now();
    let a = http(p, "HEAD", "/api/events", &[("Host", &d.host())], "");
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert!(a.body.is_empty(), "{:?}", a.body);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "HEAD waited for the stream"
    );
    // No CORS: no Access-Control-Allow-* header, not even for a preflight.
    let origin = [
        ("Host", d.host()),
        ("Origin", "http://evil.example".to_string()),
    ];
    let hdr: Vec<(&str, &str)> = origin.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (m, path) in [
        ("GET", "/api/status"),
        ("OPTIONS", "/api/budgets"),
        ("OPTIONS", "/api/alerts/pause"),
    ] {
        let mut h = hdr.clone();
        h.push(("Access-Control-Request-Method", "POST"));
        h.push(("Access-Control-Request-Headers", "x-tokwatch-token"));
        let a = http(p, m, path, &h, "");
        assert!(
            !a.head.to_ascii_lowercase().contains("access-control-allow"),
            "{m} {path}: {}",
            a.head
        );
    }
    // The headers docs/dashboard.md names, on pages and answers alike.
    let page = d.get("/workspace?repo=x");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let js = d.get("/assets/pages/session.js");
    assert_eq!(
        js.header("content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    // Assets carry a validator: a revalidation is a 304 without a body.
    let tag = js.header("etag").expect("an ETag");
    let again = http(
        p,
        "GET",
        "/assets/pages/session.js",
        &[("Host", &d.host()), ("If-None-Match", &tag)],
        "",
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(
        js.header("cache-control").as_deref(),
        Some("no-cache"),
        "a plain asset name is revalidated"
    );
    // The shell names this binary's versioned URLs, which are immutable: no revalidation per
    // module on every page load, and a new binary's version is another URL.
    let shell = d.get("/session?id=x").body;
    let at = shell
        .find("/assets/v-")
        .expect("versioned asset URLs in the shell");
    let prefix = &shell[at..at + "/assets/v-".len() + 17];
    assert!(prefix.ends_with('/'), "{prefix}");
    assert!(!shell.contains("\"/assets/app.js"), "{shell}");
    let v = d.get(&format!("{prefix}pages/session.js"));
    assert_eq!(v.status, 200);
    assert_eq!(v.body, js.body);
    assert_eq!(
        v.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    // An older binary's version (a page open across an upgrade) gets today's files, revalidated.
    let old = d.get("/assets/v-0000000000000000/pages/session.js");
    assert_eq!(old.status, 200);
    assert_eq!(old.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(d.get(&format!("{prefix}nothing.js")).status, 404);
    assert_eq!(d.get("/assets/mock/mock_server.py").status, 404);
    assert_eq!(d.get("/assets/vendor/uplot.LICENSE").status, 404);

    // The token file only the local user can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(tokwatch::dashboard::token_file(&d.h.db()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }
    let host = d.host();
    let post = |path: &str, token: Option<&str>, body: &str| {
        let mut h = vec![
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(t) = token {
            h.push(("X-Tokwatch-Token", t));
        }
        http(p, "POST", path, &h, body)
    };
    let paused = |db: &Path| -> Option<String> {
        sql(db)
            .query_row(
                "SELECT value FROM alert_settings WHERE key = 'alerts_paused'",
                [],
                |r| r.get(0),
            )
            .ok()
    };
    // Without the token, or with a wrong one, nothing changes.
    assert_eq!(
        post("/api/alerts/pause", None, r#"{"paused": true}"#).status,
        401
    );
    assert_eq!(
        post("/api/alerts/pause", Some("0123"), r#"{"paused": true}"#).status,
        403
    );
    let wrong = format!("{}x", &d.token[..d.token.len() - 1]);
    assert_eq!(
        post(
            "/api/budgets",
            Some(&wrong),
            r#"{"id": "daily", "limit_usd": 5}"#
        )
        .status,
        403
    );
    assert_eq!(
        http(p, "GET", "/api/alerts/pause", &[("Host", &host)], "").status,
        404
    );
    assert_eq!(
        http(
            p,
            "DELETE",
            "/api/budgets",
            &[("Host", &host), ("X-Tokwatch-Token", &d.token)],
            ""
        )
        .status,
        405
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(paused(&d.h.db()).as_deref(), Some("1"));
    let list = d.cli(&["budget", "list", "--json"]);
    assert_eq!(list["budgets"][0]["limit_usd"], 20.0, "{list}");

    // With it: the pause is stored by the daemon, the limit in the budgets table.
    let a = post("/api/alerts/pause", Some(&d.token), r#"{"paused": true}"#);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["alerts_paused"], true);
    wait_until(Duration::from_secs(5), || {
        paused(&d.h.db()).as_deref() == Some("1")
    })
    .expect("the daemon stores the pause");
    assert_eq!(d.api("/api/status")["alerts_paused"], true);
    let a = post(
        "/api/budgets",
        Some(&d.token),
        r#"{"id": "daily", "limit_usd": 50}"#,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let list = d.cli(&["budget", "list", "--json"]);
    assert_eq!(list["budgets"][0]["id"], "daily");
    assert_eq!(list["budgets"][0]["limit_usd"], 50.0, "{list}");
    assert_eq!(d.api("/api/status")["budgets"][0]["limit_usd"], 50.0);
    // Bad bodies say what is wrong.
    let a = post(
        "/api/budgets",
        Some(&d.token),
        r#"{"id": "daily", "limit_usd": -3}"#,
    );
    assert_eq!(a.status, 400, "{}", a.body);
    let a = post(
        "/api/budgets",
        Some(&d.token),
        r#"{"id": "nope", "limit_usd": 3}"#,
    );
    assert_eq!(a.status, 404);
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("no such budget"));
    assert_eq!(
        post("/api/alerts/pause", Some(&d.token), "not json").status,
        400
    );
}

/// Reads SSE lines until one starts with `prefix`; the lines read.
fn read_until(r: &mut impl BufRead, prefix: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            panic!("the stream ended before {prefix:?}: {seen:?}");
        }
        let l = l.trim_end().to_string();
        let done = l.starts_with(prefix);
        seen.push(l);
        if done {
            return seen;
        }
    }
}

#[test]
fn the_event_stream_pushes_stored_requests_and_setting_changes() {
    let d = start();
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        d.host()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let head = read_until(&mut r, "retry: 1000");
    assert!(
        head.iter()
            .any(|l| l.eq_ignore_ascii_case("content-type: text/event-stream")),
        "{head:?}"
    );
    append(&live_file(&d.h), &today_line(1, 700));
    let lines = read_until(&mut r, "data: {");
    assert!(lines.iter().any(|l| l == "event: usage"), "{lines:?}");
    let ev: Value =
        serde_json::from_str(lines.last().unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(ev["session"], "dash-live");
    assert_eq!(ev["output"], 700);
    let today = d.report("day", &["--since", "today"]);
    assert_eq!(
        ev["today_cost_usd"].as_f64().unwrap(),
        today["totals"]["cost_usd"].as_f64().unwrap()
    );
    // `tokwatch budget set` (another process) is pushed as `event: status`.
    let o =
        d.h.cmd()
            .args(["budget", "set", "7", "--weekly"])
            .output()
            .unwrap();
    assert!(o.status.success());
    let lines = read_until(&mut r, "event: status");
    assert!(
        !lines.iter().any(|l| l.starts_with("event: usage")),
        "{lines:?}"
    );
}

#[test]
fn pages_in_chromium_show_the_cli_figures_and_follow_new_requests() {
    let d = start();
    let v = load_pages(&d, &[]);
    let pages = &v["pages"];
    // Repositories: every row's cost and requests as `report repo` for the same range.
    let cli = d.report("repo", &["--since", SINCE, "--until", UNTIL]);
    let shown = &pages["repos"]["tables"]["repos"]["rows"];
    let shown: Vec<(String, Value)> = {
        let mut r: Vec<(String, Value)> = shown
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["key"].as_str().unwrap().to_string(), r["values"].clone()))
            .collect();
        r.sort_by(|a, b| a.0.cmp(&b.0));
        r
    };
    let want = rows_by_key(&cli);
    assert_eq!(shown.len(), want.len(), "{shown:?}");
    for ((ks, s), (kc, c)) in shown.iter().zip(&want) {
        assert_eq!(ks, kc);
        assert!(
            close(
                s["cost_usd"].as_f64().unwrap(),
                c["cost_usd"].as_f64().unwrap()
            ),
            "{ks}"
        );
        assert_eq!(s["requests"], c["requests"], "{ks}");
    }
    let total = &pages["repos"]["figures"]["repos-total"];
    assert!(close(
        total["value"].as_f64().unwrap(),
        cli["totals"]["cost_usd"].as_f64().unwrap()
    ));
    // The treemap: the same total.
    let tm = &pages["treemap"]["figures"]["treemap-cost"];
    assert!(close(
        tm["value"].as_f64().unwrap(),
        cli["totals"]["cost_usd"].as_f64().unwrap()
    ));
    // The workspace of the first repository: its sessions as `report session --repo`.
    let ws = &pages["workspace"];
    let url = ws["url"].as_str().unwrap();
    let repo = url
        .split("repo=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .replace("%2F", "/");
    let sess = d.report(
        "session",
        &["--since", SINCE, "--until", UNTIL, "--repo", &repo],
    );
    let rows = ws["tables"]["sessions"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), sess["rows"].as_array().unwrap().len());
    for (k, c) in rows_by_key(&sess) {
        let r = rows.iter().find(|r| r["key"] == k.as_str()).unwrap();
        assert!(
            close(
                r["values"]["cost_usd"].as_f64().unwrap(),
                c["cost_usd"].as_f64().unwrap()
            ),
            "{k}"
        );
        assert_eq!(r["values"]["requests"], c["requests"], "{k}");
    }
    assert!(close(
        ws["figures"]["ws-cost"]["value"].as_f64().unwrap(),
        sess["totals"]["cost_usd"].as_f64().unwrap()
    ));
    assert_eq!(
        ws["figures"]["ws-requests"]["value"],
        sess["totals"]["requests"]
    );
    // The session page: its cost and requests as its row in `report session`.
    let sp = &pages["session"];
    let sid = sp["url"]
        .as_str()
        .unwrap()
        .split("id=")
        .nth(1)
        .unwrap()
        .to_string();
    let row = rows_by_key(&d.report("session", &[]))
        .into_iter()
        .find(|(k, _)| *k == sid)
        .unwrap()
        .1;
    assert!(close(
        sp["figures"]["session-cost"]["value"].as_f64().unwrap(),
        row["cost_usd"].as_f64().unwrap()
    ));
    assert_eq!(sp["figures"]["session-requests"]["value"], row["requests"]);
    assert_eq!(
        sp["tables"]["requests"]["rows"].as_array().unwrap().len() as i64,
        row["requests"].as_i64().unwrap().min(100)
    );
    // The overview: today as `report day --since today`, the daily budget from the config.
    let today = d.report("day", &["--since", "today"]);
    let ov = &pages["overview"]["figures"];
    assert!(close(
        ov["today-cost"]["value"].as_f64().unwrap(),
        today["totals"]["cost_usd"].as_f64().unwrap()
    ));
    assert_eq!(ov["live"]["text"], "live");
    assert_eq!(
        pages["overview"]["tables"]["budgets"]["rows"][0]["key"], "daily",
        "{}",
        pages["overview"]["tables"]["budgets"]
    );

    // Live: a line appended to a watched log changes the open overview's figure, no reload.
    for (testid, page) in [
        ("today-cost", "/".to_string()),
        ("session-cost", "/session?id=dash-live".to_string()),
    ] {
        let mut child = driver()
            .arg(d.base())
            .args(["--wait-change", testid, "--page", &page])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let ready: Value =
            serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first:?}"));
        assert_eq!(ready["ready"], true, "{ready}");
        let n = if testid == "today-cost" { 2 } else { 3 };
        append(&live_file(&d.h), &today_line(n, 40_000));
        let mut second = String::new();
        out.read_line(&mut second).unwrap();
        let st = child.wait().unwrap();
        let changed: Value =
            serde_json::from_str(&second).unwrap_or_else(|e| panic!("{e}: {second:?}"));
        assert!(st.success(), "{changed}");
        assert_eq!(changed["reloaded"], false, "{changed}");
        let want = if testid == "today-cost" {
            d.report("day", &["--since", "today"])["totals"]["cost_usd"]
                .as_f64()
                .unwrap()
        } else {
            rows_by_key(&d.report("session", &[]))
                .into_iter()
                .find(|(k, _)| k == "dash-live")
                .unwrap()
                .1["cost_usd"]
                .as_f64()
                .unwrap()
        };
        assert!(
            close(changed["after"]["value"].as_f64().unwrap(), want),
            "{testid}: {changed} vs the CLI's {want}"
        );
        assert_ne!(changed["after"]["value"], changed["before"]["value"]);
        eprintln!("{testid}: append -> DOM in {} ms", changed["ms"]);
    }
}

#[test]
fn tokwatch_dashboard_starts_the_daemon_and_prints_the_address_without_a_browser() {
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    let run = |extra: &[(&str, &str)]| {
        let mut c = h.cmd();
        c.arg("dashboard").env("XDG_RUNTIME_DIR", h.dir.path());
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // No daemon, no graphical session, no $BROWSER: it starts the daemon and prints the address.
    let o = run(&[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("Started the tokwatch daemon"));
    let db = h.db();
    let port = tokwatch::dashboard::remembered_port(&db).unwrap();
    let token = tokwatch::dashboard::read_token(&db).unwrap();
    assert!(out.contains("No browser could be opened"), "{out}");
    assert!(
        out.contains(&format!("http://127.0.0.1:{port}/#token={token}")),
        "{out}"
    );
    let lock = tokwatch::daemon::lock::InstanceLock::is_held(&db);
    assert!(lock, "the daemon runs");
    // The page it names answers.
    let a = http(
        port,
        "GET",
        "/api/status",
        &[("Host", &format!("127.0.0.1:{port}"))],
        "",
    );
    assert_eq!(a.status, 200);
    // With a browser ($BROWSER): it is handed the address with the token; the daemon that runs
    // is used, and its port is the remembered one.
    let seen = h.dir.path().join("browser-arg");
    let script = h.dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", seen.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = run(&[("BROWSER", script.to_str().unwrap())]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Started"));
    assert!(
        out.contains(&format!(
            "Opened the dashboard in the browser: http://127.0.0.1:{port}/"
        )),
        "{out}"
    );
    assert!(
        !out.contains(&token),
        "the token is not printed when a browser opened it"
    );
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap().trim(),
        format!("http://127.0.0.1:{port}/#token={token}")
    );
    // Stop the daemon it started (the pid is in the lock file).
    let pid: i32 = std::fs::read_to_string(db.with_extension("db.lock"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
        .unwrap_or(0);
    if pid > 0 {
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// The port is chosen once and remembered (bookmarks keep working across restarts); a
/// configured port wins.
#[test]
fn the_port_is_chosen_once_and_remembered_and_a_configured_one_wins() {
    let h = Home::new();
    let first = {
        let d = h.start_daemon(&[]);
        wait_until(Duration::from_secs(20), || {
            d.log_text().contains("dashboard at")
        })
        .expect("dashboard");
        tokwatch::dashboard::remembered_port(&h.db()).unwrap()
    };
    {
        let d = h.start_daemon(&[]);
        wait_until(Duration::from_secs(20), || {
            d.log_text().contains("dashboard at")
        })
        .expect("dashboard");
        assert!(
            d.log_text()
                .contains(&format!("dashboard at http://127.0.0.1:{first}/")),
            "{}",
            d.log_text()
        );
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!("[dashboard]\nport = {free}\n"),
    )
    .unwrap();
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(20), || {
        d.log_text().contains("dashboard at")
    })
    .expect("dashboard");
    assert!(
        d.log_text()
            .contains(&format!("dashboard at http://127.0.0.1:{free}/")),
        "{}",
        d.log_text()
    );
    let a = http(
        free,
        "GET",
        "/api/status",
        &[("Host", &format!("localhost:{free}"))],
        "",
    );
    assert_eq!(a.status, 200);
    drop(d);
    // A configured address (IPv6 loopback here) is where `tokwatch dashboard` looks for it and
    // what it prints, not 127.0.0.1.
    std::fs::write(
        cfg.join("config.toml"),
        format!("[dashboard]\naddress = \"::1\"\nport = {free}\n"),
    )
    .unwrap();
    let d = h.start_daemon(&[]);
    wait_until(Duration::from_secs(20), || {
        d.log_text().contains("dashboard at")
    })
    .expect("dashboard");
    let o = h.cmd().args(["dashboard", "--no-open"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.starts_with(&format!("http://[::1]:{free}/#token=")),
        "{out}"
    );
    drop(d);
    // Turned off: no dashboard, and `tokwatch dashboard` says how to turn it on.
    std::fs::write(cfg.join("config.toml"), "[dashboard]\nenabled = false\n").unwrap();
    let d = h.start_daemon(&[]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!d.log_text().contains("dashboard at"), "{}", d.log_text());
    let o = h.cmd().arg("dashboard").output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("enabled = false"));
}

/// A Copilot CLI session (the real sample): its one shutdown record stands for the block's six
/// requests. The session page says 6 requests, lists the record once, marked "6 requests", and
/// does not list the live estimate the shutdown settled (an empty row in the store).
#[test]
fn session_page_of_a_copilot_session_counts_its_records_requests() {
    const SID: &str = "96ef38f0-9d09-45c3-8124-6448c36090ed";
    let h = Home::new();
    copy_tree(
        &fixtures().join("copilot-cli"),
        &h.home().join(".copilot/session-state").join(SID),
    );
    let d = serve(h);
    let v = load_pages(&d, &["--pages", "session", "--session", SID]);
    let sp = &v["pages"]["session"];
    assert_eq!(sp["figures"]["session-requests"]["value"], 6, "{sp}");
    let rows = sp["tables"]["requests"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let model = rows[0]["text"]["model"].as_str().unwrap();
    assert!(model.contains("claude-sonnet-4.6"), "{model}");
    assert!(model.contains("6 requests"), "{model}");
}
