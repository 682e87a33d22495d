//! The live daemon: catch up on everything written since the last run, then follow every
//! source. It knows nothing of the views: what it stores goes to the [`Sink`]s it is given (the
//! app wires the tray, the alerts and the live feed in).

pub mod feed;
pub mod lock;
pub mod logging;
pub mod state;
pub mod watcher;

use crate::config::Config;
use crate::ingest::Ingestor;
use crate::pricing::Pricer;
use crate::registry::walk;
use crate::store::{Store, StoredEvent};
use crate::tailer::{self, Fingerprint};
use feed::Broadcaster;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watcher::{Msg, Watcher};

/// How often the daemon looks without being told to.
#[derive(Debug, Clone)]
pub struct Options {
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
            safety_interval: secs("TOKWATCH_SAFETY_SCAN_SECS", 120.0),
            poll_interval: secs("TOKWATCH_POLL_SECS", 2.0),
            refresh_interval: None,
        }
    }
}

/// One line of the daemon's log (see [`logging`]); a timestamped line on stderr when no log
/// is set up (tests that run the daemon inside their own process).
pub fn log(msg: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::info!("{msg}");
    } else {
        let t = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        eprintln!("[{t}] tokwatch: {msg}");
    }
}

/// A problem the user should hear of (a warning in the log).
pub fn warn(msg: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{msg}");
    } else {
        let t = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        eprintln!("[{t}] tokwatch: warning: {msg}");
    }
}

/// In-process consumers of newly stored events (tray, alerts, live feed). They read what they
/// show through the store's queries.
pub trait Sink: Send {
    /// Events were stored (inserted, or an earlier copy replaced).
    fn events(&mut self, store: &Store, evs: &[StoredEvent]);
    /// Periodic or requested refresh without new events (the day rolled over, a burn rate
    /// decays, alerts were paused).
    fn refresh(&mut self, _store: &Store) {}
    /// The config was read again and loaded cleanly: take the new settings.
    fn reload(&mut self, _store: &Store, _config: &Config) {}
}

/// Asked when the config should be read again: the new config when it loads cleanly, `None`
/// to keep the one in use (the hook says why in the log and the daemon's state).
pub type ReloadHook = Box<dyn FnMut() -> Option<Config> + Send>;

/// Why [`Daemon::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Asked to quit.
    Quit,
    /// The binary was replaced: start the new one.
    Restart,
}

struct FeedSink(Broadcaster);
impl Sink for FeedSink {
    fn events(&mut self, store: &Store, evs: &[StoredEvent]) {
        self.0.send(&feed::feed_events(store, evs));
    }
}

/// A running daemon's loop state.
pub struct Daemon {
    /// The writer.
    pub ing: Ingestor,
    watcher: Watcher,
    rx: mpsc::Receiver<Msg>,
    /// Sends messages to the daemon's loop (quit, refresh).
    pub tx: mpsc::Sender<Msg>,
    /// What each file looked like when last read.
    known: HashMap<PathBuf, Fingerprint>,
    changed: Arc<Mutex<Vec<StoredEvent>>>,
    sinks: Vec<Box<dyn Sink>>,
    opts: Options,
    reload: Option<ReloadHook>,
}

