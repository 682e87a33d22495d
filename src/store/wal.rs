//! WAL checkpoints on a second connection, beside a long catch-up.
//!
//! During a bulk scan the writer turns its automatic checkpoints off and pokes this thread after
//! each commit instead: the copy of committed pages into the database file (and its fsync) then
//! runs while the parse workers keep going, not on the writer's critical path. A PASSIVE
//! checkpoint never blocks the writer or readers; whatever it has not copied when the scan ends
//! is checkpointed as usual.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// A thread that runs PASSIVE WAL checkpoints on its own connection when poked.
pub struct BackgroundCheckpoint {
    poke: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
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
        let (tx, rx) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("tokwatch-checkpoint".into())
            .spawn(move || {
                for () in rx {
                    // Busy or not, a later poke or the writer's own checkpoint catches up.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(BackgroundCheckpoint {
            poke: Some(tx),
            thread: Some(thread),
        })
    }

    /// Asks for a checkpoint; pokes while one is pending are merged into it.
    pub fn poke(&self) {
        if let Some(tx) = &self.poke {
            let _ = tx.try_send(());
        }
    }
}

impl Drop for BackgroundCheckpoint {
    /// Waits for the checkpoint in progress, if any.
    fn drop(&mut self) {
        drop(self.poke.take());
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
}
