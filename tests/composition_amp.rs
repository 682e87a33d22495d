//! Context composition of Amp threads (issue 14, `docs/composition.md`, "Amp").
//!
//! No public Amp thread exists: every thread here is built from the documented schema
//! (`docs/log-formats.md` §11: `messages[]` with `usage` on assistant messages, or
//! `usageLedger.events[]` pointing at them with `toMessageId`; the message shape as summarized
//! in `docs/composition.md`, "Amp": Anthropic-style content blocks, `tool_result` with
//! `toolUseID` and a `run`, `info` messages with a `summary` block). The text is made of
//! repeated letters of known lengths, so every size below can be counted by hand.

mod util;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tokwatch::event::{Composition, CtxKind, UsageEvent};
use tokwatch::parser::amp::AmpParser;
use tokwatch::parser::{FileState, Parser};
use util::*;

fn letters(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

fn text(s: String) -> Value {
    json!({"type": "text", "text": s})
}

/// The raw span of a value as the thread file holds it (written compactly).
fn span(v: &Value) -> u64 {
    serde_json::to_string(v).unwrap().len() as u64
}

fn usage(minute: u32, input: i64, cw: i64, cr: i64) -> Value {
    json!({"model": "claude-sonnet-4-5", "inputTokens": input, "outputTokens": 100,
        "cacheCreationInputTokens": cw, "cacheReadInputTokens": cr,
        "totalTokens": input + cw + cr + 100, "credits": 1.5,
        "timestamp": format!("2026-05-01T10:{minute:02}:00.000Z")})
}

/// A thread's messages: m0 the user's request, m1 an answer (thinking, text) that reads a
/// file, m2 its 60,000-byte result, m3 a command, m4 its output and a screenshot, m5 the end.
/// Requests: m1, m3 and m5 (their `usage`).
fn messages() -> Vec<Value> {
    vec![
        json!({"role": "user", "messageId": 0, "content": [text(letters('u', 2775))],
            "meta": {"sentAt": 1777629600000i64}}),
        json!({"role": "assistant", "messageId": 1, "content": [
            {"type": "thinking", "thinking": letters('k', 550), "signature": letters('S', 400)},
            text(letters('a', 739)),
            {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "src/big.rs"}, "complete": true},
        ], "state": {"type": "complete", "stopReason": "tool_use"}, "usage": usage(1, 3, 12_000, 0)}),
        json!({"role": "user", "messageId": 2, "content": [
            {"type": "tool_result", "toolUseID": "toolu_01", "run": {"status": "done", "result": letters('r', 60_000)}},
        ]}),
        json!({"role": "assistant", "messageId": 3, "content": [
            text(letters('a', 300)),
            {"type": "tool_use", "id": "toolu_02", "name": "Bash", "input": {"cmd": "cargo test"}, "complete": true},
        ], "state": {"type": "complete", "stopReason": "tool_use"}, "usage": usage(2, 3, 21_000, 12_000)}),
        json!({"role": "user", "messageId": 4, "content": [
            {"type": "tool_result", "toolUseID": "toolu_02", "run": {"status": "done",
                "result": {"output": letters('o', 9000), "exitCode": 0}, "progress": {"output": letters('o', 9000)}}},
            {"type": "image", "source": {"type": "base64", "mediaType": "image/png", "data": letters('P', 50_000)}},
        ]}),
        json!({"role": "assistant", "messageId": 5, "content": [text(letters('a', 400))],
            "state": {"type": "complete", "stopReason": "end_turn"}, "usage": usage(3, 3, 6_000, 33_000)}),
    ]
}

fn thread(id: &str, msgs: &[Value]) -> Value {
    json!({"v": 40, "id": id, "created": 1777629600000i64, "messages": msgs,
        "env": {"initial": {"platform": {"os": "linux"}}}})
}

fn write(path: &Path, doc: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(doc).unwrap()).unwrap();
}

fn parse(path: &Path) -> Vec<UsageEvent> {
    let mut out = Vec::new();
    let r = AmpParser
        .parse_whole(path, &mut FileState::default(), &mut out)
        .unwrap();
    assert_eq!(r.malformed, 0);
    out
}

fn split(e: &UsageEvent) -> Composition {
    e.ctx.as_ref().expect("a split").composition()
}

fn encoded(ev: &[UsageEvent]) -> Vec<Option<String>> {
    ev.iter()
        .map(|e| e.ctx.as_ref().map(|c| c.as_str().to_string()))
        .collect()
}

