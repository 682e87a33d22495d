//! Reading only what is new in a log file: file identity ([`Fingerprint`]), how far it was read
//! ([`Checkpoint`]), and complete lines ([`LineReader`]).
//!
//! A file is identified by (device, inode) plus a hash of the start of its first line. A file
//! that shrank, was replaced (new inode) or rewritten (different first line) is read again from
//! the start; the dedup keys of its records make that re-read add nothing twice. Only complete
//! `\n`-terminated lines are consumed: a torn last line stays unread until its newline arrives.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Longest line we buffer; a longer one is skipped and counted as malformed.
pub const MAX_LINE: usize = 64 << 20;
/// Bytes of the first line that identify a file.
const HEAD_BYTES: usize = 1024;

/// What says whether a file is the one read before, and whether it changed since: device,
/// inode, size and modification time, plus for a SQLite database a signature of its `-wal`
/// (a SQLite writer appends there long before the database file itself changes). The one
/// place that decides "same file?" and "changed?" for the ingest and the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// Device id (0 where the platform has none).
    pub dev: u64,
    /// Inode number (0 where the platform has none).
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Hash of the `-wal`'s size and mtime for a SQLite source, else 0.
    pub extra_sig: i64,
}

impl Fingerprint {
    /// The fingerprint of already-read metadata (no `-wal` part).
    pub fn of(meta: &std::fs::Metadata) -> Fingerprint {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Fingerprint::unix(
                meta.dev(),
                meta.ino(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec(),
            )
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0);
            Fingerprint {
                dev: 0,
                ino: 0,
                size: meta.len(),
                mtime_ns,
                extra_sig: 0,
            }
        }
    }

    /// From a Unix stat's fields (no `-wal` part): what [`Fingerprint::of`] and a stat by name
    /// both read.
    #[cfg(unix)]
    fn unix(dev: u64, ino: u64, size: u64, mtime: i64, mtime_nsec: i64) -> Fingerprint {
        Fingerprint {
            dev,
            ino,
            size,
            mtime_ns: mtime * 1_000_000_000 + mtime_nsec,
            extra_sig: 0,
        }
    }

    /// The fingerprint of the file at `p` (no `-wal` part).
    pub fn path(p: &Path) -> io::Result<Fingerprint> {
        Ok(Fingerprint::of(&std::fs::metadata(p)?))
    }

    /// The fingerprint of the file at `p`; for a SQLite database (`sqlite`) its `-wal` is part
    /// of it.
    pub fn source(p: &Path, sqlite: bool) -> io::Result<Fingerprint> {
        let mut f = Fingerprint::path(p)?;
        if sqlite {
            f.extra_sig = Fingerprint::path(&wal_path(p))
                .map(|w| fnv1a(format!("{}:{}", w.size, w.mtime_ns).as_bytes()))
                .unwrap_or(0);
        }
        Ok(f)
    }

    /// [`Fingerprint::source`] of each of `paths`, in their order. A long list is split among
    /// up to four threads (`STAT_THREADS`): the kernel's path lookups for a stat are most of a
    /// re-run that finds nothing new, and they run side by side on as many cores.
    pub fn sources(paths: &[PathBuf], sqlite: bool) -> Vec<io::Result<Fingerprint>> {
        let most = STAT_THREADS.min(paths.len() / STAT_MIN_PER_THREAD);
        // Asked only for a long list: finding out reads the cgroup's files (~4 % of a re-run).
        let threads = if most < 2 {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(most))
        };
        let stat = move |part: &[PathBuf]| -> Vec<io::Result<Fingerprint>> {
            #[cfg(unix)]
            if !sqlite {
                return in_dirs::stat_all(part);
            }
            part.iter()
                .map(|p| Fingerprint::source(p, sqlite))
                .collect()
        };
        if threads == 1 {
            return stat(paths);
        }
        let per = paths.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = paths
                .chunks(per)
                .map(|part| s.spawn(move || stat(part)))
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("a stat thread does not panic"))
                .collect()
        })
    }

    /// Same device and inode: the same file, whatever happened to its content.
    pub fn same_file(&self, other: &Fingerprint) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// Stats of files named relative to their directory. A stat by full path walks every component
