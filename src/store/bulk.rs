//! A first load: written without the two indexes on random keys, merged at its end.
//!
//! Into an empty database a catch-up drops `events_key` (the uniqueness of a request's
//! identity) and `events_msg_main` (main-chain message ids). Both are keyed by hashes, so each
//! insert lands on a random page of each; past a few hundred thousand requests they outgrow the
//! writer's page cache and nearly every insert read a page back and wrote one out (at 10 GB
//! of Claude Code logs, 4.8M of 6.9M `pwrite64` and 4.2M of 6.2M `pread64`: docs/benchmarks.md,
//! "A first load without the random indexes"). It also drops `events_rev`: the only reader of
//! this machine's change numbers during the load is the load itself, which carries its
//! highest number from one group to the next (`Store::bulk_rev`).
//!
//! Without them the batch writer cannot find a copy of a request that an earlier group stored,
//! nor a main-chain copy of a message an earlier group stored (nor does it look for the
//! replays of a main-chain message stored before it): it stores such copies as they
//! come (copies within a group are still merged as they come, by row id: `Written`), and every
//! row keeps its copy's merge rule (`events.rule`). While it writes, [`Seen`] notes each key it
//! stores in a Bloom filter, and so knows a superset of the keys stored more than once.
//! [`Store::finish_bulk`] then, in one transaction, reading the table once in the order of its
//! pages and deleting nothing from an index on random keys (both are built last):
//! 1. deletes every sidechain row whose message has a main-chain row of the same tool: what
//!    the writer does whichever copy comes first (within one batch the main-chain copy still
//!    keeps its replays out as they come);
//! 2. applies the merge rules among the rows that share a key, in the order they were stored
//!    (row id = arrival order), as the writer would have applied them one copy at a time,
//!    keeping the winner and deleting the others: the one pass of step 1 also collects the row
//!    ids of the keys the filter named, and only those rows are read whole, in id order;
//! 3. builds `events_msg_main` and `events_key` (unique), one sort each, so every later write
//!    is checked by them again;
//! 4. takes each deleted row out of the rollups.
//!
//! `events_rev` is built after that transaction, in one of its own: the checkpoint thread
//! (when one runs beside the writer) copies the first transaction's pages into the database
//! file meanwhile, on the core the end of a load leaves idle, rather than all of them when the
//! store closes. A kill between the two leaves only `events_rev` missing, which the next
//! open builds (`Store::build_deferred_indexes`) before anything is written.
//!
//! A load cut off (kill -9) leaves `events_key` missing: [`Store::open_writer`] finishes it
//! before anything else is written, without a filter: the keys with copies are then found by
//! a sort of every key. Until then the rollups may count a copy twice (while a
//! daemon's first catch-up runs, `status` says "catching up"); the end result is the one the
//! row by row writer gives, row for row and cell for cell (tests/bulk_load.rs).

use super::{export, Connection, Rollup, Row, Store, EVENTS_REV, ROW_COLS};
use crate::event::Merge;
use crate::tailer::PreHashed;
use rusqlite::params;
use std::collections::{HashMap, HashSet};

/// The indexes a first load goes without (the definitions of schema version 10).
const MSG_MAIN: &str = "CREATE INDEX IF NOT EXISTS events_msg_main ON events(msg_id)
    WHERE sidechain = 0 AND msg_id IS NOT NULL";
const KEY: &str = "CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events(key_hash)";

/// The page cache while a first load is written (`PRAGMA cache_size`, negative = KiB): 4 MB.
const BULK_CACHE_SIZE: i64 = -4_000;

impl Store {
    /// Whether `events_key` is missing: a first load is written or was cut off.
    pub(super) fn key_index_missing(conn: &Connection) -> anyhow::Result<bool> {
        Ok(conn.query_row(
            "SELECT NOT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'events_key')",
            [],
            |r| r.get(0),
        )?)
    }

    /// Holds about `n` copies whole at most at the end of a first load (at least 1), which
    /// then merges the keys in more parts: a test's way to split a small corpus's merge.
    pub fn set_fold_held(&mut self, n: usize) {
        self.fold_held = n.max(1);
    }

