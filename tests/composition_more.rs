//! Context composition of the tools beyond Claude Code and Codex whose logs hold the messages
//! (issue 14, `docs/composition.md`): Copilot CLI, Cline / Roo Code / Kilo Code, OpenCode.
//!
//! Copilot CLI is checked on its real sample (`fixtures/copilot-cli/events.jsonl`, real text)
//! and on blocks appended to it that are built from the documented event schema (a resumed
//! session with a large tool result, a compaction); those lines are made here, with text of
//! known lengths, and say so.

mod util;
use serde_json::json;
use tokwatch::event::{Composition, CtxKind};
use util::*;

/// A stored request of one tool: requests it stands for, input total, split.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    requests: i64,
    total: i64,
    ctx: Option<String>,
}

impl Row {
    fn split(&self) -> Composition {
        Composition::decode(self.ctx.as_deref().expect("a split")).expect("a valid split")
    }
    fn of(&self, kind: CtxKind) -> i64 {
        self.split().of(kind)
    }
    fn tool(&self, name: &str) -> i64 {
        tool_result(&self.split(), name)
    }
}

/// The tool's stored requests with tokens, in time order.
fn rows(h: &Home, tool: &str) -> Vec<Row> {
    let c = sql(&h.db());
    let mut st = c
        .prepare(
            "SELECT requests, input + cw5 + cw1h + cr, ctx FROM events
             WHERE tool = ?1 AND input + cw5 + cw1h + cr + output > 0 ORDER BY ts, key_hash",
        )
        .unwrap();
    st.query_map([tool], |r| {
        Ok(Row {
            requests: r.get(0)?,
            total: r.get(1)?,
            ctx: r.get(2)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Every stored split adds up to its row's input total.
fn assert_adds_up(rows: &[Row]) {
    for r in rows {
        let c = r.split();
        assert_eq!(c.total(), r.total, "{r:?}");
        assert!(c.parts.iter().all(|p| p.tokens > 0), "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Copilot CLI

const COPILOT_SID: &str = "96ef38f0-9d09-45c3-8124-6448c36090ed";

fn copilot_sample() -> String {
    std::fs::read_to_string(fixtures().join("copilot-cli/events.jsonl")).unwrap()
}

fn with_copilot(text: &str) -> Home {
    let h = Home::new();
    let d = h.home().join(".copilot/session-state").join(COPILOT_SID);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("events.jsonl"), text).unwrap();
    h
}

fn copilot_write(h: &Home, text: &str) {
    let p = h
        .home()
        .join(".copilot/session-state")
        .join(COPILOT_SID)
        .join("events.jsonl");
    std::fs::write(p, text).unwrap();
}

/// One event line in the documented shape (`{type, data, id, timestamp, parentId}`).
fn ev(ty: &str, n: u32, data: serde_json::Value) -> String {
    json!({
        "type": ty,
        "data": data,
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "timestamp": format!("2026-04-23T18:{:02}:{:02}.000Z", n / 60, n % 60),
        "parentId": null,
    })
    .to_string()
        + "\n"
}

/// A resumed block built from the documented schema (log-formats §7): one user message of 350
/// bytes as sent, a `view` call whose result is 30,000 characters, the answer after it, and
/// the shutdown whose cumulative metrics add `input` tokens over the sample's.
fn resumed_block(input: i64) -> String {
    let mut s = String::new();
    s += &ev(
        "session.resume",
        1,
        json!({"resumeTime": "2026-04-23T18:00:01.000Z"}),
    );
    s += &ev(
        "user.message",
        2,
        json!({"content": "u".repeat(100), "transformedContent": "u".repeat(348),
               "attachments": [], "interactionId": "i3"}),
    );
    s += &ev(
        "assistant.message",
        3,
        json!({"messageId": "m7", "content": "", "interactionId": "i3", "outputTokens": 40,
               "requestId": "q7", "toolRequests": [{"toolCallId": "call_big", "name": "view",
               "arguments": {"path": "/p/big.rs"}, "type": "function"}]}),
    );
    s += &ev(
        "tool.execution_start",
        4,
        json!({"toolCallId": "call_big", "toolName": "view", "arguments": {"path": "/p/big.rs"}}),
    );
    s += &ev(
        "tool.execution_complete",
        5,
        json!({"toolCallId": "call_big", "model": "claude-sonnet-4.6", "success": true,
               "result": {"content": "x".repeat(30_000), "detailedContent": "y".repeat(500)}}),
    );
    s += &ev(
        "assistant.message",
        6,
        json!({"messageId": "m8", "content": "done", "toolRequests": [], "interactionId": "i3",
               "outputTokens": 20, "requestId": "q8"}),
    );
    s += &ev(
        "session.shutdown",
        7,
        json!({"shutdownType": "routine", "modelMetrics": {"claude-sonnet-4.6": {
            "requests": {"count": 8, "cost": 3},
            "usage": {"inputTokens": 186_809 + input, "outputTokens": 2_908,
                      "cacheReadTokens": 151_738, "cacheWriteTokens": 0,
                      "reasoningTokens": 1_024}}}}),
    );
    s
}

/// Hand-checked on the real sample. Its log has no per-request input total: the one record
/// (6 requests, input 186,809 from `session.shutdown`) gets the summed contexts of its 6
/// requests (one per `assistant.message`). Raw JSON spans, measured with `python3 -c` on the
/// sample (each span re-encoded compactly with `ensure_ascii=False` and found verbatim in its
/// line), CLAUDE ratios (bytes per token):
///
/// - web_search results, `result.content` spans of 7,399 (after request 1), 3,715 (after 2)
///   and 2,283 bytes (after 3): seen by 5, 4 and 3 requests: (5·7399 + 4·3715 + 3·2283) / 3.0
///   = 58,704 / 3 = 19,568.
/// - user messages as sent (`transformedContent`): 556 bytes seen by requests 1-6, 784 by
///   request 6: 4,120 / 3.5 = 1,177.1 -> 1,177.
/// - the `task_complete` result is written after the last request: in no request.
/// - the estimates stay under the total, so they are not scaled; the system part is the rest.
///   The shutdown line itself says what the last context's system prompt and tool definitions
///   were (`systemTokens` 9,891 + `toolDefinitionsTokens` 15,204 = 25,095, Copilot's own
///   count): six requests of that are 150,570, and the rest the split leaves for them is within
///   5% of it (a check of the ratios against the log's own numbers).
#[test]
fn copilot_sample_split_hand_checked() {
    let h = with_copilot(&copilot_sample());
    h.scan();
    let rows = rows(&h, "copilot-cli");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((r.requests, r.total), (6, 186_809));
    assert_adds_up(&rows);
    assert_eq!(r.tool("web_search"), 19_568);
    assert_eq!(r.of(CtxKind::User), 1_177);
    assert_eq!(r.tool("task_complete"), 0);
    let system = r.of(CtxKind::System);
    assert!(
        (system - 150_570).abs() * 20 < 150_570,
        "system {system} vs the log's own 150,570"
    );
    for k in [CtxKind::Assistant, CtxKind::Thinking, CtxKind::ToolCall] {
        assert!(r.of(k) > 0, "{k:?}: {r:?}");
    }
}

/// A resumed block's record covers its own requests: the second request comes right after a
/// 30,000-byte `view` result, so the block's `view` part is what the sample's `view` results
/// add to each of its two requests plus that result once: 30,002 bytes (quotes included) / 3.0
/// = 10,000.7 tokens more.
#[test]
fn copilot_block_after_a_large_tool_result_shows_its_growth() {
    let h = with_copilot(&(copilot_sample() + &resumed_block(90_000)));
    h.scan();
    let rows = rows(&h, "copilot-cli");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_adds_up(&rows);
    let (first, second) = (&rows[0], &rows[1]);
    assert_eq!((second.requests, second.total), (2, 90_000));
    // The sample's view results (324 + 2,799 + 104 + 88 bytes) are in both requests of the
    // block: 2 · 3,315 / 3.0 = 2,210.
    let grown = second.tool("view") - 2_210;
    assert!(
        (grown - 10_001).abs() <= 1,
        "view grew by {grown}: {second:?}"
    );
    // The block's requests see the whole conversation before them (resumed history).
    assert!(second.tool("web_search") > 0);
    assert_eq!(
        first.tool("web_search"),
        19_568,
        "the first record is untouched"
    );
}

/// A compaction (`session.compaction_complete`, documented schema) replaces the conversation
/// by its summary: the next request sees the summary, none of the earlier tool results.
#[test]
fn copilot_compaction_drops_the_history() {
    let mut text = copilot_sample() + &resumed_block(90_000);
    text += &ev("session.resume", 20, json!({}));
    text += &ev(
        "session.compaction_complete",
        21,
        json!({"success": true, "preCompactionTokens": 60_000, "postCompactionTokens": 1_000,
               "summaryContent": "s".repeat(3_500)}),
    );
    text += &ev(
        "user.message",
        22,
        json!({"content": "go on", "transformedContent": "t".repeat(698), "attachments": []}),
    );
    text += &ev(
        "assistant.message",
        23,
        json!({"messageId": "m9", "content": "ok", "toolRequests": [], "outputTokens": 5}),
    );
    text += &ev(
        "session.shutdown",
        24,
        json!({"modelMetrics": {"claude-sonnet-4.6": {"requests": {"count": 9},
            "usage": {"inputTokens": 186_809 + 90_000 + 20_000, "outputTokens": 2_913,
                      "cacheReadTokens": 151_738, "cacheWriteTokens": 0,
                      "reasoningTokens": 1_024}}}}),
    );
    let h = with_copilot(&text);
    h.scan();
    let rows = rows(&h, "copilot-cli");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_adds_up(&rows);
    let last = &rows[2];
    assert_eq!((last.requests, last.total), (1, 20_000));
    assert_eq!(last.of(CtxKind::ToolResult), 0, "{last:?}");
    // 3,502 bytes / 3.5 = 1,000.6; 700 bytes / 3.5 = 200.
    assert_eq!(last.of(CtxKind::Summary), 1_001);
    assert_eq!(last.of(CtxKind::User), 200);
}

/// A read that resumes in a new process (no conversation in memory) rebuilds it from the
/// file's start: the splits are those of a read in one go.
#[test]
fn copilot_resumed_read_splits_like_a_whole_read() {
    let text = copilot_sample() + &resumed_block(90_000);
    let whole = with_copilot(&text);
    whole.scan();
    let h = with_copilot(&copilot_sample());
    h.scan();
    assert_eq!(rows(&h, "copilot-cli").len(), 1);
    copilot_write(&h, &text);
    h.scan();
    assert_eq!(rows(&h, "copilot-cli"), rows(&whole, "copilot-cli"));
    // Read again from the start (the file replaced by a copy): the same splits, nothing twice.
    let d = h.home().join(".copilot/session-state").join(COPILOT_SID);
    std::fs::rename(d.join("events.jsonl"), d.join("moved")).unwrap();
    std::fs::write(d.join("events.jsonl"), &text).unwrap();
    std::fs::remove_file(d.join("moved")).unwrap();
    h.scan();
    assert_eq!(rows(&h, "copilot-cli"), rows(&whole, "copilot-cli"));
}

/// `tokwatch session` on the real Copilot sample: one record standing for the block's six
/// requests, counted as six (header, `requests_with`), and no row for the live estimate the
/// shutdown settled (stored as an empty row so the estimate is replaced exactly).
#[test]
fn copilot_session_view_counts_the_records_requests() {
    let h = with_copilot(&copilot_sample());
    h.scan();
    let empty: i64 = sql(&h.db())
        .query_row(
            "SELECT count(*) FROM events WHERE tool = 'copilot-cli' AND requests = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        empty, 1,
        "the settled live estimate is stored as an empty row"
    );
    let out = h
        .cmd()
        .args(["session", COPILOT_SID, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reqs = j["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["requests"], 6);
    assert_eq!(reqs[0]["model"], "claude-sonnet-4.6");
    assert_eq!(j["composition"]["requests_with"], 6);
    assert_eq!(j["composition"]["requests_without"], 0);
    let out = h.cmd().args(["session", COPILOT_SID]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(": 6 requests,"), "{text}");
    assert!(text.contains("claude-sonnet-4.6 (6 requests)"), "{text}");
    assert!(!text.contains("(unknown)"), "{text}");
}
