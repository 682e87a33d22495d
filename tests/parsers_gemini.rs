//! Gemini CLI parser against the real sample (fixtures/gemini-cli/session.jsonl, totals from
//! fixtures/EXPECTED.md) and against records built from the documented schema.

use std::path::{Path, PathBuf};
use tokwatch::dedup::merge;
use tokwatch::env::Env;
use tokwatch::event::UsageEvent;
use tokwatch::parser::gemini::GeminiParser;
use tokwatch::parser::{FileState, Parser};
use tokwatch::registry::list::test_parser;
use tokwatch::registry::Registry;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gemini-cli/session.jsonl")
}

/// Feed every line like the tailer does; returns events and malformed count.
fn run_lines(
    p: &dyn Parser,
    path: &Path,
    text: &str,
    st: &mut FileState,
) -> (Vec<UsageEvent>, u64) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        if p.parse_line(line.as_bytes(), path, st, &mut out).is_err() {
            bad += 1;
        }
    }
    (out, bad)
}

#[test]
fn sample_matches_expected_totals() {
    let path = fixture();
    let text = std::fs::read_to_string(&path).unwrap();
    let p = GeminiParser { legacy: false };
    let (events, bad) = run_lines(&p, &path, &text, &mut FileState::default());
    assert_eq!(bad, 0);
    // 11 gemini lines for 6 message ids: re-appended records.
    assert_eq!(events.len(), 11);
    let unique = merge(events.to_vec());
    assert_eq!(unique.len(), 6);
    let mut t = tokwatch::event::Tokens::default();
    for e in &unique {
        t.add(&e.tokens);
        assert_eq!(e.tool, "gemini-cli");
        assert_eq!(e.merge, tokwatch::event::Merge::LastWins);
        assert_eq!(
            e.session_id.as_deref(),
            Some("0ab84937-9fe7-4284-986a-33c832af0b6a")
        );
        assert!(e
            .dedup_key
            .starts_with("gemini-cli:0ab84937-9fe7-4284-986a-33c832af0b6a:"));
        assert_eq!(e.cwd, None, "the sample has only a projectHash");
    }
    // input 202,586 of which cached 48,951
    assert_eq!(t.input, 153_635);
    assert_eq!(t.cache_read, 48_951);
    assert_eq!(t.input + t.cache_read, 202_586);
    // output 2,152 + thoughts 2,141
    assert_eq!(t.output, 4_293);
    assert_eq!(t.reasoning, 2_141);
    assert_eq!(t.cache_write_5m + t.cache_write_1h, 0);
    assert_eq!(t.total(), 206_879);
    let mut models: Vec<_> = unique.iter().filter_map(|e| e.model.clone()).collect();
    models.sort();
    models.dedup();
    assert_eq!(models, ["gemini-3-flash-preview", "gemini-3.1-pro-preview"]);
    let pro: i64 = unique
        .iter()
        .filter(|e| e.model.as_deref() == Some("gemini-3.1-pro-preview"))
        .map(|e| e.tokens.total())
        .sum();
    assert_eq!(pro, 40_956);
}

#[test]
fn sample_through_test_spec_by_name() {
    let o = test_parser(
        &Registry::load(&Env::from_process()),
        Path::new("gemini-cli"),
        &fixture(),
    )
    .unwrap();
    assert_eq!(o.unique_events, 6);
    assert_eq!(o.totals.input, 153_635);
    assert_eq!(o.totals.output, 4_293);
    assert_eq!(o.malformed, 0);
}