    /// Starts a first load (the caller has checked that `events` is empty): drops the two
    /// indexes and, with them, the checks they make. Nothing when `pruned` holds rows (their
    /// merges read the stored rows).
    pub(super) fn start_bulk(&mut self) -> anyhow::Result<()> {
        let pruned: bool = self
            .conn
            .query_row("SELECT EXISTS(SELECT 1 FROM pruned)", [], |r| r.get(0))?;
        if pruned {
            return Ok(());
        }
        self.conn.execute_batch(
            "BEGIN IMMEDIATE; DROP INDEX IF EXISTS events_key;
             DROP INDEX IF EXISTS events_msg_main; DROP INDEX IF EXISTS events_rev; COMMIT;",
        )?;
        // Nothing of a first load is read back but the last pages of `events` and of the few
        // indexes it keeps: a small cache holds them (10 GB of logs: peak RSS ~90 MB with it,
        // ~102 MB with the writer's 16 MB, and no slower). `sorting` sets it back at the end.
        self.conn
            .pragma_update(None, "cache_size", BULK_CACHE_SIZE)?;
        self.bulk = true;
        self.seen = Some(Seen::new());
        self.bulk_rev = None;
        Ok(())
    }

    /// Ends a first load (or one a kill cut off): merges the copies it stored apart and builds
    /// the indexes it went without, in a transaction of its own. An open catch-up group is
    /// committed first (a group boundary like any other: each file's checkpoint commits with
    /// its rows) and a new one begun after, so the end-of-load sorts can spill to a temporary
    /// file (SQLite cannot change that inside a transaction). Returns how many rows it
    /// deleted that were counted as new and are not (copies that lost, replays of a stored
    /// main-chain message); nothing to do when no first load is open.
    pub fn finish_bulk(&mut self) -> anyhow::Result<u64> {
        if !self.bulk && !Store::key_index_missing(&self.conn)? {
            return Ok(0);
        }
        let regroup = self.group.is_some();
        if regroup {
            self.commit()?;
        }
        let seen = self.seen.take();
        let hold = self.fold_held;
        let poke = self.beside.as_ref().map(|b| b.poker());
        let removed = self.sorting(|conn| {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let done = (|| -> anyhow::Result<u64> {
                let mut roll = Rollup::default();
                let n = reconcile(conn, &mut roll, seen, hold)?;
                roll.write(conn)?;
                conn.execute_batch("COMMIT")?;
                Ok(n)
            })();
            if done.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let n = done?;
            if let Some(p) = &poke {
                p.poke();
            }
            conn.execute_batch(EVENTS_REV)?;
            Ok(n)
        })?;
        self.bulk = false;
        self.bulk_rev = None;
        if regroup {
            self.begin()?;
        }
        Ok(removed)
    }
}

/// A stored row as the end-of-load merge reads it.
struct Copy {
    row: Row,
    id: i64,
    rule: Option<Merge>,
    ctx: bool,
}

