//! What went wrong with the database file, told truthfully: a permission problem names the file
//! and its owner (and never advises moving the database aside, which loses history), damage is
//! told as damage, another program's SQLite file is refused before anything is written to it.

use super::StoreError;
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};

/// `PRAGMA application_id` of tokwatch's database: "TOKW" in ASCII.
pub const APPLICATION_ID: i64 = 0x544F_4B57;

/// The files SQLite keeps for the database `db`: itself, its `-wal` and `-shm`.
pub fn db_files(db: &Path) -> Vec<PathBuf> {
    let mut v = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        v.push(PathBuf::from(p));
    }
    v
}

/// The name of user `uid`, or `uid N` when it has none.
#[cfg(unix)]
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: `pwd` and `buf` outlive the call; getpwuid_r writes only into them and sets
    // `res` to null or to `&pwd`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut res);
        if rc == 0 && !res.is_null() && !pwd.pw_name.is_null() {
            if let Ok(s) = std::ffi::CStr::from_ptr(pwd.pw_name).to_str() {
                return s.to_string();
            }
        }
    }
    format!("uid {uid}")
}

#[cfg(unix)]
fn me() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this process may access `p` as `mode` (libc::R_OK, W_OK, X_OK).
#[cfg(unix)]
fn may(p: &Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

/// A permission problem with the database `db` (its directory, the file, its `-wal`/`-shm`):
/// what is wrong, whose the file is, and what to do. `write`: the writer's needs (the reader
/// needs the files readable and the `-shm` writable, or the directory writable to make one).
#[cfg(unix)]
pub fn access_problem(db: &Path, write: bool) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = me();
    let who = user_name(uid);
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut wrong = Vec::new();
    let mut foreign = Vec::new();
    for f in db_files(db) {
        let Ok(m) = std::fs::metadata(&f) else {
            continue;
        };
        let is_db = f == db;
        let need_w = write || !is_db;
        let ok = may(&f, libc::R_OK) && (!need_w || may(&f, libc::W_OK));
        if !ok {
            let owner = m.uid();
            let what = if owner != uid {
                format!(
                    "{} belongs to {} (mode {:o})",
                    f.display(),
                    user_name(owner),
                    m.mode() & 0o7777
                )
            } else {
                format!(
                    "{} is not {} by you (mode {:o})",
                    f.display(),
                    if need_w {
                        "readable and writable"
                    } else {
                        "readable"
                    },
                    m.mode() & 0o7777
                )
            };
            if owner != uid {
                foreign.push(f.clone());
            }
            wrong.push(what);
        }
    }
    if let Ok(m) = std::fs::metadata(dir) {
        // Writers create `-wal`, `-shm` and the lock file; readers need `-shm`.
        let shm_missing = !db_files(db)[2].exists();
        if (write || shm_missing) && !may(dir, libc::W_OK | libc::X_OK) {
            let owner = m.uid();
            wrong.push(if owner != uid {
                format!(
                    "the directory {} belongs to {} (mode {:o}) and you cannot create files in it",
                    dir.display(),
                    user_name(owner),
                    m.mode() & 0o7777
                )
            } else {
                format!(
                    "the directory {} is not writable (mode {:o})",
                    dir.display(),
                    m.mode() & 0o7777
                )
            });
            if owner != uid {
                foreign.push(dir.to_path_buf());
            }
        }
    }
    if wrong.is_empty() {
        return None;
    }
    let fix = if !foreign.is_empty() {
        let list: Vec<String> = foreign.iter().map(|p| p.display().to_string()).collect();
        format!(
            "this happens after running tokwatch with sudo. Give them back with `sudo chown {who}: {}`, or pass --db with a path you can write",
            list.join(" ")
        )
    } else {
        "make them readable and writable by you (`chmod u+rw` on the files, `chmod u+rwx` on the directory), or pass --db with a path you can write".to_string()
    };
    Some(format!(
        "tokwatch (running as {who}) has no permission to use the database {}: {}. The database itself is fine: {fix}",
        db.display(),
        wrong.join("; ")
    ))
}

/// Without unix permissions there is nothing to probe.
#[cfg(not(unix))]
pub fn access_problem(_db: &Path, _write: bool) -> Option<String> {
    None
}

/// Whether `e` is SQLite saying the file is damaged or not a database.
pub fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt)
    )
}

/// Whether `e` is SQLite (or the OS) refusing access.
fn is_access(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if let Some(se) = c.downcast_ref::<rusqlite::Error>() {
            return matches!(
                se.sqlite_error_code(),
                Some(ErrorCode::ReadOnly)
                    | Some(ErrorCode::CannotOpen)
                    | Some(ErrorCode::PermissionDenied)
                    | Some(ErrorCode::AuthorizationForStatementDenied)
            );
        }
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    })
}

/// Whether `e` is the disk (or quota) being full.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if let Some(se) = c.downcast_ref::<rusqlite::Error>() {
            return se.sqlite_error_code() == Some(ErrorCode::DiskFull);
        }
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(28) || io.raw_os_error() == Some(122))
    })
}

/// Turns a raw SQLite or I/O error met while using the database `db` into the [`StoreError`]
/// a user can act on: damage (with the move-aside advice), a permission problem (naming the
/// file and its owner, never the move-aside advice). Any other error is returned unchanged.
pub fn classify(e: anyhow::Error, db: &Path, write: bool) -> anyhow::Error {
    if e.downcast_ref::<StoreError>().is_some() {
        return e;
    }
    if is_access(&e) {
        if let Some(why) = access_problem(db, write) {
            return StoreError::Permission(db.to_path_buf(), why).into();
        }
    }
    let damaged = e
        .chain()
        .filter_map(|c| c.downcast_ref::<rusqlite::Error>())
        .find(|se| is_damage(se))
        .map(sqlite_text);
    if let Some(why) = damaged {
        return StoreError::Corrupt(db.to_path_buf(), why).into();
    }
    e
}

/// SQLite's message for `e`, once (rusqlite's error shows it, and its source shows it again
/// as "Error code N: ...").
pub fn sqlite_text(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(m)) => {
            let _ = f;
            m.clone()
        }
        rusqlite::Error::SqliteFailure(f, None) => f.to_string(),
        other => other.to_string(),
    }
}

/// An error chain as one line, `context: cause: cause`, with SQLite's own text said once: the
/// chain stops at the first SQLite error, and a cause that repeats the text before it is left
/// out.
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let (text, last) = match c.downcast_ref::<rusqlite::Error>() {
            Some(se) => (sqlite_text(se), true),
            None => (c.to_string(), false),
        };
        let dup = parts
            .last()
            .is_some_and(|p| p.contains(&text) || p.ends_with(&text));
        if !dup && !text.is_empty() {
            parts.push(text);
        }
        if last {
            break;
        }
    }
    parts.join(": ")
}

/// Refuses a file that is not tokwatch's database: `None` when `conn` is tokwatch's (or empty,
/// or an older tokwatch's without the application id), else what it is. Reads only the
/// header and the schema: nothing is written.
pub fn foreign_file(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app == APPLICATION_ID {
        return Ok(None);
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if app == 0 && tables.is_empty() {
        return Ok(None);
    }
    let ours = ["events", "files", "rollup", "workspaces"]
        .iter()
        .all(|t| tables.iter().any(|x| x == t));
    if app == 0 && ours {
        return Ok(None); // an older tokwatch's: the writer stamps it
    }
    let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    Ok(Some(if app != 0 {
        format!("its application id is {app:#x}, not tokwatch's")
    } else {
        format!(
            "it holds another program's tables: {}{}",
            shown.join(", "),
            if tables.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )
    }))
}
