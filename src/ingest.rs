//! Drives the pipeline for one file at a time: tail -> parse -> attribute -> price -> store, with
//! the file's checkpoint committed in the same transaction as the events it produced.

use crate::attribution::Attributor;
use crate::dedup;
use crate::event::UsageEvent;
use crate::parser::{FileState, Format, ParseError, Parser};
use crate::pricing::Pricer;
use crate::registry::Registry;
use crate::store::{self, ReadCounts, Store, StoredEvent};
use crate::tailer::{self, Checkpoint, Fingerprint, LineReader};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of log consumed per parse batch (bounds memory).
const BATCH_BYTES: u64 = 8 << 20;
/// Bytes of log in the first transaction of a catch-up (what readers see first).
const GROUP_BYTES: u64 = 64 << 20;
/// Bytes of log per transaction after the first. Each commit writes every page its inserts
/// dirtied, and inserts into the random-keyed indexes dirty pages all over them: with larger
/// groups a page is written once for more requests (10 GB usage-dense Claude Code corpus,
/// `docs/benchmarks.md`: 41 s -> 37 s, the write-ahead log's peak unchanged).
const LONG_GROUP_BYTES: u64 = 256 << 20;
/// A file of a source, as [`Ingestor::pending`] found it.
#[derive(Debug, Clone)]
pub struct PendingFile {
    /// Index of its source.
    pub src: usize,
    /// The file.
    pub path: PathBuf,
    /// Its stored checkpoint (with the parser state); `None` for a file never read, and for an
    /// unchanged one (not needed: it is not read).
    pub checkpoint: Option<Checkpoint>,
    /// True when the file's fingerprint (device, inode, size, modification time, a database's
    /// `-wal`) is the one stored when it was last read: nothing to read, and the file is not
    /// opened ([`Checkpoint::unchanged`], as the daemon's stat scan decides).
    pub unchanged: bool,
}

/// Parsed batches the workers may have waiting for the writer.
const PARSED_AHEAD: usize = 64;
/// A logged branch is missing: fall back to the worktree's current HEAD only for events this
/// recent (older ones may have been made on another branch).
const LIVE_BRANCH_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Called after each commit with the events that were inserted or changed.
pub type Subscriber = Box<dyn FnMut(&[StoredEvent]) + Send>;

/// Totals of one ingest run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    /// Files looked at.
    pub files_seen: u64,
    /// Files with new bytes read.
    pub files_read: u64,
    /// New bytes read.
    pub bytes_read: u64,
    /// Complete lines read.
    pub lines: u64,
    /// Malformed records skipped (and counted).
    pub malformed: u64,
    /// Requests stored for the first time.
    pub events_new: u64,
    /// Stored requests replaced by a later copy.
    pub events_updated: u64,
    /// Files that could not be read.
    pub unreadable: u64,
}

/// Reads sources, and stores what their parsers find: the one writer of the store.
pub struct Ingestor {
    /// The database written to.
    pub store: Store,
    /// Every tool's sources.
    pub registry: Registry,
    attributor: Attributor,
    pricer: Pricer,
    workspace_ids: HashMap<String, i64, foldhash::fast::RandomState>,
    reader: LineReader,
    subscribers: Vec<Subscriber>,
    /// Changed events of the open transaction, told to subscribers once it commits.
    pending_changed: Vec<StoredEvent>,
    /// Directories known to belong to a workspace row (`store::workspace_roots`), loaded on
    /// first use: root -> (workspace id, name).
    known_roots: Option<HashMap<String, (i64, String)>>,
    /// cwd as logged -> the known root it is under (cleared when a root is learned).
    root_hits: HashMap<String, Option<(i64, String)>, foldhash::fast::RandomState>,
    /// Directories under a source's roots that [`Ingestor::pending`] could not list (source,
    /// directory, reason); the next [`Ingestor::scan_files`] records them like unreadable files.
    unreadable_dirs: Vec<(usize, PathBuf, String)>,
    /// In-memory parser state of recently read files ([`tailer::Scratch`]), so that the next
    /// append to a live session does not read the file from its start again.
    scratch: HashMap<PathBuf, tailer::Scratch>,
    /// Bytes of log in the first catch-up transaction, then in each later one.
    group_bytes: (u64, u64),
    /// Parse threads of a scan; `None`: one a core, at most 4.
    workers: Option<usize>,
}

