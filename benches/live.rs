//! Live daemon numbers (docs/benchmarks.md):
//! - append-to-subscriber latency over 1,000 appends (p50, p99), subscriber = `tokwatch watch`'s
//!   feed socket, timed from the append's write() to the line's arrival;
//! - an idle daemon watching 10,000 files for 60 s: CPU seconds and RSS;
//! - restart with 10,000 unchanged files until live;
//! - `tokwatch statusline` against a one-million-event database.
//!
//! ```text
//! cargo bench --bench live                                 (TOKWATCH_IDLE_SECS=60 by default)
//! TOKWATCH_BIN=/tmp/old/tokwatch cargo bench --bench live  (another build's binary)
//! TOKWATCH_BENCH_ONLY=latency cargo bench --bench live     (the append latency only)
//! ```

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    std::env::var_os("TOKWATCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tokwatch")))
}

struct Daemon {
    child: Child,
    log: PathBuf,
}
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(home: &Path, dir: &Path) -> (Daemon, f64) {
    let log = dir.join("daemon.log");
    let t0 = Instant::now();
    let child = Command::new(bin())
        .args(["run", "--no-tray"])
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TOKWATCH_DB", dir.join("t.db"))
        .env("TOKWATCH_CONFIG_DIR", dir.join("cfg"))
        .env("XDG_RUNTIME_DIR", dir)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    loop {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("following")
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    (Daemon { child, log }, t0.elapsed().as_secs_f64())
}

/// (utime + stime seconds, RSS MB) of a process.
fn cpu_rss(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tick;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    (cpu, rss)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn line(i: usize) -> String {
    format!(
        r#"{{"type":"assistant","sessionId":"lat","cwd":"/tmp","requestId":"req_{i}","timestamp":"2026-11-23T10:00:00.000Z","message":{{"model":"claude-opus-4-6","id":"msg_{i}","content":[{{"type":"text","text":"{}"}}],"usage":{{"input_tokens":3,"cache_read_input_tokens":1000,"output_tokens":{}}}}}}}"#,
        "x".repeat(2000),
        100_000 + i
    )
}

fn latency() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let proj = home.join(".claude/projects/-p");
    std::fs::create_dir_all(&proj).unwrap();
    let (_d, _) = start(&home, dir.path());
    // SAFETY: single-threaded at this point; the env var selects the same socket path.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir.path()) };
    let sock = tokwatch::daemon::feed::socket_path(&dir.path().join("t.db"));
    // "following" is logged as the watcher goes live, which can be just before the feed
    // socket listens: try for a while before calling it a failure.
    let t0 = Instant::now();
    let s = loop {
        match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(s) => break s,
            Err(e) if t0.elapsed() > Duration::from_secs(10) => panic!("feed socket: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    // The daemon registers the client on its accept thread: let that happen before timing.
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = std::sync::mpsc::channel::<(i64, Instant)>();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(s).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            let _ = tx.send((v["output"].as_i64().unwrap(), Instant::now()));
        }
    });
    let path = proj.join("lat.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let n = 1000;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let l = format!("{}\n", line(i));
        let t0 = Instant::now();
        f.write_all(l.as_bytes()).unwrap();
        let (out, t1) = rx.recv_timeout(Duration::from_secs(5)).expect("feed line");
        assert_eq!(out, 100_000 + i as i64);
        lat.push((t1 - t0).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(5));
    }
    let max = lat.iter().cloned().fold(0.0, f64::max);
    println!(
        "append -> subscriber over {n} appends: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        max
    );
}

