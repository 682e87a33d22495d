//! Raw-event retention (`[storage] keep_events_days`, `tokwatch prune`): pruned requests keep
//! every total exact, and no copy of them read later (a file read again from the start, a
//! resumed session's copy, a bigger streaming snapshot, a sidechain replay) counts twice.

mod util;

use tokwatch::store::query::{Filter, GroupBy, Zone};
use tokwatch::store::Store;
use util::*;

const CLAUDE_DIR: &str = "claude-code/projects/-home-USER-projects-spotter-worktrees-spotter-gqc";
const CLAUDE_MAIN: &str = "258c7280-ae70-4798-800f-63464d01a85d.jsonl";

fn with_samples(h: &Home) {
    copy_tree(
        &fixtures().join(CLAUDE_DIR),
        &h.claude_projects()
            .join("-home-USER-projects-spotter-worktrees-spotter-gqc"),
    );
    copy_tree(&fixtures().join("codex/sessions"), &h.codex_sessions());
}

/// Prunes every request recorded before now (the samples are older).
fn prune_all(h: &Home) -> tokwatch::store::prune::PruneStats {
    let st = Store::open_writer(&h.db())
        .unwrap()
        .prune(tokwatch::store::now_ms(), &[], false)
        .unwrap();
    assert_rollup_consistent(&h.db());
    st
}