/// Files whose in-memory parser state is kept between reads.
const SCRATCH_FILES: usize = 64;

impl Ingestor {
    /// An ingestor writing to `store`, reading the sources of `registry`.
    pub fn new(store: Store, registry: Registry, pricer: Pricer) -> Ingestor {
        Ingestor {
            store,
            registry,
            attributor: Attributor::new(),
            pricer,
            workspace_ids: HashMap::default(),
            reader: LineReader::default(),
            subscribers: Vec::new(),
            pending_changed: Vec::new(),
            known_roots: None,
            root_hits: HashMap::default(),
            unreadable_dirs: Vec::new(),
            scratch: HashMap::new(),
            group_bytes: (GROUP_BYTES, LONG_GROUP_BYTES),
            workers: None,
        }
    }

    /// Catch-up transactions of about `bytes` of log each (default `GROUP_BYTES`, then
    /// `LONG_GROUP_BYTES`); 1 commits every file on its own. For tests of what crosses groups.
    pub fn set_group_bytes(&mut self, bytes: u64) {
        self.group_bytes = (bytes, bytes);
    }

    /// Parse threads of a scan (default one a core, at most 4); with 1, files are stored in
    /// the order [`Ingestor::scan_files`] is given them. For tests of order.
    pub fn set_workers(&mut self, n: usize) {
        self.workers = Some(n.max(1));
    }

    /// [`Store::set_fold_held`]: for tests of the end of a first load.
    pub fn set_fold_held(&mut self, n: usize) {
        self.store.set_fold_held(n);
    }

    /// Prices every stored request of this machine again with the current prices (overrides,
    /// bundled data), in one transaction (`store::reprice`): `tokwatch reprice`.
    pub fn reprice(&mut self) -> anyhow::Result<crate::store::reprice::RepriceStats> {
        let pricer = &self.pricer;
        let fp = pricer.fingerprint().to_string();
        self.store.reprice(&fp, &mut |ev| {
            let p = pricer.price(ev);
            // As when stored: a request known only by its count has an unknown cost.
            if ev.estimated && ev.tokens.is_zero() {
                return (None, crate::event::CostSource::Unpriced, p.price_key);
            }
            (p.cost_usd, p.source, p.price_key)
        })
    }

    /// [`Ingestor::reprice`] when the prices differ from the ones last applied to the stored
    /// usage (the writer calls it when it opens); `None` when they are the same.
    pub fn reprice_if_stale(
        &mut self,
    ) -> anyhow::Result<Option<crate::store::reprice::RepriceStats>> {
        let applied = self.store.prices_applied()?;
        if applied.is_some_and(|a| a.fingerprint == self.pricer.fingerprint()) {
            return Ok(None);
        }
        self.reprice().map(Some)
    }

    /// Forgets cached repository answers (a directory may have become a repository, or a
    /// remote changed); the daemon calls this on its periodic stat scan.
    pub fn clear_caches(&mut self) {
        self.attributor.clear();
    }

    /// Prices what is stored from now on with `p` (the config's price overrides changed).
    pub fn set_pricer(&mut self, p: Pricer) {
        self.pricer = p;
    }

    /// Calls `s` after each commit with the events it stored.
    pub fn subscribe(&mut self, s: Subscriber) {
        self.subscribers.push(s);
    }

