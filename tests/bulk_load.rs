//! A first load written without the indexes on random keys (store::bulk) ends where the row
//! by row writer ends: the same rows, the same rollups, whether it runs through or is cut off
//! and finished by the next open.
//!
//! The corpus is the real samples (fixtures/PROVENANCE.md) plus copies made here of what makes
//! one request appear in several files: a Claude Code session file copied whole (a resumed
//! session's replay), a copy whose output counts grew (a later streaming snapshot: the larger
//! one wins), main-chain messages replayed in a subagent file as sidechain requests (the
//! main-chain copy wins), and a Codex rollout copied under a new name (a fork). Every file is its own catch-up
//! transaction, so each of those copies lands in a different group from its original.

mod util;

use rusqlite::Connection;
use std::path::Path;
use util::*;

fn project(h: &Home) -> std::path::PathBuf {
    std::fs::read_dir(h.claude_projects())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn corpus(h: &Home) {
    h.copy_samples(usize::MAX);
    let dir = project(h);
    let main = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(dir.join("replayed.jsonl"), &text).unwrap();
    let grown = regex::Regex::new(r#""output_tokens":(\d+)"#)
        .unwrap()
        .replace_all(&text, |c: &regex::Captures| {
            format!("\"output_tokens\":{}", c[1].parse::<u64>().unwrap() + 7)
        });
    assert_ne!(grown, text, "the sample has output counts to grow");
    std::fs::write(dir.join("snapshot.jsonl"), grown.as_bytes()).unwrap();
    // Sidechain requests of main-chain messages: one file read before the main chain, one
    // after it (`load` orders the files), so that both ways of meeting are merged.
    let sub = main.with_extension("").join("subagents");
    for (name, req) in [
        ("agent-early.jsonl", "req_early"),
        ("agent-replay.jsonl", "req_side"),
    ] {
        let side: String = text
            .lines()
            .filter(|l| l.contains("\"usage\""))
            .take(40)
            .map(|l| {
                l.replace("\"isSidechain\":false", "\"isSidechain\":true")
                    .replace("\"requestId\":\"req_", &format!("\"requestId\":\"{req}"))
                    + "\n"
            })
            .collect();
        assert!(side.contains("\"isSidechain\":true") && side.contains(req));
        std::fs::write(sub.join(name), side).unwrap();
    }
    let rollout = std::fs::read_dir(h.codex_sessions())
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let name = rollout.file_name().unwrap().to_string_lossy();
    std::fs::copy(
        &rollout,
        h.codex_sessions()
            .join(name.replace(".jsonl", "-fork.jsonl")),
    )
    .unwrap();
}

/// Everything a report can read: the rows (without their ids, change numbers, files and merge
/// rules, which depend on arrival order) and every rollup, sorted.
fn contents(db: &Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut out = Vec::new();
    for (table, skip) in [
        ("events", &["id", "rev", "file_id", "rule"][..]),
        ("rollup", &["id"][..]),
        ("rollup_hour", &["id"][..]),
        ("rollup_day", &["id"][..]),
        ("rollup_time", &["id"][..]),
        ("rollup_span", &["id"][..]),
    ] {
        let cols: Vec<String> = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|n| !skip.contains(&n.as_str()))
            .map(|n| {
                if n == "workspace_id" {
                    "(SELECT name FROM workspaces w WHERE w.id = t.workspace_id)".to_string()
                } else {
                    n
                }
            })
            .collect();
        let mut q = c
            .prepare(&format!("SELECT {} FROM {table} t", cols.join(", ")))
            .unwrap();
        let n = q.column_count();
        let mut rows: Vec<String> = q
            .query_map([], |r| {
                let vals: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        // Sums of costs differ in their last bits with the order of the
                        // additions (a copy added, then taken out again).
                        rusqlite::types::ValueRef::Real(x) => format!("{x:.9}"),
                        v => format!("{v:?}"),
                    })
                    .collect();
                Ok(format!("{table}: {}", vals.join(" | ")))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        rows.sort();
        out.extend(rows);
    }
    out
}

fn indexes(db: &Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut q = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name")
        .unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn key_copies(db: &Path) -> i64 {
    repeated(db, "key_hash", "")
}

/// This machine's change numbers given twice (each request's must be its own: exports send
/// what is above the last number sent).
fn rev_copies(db: &Path) -> i64 {
    repeated(db, "rev", "WHERE machine_id = 0")
}

/// Rows of `events` (those `filter` keeps) whose `col` another row has too.
fn repeated(db: &Path, col: &str, filter: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(
            &format!("SELECT count(*) - count(DISTINCT {col}) FROM events {filter}"),
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// One first load, every file its own transaction, read by one thread in a fixed order: the
/// early sidechain replay, the main chain, the rest by path, the late sidechain replay.
/// `row_by_row` adds a subscriber (as the daemon has), which keeps every index in step.
fn load(
    h: &Home,
    row_by_row: bool,
    progress: &mut dyn FnMut(u64),
) -> tokwatch::ingest::IngestStats {
    load_with(h.ingestor(), row_by_row, progress)
}

/// [`load`] with an ingestor set up by the caller.
fn load_with(
    mut ing: tokwatch::ingest::Ingestor,
    row_by_row: bool,
    progress: &mut dyn FnMut(u64),
) -> tokwatch::ingest::IngestStats {
    ing.set_group_bytes(1);
    ing.set_workers(1);
    if row_by_row {
        ing.subscribe(Box::new(|_| {}));
    }
    let (_, mut files) = ing.pending().unwrap();
    let rank = |p: &Path| {
        let name = p.file_name().unwrap().to_string_lossy();
        if name == "agent-early.jsonl" {
            0
        } else if name == "agent-replay.jsonl" {
            3
        } else if p.extension().is_some_and(|x| x == "jsonl") && name.len() == 42 {
            1
        } else {
            2
        }
    };
    files.sort_by(|a, b| (rank(&a.path), &a.path).cmp(&(rank(&b.path), &b.path)));
    assert_eq!(rank(&files[1].path), 1, "the main chain is read second");
    ing.scan_files(files, progress).unwrap()
}

/// The row by row load; returns how many batches it committed, and what it counted.
fn row_by_row(h: &Home) -> (usize, tokwatch::ingest::IngestStats) {
    let mut batches = 0;
    let st = load(h, true, &mut |_| batches += 1);
    assert_rollup_consistent(&h.db());
    (batches, st)
}

/// Loads the corpus row by row into one home and as a first load into another (its ingestor
/// set up by `set_up`), checks they end alike, and returns both homes.
fn bulk_against_row_by_row(set_up: impl FnOnce(&mut tokwatch::ingest::Ingestor)) -> (Home, Home) {
    let (a, b) = (Home::new(), Home::new());
    corpus(&a);
    corpus(&b);
    let (_, rows) = row_by_row(&a);
    let mut ing = b.ingestor();
    set_up(&mut ing);
    let st = load_with(ing, false, &mut |_| {});
    assert_rollup_consistent(&b.db());
    let (want, got) = (contents(&a.db()), contents(&b.db()));
    let events = got.iter().filter(|r| r.starts_with("events:")).count() as u64;
    assert!(events > 500, "{events}");
    // Copies the bulk writer stored apart are not counted as new.
    assert_eq!(st.events_new, rows.events_new);
    assert_same(&want, &got);
    assert_eq!(indexes(&a.db()), indexes(&b.db()));
    assert_eq!(key_copies(&b.db()), 0);
    assert_eq!(rev_copies(&b.db()), 0, "a change number given twice");
    (a, b)
}

#[test]
fn bulk_load_equals_row_by_row() {
    let (a, b) = bulk_against_row_by_row(|_| {});
    // The copies made above changed nothing a report shows but the grown output counts.
    let claude = b.tool("claude-code");
    assert_eq!(
        tuple(&claude),
        tuple(&a.tool("claude-code")),
        "the same totals either way"
    );
}

/// The same when the end of the load may hold only about one copy whole at a time: it then
/// merges the keys in as many parts as it has pairs of candidate rows, one pass each.
#[test]
fn bulk_load_merged_in_many_parts_equals_row_by_row() {
    bulk_against_row_by_row(|ing| ing.set_fold_held(1));
}

/// A first load cut off after some groups committed (a panic in the middle of a scan leaves the
/// database as a kill -9 does) keeps copies of one request in separate rows and no key index;
/// the next open merges them and builds it, and the rest of the scan ends where a load that
/// ran through does.
#[test]
fn a_cut_off_bulk_load_is_finished_at_the_next_open() {
    let (a, b) = (Home::new(), Home::new());
    corpus(&a);
    corpus(&b);
    let (batches, _) = row_by_row(&a);
    assert!(batches > 8, "{batches}");
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut n = 0;
        load(&b, false, &mut |_| {
            n += 1;
            if n == batches - 1 {
                panic!("cut off");
            }
        });
    }));
    assert!(cut.is_err());
    let idx = indexes(&b.db());
    assert!(!idx.iter().any(|i| i == "events_key"), "{idx:?}");
    assert!(
        key_copies(&b.db()) > 0,
        "copies of one request stored apart"
    );
    drop(tokwatch::store::Store::open_writer(&b.db()).unwrap());
    assert_eq!(key_copies(&b.db()), 0);
    assert!(indexes(&b.db()).iter().any(|i| i == "events_key"));
    assert_rollup_consistent(&b.db());
    b.scan();
    assert_same(&contents(&a.db()), &contents(&b.db()));
    assert_eq!(indexes(&a.db()), indexes(&b.db()));
    // The rest of the load numbered its requests after the ones the cut-off load stored.
    assert_eq!(rev_copies(&b.db()), 0, "a change number given twice");
}

fn assert_same(want: &[String], got: &[String]) {
    if want != got {
        let only_a: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(6).collect();
        let only_b: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(6).collect();
        panic!(
            "{} rows against {}\nrow by row only: {only_a:#?}\nbulk only: {only_b:#?}",
            want.len(),
            got.len()
        );
    }
}
