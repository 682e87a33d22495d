//! The one place that turns the config and the environment into the pieces of the pipeline (the
//! tool registry, the store, the pricer, the ingestor) and wires the live daemon to its views
//! (tray, alerts, live feed). The CLI, the tests and the benches all start here.

use crate::alerts::{AlertConfig, AlertEngine};
use crate::config::check;
use crate::config::check::Checked;
use crate::config::Config;
use crate::daemon::state::{ConfigState, DaemonState, Polled};
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
use std::sync::{mpsc, Arc, Mutex};
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

    /// The config file's contents (empty when there is none); an error names the line and
    /// key of each problem.
    pub fn config(&self) -> anyhow::Result<Config> {
        self.check_config().1.into_result(&self.env.config_file())
    }

    /// The config file read with every problem found (budget tool names checked against the
    /// tools tokwatch reads), and its text (`None` when there is no file).
    pub fn check_config(&self) -> (Option<String>, Checked) {
        let (text, c) = Config::check(&self.env, None);
        let names_tools = c
            .config
            .as_ref()
            .is_some_and(|c| c.budgets.iter().any(|b| b.tool.is_some()));
        if !names_tools {
            return (text, c);
        }
        // The tools tokwatch reads (built-in and user specs); not `registry()`, which reads
        // the config itself for Aider's project folders.
        let mut tools: Vec<String> = Registry::load(&self.env)
            .sources
            .iter()
            .map(|s| s.tool.clone())
            .collect();
        tools.dedup();
        Config::check(&self.env, Some(&tools))
    }

    /// Every tool's sources (user specs read once), with Aider's history files where Aider
    /// writes them: the root of every repository the database knows, and the project
    /// directories of `[aider]` in the config.
    pub fn registry(&self) -> Registry {
        match Store::open_reader(&self.db) {
            Ok(store) => self.registry_with(Some(&store)),
            Err(_) => self.registry_with(None),
        }
    }

    /// [`App::registry`] with the repository roots read from `store` (an open connection to
    /// the database: opening another costs more than the question).
    pub fn registry_with(&self, store: Option<&Store>) -> Registry {
        let mut r = Registry::load(&self.env);
        let aider = self.config().map(|c| c.aider).unwrap_or_default();
        let mut files =
            crate::registry::roots::aider_in_projects(&aider.dirs(&self.env.home), aider.depth());
        if let Some(store) = store {
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
        let (_, checked) = self.check_config();
        let path = self.env.config_file();
        // Keys that are ignored are said where the config is used to read logs.
        for w in checked.warnings() {
            eprintln!("tokwatch: {}: {w}", path.display());
        }
        self.ingestor_with(&checked.into_result(&path)?)
    }

    /// [`App::ingestor`] with `config`.
    pub fn ingestor_with(&self, config: &Config) -> anyhow::Result<Ingestor> {
        let store = Store::open_writer(&self.db)?;
        let mut registry = self.registry_with(Some(&store));
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
        let mut ing = Ingestor::new(store, registry, self.pricer(config));
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
    fn ingestor_when_writable(&self, config: &Config) -> anyhow::Result<Ingestor> {
        let limit = daemon::Options::default()
            .safety_interval
            .min(Duration::from_secs(30));
        let mut wait = Duration::from_millis(500);
        loop {
            match self.ingestor_with(config) {
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

    /// Log bytes not read yet, and the files they are in (database sources left out: their
    /// size says nothing about what is unread). Errors count as nothing behind.
    pub fn behind(&self, store: &Store) -> (u64, usize) {
        let mut bytes = 0;
        let mut files = 0;
        // How far each file was read, in one query (no parser state is needed here).
        let done = store.file_fingerprints().unwrap_or_default();
        for s in self
            .registry_with(Some(store))
            .sources
            .iter()
            .filter(|s| !s.is_sqlite())
        {
            let found = s.files();
            let stats = crate::tailer::Fingerprint::sources(&found, false);
            for (f, st) in found.into_iter().zip(stats) {
                let size = st.map(|st| st.size).unwrap_or(0);
                let done = done
                    .get(crate::tailer::path_text(&f).as_ref())
                    .map(|(_, offset)| *offset)
                    .unwrap_or(0);
                if size > done {
                    bytes += size - done;
                    files += 1;
                }
            }
        }
        (bytes, files)
    }

    /// Whether commands that show figures start the daemon when none runs:
    /// `TOKWATCH_AUTO_START` (`0`, `false`, `no`, `off` = no), else `[daemon] auto_start`
    /// (default yes).
    pub fn auto_start(&self) -> bool {
        if let Some(v) = self.env.var("TOKWATCH_AUTO_START") {
            return !matches!(
                v.to_ascii_lowercase().as_str(),
                "0" | "false" | "no" | "off"
            );
        }
        self.config()
            .ok()
            .and_then(|c| c.daemon.auto_start)
            .unwrap_or(true)
    }

    /// Makes sure a daemon runs for the database: starts one in the background when none does
    /// and auto-start is on.
    pub fn ensure_daemon(&self) -> DaemonNow {
        if InstanceLock::is_held(&self.db) {
            return DaemonNow::Running;
        }
        if !self.auto_start() {
            return DaemonNow::Off;
        }
        match spawn_daemon(&self.db) {
            Ok(()) => DaemonNow::Started(now_ms()),
            Err(e) => DaemonNow::Failed(format!("{e:#}")),
        }
    }

    /// Waits up to `limit` for a daemon started at `since_ms` (or earlier) to have caught up.
    pub fn wait_caught_up(&self, since_ms: i64, limit: Duration) -> bool {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(st) = DaemonState::read(&self.db) {
                if st.caught_up
                    && st.started_ms >= since_ms - 5_000
                    && InstanceLock::holder(&self.db) == Some(st.pid)
                {
                    return true;
                }
            }
            if t0.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Where the daemon keeps the last config that loaded cleanly (it runs on that one while
    /// the file does not load): `<db>.config-good.toml`.
    pub fn last_good_config_file(&self) -> PathBuf {
        let mut p = self.db.as_os_str().to_owned();
        p.push(".config-good.toml");
        PathBuf::from(p)
    }

    /// The config for the daemon: the file's when it loads, else the last good one (with the
    /// file's problem), else the error.
    fn daemon_config(&self) -> anyhow::Result<(Config, ConfigState)> {
        let path = self.env.config_file();
        let (text, checked) = self.check_config();
        let now = now_ms();
        let warnings: Vec<String> = checked.warnings().map(|p| p.to_string()).collect();
        let mut state = ConfigState {
            path: path.display().to_string(),
            ok: true,
            error: None,
            warnings,
            loaded_ms: now,
            read_ms: now,
        };
        match checked.into_result(&path) {
            Ok(c) => {
                let good = self.last_good_config_file();
                match text {
                    Some(t) => {
                        let _ = std::fs::write(&good, t);
                    }
                    None => {
                        let _ = std::fs::remove_file(&good);
                    }
                }
                Ok((c, state))
            }
            Err(e) => {
                let saved = std::fs::read_to_string(self.last_good_config_file())
                    .ok()
                    .and_then(|t| check::check_text(&t, None).config);
                match saved {
                    Some(c) => {
                        state.ok = false;
                        state.error = Some(format!("{e:#}"));
                        state.warnings.clear();
                        Ok((c, state))
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// `tokwatch run`: lock, catch up, follow, until killed (or Quit from the tray). When the
    /// binary is replaced, starts the new one in this process (same arguments) and carries on
    /// from the stored checkpoints.
    pub fn run_daemon(&self, no_tray: bool) -> anyhow::Result<()> {
        let exe = std::env::current_exe().ok();
        let log_dir = daemon::logging::init(&self.env.log_dir(), self.env.var("TOKWATCH_LOG"));
        let stop = self.run_daemon_until_stop(no_tray, exe.as_deref(), log_dir)?;
        if stop == daemon::Stop::Restart {
            if let Some(exe) = exe {
                log(&format!(
                    "{} was replaced: restarting on the new binary",
                    exe.display()
                ));
                return Err(restart(&exe));
            }
        }
        Ok(())
    }

    fn run_daemon_until_stop(
        &self,
        no_tray: bool,
        exe: Option<&Path>,
        log_dir: Result<PathBuf, String>,
    ) -> anyhow::Result<daemon::Stop> {
        let db = &self.db;
        let _lock = InstanceLock::acquire(db)?;
        log(&format!(
            "starting tokwatch {} (pid {}, database {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            db.display()
        ));
        match &log_dir {
            Ok(d) => log(&format!("logging to {}", d.display())),
            Err(e) => daemon::warn(e),
        }
        let (config, config_state) = self.daemon_config()?;
        if let Some(e) = &config_state.error {
            daemon::warn(&format!(
                "{e}\nrunning on the last config that loaded cleanly"
            ));
        }
        for w in &config_state.warnings {
            daemon::warn(&format!("config: {w}"));
        }
        let mut state = DaemonState {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            exe: exe.map(|e| e.display().to_string()).unwrap_or_default(),
            started_ms: now_ms(),
            caught_up: false,
            config: config_state,
            log_dir: log_dir.as_ref().ok().map(|d| d.display().to_string()),
            ..DaemonState::default()
        };
        let _ = state.write(db);
        let mut ing = self.ingestor_when_writable(&config)?;
        // Each live commit stays small: the copy of the log into the database file runs beside
        // it (a checkpoint inside an append's commit was its slowest p99).
        if !ing.store.checkpoint_beside()? {
            log("checkpoints run inside the writer's commits (a second connection to the database failed)");
        }
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
        {
            let w = d.watcher();
            state.caught_up = true;
            state.watched = w.watched.iter().map(|p| p.display().to_string()).collect();
            state.polled = w
                .polled
                .iter()
                .map(|(p, why)| Polled {
                    path: p.display().to_string(),
                    why: why.clone(),
                })
                .collect();
            state.missing = w.missing.len();
        }
        let _ = state.write(db);
        let state = Arc::new(Mutex::new(state));
        // The config: read again when the file changes and on SIGHUP.
        let app = self.clone();
        let st = state.clone();
        d.set_reload(Box::new(move || app.reload_config(&st)));
        let _config_watch = watch_config(&self.env.config_file(), d.tx.clone());
        #[cfg(unix)]
        on_sighup(d.tx.clone());
        let _exe_watch = exe.and_then(|e| watch_exe(e, d.tx.clone()));
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
                    let st = state.clone();
                    sink.on_status = Some(Box::new(move |s, p| {
                        if debug {
                            match s {
                                Ok(s) => log(&format!("snapshot today ${:.4}", s.today_usd)),
                                Err(e) => log(&format!("snapshot error: {e:#}")),
                            }
                        }
                        let mut snap = TraySnapshot::of(s, p);
                        let lock = st.lock().unwrap_or_else(|p| p.into_inner());
                        snap.config_problem = lock.config.error.clone();
                        drop(lock);
                        let _ = up_tx.send(snap);
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
                                    TrayCommand::OpenDashboard => open_dashboard(&app),
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
                pricer: std::sync::Arc::new(self.pricer(&config)),
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
        // Raw-event retention: at start, then once a day while requests come in.
        let mut retention = Retention {
            app: self.clone(),
            config: config.clone(),
            last_ms: 0,
        };
        retention.run(&d.ing.store);
        d.add_sink(Box::new(retention));
        // Sync folder, Prometheus, OTLP: only what the config turns on.
        let machine = d.ing.store.local_machine()?.unwrap_or_default();
        let (live, said) =
            crate::export::Live::start(&config, &self.env, db, &d.ing.store, &machine);
        for m in &said {
            log(m);
        }
        let exports = ExportSink {
            live,
            state: state.clone(),
            db: db.clone(),
        };
        exports.publish();
        d.add_sink(Box::new(exports));
        let stop = d.run()?;
        log("stopped");
        Ok(stop)
    }

    /// Prunes the requests of `store` older than `days` days (`tokwatch prune`, the daemon's
    /// retention): this machine's requests that a turned-on sync file or OTLP exporter has not
    /// sent yet stay in full.
    pub fn prune(
        &self,
        store: &Store,
        config: &Config,
        days: u32,
        dry: bool,
    ) -> anyhow::Result<crate::store::prune::PruneStats> {
        let machine = store.local_machine()?.unwrap_or_default();
        let ledgers = crate::export::ledgers(config, &self.env, &machine);
        let before = now_ms() - i64::from(days) * 86_400_000;
        store.prune(before, &ledgers, dry)
    }

    /// The reload hook: the new config when it loads cleanly, else `None` (the last good one
    /// stays), with the outcome in the log and the state file.
    fn reload_config(&self, state: &Mutex<DaemonState>) -> Option<Config> {
        let path = self.env.config_file();
        let (text, checked) = self.check_config();
        let warnings: Vec<String> = checked.warnings().map(|p| p.to_string()).collect();
        let now = now_ms();
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.config.read_ms = now;
        let out = match checked.into_result(&path) {
            Ok(c) => {
                let good = self.last_good_config_file();
                let _ = match &text {
                    Some(t) => std::fs::write(&good, t),
                    None => std::fs::remove_file(&good),
                };
                log(&format!("config {} reloaded", path.display()));
                for w in &warnings {
                    daemon::warn(&format!("config: {w}"));
                }
                st.config.ok = true;
                st.config.error = None;
                st.config.warnings = warnings;
                st.config.loaded_ms = now;
                Some(c)
            }
            Err(e) => {
                daemon::warn(&format!(
                    "{e:#}\nkeeping the config that loaded last (at {})",
                    crate::store::query::Zone::Local.datetime(st.config.loaded_ms)
                ));
                st.config.ok = false;
                st.config.error = Some(format!("{e:#}"));
                None
            }
        };
        let _ = st.write(&self.db);
        out
    }
}

/// What [`App::ensure_daemon`] found or did.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonNow {
    /// One was running.
    Running,
    /// One was started at this time (ms).
    Started(i64),
    /// None runs and auto-start is off.
    Off,
    /// None runs and starting one failed.
    Failed(String),
}

/// Starts `tokwatch --db DB run` in the background, detached from this terminal and session;
/// its output goes to its log file.
fn spawn_daemon(db: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut c = std::process::Command::new(&exe);
    c.arg("--db")
        .arg(db)
        .arg("run")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid(2) is async-signal-safe and touches no memory of ours; it runs in the
        // child between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        c.creation_flags(DETACHED_PROCESS);
    }
    c.spawn()
        .map_err(|e| anyhow::Error::from(e).context(format!("cannot start {}", exe.display())))?;
    Ok(())
}

/// Replaces this process with `exe`, same arguments; returns only on failure.
fn restart(exe: &Path) -> anyhow::Error {
    let mut c = std::process::Command::new(exe);
    c.args(std::env::args_os().skip(1));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        anyhow::Error::from(c.exec()).context(format!("cannot start {}", exe.display()))
    }
    #[cfg(not(unix))]
    {
        match c.spawn() {
            Ok(_) => std::process::exit(0),
            Err(e) => anyhow::Error::from(e).context(format!("cannot start {}", exe.display())),
        }
    }
}

/// Sends `msg` once `rx` has been quiet for `quiet` (an editor's save, `cargo install`'s copy:
/// several events, one message when they are done).
fn debounce(
    rx: mpsc::Receiver<()>,
    quiet: Duration,
    mut ready: impl FnMut() -> Option<Msg> + Send + 'static,
    tx: mpsc::Sender<Msg>,
) {
    let _ = std::thread::Builder::new()
        .name("debounce".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                while rx.recv_timeout(quiet).is_ok() {}
                if let Some(m) = ready() {
                    if tx.send(m).is_err() {
                        return;
                    }
                }
            }
        });
}

/// Watches the directory of the config file (made if missing) and asks for a reload when the
/// file changes. `None` (and a log line) when it cannot: SIGHUP still works.
fn watch_config(file: &Path, tx: mpsc::Sender<Msg>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = file.parent()?.to_path_buf();
    let name = file.file_name()?.to_owned();
    let (hint_tx, hint_rx) = mpsc::channel::<()>();
    debounce(
        hint_rx,
        Duration::from_millis(200),
        || Some(Msg::Reload),
        tx,
    );
    let w = std::fs::create_dir_all(&dir)
        .map_err(notify::Error::io)
        .and_then(|_| {
            let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
                if let Ok(e) = r {
                    if !matches!(e.kind, notify::EventKind::Access(_))
                        && e.paths
                            .iter()
                            .any(|p| p.file_name() == Some(name.as_os_str()))
                    {
                        let _ = hint_tx.send(());
                    }
                }
            })?;
            w.watch(&dir, notify::RecursiveMode::NonRecursive)?;
            Ok(w)
        });
    match w {
        Ok(w) => Some(w),
        Err(e) => {
            daemon::warn(&format!(
                "cannot watch {} ({e}); send SIGHUP to read a changed config",
                dir.display()
            ));
            None
        }
    }
}

/// SIGHUP asks for a reload.
#[cfg(unix)]
fn on_sighup(tx: mpsc::Sender<Msg>) {
    match signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP]) {
        Ok(mut sigs) => {
            let _ = std::thread::Builder::new()
                .name("sighup".into())
                .spawn(move || {
                    for _ in sigs.forever() {
                        log("SIGHUP: reading the config again");
                        if tx.send(Msg::Reload).is_err() {
                            return;
                        }
                    }
                });
        }
        Err(e) => daemon::warn(&format!("cannot catch SIGHUP ({e})")),
    }
}

/// What identifies one version of the binary on disk.
fn exe_identity(p: &Path) -> Option<(u64, u64, Option<std::time::SystemTime>)> {
    let m = std::fs::metadata(p).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((ino, m.len(), m.modified().ok()))
}

/// Watches the directory of the running binary and asks for a restart once the file there is
/// another one (a new `cargo install`) and has stopped changing.
fn watch_exe(exe: &Path, tx: mpsc::Sender<Msg>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = exe.parent()?.to_path_buf();
    let name = exe.file_name()?.to_owned();
    let start = exe_identity(exe)?;
    let (hint_tx, hint_rx) = mpsc::channel::<()>();
    let path = exe.to_path_buf();
    debounce(
        hint_rx,
        Duration::from_millis(500),
        move || {
            let now = exe_identity(&path)?;
            // Executable, and not the file this process started from.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).ok()?.permissions().mode();
                if mode & 0o111 == 0 {
                    return None;
                }
            }
            (now != start && now.1 > 0).then_some(Msg::Restart)
        },
        tx,
    );
    let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        if let Ok(e) = r {
            if !matches!(e.kind, notify::EventKind::Access(_))
                && e.paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str()))
            {
                let _ = hint_tx.send(());
            }
        }
    })
    .ok()?;
    match w.watch(&dir, notify::RecursiveMode::NonRecursive) {
        Ok(()) => Some(w),
        Err(e) => {
            daemon::warn(&format!(
                "cannot watch {} ({e}); restart tokwatch yourself after upgrading it",
                dir.display()
            ));
            None
        }
    }
}