fn count(h: &Home, table: &str) -> i64 {
    sql(&h.db())
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Every figure a report shows, per day, model, session and repository (times aside).
fn figures(h: &Home) -> Vec<String> {
    let r = h.reader();
    let mut out = vec![format!("{:?}", r.sums(&Filter::default()).unwrap())];
    for g in [
        GroupBy::Day,
        GroupBy::Model,
        GroupBy::Session,
        GroupBy::Repo,
        GroupBy::Tool,
    ] {
        let rep = r.report(g, &Filter::default(), Zone::Utc).unwrap();
        for row in rep.rows {
            out.push(format!("{g:?} {} {:?}", row.key, row.sums));
        }
    }
    out
}

#[test]
fn pruning_keeps_every_total_and_reading_every_log_again_adds_nothing() {
    let h = Home::new();
    with_samples(&h);
    h.scan();
    let before = figures(&h);
    let events = count(&h, "events");
    assert!(events > 300, "{events}");
    let rev = h.reader().last_rev().unwrap();

    let st = prune_all(&h);
    assert_eq!(st.pruned as i64, events);
    assert_eq!(count(&h, "events"), 0);
    assert_eq!(count(&h, "pruned"), events);
    assert_eq!(figures(&h), before, "a prune changes no figure");
    // This machine's change numbers go on above the pruned ones (sync readers keep the higher).
    assert_eq!(h.reader().last_rev().unwrap(), rev);

    // Every log read again from the start, as after a lost checkpoint.
    sql_write(&h, "DELETE FROM files");
    let again = h.scan();
    assert!(again.bytes_read > 4_000_000, "the logs were read again");
    assert_eq!(figures(&h), before);
    assert_eq!(
        count(&h, "events"),
        0,
        "every copy merged into its identity row"
    );

    // A resumed Claude session copies earlier lines into a new file; Codex archives a copy.
    let other = h.claude_projects().join("-home-USER-elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(
        h.claude_projects()
            .join("-home-USER-projects-spotter-worktrees-spotter-gqc")
            .join(CLAUDE_MAIN),
        other.join("resumed-copy.jsonl"),
    )
    .unwrap();
    let archived = h.home().join(".codex/archived_sessions");
    std::fs::create_dir_all(&archived).unwrap();
    let name = "rollout-2026-02-23T12-54-34-019c8a59-e9dd-71f0-9ae3-4079fe9726a9.jsonl";
    std::fs::copy(
        h.codex_sessions().join("2026/02/23").join(name),
        archived.join(name),
    )
    .unwrap();
    let st = h.scan();
    assert!(st.bytes_read > 1_000_000, "the copies were read");
    assert_eq!(figures(&h), before);
    assert_eq!(count(&h, "events"), 0);
    // A second prune finds nothing to do.
    assert_eq!(prune_all(&h).pruned, 0);
}

fn sql_write(h: &Home, q: &str) {
    rusqlite::Connection::open(h.db())
        .unwrap()
        .execute_batch(q)
        .unwrap();
}

#[test]
fn a_later_streaming_snapshot_of_a_pruned_request_merges_exactly() {
    let a = r#"{"type":"assistant","sessionId":"s1","cwd":"/nonexistent/x","requestId":"req_1","timestamp":"2026-02-12T14:12:01.177Z","message":{"model":"claude-opus-4-6","id":"msg_1","usage":{"input_tokens":3,"cache_creation_input_tokens":8165,"cache_read_input_tokens":17842,"cache_creation":{"ephemeral_5m_input_tokens":8165,"ephemeral_1h_input_tokens":0},"output_tokens":9}}}"#;
    let b = a.replace("\"output_tokens\":9", "\"output_tokens\":209");
    for (first, second, stays_pruned) in [(a, b.as_str(), false), (b.as_str(), a, true)] {
        let h = Home::new();
        let dir = h.claude_projects().join("-p");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.jsonl"), format!("{first}\n")).unwrap();
        h.scan();
        let cost_first = h.tool("claude-code").cost_usd;
        assert_eq!(prune_all(&h).pruned, 1);
        std::fs::write(dir.join("y.jsonl"), format!("{second}\n")).unwrap();
        h.scan();
        // keep-max: the larger output wins, once, in either order.
        assert_eq!(tuple(&h.tool("claude-code")), (1, 3, 8165, 17842, 209));
        assert_eq!(
            (count(&h, "events"), count(&h, "pruned")),
            if stays_pruned { (0, 1) } else { (1, 0) },
            "a replacing copy is stored in full again; a losing one leaves the identity row"
        );
        let s = h.tool("claude-code");
        if stays_pruned {
            assert_eq!(s.cost_usd, cost_first);
        } else {
            assert!(
                s.cost_usd > cost_first,
                "the bigger copy's cost replaced the old one"
            );
        }
        let neg: i64 = sql(&h.db())
            .query_row(
                "SELECT count(*) FROM rollup WHERE requests < 0 OR output < 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(neg, 0);
    }
}

#[test]
fn sidechain_replays_of_pruned_requests_still_lose_to_the_main_chain() {
    let main = r#"{"type":"assistant","isSidechain":false,"sessionId":"s1","requestId":"req_A","timestamp":"2026-02-12T14:12:01.177Z","message":{"model":"claude-opus-4-6","id":"msg_X","usage":{"input_tokens":3,"cache_read_input_tokens":1000,"output_tokens":50}}}"#;
    let side = r#"{"type":"assistant","isSidechain":true,"sessionId":"s1","requestId":"req_B","timestamp":"2026-02-12T14:13:01.177Z","message":{"model":"claude-opus-4-6","id":"msg_X","usage":{"input_tokens":3,"cache_read_input_tokens":1000,"output_tokens":50}}}"#;
    let own = r#"{"type":"assistant","isSidechain":true,"sessionId":"s1","requestId":"req_C","timestamp":"2026-02-12T14:14:01.177Z","message":{"model":"claude-opus-4-6","id":"msg_Y","usage":{"input_tokens":7,"cache_read_input_tokens":10,"output_tokens":5}}}"#;
    for (first, second) in [(main, side), (side, main)] {
        let h = Home::new();
        let dir = h.claude_projects().join("-p");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.jsonl"), format!("{first}\n{own}\n")).unwrap();
        h.scan();
        assert_eq!(prune_all(&h).pruned, 2);
        std::fs::write(dir.join("b.jsonl"), format!("{second}\n")).unwrap();
        h.scan();
        assert_eq!(tuple(&h.tool("claude-code")), (2, 10, 0, 1010, 55));
    }
}

#[test]
fn prune_command_counts_dry_and_needs_a_retention() {
    let h = Home::new();
    with_samples(&h);
    h.scan();
    let events = count(&h, "events");
    let before = figures(&h);
    // No `--days` and no `[storage] keep_events_days`: a usage error that says what to do.
    let o = h.cmd().arg("prune").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("keep_events_days"));
    // A dry run counts and changes nothing.
    let o = h
        .cmd()
        .args(["prune", "--days", "1", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pruned"], events);
    assert_eq!(count(&h, "events"), events);
    // The config's retention, then VACUUM: the file shrinks, the figures stay.
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[storage]\nkeep_events_days = 1\n").unwrap();
    let size = std::fs::metadata(h.db()).unwrap().len();
    let o = h.cmd().args(["prune", "--vacuum"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("Pruned {events} requests")), "{out}");
    assert_eq!(count(&h, "events"), 0);
    assert_eq!(figures(&h), before);
    assert!(std::fs::metadata(h.db()).unwrap().len() < size);
    // Export says what it leaves out rather than write a short file without a word.
    let o = h.cmd().args(["export"]).output().unwrap();
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{events} requests")) && err.contains("pruned"),
        "{err}"
    );
}

#[test]
fn a_session_report_keeps_first_times_of_pruned_sessions() {
    let h = Home::new();
    with_samples(&h);
    h.scan();
    let rep = |h: &Home| {
        h.reader()
            .report(GroupBy::Session, &Filter::default(), Zone::Utc)
            .unwrap()
            .rows
            .into_iter()
            .map(|r| (r.key, r.first_ms, r.last_request_ms))
            .collect::<Vec<_>>()
    };
    let full = rep(&h);
    prune_all(&h);
    let pruned = rep(&h);
    assert_eq!(full.len(), pruned.len());
    for (a, b) in full.iter().zip(&pruned) {
        assert_eq!(a.0, b.0);
        let (fa, fb) = (a.1.unwrap(), b.1.unwrap());
        // The 15-minute bucket of the first request, no later than it.
        assert!(fb <= fa && fa - fb < 900_000, "{a:?} {b:?}");
        assert!(b.2.is_some());
    }
}

#[test]
fn the_daemon_prunes_by_the_config_and_the_session_page_says_what_was_pruned() {
    let h = Home::new();
    with_samples(&h);
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[storage]\nkeep_events_days = 1\n").unwrap();
    let d = h.start_daemon(&[]);
    // The samples are from February 2026: all older than a day, pruned at start.
    wait_until(std::time::Duration::from_secs(30), || {
        d.log_text().contains("retention: pruned")
    })
    .unwrap_or_else(|| panic!("{}", d.log_text()));
    wait_until(std::time::Duration::from_secs(30), || {
        d.log_text().contains("dashboard at")
    })
    .unwrap_or_else(|| panic!("{}", d.log_text()));
    assert_eq!(count(&h, "events"), 0);
    let pruned = count(&h, "pruned");
    assert!(pruned > 300);
    // `status` still counts every request.
    let o = h.cmd().args(["status", "--json"]).output().unwrap();
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["requests"], pruned, "{st:#}");

    let rep = h
        .reader()
        .report(GroupBy::Session, &Filter::default(), Zone::Utc)
        .unwrap();
    let row = rep.rows.iter().max_by_key(|r| r.sums.requests).unwrap();
    let port: u16 = std::fs::read_to_string(tokwatch::dashboard::port_file(&h.db()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut resp = ureq::get(&format!(
        "http://127.0.0.1:{port}/api/session?id={}",
        row.key
    ))
    .call()
    .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    // No per-request rows any more, the totals as before, and the page is told how many and
    // since when instead of showing an empty session.
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(0), "{v:#}");
    assert_eq!(v["totals"]["requests"], row.sums.requests);
    assert_eq!(v["pruned"]["requests"], row.sums.requests);
    assert!(
        v["pruned"]["before_ms"].as_i64().unwrap() > tokwatch::store::now_ms() - 2 * 86_400_000
    );
}
