//! The live daemon: catch up on everything written since the last run, then follow every source.

pub mod feed;
pub mod lock;
pub mod status;
pub mod watcher;

use crate::ingest::Ingestor;
use crate::sources::walk;
use crate::store::{now_ms, StoredEvent};
use crate::tailer::Stat;
use feed::{Broadcaster, FeedEvent};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watcher::{Msg, Watcher};

#[derive(Debug, Clone)]
pub struct Options {
    pub no_tray: bool,
    /// Full stat scan of every root, a safety net behind notifications.
    pub safety_interval: Duration,
    /// Stat scan of polled roots.
    pub poll_interval: Duration,
    /// Recompute the status (tray) this often without new events; `None` = only on events.
    pub refresh_interval: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        let secs = |k: &str, d: f64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs_f64(d))
        };
        Options {
            no_tray: false,
            safety_interval: secs("TOKWATCH_SAFETY_SCAN_SECS", 120.0),
            poll_interval: secs("TOKWATCH_POLL_SECS", 2.0),
            refresh_interval: None,
        }
    }
}

/// A timestamped line on stderr.
pub fn log(msg: &str) {
    let t = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
    eprintln!("[{t}] tokwatch: {msg}");
}

pub fn start_of_today() -> i64 {
    let z = crate::store::query::Zone::Local;
    z.start_of(z.today())
}

/// Feed lines for stored events, with running session and day totals.
pub fn feed_events(conn: &rusqlite::Connection, evs: &[StoredEvent]) -> Vec<FeedEvent> {
    use crate::store::query::{live_cost, Scope};
    let today = live_cost(conn, Scope::Since(start_of_today()));
    let mut sessions: HashMap<String, (f64, bool)> = HashMap::new();
    evs.iter()
        .map(|se| {
            let e = &se.ev;
            let (sc, su) = match &e.session_id {
                Some(s) => *sessions
                    .entry(s.clone())
                    .or_insert_with(|| live_cost(conn, Scope::Session(s))),
                None => (0.0, false),
            };
            FeedEvent {
                ts_ms: e.timestamp_ms,
                updated: se.updated,
                tool: e.tool.clone(),
                repo: se.workspace_name.clone(),
                branch: e.branch.clone(),
                model: e.model.clone(),
                session: e.session_id.clone(),
                input: e.tokens.input,
                cache_write: e.tokens.cache_write_5m + e.tokens.cache_write_1h,
                cache_read: e.tokens.cache_read,
                output: e.tokens.output,
                cost_usd: se.cost_usd,
                session_cost_usd: sc,
                session_has_unpriced: su,
                today_cost_usd: today.0,
                today_has_unpriced: today.1,
            }
        })
        .collect()
}

/// In-process consumers of newly stored events (tray, alerts, live feed).
pub trait Sink: Send {
    fn events(&mut self, conn: &rusqlite::Connection, evs: &[StoredEvent]);
    /// Periodic or requested refresh without new events (the day rolled over, a burn rate
    /// decays, alerts were paused).
    fn refresh(&mut self, _conn: &rusqlite::Connection) {}
}

struct FeedSink(Broadcaster);
impl Sink for FeedSink {
    fn events(&mut self, conn: &rusqlite::Connection, evs: &[StoredEvent]) {
        self.0.send(&feed_events(conn, evs));
    }
}

/// Recomputes the indicator status after each commit and raises budget alerts.
pub struct StatusSink {
    pub budget: crate::config::Budget,
    pub alerts: status::Alerts,
    /// Set from the tray's "Pause alerts" item.
    pub paused: Arc<std::sync::atomic::AtomicBool>,
    /// Receives each new status (the tray).
    pub on_status: Option<Box<dyn FnMut(&status::Status, bool) + Send>>,
}

impl StatusSink {
    fn update(&mut self, conn: &rusqlite::Connection) {
        let now = now_ms();
        let s = status::compute(conn, &self.budget, now);
        self.alerts.paused = self.paused.load(std::sync::atomic::Ordering::Relaxed);
        for m in self.alerts.check(&s, now) {
            log(&format!("budget alert: {m}"));
            notify_desktop(&m);
        }
        if let Some(f) = self.on_status.as_mut() {
            f(&s, self.alerts.paused);
        }
    }
}

impl Sink for StatusSink {
    fn events(&mut self, conn: &rusqlite::Connection, _evs: &[StoredEvent]) {
        self.update(conn);
    }
    fn refresh(&mut self, conn: &rusqlite::Connection) {
        self.update(conn);
    }
}

