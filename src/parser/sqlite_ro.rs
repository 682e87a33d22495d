//! Read-only access to databases owned by another program (OpenCode, Kilo CLI, Crush, Cursor).
//!
//! Rules (`docs/log-formats.md` §0.2; the privacy rule: other programs' files are opened read-only):
//! - Opened with `SQLITE_OPEN_READ_ONLY | SQLITE_OPEN_NO_MUTEX | SQLITE_OPEN_URI` and the URI
//!   parameter `mode=ro`: we can never write, never take a write lock, and never checkpoint.
//! - Not `immutable=1`: that would skip the `-wal` file, where a live writer's newest commits
//!   are. A reader in WAL mode blocks no writer; each query is its own short implicit read
//!   transaction (callers page through big tables), so a checkpoint is held back only briefly.
//! - When the normal open fails because the directory is read-only (the `-shm` index cannot be
//!   created) or the file cannot be opened for shared memory, the database and its `-wal` are
//!   copied to a private temporary directory and the copy is read; the copy is deleted after.
//!   The `-shm` file is not copied: it is only an index of the `-wal`, which SQLite rebuilds from
//!   the `-wal` itself, and a copy of it taken while the writer updates it could be torn.
//!
//! Also: a small watermark helper so parsers re-read only rows changed since the last read.

use super::{FileState, ParseError};
use crate::tailer::{wal_path, Fingerprint};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An open read-only connection; keeps the temporary snapshot (if any) alive.
pub struct RoDb {
    /// The read-only connection.
    pub conn: Connection,
    snapshot: Option<Snapshot>,
}

impl RoDb {
    /// True when the connection reads a private copy (the fallback path).
    pub fn is_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Whether the database has table `name`.
    pub fn table_exists(&self, name: &str) -> bool {
        table_exists(&self.conn, name)
    }

    /// Column names of `table` (empty when the table does not exist).
    pub fn columns(&self, table: &str) -> HashSet<String> {
        columns(&self.conn, table)
    }
}

/// Whether `conn` has table `name`.
pub fn table_exists(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .is_ok()
}

/// The column names of `table` (empty when it does not exist).
pub fn columns(conn: &Connection, table: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let sql = format!("PRAGMA table_info(\"{}\")", table.replace('"', "\"\""));
    if let Ok(mut st) = conn.prepare(&sql) {
        if let Ok(rows) = st.query_map([], |r| r.get::<_, String>(1)) {
            out.extend(rows.flatten());
        }
    }
    out
}

/// A private copy of a database, deleted on drop.
struct Snapshot {
    dir: PathBuf,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What went wrong, without any database content (privacy): SQLite's own messages for these
/// codes name no data, but we use fixed wording anyway.
fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "not a SQLite database".into(),
        Some(ErrorCode::DatabaseCorrupt) => "the database file is corrupt".into(),
        Some(ErrorCode::CannotOpen) => "the database cannot be opened".into(),
        Some(ErrorCode::PermissionDenied) => "permission denied".into(),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "the database stayed busy".into()
        }
        Some(ErrorCode::ReadOnly) => "the database cannot be read in read-only mode".into(),
        Some(c) => format!("SQLite error {c:?}"),
        None => "SQLite error".into(),
    }
}

/// Errors that the snapshot fallback can cure: the `-shm` file could not be created or
/// mapped, or the directory is read-only.
fn wants_snapshot(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::ReadOnly) | Some(ErrorCode::SystemIoFailure)
    )
}

/// `file:` URI of `path` with `mode=ro`. Percent-encodes everything but unreserved bytes and
/// `/`, so `?`, `#` and `%` in directory names cannot be taken for URI syntax.
pub fn ro_uri(path: &Path) -> String {
    let s = path.to_string_lossy();
    let mut p = String::new();
    if cfg!(windows) {
        let s = s.replace('\\', "/");
        if !s.starts_with('/') {
            p.push('/'); // file:/C:/dir/x.db
        }
        encode_into(&s, &mut p);
    } else {
        encode_into(&s, &mut p);
    }
    format!("file:{p}?mode=ro")
}

