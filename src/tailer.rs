//! Reading only what is new in a log file: file identity, byte offsets, complete lines.
//!
//! A file is identified by (device, inode) plus a hash of the start of its first line. A file
//! that shrank, was replaced (new inode) or rewritten (different first line) is read again from
//! the start; the dedup keys of its records make that re-read add nothing twice. Only complete
//! `\n`-terminated lines are consumed: a torn last line stays unread until its newline arrives.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Longest line we buffer; a longer one is skipped and counted as malformed.
pub const MAX_LINE: usize = 64 << 20;
/// Bytes of the first line that identify a file.
const HEAD_BYTES: usize = 1024;

/// What `stat` says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stat {
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.len(),
                mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0);
            Stat {
                dev: 0,
                ino: 0,
                size: meta.len(),
                mtime_ns,
            }
        }
    }
    pub fn path(p: &Path) -> io::Result<Stat> {
        Ok(Stat::of(&std::fs::metadata(p)?))
    }
}

/// FNV-1a, 64 bit: stable across versions and platforms (stored in checkpoints).
pub fn fnv1a(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
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
    fn default() -> Self {
        LineReader::new(1 << 20)
    }
}

impl LineReader {
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
