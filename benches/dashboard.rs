//! The dashboard on a 1,000,000-event database (`docs/benchmarks.md`, "Issue 13"):
//!
//!     nice -n 5 cargo bench --bench dashboard
//!
//! Builds the database once (cached under target/bench-data/dashboard-1m/, rebuilt when it is
//! not from today, since the overview shows today), starts the real daemon on it, then times
//! every API call over HTTP (median and p95 of 21), every page in headless Chromium
//! (tests/browser/bench.mjs: navigation start to the first finished render), append -> page
//! update (a Claude Code line appended to a followed log until the overview's figure changes),
//! and the daemon's CPU time and wake-ups over 60 s with an idle tab open.

#[path = "gen.rs"]
mod gen;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tokwatch"))
}

const N: usize = 1_000_000;
const SESSIONS_OF: usize = 500;

fn session_id(s: usize) -> String {
    format!("4f9c1a2e-{s:08}-0000-0000-000000000000")
}

fn build(db: &Path) {
    use tokwatch::event::{CostSource, Merge, Tokens, UsageEvent};
    use tokwatch::store::{ReadCounts, Store, StoredEvent};
    use tokwatch::tailer::Checkpoint;
    let mut st = Store::open_writer(db).unwrap();
    st.ensure_local_machine(Some("bench-a"), "").unwrap();
    let mut rng = gen::Rng(13);
    let ws: Vec<(i64, String)> = (0..60)
        .map(|i| {
            let name = format!("dev/repo{i}");
            let id = st
                .workspace_id(
                    &format!("github.com/dev/repo{i}"),
                    &name,
                    None,
                    Some(&format!("github.com/dev/repo{i}")),
                )
                .unwrap();
            (id, name)
        })
        .collect();
    // 2,000 sessions of 500 requests, one starting every 65 minutes, over the 90 days up to now.
    let now = tokwatch::store::now_ms();
    let sessions = N / SESSIONS_OF;
    let start = now - 90 * 86_400_000;
    let step = (now - start - SESSIONS_OF as i64 * 20_000) / sessions as i64;
    let models = [
        "claude-opus-4-6",
        "claude-sonnet-4-5",
        "gpt-5.3-codex",
        "gemini-3-flash-preview",
    ];
    let tools = ["claude-code", "codex", "gemini-cli", "opencode"];
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..N {
        let session = i / SESSIONS_OF;
        let ts = start + session as i64 * step + (i % SESSIONS_OF) as i64 * 20_000;
        let k = session % 4;
        let mut ev = UsageEvent::new(tools[k], format!("k{i}"), Merge::KeepMax, ts);
        // A fallback in some sessions (the session page marks it).
        let m = if session.is_multiple_of(9) && i % SESSIONS_OF > 300 {
            (k + 1) % 2
        } else {
            k
        };
        ev.model = Some(models[m].into());
        ev.provider = Some(["anthropic", "anthropic", "openai", "google"][k].into());
        ev.session_id = Some(session_id(session));
        ev.branch = Some(format!("feature/b{}", session % 7));
        ev.msg_id = Some(format!("msg_01{i:022}"));
        ev.tokens = Tokens {
            input: rng.below(100) as i64,
            cache_write_5m: 0,
            cache_write_1h: rng.below(5000) as i64,
            cache_read: rng.below(100_000) as i64,
            output: rng.below(2000) as i64,
            reasoning: 0,
        };
        let cost = (ev.tokens.output as f64 * 25.0 + ev.tokens.cache_read as f64 * 0.5) / 1e6;
        let (id, name) = &ws[session % 60];
        batch.push(StoredEvent {
            ev,
            workspace_id: Some(*id),
            workspace_name: Some(name.clone()),
            cost_usd: Some(cost),
            cost_source: CostSource::Computed,
            price_key: Some(format!("x/{}", models[m])),
            updated: false,
        });
        if batch.len() == 10_000 {
            st.commit_batch(
                "bench",
                "claude-code",
                &Checkpoint::default(),
                &ReadCounts::default(),
                &batch,
            )
            .unwrap();
            batch.clear();
        }
    }
}

fn get(port: u16, path: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut b = Vec::new();
    s.read_to_end(&mut b).unwrap();
    let t = String::from_utf8_lossy(&b);
    let code = t
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = t.split_once("\r\n\r\n").map(|x| x.1.len()).unwrap_or(0);
    (code, body)
}

fn quantile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

/// utime + stime (clock ticks) of the process, and the context switches of each of its threads.
fn cpu_and_wakeups(pid: u32) -> (u64, std::collections::HashMap<String, u64>) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let mut switches = std::collections::HashMap::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let t = t.unwrap();
        let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let mut n = 0;
        for l in s.lines() {
            if l.starts_with("voluntary_ctxt_switches")
                || l.starts_with("nonvoluntary_ctxt_switches")
            {
                n += l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap();
            }
        }
        switches.insert(t.file_name().to_string_lossy().into_owned(), n);
    }
    (ticks, switches)
}

/// Context switches between two samples, over the threads alive at both.
fn switches_between(
    a: &std::collections::HashMap<String, u64>,
    b: &std::collections::HashMap<String, u64>,
) -> u64 {
    b.iter()
        .map(|(t, n)| n.saturating_sub(*a.get(t).unwrap_or(&0)))
        .sum()
}