#[test]
fn incremental_reads_with_checkpointed_state_give_the_same_events() {
    let path = fixture();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
    let p = GeminiParser { legacy: false };
    let mut st = FileState::default();
    let (mut a, _) = run_lines(&p, &path, &lines[..9].join("\n"), &mut st);
    // The checkpoint is serialized between reads. The conversation kept for the context split
    // is not part of it: the tailer rebuilds it from the lines before the checkpoint
    // (`Parser::keeps_context`), as here.
    assert!(p.keeps_context());
    let mut st: FileState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    let mut primed = FileState::default();
    run_lines(&p, &path, &lines[..9].join("\n"), &mut primed);
    st.scratch = primed.scratch;
    let (b, _) = run_lines(&p, &path, &lines[9..].join("\n"), &mut st);
    a.extend(b);
    let whole = run_lines(&p, &path, &text, &mut FileState::default()).0;
    assert_eq!(a, whole);
}

#[test]
fn legacy_json_and_migrated_jsonl_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let chats = dir.path().join("tmp/abc/chats");
    std::fs::create_dir_all(&chats).unwrap();
    // Legacy whole-file session with the same ids as the sample (documented schema, §3):
    // resuming it wrote the .jsonl and left the .json in place.
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut msgs = Vec::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v.get("type").and_then(|t| t.as_str()) == Some("gemini") {
            msgs.push(v);
        }
    }
    let legacy = serde_json::json!({
        "sessionId": "0ab84937-9fe7-4284-986a-33c832af0b6a",
        "projectHash": "9da8b3df",
        "startTime": "2026-04-23T12:52:52.759Z",
        "lastUpdated": "2026-04-23T12:59:00.000Z",
        "messages": msgs,
    });
    let json_path = chats.join("session-2026-04-23T12-52-0ab84937.json");
    std::fs::write(&json_path, serde_json::to_vec(&legacy).unwrap()).unwrap();
    let mut events = Vec::new();
    let r = GeminiParser { legacy: true }
        .parse_whole(&json_path, &mut FileState::default(), &mut events)
        .unwrap();
    assert_eq!(r.malformed, 0);
    assert_eq!(merge(events.to_vec()).len(), 6);
    let jsonl_path = chats.join("session-2026-04-23T12-52-0ab84937.jsonl");
    std::fs::copy(fixture(), &jsonl_path).unwrap();
    let (more, _) = run_lines(
        &GeminiParser { legacy: false },
        &jsonl_path,
        &text,
        &mut FileState::default(),
    );
    events.extend(more);
    let unique = merge(events.to_vec());
    assert_eq!(unique.len(), 6);
    let input: i64 = unique.iter().map(|e| e.tokens.input).sum();
    assert_eq!(input, 153_635);
}

#[test]
fn set_messages_snapshots_upsert_by_id_and_directories_give_cwd() {
    let path = Path::new("/x/tmp/p/chats/session-a.jsonl");
    let text = [
        r#"{"sessionId":"s1","projectHash":"h","startTime":"2026-01-01T00:00:00Z","kind":"subagent","directories":["/home/u/proj"]}"#,
        r#"{"id":"m1","timestamp":"2026-01-01T00:00:01Z","type":"gemini","content":"","tokens":null,"model":"gemini-2.5-pro"}"#,
        r#"{"id":"m1","timestamp":"2026-01-01T00:00:01Z","type":"gemini","content":"","tokens":{"input":100,"output":10,"cached":40,"thoughts":5,"tool":7,"total":122},"model":"gemini-2.5-pro"}"#,
        r#"{"$set":{"lastUpdated":"2026-01-01T00:00:02Z","messages":[{"id":"m1","timestamp":"2026-01-01T00:00:01Z","type":"gemini","tokens":{"input":100,"output":10,"cached":40,"thoughts":5,"tool":7,"total":122},"model":"gemini-2.5-pro"},{"id":"m2","timestamp":"2026-01-01T00:00:03Z","type":"gemini","tokens":{"input":200,"output":20,"cached":0,"thoughts":0,"tool":0,"total":220},"model":"gemini-2.5-pro"},{"id":"u1","type":"user","content":"hi"}]}}"#,
        r#"{"$rewindTo":"m2"}"#,
    ]
    .join("\n");
    let (events, bad) = run_lines(
        &GeminiParser { legacy: false },
        path,
        &text,
        &mut FileState::default(),
    );
    assert_eq!(bad, 0);
    let unique = merge(events.to_vec());
    assert_eq!(unique.len(), 2, "rewound messages were billed: kept");
    let m1 = unique
        .iter()
        .find(|e| e.dedup_key == "gemini-cli:s1:m1")
        .unwrap();
    assert_eq!(
        m1.tokens.input,
        60 + 7,
        "uncached input plus tool prompt tokens"
    );
    assert_eq!(m1.tokens.cache_read, 40);
    assert_eq!(m1.tokens.output, 15);
    assert_eq!(m1.tokens.reasoning, 5);
    assert_eq!(m1.cwd.as_deref(), Some("/home/u/proj"));
    let total: i64 = unique.iter().map(|e| e.tokens.total()).sum();
    assert_eq!(total, 122 + 220);
}

