//! The live feed: one JSON line per stored request, pushed to local clients (`tokwatch watch`)
//! over a Unix socket as soon as its transaction commits.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the live views show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedEvent {
    pub ts_ms: i64,
    /// True when this replaces an earlier line of the same request (final streaming numbers).
    #[serde(default)]
    pub updated: bool,
    pub tool: String,
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub model: Option<String>,
    pub session: Option<String>,
    pub input: i64,
    pub cache_write: i64,
    pub cache_read: i64,
    pub output: i64,
    /// `None` = unpriced.
    pub cost_usd: Option<f64>,
    pub session_cost_usd: f64,
    pub session_has_unpriced: bool,
    pub today_cost_usd: f64,
    pub today_has_unpriced: bool,
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
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    #[cfg(unix)]
    let uid = unsafe_free_uid();
    #[cfg(not(unix))]
    let uid = 0;
    dir.join(format!("tokwatch-{uid}-{:08x}.sock", h as u32))
}

#[cfg(unix)]
fn unsafe_free_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
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