fn encode_into(s: &str, out: &mut String) {
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/');
        // A drive letter's colon must stay literal on Windows.
        if keep || (cfg!(windows) && b == b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(ro_uri(path), flags)?;
    // Readers in WAL mode are not blocked by writers; this only covers WAL recovery by
    // another process and the brief moment a checkpoint resets the WAL.
    conn.busy_timeout(Duration::from_millis(2000))?;
    // Keep each cached statement's plan: SQLite (built with STAT4) otherwise compiles a
    // statement again whenever a parameter compared with an indexed column gets a new value,
    // which an incremental reader does on every query (OpenCode's per-request history).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // Opening is lazy: read the schema now so errors show here.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(conn)
}

/// Opens `path` read-only (see the module notes), falling back to a private copy when the
/// normal open cannot create the shared-memory index. A file that is not a SQLite database
/// is a clear `Err`.
pub fn open_ro(path: &Path) -> Result<RoDb, ParseError> {
    check_header(path)?;
    match open_conn(path) {
        Ok(conn) => Ok(RoDb {
            conn,
            snapshot: None,
        }),
        Err(e) if wants_snapshot(&e) => {
            let snap = snapshot(path).map_err(|io| {
                ParseError(format!(
                    "{}; copying it to read it failed too: {}",
                    describe(&e),
                    io.kind()
                ))
            })?;
            let conn = open_conn(&snap.dir.join(db_name(path))).map_err(|e2| {
                ParseError(format!(
                    "{} (also when read from a copy: {})",
                    describe(&e),
                    describe(&e2)
                ))
            })?;
            Ok(RoDb {
                conn,
                snapshot: Some(snap),
            })
        }
        Err(e) => Err(ParseError(describe(&e))),
    }
}

/// Opens only through a private copy (used by tests of the fallback, and usable by callers that
/// must not touch the original's `-shm`).
pub fn open_snapshot(path: &Path) -> Result<RoDb, ParseError> {
    check_header(path)?;
    let snap = snapshot(path)
        .map_err(|e| ParseError(format!("cannot copy the database: {}", e.kind())))?;
    let conn = open_conn(&snap.dir.join(db_name(path))).map_err(|e| ParseError(describe(&e)))?;
    Ok(RoDb {
        conn,
        snapshot: Some(snap),
    })
}

/// A non-empty file must start with the SQLite magic string; an empty file is an empty database
/// (a writer that just created it).
fn check_header(path: &Path) -> Result<(), ParseError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| ParseError(format!("cannot open the database: {}", e.kind())))?;
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(ParseError(format!(
                    "cannot read the database: {}",
                    e.kind()
                )))
            }
        }
    }
    if n == 0 || (n == 16 && head == *b"SQLite format 3\0") {
        Ok(())
    } else {
        Err(ParseError("not a SQLite database".into()))
    }
}

fn db_name(path: &Path) -> std::ffi::OsString {
    path.file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "db".into())
}

/// What a file looks like now (`None` when it is not there): the tailer's fingerprint.
fn sig(p: &Path) -> Option<Fingerprint> {
    Fingerprint::path(p).ok()
}

/// Copies `path` and its `-wal` into a new private directory. The `-wal` is copied first and
/// the copy is retried when either file changed meanwhile (a checkpoint between the two copies
/// could otherwise pair an old database with a restarted WAL).
fn snapshot(path: &Path) -> std::io::Result<Snapshot> {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "tokwatch-snap-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    let snap = Snapshot { dir };
    let wal = wal_path(path);
    let dst = snap.dir.join(db_name(path));
    let dst_wal = wal_path(&dst);
    for attempt in 0..3 {
        let before = (sig(path), sig(&wal));
        let _ = std::fs::remove_file(&dst_wal);
        if wal.exists() {
            std::fs::copy(&wal, &dst_wal)?;
        }
        std::fs::copy(path, &dst)?;
        if (sig(path), sig(&wal)) == before || attempt == 2 {
            break;
        }
    }
    Ok(snap)
}

/// Incremental re-read bookkeeping for one table with an update-time column.
///
/// `wm` is the largest update time seen. The next read asks for rows updated at or after
/// `wm - lag` (rows committed late by a second writer with an older clock value are not
/// missed), and `seen` remembers, for every row in that window, its update time and a version
/// (a hash of the fields that matter), so a row that has not changed is not emitted again while
/// a row changed twice within one tick of a coarse clock (Crush writes whole seconds) is.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    /// The largest update time seen so far.
    pub wm: Option<i64>,
    /// id -> (update time, version)
    pub seen: BTreeMap<String, (i64, i64)>,
    /// How far back from the watermark each read looks again (late commits).
    pub lag: i64,
}

