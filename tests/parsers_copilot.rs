//! Copilot CLI parser against the real sample (fixtures/copilot-cli/events.jsonl, totals from
//! fixtures/EXPECTED.md) and against resumed sessions built from the documented schema (§7).

use std::path::{Path, PathBuf};
use tokwatch::dedup::merge;
use tokwatch::event::{Tokens, UsageEvent};
use tokwatch::parser::copilot::CopilotParser;
use tokwatch::parser::{FileState, Parser};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/copilot-cli/events.jsonl")
}

fn run_lines(path: &Path, text: &str, st: &mut FileState) -> (Vec<UsageEvent>, u64) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        if CopilotParser
            .parse_line(line.as_bytes(), path, st, &mut out)
            .is_err()
        {
            bad += 1;
        }
    }
    (out, bad)
}

/// The shutdown metrics' events, without the live estimate of each block (its growing
/// estimates and the empty record that settles it: `copilot_live_*` tests).
fn exact(events: Vec<UsageEvent>) -> Vec<UsageEvent> {
    events
        .into_iter()
        .filter(|e| !e.dedup_key.contains(":live:"))
        .collect()
}

fn totals(events: &[UsageEvent]) -> (Tokens, i64) {
    let mut t = Tokens::default();
    let mut r = 0;
    for e in merge(events.to_vec()) {
        t.add(&e.tokens);
        r += e.requests;
    }
    (t, r)
}

#[test]
fn sample_matches_expected_totals() {
    let path = fixture();
    let text = std::fs::read_to_string(&path).unwrap();
    let (all, bad) = run_lines(&path, &text, &mut FileState::default());
    assert_eq!(bad, 0);
    // Six growing estimates (one per assistant message), the empty record that settles them at
    // the shutdown, and the shutdown's exact figures.
    assert_eq!(all.len(), 8);
    let live: Vec<&UsageEvent> = all
        .iter()
        .filter(|e| e.dedup_key.contains(":live:0"))
        .collect();
    assert_eq!(live.len(), 7);
    assert_eq!((live[5].tokens.output, live[5].requests), (2_848, 6));
    assert!(live[5].estimated);
    assert!(live[6].tokens.is_zero() && live[6].requests == 0);
    let (t, r) = totals(&all);
    assert_eq!(
        (t.output, t.cache_read, r),
        (2_848, 151_738, 6),
        "estimate settled"
    );
    let events = exact(all);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.model.as_deref(), Some("claude-sonnet-4.6"));
    // input 186,809 including cache read 151,738
    assert_eq!(e.tokens.input, 35_071);
    assert_eq!(e.tokens.cache_read, 151_738);
    assert_eq!(e.tokens.cache_write_5m + e.tokens.cache_write_1h, 0);
    // output 2,848 including reasoning 1,024
    assert_eq!(e.tokens.output, 2_848);
    assert_eq!(e.tokens.reasoning, 1_024);
    assert_eq!(e.requests, 6);
    assert_eq!(
        e.session_id.as_deref(),
        Some("96ef38f0-9d09-45c3-8124-6448c36090ed")
    );
    assert_eq!(e.cwd.as_deref(), Some("/home/wei/repo/VibeCodingTracker"));
    assert_eq!(
        e.branch.as_deref(),
        Some("refactor/gemini-copilot-new-formats")
    );
    assert_eq!(
        e.repo_hint.as_deref(),
        Some("github.com/Mai0313/VibeCodingTracker")
    );
    assert_eq!(
        e.timestamp_ms,
        tokwatch::event::parse_ts_ms("2026-04-23T17:18:20.178Z").unwrap()
    );
    assert!(e
        .dedup_key
        .starts_with("copilot-cli:96ef38f0-9d09-45c3-8124-6448c36090ed:claude-sonnet-4.6:"));
    assert_eq!(
        e.reported_cost_usd, None,
        "premium requests are not dollars"
    );
}

fn shutdown(ts: &str, input: i64, cr: i64, out: i64, rs: i64, count: i64) -> String {
    format!(
        r#"{{"type":"session.shutdown","data":{{"shutdownType":"routine","modelMetrics":{{"claude-sonnet-4.6":{{"requests":{{"count":{count},"cost":1}},"usage":{{"inputTokens":{input},"outputTokens":{out},"cacheReadTokens":{cr},"cacheWriteTokens":0,"reasoningTokens":{rs}}}}}}},"currentModel":"claude-sonnet-4.6"}},"id":"x","timestamp":"{ts}","parentId":null}}"#
    )
}