/// of it in the kernel, for every file; a log tool keeps its files a few levels deep, many to a
/// directory (Codex: `sessions/YYYY/MM/DD/`), so most of a re-run that finds nothing new was
/// that walk. A run of files in one directory opens it once (`O_PATH`) and stats each by name
/// from there (`fstatat`): the same answer, symlinks followed, as [`Fingerprint::path`].
#[cfg(unix)]
mod in_dirs {
    use super::Fingerprint;
    use std::ffi::CString;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    /// A directory of fewer files than this is not opened: two more calls (open, close) than
    /// it saves.
    const MIN_RUN: usize = 3;

    /// [`Fingerprint::path`] of each of `paths`, in their order.
    pub(super) fn stat_all(paths: &[PathBuf]) -> Vec<io::Result<Fingerprint>> {
        let mut out = Vec::with_capacity(paths.len());
        let mut i = 0;
        while i < paths.len() {
            let dir = split(&paths[i]).map(|(d, _)| d);
            let run = 1 + paths[i + 1..]
                .iter()
                .take_while(|p| dir.is_some() && split(p).map(|(d, _)| d) == dir)
                .count();
            let part = &paths[i..i + run];
            match dir.filter(|_| run >= MIN_RUN).and_then(Dir::open) {
                Some(d) => out.extend(part.iter().map(|p| d.stat(p))),
                None => out.extend(part.iter().map(|p| Fingerprint::path(p))),
            }
            i += run;
        }
        out
    }

    /// A path's directory and plain file name, split at its last `/` (what `Path::parent` and
    /// `Path::file_name` give for such a path, without taking every component apart: that was
    /// a tenth of a re-run's own instructions). `None` for any other shape (a trailing `/`, a
    /// last component `.` or `..`, no directory), which is then stat'ed by path.
    fn split(p: &Path) -> Option<(&[u8], &[u8])> {
        let b = p.as_os_str().as_bytes();
        let at = memchr::memrchr(b'/', b)?;
        let (dir, name) = (&b[..at], &b[at + 1..]);
        (!dir.is_empty() && !name.is_empty() && name != b"." && name != b"..")
            .then_some((dir, name))
    }

    /// An open directory (`O_PATH`: no read permission needed, nothing read).
    struct Dir(OwnedFd);

    impl Dir {
        /// `None` when it cannot be opened: each file is then stat'ed by path, which gives the
        /// error a caller reports.
        fn open(dir: &[u8]) -> Option<Dir> {
            let c = CString::new(dir).ok()?;
            // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            // SAFETY: a descriptor open just now is owned by nothing else.
            (fd >= 0).then(|| Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        /// The fingerprint of `p`, a file in this directory, by its name.
        fn stat(&self, p: &Path) -> io::Result<Fingerprint> {
            let Some((_, name)) = split(p) else {
                return Fingerprint::path(p);
            };
            let Ok(c) = CString::new(name) else {
                return Fingerprint::path(p);
            };
            // SAFETY: a zeroed `stat` is a valid value of that plain C struct; fstatat writes
            // it whole on success and is only read then.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `self.0` is an open directory descriptor, `c` a valid C string and `st`
            // a writable `stat`, all alive for the call.
            if unsafe { libc::fstatat(self.0.as_raw_fd(), c.as_ptr(), &mut st, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Fingerprint::unix(
                st.st_dev as u64,
                st.st_ino as u64,
                st.st_size as u64,
                st.st_mtime as i64,
                st.st_mtime_nsec as i64,
            ))
        }
    }
}

/// The most threads [`Fingerprint::sources`] stats files with.
const STAT_THREADS: usize = 4;
/// Files per stat thread, at least (a thread costs ~20 µs; a stat ~3 µs).
const STAT_MIN_PER_THREAD: usize = 512;

/// A path as the text the store keys its file rows by: `to_string_lossy`, with UTF-8 checked
/// the fast way first (the lossy conversion walks its bytes in chunks: a twentieth of a re-run
/// that finds nothing new, which converts every listed path).
pub fn path_text(p: &Path) -> std::borrow::Cow<'_, str> {
    match p.to_str() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => p.to_string_lossy(),
    }
}

/// A SQLite database's write-ahead log: `<db>-wal`.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut w = db.as_os_str().to_owned();
    w.push("-wal");
    PathBuf::from(w)
}

