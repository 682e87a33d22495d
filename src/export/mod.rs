//! What leaves this machine, and only when the user turns it on (`docs/sync-and-export.md`):
//! the sync folder's file ([`sync`]), the Prometheus endpoint ([`prometheus`]) and the OTLP
//! exporter ([`otlp`]). [`state`] says what is exported where and how far behind it is
//! (`doctor` prints it; `status` can).

pub mod otlp;
pub mod prometheus;
pub mod sync;

use crate::config::Config;
use crate::env::Env;
use crate::store::export::{Backlog, Ledger, MachineCount};
use crate::store::Store;
use serde::Serialize;
use std::path::Path;

/// One exporter's state.
#[derive(Debug, Clone, Serialize)]
pub struct ExporterState {
    /// `sync`, `prometheus` or `otlp`.
    pub kind: String,
    /// Where it goes (the file, the listen address, the collector's URL).
    pub target: String,
    /// Records written/acknowledged so far (sync, otlp).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<i64>,
    /// What it has yet to send (sync, otlp).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<Backlog>,
    /// Its last success, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok_ms: Option<i64>,
    /// Its last failure, if the latest attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A problem with its config (then it does not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
}

/// What this machine exports, where, and how far behind.
#[derive(Debug, Clone, Serialize)]
pub struct ExportsState {
    /// This machine's id.
    pub machine: Option<String>,
    /// Every machine whose requests the database holds.
    pub machines: Vec<MachineCount>,
    /// Each exporter turned on (empty: nothing leaves this machine).
    pub exporters: Vec<ExporterState>,
}

fn from_ledger(kind: &str, target: String, l: Option<Ledger>, store: &Store) -> ExporterState {
    let mark = l.as_ref().map(|l| l.rev).unwrap_or(0);
    ExporterState {
        kind: kind.into(),
        target,
        sent: Some(l.as_ref().map(|l| l.sent).unwrap_or(0)),
        behind: store.backlog(mark).ok(),
        last_ok_ms: l.as_ref().and_then(|l| l.last_ok_ms),
        last_error: l.and_then(|l| l.last_error),
        config_error: None,
    }
}

/// The exporters `config` turns on and their ledgers in the database `store` (read-only).
pub fn state(config: &Config, env: &Env, store: &Store) -> anyhow::Result<ExportsState> {
    let machine = store.local_machine()?;
    let mut exporters = Vec::new();
    if let (Some(dir), Some(m)) = (config.sync.dir(&env.home), machine.as_deref()) {
        let file = crate::registry::sync::own_file(&dir, m);
        let l = store.ledger_read(&sync::ledger_name(&file))?;
        exporters.push(from_ledger("sync", file.display().to_string(), l, store));
    }
    if let Some(p) = config.export.prometheus_on() {
        exporters.push(ExporterState {
            kind: "prometheus".into(),
            target: format!(
                "http://{}/metrics",
                p.listen.as_deref().unwrap_or(prometheus::DEFAULT_LISTEN)
            ),
            sent: None,
            behind: None,
            last_ok_ms: None,
            last_error: None,
            config_error: None,
        });
    }
    if let Some(o) = config.export.otlp_on() {
        match otlp::settings(o, env, machine.as_deref().unwrap_or_default()) {
            Ok(st) => {
                let l = store.ledger_read(&otlp::ledger_name(&st.logs_url))?;
                exporters.push(from_ledger("otlp", st.logs_url.clone(), l, store));
            }
            Err(e) => exporters.push(ExporterState {
                kind: "otlp".into(),
                target: String::new(),
                sent: None,
                behind: None,
                last_ok_ms: None,
                last_error: None,
                config_error: Some(format!("{e:#}")),
            }),
        }
    }
    Ok(ExportsState {
        machine,
        machines: store.machines()?,
        exporters,
    })
}

/// The sent-ledgers of the exporters `config` turns on that send requests one by one (the
/// sync file, OTLP): a prune keeps this machine's requests they have not sent yet.
pub fn ledgers(config: &Config, env: &Env, machine: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(dir) = config.sync.dir(&env.home) {
        v.push(sync::ledger_name(&crate::registry::sync::own_file(
            &dir, machine,
        )));
    }
    if let Some(o) = config.export.otlp_on() {
        if let Ok(st) = otlp::settings(o, env, machine) {
            v.push(otlp::ledger_name(&st.logs_url));
        }
    }
    v
}