impl Watermark {
    /// The watermark `name` kept in a file's parser state.
    pub fn load(state: &FileState, name: &str, lag: i64) -> Watermark {
        let mut w = Watermark {
            wm: None,
            seen: BTreeMap::new(),
            lag,
        };
        if let Some(Value::Object(o)) = state.extra.get("wm").and_then(|m| m.get(name)) {
            w.wm = o.get("t").and_then(Value::as_i64);
            if let Some(Value::Object(s)) = o.get("seen") {
                for (k, v) in s {
                    if let (Some(t), Some(x)) = (
                        v.get(0).and_then(Value::as_i64),
                        v.get(1).and_then(Value::as_i64),
                    ) {
                        w.seen.insert(k.clone(), (t, x));
                    }
                }
            }
        }
        w
    }

    /// Keeps the watermark in the parser state under `name`.
    pub fn save(&mut self, state: &mut FileState, name: &str) {
        self.prune();
        let wm = state
            .extra
            .entry("wm")
            .or_insert_with(|| Value::Object(Map::new()));
        if !wm.is_object() {
            *wm = Value::Object(Map::new());
        }
        let seen: Map<String, Value> = self
            .seen
            .iter()
            .map(|(k, (t, x))| (k.clone(), json!([t, x])))
            .collect();
        wm.as_object_mut()
            .expect("just made an object")
            .insert(name.to_string(), json!({"t": self.wm, "seen": seen}));
    }

    /// Lower bound (inclusive) of update times to ask for; `i64::MIN` on the first read.
    pub fn since(&self) -> i64 {
        match self.wm {
            Some(t) => t.saturating_sub(self.lag),
            None => i64::MIN,
        }
    }

    /// True when row `id` at this version was not emitted before.
    pub fn is_new(&self, id: &str, version: i64) -> bool {
        self.seen.get(id).map(|x| x.1) != Some(version)
    }

    /// Records that row `id` was seen with update time `t` and row version `version`.
    pub fn note(&mut self, id: &str, t: i64, version: i64) {
        self.wm = Some(self.wm.map_or(t, |w| w.max(t)));
        self.seen.insert(id.to_string(), (t, version));
    }

    fn prune(&mut self) {
        let lo = self.since();
        self.seen.retain(|_, (t, _)| *t >= lo);
    }
}

/// FNV-1a over some bytes: a row version for change detection.
pub use crate::tailer::fnv1a as fnv;

/// Drops all watermarks (the database changed generation or was replaced).
pub fn reset_watermarks(state: &mut FileState) {
    state.extra.remove("wm");
    state.extra.remove("tail");
}

/// Incremental re-read bookkeeping for an insert-mostly table without an index on its update
/// time (OpenCode's `message`/`session_message`, Cursor's `cursorDiskKV`): work stays
/// proportional to what is new.
///
/// - New rows: SQLite gives a new row `max(rowid) + 1`, so rows with `rowid > rowid` are the
///   rows inserted since the last read (a `REPLACE` also gets a new rowid). The row at `rowid`
///   is remembered by id (`anchor`): when it is gone (the newest rows were deleted, as an
///   undo/revert does, and their rowids may be handed out again) the next read is a full one.
/// - Rows updated in place: only rows that were still in flight when read (a message without a
///   completion time) can still change; they are kept in `pending` with their update time and
///   looked up by key on every read until they settle or age out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowidTail {
    /// The largest rowid read so far.
    pub rowid: Option<i64>,
    /// A value of that row that tells whether the table was rebuilt since.
    pub anchor: Option<String>,
    /// key -> (time, version) when last read: the time ages entries out, the version tells
    /// whether the row changed.
    pub pending: BTreeMap<String, (i64, i64)>,
}

impl RowidTail {
    /// The position `name` kept in a file's parser state.
    pub fn load(state: &FileState, name: &str) -> RowidTail {
        let mut t = RowidTail::default();
        if let Some(Value::Object(o)) = state.extra.get("tail").and_then(|m| m.get(name)) {
            t.rowid = o.get("rowid").and_then(Value::as_i64);
            t.anchor = o.get("anchor").and_then(Value::as_str).map(str::to_string);
            if let Some(Value::Object(p)) = o.get("pending") {
                for (k, v) in p {
                    if let (Some(a), Some(b)) = (
                        v.get(0).and_then(Value::as_i64),
                        v.get(1).and_then(Value::as_i64),
                    ) {
                        t.pending.insert(k.clone(), (a, b));
                    }
                }
            }
        }
        t
    }

