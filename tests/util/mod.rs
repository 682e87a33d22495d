//! Shared test helpers: temporary homes with copies of the fixture logs, and an ingestor
//! pointed at them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokwatch::app::App;
use tokwatch::env::Env;
use tokwatch::ingest::Ingestor;
use tokwatch::store::query::{Filter, Sums};
use tokwatch::store::Store;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// A temporary home with `~/.claude` and `~/.codex`, and a database beside it.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Home { dir }
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn claude_projects(&self) -> PathBuf {
        self.home().join(".claude/projects")
    }
    pub fn codex_sessions(&self) -> PathBuf {
        self.home().join(".codex/sessions")
    }
    /// Copies the real samples into the home: the Claude Code projects, and up to `codex` of
    /// the Codex rollouts of 2026-02-23 (flat into the sessions folder).
    pub fn copy_samples(&self, codex: usize) {
        copy_tree(
            &fixtures().join("claude-code/projects"),
            &self.claude_projects(),
        );
        let dir = fixtures().join("codex/sessions/2026/02/23");
        std::fs::create_dir_all(self.codex_sessions()).unwrap();
        for f in std::fs::read_dir(dir).unwrap().take(codex) {
            let f = f.unwrap();
            std::fs::copy(f.path(), self.codex_sessions().join(f.file_name())).unwrap();
        }
    }
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("tokwatch.db")
    }
    pub fn env(&self) -> Env {
        let mut vars = HashMap::new();
        vars.insert(
            "TOKWATCH_CONFIG_DIR".to_string(),
            self.dir
                .path()
                .join("config")
                .to_string_lossy()
                .into_owned(),
        );
        Env {
            home: self.home(),
            vars,
        }
    }
    pub fn app(&self) -> App {
        App::new(self.env(), self.db())
    }
    pub fn ingestor(&self) -> Ingestor {
        self.app().ingestor().unwrap()
    }
    /// Runs one scan with a fresh ingestor (as a new process would), then checks that the
    /// rollup the reports read agrees with the stored events.
    pub fn scan(&self) -> tokwatch::ingest::IngestStats {
        let st = self.ingestor().scan(&mut |_| {}).unwrap();
        assert_rollup_consistent(&self.db());
        st
    }
    pub fn reader(&self) -> Store {
        Store::open_reader(&self.db()).unwrap()
    }
    pub fn sums(&self, f: &Filter) -> Sums {
        self.reader().sums(f).unwrap()
    }
    pub fn tool(&self, tool: &str) -> Sums {
        self.sums(&Filter {
            tool: Some(tool.into()),
            ..Filter::default()
        })
    }
    /// The environment for running the real binary against this home.
    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tokwatch"));
        c.env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TOKWATCH_DB", self.db())
            .env("TOKWATCH_CONFIG_DIR", self.dir.path().join("config"))
            .env("NO_COLOR", "1")
            // Commands that show figures would start a daemon that outlives the test; the
            // tests of that (tests/install.rs) turn it back on.
            .env("TOKWATCH_AUTO_START", "0");
        c
    }
}

/// (requests, input, cache write 5m + 1h, cache read, output)
pub fn tuple(s: &Sums) -> (i64, i64, i64, i64, i64) {
    (
        s.requests,
        s.input,
        s.cache_write_5m + s.cache_write_1h,
        s.cache_read,
        s.output,
    )
}

/// A daemon process (`tokwatch run --no-tray`) on a temporary home; killed on drop.
pub struct DaemonProc {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DaemonProc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Home {
    /// Starts the daemon (headless) and waits until it follows the logs.
    pub fn start_daemon(&self, extra_env: &[(&str, &str)]) -> DaemonProc {
        self.start_daemon_with(&["run", "--no-tray"], extra_env)
    }