/// Every split adds up to its request's input total (uncached + cache writes + reads).
fn assert_adds_up(events: &[UsageEvent]) {
    for e in events {
        if let Some(c) = e.ctx.as_ref().map(tokwatch::event::Ctx::composition) {
            assert_eq!(c.total(), e.tokens.prompt_total(), "{}", e.dedup_key);
            assert!(c.parts.iter().all(|p| p.tokens > 0), "{c:?}");
        }
    }
}

#[test]
fn message_usage_split_is_hand_checked_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("threads/T-11.json");
    let msgs = messages();
    write(&f, &thread("T-11", &msgs));
    let ev = parse(&f);
    assert_eq!(ev.len(), 3);
    assert_adds_up(&ev);
    let totals: Vec<i64> = ev.iter().map(|e| e.tokens.prompt_total()).collect();
    assert_eq!(totals, [12_003, 33_003, 39_003]);
    // The raw spans of the blocks: a text block is its text + 25 bytes of
    // `{"text":"…","type":"text"}`.
    let b = |m: usize, i: usize| span(&msgs[m]["content"][i]);
    assert_eq!(b(0, 0), 2800);
    assert_eq!((b(1, 0), b(1, 1), b(1, 2)), (998, 764, 95));
    assert_eq!((b(2, 0), b(3, 0), b(3, 1)), (60_081, 325, 94));
    assert_eq!(b(4, 0), 18_130);
    assert_eq!(span(&msgs[4]["content"][0]["run"]["progress"]), 9_013);

    // Request 1 (m1's usage: sent m0): 2,800 bytes of user text / 3.5 = 800 tokens; the system
    // prompt and tool definitions are the rest of 12,003.
    assert_eq!(split(&ev[0]).encode(), "s=11203;u=800");

    // Request 2 (m3: sent m0..m2). Assistant 764 / 3.75 = 203.7; thinking (998 - the 402-byte
    // signature string) / 2.75 = 216.7; the call 95 / 3.0 = 31.7; Read's result 60,081 / 3.0 =
    // 20,027; system the rest: 33,003 - 21,279.1 = 11,723.9 (largest remainders round 11,723.9,
    // 203.7 and 216.7 up).
    let c = split(&ev[1]);
    assert_eq!(c.encode(), "s=11724;u=800;a=204;k=217;c=31;r.Read=20027");

    // Request 3 (m5: sent m0..m4): Bash's result is the block without its `run.progress` (the
    // UI's copy of the output, 9,013 bytes): 18,130 - 9,013 = 9,117 / 3.0 = 3,039; the
    // screenshot one image, 1,600 tokens, not its 50 kB of base64; assistant (764 + 325) /
    // 3.75 = 290.4; calls (95 + 94) / 3.0 = 63; system 39,003 - 26,036.1 = 12,966.9.
    assert_eq!(
        split(&ev[2]).encode(),
        "s=12967;u=800;a=290;k=217;c=63;r.Read=20027;r.Bash=3039;i=1600"
    );
    // The growth from request 1 to 2 is mostly the 60 kB file read: Read's 20,025 tokens of
    // the 21,000 new (the rest: the answer that asked for it, and the rounding).
    let grew = ev[1].tokens.prompt_total() - ev[0].tokens.prompt_total();
    assert_eq!(grew, 21_000);
    assert_eq!(tool_result(&c, "Read"), 20_027);
    assert!(c.of(CtxKind::ToolResult) * 100 / grew >= 95);
}

