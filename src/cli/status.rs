//! `tokwatch status`: is the daemon running (pid, version, since when), what it follows and
//! what it polls (and why), the last event stored and how far behind the logs it is, the
//! database and its size, alerts held back, the config in use and whether it loaded, the log
//! file. Exit 0 when all is well, 1 when something needs the user.

use super::output::{bold, int};
use crate::app::App;
use crate::daemon::lock::InstanceLock;
use crate::daemon::logging;
use crate::daemon::state::{DaemonState, Polled};
use crate::store::query::Zone;
use crate::store::{now_ms, Store};
use serde::Serialize;
use std::path::Path;

/// The daemon part of `status`.
#[derive(Debug, Serialize)]
pub struct DaemonInfo {
    /// A daemon holds the database's lock.
    pub running: bool,
    /// Its pid.
    pub pid: Option<u32>,
    /// Its version.
    pub version: Option<String>,
    /// Its binary.
    pub exe: Option<String>,
    /// Local time it started.
    pub since: Option<String>,
    /// It has read everything written before it started.
    pub caught_up: bool,
    /// The newest log file.
    pub log_file: Option<String>,
}

/// What `status` reports.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Nothing needs the user.
    pub ok: bool,
    /// What needs the user, each with what to do.
    pub needs_attention: Vec<String>,
    /// The daemon.
    pub daemon: DaemonInfo,
    /// Roots followed with notifications (as the daemon reported them).
    pub watched: Vec<String>,
    /// Roots polled, and why.
    pub polled: Vec<Polled>,
    /// Roots that do not exist yet.
    pub missing_roots: usize,
    /// Local time of the newest event stored.
    pub last_event: Option<String>,
    /// Log bytes not read into the database yet.
    pub behind_bytes: u64,
    /// Files they are in.
    pub behind_files: usize,
    /// The database file.
    pub database: String,
    /// Its size with its write-ahead log, bytes.
    pub database_bytes: u64,
    /// Requests stored.
    pub requests: Option<i64>,
    /// The database cannot be read: why.
    pub database_problem: Option<String>,
    /// Alerts of the last 24 hours held back (alerts paused).
    pub alerts_held: usize,
    /// Alerts of the last 24 hours.
    pub alerts_today: usize,
    /// The config file.
    pub config_file: String,
    /// It exists.
    pub config_exists: bool,
    /// It loads cleanly now.
    pub config_ok: bool,
    /// Its errors.
    pub config_errors: Vec<String>,
    /// Its warnings (unknown keys).
    pub config_warnings: Vec<String>,
    /// The running daemon runs on the last good config, not the file's.
    pub daemon_on_last_good_config: bool,
    /// What is exported where and how far behind (sync folder, Prometheus, OTLP; empty
    /// `exporters`: nothing leaves this machine), `docs/sync-and-export.md`.
    pub exports: Option<crate::export::ExportsState>,
    /// The exporters the running daemon runs now (it takes `[export.*]` and `[sync]` changes
    /// when the config is read again).
    pub daemon_exporting: Vec<String>,
    /// Config changes the running daemon takes only when it restarts.
    pub restart_needed: Vec<String>,
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Gathers the report.
pub fn gather(app: &App) -> StatusReport {
    let db = &app.db;
    let mut needs = Vec::new();
    let pid = InstanceLock::holder(db);
    let running = InstanceLock::is_held(db);
    let st = DaemonState::read(db).filter(|s| running && pid.is_none_or(|p| p == s.pid));
    let log_dir = st
        .as_ref()
        .and_then(|s| s.log_dir.clone())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| app.env.log_dir());
    let daemon = DaemonInfo {
        running,
        pid: pid.or(st.as_ref().map(|s| s.pid)),
        version: st.as_ref().map(|s| s.version.clone()),
        exe: st.as_ref().map(|s| s.exe.clone()),
        since: st.as_ref().map(|s| Zone::Local.datetime(s.started_ms)),
        caught_up: st.as_ref().is_some_and(|s| s.caught_up),
        log_file: logging::newest_file(&log_dir).map(|p| p.display().to_string()),
    };
    if !running {
        needs.push(
            "the daemon is not running: `tokwatch install` starts it now and at every login (or run `tokwatch`)"
                .into(),
        );
    }
    let wal = {
        let mut p = db.as_os_str().to_owned();
        p.push("-wal");
        std::path::PathBuf::from(p)
    };
    let mut r = StatusReport {
        ok: true,
        needs_attention: Vec::new(),
        watched: st.as_ref().map(|s| s.watched.clone()).unwrap_or_default(),
        polled: st.as_ref().map(|s| s.polled.clone()).unwrap_or_default(),
        missing_roots: st.as_ref().map(|s| s.missing).unwrap_or(0),
        daemon,
        last_event: None,
        behind_bytes: 0,
        behind_files: 0,
        database: db.display().to_string(),
        database_bytes: file_size(db) + file_size(&wal),
        requests: None,
        database_problem: None,
        alerts_held: 0,
        alerts_today: 0,
        config_file: app.env.config_file().display().to_string(),
        config_exists: app.env.config_file().exists(),
        config_ok: true,
        config_errors: Vec::new(),
        config_warnings: Vec::new(),
        daemon_on_last_good_config: st.as_ref().is_some_and(|s| !s.config.ok),
        exports: None,
        daemon_exporting: st.as_ref().map(|s| s.exporters.clone()).unwrap_or_default(),
        restart_needed: st
            .as_ref()
            .map(|s| s.restart_needed.clone())
            .unwrap_or_default(),
    };
    match Store::open_reader(db) {
        Ok(store) => {
            r.last_event = store
                .last_event_ms()
                .ok()
                .flatten()
                .map(|ms| Zone::Local.datetime(ms));
            r.requests = store.counts().ok().map(|c| c.0);
            if let Ok(cfg) = app.config() {
                r.exports = crate::export::state(&cfg, &app.env, &store).ok();
            }
            let (bytes, files) = app.behind(&store);
            r.behind_bytes = bytes;
            r.behind_files = files;
            if let Ok(alerts) = store.alerts(now_ms() - 86_400_000) {
                r.alerts_today = alerts.len();
                r.alerts_held = alerts.iter().filter(|a| a.delivery == "paused").count();
            }
            // A running daemon reads new bytes as they come; a gap only matters without one.
            if !running && bytes > 0 {
                needs.push(format!(
                    "{} of logs in {} files are not read yet (the daemon reads them; `tokwatch scan` does once)",
                    indicatif::HumanBytes(bytes),
                    files
                ));
            }
        }
        Err(e) => {
            let m = format!("{e:#}");
            if !m.contains("no database") && db.exists() {
                needs.push(format!("the database cannot be read: {m}"));
            }
            r.database_problem = Some(m);
        }
    }
    let (_, checked) = app.check_config();
    r.config_errors = checked.errors().map(|p| p.to_string()).collect();
    r.config_warnings = checked.warnings().map(|p| p.to_string()).collect();
    r.config_ok = r.config_errors.is_empty();
    if !r.config_ok {
        needs.push(format!(
            "the config file does not load ({}){}: `tokwatch config check` shows every problem",
            r.config_errors.join("; "),
            if r.daemon_on_last_good_config {
                "; the daemon runs on the last config that loaded"
            } else {
                ""
            }
        ));
    }
    for m in &r.restart_needed {
        needs.push(format!(
            "{m}: restart the daemon to take this change (stop it and start `tokwatch`)"
        ));
    }
    r.ok = needs.is_empty();
    r.needs_attention = needs;
    r
}