/// Steps 1-3 of the module's list, in the open transaction `tx`; each deleted row is taken out
/// of `roll`. Returns how many of the deleted rows the row-by-row writer would not have stored
/// (counted as new: the copies that lost, and the replays stored after their main-chain copy;
/// one stored before it was new, then deleted, there as here). `seen` holds the keys the load
/// may have stored more than once (`None`: not known, a load cut off and finished by another
/// process; they are then found by a sort of every key). One pass over the table in page
/// order finds both the sidechain rows to delete and the rows that share a key; only those
/// rows are then read whole, and nothing is deleted from an index on random keys: both are
/// built last.
/// About `hold` copies at most are held whole at once while they are merged.
fn reconcile(
    tx: &Connection,
    roll: &mut Rollup,
    seen: Option<Seen>,
    hold: usize,
) -> anyhow::Result<u64> {
    let copies: HashSet<i64, PreHashed> = match seen.and_then(Seen::into_copies) {
        Some(copies) => copies,
        None => {
            let mut q =
                tx.prepare("SELECT key_hash FROM events GROUP BY key_hash HAVING count(*) > 1")?;
            let keys = q.query_map([], |r| r.get(0))?;
            keys.collect::<Result<_, _>>()?
        }
    };
    // The (few) sidechain rows with a message id, by that id: each main-chain row of the same
    // message and tool deletes them (what the writer does whichever copy comes first).
    let mut side: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    {
        let mut q = tx.prepare(
            "SELECT msg_id, tool, id FROM events INDEXED BY events_msg_side
             WHERE sidechain = 1 AND msg_id IS NOT NULL",
        )?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            side.entry(r.get(0)?)
                .or_default()
                .push((r.get(1)?, r.get(2)?));
        }
    }
    let mut gone: Vec<i64> = Vec::new();
    // Those of them stored after a main-chain row of their message: the writer would have
    // kept them out (not new), while one stored before was new and then deleted.
    let mut late: Vec<i64> = Vec::new();
    // The rows whose key has copies: (key, row id), in the order they are folded.
    let mut pairs: Vec<(i64, i64)> = Vec::new();
    {
        let mut q = tx.prepare(if side.is_empty() {
            "SELECT id, key_hash, 1, NULL, NULL FROM events ORDER BY id"
        } else {
            "SELECT id, key_hash, sidechain, tool, msg_id FROM events ORDER BY id"
        })?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let key: i64 = r.get(1)?;
            if copies.contains(&key) {
                pairs.push((key, id));
            }
            if let (0, rusqlite::types::ValueRef::Text(msg)) = (r.get::<_, i64>(2)?, r.get_ref(4)?)
            {
                let found = std::str::from_utf8(msg).ok().and_then(|m| side.get(m));
                if let Some(found) = found {
                    let tool = r.get_ref(3)?.as_str()?;
                    for &(_, s) in found.iter().filter(|(t, _)| t == tool) {
                        gone.push(s);
                        // Rows come in id order (a plain scan of the table, no sort): the
                        // first main-chain row of a message is its earliest.
                        if s > id {
                            late.push(s);
                        }
                    }
                }
            }
        }
    }
    drop(copies);
    drop(side);
    gone.sort_unstable();
    gone.dedup();
    {
        let mut row = tx.prepare(&format!("SELECT {ROW_COLS} FROM events WHERE id = ?1"))?;
        for id in &gone {
            roll.add(&row.query_row([id], Row::read)?, -1);
        }
    }
    delete(tx, &gone)?;
    late.sort_unstable();
    late.dedup();
    let mut removed = late.len() as u64;
    // 2. Copies of one request: the rule of each later copy decides against the one kept so
    // far, as `write_batch` decides against the stored row, in the order they were stored.
    // The rows are read in id order (the pass above collected them so), the table's page
    // order, rather than key by key, each row on a random page (at 5 GB of Codex rollouts
    // ~0.25 s of reads). The copy kept so far for each key is held until the key's last row;
    // so that at most about `hold` are held at once (a resumed session's copies can be a whole
    // history apart), the keys are split by hash into parts merged one pass each.
    pairs.retain(|(_, id)| gone.binary_search(id).is_err());
    debug_assert!(pairs.windows(2).all(|w| w[0].1 < w[1].1));
    let parts = pairs.len().div_ceil(2 * hold).max(1) as u64;
    let in_part = |part: u64| move |&&(key, _): &&(i64, i64)| (key as u64 >> 40) % parts == part;
    let mut lose: Vec<i64> = Vec::new();
    let mut ctx_moves: Vec<(i64, i64)> = Vec::new();
    let mut read = tx.prepare(&format!(
        "SELECT {ROW_COLS}, id, rule, ctx IS NOT NULL FROM events WHERE id = ?1"
    ))?;
    for part in 0..parts {
        // Rows per key of this part. A key whose only row is left (a copy the filter only
        // thought it saw, or one whose other rows were sidechain replays) has nothing to merge.
        let mut left: HashMap<i64, u32, PreHashed> = HashMap::default();
        for &(key, _) in pairs.iter().filter(in_part(part)) {
            *left.entry(key).or_default() += 1;
        }
        left.retain(|_, n| *n > 1);
        // The copy kept so far for each key being merged, and the row whose context split it
        // has.
        let mut kept: HashMap<i64, (Copy, Option<i64>), PreHashed> = HashMap::default();
        for &(key, id) in pairs.iter().filter(in_part(part)) {
            let Some(rows_left) = left.get_mut(&key) else {
                continue;
            };
            *rows_left -= 1;
            let last = *rows_left == 0;
            let c = read.query_row([id], |r| {
                Ok(Copy {
                    row: Row::read(r)?,
                    id: r.get(19)?,
                    rule: r.get::<_, Option<i64>>(20)?.and_then(Merge::from_i64),
                    ctx: r.get(21)?,
                })
            })?;
            let Some((old, mut ctx_from)) = kept.remove(&key) else {
                let from = c.ctx.then_some(c.id);
                kept.insert(key, (c, from));
                continue;
            };
            let replace = {
                let (old, new) = (&old.row, &c.row);
                if old.machine_id != new.machine_id {
                    export::cross_replaces(tx, old, new)?
                } else if new.machine_id != 0 {
                    new.rev > old.rev && !old.same_as(new)
                } else {
                    // A row of an older schema keeps no rule: the stored copy stays.
                    old.values() != new.values()
                        && c.rule.is_some_and(|rule| {
                            rule.replaces_at(
                                &old.tokens(),
                                (old.ts, &old.session),
                                &new.tokens(),
                                (new.ts, &new.session),
                            )
                        })
                }
            };
            let (keep, loser) = if replace {
                if c.ctx {
                    ctx_from = Some(c.id);
                }
                (c, old)
            } else {
                if c.ctx && ctx_from.is_none() {
                    ctx_from = Some(c.id);
                }
                (old, c)
            };
            roll.add(&loser.row, -1);
            lose.push(loser.id);
            if !last {
                kept.insert(key, (keep, ctx_from));
            } else if let Some(from) = ctx_from.filter(|&from| from != keep.id) {
                ctx_moves.push((keep.id, from));
            }
        }
        debug_assert!(kept.is_empty(), "a key's last row settles it");
    }
    drop(read);
    {
        let mut mv = tx.prepare(
            "UPDATE events SET ctx = (SELECT ctx FROM events WHERE id = ?2) WHERE id = ?1",
        )?;
        for (to, from) in &ctx_moves {
            mv.execute(params![to, from])?;
        }
    }
    lose.sort_unstable();
    delete(tx, &lose)?;
    removed += lose.len() as u64;
    // 3. The indexes, one sort each: every later write is checked by them again.
    tx.execute_batch(MSG_MAIN)?;
    tx.execute_batch(KEY)?;
    Ok(removed)
}