/// The exporters a running daemon keeps (the sync file's writer, the `/metrics` endpoint, the
/// OTLP exporter), as one sink: each commit goes to the sync file and wakes the OTLP exporter,
/// and a config reload (`Live::reload`) starts, stops or restarts each one whose section
/// changed, without a daemon restart.
pub struct Live {
    env: Env,
    db: std::path::PathBuf,
    machine: String,
    /// The sections in effect: `[sync] dir`, `[export.prometheus]`, `[export.otlp]` (when on).
    sync_dir: Option<std::path::PathBuf>,
    prom_cfg: Option<crate::config::exporters::PrometheusConfig>,
    otlp_cfg: Option<crate::config::exporters::OtlpConfig>,
    /// The folder whose other machines' files the daemon reads (fixed at its start: its log
    /// sources are).
    sync_read: Option<std::path::PathBuf>,
    sync: Option<sync::SyncWriter>,
    prom: Option<prometheus::Endpoint>,
    otlp: Option<otlp::Handle>,
    otlp_wake: Option<otlp::WakeSink>,
    /// One line per exporter that runs, for the log and `status`.
    pub running: Vec<String>,
    /// Config changes that take effect only at the daemon's next start, each said once in the
    /// log and kept for `status`.
    pub pending: Vec<String>,
}

/// How long a moved `/metrics` waits for its old socket to be closed before it gives up.
const REBIND_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Live {
    /// Starts every exporter `config` turns on for the daemon writing `store` (the database
    /// `db`): the sync file is brought up to date at once, the Prometheus endpoint listens, the
    /// OTLP exporter starts sending what its ledger has not acknowledged. An exporter that
    /// cannot start (an address in use, a protocol tokwatch does not speak) is said in
    /// the returned lines and left out: the daemon still reads and stores every log. Returns
    /// the exporters and one line each for the log.
    pub fn start(
        config: &Config,
        env: &Env,
        db: &Path,
        store: &Store,
        machine: &str,
    ) -> (Live, Vec<String>) {
        let mut l = Live {
            env: env.clone(),
            db: db.to_path_buf(),
            machine: machine.to_string(),
            sync_dir: None,
            prom_cfg: None,
            otlp_cfg: None,
            sync_read: config.sync.dir(&env.home),
            sync: None,
            prom: None,
            otlp: None,
            otlp_wake: None,
            running: Vec::new(),
            pending: Vec::new(),
        };
        let said = l.apply(config, store, true);
        (l, said)
    }

    /// Takes the exporter sections of a config that was read again: each one that changed is
    /// stopped and started with its new settings. Returns what it did, one line each, for the
    /// log (empty: no exporter section changed).
    pub fn reconfigure(&mut self, config: &Config, store: &Store) -> Vec<String> {
        self.apply(config, store, false)
    }

    fn apply(&mut self, config: &Config, store: &Store, first: bool) -> Vec<String> {
        let mut said = Vec::new();
        let sync_dir = config.sync.dir(&self.env.home);
        if first || sync_dir != self.sync_dir {
            self.sync = None;
            match &sync_dir {
                Some(dir) => {
                    let mut w = sync::SyncWriter::new(dir.clone(), &self.machine);
                    let n = w.flush(store).unwrap_or(0);
                    said.push(format!(
                        "sync: this machine's requests go to {} ({n} appended now){}",
                        w.file.display(),
                        if sync_dir == self.sync_read {
                            "; the other machines' files there are read"
                        } else {
                            ""
                        }
                    ));
                    self.sync = Some(w);
                }
                None if !first => {
                    said.push("sync: this machine's file is no longer written".into())
                }
                None => {}
            }
            self.sync_dir = sync_dir.clone();
            // The other machines' files are log sources, fixed when the daemon started.
            self.pending.retain(|p| !p.starts_with("sync:"));
            if sync_dir != self.sync_read {
                let msg = match (&sync_dir, &self.sync_read) {
                    (Some(d), _) => format!(
                        "sync: the other machines' files in {} are read only after a restart of the daemon",
                        d.display()
                    ),
                    (None, Some(d)) => format!(
                        "sync: the other machines' files in {} are still read until the daemon restarts",
                        d.display()
                    ),
                    (None, None) => unreachable!(),
                };
                said.push(msg.clone());
                self.pending.push(msg);
            }
        }
        let prom_cfg = config.export.prometheus_on().cloned();
        if first || prom_cfg != self.prom_cfg {
            let was = self.prom.take().map(|p| p.addr);
            match &prom_cfg {
                Some(p) => {
                    let listen = p.listen.as_deref().unwrap_or(prometheus::DEFAULT_LISTEN);
                    let started = std::time::Instant::now();
                    let r = loop {
                        match prometheus::spawn(self.db.clone(), listen, p.into()) {
                            // The old socket closes on the endpoint's own thread: a moment.
                            Err(_) if was.is_some() && started.elapsed() < REBIND_WAIT => {
                                std::thread::sleep(std::time::Duration::from_millis(50))
                            }
                            r => break r,
                        }
                    };
                    match r {
                        Ok(ep) => {
                            said.push(format!("prometheus: metrics at http://{}/metrics", ep.addr));
                            self.prom = Some(ep);
                        }
                        Err(e) => said.push(format!("prometheus: not started: {e:#}")),
                    }
                }
                None => {
                    if let Some(a) = was {
                        said.push(format!(
                            "prometheus: stopped (no longer serving http://{a}/metrics)"
                        ));
                    }
                }
            }
            self.prom_cfg = prom_cfg;
        }
        let otlp_cfg = config.export.otlp_on().cloned();
        if first || otlp_cfg != self.otlp_cfg {
            // Dropping the handle and its wake sink ends the exporter's thread (after a send in
            // progress); what it had not acknowledged is in its ledger for the next one.
            let was = self.otlp.take().is_some();
            self.otlp_wake = None;
            match &otlp_cfg {
                Some(o) => match otlp::settings(o, &self.env, &self.machine)
                    .and_then(|st| Ok((st.logs_url.clone(), otlp::spawn(self.db.clone(), st)?)))
                {
                    Ok((url, h)) => {
                        said.push(format!("otlp: sending to {url}"));
                        self.otlp_wake = Some(h.sink());
                        self.otlp = Some(h);
                    }
                    Err(e) => said.push(format!("otlp: not started: {e:#}")),
                },
                None if was => said.push("otlp: stopped".into()),
                None => {}
            }
            self.otlp_cfg = otlp_cfg;
        }
        let mut running = Vec::new();
        if let Some(w) = &self.sync {
            running.push(format!("sync: {}", w.file.display()));
        }
        if let Some(p) = &self.prom {
            running.push(format!("prometheus: http://{}/metrics", p.addr));
        }
        if let Some(o) = &self.otlp {
            running.push(format!("otlp: {}", o.ledger.trim_start_matches("otlp:")));
        }
        self.running = running;
        said
    }
}