/// The database a SQLite side file (`<db>-wal`, `<db>-shm`) belongs to, if `p` is one.
pub fn sqlite_base(p: &Path) -> Option<PathBuf> {
    let s = p.to_str()?;
    s.strip_suffix("-wal")
        .or_else(|| s.strip_suffix("-shm"))
        .map(PathBuf::from)
}

/// Per-file parser state, serialized into the file's checkpoint and committed with the events it
/// produced (e.g. Codex's running total, the current model). Never holds log text.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileState {
    /// The session the file belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The session's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The session's git branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The model in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A repository the log names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Cumulative counters by key (e.g. the last seen running total).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, Vec<i64>>,
    /// Anything else a parser needs to carry between reads.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// State kept in memory only (context composition): not checkpointed, rebuilt by reading
    /// the file again from its start when a read resumes without it ([`Scratch`]).
    #[serde(skip)]
    pub scratch: Scratch,
}

/// Parser state too large to checkpoint with every batch (a conversation's message graph for
/// context composition). It lives in memory, shared between clones of a checkpoint, and knows
/// the offset it is valid at; a read that resumes at another offset (a restart, a rolled-back
/// batch) rebuilds it from the file's start ([`crate::parser::Parser::keeps_context`]). Never
/// holds log text.
#[derive(Clone, Default)]
pub struct Scratch(Option<std::sync::Arc<std::sync::Mutex<ScratchInner>>>);

struct ScratchInner {
    at: u64,
    data: Box<dyn std::any::Any + Send>,
}

impl Scratch {
    /// Runs `f` on the state of type `T` (a new one when there is none, or another type).
    pub fn with<T: std::any::Any + Send + Default, R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        if let Some(a) = &self.0 {
            let mut g = a.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = g.data.downcast_mut::<T>() {
                return f(t);
            }
        }
        let mut t = T::default();
        let r = f(&mut t);
        self.0 = Some(std::sync::Arc::new(std::sync::Mutex::new(ScratchInner {
            at: 0,
            data: Box::new(t),
        })));
        r
    }
    /// The file offset the state is valid at, if there is a state.
    pub fn at(&self) -> Option<u64> {
        self.0
            .as_ref()
            .map(|a| a.lock().unwrap_or_else(|e| e.into_inner()).at)
    }
    /// Records that the state is valid at `offset`.
    pub fn set_at(&self, offset: u64) {
        if let Some(a) = &self.0 {
            a.lock().unwrap_or_else(|e| e.into_inner()).at = offset;
        }
    }
    /// True when there is a state.
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch(at {:?})", self.at())
    }
}

// Not part of a checkpoint's identity.
impl PartialEq for Scratch {
    fn eq(&self, _: &Scratch) -> bool {
        true
    }
}

/// How far one source file was read, and the parser state at that point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checkpoint {
    /// The file's row in the store (0 before it has one).
    pub file_id: i64,
    /// What the file looked like when it was read.
    pub fp: Fingerprint,
    /// Hash of the start of its first line (`None` while it has none).
    pub head_hash: Option<i64>,
    /// Bytes consumed: the end of the last complete line.
    pub offset: u64,
    /// The parser's state after `offset`.
    pub state: FileState,
    /// For files that other programs replace with longer copies of themselves (the sync
    /// folder): a hash of the bytes just before `offset` ([`tail_hash`]).
    pub tail_hash: Option<i64>,
}

impl Checkpoint {
    /// True when `now` shows the file exactly as it was read: nothing to do.
    pub fn unchanged(&self, now: &Fingerprint) -> bool {
        self.fp == *now
    }

