//! The sync folder as a source (`docs/sync-and-export.md`): every other machine's
//! `<machine id>.jsonl` there is read like any line log, through the tailer and its checkpoints,
//! by the export-format parser. This machine's own file is excluded: it is written from this
//! database.

use super::{Registry, Source};
use crate::parser::export::{ExportParser, TOOL};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file machine `machine` writes in the sync folder `dir`.
pub fn own_file(dir: &Path, machine: &str) -> PathBuf {
    dir.join(format!("{machine}.jsonl"))
}

/// The source of the sync folder `dir`, without this machine's own file.
pub fn source(dir: PathBuf, machine: &str) -> Source {
    let own = own_file(&dir, machine);
    let mut s = Source::new(TOOL, vec![dir], &["*.jsonl"], Arc::new(ExportParser))
        .expect("the sync pattern is valid");
    s.exclude.push(own);
    s
}

/// The source of one export file (`tokwatch import FILE`).
pub fn file_source(file: PathBuf) -> Source {
    Source::new(TOOL, vec![file], &[], Arc::new(ExportParser)).expect("no pattern")
}

impl Registry {
    /// Adds the sync folder `dir` as a source (see [`source`]).
    pub fn add_sync(&mut self, dir: PathBuf, machine: &str) {
        self.sources.push(source(dir, machine));
    }
}
