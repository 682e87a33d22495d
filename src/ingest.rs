//! Drives the pipeline for one file at a time: tail -> parse -> attribute -> price -> store, with
//! the file's checkpoint committed in the same transaction as the events it produced.

use crate::attribution::Attributor;
use crate::event::{Merge, UsageEvent};
use crate::parser::{FileState, Format, ParseError};
use crate::pricing::Pricer;
use crate::sources::Source;
use crate::store::{self, Checkpoint, ReadCounts, Store, StoredEvent};
use crate::tailer::{self, LineReader, Stat};
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

/// Bytes of log consumed per parse batch (bounds memory).
const BATCH_BYTES: u64 = 8 << 20;
/// Bytes of log per transaction during catch-up.
const GROUP_BYTES: u64 = 64 << 20;
/// A logged branch is missing: fall back to the worktree's current HEAD only for events this
/// recent (older ones may have been made on another branch).
const LIVE_BRANCH_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Called after each commit with the events that were inserted or changed.
pub type Subscriber = Box<dyn FnMut(&[StoredEvent]) + Send>;

/// Totals of one ingest run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    pub files_seen: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub lines: u64,
    pub malformed: u64,
    pub events_new: u64,
    pub events_updated: u64,
    pub unreadable: u64,
}

impl IngestStats {
    fn add(&mut self, o: &IngestStats) {
        self.files_seen += o.files_seen;
        self.files_read += o.files_read;
        self.bytes_read += o.bytes_read;
        self.lines += o.lines;
        self.malformed += o.malformed;
        self.events_new += o.events_new;
        self.events_updated += o.events_updated;
        self.unreadable += o.unreadable;
    }
}

pub struct Ingestor {
    pub store: Store,
    pub sources: Vec<Source>,
    attributor: Attributor,
    pricer: Pricer,
    workspace_ids: HashMap<String, i64>,
    reader: LineReader,
    subscribers: Vec<Subscriber>,
    /// Changed events of the open transaction, told to subscribers once it commits.
    pending_changed: Vec<StoredEvent>,
}

impl Ingestor {
    pub fn new(store: Store, sources: Vec<Source>, pricer: Pricer) -> Ingestor {
        Ingestor {
            store,
            sources,
            attributor: Attributor::new(),
            pricer,
            workspace_ids: HashMap::new(),
            reader: LineReader::default(),
            subscribers: Vec::new(),
            pending_changed: Vec::new(),
        }
    }

    pub fn subscribe(&mut self, s: Subscriber) {
        self.subscribers.push(s);
    }