    /// The files of every source, with their stored checkpoints, and the bytes not yet read
    /// (for a progress bar).
    pub fn pending(&mut self) -> anyhow::Result<(u64, Vec<PendingFile>)> {
        let mut total = 0;
        let mut files = Vec::new();
        self.unreadable_dirs.clear();
        // Every file's stored fingerprint in one query; the parser state (a JSON document per
        // file) is loaded only for the files that changed.
        let stored = self.store.file_fingerprints()?;
        for (i, s) in self.registry.sources.iter().enumerate() {
            let (found, bad) = s.files_checked();
            for (d, why) in bad {
                if !self.unreadable_dirs.iter().any(|(_, x, _)| *x == d) {
                    self.unreadable_dirs.push((i, d, why));
                }
            }
            let sqlite = s.is_sqlite();
            let stats = Fingerprint::sources(&found, sqlite);
            for (f, now) in found.into_iter().zip(stats) {
                let path_s = crate::tailer::path_text(&f);
                let now = now.ok();
                let size = now.map(|st| st.size).unwrap_or(0);
                let known = stored.get(path_s.as_ref());
                let unchanged = match (known, now) {
                    (Some((fp, _)), Some(now)) => *fp == now,
                    _ => false,
                };
                let checkpoint = match known {
                    Some(_) if !unchanged => {
                        self.with_scratch(&f, self.store.file_checkpoint(&path_s)?)
                    }
                    _ => None,
                };
                let offset = known.map(|(_, o)| *o).unwrap_or(0);
                total += size.saturating_sub(offset);
                drop(path_s);
                files.push(PendingFile {
                    src: i,
                    path: f,
                    checkpoint,
                    unchanged,
                });
            }
        }
        Ok((total, files))
    }

    /// Reads everything new in every source once. Worker threads read and parse while this one
    /// attributes, prices and stores; files are grouped into transactions of about
    /// `GROUP_BYTES`, then `LONG_GROUP_BYTES` (each file's checkpoint still commits together with its rows).
    pub fn scan(&mut self, progress: &mut dyn FnMut(u64)) -> anyhow::Result<IngestStats> {
        let (_, files) = self.pending()?;
        self.scan_files(files, progress)
    }

