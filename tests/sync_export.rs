//! Beyond one machine: `export` / `import FILE`, merges in any order, `report machine`, and two
//! real daemons on two homes that share one sync folder.

mod util;

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokwatch::store::query::Filter;
use util::*;

const CODEX: &str = "codex/sessions/2026/02/23";
const CODEX_A: &str = "rollout-2026-02-23T12-40-23-019c8a4c-ed82-79a1-aa28-7738fc5ab61a.jsonl";
const CODEX_B: &str = "rollout-2026-02-23T12-41-04-019c8a4d-8f45-7010-8b5d-7fad920aa6f9.jsonl";
const CODEX_C: &str = "rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl";

fn run(c: &mut std::process::Command) -> String {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{:?} failed: {}{}",
        c,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn config(h: &Home, toml: &str) {
    let d = h.dir.path().join("config");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.toml"), toml).unwrap();
}

/// A home with the Claude Code sample project and some Codex sessions, scanned.
fn home_with(claude: bool, codex: &[&str]) -> Home {
    let h = Home::new();
    if claude {
        copy_tree(
            &fixtures().join("claude-code/projects"),
            &h.claude_projects(),
        );
    }
    for f in codex {
        put(&h, &format!("{CODEX}/{f}"), &format!(".codex/sessions/{f}"));
    }
    h.scan();
    h
}

fn put(h: &Home, fixture: &str, dst: &str) {
    let d = h.home().join(dst);
    std::fs::create_dir_all(d.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join(fixture), d).unwrap();
}

fn export(h: &Home, extra: &[&str]) -> PathBuf {
    let out = h
        .dir
        .path()
        .join(format!("export-{}.txt", rand_u64() % 1_000_000));
    let mut c = h.cmd();
    c.arg("export").arg("-o").arg(&out).args(extra);
    run(&mut c);
    out
}

fn import(h: &Home, file: &Path) -> String {
    let mut c = h.cmd();
    c.arg("import").arg(file);
    run(&mut c)
}

/// Every report (but `machine`) as JSON, in UTC.
fn reports(h: &Home) -> Vec<serde_json::Value> {
    [
        "day", "week", "month", "session", "repo", "branch", "model", "tool",
    ]
    .iter()
    .map(|by| {
        let out = run(h.cmd().args(["report", by, "--json", "--tz", "utc"]));
        serde_json::from_str(&out).unwrap()
    })
    .collect()
}

fn events(db: &Path) -> i64 {
    sql(db)
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

/// Every stored request's context split (`docs/composition.md`), by identity.
fn splits(db: &Path) -> Vec<(i64, Option<String>)> {
    sql(db)
        .prepare("SELECT key_hash, ctx FROM events ORDER BY key_hash")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn sorted_lines(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The two files hold the same lines (in any order); a difference is shown, not every line.
fn same_lines(a: &Path, b: &Path) {
    let (x, y) = (sorted_lines(a), sorted_lines(b));
    let only_x: Vec<&String> = x.iter().filter(|l| !y.contains(l)).take(3).collect();
    let only_y: Vec<&String> = y.iter().filter(|l| !x.contains(l)).take(3).collect();
    assert!(
        only_x.is_empty() && only_y.is_empty() && x.len() == y.len(),
        "{} lines vs {}; only in the first: {only_x:?}; only in the second: {only_y:?}",
        x.len(),
        y.len()
    );
}

fn machine_of(h: &Home) -> String {
    h.reader().local_machine().unwrap().unwrap()
}

#[test]
fn export_then_import_twice_gives_the_same_reports_and_rows() {
    let a = home_with(true, &[CODEX_A, CODEX_B]);
    let n = events(&a.db());
    assert!(n > 150);
    let file = export(&a, &[]);
    assert_eq!(sorted_lines(&file).len() as i64, n);

    let b = Home::new();
    let first = import(&b, &file);
    assert!(first.contains(&format!("{n} new requests")), "{first}");
    let again = import(&b, &file);
    assert!(again.contains("Nothing new"), "{again}");
    // The same records under another name are read again, and add nothing.
    let copy = b.dir.path().join("copy.jsonl");
    std::fs::copy(&file, &copy).unwrap();
    let third = import(&b, &copy);
    assert!(third.contains("0 new requests, 0 updated"), "{third}");
    assert_eq!(events(&b.db()), n);
    assert_rollup_consistent(&b.db());
    assert_eq!(reports(&a), reports(&b));
    // The context splits travel with the requests (155 of the Claude Code sample's 156 and
    // every counted Codex call have one).
    let split = splits(&a.db());
    assert!(split.iter().filter(|(_, c)| c.is_some()).count() > 150);
    assert_eq!(splits(&b.db()), split);
    // What B holds exports as exactly what A wrote: machine, change numbers, repository
    // identity, figures, all carried through.
    same_lines(&export(&b, &[]), &file);
    // The requests keep A as the machine that recorded them.
    let m = run(b.cmd().args(["report", "machine", "--json"]));
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert_eq!(m["rows"].as_array().unwrap().len(), 1);
    assert_eq!(m["rows"][0]["key"], machine_of(&a).as_str());

    // CSV carries the same.
    let csv = export(&a, &["--csv"]);
    let c = Home::new();
    import(&c, &csv);
    import(&c, &csv);
    assert_eq!(events(&c.db()), n);
    assert_eq!(reports(&a), reports(&c));
    assert_eq!(splits(&c.db()), split);
}

#[test]
fn export_filters_select_what_reports_select() {
    let a = home_with(true, &[CODEX_A]);
    let f = export(&a, &["--tool", "codex"]);
    let b = Home::new();
    import(&b, &f);
    let want = a.tool("codex");
    assert_eq!(tuple(&b.sums(&Filter::default())), tuple(&want));
    let f = export(&a, &["--until", "2000-01-01"]);
    assert_eq!(std::fs::read_to_string(f).unwrap(), "");
}

#[test]
fn overlapping_histories_merged_in_either_order_agree() {
    // A and B both hold the Claude Code sample; B also has Codex sessions.
    let a = home_with(true, &[CODEX_A]);
    let b = home_with(true, &[CODEX_B, CODEX_C]);
    let (fa, fb) = (export(&a, &[]), export(&b, &[]));
    // A third machine recorded one of the requests with more output (it read a later
    // snapshot): the larger copy wins whichever order the files come in.
    let line = std::fs::read_to_string(&fa)
        .unwrap()
        .lines()
        .find(|l| l.contains("\"claude-code\""))
        .unwrap()
        .to_string();
    let mut rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    rec["machine"] = "other-0a0b0c".into();
    rec["output"] = (rec["output"].as_i64().unwrap() + 1000).into();
    let fc = a.dir.path().join("c.jsonl");
    std::fs::write(&fc, format!("{rec}\n")).unwrap();

    let x = Home::new();
    for f in [&fa, &fb, &fc] {
        import(&x, f);
    }
    let y = Home::new();
    for f in [&fc, &fb, &fa] {
        import(&y, f);
    }
    let z = Home::new();
    for f in [&fb, &fc, &fa, &fb] {
        import(&z, f);
    }
    assert_eq!(reports(&x), reports(&y));
    assert_eq!(reports(&x), reports(&z));
    assert_rollup_consistent(&x.db());
    assert_rollup_consistent(&y.db());
    // Every request once: the union of A and B, plus the 1000 output tokens of C's copy.
    let all = home_with(true, &[CODEX_A, CODEX_B, CODEX_C]);
    let (want, got) = (all.sums(&Filter::default()), x.sums(&Filter::default()));
    assert_eq!(events(&x.db()), events(&all.db()));
    assert_eq!(got.requests, want.requests);
    assert_eq!(got.output, want.output + 1000);
    assert_eq!(got.input, want.input);
    assert_eq!(got.cache_read, want.cache_read);
    // Per machine, the parts add up to the whole.
    let m: serde_json::Value =
        serde_json::from_str(&run(x.cmd().args(["report", "machine", "--json"]))).unwrap();
    let rows = m["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{m}");
    let sum: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    assert_eq!(sum, got.requests);
    let only_c = x.sums(&Filter {
        machine: Some("other".into()),
        ..Filter::default()
    });
    assert_eq!(only_c.requests, 1);
    let text = run(x
        .cmd()
        .args(["report", "tool", "--machine", "other-0a0b0c"]));
    assert!(text.contains("claude-code"), "{text}");
}

/// `usage.csv` in `h`'s directory: Cursor's usage export (its documented columns) with one row.
fn cursor_csv(h: &Home, row: &str) -> PathBuf {
    let csv = h.dir.path().join("usage.csv");
    std::fs::write(
        &csv,
        format!("Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost\n{row}\n"),
    )
    .unwrap();
    csv
}

#[test]
fn import_refuses_other_files_and_keeps_cursor_csv() {
    let b = Home::new();
    let f = b.dir.path().join("not-an-export.jsonl");
    std::fs::copy(fixtures().join("claude-code/single/short.jsonl"), &f).unwrap();
    let o = b.cmd().arg("import").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no line of"), "{err}");
    assert!(err.contains("cursor-csv"), "{err}");
    // `import cursor-csv FILE` is still the Cursor import.
    let csv = cursor_csv(
        &b,
        "\"2025-09-01T10:00:00.000Z\",\"Included\",\"claude-4-sonnet\",\"No\",\"100\",\"80\",\"50\",\"20\",\"170\",\"0.01\"",
    );
    let out = run(b.cmd().args(["import", "cursor-csv"]).arg(&csv));
    assert!(out.contains("Imported 1 of 1 rows"), "{out}");
}

/// Totals of one database, as a report reads them.
fn totals(db: &Path) -> Option<(i64, i64, i64, i64, i64)> {
    try_sums(db, &Filter::default()).map(|s| tuple(&s))
}

#[test]
fn two_daemons_sharing_a_sync_folder_show_both_machines_exactly() {
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().join("tokwatch-sync");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = format!("[sync]\ndir = {:?}\n", dir.display().to_string());
    let (a, b) = (Home::new(), Home::new());
    config(&a, &cfg);
    config(&b, &cfg);
    put(
        &a,
        "claude-code/single/short.jsonl",
        ".claude/projects/-p/short.jsonl",
    );
    put(
        &b,
        &format!("{CODEX}/{CODEX_A}"),
        &format!(".codex/sessions/{CODEX_A}"),
    );
    let fast = [("TOKWATCH_SAFETY_SCAN_SECS", "5")];
    let da = a.start_daemon(&fast);
    let db = b.start_daemon(&fast);

    // What both should show: one scan of every file the two machines have.
    let mut files: Vec<(String, String)> = vec![
        (
            "claude-code/single/short.jsonl".into(),
            ".claude/projects/-p/short.jsonl".into(),
        ),
        (
            format!("{CODEX}/{CODEX_A}"),
            format!(".codex/sessions/{CODEX_A}"),
        ),
    ];
    let want = |files: &[(String, String)]| {
        let h = Home::new();
        for (src, dst) in files {
            put(&h, src, dst);
        }
        h.scan();
        tuple(&h.sums(&Filter::default()))
    };
    let both_show = |w: (i64, i64, i64, i64, i64), what: &str| {
        for (h, name) in [(&a, "A"), (&b, "B")] {
            wait_until(Duration::from_secs(60), || totals(&h.db()) == Some(w))
                .unwrap_or_else(|| panic!("{name} {what}: {:?}, want {w:?}", totals(&h.db())));
        }
    };
    both_show(want(&files), "at start");

    // New usage on both sides.
    put(
        &a,
        "claude-code/single/tool_heavy.jsonl",
        ".claude/projects/-p/tool.jsonl",
    );
    put(
        &b,
        &format!("{CODEX}/{CODEX_B}"),
        &format!(".codex/sessions/{CODEX_B}"),
    );
    files.push((
        "claude-code/single/tool_heavy.jsonl".into(),
        ".claude/projects/-p/tool.jsonl".into(),
    ));
    files.push((
        format!("{CODEX}/{CODEX_B}"),
        format!(".codex/sessions/{CODEX_B}"),
    ));
    both_show(want(&files), "after appends on both sides");

    // A is killed; B goes on; A comes back and catches up from B's file.
    da.kill9();
    put(
        &b,
        &format!("{CODEX}/{CODEX_C}"),
        &format!(".codex/sessions/{CODEX_C}"),
    );
    files.push((
        format!("{CODEX}/{CODEX_C}"),
        format!(".codex/sessions/{CODEX_C}"),
    ));
    put(
        &a,
        "claude-code/single/subagent.jsonl",
        ".claude/projects/-p/sub.jsonl",
    );
    files.push((
        "claude-code/single/subagent.jsonl".into(),
        ".claude/projects/-p/sub.jsonl".into(),
    ));
    let da = a.start_daemon(&fast);
    both_show(want(&files), "after a SIGKILL and a restart");
    assert_eq!(events(&a.db()), events(&b.db()));

    // Each machine wrote only its own requests (no echo), each under its own id, and each
    // request keeps the machine that recorded it.
    let (ma, mb) = (machine_of(&a), machine_of(&b));
    assert_ne!(ma, mb);
    let names: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let mut want_names = vec![format!("{ma}.jsonl"), format!("{mb}.jsonl")];
    want_names.sort();
    assert_eq!(names, want_names);
    for (m, tool) in [(&ma, "claude-code"), (&mb, "codex")] {
        let text = std::fs::read_to_string(dir.join(format!("{m}.jsonl"))).unwrap();
        assert!(text
            .lines()
            .all(|l| l.contains(&format!("\"machine\":\"{m}\""))));
        assert!(text
            .lines()
            .all(|l| l.contains(&format!("\"tool\":\"{tool}\""))));
    }
    for h in [&a, &b] {
        let r = h.reader();
        assert_eq!(
            r.sums(&Filter {
                machine: Some(ma.clone()),
                ..Filter::default()
            })
            .unwrap()
            .requests,
            a.tool("claude-code").requests
        );
        assert_rollup_consistent(&h.db());
    }
    drop(da);
    drop(db);
}

#[test]
fn a_sync_file_replaced_by_a_longer_copy_is_read_on_not_again() {
    let a = home_with(true, &[]);
    let text = std::fs::read_to_string(export(&a, &[])).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let b = Home::new();
    let dir = b.dir.path().join("sync");
    std::fs::create_dir_all(&dir).unwrap();
    config(
        &b,
        &format!("[sync]\ndir = {:?}\n", dir.display().to_string()),
    );
    let file = dir.join(format!("{}.jsonl", machine_of(&a)));
    let half = lines.len() / 2;
    let join = |l: &[&str]| l.iter().map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(&file, join(&lines[..half])).unwrap();
    assert_eq!(b.scan().events_new as usize, half);
    // The sync tool delivers a longer copy: a new file renamed over the old one.
    let deliver = |content: &str| {
        let tmp = dir.join(".syncthing.tmp");
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    deliver(&join(&lines));
    let st = b.scan();
    assert_eq!(
        st.bytes_read as usize,
        join(&lines[half..]).len(),
        "only the new lines"
    );
    assert_eq!(st.events_new as usize, lines.len() - half);
    assert_eq!(
        tuple(&b.sums(&Filter::default())),
        tuple(&a.sums(&Filter::default()))
    );
    // A replacement that is not a copy of what was read (same first line, other lines before
    // the checkpoint) is read again from the start, and adds nothing twice.
    let mut shuffled: Vec<&str> = lines.clone();
    shuffled[1..].reverse();
    deliver(&join(&shuffled));
    let st = b.scan();
    assert_eq!(st.bytes_read as usize, join(&lines).len());
    assert_eq!(st.events_new, 0);
    assert_eq!(
        tuple(&b.sums(&Filter::default())),
        tuple(&a.sums(&Filter::default()))
    );
}

#[test]
fn a_version_1_database_is_upgraded_with_every_total_kept() {
    let h = Home::new();
    let c = rusqlite::Connection::open(h.db()).unwrap();
    let v1 = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/schema_v1.sql"),
    )
    .unwrap();
    c.execute_batch(&v1).unwrap();
    c.pragma_update(None, "user_version", 1).unwrap();
    // Three requests as a version-1 writer stored them, with their rollup cells (one unpriced).
    c.execute_batch(
        "INSERT INTO workspaces(id, key, name) VALUES(1, 'github.com/o/r', 'o/r');
         INSERT INTO events(tool, key_hash, ts, model, provider, session, workspace_id, branch,
                input, cw5, cw1h, cr, output, reasoning, requests, cost, cost_source)
         VALUES('claude-code', 11, 1000000000000, 'm1', 'anthropic', 's', 1, 'main', 1, 2, 3, 4, 5, 0, 1, 0.5, 0),
               ('claude-code', 12, 1000000000001, 'm1', 'other', 's', 1, 'main', 10, 0, 0, 0, 20, 0, 1, 0.25, 0),
               ('codex', 13, 1000000900000, 'm2', NULL, 't', NULL, NULL, 7, 0, 0, 0, 8, 3, 1, NULL, 3);
         INSERT INTO rollup VALUES(1111111, 'claude-code', 1, 'main', 'm1', 's', 2, 11, 2, 3, 4, 25, 0, 0.75, 0, 0, 0);
         INSERT INTO rollup VALUES(1111112, 'codex', 0, '', 'm2', 't', 1, 7, 0, 0, 0, 8, 3, 0.0, 1, 0, 0);",
    )
    .unwrap();
    drop(c);
    let before = (3, 18, 5, 4, 33);
    h.scan();
    let s = h.sums(&Filter::default());
    assert_eq!(tuple(&s), before);
    assert_eq!(s.unpriced_requests, 1);
    assert!((s.cost_usd - 0.75).abs() < 1e-9);
    let r = sql(&h.db());
    let v: i64 = r
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert!(v >= 2);
    let odd: i64 = r
        .query_row(
            "SELECT count(*) FROM events WHERE machine_id != 0 OR rev IS NOT id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(odd, 0, "old requests are this machine's, numbered in order");
    // The provider split the rollup cell; the report is the same.
    let cells: i64 = r
        .query_row("SELECT count(*) FROM rollup", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cells, 3);
    assert_eq!(sorted_lines(&export(&h, &[])).len(), 3);
}

/// The daemon is the one writer: an import beside it (which could store a request the daemon's
/// first load also stores, before that load's duplicate checks are in place) is refused with
/// what to do, and writes nothing; with the daemon stopped the same import goes in.
#[test]
fn import_while_the_daemon_runs_is_refused_and_writes_nothing() {
    let a = home_with(true, &[CODEX_A]);
    let n = events(&a.db());
    let file = export(&a, &[]);
    let b = Home::new();
    let csv = cursor_csv(
        &b,
        "\"2025-10-01T09:00:00.000Z\",\"Included in Pro\",\"claude-4.5-sonnet\",\"No\",\"12000\",\"10000\",\"50000\",\"800\",\"62800\",\"$0.31\"",
    );
    let d = b.start_daemon(&[]);
    for args in [
        vec!["import".into(), file.clone()],
        vec!["import".into(), "cursor-csv".into(), csv.clone()],
    ] {
        let o = b.cmd().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("daemon is running"), "{err}");
        assert!(err.contains("Nothing was imported"), "{err}");
        assert_eq!(events(&b.db()), 0, "{args:?}");
    }
    drop(d);
    import(&b, &file);
    assert_eq!(events(&b.db()), n);
    run(b.cmd().args(["import", "cursor-csv"]).arg(&csv));
    assert_eq!(events(&b.db()), n + 1);
}
