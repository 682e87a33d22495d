//! The SQLite store: the single source of truth every view reads.
//!
//! One writer (the daemon, or `scan` when no daemon runs) uses IMMEDIATE transactions; readers
//! open the file read-only and never block it (WAL).

pub mod export;
pub mod budget;
pub mod dashboard;
pub mod whatif;
pub mod query;
pub mod reprice;
pub mod wal;
pub mod problem;
pub mod prune;
pub mod timeline;
mod bulk;

use crate::dedup;
use crate::event::{CostSource, Tokens, UsageEvent};
use crate::tailer::{Checkpoint, Fingerprint};
use anyhow::Context;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The size the write-ahead log is kept to: a long scan restarts it once it is bigger
/// (`Store::restart_wal`), and a restarted log file is cut back to this size.
pub const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// The upsert of one cell of a session-less layer (`rollup_hour` by `hour`, `rollup_day` by
/// `day`): both have the same columns and add a batch's changes the same way.
fn coarse_upsert(table: &str, time: &str) -> String {
    format!(
        "INSERT INTO {table}({time}, tool, workspace_id, branch, model, provider, machine_id,
            requests, input, cw5, cw1h, cr, output, reasoning, unpriced, estimated, reported,
            cost_nano, last_ms)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT DO UPDATE SET
            requests = requests + excluded.requests, input = input + excluded.input,
            cw5 = cw5 + excluded.cw5, cw1h = cw1h + excluded.cw1h, cr = cr + excluded.cr,
            output = output + excluded.output, reasoning = reasoning + excluded.reasoning,
            cost_nano = cost_nano + excluded.cost_nano, unpriced = unpriced + excluded.unpriced,
            estimated = estimated + excluded.estimated, reported = reported + excluded.reported,
            last_ms = max(last_ms, excluded.last_ms)"
    )
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
    include_str!("schema_v7.sql"),
    include_str!("schema_v8.sql"),
    include_str!("schema_v9.sql"),
    include_str!("schema_v10.sql"),
];

/// Errors a user can act on, with the action in the message.
#[derive(Debug)]
pub enum StoreError {
    /// No database file yet.
    Missing(PathBuf),
    /// The file exists but is not a usable tokwatch database.
    Corrupt(PathBuf, String),
    /// Written by a newer tokwatch.
    TooNew(PathBuf, i64),
    /// The database (or its directory, `-wal`, `-shm`) cannot be accessed: the message names
    /// the file and its owner. The database itself is fine: never move it aside.
    Permission(PathBuf, String),
    /// Another program's SQLite file: refused before anything is written to it.
    Foreign(PathBuf, String),
}

impl StoreError {
    /// The exit code the CLI ends with: 3 for a database missing, damaged, too new or not
    /// tokwatch's; 1 for a permission problem (the message says what to do).
    pub fn exit_code(&self) -> i32 {
        match self {
            StoreError::Permission(..) => 1,
            _ => 3,
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Missing(p) => write!(
                f,
                "no tokwatch database at {} yet: run `tokwatch scan` (or start `tokwatch`) to build it from your logs",
                p.display()
            ),
            StoreError::Corrupt(p, why) => write!(
                f,
                "the database at {} cannot be used ({why}). Move it aside with `mv {0} {0}.bad` and run `tokwatch scan` to rebuild it from the logs (usage from logs that were deleted since is only in the old file)",
                p.display()
            ),
            StoreError::TooNew(p, v) => write!(
                f,
                "the database at {} has schema version {v}, newer than this tokwatch understands ({}): upgrade tokwatch, or pass --db to use another file",
                p.display(),
                MIGRATIONS.len()
            ),
            StoreError::Permission(_, why) => write!(f, "{why}"),
            StoreError::Foreign(p, why) => write!(
                f,
                "{} is not a tokwatch database ({why}); tokwatch wrote nothing to it. Pass --db (or set TOKWATCH_DB) to a path of tokwatch's own, or leave it out to use the default",
                p.display()
            ),
        }
    }
}
impl std::error::Error for StoreError {}

/// What one committed batch did to the events table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Requests stored for the first time.
    pub inserted: u64,
    /// Stored requests replaced by this batch's copy.
    pub updated: u64,
    /// Copies that changed nothing.
    pub unchanged: u64,
    /// Indices (into the batch) of events that were inserted (false) or changed a stored row
    /// (true).
    pub changed: Vec<(usize, bool)>,
}

/// An event ready to store: parsed, attributed and priced.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The event as parsed.
    pub ev: UsageEvent,
    /// Its repository's row, when attributed.
    pub workspace_id: Option<i64>,
    /// Its repository's display name.
    pub workspace_name: Option<String>,
    /// Its cost; `None` = unpriced (never 0 for an unknown price).
    pub cost_usd: Option<f64>,
    /// Where the cost comes from.
    pub cost_source: CostSource,
    /// The price entry used.
    pub price_key: Option<String>,
    /// Set after commit: this event replaced an earlier record of the same request.
    pub updated: bool,
}

/// tokwatch's database. Every SQL statement on it lives in this module and its children.
pub struct Store {
    /// Checkpoints beside the writer's commits ([`Store::checkpoint_beside`]). First, so that
    /// it ends before the connection closes (which then checkpoints what is left, as the last one).
    beside: Option<wal::BackgroundCheckpoint>,
    conn: Connection,
    /// The database file.
    pub path: PathBuf,
    /// While a group of batches shares one transaction ([`Store::begin`]): the rollup changes
    /// of all of them, written once before its commit. Files of one scan share most rollup
    /// cells (hours, days, every zone's local days), so one upsert per cell per group replaces
    /// one per cell per file.
    group: Option<Group>,
    /// A first load is being written without `events_key`, `events_msg_main` and `events_rev`
    /// (`store::bulk`): copies of one request may be stored apart until [`Store::finish_bulk`]
    /// merges them.
    bulk: bool,
    /// The keys this process's first load stored (`store::bulk`); in the open group while one
    /// is, and `None` once a transaction of the load rolled back (its end then sorts every key).
    seen: Option<bulk::Seen>,
    /// The highest change number a first load has given so far, from one group to the next:
    /// it goes without `events_rev` (`store::bulk`), so that number is not read back.
    bulk_rev: Option<i64>,
    /// The most copies the end of a first load holds whole while it merges them
    /// ([`bulk::FOLD_HELD`] unless a test sets fewer).
    fold_held: usize,
}

/// Frames in the write-ahead log from which a checkpoint beside the writer is asked for
/// ([`Store::checkpoint_beside`]): SQLite's automatic interval.
const WAL_FRAMES: i32 = 1000;

/// The page size of a new database: 16 KB rather than SQLite's 4 KB. A cold scan reads and
/// writes its database a page at a time (the log, the checkpoints into the file, the index
/// builds and merges at the end of a first load: 142k `pread64` and 117k `pwrite64` for 1 GB
/// of Claude Code logs with 4 KB pages; a quarter with 16 KB). Interleaved cold scans took
/// 8 % less wall and CPU time for Codex 0.5 GB and 6 % for Claude Code 1 GB; at 10 GB the
/// runs this machine allowed did not separate it from the noise (docs/benchmarks.md, "16 KB
/// pages"), and 64 KB was no faster. A live commit writes its few pages whole, 4x the bytes:
/// its checkpoints run beside it ([`Store::checkpoint_beside`]), where one inside a commit
/// took the live p99 from 4 to 11 ms. SQLite applies it only before a database's first
/// table: a file made before keeps its 4 KB pages and works as it did.
const PAGE_SIZE: i64 = 16_384;

/// The writer's page cache (`PRAGMA cache_size`: negative = KiB): 16 MB, so that index pages
/// of large histories stay hot during catch-up.
const CACHE_SIZE: i64 = -16_000;

/// What the batches of one catch-up transaction share.
#[derive(Default)]
struct Group {
    /// Their rollup changes, written at the commit.
    roll: Rollup,
    /// The highest change number of this machine's requests written so far in the group
    /// (`None` until the first batch reads it from `events_rev`): read once per group, not
    /// once per batch.
    max_rev: Option<i64>,
    /// Requests this group inserted, with what the merge rules compare (see [`Written`]).
    written: Written,
    /// Written as part of a first load ([`Store::bulk`]).
    bulk: bool,
    /// The load's stored keys ([`Store::seen`]), for this group's transaction.
    seen: Option<bulk::Seen>,
}

