//! The one place that turns the config and the environment into the pieces of the pipeline (the
//! tool registry, the store, the pricer, the ingestor) and wires the live daemon to its views
//! (tray, alerts, live feed). The CLI, the tests and the benches all start here.

use crate::alerts::{AlertConfig, AlertEngine};
use crate::config::Config;
use crate::daemon::watcher::Msg;
use crate::daemon::{self, lock::InstanceLock, log, Daemon, Sink};
use crate::env::Env;
use crate::ingest::Ingestor;
use crate::pricing::Pricer;
use crate::registry::Registry;
use crate::status::{self, Settings, Status};
use crate::store::{now_ms, Store, StoredEvent};
use crate::tray::{self, TrayCommand, TraySnapshot};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A run of tokwatch: the environment it resolves paths against and the database it uses.
#[derive(Debug, Clone)]
pub struct App {
    /// Home directory and environment variables.
    pub env: Env,
    /// The database file.
    pub db: PathBuf,
}

impl App {
    /// This process's environment, and `db` or the default database.
    pub fn from_process(db: Option<PathBuf>) -> App {
        let env = Env::from_process();
        let db = db.unwrap_or_else(|| env.default_db());
        App { env, db }
    }

    /// A run resolved against `env`, using `db`.
    pub fn new(env: Env, db: PathBuf) -> App {
        App { env, db }
    }