/// The older schema: the same requests as ledger events pointing at their messages get the
/// same splits; an event without a message to point at, or with only a total, gets none.
#[test]
fn ledger_events_split_on_the_messages_before_their_target() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("T-12.json");
    let mut msgs = messages();
    // Older threads keep only the cache counts on the message.
    let mut events = Vec::new();
    for (n, m) in [1usize, 3, 5].into_iter().enumerate() {
        let u = msgs[m]["usage"].take();
        msgs[m]["usage"] = json!({"cacheCreationInputTokens": u["cacheCreationInputTokens"],
            "cacheReadInputTokens": u["cacheReadInputTokens"]});
        events.push(
            json!({"id": format!("ev-{n}"), "timestamp": u["timestamp"], "model": u["model"],
            "credits": 1.5, "tokens": {"input": 3, "output": 100, "total": 103},
            "operationType": "inference", "fromMessageId": m - 1, "toMessageId": m}),
        );
    }
    // A request whose message is not in the thread, and one with only a total (its target has
    // messages before it; the parser skips estimated events, and their input is 0 anyway).
    events.push(json!({"id": "ev-lost", "timestamp": "2026-05-01T10:04:00.000Z", "model": "claude-sonnet-4-5",
        "tokens": {"input": 50, "output": 10}, "toMessageId": 99}));
    events.push(json!({"id": "ev-total", "timestamp": "2026-05-01T10:05:00.000Z", "model": "claude-sonnet-4-5",
        "tokens": {"total": 700}, "toMessageId": 2}));
    let mut doc = thread("T-12", &msgs);
    doc["usageLedger"] = json!({"events": events});
    write(&f, &doc);
    let ev = parse(&f);
    assert_eq!(ev.len(), 5);
    assert_adds_up(&ev);
    let by_message = {
        let g = dir.path().join("T-13.json");
        write(&g, &thread("T-13", &messages()));
        encoded(&parse(&g))
    };
    let got = encoded(&ev);
    assert_eq!(&got[..3], &by_message[..]);
    assert_eq!(got[0].as_deref(), Some("s=11203;u=800"));
    assert_eq!(got[3], None, "no message to place it: no split");
    assert!(ev[4].estimated);
    assert_eq!(got[4], None, "an estimated event has no known input total");
}

/// Amp's compaction: an `info` message whose `summary` block stands for the messages before
/// it. The request after it is sent the summary and what follows, not the 60 kB result.
#[test]
fn a_summary_shows_the_drop() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("T-14.json");
    let mut msgs = messages();
    let summary =
        json!({"type": "summary", "summary": {"type": "message", "summary": letters('s', 1720)}});
    assert_eq!(span(&summary), 1780);
    msgs.push(json!({"role": "info", "messageId": 6, "content": [summary]}));
    msgs.push(json!({"role": "user", "messageId": 7, "content": [text(letters('u', 325))]}));
    msgs.push(
        json!({"role": "assistant", "messageId": 8, "content": [text(letters('a', 100))],
        "usage": usage(9, 3, 2_000, 8_000)}),
    );
    write(&f, &thread("T-14", &msgs));
    let ev = parse(&f);
    assert_eq!(ev.len(), 4);
    assert_adds_up(&ev);
    // The summary 1,780 / 3.5 = 508.6; the user's text 350 / 3.5 = 100; the system the rest.
    let c = split(&ev[3]);
    assert_eq!(c.encode(), "s=9394;u=100;m=509");
    assert_eq!(
        c.of(CtxKind::ToolResult),
        0,
        "the results before it are gone"
    );
    assert!(ev[3].tokens.prompt_total() < ev[2].tokens.prompt_total());
}

// ---------------------------------------------------------------------------------------------
// Rewrites through the store

fn threads_dir(h: &Home) -> PathBuf {
    h.home().join(".local/share/amp/threads")
}

/// The thread's stored requests: (input total, split), in time order.
fn stored(h: &Home) -> Vec<(i64, Option<String>)> {
    let c = sql(&h.db());
    let mut st = c
        .prepare(
            "SELECT input + cw5 + cw1h + cr, ctx FROM events WHERE tool = 'amp' ORDER BY ts, key_hash",
        )
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_rewritten_thread_reads_to_the_same_splits() {
    let h = Home::new();
    let f = threads_dir(&h).join("T-15.json");
    let msgs = messages();
    // Mid-thread: two requests answered, the third one's user message written.
    write(&f, &thread("T-15", &msgs[..5]));
    h.scan();
    let first = stored(&h);
    assert_eq!(first.len(), 2);
    // Amp rewrites the document whole: the third answer added.
    write(&f, &thread("T-15", &msgs));
    h.scan();
    h.scan();
    let second = stored(&h);
    assert_eq!(second.len(), 3, "no request twice");
    assert_eq!(
        &second[..2],
        &first[..],
        "the earlier splits stay as they were"
    );
    let totals: Vec<i64> = second.iter().map(|r| r.0).collect();
    assert_eq!(totals, [12_003, 33_003, 39_003]);
    for (total, ctx) in &second {
        let c = Composition::decode(ctx.as_deref().unwrap()).unwrap();
        assert_eq!(c.total(), *total);
    }
    // The same as a read of the finished thread from scratch.
    let got: Vec<Option<String>> = second.into_iter().map(|r| r.1).collect();
    assert_eq!(got, encoded(&parse(&f)));
}
