//! Cold ingest throughput and peak memory, and report latency over one million events.
//!
//!     cargo bench --bench ingest                 # 1 GiB of logs, 1M-event report
//!     TOKWATCH_BENCH_MB=200 cargo bench --bench ingest
//!     TOKWATCH_BENCH_ONLY=report cargo bench --bench ingest   # only the 1M-event part
//!                                                # (reports, `guard check`, `statusline`)
//!     TOKWATCH_BENCH_ONLY=ingest cargo bench --bench ingest   # only the cold ingest part
//!     TOKWATCH_BIN_B=/tmp/old/tokwatch cargo bench --bench ingest  # A/B: cold runs of this
//!                                                # build and another, interleaved
//!
//! Generated data is cached under target/bench-data/. Numbers go to docs/benchmarks.md.

#[path = "gen.rs"]
mod gen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn bin() -> PathBuf {
    std::env::var_os("TOKWATCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tokwatch")))
}

/// CPU seconds (user + system) of the children waited for so far.
fn children_cpu_s() -> f64 {
    let ru = children();
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Resource use of the children waited for so far.
fn children() -> libc::rusage {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru
}

fn peak_rss_children_mb() -> f64 {
    children().ru_maxrss as f64 / 1024.0
}

fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(name)
}

fn run(cmd: &mut Command) -> (f64, std::process::Output) {
    let t0 = Instant::now();
    let o = cmd.output().expect("run tokwatch");
    let dt = t0.elapsed().as_secs_f64();
    assert!(
        o.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&o.stderr)
    );
    (dt, o)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::var("TOKWATCH_BENCH_ONLY").as_deref() == Ok("report") {
        report_bench();
        return;
    }
    let mb: u64 = std::env::var("TOKWATCH_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = data_dir(&format!("logs-{mb}mb"));
    let home = dir.join("home");
    let marker = dir.join("requests");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t0 = Instant::now();
        let tot = gen::generate(&home, mb << 20, 1, 42);
        std::fs::write(&marker, tot.requests.to_string()).unwrap();
        eprintln!(
            "generated {} MiB, {} requests in {:.1}s",
            tot.bytes >> 20,
            tot.requests,
            t0.elapsed().as_secs_f64()
        );
    }
    let requests: i64 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Read every log once first, so every timed run sees the same warm page cache (the
    // number measures tokwatch, not the disk).
    let bytes: u64 = {
        let mut n = 0;
        for d in [".claude", ".codex"] {
            tokwatch::registry::walk(&home.join(d), &mut |p| {
                n += std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut std::io::sink())
                    .unwrap()
            });
        }
        n
    };
    let db = dir.join("bench.db");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let env = |c: &mut Command| {
        c.env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TOKWATCH_DB", &db)
            .env("TOKWATCH_CONFIG_DIR", dir.join("config"))
            // `report` would start a daemon on the bench database, which then competes with
            // the next runs.
            .env("TOKWATCH_AUTO_START", "0");
    };
    // Five cold runs (a fresh database each), median reported. With TOKWATCH_BIN_B, the same
    // runs of a second build, interleaved with these (A, B, A, B, ...): one noisy moment of a
    // shared machine hits both.
    let b_bin = std::env::var_os("TOKWATCH_BIN_B").map(PathBuf::from);
    let mut runs = Vec::new();
    let mut stats = serde_json::Value::Null;
    let (mut cpu_a, mut runs_b, mut cpu_b) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        for (which, b) in std::iter::once((0, bin())).chain(b_bin.clone().map(|b| (1, b))) {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
            }
            let mut c = Command::new(b);
            env(&mut c);
            c.args(["scan", "--json"]);
            let cpu0 = children_cpu_s();
            let (dt, o) = run(&mut c);
            let cpu = children_cpu_s() - cpu0;
            if which == 0 {
                stats = serde_json::from_slice(&o.stdout).unwrap();
                runs.push(dt);
                cpu_a.push(cpu);
            } else {
                runs_b.push(dt);
                cpu_b.push(cpu);
            }
        }
    }
    if let Some(b) = &b_bin {
        let (wa, wb) = (median(runs.clone()), median(runs_b.clone()));
        let (ca, cb) = (median(cpu_a.clone()), median(cpu_b.clone()));
        println!(
            "A/B, 5 interleaved cold runs each: A {} wall {wa:.3}s cpu {ca:.3}s | B {} wall {wb:.3}s cpu {cb:.3}s | A/B wall {:.3} cpu {:.3}",
            bin().display(),
            b.display(),
            wa / wb,
            ca / cb
        );
        // The rest (the report, the re-scan, the 1M-event part) measures A.
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        let mut c = Command::new(bin());
        env(&mut c);
        c.args(["scan", "--json"]);
        run(&mut c);
    }
    let rss = peak_rss_children_mb();
    let mut c = Command::new(bin());
    env(&mut c);
    c.args(["report", "tool", "--json"]);
    let (_, o) = run(&mut c);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let got = r["totals"]["requests"].as_i64().unwrap();
    assert_eq!(got, requests, "every generated request counted once");
    let mbs: Vec<String> = runs
        .iter()
        .map(|t| format!("{:.0}", bytes as f64 / 1e6 / t))
        .collect();
    let dt = median(runs.clone());
    println!("cold ingest: {:.0} MiB, median of 5 runs {:.2}s = {:.0} MB/s (runs: {} MB/s), peak RSS {:.1} MB, {} requests, {} lines",
        bytes as f64 / 1048576.0, dt, bytes as f64 / 1e6 / dt, mbs.join(", "), rss, requests, stats["lines"]);

    // Re-scan with nothing new.
    let mut c = Command::new(bin());
    env(&mut c);
    c.args(["scan", "--json"]);
    let (dt2, _) = run(&mut c);
    println!("re-scan, nothing new: {:.3}s", dt2);

    if std::env::var("TOKWATCH_BENCH_ONLY").as_deref() != Ok("ingest") {
        report_bench();
    }
}