#[test]
fn resumed_session_with_duplicated_shutdown_counts_once() {
    let path = fixture();
    let sample = std::fs::read_to_string(&path).unwrap();
    let shutdown_line = sample
        .lines()
        .find(|l| l.contains("\"session.shutdown\""))
        .unwrap();
    let resume = r#"{"type":"session.resume","data":{"context":{"cwd":"/home/wei/repo/VibeCodingTracker"}},"id":"r","timestamp":"2026-04-23T18:00:00.000Z","parentId":null}"#;
    // Same block written twice, then the resumed block whose metrics continue from the total.
    let text = format!(
        "{sample}\n{shutdown_line}\n{resume}\n{}\n{shutdown_line}\n",
        shutdown(
            "2026-04-23T18:30:00.000Z",
            186_809 + 10_000,
            151_738 + 8_000,
            2_848 + 500,
            1_024 + 100,
            9
        )
    );
    let (all, bad) = run_lines(&path, &text, &mut FileState::default());
    assert_eq!(bad, 0);
    let (t_all, _) = totals(&all);
    let events = exact(all);
    assert_eq!(
        events.len(),
        2,
        "the duplicate and the stale repeat add nothing"
    );
    let (t, req) = totals(&events);
    assert_eq!(t_all, t, "the live estimate is settled");
    assert_eq!(t.input + t.cache_read, 196_809);
    assert_eq!(t.cache_read, 159_738);
    assert_eq!(t.input, 37_071);
    assert_eq!(t.output, 3_348);
    assert_eq!(t.reasoning, 1_124);
    assert_eq!(req, 9);
    let later = &events[1];
    assert_eq!(later.tokens.input, 2_000);
    assert_eq!(later.tokens.cache_read, 8_000);
    assert_eq!(later.requests, 3);
    assert_ne!(events[0].dedup_key, later.dedup_key);
}

#[test]
fn counters_survive_a_checkpoint_between_reads() {
    let path = fixture();
    let sample = std::fs::read_to_string(&path).unwrap();
    let mut st = FileState::default();
    let (first, _) = run_lines(&path, &sample, &mut st);
    let first = exact(first);
    let mut st: FileState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    let shutdown_line = sample
        .lines()
        .find(|l| l.contains("\"session.shutdown\""))
        .unwrap();
    let (again, _) = run_lines(&path, shutdown_line, &mut st);
    assert!(again.is_empty(), "a re-read snapshot is not counted again");
    let (more, _) = run_lines(
        &path,
        &shutdown(
            "2026-04-23T19:00:00.000Z",
            186_809 + 1_000,
            151_738,
            2_848 + 10,
            1_024,
            7,
        ),
        &mut st,
    );
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].tokens.input, 1_000);
    assert_eq!(more[0].tokens.output, 10);
    assert_eq!(more[0].session_id, first[0].session_id);
    // Re-reading the whole file from scratch gives the same keys (idempotent ingest).
    let all = format!(
        "{sample}\n{}",
        shutdown(
            "2026-04-23T19:00:00.000Z",
            186_809 + 1_000,
            151_738,
            2_848 + 10,
            1_024,
            7
        )
    );
    let (fresh, _) = run_lines(&path, &all, &mut FileState::default());
    let keys: Vec<_> = exact(fresh).iter().map(|e| e.dedup_key.clone()).collect();
    assert_eq!(
        keys,
        [first[0].dedup_key.clone(), more[0].dedup_key.clone()]
    );
}

#[test]
fn malformed_records_are_skipped_and_counted() {
    let path = Path::new("/x/session-state/abc/events.jsonl");
    let text = [
        r#"{"type":"session.start","data":{"sessionId":"abc","context":{"cwd":"/w"}},"id":"1","timestamp":"2026-01-01T00:00:00Z"}"#,
        // truncated
        r#"{"type":"session.shutdown","data":{"modelMetrics":{"gpt-5":{"usage":{"inputTokens":1"#,
        // wrong types
        r#"{"type":"session.shutdown","data":{"modelMetrics":{"gpt-5":{"usage":{"inputTokens":"lots"}}}},"id":"2","timestamp":"2026-01-01T00:01:00Z"}"#,
        r#"{"type":"session.shutdown","data":{"modelMetrics":[1]},"id":"3","timestamp":"2026-01-01T00:01:00Z"}"#,
        r#"{"data":{}}"#,
        &shutdown("2026-01-01T00:02:00Z", 100, 40, 10, 0, 1),
    ]
    .join("\n");
    let (events, bad) = run_lines(path, &text, &mut FileState::default());
    assert_eq!(bad, 4);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tokens.input, 60);
    assert_eq!(events[0].session_id.as_deref(), Some("abc"));
    assert_eq!(events[0].cwd.as_deref(), Some("/w"));
}