impl Daemon {
    /// Sets up watching, then catches up. `ing` must hold the instance lock's database.
    pub fn start(mut ing: Ingestor, opts: Options) -> anyhow::Result<Daemon> {
        let t0 = Instant::now();
        // Watches first, then the catch-up: a write that lands while catching up (or just
        // after) then still arrives as a hint, and a hint only re-reads from the checkpoint.
        let (tx, rx) = mpsc::channel();
        // Several sources share roots (one tool's formats, editors' common folders): once each.
        let roots = ing.registry.roots();
        let watcher = Watcher::new(tx.clone(), &roots, log);
        let (_, files) = ing.pending()?;
        let mut known_files: Vec<(usize, PathBuf)> =
            files.iter().map(|f| (f.src, f.path.clone())).collect();
        let st = match ing.scan_files(files, &mut |_| {}) {
            Ok(st) => st,
            // A full disk does not stop the daemon: what could not be stored is read again
            // from its checkpoint by the next stat scan, as when the disk fills while running.
            Err(e) if crate::store::problem::is_disk_full(&e) => {
                log(&format!(
                    "cannot store what the logs hold ({}): will retry every {:.0}s; free some disk space",
                    crate::store::problem::describe(&e),
                    opts.safety_interval.as_secs_f64()
                ));
                known_files.clear();
                Default::default()
            }
            Err(e) => return Err(e),
        };
        log(&format!(
            "caught up in {:.2}s: {}, {} read, {}{}",
            t0.elapsed().as_secs_f64(),
            crate::format::count(known_files.len() as i64, "file", "files"),
            indicatif::HumanBytes(st.bytes_read),
            crate::format::count(st.events_new as i64, "new request", "new requests"),
            if st.malformed > 0 {
                format!(
                    ", {} skipped (see `tokwatch doctor`)",
                    crate::format::count(st.malformed as i64, "malformed line", "malformed lines")
                )
            } else {
                String::new()
            }
        ));
        let mut known = HashMap::new();
        for (src, f) in known_files {
            if let Ok(fp) = Fingerprint::source(&f, ing.registry.sources[src].is_sqlite()) {
                known.insert(f, fp);
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
            reload: None,
        })
    }

    /// What to do when the config should be read again.
    pub fn set_reload(&mut self, hook: ReloadHook) {
        self.reload = Some(hook);
    }

    /// The roots watched, polled and missing.
    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }

    fn do_reload(&mut self) {
        let Some(hook) = self.reload.as_mut() else {
            return;
        };
        let Some(cfg) = hook() else { return };
        // New requests are priced with the new overrides.
        self.ing.set_pricer(Pricer::new(cfg.prices.clone()));
        for s in &mut self.sinks {
            s.reload(&self.ing.store, &cfg);
        }
        for s in &mut self.sinks {
            s.refresh(&self.ing.store);
        }
    }

    /// Adds a consumer of stored events.
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
        let base = tailer::sqlite_base(p).filter(|b| self.ing.registry.source_for(b).is_some());
        let p = base.as_deref().unwrap_or(p);
        let Some(src) = self.ing.registry.source_for(p) else {
            return;
        };
        let Ok(fp) = Fingerprint::source(p, self.ing.registry.sources[src].is_sqlite()) else {
            self.known.remove(p);
            return; // deleted: its history stays in the database
        };
        if !st_is_file(p) {
            return;
        }
        if let Err(e) = self.ing.ingest_path(src, p, &mut |_| {}) {
            log(&format!(
                "cannot store what {} holds: {}",
                p.display(),
                crate::store::problem::describe(&e)
            ));
            return;
        }
        self.known.insert(p.to_path_buf(), fp);
    }

    /// Stat scan: ingest every file whose fingerprint changed since it was last read (for a
    /// database, its `-wal` too). Walks the sources that live under `roots`, as deep as their
    /// patterns reach.
    fn stat_scan(&mut self, roots: &[PathBuf]) {
        let mut todo = Vec::new();
        for s in &self.ing.registry.sources {
            if !s
                .roots
                .iter()
                .any(|r| roots.iter().any(|x| r.starts_with(x) || x.starts_with(r)))
            {
                continue;
            }
            for p in s.files() {
                let Ok(fp) = Fingerprint::source(&p, s.is_sqlite()) else {
                    continue;
                };
                if self.known.get(&p) != Some(&fp) {
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
        // Only with `TOKWATCH_LOG=debug`: what each commit handed to the views.
        tracing::debug!(
            "stored {} (new or changed), handed to {} views",
            crate::format::count(evs.len() as i64, "request", "requests"),
            self.sinks.len()
        );
        for s in &mut self.sinks {
            s.events(&self.ing.store, &evs);
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

    /// Runs until a `Msg::Quit` (or `Msg::Restart`) arrives.
    pub fn run(&mut self) -> anyhow::Result<Stop> {
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
            let mut restart = false;
            let mut reload = false;
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
                Msg::Reload => reload = true,
                Msg::Restart => restart = true,
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
            if quit || restart {
                self.publish();
                return Ok(if quit { Stop::Quit } else { Stop::Restart });
            }
            if reload {
                self.do_reload();
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
                    s.refresh(&self.ing.store);
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