#[test]
fn projects_json_maps_a_short_project_folder_to_its_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join(".gemini");
    std::fs::create_dir_all(g.join("tmp/myproj/chats")).unwrap();
    std::fs::write(
        g.join("projects.json"),
        r#"{"projects":{"/home/u/src/myproj":"myproj"}}"#,
    )
    .unwrap();
    let path = g.join("tmp/myproj/chats/session-x.jsonl");
    let text = [
        r#"{"sessionId":"s9","projectHash":"h","startTime":"2026-01-01T00:00:00Z"}"#,
        r#"{"id":"m1","timestamp":"2026-01-01T00:00:01Z","type":"gemini","tokens":{"input":10,"output":1,"cached":0,"thoughts":0,"tool":0,"total":11},"model":"gemini-2.5-flash"}"#,
    ]
    .join("\n");
    let (events, _) = run_lines(
        &GeminiParser { legacy: false },
        &path,
        &text,
        &mut FileState::default(),
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].cwd.as_deref(), Some("/home/u/src/myproj"));
}

#[test]
fn malformed_records_are_skipped_and_counted() {
    let path = Path::new("/x/tmp/p/chats/session-b.jsonl");
    let text = [
        r#"{"sessionId":"s2","projectHash":"h","startTime":"2026-01-01T00:00:00Z"}"#,
        // truncated JSON line
        r#"{"id":"m1","timestamp":"2026-01-01T00:00:01Z","type":"gemini","tokens":{"input":1"#,
        // wrong types
        r#"{"id":"m2","timestamp":"2026-01-01T00:00:01Z","type":"gemini","tokens":{"input":"many","output":1}}"#,
        r#"{"id":"m3","timestamp":"2026-01-01T00:00:01Z","type":"gemini","tokens":[1,2,3]}"#,
        r#"{"id":"m4","timestamp":"not a time","type":"gemini","tokens":{"input":1,"output":1}}"#,
        r#"[1,2]"#,
        // a good one after the bad ones
        r#"{"id":"m5","timestamp":"2026-01-01T00:00:05Z","type":"gemini","tokens":{"input":50,"output":5,"cached":10,"thoughts":0,"tool":0,"total":55},"model":"gemini-2.5-pro"}"#,
    ]
    .join("\n");
    let (events, bad) = run_lines(
        &GeminiParser { legacy: false },
        path,
        &text,
        &mut FileState::default(),
    );
    assert_eq!(bad, 5);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tokens.input, 40);

    // Whole-file JSON that does not parse: counted, not fatal.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("session-c.json");
    std::fs::write(&f, r#"{"sessionId":"s3","messages":[{"id":"m1","#).unwrap();
    let mut out = Vec::new();
    let r = GeminiParser { legacy: true }
        .parse_whole(&f, &mut FileState::default(), &mut out)
        .unwrap();
    assert_eq!(r.malformed, 1);
    assert!(out.is_empty());
    let msg = r.first_error.unwrap();
    assert!(
        !msg.contains("s3"),
        "error messages carry no log text: {msg}"
    );
}