/// A desktop notification for a budget alert (freedesktop Notifications over D-Bus), where a
/// session bus is reachable; the log line is always written.
fn notify_desktop(msg: &str) {
    #[cfg(target_os = "linux")]
    {
        let msg = msg.to_string();
        std::thread::spawn(move || {
            let Ok(conn) = zbus::blocking::Connection::session() else {
                return;
            };
            let hints: std::collections::HashMap<&str, zbus::zvariant::Value> = Default::default();
            let _ = conn.call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    "tokwatch",
                    0u32,
                    "",
                    "tokwatch budget",
                    msg.as_str(),
                    Vec::<&str>::new(),
                    hints,
                    10_000i32,
                ),
            );
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = msg;
}

/// The tray snapshot for a status.
pub fn tray_snapshot(s: &status::Status, paused: bool) -> crate::tray::TraySnapshot {
    crate::tray::TraySnapshot {
        today_usd: s.today_usd,
        today_has_unpriced: s.today_has_unpriced,
        week_usd: s.week_usd,
        week_has_unpriced: s.week_has_unpriced,
        daily_budget_usd: s.daily_budget_usd,
        by_tool_today: s.by_tool_today.clone(),
        active_sessions: s
            .active_sessions
            .iter()
            .map(|a| crate::tray::ActiveSession {
                repo: a.repo.clone(),
                tool: a.tool.clone(),
                cost_usd: a.cost_usd,
                usd_per_hour: a.usd_per_hour,
            })
            .collect(),
        top_repos_week: s.top_repos_week.clone(),
        alerts_paused: paused,
    }
}

/// A running daemon's loop state.
pub struct Daemon {
    pub ing: Ingestor,
    watcher: Watcher,
    rx: mpsc::Receiver<Msg>,
    pub tx: mpsc::Sender<Msg>,
    known: HashMap<PathBuf, Stat>,
    changed: Arc<Mutex<Vec<StoredEvent>>>,
    sinks: Vec<Box<dyn Sink>>,
    opts: Options,
}

impl Daemon {
    /// Sets up watching, then catches up. `ing` must hold the instance lock's database.
    pub fn start(mut ing: Ingestor, opts: Options) -> anyhow::Result<Daemon> {
        let t0 = Instant::now();
        // Watches first, then the catch-up: a write that lands while catching up (or just
        // after) then still arrives as a hint, and a hint only re-reads from the checkpoint.
        let (tx, rx) = mpsc::channel();
        // Several sources share roots (one tool's formats, editors' common folders): once each.
        let mut roots: Vec<PathBuf> = Vec::new();
        for r in ing.sources.iter().flat_map(|s| s.roots.iter()) {
            if !roots.contains(r) {
                roots.push(r.clone());
            }
        }
        let watcher = Watcher::new(tx.clone(), &roots, log);
        let (_, files) = ing.pending()?;
        let known_files: Vec<PathBuf> = files.iter().map(|(_, f, _)| f.clone()).collect();
        let st = ing.scan_files(files, &mut |_| {})?;
        log(&format!(
            "caught up in {:.2}s: {} files, {} read, {} new requests{}",
            t0.elapsed().as_secs_f64(),
            known_files.len(),
            indicatif::HumanBytes(st.bytes_read),
            st.events_new,
            if st.malformed > 0 {
                format!(
                    ", {} malformed lines skipped (see `tokwatch doctor`)",
                    st.malformed
                )
            } else {
                String::new()
            }
        ));
        let mut known = HashMap::new();
        for f in known_files {
            if let Ok(s) = Stat::path(&f) {
                known.insert(f, s);
            }
        }
        let changed: Arc<Mutex<Vec<StoredEvent>>> = Default::default();
        let c2 = changed.clone();
        ing.subscribe(Box::new(move |evs| {
            c2.lock().unwrap().extend_from_slice(evs)
        }));
        log(&format!(
            "following {} log directories ({} with notifications, {} polled every {:.0}s, {} not there yet)",
            roots.len(),
            watcher.watched.len(),
            watcher.polled.len(),
            opts.poll_interval.as_secs_f64(),
            watcher.missing.len()
        ));
        Ok(Daemon {
            ing,
            watcher,
            rx,
            tx,
            known,
            changed,
            sinks: Vec::new(),
            opts,
        })
    }

    pub fn add_sink(&mut self, s: Box<dyn Sink>) {
        self.sinks.push(s);
    }

    /// Serves the live feed socket for `db`.
    pub fn serve_feed(&mut self, db: &Path) -> anyhow::Result<PathBuf> {
        let p = feed::socket_path(db);
        let b = Broadcaster::listen(&p)?;
        self.add_sink(Box::new(FeedSink(b)));
        Ok(p)
    }

    fn ingest_file(&mut self, p: &Path) {
        // A SQLite writer touches `<db>-wal` / `<db>-shm` long before the database file itself.
        let db;
        let p = match p
            .to_str()
            .and_then(|s| s.strip_suffix("-wal").or(s.strip_suffix("-shm")))
        {
            Some(base) if self.ing.source_for(Path::new(base)).is_some() => {
                db = PathBuf::from(base);
                db.as_path()
            }
            _ => p,
        };
        let Some(src) = self.ing.source_for(p) else {
            return;
        };
        let Ok(st) = Stat::path(p) else {
            self.known.remove(p);
            return; // deleted: its history stays in the database
        };
        if !st_is_file(p) {
            return;
        }
        if let Err(e) = self.ing.ingest_path(src, p, &mut |_| {}) {
            log(&format!("cannot store what {} holds: {e:#}", p.display()));
            return;
        }
        self.known.insert(p.to_path_buf(), st);
    }

    /// Stat scan: ingest every file whose (dev, ino, size, mtime) changed, and every database
    /// whose `-wal` changed. Walks the sources that live under `roots`, as deep as their
    /// patterns reach.
    fn stat_scan(&mut self, roots: &[PathBuf]) {
        let mut todo = Vec::new();
        for s in &self.ing.sources {
            if !s
                .roots
                .iter()
                .any(|r| roots.iter().any(|x| r.starts_with(x) || x.starts_with(r)))
            {
                continue;
            }
            let sqlite = s.parser.format() == crate::parser::Format::Sqlite;
            for p in s.files() {
                let Ok(st) = Stat::path(&p) else { continue };
                let mut changed = self.known.get(&p) != Some(&st);
                if sqlite && !changed {
                    let wal = PathBuf::from(format!("{}-wal", p.display()));
                    if let Ok(w) = Stat::path(&wal) {
                        changed = self.known.get(&wal) != Some(&w);
                        self.known.insert(wal, w);
                    }
                }
                if changed {
                    todo.push(p);
                }
            }
        }
        for p in todo {
            self.ingest_file(&p);
        }
    }

    fn publish(&mut self) {
        let evs = std::mem::take(&mut *self.changed.lock().unwrap());
        if evs.is_empty() {
            return;
        }
        for s in &mut self.sinks {
            s.events(&self.ing.store.conn, &evs);
        }
    }

    fn handle_paths(&mut self, paths: BTreeSet<PathBuf>) {
        let mut appeared = false;
        for p in paths {
            if self.watcher.concerns_missing(&p) {
                appeared = true;
            }
            if p.is_dir() {
                // A new directory: files may have been written before its watch existed.
                let mut files = Vec::new();
                walk(&p, &mut |f| files.push(f.to_path_buf()));
                for f in files {
                    self.ingest_file(&f);
                }
            } else {
                self.ingest_file(&p);
            }
        }
        if appeared {
            for r in self.watcher.check_missing() {
                self.stat_scan(&[r]);
            }
        }
    }

    /// Runs until a `Msg::Quit` arrives.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let mut next_safety = Instant::now() + self.opts.safety_interval;
        let mut next_poll = Instant::now() + self.opts.poll_interval;
        let mut next_refresh = self.opts.refresh_interval.map(|d| Instant::now() + d);
        loop {
            let now = Instant::now();
            let mut deadline = if self.watcher.polled.is_empty() {
                next_safety
            } else {
                next_safety.min(next_poll)
            };
            if let Some(t) = next_refresh {
                deadline = deadline.min(t);
            }
            let msg = self
                .rx
                .recv_timeout(deadline.saturating_duration_since(now));
            let mut paths = BTreeSet::new();
            let mut quit = false;
            let mut refresh = false;
            let mut rescan = false;
            let mut handle = |m: Msg, paths: &mut BTreeSet<PathBuf>, w: &mut Watcher| match m {
                Msg::Fs(Ok(ev)) => {
                    // The kernel's event queue overflowed: events were lost, look at everything.
                    if ev.need_rescan() {
                        rescan = true;
                    }
                    if !matches!(ev.kind, notify::EventKind::Access(_)) {
                        paths.extend(ev.paths);
                    }
                }
                Msg::Fs(Err(e)) => w.degrade(&e),
                Msg::Quit => quit = true,
                Msg::Refresh => refresh = true,
            };
            match msg {
                Ok(m) => {
                    handle(m, &mut paths, &mut self.watcher);
                    // Coalesce whatever else is already queued.
                    while let Ok(m) = self.rx.try_recv() {
                        handle(m, &mut paths, &mut self.watcher);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => quit = true,
            }
            if quit {
                self.publish();
                return Ok(());
            }
            if !paths.is_empty() {
                self.handle_paths(paths);
            }
            if rescan {
                log("file notifications overflowed: rescanning every log directory");
                let roots: Vec<PathBuf> = self.watcher.watched.clone();
                self.stat_scan(&roots);
            }
            let now = Instant::now();
            if !self.watcher.polled.is_empty() && now >= next_poll {
                let roots: Vec<PathBuf> =
                    self.watcher.polled.iter().map(|(r, _)| r.clone()).collect();
                self.stat_scan(&roots);
                next_poll = now + self.opts.poll_interval;
            }
            if next_refresh.is_some_and(|t| now >= t) || refresh {
                for s in &mut self.sinks {
                    s.refresh(&self.ing.store.conn);
                }
                next_refresh = self.opts.refresh_interval.map(|d| now + d);
            }
            if now >= next_safety {
                self.ing.clear_caches();
                for r in self.watcher.check_missing() {
                    self.stat_scan(&[r]);
                }
                let roots: Vec<PathBuf> = self.watcher.watched.clone();
                self.stat_scan(&roots);
                next_safety = now + self.opts.safety_interval;
            }
            self.publish();
        }
    }
}

fn st_is_file(p: &Path) -> bool {
    std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
}

/// `tokwatch run`: lock, catch up, follow, until killed (or Quit from the tray).
pub fn run(db: &Path, mut opts: Options) -> anyhow::Result<()> {
    let _lock = lock::InstanceLock::acquire(db)?;
    log(&format!("starting (database {})", db.display()));
    let ing = crate::cli::new_ingestor(db)?;
    let budget = crate::config::Config::load()?.budget;
    let tray_ok = if opts.no_tray {
        log("no tray (--no-tray): running headless");
        false
    } else {
        match crate::tray::availability() {
            Ok(()) => true,
            Err(why) => {
                log(&format!("no tray ({why}): running headless"));
                false
            }
        }
    };
    if tray_ok {
        // The day rolls over and burn rates decay without new events.
        opts.refresh_interval = Some(Duration::from_secs(60));
    }
    let mut d = Daemon::start(ing, opts)?;
    let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sink = StatusSink {
        budget,
        alerts: status::Alerts::default(),
        paused: paused.clone(),
        on_status: None,
    };
    let mut _tray = None;
    if tray_ok {
        let (up_tx, up_rx) = mpsc::channel::<crate::tray::TraySnapshot>();
        let (cmd_tx, cmd_rx) = mpsc::channel::<crate::tray::TrayCommand>();
        match crate::tray::spawn(up_rx, cmd_tx) {
            Ok(h) => {
                log(if crate::tray::host_present() {
                    "tray indicator shown"
                } else {
                    "tray indicator ready (it appears when a tray host starts)"
                });
                let debug = std::env::var_os("TOKWATCH_DEBUG_TRAY").is_some();
                sink.on_status = Some(Box::new(move |s, p| {
                    if debug {
                        log(&format!("snapshot today ${:.4}", s.today_usd));
                    }
                    let _ = up_tx.send(tray_snapshot(s, p));
                }));
                let loop_tx = d.tx.clone();
                let db = db.to_path_buf();
                std::thread::Builder::new()
                    .name("tray-commands".into())
                    .spawn(move || {
                        for c in cmd_rx {
                            match c {
                                crate::tray::TrayCommand::Quit => {
                                    let _ = loop_tx.send(Msg::Quit);
                                }
                                crate::tray::TrayCommand::PauseAlerts(p) => {
                                    paused.store(p, std::sync::atomic::Ordering::Relaxed);
                                    log(if p { "alerts paused" } else { "alerts resumed" });
                                    let _ = loop_tx.send(Msg::Refresh);
                                }
                                crate::tray::TrayCommand::OpenReport => open_report(&db),
                            }
                        }
                    })?;
                _tray = Some(h);
            }
            Err(e) => log(&format!("no tray ({e}): running headless")),
        }
    }
    // Show today's figure at once, not only after the next request.
    sink.update(&d.ing.store.conn);
    d.add_sink(Box::new(sink));
    match d.serve_feed(db) {
        Ok(p) => log(&format!("live feed at {}", p.display())),
        Err(e) => log(&format!(
            "no live feed socket ({e}); `tokwatch watch` will read the database"
        )),
    }
    d.run()?;
    log("stopped");
    Ok(())
}

/// "Open a report": today's and this week's report as text in the data directory, opened with
/// the desktop's default viewer.
fn open_report(db: &Path) {
    let exe = std::env::current_exe().unwrap_or_else(|_| "tokwatch".into());
    let out = std::process::Command::new(&exe)
        .arg("--db")
        .arg(db)
        .args(["report", "repo", "--since", "7d"])
        .env("NO_COLOR", "1")
        .output();
    let Ok(out) = out else { return };
    let path = db.with_file_name("tokwatch-report.txt");
    if std::fs::write(&path, &out.stdout).is_err() {
        return;
    }
    log(&format!("report written to {}", path.display()));
    let _ = std::process::Command::new("xdg-open")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