    /// The config file's contents (empty when there is none).
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load(&self.env)
    }

    /// Every tool's sources (user specs read once), with Aider's history files where Aider
    /// writes them: the root of every repository the database knows, and the project
    /// directories of `[aider]` in the config.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::load(&self.env);
        let aider = self.config().map(|c| c.aider).unwrap_or_default();
        let mut files =
            crate::registry::roots::aider_in_projects(&aider.dirs(&self.env.home), aider.depth());
        if let Ok(store) = Store::open_reader(&self.db) {
            for root in store.known_repository_roots().unwrap_or_default() {
                let dir = std::path::Path::new(&root);
                // A repository whose checkout is gone has nothing to follow.
                if dir.is_absolute() && dir.is_dir() {
                    files.push(dir.join(crate::parser::aider::FILE_NAME));
                }
            }
        }
        r.add_aider_files(files);
        r
    }

    /// The pricer with the user's price overrides.
    pub fn pricer(&self, config: &Config) -> Pricer {
        Pricer::new(config.prices.clone())
    }

    /// The database, read-only (every command but the writer's).
    pub fn reader(&self) -> anyhow::Result<Store> {
        Store::open_reader(&self.db)
    }

    /// The writer: the database opened for writing, every source, the pricer. Problems with
    /// user parser specs are said on stderr (`doctor` lists them too).
    pub fn ingestor(&self) -> anyhow::Result<Ingestor> {
        let config = self.config()?;
        let store = Store::open_writer(&self.db)?;
        let mut registry = self.registry();
        // This machine's id names its requests in export and sync files.
        let machine = store.ensure_local_machine(
            config.machine.id.as_deref(),
            &crate::env::hostname().unwrap_or_default(),
        )?;
        if let Some(dir) = config.sync.dir(&self.env.home) {
            registry.add_sync(dir, &machine);
        }
        for e in &registry.problems {
            eprintln!("tokwatch: {e}");
        }
        let mut ing = Ingestor::new(store, registry, self.pricer(&config));
        // Prices changed since the stored usage was priced (a new override, a removed one, new
        // bundled data): price it again before anything new is stored.
        if let Some(st) = ing.reprice_if_stale()? {
            if st.changed > 0 {
                eprintln!(
                    "tokwatch: prices changed: {} of {} stored requests re-priced ({} newly priced, {} now unpriced)",
                    st.changed, st.requests, st.newly_priced, st.now_unpriced
                );
            }
        }
        Ok(ing)
    }

    /// [`App::ingestor`], waiting while the disk is full (the database cannot be created,
    /// migrated or written): the daemon starts once there is room, as it goes on storing once
    /// room is made while it runs. Other errors are returned.
    fn ingestor_when_writable(&self) -> anyhow::Result<Ingestor> {
        let limit = daemon::Options::default()
            .safety_interval
            .min(Duration::from_secs(30));
        let mut wait = Duration::from_millis(500);
        loop {
            match self.ingestor() {
                Ok(i) => return Ok(i),
                Err(e) if crate::store::problem::is_disk_full(&e) => {
                    log(&format!(
                        "cannot write the database {} ({}): waiting for disk space, retrying in {:.1}s",
                        self.db.display(),
                        crate::store::problem::describe(&e),
                        wait.as_secs_f64()
                    ));
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(limit);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `tokwatch run`: lock, catch up, follow, until killed (or Quit from the tray).
    pub fn run_daemon(&self, no_tray: bool) -> anyhow::Result<()> {
        let db = &self.db;
        let _lock = InstanceLock::acquire(db)?;
        log(&format!("starting (database {})", db.display()));
        let ing = self.ingestor_when_writable()?;
        let config = self.config()?;
        let settings = Settings::from_config(&config).map_err(|e| {
            e.context(format!(
                "the config file {} has a budget setting tokwatch cannot use",
                self.env.config_file().display()
            ))
        })?;
        let tray_ok = if no_tray {
            log("no tray (--no-tray): running headless");
            false
        } else {
            match tray::availability() {
                Ok(()) => true,
                Err(why) => {
                    log(&format!("no tray ({why}): running headless"));
                    false
                }
            }
        };
        let mut opts = daemon::Options::default();
        if tray_ok {
            // The day rolls over and burn rates decay without new events.
            opts.refresh_interval = Some(Duration::from_secs(60));
        }
        let mut d = Daemon::start(ing, opts)?;
        // The feed first: `watch` may connect as soon as the daemon says it follows the logs,
        // before the first status (budgets, forecasts) is computed.
        match d.serve_feed(db) {
            Ok(p) => log(&format!("live feed at {}", p.display())),
            Err(e) => log(&format!(
                "no live feed socket ({e}); `tokwatch watch` will read the database"
            )),
        }
        // "Pause alerts" is remembered across restarts.
        let was_paused = d.ing.store.alerts_paused().unwrap_or(false);
        let paused = Arc::new(AtomicBool::new(was_paused));
        let engine = AlertEngine::new(
            AlertConfig::from_config(&config.alerts),
            Some(self.pricer(&config)),
        );
        let mut sink = StatusSink::new(settings, engine, paused.clone(), db);
        // Plan-limit snapshots from `tokwatch statusline`, budget changes: a change in the
        // hints directory is a hint to look again (no polling).
        let _hints_watch = watch_hints(db, d.tx.clone());
        let mut _tray = None;
        if tray_ok {
            let (up_tx, up_rx) = mpsc::channel::<TraySnapshot>();
            let (cmd_tx, cmd_rx) = mpsc::channel::<TrayCommand>();
            match tray::spawn(up_rx, cmd_tx) {
                Ok(h) => {
                    log(if tray::host_present() {
                        "tray indicator shown"
                    } else {
                        "tray indicator ready (it appears when a tray host starts)"
                    });
                    let debug = std::env::var_os("TOKWATCH_DEBUG_TRAY").is_some();
                    sink.on_status = Some(Box::new(move |s, p| {
                        if debug {
                            match s {
                                Ok(s) => log(&format!("snapshot today ${:.4}", s.today_usd)),
                                Err(e) => log(&format!("snapshot error: {e:#}")),
                            }
                        }
                        let _ = up_tx.send(TraySnapshot::of(s, p));
                    }));
                    let loop_tx = d.tx.clone();
                    let app = self.clone();
                    std::thread::Builder::new()
                        .name("tray-commands".into())
                        .spawn(move || {
                            for c in cmd_rx {
                                match c {
                                    TrayCommand::Quit => {
                                        let _ = loop_tx.send(Msg::Quit);
                                    }
                                    TrayCommand::PauseAlerts(p) => {
                                        paused.store(p, Ordering::Relaxed);
                                        log(if p { "alerts paused" } else { "alerts resumed" });
                                        let _ = loop_tx.send(Msg::Refresh);
                                    }
                                    TrayCommand::OpenDashboard => open_dashboard(&app.db),
                                }
                            }
                        })?;
                    _tray = Some(h);
                }
                Err(e) => log(&format!("no tray ({e}): running headless")),
            }
        }
        let (dash_settings, dash_paused) = (sink.settings.clone(), sink.paused.clone());
        // Show today's figure at once, not only after the next request.
        sink.update(&d.ing.store, &[]);
        d.add_sink(Box::new(sink));
        // The dashboard: after the status sink, so a change it reports is already stored.
        if config.dashboard.enabled.unwrap_or(true) {
            let o = crate::dashboard::Options {
                db: db.clone(),
                settings: dash_settings,
                address: config
                    .dashboard
                    .address
                    .clone()
                    .unwrap_or_else(|| crate::dashboard::DEFAULT_ADDRESS.into()),
                port: config.dashboard.port,
                paused: dash_paused,
                daemon: d.tx.clone(),
            };
            match crate::dashboard::spawn(o) {
                Ok(dash) => {
                    log(&format!(
                        "dashboard at {} (`tokwatch dashboard` opens it)",
                        crate::dashboard::url(&dash.addr.ip().to_string(), dash.addr.port(), None)
                    ));
                    d.add_sink(Box::new(dash.sink(&d.ing.store)));
                }
                Err(e) => log(&format!("dashboard: not started: {e:#}")),
            }
        }
        // Sync folder, Prometheus, OTLP: only what the config turns on.
        let machine = d.ing.store.local_machine()?.unwrap_or_default();
        let exports = crate::export::start(&config, &self.env, db, &d.ing.store, &machine);
        for m in &exports.started {
            log(m);
        }
        for s in exports.sinks {
            d.add_sink(s);
        }
        d.run()?;
        log("stopped");
        Ok(())
    }
}

/// Recomputes the status after each commit, raises the alerts it calls for (budgets,
/// forecasts, session signals, plan limits), and hands each new status (or the error that kept
/// it from being computed) to the tray.
pub struct StatusSink {
    /// How budgets are counted.
    pub settings: Settings,
    /// Decides and says alerts.
    pub engine: AlertEngine,
    /// Set from the tray's "Pause alerts" item.
    pub paused: Arc<AtomicBool>,
    /// The pause state last written to the database.
    stored_paused: Option<bool>,
    /// Where `tokwatch statusline` leaves plan-limit snapshots.
    limits_file: PathBuf,
    /// Capture time of the last snapshot stored.
    limits_seen: i64,
    /// Receives each new status (the tray).
    pub on_status: Option<StatusCallback>,
}

/// What the tray is handed after each status computation.
pub type StatusCallback = Box<dyn FnMut(&anyhow::Result<Status>, bool) + Send>;

impl StatusSink {
    /// A sink for the database `db`.
    pub fn new(
        settings: Settings,
        engine: AlertEngine,
        paused: Arc<AtomicBool>,
        db: &Path,
    ) -> StatusSink {
        StatusSink {
            settings,
            engine,
            stored_paused: Some(paused.load(Ordering::Relaxed)),
            paused,
            limits_file: status::plan::limits_file(db),
            limits_seen: 0,
            on_status: None,
        }
    }

    /// Stores a newer plan-limit snapshot, if the statusline left one.
    fn take_plan_limits(&mut self, store: &Store) {
        let Some(limits) = status::plan::read_snapshot(&self.limits_file) else {
            return;
        };
        let newest = limits.iter().map(|l| l.captured_ms).max().unwrap_or(0);
        if newest <= self.limits_seen {
            return;
        }
        match store.save_plan_limits(&limits) {
            Ok(()) => self.limits_seen = newest,
            Err(e) => log(&format!("cannot store the plan limits: {e:#}")),
        }
    }

    /// Recomputes the status after `evs` were stored (none on a refresh).
    pub fn update(&mut self, store: &Store, evs: &[StoredEvent]) {
        let paused = self.paused.load(Ordering::Relaxed);
        if self.stored_paused != Some(paused) {
            match store.set_alerts_paused(paused) {
                Ok(()) => self.stored_paused = Some(paused),
                Err(e) => log(&format!("cannot remember the alert pause: {e:#}")),
            }
        }
        self.take_plan_limits(store);
        let mut s = status::compute(store, &self.settings, now_ms());
        match &mut s {
            Ok(st) => {
                // The pause as the tray set it, even when it could not be written.
                st.alerts_paused = paused;
                self.engine.run(store, st, evs, self.settings.zone, paused);
            }
            Err(e) => log(&format!("cannot compute the status: {e:#}")),
        }
        if let Some(f) = self.on_status.as_mut() {
            f(&s, paused);
        }
    }
}

impl Sink for StatusSink {
    fn events(&mut self, store: &Store, evs: &[StoredEvent]) {
        self.update(store, evs);
    }
    fn refresh(&mut self, store: &Store) {
        self.update(store, &[]);
    }
}

/// Watches the hints directory of `db` (the statusline's plan-limit snapshot, `budget set`'s
/// touch) and asks the daemon to refresh when it changes. `None` (and one log line) when it
/// cannot be watched.
fn watch_hints(db: &Path, tx: mpsc::Sender<Msg>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = status::plan::hints_dir(db);
    let made = status::plan::ensure_hints_dir(db);
    let w = made.map_err(notify::Error::io).and_then(|_| {
        let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
            if r.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                let _ = tx.send(Msg::Refresh);
            }
        })?;
        w.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        Ok(w)
    });
    match w {
        Ok(w) => Some(w),
        Err(e) => {
            log(&format!(
                "cannot watch {} ({e}); plan limits and budget changes are read with the next request",
                dir.display()
            ));
            None
        }
    }
}

/// The tray's "Open dashboard": this daemon's dashboard in the default browser, with the token
/// (so its budget and pause controls work); the address is logged when no browser can be opened.
fn open_dashboard(db: &Path) {
    let Some(port) = crate::dashboard::remembered_port(db) else {
        log("the dashboard is not running (see the log above for why)");
        return;
    };
    let token = crate::dashboard::read_token(db);
    let u = crate::dashboard::url("127.0.0.1", port, token.as_deref());
    if let Err(why) = crate::dashboard::open_browser(&u) {
        log(&format!(
            "cannot open a browser ({why}): the dashboard is at {} (`tokwatch dashboard` prints the address with its token)",
            crate::dashboard::url("127.0.0.1", port, None)
        ));
    }
}