/// The exporters in the daemon: a reload of the config starts, stops or moves them at once;
/// what runs, and what waits for a restart, goes to the state file (`tokwatch status`).
struct ExportSink {
    live: crate::export::Live,
    state: Arc<Mutex<DaemonState>>,
    db: PathBuf,
}

impl ExportSink {
    fn publish(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.exporters = self.live.running.clone();
        st.restart_needed = self.live.pending.clone();
        let _ = st.write(&self.db);
    }
}

impl Sink for ExportSink {
    fn events(&mut self, store: &Store, evs: &[StoredEvent]) {
        self.live.events(store, evs);
    }
    fn refresh(&mut self, store: &Store) {
        self.live.refresh(store);
    }
    fn reload(&mut self, store: &Store, config: &Config) {
        for m in self.live.reconfigure(config, store) {
            if m.contains("only after a restart") || m.contains("until the daemon restarts") {
                daemon::warn(&m);
            } else {
                log(&m);
            }
        }
        self.publish();
    }
}

/// `[storage] keep_events_days` in the daemon: prunes at start and then at most once a day,
/// after a commit (no timer: an idle daemon stores nothing new to prune).
struct Retention {
    app: App,
    config: Config,
    last_ms: i64,
}

impl Retention {
    fn run(&mut self, store: &Store) {
        let Some(days) = self.config.storage.keep_days() else {
            return;
        };
        self.last_ms = now_ms();
        match self.app.prune(store, &self.config, days, false) {
            Ok(st) if st.pruned > 0 || st.held_for_exporters > 0 => log(&format!(
                "retention: pruned {} older than {days} days (totals unchanged){}",
                crate::format::count(st.pruned as i64, "request", "requests"),
                if st.held_for_exporters > 0 {
                    format!(
                        "; {} kept until the sync file or OTLP exporter has sent them",
                        st.held_for_exporters
                    )
                } else {
                    String::new()
                }
            )),
            Ok(_) => {}
            Err(e) => daemon::warn(&format!("retention: prune failed: {e:#}")),
        }
    }
}

