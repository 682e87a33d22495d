//! What a running daemon tells the other commands about itself (`tokwatch status`, the
//! statusline, `doctor`): a small JSON file beside the database, `<db>.daemon.json`, rewritten
//! whole (write, then rename) when something in it changes. Whether a daemon runs at all is
//! the instance lock's to say, never this file's.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A polled root and why it is polled.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Polled {
    /// The root.
    pub path: String,
    /// Why notifications are not used there.
    pub why: String,
}

/// How the config file loaded, as the daemon last read it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigState {
    /// The file.
    pub path: String,
    /// The last read loaded cleanly (warnings allowed).
    pub ok: bool,
    /// When not: what is wrong (the daemon keeps running on the last good config).
    pub error: Option<String>,
    /// Warnings of the config in use (unknown keys).
    pub warnings: Vec<String>,
    /// When the config in use was loaded (ms since the epoch).
    pub loaded_ms: i64,
    /// When the file was last read (ms since the epoch).
    pub read_ms: i64,
}

/// The daemon's state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonState {
    /// Its process id.
    pub pid: u32,
    /// Its version.
    pub version: String,
    /// The binary it runs.
    pub exe: String,
    /// When it started (ms since the epoch).
    pub started_ms: i64,
    /// Everything written before it started is read.
    pub caught_up: bool,
    /// Roots followed by notifications.
    pub watched: Vec<String>,
    /// Roots polled, with the reason.
    pub polled: Vec<Polled>,
    /// Roots that do not exist yet (picked up when they appear).
    pub missing: usize,
    /// The config.
    pub config: ConfigState,
    /// Directory of its log files.
    pub log_dir: Option<String>,
    /// The exporters it runs now (sync file, `/metrics`, OTLP), one line each.
    #[serde(default)]
    pub exporters: Vec<String>,
    /// Config changes it could not take without a restart, each with what stays as it was.
    #[serde(default)]
    pub restart_needed: Vec<String>,
}

/// `<db>.daemon.json`.
pub fn path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".daemon.json");
    PathBuf::from(p)
}

impl DaemonState {
    /// Writes the state file of `db` (whole, by rename).
    pub fn write(&self, db: &Path) -> std::io::Result<()> {
        let p = path(db);
        let mut tmp = p.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &p)
    }

    /// The state file of `db`, if there is one that can be read.
    pub fn read(db: &Path) -> Option<DaemonState> {
        serde_json::from_slice(&std::fs::read(path(db)).ok()?).ok()
    }
}