/// Deletes the rows `ids` (ascending: the table's pages in order). Also the writer's, for the
/// sidechain replays a batch shadows: none in most batches, so nothing is prepared then.
pub(super) fn delete(tx: &Connection, ids: &[i64]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut del = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
    for id in ids {
        del.execute([id])?;
    }
    Ok(())
}

/// About the most copies the end of a first load holds whole at once while it merges them
/// (~0.4 KB each): it merges the keys in parts of up to twice as many candidate rows.
pub(super) const FOLD_HELD: usize = 16_384;

/// The keys a first load has stored, as a Bloom filter (no false "not stored"; a few false
/// "stored"), and each key it stored while the filter said it had been stored already: a
/// superset of the keys that have copies, which the end of the load merges. This spares it a
/// sort of every key (1.1 s of a 10 GB first load) for 12 bits of memory per key (3.4 MB at
/// 2.3M requests). Blocked: a key's bits are all in one 64-byte block (one cache miss), and
/// the filter grows by adding a block array twice the size of the last when that one is full.
/// Past [`SEEN_STAGES`] arrays (7.3M keys stored, ~26 GB of usage-dense logs; 10.5 MB) it gives up
/// and frees itself, so that memory stays bounded: the end of the load then sorts every key.
pub(super) struct Seen {
    /// The block arrays, oldest first; a key is in one of them at most.
    stages: Vec<Vec<Block>>,
    /// Keys the newest array has taken, and how many it takes before the next is added.
    in_last: usize,
    cap: usize,
    /// Keys stored while the filter held them (in any order, perhaps more than once).
    copies: Vec<i64>,
    /// Keys stored and not yet noted: noted [`SEEN_PENDING`] at a time, their blocks fetched
    /// from memory together rather than one cache miss per insert (4 % of the writer's time
    /// when noted one by one at 1 GB).
    pending: Vec<i64>,
}

/// One cache line of bits.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u64; 8]);

/// Keys noted at a time.
const SEEN_PENDING: usize = 256;

/// Keys the first array takes (1.5 MB, touched only where keys land).
const SEEN_FIRST: usize = 1 << 20;
/// Bits per key, and bits set per key (false "stored": ~0.5 %).
const SEEN_BITS: usize = 12;
const SEEN_PROBES: u32 = 6;
/// The most block arrays a filter grows to (1M + 2M + 4M keys).
const SEEN_STAGES: usize = 3;

impl Seen {
    pub(super) fn new() -> Seen {
        Seen {
            stages: vec![Seen::stage(SEEN_FIRST)],
            in_last: 0,
            cap: SEEN_FIRST,
            copies: Vec::new(),
            pending: Vec::with_capacity(SEEN_PENDING),
        }
    }

    fn stage(keys: usize) -> Vec<Block> {
        vec![Block([0u64; 8]); (keys * SEEN_BITS).div_ceil(512)]
    }