/// Prints the report; exit 0 when all is well, 1 when something needs the user.
pub fn run(app: &App, json: bool) -> anyhow::Result<i32> {
    let r = gather(app);
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render(app, &r));
    }
    Ok(if r.ok {
        super::EXIT_OK
    } else {
        super::EXIT_ERROR
    })
}

fn render(app: &App, r: &StatusReport) -> String {
    let short = |p: &str| app.env.short(Path::new(p));
    let mut o = String::new();
    let d = &r.daemon;
    if d.running {
        o += &format!(
            "{} running, pid {}, version {}, since {}{}\n",
            bold("daemon"),
            d.pid.map(|p| p.to_string()).unwrap_or("?".into()),
            d.version.as_deref().unwrap_or("?"),
            d.since.as_deref().unwrap_or("?"),
            if d.caught_up { "" } else { " (catching up)" }
        );
    } else {
        o += &format!("{} not running\n", bold("daemon"));
    }
    if let Some(l) = &d.log_file {
        o += &format!("  log        {}\n", short(l));
    }
    if d.running {
        o += &format!(
            "  follows    {} log directories with notifications, {} polled, {} not there yet\n",
            r.watched.len(),
            r.polled.len(),
            r.missing_roots
        );
        for p in &r.polled {
            o += &format!("    polled   {} ({})\n", short(&p.path), p.why);
        }
        for e in &r.daemon_exporting {
            o += &format!("  exporting  {e}\n");
        }
        for e in &r.restart_needed {
            o += &format!("  restart    needed: {e}\n");
        }
    }
    o += &format!(
        "{} {} ({}{})\n",
        bold("database"),
        short(&r.database),
        indicatif::HumanBytes(r.database_bytes),
        r.requests
            .map(|n| format!(", {} requests", int(n)))
            .unwrap_or_default()
    );
    if let Some(p) = &r.database_problem {
        o += &format!("  {p}\n");
    }
    o += &format!(
        "  last event {}\n",
        r.last_event.as_deref().unwrap_or("none")
    );
    o += &format!(
        "  behind     {}\n",
        if r.behind_bytes == 0 {
            "nothing: every log is read".to_string()
        } else {
            format!(
                "{} in {} files",
                indicatif::HumanBytes(r.behind_bytes),
                r.behind_files
            )
        }
    );
    o += &format!(
        "  alerts     {} in the last 24 h, {} held back (paused)\n",
        r.alerts_today, r.alerts_held
    );
    o += &format!(
        "{} {} ({})\n",
        bold("config"),
        short(&r.config_file),
        if !r.config_exists {
            "none: defaults".to_string()
        } else if r.config_ok && r.config_warnings.is_empty() {
            "loads cleanly".to_string()
        } else if r.config_ok {
            "loads, with warnings".to_string()
        } else if r.daemon_on_last_good_config {
            "does not load: the daemon runs on the last good one".to_string()
        } else {
            "does not load".to_string()
        }
    );
    for e in r.config_errors.iter().chain(&r.config_warnings) {
        o += &format!("  {e}\n");
    }
    if let Some(x) = &r.exports {
        o += &crate::export::render(x);
    }
    if r.ok {
        o += "All is well.\n";
    } else {
        o += &format!("{}\n", bold("Needs you:"));
        for n in &r.needs_attention {
            o += &format!("  - {n}\n");
        }
    }
    o
}