    /// [`Ingestor::scan`] over a file list from [`Ingestor::pending`].
    pub fn scan_files(
        &mut self,
        files: Vec<PendingFile>,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<IngestStats> {
        let parsers: Vec<Arc<dyn Parser>> = self
            .registry
            .sources
            .iter()
            .map(|s| s.parser.clone())
            .collect();
        let mut stats = IngestStats::default();
        // Directories that could not be listed: said like unreadable files (`doctor`), and
        // forgotten once they can be listed again.
        let bad = std::mem::take(&mut self.unreadable_dirs);
        for (src, d, why) in &bad {
            stats.unreadable += 1;
            let tool = self.registry.sources[*src].tool.clone();
            self.store
                .record_read_error(&d.to_string_lossy(), &tool, why)?;
        }
        for d in self.store.unreadable_dirs()? {
            let p = Path::new(&d);
            if !bad.iter().any(|(_, x, _)| x == p) && std::fs::read_dir(p).is_ok() {
                self.store.clear_read_error(&d)?;
            }
        }
        // Parse workers take whole files from a shared queue (a file's batches stay in order;
        // the order across files does not change any total: dedup merges are order-free).
        // Unchanged files were looked at (their fingerprint): nothing to open.
        let (same, files): (Vec<PendingFile>, Vec<PendingFile>) =
            files.into_iter().partition(|f| f.unchanged);
        stats.files_seen += same.len() as u64;
        if files.is_empty() {
            return Ok(stats);
        }
        // Something may be priced: the bundled price data loads beside the readers.
        self.pricer.prefetch();
        // A first load keeps only the indexes its own writes read, and builds the rest after;
        // with nobody to hand its requests to as they are stored (the daemon's own catch-up,
        // a `scan`), it also goes without the two on random keys (`store::bulk`).
        let deferred = self
            .store
            .defer_indexes_if_empty(self.subscribers.is_empty())?;
        let workers = self
            .workers
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    .clamp(1, 4)
            })
            .min(files.len());
        let queue = std::sync::Mutex::new(files.into_iter());
        // Once a scan proves long (a first group committed), checkpoints run beside it rather
        // than inside the writer's commits (the daemon has them beside it from its start).
        let res = std::thread::scope(|scope| -> anyhow::Result<()> {
            // Room for the workers to run ahead while the writer commits (parsed batches hold
            // events, not log text, so this costs little memory).
            let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed>(PARSED_AHEAD);
            for _ in 0..workers {
                let tx = tx.clone();
                let (queue, parsers) = (&queue, &parsers);
                let worker = std::thread::Builder::new().name("tokwatch-parse".into());
                worker.spawn_scoped(scope, move || {
                    let mut reader = LineReader::default();
                    loop {
                        let Some(PendingFile {
                            src,
                            path,
                            checkpoint: old,
                            ..
                        }) = queue.lock().unwrap().next()
                        else {
                            break;
                        };
                        let go =
                            read_file(src, &*parsers[src], &path, old, &mut reader, &mut |p| {
                                tx.send(p).is_ok()
                            });
                        if !go {
                            break;
                        }
                    }
                })?;
            }
            drop(tx);
            let mut in_tx = 0u64;
            let (mut limit, long_limit) = self.group_bytes;
            for p in rx {
                if !self.store.in_transaction() {
                    self.store.begin()?;
                    in_tx = 0;
                }
                in_tx += p.bytes() + 512;
                self.apply(p, &mut stats, progress)?;
                if in_tx >= limit {
                    self.flush()?;
                    limit = long_limit;
                    self.store.checkpoint_beside()?;
                    if self.store.wal_bytes() > store::WAL_SIZE_LIMIT {
                        // The background checkpoints fall behind a fast writer and the log is
                        // only reused once fully copied: copy the rest now, so the next group
                        // writes from the log's start (bounded log, fewer pages re-read).
                        self.store.restart_wal()?;
                    } else {
                        self.store.poke_checkpoint();
                    }
                }
            }
            self.flush()
        });
        if res.is_err() && self.store.in_transaction() {
            self.store.rollback();
            self.pending_changed.clear();
        }
        // Built whether or not the scan went through (what it committed stays). The copies a
        // first load stored apart were each counted as new: one request, one row.
        let built = if deferred {
            self.store.finish_bulk().and_then(|removed| {
                stats.events_new = stats.events_new.saturating_sub(removed);
                self.store.build_deferred_indexes()
            })
        } else {
            Ok(())
        };
        // The scan's own error, if any, is the one to report.
        res?;
        built?;
        Ok(stats)
    }

    /// Commits the open catch-up transaction, then tells subscribers what it stored.
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.store.in_transaction() {
            self.store.commit()?;
        }
        let changed = std::mem::take(&mut self.pending_changed);
        if !changed.is_empty() {
            for s in &mut self.subscribers {
                s(&changed);
            }
        }
        Ok(())
    }

    /// Reads what is new in one file and commits it. Unreadable files are recorded (see
    /// `doctor`), not fatal.
    pub fn ingest_path(
        &mut self,
        src: usize,
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<IngestStats> {
        let mut stats = IngestStats::default();
        self.pricer.prefetch();
        let old = self.with_scratch(path, self.store.file_checkpoint(&path.to_string_lossy())?);
        let parser = self.registry.sources[src].parser.clone();
        let mut reader = std::mem::take(&mut self.reader);
        let mut err = None;
        read_file(src, &*parser, path, old, &mut reader, &mut |p| match self
            .apply(p, &mut stats, progress)
        {
            Ok(()) => true,
            Err(e) => {
                err = Some(e);
                false
            }
        });
        self.reader = reader;
        match err {
            Some(e) => Err(e),
            None => Ok(stats),
        }
    }

    /// Stores events that come from an import rather than a watched log (e.g. Cursor's usage
    /// CSV): the file gets a row like any log, and dedup keys make a re-import add nothing.
    pub fn import(
        &mut self,
        tool: &str,
        path: &Path,
        events: Vec<UsageEvent>,
        report: crate::parser::WholeReport,
    ) -> anyhow::Result<IngestStats> {
        let st = Fingerprint::path(path)?;
        let cp = Checkpoint {
            fp: st,
            offset: st.size,
            ..Checkpoint::default()
        };
        let counts = ReadCounts {
            lines: 0,
            malformed: report.malformed,
            first_error: report.first_error,
        };
        let mut stats = IngestStats {
            files_seen: 1,
            files_read: 1,
            bytes_read: st.size,
            malformed: counts.malformed,
            ..IngestStats::default()
        };
        self.commit(
            &path.to_string_lossy(),
            tool,
            &cp,
            &counts,
            dedup::merge(events),
            &mut stats,
        )?;
        Ok(stats)
    }

    /// A stored checkpoint with the in-memory parser state kept from the last read of the
    /// file (when it is still at that offset, `read_lines` uses it; otherwise it rebuilds it).
    fn with_scratch(&self, path: &Path, cp: Option<Checkpoint>) -> Option<Checkpoint> {
        let mut cp = cp?;
        if let Some(s) = self.scratch.get(path) {
            cp.state.scratch = s.clone();
        }
        Some(cp)
    }

    /// Stores one parsed batch.
    fn apply(
        &mut self,
        p: Parsed,
        stats: &mut IngestStats,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<()> {
        match p {
            Parsed::Opened => {
                stats.files_seen += 1;
            }
            Parsed::Unchanged => {}
            Parsed::Unreadable { src, path, err } => {
                stats.unreadable += 1;
                let tool = self.registry.sources[src].tool.clone();
                self.store
                    .record_read_error(&path.to_string_lossy(), &tool, &err)?;
            }
            Parsed::Batch(b) => {
                let tool = self.registry.sources[b.src].tool.clone();
                if b.first {
                    stats.files_read += 1;
                }
                stats.bytes_read += b.consumed;
                if b.cp.state.scratch.is_some() {
                    if self.scratch.len() >= SCRATCH_FILES && !self.scratch.contains_key(&b.path) {
                        self.scratch.clear();
                    }
                    self.scratch
                        .insert(b.path.clone(), b.cp.state.scratch.clone());
                }
                stats.lines += b.counts.lines;
                stats.malformed += b.counts.malformed;
                self.commit(
                    &b.path.to_string_lossy(),
                    &tool,
                    &b.cp,
                    &b.counts,
                    b.events,
                    stats,
                )?;
                progress(b.consumed);
            }
        }
        Ok(())
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
        // `events` were merged by key already (on the parse side, off the writer's path).
        // A token count no request can have (negative, or beyond `MAX_TOKENS`: a corrupt or
        // hostile record) is a malformed record, never a figure that overflows a total.
        let (events, bad): (Vec<UsageEvent>, Vec<UsageEvent>) =
            events.into_iter().partition(|e| e.counts_in_range());
        let mut fixed;
        let counts = if bad.is_empty() {
            counts
        } else {
            fixed = counts.clone();
            fixed.malformed += bad.len() as u64;
            fixed.first_error.get_or_insert_with(|| {
                format!(
                    "a token count below 0 or above {} (record skipped)",
                    crate::event::MAX_TOKENS
                )
            });
            stats.malformed += bad.len() as u64;
            &fixed
        };
        let mut stored = Vec::with_capacity(events.len());
        for ev in events {
            stored.push(self.enrich(ev)?);
        }
        let (_, outcome) = self.store.commit_batch(path_s, tool, cp, counts, &stored)?;
        stats.events_new += outcome.inserted;
        stats.events_updated += outcome.updated;
        if !self.subscribers.is_empty() && !outcome.changed.is_empty() {
            // Several snapshots of one request in a batch give one line: its final state.
            let mut last: HashMap<&str, (usize, bool), foldhash::fast::RandomState> =
                HashMap::default();
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
            if !self.store.in_transaction() {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Attribution and pricing.
    fn enrich(&mut self, ev: UsageEvent) -> anyhow::Result<StoredEvent> {
        if let Some(r) = ev.recorded.as_deref() {
            // Read from an export file: its repository by identity, its figures as recorded.
            // (Cached apart from local ones: a local log later still records the root.)
            let workspace_id = match r.repo_key.as_deref() {
                Some(key) => Some(match self.workspace_ids.get(&format!("\0{key}")) {
                    Some(id) => *id,
                    None => {
                        let id = self.store.import_workspace(
                            key,
                            r.repo_name.as_deref(),
                            r.repo_remote.as_deref(),
                        )?;
                        self.workspace_ids.insert(format!("\0{key}"), id);
                        id
                    }
                }),
                None => None,
            };
            return Ok(StoredEvent {
                workspace_id,
                workspace_name: r.repo_name.clone().or_else(|| r.repo_key.clone()),
                cost_usd: r.cost_usd,
                cost_source: r.cost_source,
                price_key: r.price_key.clone(),
                updated: false,
                ev,
            });
        }
        let ws = self
            .attributor
            .resolve(ev.cwd.as_deref(), ev.repo_hint.as_deref());
        // A cwd the disk no longer knows (checkout deleted, subdirectory gone) at or below a
        // directory that once resolved to a repository belongs to that repository's row.
        let from_disk = ws.as_ref().is_some_and(|w| w.root.is_some());
        if !from_disk {
            if let Some(Some((id, name))) = ev
                .cwd
                .as_deref()
                .map(|c| self.known_root_for(c))
                .transpose()?
            {
                return self.finish(ev, Some(id), Some(name));
            }
        }
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
                if let Some(root) = &w.root {
                    // Remember where this repository lives (its main root, and the directory
                    // as the log names it: a linked worktree, a symlinked path).
                    let root = root.to_string_lossy().into_owned();
                    self.remember_root(&root, id, &w.name)?;
                    if let Some(cwd) = ev.cwd.as_deref().filter(|c| Path::new(c).is_absolute()) {
                        let cwd = cwd.trim_end_matches(['/', '\\']).to_string();
                        self.remember_root(&cwd, id, &w.name)?;
                    }
                }
                (Some(id), Some(w.name))
            }
            None => (None, None),
        };
        self.finish(ev, workspace_id, workspace_name)
    }

    /// The known root `cwd` is at or below (the longest), with its workspace row and name.
    fn known_root_for(&mut self, cwd: &str) -> anyhow::Result<Option<(i64, String)>> {
        self.load_roots()?;
        if let Some(hit) = self.root_hits.get(cwd) {
            return Ok(hit.clone());
        }
        let c = cwd.trim().trim_end_matches(['/', '\\']);
        let mut best: Option<(&str, &(i64, String))> = None;
        for (root, v) in self.known_roots.iter().flatten() {
            let below = c == root
                || (c.len() > root.len()
                    && c.starts_with(root.as_str())
                    && matches!(c.as_bytes()[root.len()], b'/' | b'\\'));
            if below && best.is_none_or(|(b, _)| root.len() > b.len()) {
                best = Some((root, v));
            }
        }
        let hit = best.map(|(_, v)| v.clone());
        self.root_hits.insert(cwd.to_string(), hit.clone());
        Ok(hit)
    }

    fn load_roots(&mut self) -> anyhow::Result<()> {
        if self.known_roots.is_none() {
            let mut m = HashMap::new();
            for (root, id, name) in self.store.workspace_roots()? {
                m.insert(root, (id, name));
            }
            self.known_roots = Some(m);
        }
        Ok(())
    }

    /// Records that `root` belongs to workspace `id` (in the store, so it outlives the checkout).
    fn remember_root(&mut self, root: &str, id: i64, name: &str) -> anyhow::Result<()> {
        if root.is_empty() {
            return Ok(());
        }
        self.load_roots()?;
        let known = self.known_roots.get_or_insert_with(HashMap::new);
        if known.get(root).is_some_and(|(i, n)| *i == id && n == name) {
            return Ok(());
        }
        known.insert(root.to_string(), (id, name.to_string()));
        self.root_hits.clear();
        self.store.remember_workspace_root(root, id)
    }

    /// Branch and price: the rest of [`Ingestor::enrich`].
    fn finish(
        &mut self,
        mut ev: UsageEvent,
        workspace_id: Option<i64>,
        workspace_name: Option<String>,
    ) -> anyhow::Result<StoredEvent> {
        if ev.branch.is_none() && store::now_ms() - ev.timestamp_ms < LIVE_BRANCH_WINDOW_MS {
            if let Some(cwd) = ev.cwd.clone() {
                ev.branch = self.attributor.current_branch(&cwd);
            }
        }
        let mut p = self.pricer.price(&ev);
        // A request known only by its count (no tokens, no reported cost) has an unknown cost,
        // not a cost of $0.
        if ev.estimated && ev.tokens.is_zero() && ev.reported_cost_usd.is_none() {
            p.cost_usd = None;
            p.source = crate::event::CostSource::Unpriced;
        }
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

/// One parsed batch of one file, with the checkpoint to store with it.
pub struct ParsedBatch {
    /// Index of the file's source.
    pub src: usize,
    /// The file.
    pub path: PathBuf,
    /// The checkpoint after this batch.
    pub cp: Checkpoint,
    /// Lines and malformed records of this batch.
    pub counts: ReadCounts,
    /// The events, merged by key within the batch.
    pub events: Vec<UsageEvent>,
    /// Bytes of the file this batch consumed.
    pub consumed: u64,
    /// First batch of this file in this read.
    pub first: bool,
}

/// What reading a file yields, batch by batch.
pub enum Parsed {
    /// A file was looked at.
    Opened,
    /// Nothing changed since the stored checkpoint.
    Unchanged,
    /// Events parsed from the file, with the checkpoint after them.
    Batch(Box<ParsedBatch>),
    /// The file could not be read.
    Unreadable {
        /// Index of its source.
        src: usize,
        /// The file.
        path: PathBuf,
        /// Why (no log text).
        err: String,
    },
}

impl Parsed {
    fn bytes(&self) -> u64 {
        match self {
            Parsed::Batch(b) => b.consumed,
            _ => 0,
        }
    }
}

/// Reads what is new in `path` since `old` and hands each batch to `emit` (which returns false
/// to stop). Knows nothing of the store: usable from a worker thread.
pub fn read_file(
    src: usize,
    parser: &dyn Parser,
    path: &Path,
    old: Option<Checkpoint>,
    reader: &mut LineReader,
    emit: &mut dyn FnMut(Parsed) -> bool,
) -> bool {
    if !emit(Parsed::Opened) {
        return false;
    }
    let r = match parser.format() {
        Format::Lines => read_lines(src, parser, path, old, reader, emit),
        Format::WholeFile | Format::Sqlite => read_whole(src, parser, path, old, emit),
    };
    match r {
        Ok(go) => go,
        // Deleted between listing and reading: nothing to read, nothing lost.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => emit(Parsed::Unreadable {
            src,
            path: path.to_path_buf(),
            err: e.to_string(),
        }),
    }
}

fn read_lines(
    src: usize,
    parser: &dyn Parser,
    path: &Path,
    old: Option<Checkpoint>,
    reader: &mut LineReader,
    emit: &mut dyn FnMut(Parsed) -> bool,
) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    let st = Fingerprint::of(&file.metadata()?);
    if old.as_ref().is_some_and(|c| c.unchanged(&st)) {
        return Ok(emit(Parsed::Unchanged));
    }
    let head = tailer::head_hash(&mut file)?;
    let is_new = old.is_none();
    let copies = parser.replaced_by_copies();
    let mut cp = if copies {
        old.unwrap_or_default().resume_copy(&mut file, st, head)?
    } else {
        old.unwrap_or_default().resume_lines(st, head)
    };
    if parser.keeps_context() && cp.offset > 0 && cp.state.scratch.at() != Some(cp.offset) {
        cp.state.scratch = prime(parser, path, &mut file, cp.offset)?;
    }
    let mut first = true;
    loop {
        let mut events: Vec<UsageEvent> = Vec::new();
        let mut counts = ReadCounts::default();
        let mut state: FileState = std::mem::take(&mut cp.state);
        let batch = reader.read_batch(&mut file, cp.offset, BATCH_BYTES, &mut |line| {
            if let Err(ParseError(e)) = parser.parse_line(line, path, &mut state, &mut events) {
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
        // A new file with no complete line yet still gets a row (so `doctor` lists it).
        if consumed == 0 && !(first && is_new) {
            return Ok(true);
        }
        cp.offset = batch.end;
        cp.state.scratch.set_at(cp.offset);
        if copies {
            cp.tail_hash = Some(tailer::tail_hash(&mut file, cp.offset)?);
        }
        let mut at = cp.clone();
        if !batch.eof {
            // More of the file follows this batch: its checkpoint must not look like the whole
            // file read (a run stopped after committing it would find the file "unchanged" and
            // never read the rest). The size it records is the bytes read so far.
            at.fp.size = at.offset;
        }
        let go = emit(Parsed::Batch(Box::new(ParsedBatch {
            src,
            path: path.to_path_buf(),
            cp: at,
            counts,
            events: dedup::merge(events),
            consumed,
            first,
        })));
        first = false;
        if !go {
            return Ok(false);
        }
        if batch.eof {
            return Ok(true);
        }
    }
}

/// Rebuilds a parser's in-memory state ([`Parser::keeps_context`]) from the lines before
/// `end`: they were counted already, so their events and every other state change are dropped.
fn prime(
    parser: &dyn Parser,
    path: &Path,
    file: &mut File,
    end: u64,
) -> std::io::Result<tailer::Scratch> {
    use std::io::{BufRead, Read, Seek};
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, (&mut *file).take(end));
    let mut state = FileState::default();
    let mut events = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        // At most MAX_LINE + 1 bytes of a line are held, as when it was first read: a longer
        // line was skipped then and is skipped here (the rest of it up to its newline).
        let n = (&mut r)
            .take(tailer::MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > tailer::MAX_LINE {
            r.skip_until(b'\n')?;
            continue;
        }
        let _ = parser.parse_line(&line, path, &mut state, &mut events);
        events.clear();
    }
    state.scratch.set_at(end);
    Ok(state.scratch)
}

fn read_whole(
    src: usize,
    parser: &dyn Parser,
    path: &Path,
    old: Option<Checkpoint>,
    emit: &mut dyn FnMut(Parsed) -> bool,
) -> std::io::Result<bool> {
    let st = Fingerprint::source(path, parser.format() == Format::Sqlite)?;
    if old.as_ref().is_some_and(|c| c.unchanged(&st)) {
        return Ok(emit(Parsed::Unchanged));
    }
    let mut cp = old.unwrap_or_default().resume_whole(st);
    let mut events = Vec::new();
    let report = match parser.parse_whole(path, &mut cp.state, &mut events) {
        Ok(r) => r,
        Err(ParseError(e)) => {
            return Ok(emit(Parsed::Unreadable {
                src,
                path: path.to_path_buf(),
                err: e,
            }))
        }
    };
    let counts = ReadCounts {
        lines: 0,
        malformed: report.malformed,
        first_error: report.first_error,
    };
    Ok(emit(Parsed::Batch(Box::new(ParsedBatch {
        src,
        path: path.to_path_buf(),
        cp,
        counts,
        events: dedup::merge(events),
        consumed: st.size,
        first: true,
    }))))
}