    /// Where to go on reading a line log that now looks like `now` with first-line hash
    /// `head`: from this checkpoint when it is the same file grown (or unchanged) with the same
    /// first line, else from the start (replaced, truncated or rewritten; the dedup keys make
    /// the re-read add nothing twice). The new fingerprint is recorded either way.
    pub fn resume_lines(self, now: Fingerprint, head: Option<i64>) -> Checkpoint {
        let same = self.fp.same_file(&now)
            && now.size >= self.offset
            && (self.head_hash.is_none() || self.head_hash == head);
        let mut cp = if same {
            self
        } else {
            Checkpoint {
                file_id: self.file_id,
                ..Checkpoint::default()
            }
        };
        cp.fp = now;
        cp.head_hash = head;
        cp
    }

    /// The same for a whole-file source (a document or database, re-parsed whole): its parser
    /// state carries on while it is the same file, and starts empty when it was replaced.
    pub fn resume_whole(self, now: Fingerprint) -> Checkpoint {
        let mut cp = if self.fp.same_file(&now) {
            self
        } else {
            Checkpoint {
                file_id: self.file_id,
                ..Checkpoint::default()
            }
        };
        cp.fp = now;
        cp.offset = now.size;
        cp
    }
}

/// A hasher for keys that are hashes already ([`fnv1a`] and the like): it spreads the bits
/// instead of running SipHash again.
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 = (v as u64 ^ (v as u64 >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// `HashMap<i64, _, PreHashed>`: maps keyed by hashes.
pub type PreHashed = std::hash::BuildHasherDefault<KeyHasher>;

/// FNV-1a, 64 bit: stable across versions and platforms (stored in checkpoints).
pub fn fnv1a(bytes: &[u8]) -> i64 {
    fnv1a_on(FNV1A_START, bytes) as i64
}

/// Where an FNV-1a hash starts (its offset basis).
pub const FNV1A_START: u64 = 0xcbf29ce484222325;

/// FNV-1a carried on from `h` over `bytes`: the hash of several parts in a row without joining
/// them first (`fnv1a_on(fnv1a_on(FNV1A_START, a), b)` is the hash of `a` then `b`).
pub fn fnv1a_on(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Hash of the start of the first line: `None` while the file has no complete first line and
/// fewer than `HEAD_BYTES` bytes (nothing can be read from it yet anyway).
pub fn head_hash(file: &mut File) -> io::Result<Option<i64>> {
    let mut buf = [0u8; HEAD_BYTES];
    file.seek(SeekFrom::Start(0))?;
    let mut n = 0;
    while n < buf.len() {
        let r = file.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let head = &buf[..n];
    Ok(match memchr::memchr(b'\n', head) {
        Some(i) => Some(fnv1a(&head[..i])),
        None if n == HEAD_BYTES => Some(fnv1a(head)),
        None => None,
    })
}

/// Bytes before an offset that [`tail_hash`] covers.
const TAIL_BYTES: u64 = 4096;

/// Hash of the (up to 4 KiB of) bytes just before `offset`: with the first-line hash, what says
/// that a replaced file still begins with everything that was read from the one it replaced.
pub fn tail_hash(file: &mut File, offset: u64) -> io::Result<i64> {
    let start = offset.saturating_sub(TAIL_BYTES);
    let mut buf = vec![0u8; (offset - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    let mut n = 0;
    while n < buf.len() {
        let r = file.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    // A file shorter than `offset` cannot match: hash what is there plus its length.
    let mut h = fnv1a(&buf[..n]);
    if n < buf.len() {
        h ^= n as i64;
    }
    Ok(h)
}

impl Checkpoint {
    /// [`Checkpoint::resume_lines`] for a file that is replaced by copies of itself (a sync
    /// tool writes a new file and renames it over the old one): a new file that begins with
    /// the same first line and holds the same bytes just before the checkpoint is read on from
    /// the checkpoint; anything else is read from the start.
    pub fn resume_copy(
        self,
        file: &mut File,
        now: Fingerprint,
        head: Option<i64>,
    ) -> io::Result<Checkpoint> {
        let copy = !self.fp.same_file(&now)
            && self.offset > 0
            && now.size >= self.offset
            && self.head_hash.is_some()
            && self.head_hash == head
            && self.tail_hash.is_some()
            && self.tail_hash == Some(tail_hash(file, self.offset)?);
        if copy {
            let mut cp = self;
            cp.fp = now;
            return Ok(cp);
        }
        Ok(self.resume_lines(now, head))
    }
}

/// Reads complete lines from a position, a chunk at a time.
pub struct LineReader {
    buf: Vec<u8>,
    chunk: usize,
}

/// What one `read_batch` call consumed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Offset just past the last complete line consumed.
    pub end: u64,
    /// Complete lines handed to the callback.
    pub lines: u64,
    /// Lines longer than [`MAX_LINE`] that were skipped.
    pub oversized: u64,
    /// True when the end of the file (or of its complete lines) was reached.
    pub eof: bool,
}

impl Default for LineReader {
    /// 256 KiB at a time: a chunk the parser reads while it is still in the core's cache. With
    /// 1 MiB, the kernel's copy into the buffer was 20 % of a parse worker's samples on the
    /// dense 1 GB corpus; 256 KiB took that corpus' cold scan from 4.96 to 4.65 CPU-s and Codex
    /// 0.5 GB from 0.64 to 0.62 (medians of 5-6 interleaved runs; 64 KiB was no better).
    fn default() -> Self {
        LineReader::new(256 << 10)
    }
}

impl LineReader {
    /// A reader that reads `chunk` bytes at a time.
    pub fn new(chunk: usize) -> LineReader {
        LineReader {
            buf: Vec::with_capacity(chunk),
            chunk,
        }
    }

    /// Hands every complete line from `start` to `f` (without its `\n`) until about
    /// `max_bytes` were consumed or the end of the file is reached.
    pub fn read_batch(
        &mut self,
        file: &mut File,
        start: u64,
        max_bytes: u64,
        f: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Batch> {
        file.seek(SeekFrom::Start(start))?;
        if self.buf.len() < self.chunk {
            self.buf.resize(self.chunk, 0);
        }
        let mut b = Batch {
            end: start,
            ..Batch::default()
        };
        // Unconsumed bytes are buf[lo..hi]; buf[lo] sits at file offset `b.end` unless
        // `skipping` (then the bytes of the oversized line before `lo` were dropped).
        let (mut lo, mut hi) = (0usize, 0usize);
        // buf[lo..scanned] is known to hold no newline.
        let mut scanned = 0usize;
        // Inside a line longer than MAX_LINE whose bytes are being dropped.
        let mut skipping = false;
        let mut dropped = 0u64;
        loop {
            if hi == self.buf.len() {
                if lo > 0 {
                    // Move the partial line to the front.
                    self.buf.copy_within(lo..hi, 0);
                    scanned -= lo;
                    hi -= lo;
                    lo = 0;
                } else if hi >= MAX_LINE {
                    // One line fills the buffer: drop its bytes so far.
                    skipping = true;
                    dropped += hi as u64;
                    hi = 0;
                    scanned = 0;
                } else {
                    let n = (self.buf.len() * 2).min(MAX_LINE.max(self.chunk));
                    self.buf.resize(n, 0);
                }
            }
            let n = read_some(file, &mut self.buf[hi..])?;
            if n == 0 {
                b.eof = true;
                return Ok(b);
            }
            hi += n;
            let mut from = scanned;
            while let Some(i) = memchr::memchr(b'\n', &self.buf[from..hi]) {
                let nl = from + i;
                if skipping {
                    skipping = false;
                    b.oversized += 1;
                    b.end += dropped + (nl + 1 - lo) as u64;
                    dropped = 0;
                } else {
                    f(&self.buf[lo..nl]);
                    b.lines += 1;
                    b.end += (nl + 1 - lo) as u64;
                }
                lo = nl + 1;
                from = lo;
            }
            scanned = hi;
            if b.end - start >= max_bytes && !skipping {
                return Ok(b);
            }
        }
    }
}

/// One `read`, retried on EINTR.
fn read_some(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list long enough to be split among threads comes back in its own order, each file's
    /// fingerprint its own (sizes differ file to file), a missing file an error in its place.
    #[test]
    fn stats_split_among_threads_keep_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths: Vec<PathBuf> = (0..3 * STAT_MIN_PER_THREAD)
            .map(|i| {
                let p = dir.path().join(format!("f{i:05}.jsonl"));
                std::fs::write(&p, vec![b'x'; i]).unwrap();
                p
            })
            .collect();
        paths.insert(700, dir.path().join("gone.jsonl"));
        let got = Fingerprint::sources(&paths, false);
        assert_eq!(got.len(), paths.len());
        for (i, (p, fp)) in paths.iter().zip(&got).enumerate() {
            match fp {
                Ok(fp) => assert_eq!(*fp, Fingerprint::source(p, false).unwrap(), "file {i}"),
                Err(e) => {
                    assert_eq!(i, 700);
                    assert_eq!(e.kind(), io::ErrorKind::NotFound);
                }
            }
        }
        assert_eq!(got[1].as_ref().unwrap().size, 1);
        assert_eq!(got[1000].as_ref().unwrap().size, 999);
    }

    /// Stats by name from an open directory give what a stat by path gives: for runs of every
    /// length, symlinks (followed), missing files, a missing directory and a "directory" that is
    /// a file.
    #[cfg(unix)]
    #[test]
    fn stats_by_name_in_a_directory_equal_stats_by_path() {
        let root = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (d, n) in [("one", 1), ("two", 2), ("five", 5)] {
            let dir = root.path().join(d);
            std::fs::create_dir(&dir).unwrap();
            for i in 0..n {
                let p = dir.join(format!("{i}.jsonl"));
                std::fs::write(&p, vec![b'x'; 10 * i + 1]).unwrap();
                paths.push(p);
            }
        }
        let five = root.path().join("five");
        std::os::unix::fs::symlink(five.join("4.jsonl"), five.join("link.jsonl")).unwrap();
        std::os::unix::fs::symlink(five.join("nowhere"), five.join("dangling.jsonl")).unwrap();
        paths.push(five.join("link.jsonl"));
        paths.push(five.join("dangling.jsonl"));
        paths.push(five.join("gone.jsonl"));
        paths.push(five.join("3.jsonl"));
        for i in 0..4 {
            paths.push(root.path().join("nodir").join(format!("{i}.jsonl")));
        }
        for i in 0..4 {
            paths.push(five.join("0.jsonl").join(format!("{i}.jsonl")));
        }
        // A doubled separator: the directory is opened by the name with its trailing `/`.
        for i in 0..3 {
            paths.push(PathBuf::from(format!("{}//{i}.jsonl", five.display())));
        }
        let got = Fingerprint::sources(&paths, false);
        assert_eq!(got.len(), paths.len());
        let mut errors = 0;
        for (p, g) in paths.iter().zip(&got) {
            match (g, Fingerprint::path(p)) {
                (Ok(a), Ok(b)) => assert_eq!(*a, b, "{}", p.display()),
                (Err(a), Err(b)) => {
                    assert_eq!(a.raw_os_error(), b.raw_os_error(), "{}", p.display());
                    errors += 1;
                }
                (a, b) => panic!("{}: {a:?} against {b:?}", p.display()),
            }
        }
        // dangling, gone, 4 under a missing directory, 4 under a file.
        assert_eq!(errors, 10);
        let link = paths.len() - 15;
        assert_eq!(paths[link].file_name().unwrap(), "link.jsonl");
        assert_eq!(got[link].as_ref().unwrap().size, 41);
        // The three by a doubled separator: 1, 11 and 21 bytes, as by path.
        let doubled: Vec<u64> = got[paths.len() - 3..]
            .iter()
            .map(|g| g.as_ref().unwrap().size)
            .collect();
        assert_eq!(doubled, [1, 11, 21]);
    }
}
