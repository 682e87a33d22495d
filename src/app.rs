//! The one place that turns the config and the environment into the pieces of the pipeline (the
//! tool registry, the store, the pricer, the ingestor) and wires the live daemon to its views
//! (tray, alerts, live feed). The CLI, the tests and the benches all start here.

use crate::alerts::{self, Alerts};
use crate::config::{Budget, Config};
use crate::daemon::watcher::Msg;
use crate::daemon::{self, lock::InstanceLock, log, Daemon, Sink};
use crate::env::Env;
use crate::ingest::Ingestor;
use crate::pricing::Pricer;
use crate::registry::Registry;
use crate::status::{self, Status};
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

    /// Every tool's sources (user specs read once).
    pub fn registry(&self) -> Registry {
        Registry::load(&self.env)
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
        Ok(Ingestor::new(store, registry, self.pricer(&config)))
    }

    /// `tokwatch run`: lock, catch up, follow, until killed (or Quit from the tray).
    pub fn run_daemon(&self, no_tray: bool) -> anyhow::Result<()> {
        let db = &self.db;
        let _lock = InstanceLock::acquire(db)?;
        log(&format!("starting (database {})", db.display()));
        let ing = self.ingestor()?;
        let config = self.config()?;
        let budget = config.budget.clone();
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
        let paused = Arc::new(AtomicBool::new(false));
        let mut sink = StatusSink {
            budget,
            alerts: Alerts::default(),
            paused: paused.clone(),
            on_status: None,
        };
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
                                    TrayCommand::OpenReport => open_report(&app.db),
                                }
                            }
                        })?;
                    _tray = Some(h);
                }
                Err(e) => log(&format!("no tray ({e}): running headless")),
            }
        }
        // Show today's figure at once, not only after the next request.
        sink.update(&d.ing.store);
        d.add_sink(Box::new(sink));
        // Sync folder, Prometheus, OTLP: only what the config turns on.
        let machine = d.ing.store.local_machine()?.unwrap_or_default();
        let exports = crate::export::start(&config, &self.env, db, &d.ing.store, &machine);
        for m in &exports.started {
            log(m);
        }
        for s in exports.sinks {
            d.add_sink(s);
        }
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
}

/// Recomputes the status after each commit, raises budget alerts, and hands each new status
/// (or the error that kept it from being computed) to the tray.
pub struct StatusSink {
    /// The budget the alerts measure against.
    pub budget: Budget,
    /// What has been said today.
    pub alerts: Alerts,
    /// Set from the tray's "Pause alerts" item.
    pub paused: Arc<AtomicBool>,
    /// Receives each new status (the tray).
    pub on_status: Option<StatusCallback>,
}

/// What the tray is handed after each status computation.
pub type StatusCallback = Box<dyn FnMut(&anyhow::Result<Status>, bool) + Send>;

impl StatusSink {
    fn update(&mut self, store: &Store) {
        let now = now_ms();
        let s = status::compute(store, &self.budget, now);
        self.alerts.paused = self.paused.load(Ordering::Relaxed);
        match &s {
            Ok(st) => {
                for m in self.alerts.check(st, now) {
                    log(&format!("budget alert: {m}"));
                    alerts::notify_desktop(&m);
                }
            }
            Err(e) => log(&format!("cannot compute the status: {e:#}")),
        }
        if let Some(f) = self.on_status.as_mut() {
            f(&s, self.alerts.paused);
        }
    }
}

impl Sink for StatusSink {
    fn events(&mut self, store: &Store, _evs: &[StoredEvent]) {
        self.update(store);
    }
    fn refresh(&mut self, store: &Store) {
        self.update(store);
    }
}

/// "Open a report": this week's report as text in the data directory, opened with the desktop's
/// default viewer.
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