impl crate::daemon::Sink for Live {
    fn events(&mut self, store: &Store, evs: &[crate::store::StoredEvent]) {
        if let Some(w) = &mut self.sync {
            w.events(store, evs);
        }
        if let Some(o) = &mut self.otlp_wake {
            o.events(store, evs);
        }
    }
    fn refresh(&mut self, store: &Store) {
        if let Some(w) = &mut self.sync {
            w.refresh(store);
        }
    }
    fn reload(&mut self, store: &Store, config: &Config) {
        for m in self.reconfigure(config, store) {
            crate::daemon::log(&m);
        }
    }
}

/// The text `doctor` prints for `s`.
pub fn render(s: &ExportsState) -> String {
    let mut o = String::new();
    if let Some(m) = &s.machine {
        o.push_str(&format!("this machine: {m}\n"));
    }
    if s.machines.len() > 1 {
        for m in &s.machines {
            o.push_str(&format!(
                "    {} recorded on {}{}\n",
                crate::format::count(m.requests, "request", "requests"),
                m.id,
                if m.this_machine {
                    " (this machine)"
                } else {
                    ""
                }
            ));
        }
    }
    if s.exporters.is_empty() {
        o.push_str("exports: none (nothing leaves this machine; see docs/sync-and-export.md)\n");
    }
    for e in &s.exporters {
        o.push_str(&format!("export {}: {}\n", e.kind, e.target));
        if let Some(c) = &e.config_error {
            o.push_str(&format!("    not running: {c}\n"));
            continue;
        }
        if let Some(n) = e.sent {
            let behind = match e.behind {
                Some(b) if b.records > 0 => format!(
                    "{} not sent yet, the oldest from {}",
                    crate::format::int(b.records),
                    b.oldest_ms
                        .map(|ms| crate::store::query::Zone::Local.datetime(ms))
                        .unwrap_or_default()
                ),
                Some(_) => "up to date".into(),
                None => "backlog unknown".into(),
            };
            o.push_str(&format!(
                "    {} sent, {behind}{}\n",
                crate::format::int(n),
                e.last_ok_ms
                    .map(|ms| format!(
                        ", last success {}",
                        crate::store::query::Zone::Local.datetime(ms)
                    ))
                    .unwrap_or_default()
            ));
        }
        if let Some(err) = &e.last_error {
            o.push_str(&format!("    last attempt failed: {err}\n"));
        }
    }
    o
}