/// This machine's main-chain requests a catch-up group inserted or changed: by key hash, what
/// the merge rules compare of the stored row ([`Row::values`]) and whether its context split is
/// known to be stored. A copy read again in the same group that loses to it (or equals it) is
/// counted unchanged without a failed insert and a read of the stored row, and one that wins
/// skips the failed insert: Codex forks copy their parent's requests (a fifth of a generated
/// corpus's token counts). Valid only inside the group's transaction, which holds the write
/// lock, so no other writer changes a row under it; sidechain rows, which a main-chain copy
/// deletes, and requests under retention are never remembered. Two generations of at most
/// [`WRITTEN_CAP`] keys (~1.7 MB) keep the most recent.
#[derive(Default)]
struct Written {
    now: std::collections::HashMap<i64, Known, crate::tailer::PreHashed>,
    before: std::collections::HashMap<i64, Known, crate::tailer::PreHashed>,
}

/// What [`Written`] keeps of a row.
#[derive(Clone, Copy)]
struct Known {
    values: RowValues,
    /// Its context split is stored (false: not known).
    ctx: bool,
    /// Its row id (0: not known; always known in a first load, which reads and changes the
    /// row by it: `store::bulk`).
    id: i64,
}

/// Keys per generation of [`Written`] (7/8 of a power of two: a full table is not resized).
const WRITTEN_CAP: usize = 7_168;

impl Written {
    /// What is known of `key`'s row, if anything (and forgotten: the caller remembers the
    /// outcome).
    fn take(&mut self, key: i64) -> Option<Known> {
        self.now.remove(&key).or_else(|| self.before.remove(&key))
    }

    fn remember(&mut self, key: i64, values: RowValues, ctx: bool, id: i64) {
        if self.now.len() >= WRITTEN_CAP {
            self.before = std::mem::take(&mut self.now);
            self.now.reserve(WRITTEN_CAP);
        }
        self.now.insert(key, Known { values, ctx, id });
    }
}

/// The token counts of [`Row::values`].
fn values_tokens(v: &RowValues) -> Tokens {
    let [input, cache_write_5m, cache_write_1h, cache_read, output, reasoning, _] = v.1;
    Tokens {
        input,
        cache_write_5m,
        cache_write_1h,
        cache_read,
        output,
        reasoning,
    }
}

/// Indexes a first load builds once at its end (one sort) rather than keeping them in step row
/// by row: into an empty database it drops those marked deferred, which no write of the scan
/// reads (`events_session`'s thousands of insertion points cost as much as the table itself).
/// `events_rev` stays: each catch-up group reads this machine's highest change number from
/// it, and without it that read was a scan of the whole table per group (pages of the table
/// read again 40 times over at 10 GB); only a bulk first load, which carries that number from
/// group to group, goes without it (`store::bulk`). [`Store::open_writer`] builds any of them
/// that a load cut off (kill -9) left missing. The definitions are the ones of schema versions
/// 2 and 5.
const DEFERRED_INDEXES: &[LoadIndex] = &[
    LoadIndex {
        name: "events_session",
        create: "CREATE INDEX IF NOT EXISTS events_session ON events(session, tool, ts)",
        deferred: true,
    },
    LoadIndex {
        name: "events_rev",
        create: EVENTS_REV,
        deferred: false,
    },
];

/// This machine's change numbers (`export.rs`); a first load builds it at its end (`store::bulk`).
const EVENTS_REV: &str = "CREATE INDEX IF NOT EXISTS events_rev ON events(machine_id, rev)";

/// An index of [`DEFERRED_INDEXES`].
struct LoadIndex {
    name: &'static str,
    create: &'static str,
    /// Dropped before a first load (built after it); else only built when found missing.
    deferred: bool,
}

fn is_not_a_db(e: &rusqlite::Error) -> bool {
    problem::is_damage(e)
}

