//! WAL checkpoints on a second connection, beside the writer.
//!
//! Once [`crate::store::Store::checkpoint_beside`] has started this thread (the daemon at its
//! start, a long scan after its first group), the writer's automatic checkpoint is replaced by
//! a WAL hook that pokes it, and a scan pokes it after each group too: the copy of committed
//! pages into the database file (and its fsync) then runs while the parse workers keep going,
//! and never inside a live append's commit (those were the slowest appends, the p99). A
//! PASSIVE checkpoint never blocks the writer or readers; what is left when the store closes
//! is checkpointed by its connection, the last one to close.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// What the checkpoint thread is asked to do.
enum Ask {
    Checkpoint,
    Stop,
}

/// A thread that runs PASSIVE WAL checkpoints on its own connection when poked.
pub struct BackgroundCheckpoint {
    ask: SyncSender<Ask>,
    thread: Option<JoinHandle<()>>,
}

/// A handle that pokes a [`BackgroundCheckpoint`] (for a WAL hook, which outlives no store).
#[derive(Clone)]
pub struct Poke(SyncSender<Ask>);

impl Poke {
    /// Asks for a checkpoint; pokes while one is pending are merged into it.
    pub fn poke(&self) {
        let _ = self.0.try_send(Ask::Checkpoint);
    }
}

impl BackgroundCheckpoint {
    /// Starts the checkpoint thread, or returns `None` when the database cannot be opened a
    /// second time (the writer then keeps its automatic checkpoints).
    pub fn start(db: &Path) -> Option<BackgroundCheckpoint> {
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        let (tx, rx) = sync_channel::<Ask>(1);
        let thread = std::thread::Builder::new()
            .name("tokwatch-checkpoint".into())
            .spawn(move || {
                for ask in rx {
                    if let Ask::Stop = ask {
                        break;
                    }
                    // Busy or not, a later poke or the writer's own checkpoint catches up.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(BackgroundCheckpoint {
            ask: tx,
            thread: Some(thread),
        })
    }

    /// Asks for a checkpoint; pokes while one is pending are merged into it.
    pub fn poke(&self) {
        let _ = self.ask.try_send(Ask::Checkpoint);
    }

    /// A handle that pokes this thread.
    pub fn poker(&self) -> Poke {
        Poke(self.ask.clone())
    }
}

impl Drop for BackgroundCheckpoint {
    /// Waits for the checkpoint in progress (and one asked for before), if any, and ends the
    /// thread (a [`Poke`] still held elsewhere does not keep it running).
    fn drop(&mut self) {
        let _ = self.ask.send(Ask::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Pages committed with automatic checkpoints off reach the database file through the
    /// background thread, while the writer's connection stays open.
    #[test]
    fn committed_pages_reach_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let store = Store::open_writer(&db).unwrap();
        store
            .conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .unwrap();
        store
            .conn
            .execute_batch(
                "BEGIN; CREATE TABLE filler(x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO filler SELECT randomblob(1000) FROM n; COMMIT;",
            )
            .unwrap();
        let before = std::fs::metadata(&db).unwrap().len();
        let bg = BackgroundCheckpoint::start(&db).expect("second connection");
        bg.poke();
        drop(bg);
        let after = std::fs::metadata(&db).unwrap().len();
        assert!(
            after >= before + 2_000_000,
            "database file grew from {before} to {after} bytes"
        );
        let (busy, log, done): (i64, i64, i64) = store
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((busy, done), (0, log), "nothing left to copy");
    }

    /// A writer with checkpoints beside it no longer checkpoints inside its commits, and the
    /// log still reaches the database file once commits leave enough frames in it, without a
    /// poke: the WAL hook asks for it.
    #[test]
    fn checkpoints_beside_a_writer_follow_its_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let mut store = Store::open_writer(&db).unwrap();
        store
            .conn
            .execute_batch("CREATE TABLE filler(x BLOB)")
            .unwrap();
        let auto = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .unwrap()
        };
        assert!(auto(&store) > 0, "SQLite's automatic checkpoints at first");
        assert!(store.checkpoint_beside().unwrap(), "second connection");
        assert_eq!(auto(&store), 0, "none inside the writer's commits");
        let before = std::fs::metadata(&db).unwrap().len();
        // One frame or more per commit: past the hook's threshold.
        for _ in 0..(super::super::WAL_FRAMES + 200) {
            store
                .conn
                .execute("INSERT INTO filler VALUES(randomblob(100))", [])
                .unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let grown = loop {
            let now = std::fs::metadata(&db).unwrap().len();
            if now > before || std::time::Instant::now() > deadline {
                break now;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(
            grown > before,
            "the database file stayed at {before} bytes: no checkpoint ran"
        );
        drop(store);
        assert!(
            !dir.path().join("t.db-wal").exists(),
            "the last connection to close checkpoints and removes the log"
        );
    }
}
