//! One daemon per database: an exclusive advisory lock on `<db>.lock`, held for the process's
//! life (the OS drops it when the process dies, even by SIGKILL).

use anyhow::{bail, Context};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The daemon's lock on a database, held while it lives.
pub struct InstanceLock {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

/// The lock file of database `db`: `<db>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl InstanceLock {
    /// Takes the lock, or fails with a message naming the running instance.
    pub fn acquire(db: &Path) -> anyhow::Result<InstanceLock> {
        crate::store::ensure_db_dir(db)?;
        let path = lock_path(db);
        let mut o = std::fs::OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o
            .open(&path)
            .with_context(|| format!("cannot create the lock file {}", path.display()))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut s = String::new();
                let _ = f.read_to_string(&mut s);
                let who = s.trim();
                bail!(
                    "tokwatch is already running for the database {} ({}). Stop it first, or pass --db to use another database",
                    db.display(),
                    if who.is_empty() { "pid unknown".to_string() } else { who.to_string() }
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(
                    anyhow::Error::from(e).context(format!("cannot lock {}", path.display()))
                )
            }
        }
        // The pid is only said to a second instance: a full disk must not stop the daemon here.
        let _ = f.set_len(0);
        let _ = f.seek(SeekFrom::Start(0));
        let _ = write!(f, "pid {}", std::process::id());
        let _ = f.flush();
        Ok(InstanceLock { _file: f, path })
    }

    /// True when a daemon holds the lock for `db`.
    pub fn is_held(db: &Path) -> bool {
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(lock_path(db))
        else {
            return false;
        };
        match f.try_lock() {
            Ok(()) => {
                let _ = f.unlock();
                false
            }
            Err(_) => true,
        }
    }

    /// The pid of the daemon holding the lock for `db`, `None` when none does (or it cannot be
    /// told).
    pub fn holder(db: &Path) -> Option<u32> {
        if !Self::is_held(db) {
            return None;
        }
        let s = std::fs::read_to_string(lock_path(db)).ok()?;
        s.trim().strip_prefix("pid ")?.parse().ok()
    }
}