/// A database with one million events, then report latency per grouping (CLI process end to end).
fn report_bench() {
    use tokwatch::event::{CostSource, Merge, Tokens, UsageEvent};
    use tokwatch::store::{ReadCounts, Store, StoredEvent};
    use tokwatch::tailer::Checkpoint;
    let dir = data_dir("report-1m");
    let db = dir.join("r.db");
    let n = 1_000_000usize;
    if !dir.join("done").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = Instant::now();
        let mut st = Store::open_writer(&db).unwrap();
        let mut rng = gen::Rng(7);
        let ws: Vec<i64> = (0..60)
            .map(|i| {
                st.workspace_id(
                    &format!("github.com/dev/repo{i}"),
                    &format!("dev/repo{i}"),
                    None,
                    None,
                )
                .unwrap()
            })
            .collect();
        let now = tokwatch::store::now_ms();
        let models = [
            "claude-opus-4-6",
            "claude-sonnet-4-5",
            "gpt-5.3-codex",
            "gemini-3-flash-preview",
        ];
        let tools = ["claude-code", "codex", "gemini-cli", "opencode"];
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..n {
            // ~2,000 sessions of ~500 requests over 90 days.
            let session = i / 500;
            let ts =
                now - 90 * 86_400_000 + (session as i64 * 3_888_000) + (i % 500) as i64 * 20_000;
            let k = session % 4;
            let mut ev = UsageEvent::new(tools[k], format!("k{i}"), Merge::KeepMax, ts);
            ev.model = Some(models[k].into());
            ev.session_id = Some(format!("s{session}"));
            ev.branch = Some(format!("b{}", session % 7));
            ev.tokens = Tokens {
                input: rng.below(100) as i64,
                cache_write_5m: 0,
                cache_write_1h: rng.below(5000) as i64,
                cache_read: rng.below(100_000) as i64,
                output: rng.below(2000) as i64,
                reasoning: 0,
            };
            batch.push(StoredEvent {
                ev,
                workspace_id: Some(ws[session % 60]),
                workspace_name: None,
                cost_usd: Some(0.01),
                cost_source: CostSource::Computed,
                price_key: None,
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
        drop(st);
        let rows: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM rollup", [], |r| r.get(0))
            .unwrap();
        std::fs::write(dir.join("done"), "").unwrap();
        eprintln!(
            "built a 1M-event database in {:.1}s ({rows} rollup rows)",
            t0.elapsed().as_secs_f64()
        );
    }
    for args in [
        &["report", "day"][..],
        &["report", "month", "--json"][..],
        &["report", "session"][..],
        &["report", "repo"][..],
        &["report", "model", "--since", "30d"][..],
        &["history", "dev/repo7"][..],
    ] {
        let mut times = Vec::new();
        for _ in 0..11 {
            let mut c = Command::new(bin());
            c.env("TOKWATCH_DB", &db)
                .env("TOKWATCH_CONFIG_DIR", dir.join("cfg"))
                .env("NO_COLOR", "1")
                .args(args);
            let (dt, o) = run(&mut c);
            assert!(!o.stdout.is_empty());
            times.push(dt * 1000.0);
        }
        println!(
            "{:<40} median {:>6.1} ms (over {n} events)",
            format!("tokwatch {}", args.join(" ")),
            median(times)
        );
    }
    hook_bench(&dir, &db, n);
}

/// `guard check` and `statusline` over the 1M-event database, as Claude Code runs them: a
/// process per call with its JSON on stdin. Caps of every kind are set (a session cap, a hard
/// daily budget, a hard weekly budget of one repository, a model budget), so every query the
/// guard can make is made; none is used up, so it lets the call through after all of them.
fn hook_bench(dir: &Path, db: &Path, n: usize) {
    use std::io::Write;
    let cfg = dir.join("cfg-hooks");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[budget]\ndaily_usd = 100000.0\n[guard]\nsession_usd = 100000.0\n\
         [[budgets]]\nusd = 100000\nperiod = \"day\"\nhard = true\nid = \"cap-day\"\n\
         [[budgets]]\nusd = 100000\nperiod = \"week\"\nrepo = \"dev/repo7\"\nhard = true\n\
         [[budgets]]\nusd = 100000\nperiod = \"month\"\nprovider = \"anthropic\"\nhard = true\n",
    )
    .unwrap();
    let resets = tokwatch::store::now_ms() / 1000 + 3600;
    let hook = r#"{"session_id":"s1999","transcript_path":"/x.jsonl","cwd":"/tmp","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"},"tool_use_id":"t"}"#.to_string();
    let status = format!(
        r#"{{"session_id":"s1999","cwd":"/tmp","workspace":{{"current_dir":"/tmp","project_dir":"/tmp"}},"model":{{"id":"claude-opus-4-6"}},"rate_limits":{{"five_hour":{{"used_percentage":42,"resets_at":{resets}}},"seven_day":{{"used_percentage":12,"resets_at":{resets}}}}}}}"#
    );
    for (args, input) in [
        (&["guard", "check"][..], &hook),
        (&["statusline"][..], &status),
    ] {
        let mut times = Vec::new();
        for _ in 0..51 {
            let mut c = Command::new(bin());
            c.env("TOKWATCH_DB", db)
                .env("TOKWATCH_CONFIG_DIR", &cfg)
                .env("NO_COLOR", "1")
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let t0 = Instant::now();
            let mut child = c.spawn().expect("run tokwatch");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let o = child.wait_with_output().unwrap();
            let dt = t0.elapsed().as_secs_f64();
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            if args[0] == "guard" {
                assert!(
                    o.stdout.is_empty(),
                    "let through: {}",
                    String::from_utf8_lossy(&o.stdout)
                );
            } else {
                assert!(String::from_utf8_lossy(&o.stdout).contains("5h 42%"));
            }
            times.push(dt * 1000.0);
        }
        let max = times.iter().cloned().fold(0.0, f64::max);
        println!(
            "{:<40} median {:>6.1} ms, max {:>5.1} ms (over {n} events, 51 runs)",
            format!("tokwatch {}", args.join(" ")),
            median(times),
            max
        );
    }
}