    /// Starts `tokwatch ARGS` and waits until it follows the logs.
    pub fn start_daemon_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> DaemonProc {
        let log = self
            .dir
            .path()
            .join(format!("daemon-{}.log", rand_u64() % 1_000_000));
        let mut c = self.cmd();
        c.args(args)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let child = c.spawn().unwrap();
        let d = DaemonProc { child, log };
        wait_until(std::time::Duration::from_secs(60), || {
            d.log_text().contains("following")
        })
        .unwrap_or_else(|| panic!("daemon did not start: {}", d.log_text()));
        d
    }
}

/// Polls `f` every 10 ms until it holds; `None` on timeout.
pub fn wait_until(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> Option<()> {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f().then_some(())
}

/// A small xorshift generator (deterministic per seed, no dependency).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    h.finish() | 1
}

/// A read-only connection of the test's own on tokwatch's database, for checks the store has
/// no query for (the rows themselves).
pub fn sql(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Sums read through a fresh read-only connection (as a CLI reader would).
pub fn try_sums(db: &Path, f: &Filter) -> Option<Sums> {
    Store::open_reader(db).ok()?.sums(f).ok()
}

/// One rollup cell: bucket, tool, model|branch, session, workspace, the six token and request
/// sums, and the cost in millionths of a dollar.
type RollupCell = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// The rollup (what reports read) holds exactly the sums of the stored requests, per cell:
/// the events stored in full and the pruned ones (`store::prune`).
pub fn assert_rollup_consistent(db: &Path) {
    let s = sql(db);
    let q = |sql: &str| -> Vec<RollupCell> {
        let mut st = s.prepare(sql).unwrap();
        st.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                (r.get::<_, f64>(11)? * 1e6).round() as i64,
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    };
    let from_events = q(
        "WITH every AS (
             SELECT ts, tool, model, branch, provider, machine_id, session, workspace_id,
                    requests, input, cw5, cw1h, cr, output, cost FROM events
             UNION ALL
             SELECT p.ts, c.tool, c.model, c.branch, c.provider, c.machine_id, c.session,
                    c.workspace_id, p.requests, p.input, p.cw5, p.cw1h, p.cr, p.output, p.cost
             FROM pruned p JOIN pruned_cells c ON c.id = p.cell)
         SELECT ts / 900000 AS b, tool, coalesce(model, '') || '|' || coalesce(branch, '') || '|' || coalesce(provider, '') || '|' || machine_id, coalesce(session, ''), coalesce(workspace_id, 0),
                sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output), total(cost)
         FROM every GROUP BY b, tool, coalesce(workspace_id, 0), coalesce(branch, ''), coalesce(model, ''), coalesce(session, ''), coalesce(provider, ''), machine_id
         HAVING sum(requests) != 0 OR sum(input) != 0 OR sum(output) != 0 OR sum(cr) != 0 OR sum(cw5) != 0 OR sum(cw1h) != 0 OR total(cost) != 0
         ORDER BY 1, 2, 3, 4, 5, 6, 7",
    );
    let from_rollup = q(
        "SELECT bucket, tool, model || '|' || branch || '|' || provider || '|' || machine_id, session, workspace_id, requests, input, cw5, cw1h, cr, output, cost
         FROM rollup WHERE requests != 0 OR input != 0 OR output != 0 OR cr != 0 OR cw5 != 0 OR cw1h != 0 OR cost != 0
         ORDER BY 1, 2, 3, 4, 5, 6, 7",
    );
    // Costs are float sums in a different order: equal within a millionth of a dollar.
    let strip = |v: &[RollupCell]| {
        v.iter()
            .map(|r| {
                let mut r = r.clone();
                r.11 = 0;
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(&from_events),
        strip(&from_rollup),
        "rollup out of step with events"
    );
    for (a, b) in from_events.iter().zip(&from_rollup) {
        assert!(
            (a.11 - b.11).abs() <= 2,
            "rollup cost out of step: {a:?} vs {b:?}"
        );
    }
    assert_time_layer_consistent(db);
}

/// The time-only layer (`rollup_time`: every quarter-hour, UTC hour and UTC day) holds exactly
/// the sums of the stored requests, full and pruned, to the billionth of a dollar.
pub fn assert_time_layer_consistent(db: &Path) {
    let s = sql(db);
    let q = |sql: &str| -> Vec<[i64; 11]> {
        let mut st = s.prepare(sql).unwrap();
        st.query_map([], |r| {
            let mut v = [0i64; 11];
            for (i, x) in v.iter_mut().enumerate() {
                *x = r.get(i)?;
            }
            Ok(v)
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    };
    // Quarter-hours, hours, and local days of some offsets (quarter-hours): UTC, -5:00, +5:30,
    // +5:45, +10:30, +11:00, and both ends.
    let mut layers = vec![(0, 0, 900_000), (1, 0, 3_600_000)];
    layers.extend([0, -20, 22, 23, 42, 44, -48, 56].map(|off| (2, off, 86_400_000)));
    for (unit, off, width) in layers {
        let from_events = q(&format!(
            "WITH every AS (
                 SELECT ts, requests, input, cw5, cw1h, cr, output, reasoning, cost, cost_source
                 FROM events
                 UNION ALL
                 SELECT ts, requests, input, cw5, cw1h, cr, output, reasoning, cost, cost_source
                 FROM pruned)
             SELECT {unit}, (ts + {off} * 900000) / {width} AS t, sum(requests), sum(input),
                    sum(cw5), sum(cw1h), sum(cr), sum(output), sum(reasoning),
                    sum(CAST(round(coalesce(cost, 0) * 1e9) AS INTEGER)),
                    sum(CASE cost_source WHEN 3 THEN requests ELSE 0 END)
             FROM every GROUP BY t HAVING sum(requests) != 0 ORDER BY t"
        ));
        let layer = q(&format!(
            "SELECT unit, t, requests, input, cw5, cw1h, cr, output, reasoning, cost_nano, unpriced
             FROM rollup_time WHERE unit = {unit} AND off = {off} AND requests != 0 ORDER BY t"
        ));
        assert_eq!(
            from_events, layer,
            "rollup_time unit {unit} offset {off} out of step with the stored requests"
        );
    }
}

/// The tokens of a split's tool results of the tool `name` (all its parts summed).
pub fn tool_result(c: &tokwatch::event::Composition, name: &str) -> i64 {
    c.parts
        .iter()
        .filter(|p| {
            p.kind == tokwatch::event::CtxKind::ToolResult && p.tool.as_deref() == Some(name)
        })
        .map(|p| p.tokens)
        .sum()
}