/// Creates the directory that holds the database `db` when it does not exist yet, private to
/// the user (0700; the default is under `~/.local/share`, which may not exist on a fresh
/// machine). A directory that exists is left as it is: `--db /tmp/x.db` must not change /tmp.
pub fn ensure_db_dir(db: &Path) -> anyhow::Result<()> {
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

impl Store {
    /// Opens (creating if needed) the database for writing, with the schema migrated. Another
    /// program's SQLite file is refused before anything is written; a permission problem or
    /// damage comes back as the [`StoreError`] that says so.
    pub fn open_writer(path: &Path) -> anyhow::Result<Store> {
        Store::open_writer_inner(path).map_err(|e| problem::classify(e, path, true))
    }

    fn open_writer_inner(path: &Path) -> anyhow::Result<Store> {
        ensure_db_dir(path)?;
        // Create the file 0600 before SQLite does (SQLite gives -wal/-shm the same mode).
        if !path.exists() {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            o.open(path)
                .with_context(|| format!("cannot create the database file {}", path.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // The batch writer keeps more than rusqlite's default 16 statements prepared (the
        // pruned-request lookups among them): a smaller cache re-parses SQL for every event.
        conn.set_prepared_statement_cache_capacity(64);
        if let Some(why) = problem::foreign_file(&conn)? {
            return Err(StoreError::Foreign(path.to_path_buf(), why).into());
        }
        let corrupt = |e: rusqlite::Error| -> anyhow::Error {
            if is_not_a_db(&e) {
                StoreError::Corrupt(path.to_path_buf(), problem::sqlite_text(&e)).into()
            } else {
                anyhow::Error::from(e)
            }
        };
        // A new database gets 16 KB pages (before its first table: an existing one keeps its own).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(corrupt)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(corrupt)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Statement journals (upserts with triggers need them) stay in memory, not temp files.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", CACHE_SIZE)?;
        // A log that grew during a long scan is cut back to this when it next restarts.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT as i64)?;
        let mut store = Store::over(conn, path);
        store
            .migrate()
            .map_err(|e| match e.downcast::<rusqlite::Error>() {
                Ok(se) => corrupt(se),
                Err(e) => e,
            })?;
        // A first load cut off (kill -9) is finished before anything else is written.
        store.finish_bulk()?;
        store.build_deferred_indexes()?;
        let app: i64 = store
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))?;
        if app != problem::APPLICATION_ID {
            store
                .conn
                .pragma_update(None, "application_id", problem::APPLICATION_ID)?;
        }
        Ok(store)
    }

    /// A store on the open connection `conn` to `path`, with no transaction or first load.
    fn over(conn: Connection, path: &Path) -> Store {
        Store {
            beside: None,
            conn,
            path: path.to_path_buf(),
            group: None,
            bulk: false,
            seen: None,
            bulk_rev: None,
            fold_held: bulk::FOLD_HELD,
        }
    }

    /// Opens an existing database read-only (CLI views). Works while the daemon writes.
    pub fn open_reader(path: &Path) -> anyhow::Result<Store> {
        Store::open_reader_inner(path).map_err(|e| problem::classify(e, path, false))
    }

    fn open_reader_inner(path: &Path) -> anyhow::Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()).into());
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Damage and permission problems are told apart by `classify`.
        if let Some(why) = problem::foreign_file(&conn)? {
            return Err(StoreError::Foreign(path.to_path_buf(), why).into());
        }
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if v == 0 {
            return Err(StoreError::Missing(path.to_path_buf()).into());
        }
        if v as usize > MIGRATIONS.len() {
            return Err(StoreError::TooNew(path.to_path_buf(), v).into());
        }
        // Touch the schema so a damaged file fails here with a clear message.
        conn.query_row("SELECT count(*) FROM files", [], |r| r.get::<_, i64>(0))?;
        Ok(Store::over(conn, path))
    }

    /// Lets this connection keep up to `mb` megabytes of the database in its page cache (a
    /// long-lived reader such as the dashboard's reads the same rollup pages again and again).
    pub fn set_cache_mb(&self, mb: i64) -> anyhow::Result<()> {
        self.conn.pragma_update(None, "cache_size", -mb * 1000)?;
        Ok(())
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if v as usize > MIGRATIONS.len() {
            return Err(StoreError::TooNew(self.path.clone(), v).into());
        }
        if v as usize == MIGRATIONS.len() {
            return Ok(());
        }
        // Every step in one transaction: a new database (all ten) is made with one commit
        // rather than ten, and an upgrade cut off leaves the version it started from.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for sql in &MIGRATIONS[v as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
        tx.commit()?;
        Ok(())
    }

    /// Every directory known to belong to a workspace row: (directory, workspace id, name).
    pub fn workspace_roots(&self) -> anyhow::Result<Vec<(String, i64, String)>> {
        let mut st = self.conn.prepare(
            "SELECT r.root, w.id, w.name FROM workspace_roots r JOIN workspaces w ON w.id = r.workspace_id",
        )?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v)
    }

    /// Every repository root directory tokwatch knows from stored usage (the main roots, and the
    /// directories events named inside them), for finding per-repository logs (Aider's).
    pub fn known_repository_roots(&self) -> anyhow::Result<Vec<String>> {
        let q = |sql: &str| -> rusqlite::Result<Vec<String>> {
            let mut st = self.conn.prepare(sql)?;
            let v = st
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(v)
        };
        // A database of an older schema has no workspace_roots yet.
        Ok(q(
            "SELECT root FROM workspaces WHERE root IS NOT NULL AND root != ''
              UNION SELECT root FROM workspace_roots",
        )
        .or_else(|_| q("SELECT root FROM workspaces WHERE root IS NOT NULL AND root != ''"))?)
    }

    /// Remembers that `root` (a directory that resolved to a repository) belongs to workspace
    /// `id`: a later event under it lands on that row even when the disk no longer says so.
    pub fn remember_workspace_root(&self, root: &str, id: i64) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO workspace_roots(root, workspace_id) VALUES(?1, ?2)
                 ON CONFLICT(root) DO UPDATE SET workspace_id = excluded.workspace_id
                 WHERE workspace_id != excluded.workspace_id",
            )?
            .execute(params![root, id])?;
        Ok(())
    }

    /// What every file row says the file looked like when it was last read, and how far it was
    /// read: path -> (fingerprint, offset), in one query and without the parser state (a re-run
    /// compares these with the disk and loads [`Store::file_checkpoint`] only for the files that
    /// changed). Rows of paths never read (an unreadable directory) have a zero fingerprint.
    pub fn file_fingerprints(&self) -> anyhow::Result<FileFingerprints> {
        let mut st = self.conn.prepare_cached(
            "SELECT path, dev, ino, size, mtime_ns, extra_sig, offset FROM files",
        )?;
        let mut out = FileFingerprints::default();
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let fp = Fingerprint {
                dev: r.get::<_, Option<i64>>(1)?.unwrap_or(0) as u64,
                ino: r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                size: r.get::<_, Option<i64>>(3)?.unwrap_or(0) as u64,
                mtime_ns: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                extra_sig: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
            };
            let offset = r.get::<_, Option<i64>>(6)?.unwrap_or(0) as u64;
            out.insert(r.get::<_, String>(0)?, (fp, offset));
        }
        Ok(out)
    }

    /// The file checkpoint stored for `path`, if any.
    pub fn file_checkpoint(&self, path: &str) -> anyhow::Result<Option<Checkpoint>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, dev, ino, size, mtime_ns, extra_sig, head_hash, offset, state, tail_hash FROM files WHERE path = ?1",
        )?;
        let row = st
            .query_row([path], |r| {
                let state: Option<String> = r.get(8)?;
                Ok(Checkpoint {
                    file_id: r.get(0)?,
                    fp: Fingerprint {
                        dev: r.get::<_, i64>(1)? as u64,
                        ino: r.get::<_, i64>(2)? as u64,
                        size: r.get::<_, i64>(3)? as u64,
                        mtime_ns: r.get(4)?,
                        extra_sig: r.get(5)?,
                    },
                    head_hash: r.get(6)?,
                    offset: r.get::<_, i64>(7)? as u64,
                    state: state
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default(),
                    tail_hash: r.get(9)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    /// Id of the workspace with `key`, creating or refreshing it.
    pub fn workspace_id(
        &self,
        key: &str,
        name: &str,
        root: Option<&str>,
        remote: Option<&str>,
    ) -> anyhow::Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO workspaces(key, name, root, remote) VALUES(?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET name = excluded.name,
                   root = coalesce(excluded.root, root), remote = coalesce(excluded.remote, remote)
                 WHERE name IS NOT excluded.name OR root IS NOT coalesce(excluded.root, root)
                   OR remote IS NOT coalesce(excluded.remote, remote)",
            )?
            .execute(params![key, name, root, remote])?;
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM workspaces WHERE key = ?1")?
            .query_row([key], |r| r.get(0))?)
    }

    /// SQLite's quick integrity check: `None` when the file is sound, else what it found
    /// (`doctor`). A damaged page anywhere is found, not only in the tables a report reads.
    pub fn damage(&self) -> anyhow::Result<Option<String>> {
        let rows: rusqlite::Result<Vec<String>> = self
            .conn
            .prepare("PRAGMA quick_check(3)")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect());
        match rows {
            Ok(v) if v.len() == 1 && v[0] == "ok" => Ok(None),
            Ok(v) => Ok(Some(v.join("; ").replace('\n', "; "))),
            Err(e) if problem::is_damage(&e) => Ok(Some(problem::sqlite_text(&e))),
            Err(e) => Err(e.into()),
        }
    }

    /// Paths recorded as unreadable that were never read as a file (directories that could not
    /// be listed).
    pub fn unreadable_dirs(&self) -> anyhow::Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT path FROM files WHERE read_error IS NOT NULL AND dev = 0 AND ino = 0 AND lines = 0",
        )?;
        let v = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(v)
    }

    /// Forgets the read error recorded for `path` (it can be read again).
    pub fn clear_read_error(&self, path: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE files SET read_error = NULL WHERE path = ?1")?
            .execute([path])?;
        Ok(())
    }

    /// Records that a file could not be read (the reason is shown by `doctor`).
    pub fn record_read_error(&self, path: &str, tool: &str, err: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO files(path, tool, read_error, updated_ms) VALUES(?1, ?2, ?3, ?4)
                 ON CONFLICT(path) DO UPDATE SET read_error = excluded.read_error, updated_ms = excluded.updated_ms",
            )?
            .execute(params![path, tool, err, now_ms()])?;
        Ok(())
    }
}

/// [`Store::file_fingerprints`]: path -> (fingerprint, offset).
///
/// Keyed with foldhash: every listed path is looked up on every scan, and SipHash over paths
/// of a hundred bytes or more was a tenth of a re-run's own instructions.
pub type FileFingerprints =
    std::collections::HashMap<String, (Fingerprint, u64), foldhash::fast::RandomState>;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Counts of lines/records read in one batch, for the file row.
#[derive(Debug, Default, Clone)]
pub struct ReadCounts {
    /// Complete lines read.
    pub lines: u64,
    /// Malformed records skipped.
    pub malformed: u64,
    /// One example error (never log text).
    pub first_error: Option<String>,
}

impl Store {
    /// Before a scan: when nothing is stored yet (a first load), drops the indexes that no
    /// write of the scan reads (the deferred ones of `DEFERRED_INDEXES`);
    /// [`Store::build_deferred_indexes`] builds them after it. Returns whether it dropped them.
    /// Readers stay correct meanwhile (a query of one session reads the table instead of the
    /// index). With `bulk`, also the two indexes on random keys (`store::bulk`): the caller then
    /// ends the load with [`Store::finish_bulk`] (else the next write or open does).
    pub fn defer_indexes_if_empty(&mut self, bulk: bool) -> anyhow::Result<bool> {
        let empty: bool =
            self.conn
                .query_row("SELECT NOT EXISTS(SELECT 1 FROM events)", [], |r| r.get(0))?;
        if !empty {
            return Ok(false);
        }
        let mut sql = String::from("BEGIN IMMEDIATE;");
        for i in DEFERRED_INDEXES.iter().filter(|i| i.deferred) {
            sql.push_str(&format!("DROP INDEX IF EXISTS {};", i.name));
        }
        sql.push_str("COMMIT;");
        self.conn.execute_batch(&sql)?;
        if bulk {
            self.start_bulk()?;
        }
        Ok(true)
    }