    /// Keeps the position in the parser state under `name`.
    pub fn save(&self, state: &mut FileState, name: &str) {
        let tail = state
            .extra
            .entry("tail")
            .or_insert_with(|| Value::Object(Map::new()));
        if !tail.is_object() {
            *tail = Value::Object(Map::new());
        }
        let pending: Map<String, Value> = self
            .pending
            .iter()
            .map(|(k, (a, b))| (k.clone(), json!([a, b])))
            .collect();
        tail.as_object_mut().expect("just made an object").insert(
            name.to_string(),
            json!({"rowid": self.rowid, "anchor": self.anchor, "pending": pending}),
        );
    }

    /// Whether the last read's newest row is still where it was. `key_sql` selects the row's
    /// key by `rowid = ?1` (e.g. `SELECT id FROM message WHERE rowid = ?1`).
    pub fn anchor_holds(&self, conn: &Connection, key_sql: &str) -> rusqlite::Result<bool> {
        let (Some(r), Some(a)) = (self.rowid, self.anchor.as_deref()) else {
            return Ok(false);
        };
        match conn.query_row(key_sql, [r], |row| Ok(text_of(row.get_ref(0)?))) {
            Ok(k) => Ok(k.as_deref() == Some(a)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records a row read at `rowid` with key `key`.
    pub fn advance(&mut self, rowid: i64, key: &str) {
        if self.rowid.is_none_or(|r| rowid >= r) {
            self.rowid = Some(rowid);
            self.anchor = Some(key.to_string());
        }
    }

    /// Drops pending keys older than `lo`, then keeps at most `max`, newest first.
    pub fn trim_pending(&mut self, lo: i64, max: usize) {
        self.pending.retain(|_, (t, _)| *t >= lo);
        if self.pending.len() > max {
            let mut v: Vec<(String, (i64, i64))> =
                std::mem::take(&mut self.pending).into_iter().collect();
            v.sort_by_key(|(_, (t, _))| std::cmp::Reverse(*t));
            v.truncate(max);
            self.pending = v.into_iter().collect();
        }
    }
}

/// Text of a column that may be stored as TEXT or BLOB (Cursor stores JSON in BLOB columns).
pub fn bytes_of(v: rusqlite::types::ValueRef<'_>) -> Option<Vec<u8>> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Text(t) => Some(t.to_vec()),
        ValueRef::Blob(b) => Some(b.to_vec()),
        _ => None,
    }
}

/// Integer value of a column that may hold an integer, a real or a numeric string.
pub fn int_of(v: rusqlite::types::ValueRef<'_>) -> Option<i64> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) if f.is_finite() => Some(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A column value as a float, when it is a number (or numeric text).
pub fn real_of(v: rusqlite::types::ValueRef<'_>) -> Option<f64> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) if f.is_finite() => Some(f),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A column value as text, when it is text.
pub fn text_of(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A query failure mid-read, worded without database content.
pub fn query_err(what: &str, e: &rusqlite::Error) -> ParseError {
    ParseError(format!("reading {what}: {}", describe(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escapes_uri_syntax() {
        let u = ro_uri(Path::new("/tmp/a b/c?d#e%f.db"));
        if !cfg!(windows) {
            assert_eq!(u, "file:/tmp/a%20b/c%3Fd%23e%25f.db?mode=ro");
        }
    }

    #[test]
    fn copy_fallback_only_for_open_failures() {
        let err = |code: i32| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(wants_snapshot(&err(rusqlite::ffi::SQLITE_CANTOPEN)));
        assert!(wants_snapshot(&err(
            rusqlite::ffi::SQLITE_READONLY_CANTINIT
        )));
        assert!(wants_snapshot(&err(rusqlite::ffi::SQLITE_IOERR_SHMOPEN)));
        assert!(!wants_snapshot(&err(rusqlite::ffi::SQLITE_NOTADB)));
        assert!(!wants_snapshot(&err(rusqlite::ffi::SQLITE_CORRUPT)));
        assert_eq!(
            describe(&err(rusqlite::ffi::SQLITE_NOTADB)),
            "not a SQLite database"
        );
    }

    #[test]
    fn watermark_window() {
        let mut st = FileState::default();
        let mut w = Watermark::load(&st, "m", 10);
        assert_eq!(w.since(), i64::MIN);
        w.note("a", 100, 7);
        w.note("b", 85, 8);
        w.save(&mut st, "m");
        let w2 = Watermark::load(&st, "m", 10);
        assert_eq!(w2.wm, Some(100));
        assert_eq!(w2.since(), 90);
        // "b" is older than the window and was pruned; "a" is remembered.
        assert!(!w2.seen.contains_key("b"));
        assert!(!w2.is_new("a", 7));
        assert!(w2.is_new("a", 9));
    }
}