impl Sink for Retention {
    fn events(&mut self, store: &Store, _evs: &[StoredEvent]) {
        if now_ms() - self.last_ms >= 86_400_000 {
            self.run(store);
        }
    }
    fn reload(&mut self, store: &Store, config: &Config) {
        let was = self.config.storage.keep_days();
        self.config = config.clone();
        if self.config.storage.keep_days() != was {
            self.run(store);
        }
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
    fn reload(&mut self, _store: &Store, config: &Config) {
        match Settings::from_config(config) {
            Ok(s) => self.settings = s,
            Err(e) => daemon::warn(&format!("the budgets of the new config: {e:#}")),
        }
        self.engine = AlertEngine::new(
            AlertConfig::from_config(&config.alerts),
            Some(Pricer::new(config.prices.clone())),
        );
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
fn open_dashboard(app: &App) {
    let db = &app.db;
    let Some(port) = crate::dashboard::remembered_port(db) else {
        log("the dashboard is not running (see the log above for why)");
        return;
    };
    // The address it listens on, as configured now (`[dashboard] address`).
    let addr = app
        .config()
        .ok()
        .and_then(|c| c.dashboard.address)
        .unwrap_or_else(|| crate::dashboard::DEFAULT_ADDRESS.into());
    let token = crate::dashboard::read_token(db);
    let u = crate::dashboard::url(&addr, port, token.as_deref());
    if let Err(why) = crate::dashboard::open_browser(&u) {
        log(&format!(
            "cannot open a browser ({why}): the dashboard is at {} (`tokwatch dashboard` prints the address with its token)",
            crate::dashboard::url(&addr, port, None)
        ));
    }
}