    /// Builds every index of `DEFERRED_INDEXES` that is missing (after a first load, or at
    /// open when one was cut off); nothing when all are there.
    pub fn build_deferred_indexes(&mut self) -> anyhow::Result<()> {
        let mut missing = Vec::new();
        for LoadIndex { name, create, .. } in DEFERRED_INDEXES {
            let there: bool = self.conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if !there {
                missing.push(*create);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        // Each index commits on its own: the checkpoint thread, when one runs, copies what
        // the last one wrote while the next is sorted.
        let poke = self.beside.as_ref().map(|b| b.poker());
        self.sorting(|conn| {
            for create in &missing {
                if let Some(p) = &poke {
                    p.poke();
                }
                conn.execute_batch(create)?;
            }
            Ok(())
        })
    }

    /// Runs `f`, whose sorts of the whole table (index builds, the end of a first load) spill
    /// to a temporary file rather than to memory (`temp_store = MEMORY` would hold all the keys
    /// of a 10 GB history in RAM) and work in 4 MB runs: a larger cache made the build of 750k
    /// rows no faster (1.16-1.23 s) and cost up to 56 MB more. Up to two helper threads sort
    /// runs beside it: no faster at 750k rows, ~1 s less of the end of a 10 GB first load (the
    /// three index builds of 2.3M rows, 3.2 s -> 2.5 s) for a few MB. The writer's settings are
    /// back after it, whatever it returns. Outside a transaction only (SQLite cannot change
    /// `temp_store` inside one).
    fn sorting<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.conn.execute_batch(
            "PRAGMA temp_store = FILE; PRAGMA cache_size = -4000; PRAGMA threads = 2;",
        )?;
        let done = f(&self.conn);
        self.conn.execute_batch(&format!(
            "PRAGMA temp_store = MEMORY; PRAGMA cache_size = {CACHE_SIZE}; PRAGMA threads = 0;"
        ))?;
        done
    }

    /// Starts a write transaction (catch-up groups many files per transaction).
    pub fn begin(&mut self) -> anyhow::Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.group = Some(Group {
            bulk: self.bulk,
            seen: self.seen.take(),
            max_rev: self.bulk_rev.filter(|_| self.bulk),
            ..Group::default()
        });
        Ok(())
    }

