//! Amp. No public sample exists: the thread documents below are built from the documented schema
//! (log-formats §11, and the shapes ccusage's Amp adapter reads): `usageLedger.events[]` in older
//! threads, `messages[].usage` in current ones, never both for one thread.

use serde_json::json;
use std::path::Path;
use tokwatch::event::{Merge, UsageEvent};
use tokwatch::parser::amp::AmpParser;
use tokwatch::parser::{FileState, Parser};

fn parse(path: &Path) -> (Vec<UsageEvent>, u64) {
    let mut out = Vec::new();
    let r = AmpParser
        .parse_whole(path, &mut FileState::default(), &mut out)
        .unwrap();
    (out, r.malformed)
}

#[test]
fn message_usage_when_there_is_no_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("threads/T-7b1c.json");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    let doc = json!({"v": 12, "id": "T-7b1c", "created": 1768822930000i64, "messages": [
        {"role": "user", "messageId": 0, "content": [{"type": "text", "text": "elided"}]},
        {"role": "assistant", "messageId": 1, "usage": {"model": "claude-haiku-4-5-20251001", "inputTokens": 10, "outputTokens": 178,
            "cacheCreationInputTokens": 986, "cacheReadInputTokens": 11372, "totalInputTokens": 12368, "credits": 0.4,
            "timestamp": "2026-01-19T11:42:10.652Z"}},
        {"role": "assistant", "messageId": 2, "usage": {"model": "claude-haiku-4-5-20251001", "totalTokens": 345, "timestamp": "2026-01-19T11:43:00.000Z"}},
        {"role": "assistant", "messageId": 3, "usage": {"model": "x", "inputTokens": 0, "outputTokens": 0, "timestamp": "2026-01-19T11:44:00.000Z"}},
        {"role": "assistant", "messageId": 4, "usage": {"model": "x", "inputTokens": "ten", "timestamp": "2026-01-19T11:45:00.000Z"}},
        {"role": "assistant", "messageId": 5, "usage": {"model": "x", "inputTokens": 1}},
    ]});
    std::fs::write(&f, doc.to_string()).unwrap();
    let (ev, bad) = parse(&f);
    assert_eq!(bad, 2, "a string count and a missing timestamp");
    assert_eq!(ev.len(), 2);
    let a = &ev[0];
    assert_eq!(a.dedup_key, "amp:T-7b1c:msg:1");
    assert_eq!(a.merge, Merge::LastWins);
    assert_eq!(
        (
            a.tokens.input,
            a.tokens.output,
            a.tokens.cache_write_5m,
            a.tokens.cache_read
        ),
        (10, 178, 986, 11_372)
    );
    assert_eq!(a.model.as_deref(), Some("claude-haiku-4-5-20251001"));
    assert_eq!(a.session_id.as_deref(), Some("T-7b1c"));
    assert_eq!(a.reported_cost_usd, None, "credits are not dollars");
    assert!(!a.estimated);
    assert_eq!(
        (ev[1].tokens.output, ev[1].estimated),
        (345, true),
        "only a total: estimated"
    );
}

#[test]
fn ledger_events_win_and_take_cache_from_their_message() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("T-9.json");
    let doc = json!({"id": "T-9", "messages": [
        {"role": "assistant", "messageId": 1, "usage": {"model": "claude-sonnet-4-5", "inputTokens": 99, "outputTokens": 99,
            "cacheCreationInputTokens": 40, "cacheReadInputTokens": 500, "timestamp": "2026-01-19T11:42:10.652Z"}},
        {"role": "assistant", "messageId": 3, "usage": {"model": "claude-sonnet-4-5", "inputTokens": 99, "outputTokens": 99, "timestamp": "2026-01-19T11:50:00.000Z"}}
    ], "usageLedger": {"events": [
        {"id": "ev-1", "timestamp": "2026-01-02T00:00:00.000Z", "model": "claude-sonnet-4-5", "credits": 1.2, "tokens": {"input": 7, "output": 20, "total": 27}, "operationType": "inference", "fromMessageId": 0, "toMessageId": 1},
        {"id": "ev-2", "timestamp": "2026-01-02T00:05:00.000Z", "model": "gpt-5", "tokens": {"input": 3, "output": 4}, "toMessageId": 3},
        {"id": "ev-3", "timestamp": "2026-01-02T00:06:00.000Z", "model": "gpt-5", "tokens": {"input": true}},
    ]}});
    std::fs::write(&f, doc.to_string()).unwrap();
    let (ev, bad) = parse(&f);
    assert_eq!(bad, 1);
    let keys: Vec<_> = ev.iter().map(|e| e.dedup_key.as_str()).collect();
    assert_eq!(
        keys,
        ["amp:T-9:ledger:ev-1", "amp:T-9:ledger:ev-2"],
        "message usage is not counted as well"
    );
    assert_eq!(
        (
            ev[0].tokens.input,
            ev[0].tokens.output,
            ev[0].tokens.cache_write_5m,
            ev[0].tokens.cache_read
        ),
        (7, 20, 40, 500)
    );
    assert_eq!(
        (ev[1].tokens.cache_read, ev[1].model.as_deref()),
        (0, Some("gpt-5"))
    );
}

#[test]
fn thread_that_does_not_parse_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("T-x.json");
    std::fs::write(&f, "{\"id\":\"T-x\",\"messages\":[").unwrap();
    assert_eq!(parse(&f), (vec![], 1));
    std::fs::write(&f, "[1,2,3]").unwrap();
    assert_eq!(parse(&f).1, 1);
}
