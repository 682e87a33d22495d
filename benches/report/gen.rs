//! Builds a large database for the report benchmark (`docs/benchmarks.md`, "Issue 16: reports
//! over 10M requests") through the store's own batch writer, so every layer is what a scan
//! would have written:
//!
//!     cargo build --release --example report-gen
//!     target/release/examples/report-gen --requests 10000000 --days 365 --out DB
//!
//! Sessions of 500 requests (one every 20 s), starting evenly over the `--days` up to now; 60
//! repositories, 4 tools and models, 7 branches, a model change in every 9th session.

#[path = "../gen.rs"]
mod gen;

use std::path::PathBuf;
use tokwatch::event::{CostSource, Merge, Tokens, UsageEvent};
use tokwatch::store::{ReadCounts, Store, StoredEvent};
use tokwatch::tailer::Checkpoint;

const SESSIONS_OF: usize = 500;

fn main() -> anyhow::Result<()> {
    let mut n: usize = 10_000_000;
    let mut days: i64 = 365;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--requests" => n = args.next().unwrap_or_default().parse()?,
            "--days" => days = args.next().unwrap_or_default().parse()?,
            "--out" => out = args.next().map(PathBuf::from),
            _ => anyhow::bail!("usage: report-gen --requests N --days D --out DB"),
        }
    }
    let db = out.ok_or_else(|| anyhow::anyhow!("--out DB is required"))?;
    anyhow::ensure!(!db.exists(), "{} exists: give a new path", db.display());
    let t0 = std::time::Instant::now();
    let mut st = Store::open_writer(&db)?;
    st.ensure_local_machine(Some("bench-a"), "")?;
    let mut rng = gen::Rng(13);
    let ws: Vec<(i64, String)> = (0..60)
        .map(|i| {
            let name = format!("dev/repo{i}");
            let key = format!("github.com/dev/repo{i}");
            st.workspace_id(&key, &name, None, Some(&key))
                .map(|id| (id, name))
        })
        .collect::<Result<_, _>>()?;
    let now = tokwatch::store::now_ms();
    let sessions = n.div_ceil(SESSIONS_OF);
    let start = now - days * 86_400_000;
    let step = (now - start - SESSIONS_OF as i64 * 20_000) / sessions as i64;
    let models = [
        "claude-opus-4-6",
        "claude-sonnet-4-5",
        "gpt-5.3-codex",
        "gemini-3-flash-preview",
    ];
    let tools = ["claude-code", "codex", "gemini-cli", "opencode"];
    let mut batch = Vec::with_capacity(10_000);
    st.begin()?;
    for i in 0..n {
        let session = i / SESSIONS_OF;
        let ts = start + session as i64 * step + (i % SESSIONS_OF) as i64 * 20_000;
        let k = session % 4;
        let mut ev = UsageEvent::new(tools[k], format!("k{i}"), Merge::KeepMax, ts);
        let m = if session.is_multiple_of(9) && i % SESSIONS_OF > 300 {
            (k + 1) % 2
        } else {
            k
        };
        ev.model = Some(models[m].into());
        ev.provider = Some(["anthropic", "anthropic", "openai", "google"][k].into());
        ev.session_id = Some(format!("4f9c1a2e-{session:08}-0000-0000-000000000000"));
        ev.branch = Some(format!("feature/b{}", session % 7));
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
        if batch.len() == 10_000 || i + 1 == n {
            st.commit_batch(
                "bench",
                "claude-code",
                &Checkpoint::default(),
                &ReadCounts::default(),
                &batch,
            )?;
            batch.clear();
            if (i + 1) % 500_000 == 0 || i + 1 == n {
                st.commit()?;
                eprintln!("{} requests, {:.0} s", i + 1, t0.elapsed().as_secs_f64());
                if i + 1 < n {
                    st.begin()?;
                }
            }
        }
    }
    Ok(())
}