    /// Commits the open transaction (with the rollup changes of its batches).
    pub fn commit(&mut self) -> anyhow::Result<()> {
        if let Some(Group {
            roll,
            seen,
            max_rev,
            bulk,
            ..
        }) = self.group.take()
        {
            if let Err(e) = roll.write(&self.conn) {
                self.rollback();
                return Err(e);
            }
            self.seen = seen;
            if bulk {
                self.bulk_rev = max_rev;
            }
        }
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Rolls the open transaction back (after an error; a failure to roll back leaves SQLite to
    /// do it when the connection closes).
    pub fn rollback(&mut self) {
        self.group = None;
        self.seen = None;
        self.bulk_rev = None;
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Moves this writer's WAL checkpoints out of its commits: a thread on a second connection
    /// copies the committed pages into the database file (and syncs it) whenever a commit leaves
    /// `WAL_FRAMES` (1000) or more in the log, where SQLite's automatic checkpoint did that inside
    /// the commit that crossed it (the live daemon's slowest appends), and when poked
    /// ([`Store::poke_checkpoint`], a long scan after each group). Returns whether it runs: when
    /// the database cannot be opened a second time the automatic checkpoints stay.
    pub fn checkpoint_beside(&mut self) -> anyhow::Result<bool> {
        if self.beside.is_some() {
            return Ok(true);
        }
        let Some(bg) = wal::BackgroundCheckpoint::start(&self.path) else {
            return Ok(false);
        };
        let poke = bg.poker();
        // Replaces SQLite's automatic checkpoint, which is a hook of the same kind.
        self.conn
            .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: i32| {
                if frames >= WAL_FRAMES {
                    poke.poke();
                }
                Ok(())
            }))?;
        self.beside = Some(bg);
        Ok(true)
    }

    /// Asks the checkpoints beside the writer for one now (nothing when none run).
    pub fn poke_checkpoint(&self) {
        if let Some(b) = &self.beside {
            b.poke();
        }
    }

    /// Bytes in the write-ahead log file now (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        let mut p = self.path.clone().into_os_string();
        p.push("-wal");
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    /// Copies every committed page into the database file and makes the next write start the
    /// log from its beginning (`wal_checkpoint(RESTART)`), so a long scan's log stays bounded
    /// instead of growing with everything written since the last idle moment. With
    /// `journal_size_limit` set, the file itself shrinks back on that next write. Waits (up to
    /// the busy timeout) for readers and for a checkpoint in progress; returns whether the log
    /// was fully copied.
    pub fn restart_wal(&self) -> anyhow::Result<bool> {
        let (busy, log, done): (i64, i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        Ok(busy == 0 && log == done)
    }

    /// Writes one batch (events + the checkpoint that produced them) in ONE transaction: after
    /// a crash either both are there or neither is, so no line is counted twice or lost. When a
    /// transaction is open (catch-up), the batch joins it; otherwise it commits its own.
    pub fn commit_batch(
        &mut self,
        file_path: &str,
        tool: &str,
        cp: &Checkpoint,
        counts: &ReadCounts,
        events: &[StoredEvent],
    ) -> anyhow::Result<(i64, BatchOutcome)> {
        // A first load writes plain local requests of a catch-up group. Anything else (a batch
        // of its own, requests read from an export file, whose merge rules read the stored
        // copy) first ends it: its copies merged and its indexes built before the batch is
        // written (`Store::finish_bulk`).
        if self.bulk && (self.group.is_none() || events.iter().any(|e| e.ev.recorded.is_some())) {
            self.finish_bulk()?;
        }
        commit_batch(
            &mut self.conn,
            self.group.as_mut(),
            file_path,
            tool,
            cp,
            counts,
            events,
        )
    }
}

fn commit_batch(
    conn: &mut Connection,
    group: Option<&mut Group>,
    file_path: &str,
    tool: &str,
    cp: &Checkpoint,
    counts: &ReadCounts,
    events: &[StoredEvent],
) -> anyhow::Result<(i64, BatchOutcome)> {
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN IMMEDIATE")?;
    }
    // A group's rollup is written at its commit; a batch in its own transaction writes its own.
    let group = if own { None } else { group };
    let r = write_batch(conn, group, file_path, tool, cp, counts, events);
    if own {
        match &r {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    r
}

fn write_batch(
    tx: &Connection,
    group: Option<&mut Group>,
    file_path: &str,
    tool: &str,
    cp: &Checkpoint,
    counts: &ReadCounts,
    events: &[StoredEvent],
) -> anyhow::Result<(i64, BatchOutcome)> {
    let mut out = BatchOutcome::default();
    let mut changed = Vec::new();
    let state_json = serde_json::to_string(&cp.state)?;
    tx.prepare_cached("INSERT INTO files(path, tool) VALUES(?1, ?2) ON CONFLICT(path) DO NOTHING")?
        .execute(params![file_path, tool])?;
    let file_id: i64 = tx
        .prepare_cached("SELECT id FROM files WHERE path = ?1")?
        .query_row([file_path], |r| r.get(0))?;
    let grouped = group.is_some();
    let mut own = Group::default();
    let Group {
        roll,
        max_rev,
        written,
        bulk,
        seen,
    } = group.unwrap_or(&mut own);
    // A first load has no `events_key` and no `events_msg_main` (`store::bulk`): a copy of a
    // request stored by an earlier group is stored again, and a sidechain replay of a
    // message stored by an earlier group too; `Store::finish_bulk` merges both at the end.
    let bulk = *bulk;
    // This machine's change numbers continue from the highest stored (`export.rs`).
    let mut next_rev: i64 = match *max_rev {
        Some(r) => r,
        None => prune::max_local_rev(tx)?,
    };
    // Requests older than `[storage] keep_events_days` are identity rows in `pruned`: a later
    // copy of one merges against that row (`store::prune`).
    let pruned = prune::any(tx)?;
    let mut machines = export::MachineIds::default();
    // Sidechain replays (same message id, another request id) lose to the main-chain copy:
    // a few set-based statements per batch rather than one per event.
    let mut skip: std::collections::HashSet<(String, String)> = Default::default();
    {
        let side: Vec<&str> = events
            .iter()
            .filter(|e| e.ev.sidechain)
            .filter_map(|e| e.ev.msg_id.as_deref())
            .collect();
        if !side.is_empty() && !bulk {
            let mut q = tx.prepare_cached(
                "SELECT tool, msg_id FROM events WHERE msg_id IN
                   (SELECT value FROM json_each(?1)) AND sidechain = 0 AND msg_id IS NOT NULL",
            )?;
            let rows = q.query_map([serde_json::to_string(&side)?], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for r in rows {
                skip.insert(r?);
            }
            if pruned {
                for e in events.iter().filter(|e| e.ev.sidechain) {
                    if let Some(m) = e.ev.msg_id.as_deref() {
                        if prune::main_pruned(tx, &e.ev.tool, m)? {
                            skip.insert((e.ev.tool.clone(), m.to_string()));
                        }
                    }
                }
            }
        }
        // A main-chain copy in this same batch also wins over a sidechain replay in it (only
        // sidechain events look at `skip`).
        if !side.is_empty() {
            for e in events.iter().filter(|e| !e.ev.sidechain) {
                if let Some(m) = e.ev.msg_id.as_deref() {
                    skip.insert((e.ev.tool.clone(), m.to_string()));
                }
            }
        }
        // Stored sidechain replays of this batch's main-chain messages go. A first load leaves
        // them to its end, which deletes every replay a main-chain row shadows, whichever came
        // first (a set-based query per batch was ~6 % of the writer's time on dense logs).
        // Matched by tool and message id, as the end of a first load and the pruned rows
        // (`prune::take_side`) match them: another tool's row with the same id is not a replay.
        let main: std::collections::HashSet<(&str, &str)> = if bulk {
            Default::default()
        } else {
            events
                .iter()
                .filter(|e| !e.ev.sidechain)
                .filter_map(|e| Some((e.ev.tool.as_str(), e.ev.msg_id.as_deref()?)))
                .collect()
        };
        if !main.is_empty() {
            let msgs: Vec<&str> = main.iter().map(|&(_, m)| m).collect();
            let mut q = tx.prepare_cached(&format!(
                "SELECT {ROW_COLS}, id, msg_id FROM events WHERE msg_id IN (SELECT value FROM json_each(?1))
                   AND sidechain = 1 AND msg_id IS NOT NULL"
            ))?;
            let mut gone: Vec<i64> = Vec::new();
            let mut rows = q.query([serde_json::to_string(&msgs)?])?;
            while let Some(r) = rows.next()? {
                let row = Row::read(r)?;
                let msg: String = r.get(20)?;
                if main.contains(&(row.tool.as_str(), msg.as_str())) {
                    roll.add(&row, -1);
                    gone.push(r.get(19)?);
                }
            }
            drop(rows);
            if pruned {
                for e in events.iter().filter(|e| !e.ev.sidechain) {
                    if let Some(m) = e.ev.msg_id.as_deref() {
                        for g in prune::take_side(tx, &e.ev.tool, m)? {
                            roll.add(&g, -1);
                        }
                    }
                }
            }
            gone.sort_unstable();
            bulk::delete(tx, &gone)?;
        }
    }
    {
        // Insert first (most requests are new); only on a conflict read the stored row and
        // apply the merge rule.
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO events(tool, key_hash, ts, model, provider, session, workspace_id,
                branch, input, cw5, cw1h, cr, output, reasoning, requests, cost, cost_source,
                price_key, msg_id, sidechain, file_id, machine_id, rev, speed, est, ctx, rule)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
        )?;
        let mut stored = tx.prepare_cached(&format!(
            "SELECT {ROW_COLS} FROM events WHERE key_hash = ?1"
        ))?;
        const SET: &str = "UPDATE events SET tool = ?1, ts = ?3, model = ?4, provider = ?5,
                session = ?6, workspace_id = ?7, branch = ?8, input = ?9, cw5 = ?10, cw1h = ?11,
                cr = ?12, output = ?13, reasoning = ?14, requests = ?15, cost = ?16,
                cost_source = ?17, price_key = ?18, msg_id = ?19, sidechain = ?20, file_id = ?21,
                machine_id = ?22, rev = ?23, speed = ?24, est = ?25, ctx = COALESCE(?26, ctx),
                rule = ?27";
        let mut update = tx.prepare_cached(&format!("{SET} WHERE key_hash = ?2"))?;
        let mut set_ctx =
            tx.prepare_cached("UPDATE events SET ctx = ?2 WHERE key_hash = ?1 AND ctx IS NULL")?;
        // A first load finds the rows of its own group by id (no index on `key_hash`).
        let mut by_id = bulk
            .then(|| -> rusqlite::Result<_> {
                Ok((
                    tx.prepare_cached(&format!("SELECT {ROW_COLS} FROM events WHERE id = ?1"))?,
                    tx.prepare_cached(&format!("{SET} WHERE id = ?28"))?,
                    tx.prepare_cached("UPDATE events SET ctx = ?2 WHERE id = ?1 AND ctx IS NULL")?,
                ))
            })
            .transpose()?;
        // The texts last bound to `insert` (SQLite keeps a binding until it is replaced).
        let mut bound = InsertTexts::default();
        for (i, se) in events.iter().enumerate() {
            let e = &se.ev;
            if e.sidechain {
                if let Some(mid) = e.msg_id.as_deref() {
                    if skip.contains(&(e.tool.clone(), mid.to_string())) {
                        out.unchanged += 1;
                        continue;
                    }
                }
            }
            let h = dedup::identity(e);
            // Who recorded it (0 = this machine), and that machine's change number of it: a
            // request read from an export file keeps its own, one recorded here takes the next.
            let (machine_id, rev) = match &e.recorded {
                Some(r) => (machines.id(tx, &r.machine)?, r.rev),
                None => (0, next_rev + 1),
            };
            let new = Row::of(se, h, machine_id, rev);
            let ctx = e.ctx.as_ref().map(|c| c.as_str());
            let p = params![
                e.tool,
                h,
                e.timestamp_ms,
                e.model,
                e.provider,
                e.session_id,
                se.workspace_id,
                e.branch,
                e.tokens.input,
                e.tokens.cache_write_5m,
                e.tokens.cache_write_1h,
                e.tokens.cache_read,
                e.tokens.output,
                e.tokens.reasoning,
                e.requests,
                se.cost_usd,
                se.cost_source.as_i64(),
                se.price_key,
                e.msg_id,
                e.sidechain as i64,
                file_id,
                machine_id,
                rev,
                e.speed,
                e.estimated as i64,
                ctx,
                e.merge.as_i64(),
            ];
            // Only this machine's main-chain requests, outside retention's identity rows.
            let memo = grouped && !pruned && e.recorded.is_none() && !e.sidechain;
            // Inserted or changed earlier in this group (`Written`): a copy that loses is
            // decided without a failed insert and a read of the stored row. Equal times are
            // left to the stored row (the rules' tie-break compares sessions, not kept here).
            let known = if memo {
                written
                    .take(h)
                    .filter(|k| k.values == new.values() || k.values.0 != new.ts)
            } else {
                None
            };
            if let Some(k) = &known {
                let replace = k.values != new.values()
                    && e.merge.replaces_at(
                        &values_tokens(&k.values),
                        (k.values.0, ""),
                        &new.tokens(),
                        (new.ts, ""),
                    );
                if !replace {
                    if let (Some(c), false) = (&ctx, k.ctx) {
                        match &mut by_id {
                            Some((_, _, set)) => set.execute(params![k.id, c])?,
                            None => set_ctx.execute(params![h, c])?,
                        };
                    }
                    written.remember(h, k.values, k.ctx || ctx.is_some(), k.id);
                    out.unchanged += 1;
                    continue;
                }
            }
            let texts = InsertTexts::of(se, ctx);
            let was_pruned = if pruned { prune::lookup(tx, h)? } else { None };
            if known.is_none() && was_pruned.is_none() && bound.insert(&mut insert, p, texts)? == 1
            {
                if machine_id == 0 {
                    next_rev = next_rev.max(rev);
                }
                out.inserted += 1;
                changed.push((i, false));
                roll.add(&new, 1);
                if let Some(s) = seen {
                    s.stored(h);
                }
                if memo {
                    written.remember(h, new.values(), ctx.is_some(), tx.last_insert_rowid());
                }
                continue;
            }
            let is_pruned = was_pruned.is_some();
            // Whether the stored row is known to hold a context split.
            let old_ctx = known.is_some_and(|k| k.ctx);
            // The stored row's id, when known (a first load's own row).
            let id = known.map_or(0, |k| k.id);
            let old = match (was_pruned, &mut by_id) {
                (Some(o), _) => o,
                (None, Some((read, _, _))) if id != 0 => read.query_row([id], Row::read)?,
                (None, _) => stored.query_row([h], Row::read)?,
            };
            let replace = if old.machine_id != machine_id {
                // Two machines recorded it: one order-free rule, whichever arrives first.
                export::cross_replaces(tx, &old, &new)?
            } else if e.recorded.is_some() {
                // The same machine's newer change replaces its older one.
                if rev > old.rev && old.same_as(&new) {
                    if is_pruned {
                        prune::set_rev(tx, h, rev)?;
                    } else {
                        export::set_rev(tx, h, rev)?;
                    }
                    if machine_id == 0 {
                        next_rev = next_rev.max(rev);
                    }
                }
                rev > old.rev && !old.same_as(&new)
            } else {
                // A copy equal to the stored row changes nothing, whatever the rule.
                old.values() != new.values()
                    && e.merge.replaces_at(
                        &old.tokens(),
                        (old.ts, &old.session),
                        &new.tokens(),
                        (new.ts, &new.session),
                    )
            };
            if !replace {
                // The same request read again with its context split where the stored copy has
                // none (a subagent's request was stored first from the copy embedded in its
                // parent's log, which has no chain): the split is added, nothing else changes.
                if let (Some(c), false) = (&ctx, is_pruned) {
                    match &mut by_id {
                        Some((_, _, set)) if id != 0 => set.execute(params![id, c])?,
                        _ => set_ctx.execute(params![h, c])?,
                    };
                }
                if memo {
                    written.remember(h, old.values(), ctx.is_some(), id);
                }
                out.unchanged += 1;
                continue;
            }
            if machine_id == 0 {
                next_rev = next_rev.max(rev);
            }
            if is_pruned {
                // Stored in full again, with the copy that replaced it.
                prune::forget(tx, h)?;
                bound.insert(&mut insert, p, texts)?;
            } else {
                match &mut by_id {
                    Some((_, up, _)) if id != 0 => {
                        let mut q: Vec<&dyn rusqlite::ToSql> = p.to_vec();
                        q.push(&id);
                        up.execute(&*q)?
                    }
                    _ => update.execute(p)?,
                };
            }
            roll.add(&old, -1);
            roll.add(&new, 1);
            if memo {
                // The update keeps a stored split when the copy has none.
                written.remember(h, new.values(), old_ctx || ctx.is_some(), id);
            }
            out.updated += 1;
            changed.push((i, true));
        }
    }
    *max_rev = Some(next_rev);
    if !grouped {
        std::mem::take(roll).write(tx)?;
    }
    let last_ts = events.iter().map(|e| e.ev.timestamp_ms).max();
    tx.prepare_cached(
        "UPDATE files SET tool = ?2, dev = ?3, ino = ?4, size = ?5, mtime_ns = ?6, extra_sig = ?7,
            head_hash = ?8, offset = ?9, state = ?10, lines = lines + ?11,
            events = events + ?12, malformed = malformed + ?13,
            first_error = coalesce(first_error, ?14), read_error = NULL,
            last_event_ms = max(coalesce(last_event_ms, 0), coalesce(?15, 0)), updated_ms = ?16,
            tail_hash = ?17
         WHERE id = ?1",
    )?
    .execute(params![
        file_id,
        tool,
        cp.fp.dev as i64,
        cp.fp.ino as i64,
        cp.fp.size as i64,
        cp.fp.mtime_ns,
        cp.fp.extra_sig,
        cp.head_hash,
        cp.offset as i64,
        state_json,
        counts.lines as i64,
        events.len() as i64,
        counts.malformed as i64,
        counts.first_error,
        last_ts,
        now_ms(),
        cp.tail_hash,
    ])?;
    out.changed = changed;
    Ok((file_id, out))
}

/// The text parameters of `write_batch`'s insert, by their 1-based index, and for one event.
/// Binding a text copies it into SQLite; the requests of one file mostly share their tool,
/// model, provider, session, branch, price entry and speed, so a text equal to the one bound
/// last stays bound (for a Codex corpus, binding was 14 % of the writer's instructions).
const INSERT_TEXT_SLOTS: [usize; 9] = [1, 4, 5, 6, 8, 18, 19, 24, 26];

/// What is bound to `write_batch`'s insert in the slots of [`INSERT_TEXT_SLOTS`]: `None` = not
/// known to be bound (the statement comes from the cache with its bindings cleared).
#[derive(Default)]
struct InsertTexts<'a> {
    v: [Option<Option<&'a str>>; 9],
}

impl<'a> InsertTexts<'a> {
    /// One event's texts, in the order of [`INSERT_TEXT_SLOTS`].
    fn of(se: &'a StoredEvent, ctx: Option<&'a str>) -> [Option<&'a str>; 9] {
        let e = &se.ev;
        [
            Some(e.tool.as_str()),
            e.model.as_deref(),
            e.provider.as_deref(),
            e.session_id.as_deref(),
            e.branch.as_deref(),
            se.price_key.as_deref(),
            e.msg_id.as_deref(),
            e.speed.as_deref(),
            ctx,
        ]
    }

    /// Binds `p` to `st`, skipping each text equal to the one bound, and executes it.
    fn insert(
        &mut self,
        st: &mut rusqlite::Statement<'_>,
        p: &[&dyn rusqlite::ToSql],
        now: [Option<&'a str>; 9],
    ) -> rusqlite::Result<usize> {
        for (k, v) in p.iter().enumerate() {
            let idx = k + 1;
            if let Some(t) = INSERT_TEXT_SLOTS.iter().position(|&s| s == idx) {
                if self.v[t] == Some(now[t]) {
                    continue;
                }
                self.v[t] = Some(now[t]);
            }
            st.raw_bind_parameter(idx, v)?;
        }
        st.raw_execute()
    }
}

/// Columns of an event row that the rollup and the merge rules need.
const ROW_COLS: &str = "key_hash, ts, tool, coalesce(workspace_id, 0), coalesce(branch, ''), \
    coalesce(model, ''), coalesce(session, ''), input, cw5, cw1h, cr, output, reasoning, requests, \
    cost, cost_source, coalesce(provider, ''), machine_id, coalesce(rev, 0)";

/// [`Row::values`]: time, token counts and requests, cost source, cost bits.
type RowValues = (i64, [i64; 7], i64, i64);

#[derive(Debug, Clone, PartialEq)]
struct Row {
    key_hash: i64,
    ts: i64,
    tool: String,
    workspace_id: i64,
    branch: String,
    model: String,
    session: String,
    input: i64,
    cw5: i64,
    cw1h: i64,
    cr: i64,
    output: i64,
    reasoning: i64,
    requests: i64,
    cost: Option<f64>,
    cost_source: i64,
    provider: String,
    machine_id: i64,
    rev: i64,
}

impl Row {
    fn read(r: &rusqlite::Row) -> rusqlite::Result<Row> {
        Ok(Row {
            key_hash: r.get(0)?,
            ts: r.get(1)?,
            tool: r.get(2)?,
            workspace_id: r.get(3)?,
            branch: r.get(4)?,
            model: r.get(5)?,
            session: r.get(6)?,
            input: r.get(7)?,
            cw5: r.get(8)?,
            cw1h: r.get(9)?,
            cr: r.get(10)?,
            output: r.get(11)?,
            reasoning: r.get(12)?,
            requests: r.get(13)?,
            cost: r.get(14)?,
            cost_source: r.get(15)?,
            provider: r.get(16)?,
            machine_id: r.get(17)?,
            rev: r.get(18)?,
        })
    }
    fn of(se: &StoredEvent, key_hash: i64, machine_id: i64, rev: i64) -> Row {
        let e = &se.ev;
        Row {
            key_hash,
            ts: e.timestamp_ms,
            tool: e.tool.clone(),
            workspace_id: se.workspace_id.unwrap_or(0),
            branch: e.branch.clone().unwrap_or_default(),
            model: e.model.clone().unwrap_or_default(),
            session: e.session_id.clone().unwrap_or_default(),
            input: e.tokens.input,
            cw5: e.tokens.cache_write_5m,
            cw1h: e.tokens.cache_write_1h,
            cr: e.tokens.cache_read,
            output: e.tokens.output,
            reasoning: e.tokens.reasoning,
            requests: e.requests,
            cost: se.cost_usd,
            cost_source: se.cost_source.as_i64(),
            provider: e.provider.clone().unwrap_or_default(),
            machine_id,
            rev,
        }
    }
    fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input,
            cache_write_5m: self.cw5,
            cache_write_1h: self.cw1h,
            cache_read: self.cr,
            output: self.output,
            reasoning: self.reasoning,
        }
    }
    /// What last-wins compares: a record that changes nothing is not written again.
    fn values(&self) -> RowValues {
        (
            self.ts,
            [
                self.input,
                self.cw5,
                self.cw1h,
                self.cr,
                self.output,
                self.reasoning,
                self.requests,
            ],
            self.cost_source,
            self.cost.map(f64::to_bits).unwrap_or(0) as i64,
        )
    }
}

/// A cost in billionths of a dollar, as `rollup_hour` sums it (SQLite's own rounding).
fn nano_usd(cost: Option<f64>) -> i64 {
    (cost.unwrap_or(0.0) * 1e9).round() as i64
}

type RollKey = (i64, String, i64, String, String, String, String, i64);
/// (hour, tool, workspace, branch, model, provider, machine): `rollup_hour`'s key.
type HourKey = (i64, String, i64, String, String, String, i64);

/// Rollup changes of one batch, summed per cell before they are written: one upsert per
/// (15-minute bucket, tool, workspace, branch, model, session) touched, not one per event.
#[derive(Default)]
struct Rollup {
    /// Cells by a hash of their key (the key's strings are cloned once per cell, not per event),
    /// with their cost as a float sum and in billionths (for `rollup_time`). Two keys with one
    /// hash take the next free number ([`cell`]), so a cell is always exactly one key's.
    cells: CellMap<(RollKey, [i64; 10], f64, i64)>,
    /// The same changes per `rollup_hour` cell, with the latest time added to each.
    hours: CellMap<(HourKey, [i64; 10], i64, i64)>,
}

/// Rollup cells by the hash of their key (already a hash: foldhash mixes it cheaply).
type CellMap<V> = std::collections::HashMap<u64, V, foldhash::fast::FixedState>;

/// The hash of a rollup key: foldhash's quality variant with a fixed seed (SipHash, the
/// standard library's, was 6 % of a Codex scan's writer instructions).
const KEY_HASH: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x746f_6b77);

/// The cell of `map` for a key whose hash is `h`: the first entry from `h` on (wrapping) whose
/// key `is_key`, or a new one from `make` at the first free number.
fn cell<K, V: HasKey<K>>(
    map: &mut CellMap<V>,
    mut h: u64,
    is_key: impl Fn(&K) -> bool,
    make: impl FnOnce() -> V,
) -> &mut V {
    loop {
        match map.get(&h) {
            Some(c) if is_key(c.key()) => break,
            Some(_) => h = h.wrapping_add(1),
            None => {
                map.insert(h, make());
                break;
            }
        }
    }
    map.get_mut(&h).expect("the cell was found or made above")
}

/// A rollup cell's key (its first field).
trait HasKey<K> {
    fn key(&self) -> &K;
}

impl<K, A, B, C> HasKey<K> for (K, A, B, C) {
    fn key(&self) -> &K {
        &self.0
    }
}

impl Rollup {
    fn add(&mut self, r: &Row, sign: i64) {
        use std::hash::BuildHasher;
        // Each key once, borrowed: hashed, compared with a cell's, and cloned into a new cell.
        let key = (
            r.ts.div_euclid(query::BUCKET_MS),
            &r.tool,
            r.workspace_id,
            &r.branch,
            &r.model,
            &r.session,
            &r.provider,
            r.machine_id,
        );
        let c = cell(
            &mut self.cells,
            KEY_HASH.hash_one(key),
            |k: &RollKey| (k.0, &k.1, k.2, &k.3, &k.4, &k.5, &k.6, k.7) == key,
            || {
                let (b, t, w, br, m, s, p, mach) = key;
                let owned = (
                    b,
                    t.clone(),
                    w,
                    br.clone(),
                    m.clone(),
                    s.clone(),
                    p.clone(),
                    mach,
                );
                (owned, [0; 10], 0.0, 0)
            },
        );
        let by = |src: i64| if r.cost_source == src { r.requests } else { 0 };
        let v = [
            r.requests,
            r.input,
            r.cw5,
            r.cw1h,
            r.cr,
            r.output,
            r.reasoning,
            by(3),
            by(2),
            by(1),
        ];
        for (a, b) in c.1.iter_mut().zip(v) {
            *a += sign * b;
        }
        c.2 += sign as f64 * r.cost.unwrap_or(0.0);
        c.3 += sign * nano_usd(r.cost);

        let key = (
            r.ts.div_euclid(query::HOUR_MS),
            &r.tool,
            r.workspace_id,
            &r.branch,
            &r.model,
            &r.provider,
            r.machine_id,
        );
        let c = cell(
            &mut self.hours,
            KEY_HASH.hash_one(key),
            |k: &HourKey| (k.0, &k.1, k.2, &k.3, &k.4, &k.5, k.6) == key,
            || {
                let (hour, t, w, br, m, p, mach) = key;
                let owned = (hour, t.clone(), w, br.clone(), m.clone(), p.clone(), mach);
                (owned, [0; 10], 0, i64::MIN)
            },
        );
        for (a, b) in c.1.iter_mut().zip(v) {
            *a += sign * b;
        }
        c.2 += sign * nano_usd(r.cost);
        if sign > 0 {
            c.3 = c.3.max(r.ts);
        }
    }