fn node(args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/bench.mjs");
    let o = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bench.mjs {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    serde_json::from_str(&last).unwrap()
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/dashboard-1m");
    let db = dir.join("a.db");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    if std::fs::read_to_string(dir.join("done")).ok().as_deref() != Some(today.as_str()) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = Instant::now();
        build(&db);
        std::fs::write(dir.join("done"), &today).unwrap();
        eprintln!(
            "built a 1M-event database in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
    }
    // The daemon on it, following one (empty) Claude Code log for the appends.
    let run = dir.join("run");
    let _ = std::fs::remove_dir_all(&run);
    let home = run.join("home");
    let live = home.join(".claude/projects/-bench-live/live.jsonl");
    std::fs::create_dir_all(live.parent().unwrap()).unwrap();
    std::fs::write(&live, "").unwrap();
    let cfg = run.join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[budget]\ndaily_usd = 500.0\n").unwrap();
    let log = run.join("daemon.log");
    let daemon = Command::new(bin())
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TOKWATCH_DB", &db)
        .env("TOKWATCH_CONFIG_DIR", &cfg)
        .env("XDG_RUNTIME_DIR", &run)
        .args(["run", "--no-tray"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Stopped however the bench ends (a panic included).
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    impl Kill {
        fn id(&self) -> u32 {
            self.0.id()
        }
    }
    let daemon = Kill(daemon);
    let t0 = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("dashboard at")
    {
        assert!(t0.elapsed() < Duration::from_secs(120), "no dashboard");
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = tokwatch::dashboard::remembered_port(&db).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let d = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let (m30, m90) = (d(29), d(89));
    let sid = session_id(N / SESSIONS_OF - 1);
    let calls = [
        ("status", "/api/status".to_string()),
        (
            "report day, 30 days",
            format!("/api/report?by=day&since={m30}&until={today}"),
        ),
        (
            "report session, 30 days",
            format!("/api/report?by=session&since={m30}&until={today}"),
        ),
        (
            "repos, 30 days",
            format!("/api/repos?since={m30}&until={today}"),
        ),
        (
            "workspace, 90 days",
            format!("/api/workspace?repo=dev%2Frepo7&since={m90}&until={today}"),
        ),
        ("session (500 requests)", format!("/api/session?id={sid}")),
        (
            "treemap, 30 days",
            format!("/api/treemap?since={m30}&until={today}"),
        ),
        ("report repo, all time", "/api/report?by=repo".to_string()),
    ];
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {} (the figures below include waiting for a core)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("API on a {N}-event database (HTTP round trip, 21 calls each after one warm-up):");
    for (what, path) in &calls {
        let (code, _) = get(port, path);
        assert_eq!(code, 200, "{path}");
        let mut ms = Vec::new();
        let mut size = 0;
        let (c0, _) = cpu_and_wakeups(daemon.id());
        for _ in 0..21 {
            let t = Instant::now();
            let (_, n) = get(port, path);
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            size = n;
        }
        let (c1, _) = cpu_and_wakeups(daemon.id());
        let cpu = (c1 - c0) as f64 * 1000.0 / tick / 21.0;
        let p50 = quantile(&mut ms, 0.5);
        let p95 = quantile(&mut ms, 0.95);
        println!(
            "  {what:<26} median {p50:>6.1} ms  p95 {p95:>6.1} ms  daemon CPU {cpu:>5.1} ms/call  ({size} bytes)"
        );
    }
    let pages = [
        "/".to_string(),
        format!("/repos?since={m30}&until={today}"),
        format!("/workspace?repo=dev%2Frepo7&since={m90}&until={today}"),
        format!("/session?id={sid}"),
        format!("/treemap?since={m30}&until={today}"),
    ];
    let v = node(&[&base, "--pages", &pages.join(","), "--runs", "7"]);
    println!(
        "pages in headless Chromium (navigation start -> first frame painted with every figure, 7 loads each; medians of the phases: modules + /api/status, figures in the DOM):"
    );
    for p in &pages {
        let s = &v["pages"][p];
        let ph = &v["phases"][p];
        println!(
            "  {:<26} median {:>6.1} ms  max {:>6.1} ms   (booted {:>6.1}, rendered {:>6.1})",
            p.split('?').next().unwrap(),
            s["p50"].as_f64().unwrap_or(f64::NAN),
            s["max"].as_f64().unwrap_or(f64::NAN),
            ph["booted"].as_f64().unwrap_or(f64::NAN),
            ph["rendered"].as_f64().unwrap_or(f64::NAN),
        );
    }
    let v = node(&[
        &base,
        "--latency",
        "100",
        "--append",
        live.to_str().unwrap(),
    ]);
    let l = &v["latency"];
    println!(
        "append -> overview's today-cost changes, 100 appends: median {} ms, p95 {} ms, p99 {} ms, max {} ms (reloads: {})",
        l["p50"], l["p95"], l["p99"], l["max"], v["reloads"]
    );
    // Idle with a tab open: the daemon's CPU and wake-ups over 60 s.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/bench.mjs");
    let mut hold = Command::new("node")
        .arg(script)
        .args([&base, "--hold", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(hold.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let (c0, w0) = cpu_and_wakeups(daemon.id());
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(50));
    let (c1, w1) = cpu_and_wakeups(daemon.id());
    let secs = t.elapsed().as_secs_f64();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    hold.wait().unwrap();
    println!(
        "idle, one overview tab open, {secs:.0} s: daemon CPU {:.3} s ({:.3}%), {} context switches over all its threads; page: {}",
        (c1 - c0) as f64 / tick,
        (c1 - c0) as f64 / tick / secs * 100.0,
        switches_between(&w0, &w1),
        rest.trim()
    );
    drop(daemon);
}
