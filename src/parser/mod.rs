//! Parsers turn the bytes of one tool's log into [`UsageEvent`]s. They know nothing of SQLite,
//! pricing or the tray.
//!
//! Three shapes of source exist:
//! - [`Format::Lines`]: append-only line logs (JSONL, markdown). The tailer hands over complete
//!   lines only; per-file state (current model, cumulative counters) lives in [`FileState`] and
//!   is checkpointed in the same transaction as the events it produced.
//! - [`Format::WholeFile`]: documents rewritten in place (whole-file JSON). Re-parsed whole when
//!   they change; stable dedup keys make that idempotent.
//! - [`Format::Sqlite`]: databases owned by another program. Opened read-only, never locked.

pub mod claude;
pub mod claude_ctx;
pub mod codex;
pub mod codex_ctx;
pub mod context;
pub mod crush;
pub mod cursor;
pub mod export;
pub mod opencode;
pub mod opencode_ctx;
pub mod sqlite_ro;

use crate::event::UsageEvent;
use std::path::Path;

pub use crate::tailer::FileState;

/// How a source's files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Append-only line logs, read a complete line at a time.
    Lines,
    /// Documents rewritten in place, re-parsed whole when they change.
    WholeFile,
    /// SQLite databases of another program, opened read-only.
    Sqlite,
}

/// Why a record could not be used. Never contains log text (privacy): only a description.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's own messages can quote the offending value (log text): keep only the
        // category and position.
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax => "invalid JSON",
            Category::Eof => "JSON cut short",
            Category::Data => "a field has the wrong type",
            Category::Io => "read error",
        };
        ParseError(format!("{what} at column {}", e.column()))
    }
}

/// Outcome of parsing a whole file or database.
#[derive(Debug, Default, Clone)]
pub struct WholeReport {
    /// Records that were skipped because they were malformed.
    pub malformed: u64,
    /// One example error (no log text).
    pub first_error: Option<String>,
}

impl WholeReport {
    /// Counts one malformed record, keeping the first error as the example.
    pub fn bad(&mut self, e: impl Into<String>) {
        self.malformed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.into());
        }
    }
}

/// Turns one tool's log into usage events. Knows nothing of SQLite, pricing or views.
pub trait Parser: Send + Sync {
    /// Tool id, e.g. `claude-code`.
    fn tool(&self) -> &str;
    /// How this parser's files are read.
    fn format(&self) -> Format;

    /// [`Format::Lines`]: parse one complete line (without its newline). Lines that carry no
    /// usage return `Ok(())` and push nothing; malformed lines return `Err`.
    fn parse_line(
        &self,
        _line: &[u8],
        _path: &Path,
        _state: &mut FileState,
        _out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        Err(ParseError(format!(
            "{} does not read line logs",
            self.tool()
        )))
    }

    /// [`Format::Lines`]: the files are append-only and another program may replace one with
    /// a longer copy of itself (a sync tool writes a new file and renames it over the old one):
    /// such a copy is read on from the checkpoint instead of from the start
    /// ([`Checkpoint::resume_copy`](crate::tailer::Checkpoint::resume_copy)).
    fn replaced_by_copies(&self) -> bool {
        false
    }

    /// [`Format::Lines`]: the parser keeps in-memory state over the whole file
    /// ([`FileState::scratch`], context composition). A read that resumes without it first
    /// feeds the lines before the checkpoint to [`Parser::parse_line`] again, with a throwaway
    /// state and its events discarded, to rebuild it.
    fn keeps_context(&self) -> bool {
        false
    }

    /// [`Format::WholeFile`] and [`Format::Sqlite`]: parse the source, called whenever it
    /// changed. `state` persists between calls (a watermark such as the largest `time_updated`
    /// seen lets a database be re-read incrementally); it starts empty, and is reset to empty
    /// when the source was replaced. Emitted events must carry stable dedup keys so that
    /// re-reading is idempotent. An `Err` means the source could not be read at all; bad records
    /// inside it are counted in the report.
    fn parse_whole(
        &self,
        _path: &Path,
        _state: &mut FileState,
        _out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        Err(ParseError(format!("{} reads line logs only", self.tool())))
    }
}

// The spec engine (tools as data) and the line/JSON tools beyond Claude Code and Codex.
pub mod aider;
pub mod chain_ctx;
pub mod amp;
pub mod amp_ctx;
pub mod cline;
pub mod cline_ctx;
pub mod common;
pub mod copilot;
pub mod copilot_ctx;
pub mod gemini;
pub mod gemini_ctx;
pub mod gemini_parts;
pub mod spec;