    fn write(self, tx: &Connection) -> anyhow::Result<()> {
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup(bucket, tool, workspace_id, branch, model, session, provider,
                machine_id, requests, input, cw5, cw1h, cr, output, reasoning, unpriced, estimated,
                reported, cost)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT DO UPDATE SET
                requests = requests + excluded.requests, input = input + excluded.input,
                cw5 = cw5 + excluded.cw5, cw1h = cw1h + excluded.cw1h, cr = cr + excluded.cr,
                output = output + excluded.output, reasoning = reasoning + excluded.reasoning,
                cost = cost + excluded.cost, unpriced = unpriced + excluded.unpriced,
                estimated = estimated + excluded.estimated, reported = reported + excluded.reported",
        )?;
        // `rollup_time`: the same changes per quarter-hour, hour, and local day of every
        // offset, every key summed.
        let mut times: std::collections::BTreeMap<(i64, i64, i64), ([i64; 10], i64)> =
            Default::default();
        let mut time = |unit: i64, off: i64, t: i64, v: &[i64; 10], nano: i64| {
            let c = times.entry((unit, off, t)).or_insert(([0; 10], 0));
            for (a, b) in c.0.iter_mut().zip(v) {
                *a += b;
            }
            c.1 += nano;
        };
        for ((b, tool, ws, br, m, s, prov, mach), v, cost, nano) in self.cells.into_values() {
            if v.iter().all(|x| *x == 0) && cost == 0.0 {
                continue;
            }
            time(0, 0, b, &v, nano);
            st.execute(params![
                b, tool, ws, br, m, s, prov, mach, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                v[8], v[9], cost
            ])?;
        }
        let mut st = tx.prepare_cached(&coarse_upsert("rollup_hour", "hour"))?;
        // `rollup_day` gets the sum of the same changes per UTC day.
        let mut days: std::collections::HashMap<HourKey, ([i64; 10], i64, i64)> =
            std::collections::HashMap::with_capacity(self.hours.len());
        for ((h, tool, ws, br, m, prov, mach), v, cost, last) in self.hours.into_values() {
            if v.iter().all(|x| *x == 0) && cost == 0 {
                continue;
            }
            time(1, 0, h, &v, cost);
            let d = days
                .entry((
                    h.div_euclid(24),
                    tool.clone(),
                    ws,
                    br.clone(),
                    m.clone(),
                    prov.clone(),
                    mach,
                ))
                .or_insert(([0; 10], 0, i64::MIN));
            for (a, b) in d.0.iter_mut().zip(v) {
                *a += b;
            }
            d.1 += cost;
            d.2 = d.2.max(last);
            // A cell only subtracted from keeps its stored latest time.
            let last = if last == i64::MIN {
                h * query::HOUR_MS
            } else {
                last
            };
            st.execute(params![
                h, tool, ws, br, m, prov, mach, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                v[8], v[9], cost, last
            ])?;
        }
        let mut st = tx.prepare_cached(&coarse_upsert("rollup_day", "day"))?;
        // `rollup_span` gets the sum of the same changes per 64 UTC days.
        let mut spans: std::collections::HashMap<HourKey, ([i64; 10], i64, i64)> =
            std::collections::HashMap::with_capacity(days.len());
        for ((d, tool, ws, br, m, prov, mach), (v, cost, last)) in days {
            if v.iter().all(|x| *x == 0) && cost == 0 {
                continue;
            }
            let s = spans
                .entry((
                    d.div_euclid(64),
                    tool.clone(),
                    ws,
                    br.clone(),
                    m.clone(),
                    prov.clone(),
                    mach,
                ))
                .or_insert(([0; 10], 0, i64::MIN));
            for (a, b) in s.0.iter_mut().zip(v) {
                *a += b;
            }
            s.1 += cost;
            s.2 = s.2.max(last);
            let last = if last == i64::MIN {
                d * query::DAY_MS
            } else {
                last
            };
            st.execute(params![
                d, tool, ws, br, m, prov, mach, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                v[8], v[9], cost, last
            ])?;
        }
        // Local days of every offset from the quarter-hours (summed first: one addition per
        // quarter-hour and offset, not per cell).
        let quarters: Vec<(i64, ([i64; 10], i64))> = times
            .range(..(1, 0, i64::MIN))
            .map(|(k, v)| (k.2, *v))
            .collect();
        for (b, (v, nano)) in quarters {
            for off in query::OFFSETS {
                let c = times
                    .entry((2, off, (b + off).div_euclid(96)))
                    .or_insert(([0; 10], 0));
                for (a, x) in c.0.iter_mut().zip(v) {
                    *a += x;
                }
                c.1 += nano;
            }
        }
        let mut st = tx.prepare_cached(&coarse_upsert("rollup_span", "span"))?;
        for ((sp, tool, ws, br, m, prov, mach), (v, cost, last)) in spans {
            if v.iter().all(|x| *x == 0) && cost == 0 {
                continue;
            }
            let last = if last == i64::MIN {
                sp * query::SPAN_MS
            } else {
                last
            };
            st.execute(params![
                sp, tool, ws, br, m, prov, mach, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                v[8], v[9], cost, last
            ])?;
        }
        let mut st = tx.prepare_cached(
            "INSERT INTO rollup_time(unit, off, t, requests, input, cw5, cw1h, cr, output,
                reasoning, unpriced, estimated, reported, cost_nano)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT DO UPDATE SET
                requests = requests + excluded.requests, input = input + excluded.input,
                cw5 = cw5 + excluded.cw5, cw1h = cw1h + excluded.cw1h, cr = cr + excluded.cr,
                output = output + excluded.output, reasoning = reasoning + excluded.reasoning,
                cost_nano = cost_nano + excluded.cost_nano, unpriced = unpriced + excluded.unpriced,
                estimated = estimated + excluded.estimated, reported = reported + excluded.reported",
        )?;
        for ((unit, off, t), (v, nano)) in times {
            if v.iter().all(|x| *x == 0) && nano == 0 {
                continue;
            }
            st.execute(params![
                unit, off, t, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], nano
            ])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two keys that arrive with one hash get a cell each, and each finds its own again.
    #[test]
    fn keys_with_one_hash_get_a_cell_each() {
        let mut m: CellMap<(&str, [i64; 10], i64, i64)> = CellMap::default();
        let add = |m: &mut CellMap<(&str, [i64; 10], i64, i64)>, k: &'static str, n: i64| {
            let c = cell(m, 7, |x| *x == k, || (k, [0; 10], 0, 0));
            c.1[0] += n;
        };
        add(&mut m, "a", 1);
        add(&mut m, "b", 10);
        add(&mut m, "a", 2);
        add(&mut m, "b", 20);
        // A cell made on a probe keeps its number; one at u64::MAX wraps to 0.
        let mut sums: Vec<(&str, i64)> = m.values().map(|c| (c.0, c.1[0])).collect();
        sums.sort();
        assert_eq!(sums, vec![("a", 3), ("b", 30)]);
        assert!(m.contains_key(&7) && m.contains_key(&8));
        cell(&mut m, u64::MAX, |x| *x == "c", || ("c", [0; 10], 0, 0));
        cell(&mut m, u64::MAX, |x| *x == "d", || ("d", [0; 10], 0, 0));
        assert_eq!(m.get(&0).map(|c| c.0), Some("d"));
    }

    /// One copy of a request as a batch of its own "file".
    fn copy(merge: crate::event::Merge, ts: i64, output: i64, ctx: Option<&str>) -> StoredEvent {
        let mut ev = UsageEvent::new("codex", "s1:t1".into(), merge, ts);
        ev.tokens.output = output;
        ev.session_id = Some("s1".into());
        ev.ctx = ctx.map(|c| crate::event::Ctx::from_encoded(c.into()));
        StoredEvent {
            ev,
            workspace_id: None,
            workspace_name: None,
            cost_usd: Some(output as f64 / 1000.0),
            cost_source: CostSource::Computed,
            price_key: None,
            updated: false,
        }
    }

    /// Copies of one request in one catch-up group are merged against the row as this group
    /// left it (`Written`), exactly as when each batch commits on its own: the same outcome
    /// per copy, the same stored row and rollup, the split kept.
    #[test]
    fn copies_in_one_group_merge_as_batches_on_their_own_do() {
        use crate::event::Merge;
        let copies = [
            copy(Merge::LastWins, 100, 10, None),
            // A fork's copy, stamped later: loses, adds its split.
            copy(Merge::Earliest, 200, 10, Some("u=5")),
            // The original again with more output: replaces, keeps the stored split.
            copy(Merge::LastWins, 100, 20, None),
            // Equal to the stored row: nothing, not even its split.
            copy(Merge::LastWins, 100, 20, Some("u=9")),
            // Older than the stored row but Earliest: replaces.
            copy(Merge::Earliest, 50, 20, None),
        ];
        let run = |grouped: bool| {
            let dir = tempfile::tempdir().unwrap();
            let mut st = Store::open_writer(&dir.path().join("t.db")).unwrap();
            if grouped {
                st.begin().unwrap();
            }
            let mut outcomes = Vec::new();
            for (n, c) in copies.iter().enumerate() {
                let (_, o) = st
                    .commit_batch(
                        &format!("/f{n}"),
                        "codex",
                        &Checkpoint::default(),
                        &ReadCounts::default(),
                        std::slice::from_ref(c),
                    )
                    .unwrap();
                outcomes.push((o.inserted, o.updated, o.unchanged));
            }
            if grouped {
                st.commit().unwrap();
            }
            let row: (i64, i64, Option<String>) = st
                .conn
                .query_row("SELECT ts, output, ctx FROM events", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap();
            let roll: (i64, i64, f64) = st
                .conn
                .query_row(
                    "SELECT sum(requests), sum(output), sum(cost) FROM rollup",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            (outcomes, row, roll)
        };
        let alone = run(false);
        assert_eq!(
            alone.0,
            vec![(1, 0, 0), (0, 0, 1), (0, 1, 0), (0, 0, 1), (0, 1, 0)]
        );
        assert_eq!(alone.1, (50, 20, Some("u=5".into())));
        assert_eq!((alone.2 .0, alone.2 .1), (1, 20));
        assert_eq!(run(true), alone);
    }

    /// A group remembers two generations of rows: a copy of a row inserted more than one
    /// generation ago goes to the stored row, one inserted within them does not need to, and
    /// either way changes nothing.
    #[test]
    fn a_long_group_still_finds_every_copy() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open_writer(&dir.path().join("t.db")).unwrap();
        let n = 2 * WRITTEN_CAP + 10;
        let batch = |from: usize, to: usize| -> Vec<StoredEvent> {
            (from..to)
                .map(|k| {
                    let mut c = copy(crate::event::Merge::LastWins, 1_000 + k as i64, 7, None);
                    c.ev.dedup_key = format!("k{k}");
                    c
                })
                .collect()
        };
        st.begin().unwrap();
        let write = |st: &mut Store, name: &str, evs: &[StoredEvent]| {
            let (_, o) = st
                .commit_batch(
                    name,
                    "codex",
                    &Checkpoint::default(),
                    &ReadCounts::default(),
                    evs,
                )
                .unwrap();
            (o.inserted, o.updated, o.unchanged)
        };
        assert_eq!(write(&mut st, "/a", &batch(0, n)), (n as u64, 0, 0));
        assert_eq!(write(&mut st, "/b", &batch(0, n)), (0, 0, n as u64));
        st.commit().unwrap();
        let sum: (i64, i64) = st
            .conn
            .query_row("SELECT count(*), sum(output) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(sum, (n as i64, 7 * n as i64));
    }
}