fn idle_and_restart() {
    let secs: u64 = std::env::var("TOKWATCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    // 10,000 small session files in 250 project directories.
    for d in 0..250 {
        let p = home.join(format!(".claude/projects/-home-dev-p{d}"));
        std::fs::create_dir_all(&p).unwrap();
        for k in 0..40 {
            let i = d * 40 + k;
            std::fs::write(p.join(format!("s{k}.jsonl")), format!("{}\n", line(i))).unwrap();
        }
    }
    let (d, first) = start(&home, dir.path());
    println!("first start with 10,000 files (cold catch-up) until live: {first:.2} s");
    std::thread::sleep(Duration::from_secs(2));
    let (c0, _) = cpu_rss(d.child.id());
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, rss) = cpu_rss(d.child.id());
    println!(
        "idle daemon watching 10,000 files for {secs} s: {:.3} CPU-seconds, RSS {rss:.1} MB",
        c1 - c0
    );
    let log = d.log.clone();
    drop(d);
    let _ = std::fs::remove_file(&log);
    let (d2, restart) = start(&home, dir.path());
    println!("restart with 10,000 unchanged files until live: {restart:.3} s");
    drop(d2);
    // One safety stat scan of the 10,000 files (what the daemon does every 120 s).
    let t0 = Instant::now();
    let mut n = 0;
    tokwatch::registry::walk(&home.join(".claude/projects"), &mut |p| {
        if tokwatch::tailer::Fingerprint::path(p).is_ok() {
            n += 1;
        }
    });
    println!(
        "one stat scan of {n} files: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
}

fn statusline() {
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/report-1m/r.db");
    if !db.exists() {
        println!(
            "statusline: run `cargo bench --bench ingest` first (it builds the 1M-event database)"
        );
        return;
    }
    let mut t = Vec::new();
    for _ in 0..21 {
        let t0 = Instant::now();
        let mut c = Command::new(bin())
            .arg("statusline")
            .env("TOKWATCH_DB", &db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(br#"{"session_id":"s1500","cwd":"/tmp","model":{"id":"claude-opus-4-6"}}"#)
            .unwrap();
        let o = c.wait_with_output().unwrap();
        t.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(o.status.success());
    }
    println!(
        "tokwatch statusline (Claude Code JSON on stdin, 1M-event database): median {:.1} ms",
        pct(&mut t, 0.5)
    );
}

/// Append -> the tray item's Title property on D-Bus, on a private session bus. Appends are
/// spaced 400 ms apart (the tray coalesces bursts to at most 4 updates per second).
fn tray_latency() {
    let Ok(mut bus) = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .spawn()
    else {
        println!("tray latency: dbus-daemon not installed, skipped");
        return;
    };
    let mut addr = String::new();
    std::io::BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut addr)
        .unwrap();
    let addr = addr.trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let proj = home.join(".claude/projects/-p");
    std::fs::create_dir_all(&proj).unwrap();
    let log = dir.path().join("daemon.log");
    let mut child = Command::new(bin())
        .arg("run")
        .env_clear()
        .env("HOME", &home)
        .env("TOKWATCH_DB", dir.path().join("t.db"))
        .env("TOKWATCH_CONFIG_DIR", dir.path().join("cfg"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("DBUS_SESSION_BUS_ADDRESS", &addr)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("tray indicator")
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "no tray");
        std::thread::sleep(Duration::from_millis(5));
    }
    let conn = zbus::blocking::connection::Builder::address(addr.as_str())
        .unwrap()
        .build()
        .unwrap();
    let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).unwrap();
    let pid = child.id();
    let name = loop {
        let names = dbus.list_names().unwrap();
        if let Some(n) = names.iter().find(|n| {
            n.as_str().starts_with("org.kde.StatusNotifierItem-")
                && dbus
                    .get_connection_unix_process_id(
                        zbus::names::BusName::try_from(n.as_str()).unwrap(),
                    )
                    .map(|p| p == pid)
                    .unwrap_or(false)
        }) {
            break n.to_string();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let title = || -> String {
        let p = zbus::blocking::fdo::PropertiesProxy::builder(&conn)
            .destination(name.as_str())
            .unwrap()
            .path("/StatusNotifierItem")
            .unwrap()
            .build()
            .unwrap();
        let v = p
            .get(
                zbus::names::InterfaceName::try_from("org.kde.StatusNotifierItem").unwrap(),
                "Title",
            )
            .unwrap();
        String::try_from(v).unwrap_or_default()
    };
    let path = proj.join("t.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    // The start-up snapshot was just applied: let its coalescing gap pass.
    std::thread::sleep(Duration::from_millis(400));
    let mut lat = Vec::new();
    let mut total_cents = 0u64;
    for i in 0..50u64 {
        let cents = 1 + i % 7;
        total_cents += cents;
        // claude-opus-4-6 input is $5 per million: 2,000 tokens per cent.
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let l = format!(
            r#"{{"type":"assistant","sessionId":"t","requestId":"req_t{i}","timestamp":"{ts}","message":{{"model":"claude-opus-4-6","id":"msg_t{i}","usage":{{"input_tokens":{},"output_tokens":0}}}}}}"#,
            cents * 2000
        );
        let want = format!("${}.{:02}", total_cents / 100, total_cents % 100);
        let t0 = Instant::now();
        writeln!(f, "{l}").unwrap();
        while title() != want {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "tray never showed {want}"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        if t0.elapsed() > Duration::from_millis(100) {
            eprintln!("slow: {want} after {:?}", t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    println!(
        "append -> tray title on D-Bus over 50 appends: p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    let _ = child.kill();
    let _ = child.wait();
    if std::env::var_os("TOKWATCH_BENCH_SHOW_LOG").is_some() {
        eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    let _ = bus.kill();
    let _ = bus.wait();
}

fn main() {
    if std::env::var_os("TOKWATCH_BENCH_ONLY_TRAY").is_some() {
        tray_latency();
        return;
    }
    latency();
    if std::env::var("TOKWATCH_BENCH_ONLY").as_deref() == Ok("latency") {
        return;
    }
    tray_latency();
    statusline();
    idle_and_restart();
}