    /// The block of `key` in an array of `n` and the bits it sets there (`SEEN_PROBES` of the
    /// block's 512, from a second mix of the key).
    fn spot(key: i64, n: usize) -> (usize, [u16; SEEN_PROBES as usize]) {
        let k = key as u64;
        let block = ((k as u128 * n as u128) >> 64) as usize;
        let mut m = k.wrapping_add(0x9e37_79b9_7f4a_7c15);
        m = (m ^ (m >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        m = (m ^ (m >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        m ^= m >> 31;
        let mut bits = [0u16; SEEN_PROBES as usize];
        for (i, b) in bits.iter_mut().enumerate() {
            *b = ((m >> (9 * i)) & 511) as u16;
        }
        (block, bits)
    }

    /// Notes that a row with `key` was stored.
    pub(super) fn stored(&mut self, key: i64) {
        self.pending.push(key);
        if self.pending.len() == SEEN_PENDING {
            self.flush();
        }
    }

    /// Notes the pending keys, in the order they were stored, once their blocks were asked
    /// of memory.
    fn flush(&mut self) {
        let keys = std::mem::take(&mut self.pending);
        #[cfg(target_arch = "x86_64")]
        for &key in &keys {
            for stage in &self.stages {
                let (b, _) = Seen::spot(key, stage.len());
                // SAFETY: a prefetch only hints the cache (it reads nothing, faults on
                // nothing); the address is inside the array anyway.
                unsafe {
                    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                    _mm_prefetch::<_MM_HINT_T0>(stage.as_ptr().add(b).cast());
                }
            }
        }
        for &key in &keys {
            self.note(key);
        }
        self.pending = keys;
        self.pending.clear();
    }

    fn note(&mut self, key: i64) {
        for stage in &self.stages {
            let (b, bits) = Seen::spot(key, stage.len());
            let block = &stage[b];
            if bits
                .iter()
                .all(|&i| block.0[(i >> 6) as usize] >> (i & 63) & 1 == 1)
            {
                self.copies.push(key);
                return;
            }
        }
        if self.stages.is_empty() {
            return;
        }
        if self.in_last == self.cap {
            if self.stages.len() == SEEN_STAGES {
                // Given up: `into_copies` says so.
                self.stages = Vec::new();
                self.copies = Vec::new();
                return;
            }
            self.cap *= 2;
            self.stages.push(Seen::stage(self.cap));
            self.in_last = 0;
        }
        let last = self.stages.last_mut().expect("one array at least");
        let (b, bits) = Seen::spot(key, last.len());
        for i in bits {
            last[b].0[(i >> 6) as usize] |= 1 << (i & 63);
        }
        self.in_last += 1;
    }

    /// The keys that may have been stored more than once (the filter itself is freed), or
    /// `None` when it gave up (more keys than [`SEEN_STAGES`] arrays take).
    fn into_copies(mut self) -> Option<HashSet<i64, PreHashed>> {
        self.flush();
        if self.stages.is_empty() {
            return None;
        }
        Some(self.copies.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{Seen, SEEN_FIRST, SEEN_STAGES};

    /// Keys spread like the hashes the writer stores.
    fn key(i: u64) -> i64 {
        let mut m = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        m = (m ^ (m >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93);
        (m ^ (m >> 32)) as i64
    }

    #[test]
    fn every_copy_is_found_across_stages_and_few_are_not_copies() {
        // Three stages' worth of distinct keys, then every 1000th of them stored again.
        let n = 3 * SEEN_FIRST as u64 + 12_345;
        let mut seen = Seen::new();
        for i in 0..n {
            seen.stored(key(i));
        }
        assert_eq!(seen.stages.len(), 3, "the filter grows as keys come");
        let false_hits = seen.copies.len();
        for i in (0..n).step_by(1000) {
            seen.stored(key(i));
        }
        let copies = seen.into_copies().expect("within the filter's size");
        for i in (0..n).step_by(1000) {
            assert!(copies.contains(&key(i)), "key {i} was stored twice");
        }
        // A false "stored" only costs the end of the load a look at that key: ~0.5 % at this
        // density, at most 1 %.
        assert!(false_hits < n as usize / 100, "{false_hits} of {n} keys");
    }

    #[test]
    fn a_filter_past_its_size_gives_up_rather_than_grow() {
        let most = (0..SEEN_STAGES).map(|i| SEEN_FIRST << i).sum::<usize>() as u64;
        let mut seen = Seen::new();
        for i in 0..most {
            seen.stored(key(i));
        }
        assert_eq!(seen.stages.len(), SEEN_STAGES);
        // False "stored" take no room: a few more keys fill it.
        let mut i = most;
        while !seen.stages.is_empty() {
            assert!(i < most + most / 50, "gives up once full");
            seen.stored(key(i));
            i += 1;
        }
        seen.stored(key(0));
        assert!(
            seen.into_copies().is_none(),
            "its end sorts every key instead"
        );
    }
}
