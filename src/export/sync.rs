//! The writing half of the sync folder: this machine's requests appended to
//! `<dir>/<machine id>.jsonl` (the reading half is a registry source, `registry::sync`).
//!
//! What is in the file is tracked by a sent-ledger in the database: every request of this
//! machine with a change number up to the ledger's mark has a line. Lines are appended and made
//! durable (fsync) before the mark moves, so a crash can only append some lines again, which
//! readers merge as the same request; a torn last line (the process killed mid-write) is cut
//! off before the next append. Only this machine's own requests are written: what it read from
//! other machines never goes back out (no echo).

use crate::daemon::{log, Sink};
use crate::store::query::Filter;
use crate::store::{Store, StoredEvent};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Requests per append (and per ledger commit).
const CHUNK: i64 = 20_000;

/// Appends this machine's new and changed requests to its sync file after each commit.
pub struct SyncWriter {
    /// The sync folder.
    pub dir: PathBuf,
    /// This machine's file in it.
    pub file: PathBuf,
    /// Its ledger's name.
    pub ledger: String,
    failing: bool,
}

/// The ledger name of the sync file `file`.
pub fn ledger_name(file: &Path) -> String {
    format!("sync:{}", file.display())
}

impl SyncWriter {
    /// The writer of machine `machine`'s file in `dir`.
    pub fn new(dir: PathBuf, machine: &str) -> SyncWriter {
        let file = crate::registry::sync::own_file(&dir, machine);
        SyncWriter {
            ledger: ledger_name(&file),
            dir,
            file,
            failing: false,
        }
    }

    /// Appends every request of this machine not in the file yet; returns how many. Errors are
    /// recorded in the ledger (and shown by `doctor`).
    pub fn flush(&mut self, store: &Store) -> anyhow::Result<u64> {
        let r = self.try_flush(store);
        match &r {
            Ok(_) => {
                if self.failing {
                    log(&format!("sync: writing {} again", self.file.display()));
                }
                self.failing = false;
            }
            Err(e) => {
                let msg = format!("{e:#}");
                let _ = store.ledger_error(&self.ledger, &msg);
                if !self.failing {
                    log(&format!("sync: {msg} (tried again after the next request)"));
                }
                self.failing = true;
            }
        }
        r
    }

    fn try_flush(&mut self, store: &Store) -> anyhow::Result<u64> {
        let mut mark = store.ledger(&self.ledger)?.rev;
        let mut total = 0u64;
        loop {
            let mut buf = Vec::new();
            let mut top = mark;
            let n =
                store.export_records(&Filter::default(), Some(mark), Some(CHUNK), &mut |r| {
                    top = top.max(r.rev);
                    buf.extend_from_slice(r.to_json().as_bytes());
                    buf.push(b'\n');
                    Ok(())
                })?;
            if n == 0 {
                return Ok(total);
            }
            if !self.dir.is_dir() {
                std::fs::create_dir_all(&self.dir).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot create the sync folder {}: {e} (create it, or fix [sync] dir in the config)",
                        self.dir.display()
                    )
                })?;
            }
            append(&self.file, &buf)
                .map_err(|e| anyhow::anyhow!("cannot append to {}: {e}", self.file.display()))?;
            store.ledger_advance(&self.ledger, top, n as i64)?;
            mark = top;
            total += n;
            if (n as i64) < CHUNK {
                return Ok(total);
            }
        }
    }
}

/// Appends complete lines to `path` and syncs them to disk; a torn last line left by a crash is
/// cut off first (no reader has consumed it: readers take complete lines only).
pub fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).read(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    let len = f.metadata()?.len();
    if len > 0 {
        let keep = complete_len(&mut f, len)?;
        if keep != len {
            f.set_len(keep)?;
        }
    }
    f.write_all(bytes)?;
    f.sync_data()
}

/// The length of the file's complete lines: up to and including its last `\n`.
fn complete_len(f: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl Sink for SyncWriter {
    fn events(&mut self, store: &Store, _evs: &[StoredEvent]) {
        let _ = self.flush(store);
    }
    fn refresh(&mut self, store: &Store) {
        let _ = self.flush(store);
    }
}
