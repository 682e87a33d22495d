//! The live feed: one JSON line per stored request, pushed to local clients (`tokwatch watch`)
//! over a Unix socket as soon as its transaction commits.

use crate::store::query::{Cost, Scope};
use crate::store::{Store, StoredEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the live views show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedEvent {
    /// Time of the request, ms since the epoch.
    pub ts_ms: i64,
    /// True when this replaces an earlier line of the same request (final streaming numbers).
    #[serde(default)]
    pub updated: bool,
    /// Tool id.
    pub tool: String,
    /// Repository display name.
    pub repo: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Session id.
    pub session: Option<String>,
    /// Uncached input tokens.
    pub input: i64,
    /// Cache-write tokens (both TTLs).
    pub cache_write: i64,
    /// Cache-read tokens.
    pub cache_read: i64,
    /// Output tokens.
    pub output: i64,
    /// `None` = unpriced.
    pub cost_usd: Option<f64>,
    /// The session's cost so far (`None` when it could not be read).
    pub session_cost_usd: Option<f64>,
    /// The session's cost leaves out unpriced usage.
    pub session_has_unpriced: bool,
    /// Today's cost so far (`None` when it could not be read).
    pub today_cost_usd: Option<f64>,
    /// Today's cost leaves out unpriced usage.
    pub today_has_unpriced: bool,
    /// A sidechain (subagent) request: its model is not the session's own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sidechain: bool,
}

/// Feed lines for stored events, with running session and day totals (a total that cannot be
/// read is `None`, shown as an error, never as `$0`).
pub fn feed_events(store: &Store, evs: &[StoredEvent]) -> Vec<FeedEvent> {
    let today = store
        .cost(Scope::Since(crate::status::start_of_today()))
        .ok();
    let mut sessions: HashMap<String, Option<Cost>> = HashMap::new();
    evs.iter()
        .map(|se| {
            let e = &se.ev;
            let session = match &e.session_id {
                Some(s) => *sessions
                    .entry(s.clone())
                    .or_insert_with(|| store.cost(Scope::Session(s)).ok()),
                None => Some(Cost::default()),
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
                session_cost_usd: session.map(|c| c.usd),
                session_has_unpriced: session.is_some_and(|c| c.has_unpriced),
                today_cost_usd: today.map(|c| c.usd),
                today_has_unpriced: today.is_some_and(|c| c.has_unpriced),
                sidechain: e.sidechain,
            }
        })
        .collect()
}

/// Where the daemon for `db` listens: in `$XDG_RUNTIME_DIR` (else the temp dir), named by a
/// hash of the database path so several databases can each have a daemon.
pub fn socket_path(db: &Path) -> PathBuf {
    let canon = db
        .canonicalize()
        .unwrap_or_else(|_| db.to_path_buf())
        .to_string_lossy()
        .into_owned();
    let h = crate::tailer::fnv1a(canon.as_bytes()) as u64;
    let dir = crate::env::Env::from_process().runtime_dir();
    dir.join(format!(
        "tokwatch-{}-{:08x}.sock",
        crate::env::uid(),
        h as u32
    ))
}

/// Accepts clients and broadcasts lines to them. A client that cannot keep up is dropped
/// rather than slowing ingest.
#[derive(Clone, Default)]
pub struct Broadcaster {
    #[cfg(unix)]
    clients: Arc<Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl Broadcaster {
    /// Starts listening at `path` (a stale socket file is replaced).
    #[cfg(unix)]
    pub fn listen(path: &Path) -> anyhow::Result<Broadcaster> {
        use std::os::unix::net::UnixListener;
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let b = Broadcaster::default();
        let clients = b.clients.clone();
        std::thread::Builder::new()
            .name("feed-accept".into())
            .spawn(move || {
                for s in l.incoming().flatten() {
                    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                    clients.lock().unwrap().push(s);
                    super::log("a live-feed client connected");
                }
            })?;
        Ok(b)
    }

    /// Sends events to every connected client.
    #[cfg(unix)]
    pub fn send(&self, events: &[FeedEvent]) {
        let mut clients = self.clients.lock().unwrap();
        if clients.is_empty() {
            return;
        }
        let mut buf = Vec::new();
        for e in events {
            if serde_json::to_writer(&mut buf, e).is_ok() {
                buf.push(b'\n');
            }
        }
        clients.retain_mut(|c| c.write_all(&buf).is_ok());
    }

    #[cfg(not(unix))]
    pub fn listen(_path: &Path) -> anyhow::Result<Broadcaster> {
        Ok(Broadcaster::default())
    }
    #[cfg(not(unix))]
    pub fn send(&self, _events: &[FeedEvent]) {}
}