    /// Bytes not yet read across all sources (for a progress bar), and the file list.
    pub fn pending(&self) -> anyhow::Result<(u64, Vec<(usize, std::path::PathBuf)>)> {
        let mut total = 0;
        let mut files = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            for f in s.files() {
                let size = Stat::path(&f).map(|st| st.size).unwrap_or(0);
                let done = self
                    .store
                    .checkpoint(&f.to_string_lossy())?
                    .map(|c| c.offset)
                    .unwrap_or(0);
                total += size.saturating_sub(done);
                files.push((i, f));
            }
        }
        Ok((total, files))
    }

    /// Reads everything new in every source once. Files are grouped into transactions of about
    /// `GROUP_BYTES` (each file's checkpoint still commits together with its rows).
    pub fn scan(&mut self, progress: &mut dyn FnMut(u64)) -> anyhow::Result<IngestStats> {
        let (_, files) = self.pending()?;
        let mut stats = IngestStats::default();
        let mut in_tx = 0u64;
        let res = (|| -> anyhow::Result<()> {
            for (i, f) in files {
                if self.store.conn.is_autocommit() {
                    self.store.conn.execute_batch("BEGIN IMMEDIATE")?;
                    in_tx = 0;
                }
                let st = self.ingest_path(i, &f, progress)?;
                in_tx += st.bytes_read + 4096;
                stats.add(&st);
                if in_tx >= GROUP_BYTES {
                    self.flush()?;
                }
            }
            self.flush()
        })();
        if res.is_err() && !self.store.conn.is_autocommit() {
            let _ = self.store.conn.execute_batch("ROLLBACK");
            self.pending_changed.clear();
        }
        res.map(|_| stats)
    }

    /// Commits the open catch-up transaction, then tells subscribers what it stored.
    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.store.conn.is_autocommit() {
            self.store.conn.execute_batch("COMMIT")?;
        }
        let changed = std::mem::take(&mut self.pending_changed);
        if !changed.is_empty() {
            for s in &mut self.subscribers {
                s(&changed);
            }
        }
        Ok(())
    }

    /// Index of the source a path belongs to.
    pub fn source_for(&self, path: &Path) -> Option<usize> {
        self.sources.iter().position(|s| s.matches(path))
    }

    /// Reads what is new in one file. Unreadable files are recorded (see `doctor`), not fatal.
    pub fn ingest_path(
        &mut self,
        src: usize,
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<IngestStats> {
        let mut stats = IngestStats {
            files_seen: 1,
            ..IngestStats::default()
        };
        let tool = self.sources[src].tool.clone();
        let path_s = path.to_string_lossy().into_owned();
        let format = self.sources[src].parser.format();
        let res = match format {
            Format::Lines => self.ingest_lines(src, path, &path_s, &tool, &mut stats, progress),
            Format::WholeFile | Format::Sqlite => {
                self.ingest_whole(src, path, &path_s, &tool, format, &mut stats)
            }
        };
        if let Err(e) = res {
            // I/O problems with the source are the file's problem, not the run's; store
            // problems are the run's.
            match e.downcast::<std::io::Error>() {
                // Deleted between listing and reading: nothing to read, nothing lost.
                Ok(io) if io.kind() == std::io::ErrorKind::NotFound => {}
                Ok(io) => {
                    stats.unreadable += 1;
                    self.store
                        .record_read_error(&path_s, &tool, &io.to_string())?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(stats)
    }

    fn ingest_lines(
        &mut self,
        src: usize,
        path: &Path,
        path_s: &str,
        tool: &str,
        stats: &mut IngestStats,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<()> {
        let mut file = File::open(path)?;
        let st = Stat::of(&file.metadata()?);
        let old = self.store.checkpoint(path_s)?;
        if let Some(c) = &old {
            if c.dev == st.dev && c.ino == st.ino && c.size == st.size && c.mtime_ns == st.mtime_ns
            {
                return Ok(()); // nothing changed since the last read
            }
        }
        let head = tailer::head_hash(&mut file)?;
        let mut cp = match old {
            Some(c)
                if c.dev == st.dev
                    && c.ino == st.ino
                    && st.size >= c.offset
                    && (c.head_hash.is_none() || c.head_hash == head) =>
            {
                c
            }
            // New, replaced, truncated or rewritten: read from the start.
            Some(c) => Checkpoint {
                file_id: c.file_id,
                ..Checkpoint::default()
            },
            None => Checkpoint::default(),
        };
        cp.dev = st.dev;
        cp.ino = st.ino;
        cp.size = st.size;
        cp.mtime_ns = st.mtime_ns;
        cp.head_hash = head;
        stats.files_read += 1;
        loop {
            let parser = self.sources[src].parser.clone();
            let mut events: Vec<UsageEvent> = Vec::new();
            let mut counts = ReadCounts::default();
            let mut state: FileState = std::mem::take(&mut cp.state);
            let batch = self
                .reader
                .read_batch(&mut file, cp.offset, BATCH_BYTES, &mut |line| {
                    if let Err(ParseError(e)) =
                        parser.parse_line(line, path, &mut state, &mut events)
                    {
                        counts.malformed += 1;
                        if counts.first_error.is_none() {
                            counts.first_error = Some(e);
                        }
                    }
                })?;
            cp.state = state;
            counts.lines = batch.lines;
            counts.malformed += batch.oversized;
            if batch.oversized > 0 && counts.first_error.is_none() {
                counts.first_error = Some(format!(
                    "line longer than {} MiB skipped",
                    tailer::MAX_LINE >> 20
                ));
            }
            let consumed = batch.end - cp.offset;
            if consumed == 0 && !(batch.eof && needs_row(&self.store, path_s)?) {
                break;
            }
            cp.offset = batch.end;
            stats.bytes_read += consumed;
            stats.lines += counts.lines;
            stats.malformed += counts.malformed;
            self.commit(path_s, tool, &cp, &counts, events, stats)?;
            progress(consumed);
            if batch.eof {
                break;
            }
        }
        Ok(())
    }

    fn ingest_whole(
        &mut self,
        src: usize,
        path: &Path,
        path_s: &str,
        tool: &str,
        format: Format,
        stats: &mut IngestStats,
    ) -> anyhow::Result<()> {
        let st = Stat::path(path)?;
        // A SQLite writer appends to the -wal file first: it is part of the signature.
        let extra_sig = if format == Format::Sqlite {
            let mut w = path.as_os_str().to_owned();
            w.push("-wal");
            Stat::path(Path::new(&w))
                .map(|s| tailer::fnv1a(format!("{}:{}", s.size, s.mtime_ns).as_bytes()))
                .unwrap_or(0)
        } else {
            0
        };
        let old = self.store.checkpoint(path_s)?;
        let mut cp = match old {
            Some(c)
                if c.dev == st.dev
                    && c.ino == st.ino
                    && c.size == st.size
                    && c.mtime_ns == st.mtime_ns
                    && c.extra_sig == extra_sig =>
            {
                return Ok(());
            }
            Some(c) if c.dev == st.dev && c.ino == st.ino => c,
            Some(c) => Checkpoint {
                file_id: c.file_id,
                ..Checkpoint::default()
            },
            None => Checkpoint::default(),
        };
        cp.dev = st.dev;
        cp.ino = st.ino;
        cp.size = st.size;
        cp.mtime_ns = st.mtime_ns;
        cp.extra_sig = extra_sig;
        cp.offset = st.size;
        stats.files_read += 1;
        let parser = self.sources[src].parser.clone();
        let mut events = Vec::new();
        let report = match parser.parse_whole(path, &mut cp.state, &mut events) {
            Ok(r) => r,
            Err(ParseError(e)) => {
                self.store.record_read_error(path_s, tool, &e)?;
                stats.unreadable += 1;
                return Ok(());
            }
        };
        let counts = ReadCounts {
            lines: 0,
            malformed: report.malformed,
            first_error: report.first_error,
        };
        stats.bytes_read += st.size;
        stats.malformed += counts.malformed;
        self.commit(path_s, tool, &cp, &counts, events, stats)
    }

    fn commit(
        &mut self,
        path_s: &str,
        tool: &str,
        cp: &Checkpoint,
        counts: &ReadCounts,
        events: Vec<UsageEvent>,
        stats: &mut IngestStats,
    ) -> anyhow::Result<()> {
        let events = merge_within_batch(events);
        let mut stored = Vec::with_capacity(events.len());
        for ev in events {
            stored.push(self.enrich(ev)?);
        }
        let (_, outcome) =
            store::commit_batch(&mut self.store.conn, path_s, tool, cp, counts, &stored)?;
        stats.events_new += outcome.inserted;
        stats.events_updated += outcome.updated;
        if !self.subscribers.is_empty() && !outcome.changed.is_empty() {
            // Several snapshots of one request in a batch give one line: its final state.
            let mut last: HashMap<&str, (usize, bool)> = HashMap::new();
            for &(i, updated) in &outcome.changed {
                let e = last
                    .entry(stored[i].ev.dedup_key.as_str())
                    .or_insert((i, updated));
                e.0 = i;
            }
            let mut picks: Vec<(usize, bool)> = last.into_values().collect();
            picks.sort_unstable();
            let changed: Vec<StoredEvent> = picks
                .into_iter()
                .map(|(i, updated)| StoredEvent {
                    updated,
                    ..stored[i].clone()
                })
                .collect();
            self.pending_changed.extend(changed);
            if self.store.conn.is_autocommit() {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Attribution and pricing.
    fn enrich(&mut self, mut ev: UsageEvent) -> anyhow::Result<StoredEvent> {
        let ws = self
            .attributor
            .resolve(ev.cwd.as_deref(), ev.repo_hint.as_deref());
        let (workspace_id, workspace_name) = match ws {
            Some(w) => {
                let id = match self.workspace_ids.get(&w.key) {
                    Some(id) => *id,
                    None => {
                        let id = self.store.workspace_id(
                            &w.key,
                            &w.name,
                            w.root.as_deref().map(|p| p.to_string_lossy()).as_deref(),
                            w.remote.as_deref(),
                        )?;
                        self.workspace_ids.insert(w.key.clone(), id);
                        id
                    }
                };
                (Some(id), Some(w.name))
            }
            None => (None, None),
        };
        if ev.branch.is_none() && store::now_ms() - ev.timestamp_ms < LIVE_BRANCH_WINDOW_MS {
            if let Some(cwd) = ev.cwd.clone() {
                ev.branch = self.attributor.current_branch(&cwd);
            }
        }
        let p = self.pricer.price(&ev);
        Ok(StoredEvent {
            ev,
            workspace_id,
            workspace_name,
            cost_usd: p.cost_usd,
            cost_source: p.source,
            price_key: p.price_key,
            updated: false,
        })
    }
}

/// Applies each event's merge rule among events of one batch that share a dedup key, so the
/// store sees one record per request per batch (streaming snapshots arrive in bursts).
pub fn merge_within_batch(events: Vec<UsageEvent>) -> Vec<UsageEvent> {
    let mut out: Vec<UsageEvent> = Vec::with_capacity(events.len());
    let mut at: HashMap<(String, String), usize> = HashMap::with_capacity(events.len());
    for ev in events {
        match at.get(&(ev.tool.clone(), ev.dedup_key.clone())) {
            None => {
                at.insert((ev.tool.clone(), ev.dedup_key.clone()), out.len());
                out.push(ev);
            }
            Some(&i) => {
                let old = &out[i];
                let replace = match ev.merge {
                    Merge::LastWins => true,
                    Merge::FirstWins => false,
                    Merge::KeepMax => {
                        ev.tokens.output > old.tokens.output
                            || (ev.tokens.output == old.tokens.output
                                && ev.tokens.prompt_total() > old.tokens.prompt_total())
                    }
                };
                if replace {
                    out[i] = ev;
                }
            }
        }
    }
    out
}

/// True when the file has no row yet (an empty or not-yet-complete file still gets one, so
/// `doctor` can list it).
fn needs_row(store: &Store, path: &str) -> anyhow::Result<bool> {
    Ok(store.checkpoint(path)?.is_none())
}
