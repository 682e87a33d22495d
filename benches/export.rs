//! Export and import of one million requests (`docs/benchmarks.md`, "Issue 15").
//!
//!     nice -n 5 cargo bench --bench export
//!
//! Builds a 1M-request database once (cached under target/bench-data/export-1m/), then times
//! `tokwatch export` (JSON lines and CSV), `tokwatch import` of each into a fresh database, the
//! same import again (nothing new: the file's checkpoint), and an import of a copy (every
//! record read and matched by its key, nothing added).

#[path = "gen.rs"]
mod gen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tokwatch"))
}

fn peak_rss_children_mb() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn tokwatch(db: &Path, cfg: &Path, args: &[&str]) -> f64 {
    let t0 = Instant::now();
    let o = Command::new(bin())
        .env("TOKWATCH_DB", db)
        .env("TOKWATCH_CONFIG_DIR", cfg)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run tokwatch");
    let dt = t0.elapsed().as_secs_f64();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dt
}

fn build(db: &Path, n: usize) {
    use tokwatch::event::{CostSource, Merge, Tokens, UsageEvent};
    use tokwatch::store::{ReadCounts, Store, StoredEvent};
    use tokwatch::tailer::Checkpoint;
    let mut st = Store::open_writer(db).unwrap();
    st.ensure_local_machine(Some("bench-a"), "").unwrap();
    let mut rng = gen::Rng(7);
    let ws: Vec<i64> = (0..60)
        .map(|i| {
            st.workspace_id(
                &format!("github.com/dev/repo{i}"),
                &format!("dev/repo{i}"),
                None,
                Some(&format!("github.com/dev/repo{i}")),
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
        let session = i / 500;
        let ts = now - 90 * 86_400_000 + (session as i64 * 3_888_000) + (i % 500) as i64 * 20_000;
        let k = session % 4;
        let mut ev = UsageEvent::new(tools[k], format!("k{i}"), Merge::KeepMax, ts);
        ev.model = Some(models[k].into());
        ev.provider = Some(["anthropic", "anthropic", "openai", "google"][k].into());
        ev.session_id = Some(format!("4f9c1a2e-{session:08}-0000-0000-000000000000"));
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
        batch.push(StoredEvent {
            ev,
            workspace_id: Some(ws[session % 60]),
            workspace_name: None,
            cost_usd: Some(cost),
            cost_source: CostSource::Computed,
            price_key: Some(format!("x/{}", models[k])),
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

fn main() {
    let n = 1_000_000usize;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/export-1m");
    let db = dir.join("a.db");
    let cfg = dir.join("cfg");
    if !dir.join("done").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = Instant::now();
        build(&db, n);
        std::fs::write(dir.join("done"), "").unwrap();
        eprintln!(
            "built a 1M-request database in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
    }
    let mb = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / (1 << 20) as f64;
    for (form, ext, extra) in [
        ("JSON lines", "jsonl", &[][..]),
        ("CSV", "csv", &["--csv"][..]),
    ] {
        let file = dir.join(format!("a.{ext}"));
        let mut args = vec!["export", "-o", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let t = tokwatch(&db, &cfg, &args);
        println!(
            "export {form:<10} {n} requests: {t:>6.2} s ({:.0} MB, {:.0}k requests/s)",
            mb(&file),
            n as f64 / t / 1000.0
        );
        let b = dir.join(format!("b-{ext}.db"));
        for p in [
            b.clone(),
            b.with_extension("db-wal"),
            b.with_extension("db-shm"),
        ] {
            let _ = std::fs::remove_file(p);
        }
        let f = file.to_str().unwrap();
        let t = tokwatch(&b, &cfg, &["import", f]);
        println!(
            "import {form:<10} into a new database: {t:>6.2} s ({:.0}k requests/s)",
            n as f64 / t / 1000.0
        );
        let t = tokwatch(&b, &cfg, &["import", f]);
        println!("import {form:<10} again (unchanged file): {t:>6.2} s");
        let copy = dir.join(format!("copy.{ext}"));
        std::fs::copy(&file, &copy).unwrap();
        let t = tokwatch(&b, &cfg, &["import", copy.to_str().unwrap()]);
        println!(
            "import {form:<10} a copy (all already there): {t:>6.2} s ({:.0} MB/s)",
            mb(&copy) / t
        );
    }
    println!(
        "peak RSS of any one tokwatch process: {:.0} MB",
        peak_rss_children_mb()
    );
}
