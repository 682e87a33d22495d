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

/// The exporters a running daemon keeps: the sinks it hands new requests to.
pub struct Running {
    /// Sinks to add to the daemon.
    pub sinks: Vec<Box<dyn crate::daemon::Sink>>,
    /// What started, for the log.
    pub started: Vec<String>,
}

/// Starts every exporter `config` turns on for the daemon writing `store` (the database `db`):
/// the sync file is brought up to date at once, the Prometheus endpoint listens, the OTLP
/// exporter starts sending what its ledger has not acknowledged. An exporter that cannot start
/// (an address in use, a protocol tokwatch does not speak) is said in `started` and left out:
/// the daemon still reads and stores every log.
pub fn start(config: &Config, env: &Env, db: &Path, store: &Store, machine: &str) -> Running {
    let mut r = Running {
        sinks: Vec::new(),
        started: Vec::new(),
    };
    if let Some(dir) = config.sync.dir(&env.home) {
        let mut w = sync::SyncWriter::new(dir, machine);
        let n = w.flush(store).unwrap_or(0);
        r.started.push(format!(
            "sync: this machine's requests go to {} ({n} appended now); the other machines' files there are read",
            w.file.display()
        ));
        r.sinks.push(Box::new(w));
    }
    if let Some(p) = config.export.prometheus_on() {
        let listen = p.listen.as_deref().unwrap_or(prometheus::DEFAULT_LISTEN);
        match prometheus::spawn(db.to_path_buf(), listen, p.into()) {
            Ok(ep) => r
                .started
                .push(format!("prometheus: metrics at http://{}/metrics", ep.addr)),
            Err(e) => r.started.push(format!("prometheus: not started: {e:#}")),
        }
    }
    if let Some(o) = config.export.otlp_on() {
        match otlp::settings(o, env, machine)
            .and_then(|st| Ok((st.logs_url.clone(), otlp::spawn(db.to_path_buf(), st)?)))
        {
            Ok((url, h)) => {
                r.started.push(format!("otlp: sending to {url}"));
                r.sinks.push(Box::new(h.sink()));
            }
            Err(e) => r.started.push(format!("otlp: not started: {e:#}")),
        }
    }
    r
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
