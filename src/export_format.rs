//! tokwatch's own export format (`tokwatch export`, the sync folder's `<machine-id>.jsonl`): one
//! stored request per line, metadata only, as JSON lines or CSV (`docs/sync-and-export.md`).
//! The store writes records, the export parser reads them back ([`crate::parser::export`]), the
//! exporters send them: the format sits below all three.

use crate::event::CostSource;
use serde::{Deserialize, Serialize};

/// The version every record is written with (`"v"`).
pub const VERSION: u32 = 1;

/// One exported request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The machine that recorded the request.
    pub machine: String,
    /// That machine's change number of this request.
    pub rev: i64,
    /// The stored identity: the key hash of (tool, dedup key), 16 lowercase hex digits.
    pub key: String,
    /// Tool id (`claude-code`, `codex`, ...).
    pub tool: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// The same instant as RFC 3339 text, for people (ignored when read back).
    #[serde(default)]
    pub time: String,
    /// Model as logged.
    pub model: Option<String>,
    /// Provider as logged.
    pub provider: Option<String>,
    /// The tool's session id.
    pub session: Option<String>,
    /// Repository identity (normalized remote URL, or the root path without a remote).
    pub repo: Option<String>,
    /// Repository display name.
    pub repo_name: Option<String>,
    /// Normalized remote of the repository.
    pub repo_remote: Option<String>,
    /// Git branch.
    pub branch: Option<String>,
    /// Uncached input tokens.
    pub input: i64,
    /// Cache writes, 5-minute TTL.
    pub cache_write_5m: i64,
    /// Cache writes, 1-hour TTL.
    pub cache_write_1h: i64,
    /// Cache reads.
    pub cache_read: i64,
    /// Output tokens (reasoning included).
    pub output: i64,
    /// Reasoning tokens (inside output).
    pub reasoning: i64,
    /// API requests this record stands for.
    pub requests: i64,
    /// Cost in USD; absent (empty) = unpriced, never 0 for an unknown price.
    pub cost_usd: Option<f64>,
    /// `computed`, `reported`, `estimated` or `unpriced`.
    pub cost_source: CostSource,
    /// The price entry used.
    pub price_key: Option<String>,
    /// Message id (Claude Code's sidechain rule).
    pub msg_id: Option<String>,
    /// The record came from a sidechain.
    pub sidechain: bool,
    /// The request's estimated context split in the stored form (`s=1200;u=40;r.Read=3000`,
    /// [`crate::event::Composition::encode`]): numbers and tool names only. Absent in files
    /// written before it and for requests without a split.
    #[serde(default)]
    pub ctx: Option<String>,
}

/// The CSV header, in [`Record`]'s field order.
pub const CSV_COLUMNS: &[&str] = &[
    "v",
    "machine",
    "rev",
    "key",
    "tool",
    "ts",
    "time",
    "model",
    "provider",
    "session",
    "repo",
    "repo_name",
    "repo_remote",
    "branch",
    "input",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "output",
    "reasoning",
    "requests",
    "cost_usd",
    "cost_source",
    "price_key",
    "msg_id",
    "sidechain",
    "ctx",
];

/// The key hash as export files write it.
pub fn key_text(key_hash: i64) -> String {
    format!("{:016x}", key_hash as u64)
}

/// A machine id is a file name in the sync folder: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting
/// with a dot or a dash.
pub fn valid_machine_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Record {
    /// The record as one JSON line (without its newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record serializes")
    }

    /// Writes the record as one CSV row. CSV is for spreadsheets: a line break inside a value
    /// (which no tool's model, branch or session name holds in practice) is written as a space so
    /// every record stays one line; JSON lines keep every value as it is.
    pub fn write_csv<W: std::io::Write>(&self, w: &mut csv::Writer<W>) -> csv::Result<()> {
        let mut r = self.clone();
        for s in [
            &mut r.model,
            &mut r.provider,
            &mut r.session,
            &mut r.repo,
            &mut r.repo_name,
            &mut r.repo_remote,
            &mut r.branch,
            &mut r.price_key,
            &mut r.msg_id,
        ]
        .into_iter()
        .flatten()
        {
            if s.contains(['\n', '\r']) {
                *s = s.replace(['\n', '\r'], " ");
            }
        }
        w.serialize(r)
    }
}
