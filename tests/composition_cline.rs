//! Context composition of Cline, Roo Code and Kilo Code tasks (issue 14, `docs/composition.md`,
//! "Cline, Roo Code, Kilo Code").
//!
//! No public sample of these extensions' task folders exists: every task here is built from
//! the documented schema (`docs/log-formats.md` §6, and the extensions' source as summarized
//! in `docs/composition.md`): `ui_messages.json` rows (`api_req_started` with a JSON `text`,
//! Cline's `conversationHistoryIndex` / `conversationHistoryDeletedRange`, Roo's
//! `condense_context` / `sliding_window_truncation`) and `api_conversation_history.json`
//! (Anthropic-style messages; Roo's `{version: 2, messages}` with AI SDK parts). The text is
//! made of repeated letters of known lengths, so every size below can be counted by hand.

mod util;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tokwatch::event::{Composition, CtxKind, UsageEvent};
use tokwatch::parser::cline::{ClineTaskParser, Flavor};
use tokwatch::parser::{FileState, Parser};
use util::*;

const T0: i64 = 1_781_220_419_000; // 2026-06-11, after Roo's and Kilo's tokensIn change

fn text(s: String) -> Value {
    json!({"type": "text", "text": s})
}

fn letters(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

fn env_details(n: usize) -> Value {
    text(format!(
        "<environment_details>\n{}\n</environment_details>",
        letters('e', n)
    ))
}

/// The raw span of a value as the task files hold it (written compactly, like the extensions'
/// `JSON.stringify`).
fn span(v: &Value) -> u64 {
    serde_json::to_string(v).unwrap().len() as u64
}

/// An `api_req_started` row with `tokensIn`, `cacheWrites`, `cacheReads` (Anthropic protocol:
/// `tokensIn` is the uncached remainder for every flavor at these dates), and Cline's index.
fn req(ts: i64, tin: i64, cw: i64, cr: i64, index: Option<i64>) -> Value {
    let info = json!({"request": "elided", "tokensIn": tin, "tokensOut": 100, "cacheWrites": cw, "cacheReads": cr, "cost": 0.01, "apiProtocol": "anthropic"});
    let mut row = json!({"ts": ts, "type": "say", "say": "api_req_started", "text": info.to_string(),
        "modelInfo": {"providerId": "anthropic", "modelId": "claude-sonnet-4-5", "mode": "act"}});
    if let Some(i) = index {
        row["conversationHistoryIndex"] = json!(i);
    }
    row
}

fn say(ts: i64, kind: &str, index: Option<i64>) -> Value {
    let mut row = json!({"ts": ts, "type": "say", "say": kind, "text": "elided"});
    if let Some(i) = index {
        row["conversationHistoryIndex"] = json!(i);
    }
    row
}

struct Task {
    dir: PathBuf,
}

impl Task {
    fn new(root: &Path, flavor: Flavor, id: &str) -> Task {
        let dir = root.join(flavor.extension_id()).join("tasks").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        Task { dir }
    }
    fn ui(&self) -> PathBuf {
        self.dir.join("ui_messages.json")
    }
    /// Rewrites both files whole, as the extensions do.
    fn write(&self, ui: &[Value], hist: &Value) {
        std::fs::write(self.ui(), serde_json::to_vec(ui).unwrap()).unwrap();
        std::fs::write(
            self.dir.join("api_conversation_history.json"),
            serde_json::to_vec(hist).unwrap(),
        )
        .unwrap();
    }
}

fn parse(flavor: Flavor, ui: &Path) -> Vec<UsageEvent> {
    let p = ClineTaskParser {
        flavor,
        jsonl: false,
    };
    let mut out = Vec::new();
    let r = p
        .parse_whole(ui, &mut FileState::default(), &mut out)
        .unwrap();
    assert_eq!(r.malformed, 0);
    out
}

fn split(e: &UsageEvent) -> Composition {
    e.ctx.as_ref().expect("a split").composition()
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

#[allow(dead_code)]
fn show(ev: &[UsageEvent]) {
    for e in ev {
        eprintln!(
            "{} total {} ctx {:?}",
            e.dedup_key,
            e.tokens.prompt_total(),
            e.ctx.as_ref().map(|c| c.as_str().to_string())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cline, native tool calls

/// The history of a Cline task with native tool calls: m0 the task, m1 an answer that reads a
/// file, m2 its 60,000-byte result, m3 a command, m4 its output and a screenshot, m5 the end.
fn cline_history() -> Vec<Value> {
    vec![
        json!({"role": "user", "content": [
            text(format!("<task>\n{}\n</task>", letters('u', 686))),
            env_details(2000),
        ]}),
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": letters('k', 550), "signature": letters('S', 400)},
            text(letters('a', 739)),
            {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "src/big.rs"}},
        ]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": [text(letters('r', 60_000))]},
            env_details(2000),
        ]}),
        json!({"role": "assistant", "content": [
            text(letters('a', 300)),
            {"type": "tool_use", "id": "toolu_02", "name": "execute_command", "input": {"command": "cargo test", "requires_approval": false}},
        ]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": letters('o', 9000)},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": letters('P', 50_000)}},
            env_details(2000),
        ]}),
        json!({"role": "assistant", "content": [text(letters('a', 400))]}),
    ]
}

/// Its ui rows: three requests; rows written while a request streams carry the index of the
/// history's last message then (Cline's `conversationHistoryIndex`).
fn cline_rows() -> Vec<Value> {
    vec![
        say(T0, "text", Some(-1)),
        req(T0 + 1000, 3, 12_000, 0, Some(-1)),
        say(T0 + 1500, "reasoning", Some(0)),
        say(T0 + 1600, "text", Some(0)),
        req(T0 + 2000, 3, 21_000, 12_000, Some(1)),
        say(T0 + 2500, "text", Some(2)),
        req(T0 + 3000, 3, 6_000, 33_000, Some(3)),
        say(T0 + 3500, "completion_result", Some(4)),
    ]
}

#[test]
fn cline_split_is_hand_checked_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let t = Task::new(dir.path(), Flavor::Cline, "1781220400000");
    let hist = cline_history();
    t.write(&cline_rows(), &Value::Array(hist.clone()));
    let ev = parse(Flavor::Cline, &t.ui());
    assert_eq!(ev.len(), 3);
    assert_adds_up(&ev);
    // The raw spans of the blocks: a text block is its text + 25 bytes of
    // `{"text":"…","type":"text"}`.
    let b = |m: usize, i: usize| span(&hist[m]["content"][i]);
    assert_eq!((b(0, 0), b(0, 1)), (728, 2072));
    assert_eq!((b(1, 0), b(1, 1), b(1, 2)), (998, 764, 84));
    assert_eq!(
        (b(2, 0), b(3, 0), b(3, 1), b(4, 0)),
        (60_085, 325, 119, 9_060)
    );

    // Request 1 (index -1: sent m0 only): the task and the environment details are user
    // text, 728 + 2,072 = 2,800 bytes / 3.5 = 800 tokens; the system prompt and tool
    // definitions are the rest of 12,003.
    assert_eq!(split(&ev[0]).encode(), "s=11203;u=800");

    // Request 2 (index 1: m0..m2). User 2,800 + 2,072 = 4,872 / 3.5 = 1,392; assistant
    // 764 / 3.75 = 203.7; thinking (998 - the 402-byte signature string) / 2.75 = 216.7;
    // the tool call 84 / 3.0 = 28; read_file's result 60,085 / 3.0 = 20,028.3; system the
    // rest: 33,003 - 21,869 = 11,134 (largest remainders round 203.7 and 216.7 up).
    let c = split(&ev[1]);
    assert_eq!(
        c.encode(),
        "s=11134;u=1392;a=204;k=217;c=28;r.read_file=20028"
    );

    // Request 3 (index 3: m0..m4): execute_command's output 9,060 / 3.0 = 3,020; the
    // screenshot one image, 1,600 tokens, not its 50 kB of base64; assistant
    // (764 + 325) / 3.75 = 290.4; calls (84 + 119) / 3.0 = 67.7; user (4,872 + 2,072) / 3.5 =
    // 1,984.
    assert_eq!(
        split(&ev[2]).encode(),
        "s=11796;u=1984;a=290;k=217;c=68;r.read_file=20028;r.execute_command=3020;i=1600"
    );
    // The growth from request 1 to 2 is the 60 kB file read: read_file's 20,028 tokens of
    // the 21,000 new (the rest: the answer that asked for it and new environment details).
    let grew = ev[1].tokens.prompt_total() - ev[0].tokens.prompt_total();
    assert_eq!(grew, 21_000);
    assert_eq!(tool_result(&c, "read_file"), 20_028);
    assert_eq!(c.of(CtxKind::System), 11_134, "the fixed part stays put");
}

/// Cline's truncation (`conversationHistoryDeletedRange`, inclusive) applies from the request
/// whose streaming rows carry it: the 60 kB result drops out.
#[test]
fn cline_truncation_drops_the_deleted_range() {
    let dir = tempfile::tempdir().unwrap();
    let t = Task::new(dir.path(), Flavor::Cline, "1781220400001");
    let mut hist = cline_history();
    hist.push(json!({"role": "user", "content": [text(letters('f', 3500)), env_details(2000)]}));
    hist.push(json!({"role": "assistant", "content": [text(letters('a', 100))]}));
    let mut rows = cline_rows();
    rows.push(say(T0 + 3900, "user_feedback", Some(5)));
    // Request 4: its own row is written before its truncation, the rows after it carry the
    // range [2, 3] (m2, the read, and m3) that Cline set while sending it.
    rows.push(req(T0 + 4000, 3, 1_000, 19_000, Some(5)));
    let mut after = say(T0 + 4500, "text", Some(6));
    after["conversationHistoryDeletedRange"] = json!([2, 3]);
    rows.push(after);
    t.write(&rows, &Value::Array(hist));
    let ev = parse(Flavor::Cline, &t.ui());
    assert_eq!(ev.len(), 4);
    assert_adds_up(&ev);
    let (before, c) = (split(&ev[2]), split(&ev[3]));
    assert_eq!(tool_result(&before, "read_file"), 20_028);
    assert_eq!(tool_result(&c, "read_file"), 0, "{c:?}");
    // m2's environment details and m3's text and call left with it; the feedback (3,525 +
    // 2,072 bytes) came in: user (2,800 + 2,072 + 3,525 + 2,072) / 3.5 = 2,991.1, assistant
    // (764 + 425) / 3.75 = 317.1.
    assert_eq!(c.of(CtxKind::User), 2991);
    assert_eq!(c.of(CtxKind::Assistant), 317);
    assert_eq!(c.of(CtxKind::ToolCall), 28);
    assert_eq!(tool_result(&c, "execute_command"), 3020);
    assert_eq!(c.total(), 20_003);
}

// ---------------------------------------------------------------------------------------------
// Cline, the older XML tool protocol, and its condense

#[test]
fn cline_xml_tools_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let t = Task::new(dir.path(), Flavor::Cline, "1781220400002");
    let call = "<read_file>\n<path>src/a.rs</path>\n</read_file>";
    let summary = format!(
        "<summarize_task>\n<context>\n{}\n</context>\n</summarize_task>",
        letters('s', 3000)
    );
    let hist = vec![
        json!({"role": "user", "content": [text(format!("<task>\n{}\n</task>", letters('u', 100))), env_details(500)]}),
        json!({"role": "assistant", "content": [text(format!("<thinking>\n{}\n</thinking>\n{call}", letters('a', 400)))]}),
        json!({"role": "user", "content": [
            text("[read_file for 'src/a.rs'] Result:".into()),
            text(letters('r', 30_000)),
            env_details(500),
        ]}),
        json!({"role": "assistant", "content": [text(summary.clone())]}),
        json!({"role": "user", "content": [text("[summarize_task] Result:".into()), text(letters('x', 200)), env_details(500)]}),
        json!({"role": "assistant", "content": [text(letters('a', 50))]}),
    ];
    let mut later = say(T0 + 3500, "text", Some(4));
    later["conversationHistoryDeletedRange"] = json!([2, 2]);
    let rows = vec![
        say(T0, "text", Some(-1)),
        req(T0 + 1000, 3, 3_000, 0, Some(-1)),
        say(T0 + 1500, "text", Some(0)),
        req(T0 + 2000, 3, 11_000, 3_000, Some(1)),
        say(T0 + 2500, "text", Some(2)),
        req(T0 + 3000, 3, 2_500, 11_000, Some(3)),
        later,
    ];
    t.write(&rows, &Value::Array(hist.clone()));
    let ev = parse(Flavor::Cline, &t.ui());
    assert_eq!(ev.len(), 3);
    assert_adds_up(&ev);
    let c = split(&ev[1]);
    // The tag that ends the answer is its tool call: 48 bytes as written in the file (the
    // newlines escaped); the rest of the block is assistant text.
    let call_raw = serde_json::to_string(call).unwrap().len() as i64 - 2;
    assert_eq!(call_raw, 48);
    let answer = span(&hist[1]["content"][0]) as i64;
    assert_eq!(
        c.of(CtxKind::ToolCall),
        (call_raw as f64 / 3.0).round() as i64
    );
    assert_eq!(
        c.of(CtxKind::Assistant),
        ((answer - call_raw) as f64 / 3.75).round() as i64
    );
    // The result label and the block after it are read_file's result.
    let result = span(&hist[2]["content"][0]) + span(&hist[2]["content"][1]);
    assert_eq!(
        tool_result(&c, "read_file"),
        (result as f64 / 3.0).round() as i64
    );
    // The label, 35 + 25 bytes, and the result, 30,025: 30,085 / 3.0 = 10,028.3.
    assert_eq!(tool_result(&c, "read_file"), 10_028);
    // Request 3: the summarize_task call is the summary; the deleted range [2, 2] took the
    // read's result out: the context dropped by it.
    let c3 = split(&ev[2]);
    assert_eq!(tool_result(&c3, "read_file"), 0);
    let summary_raw = span(&json!(summary)) as i64 - 2;
    assert!(
        (c3.of(CtxKind::Summary) - summary_raw * 2 / 7).abs() <= 1,
        "{c3:?}"
    );
    assert!(ev[2].tokens.prompt_total() < ev[1].tokens.prompt_total());
}

// ---------------------------------------------------------------------------------------------
// Roo Code: messages with `ts`, non-destructive condense

/// A Roo task: r1 sent m0; r2 sent m0..m2 (a 60 kB read); while r3 was being sent, Roo
/// condensed: m1 and m2 got `condenseParent`, the summary went in before m3.
fn roo_task(flavor: Flavor, root: &Path) -> (Task, Vec<Value>) {
    let t = Task::new(root, flavor, "0d6b5d43-2a37-4b8b-9c1e-6f1a5b1d0e11");
    let hist = vec![
        json!({"role": "user", "ts": T0 + 10, "content": [text(format!("<task>{}</task>", letters('u', 300))),
            text(format!("<environment_details>\n<model>claude-sonnet-4-5</model>\n{}</environment_details>", letters('e', 1000)))]}),
        json!({"role": "assistant", "ts": T0 + 1100, "condenseParent": "c-1", "content": [
            text(letters('a', 400)),
            {"type": "tool_use", "id": "toolu_r1", "name": "read_file", "input": {"args": {"file": [{"path": "src/big.rs"}]}}}]}),
        json!({"role": "user", "ts": T0 + 1200, "condenseParent": "c-1", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_r1", "content": [text(letters('r', 60_000))]}, env_details(1000)]}),
        json!({"role": "assistant", "ts": T0 + 2099, "isSummary": true, "condenseId": "c-1", "content": [
            {"type": "reasoning", "text": "Condensing conversation context."}, text(letters('s', 7000))]}),
        json!({"role": "assistant", "ts": T0 + 2100, "content": [text(letters('a', 200)),
            {"type": "tool_use", "id": "toolu_r2", "name": "execute_command", "input": {"command": "ls"}}]}),
        json!({"role": "user", "ts": T0 + 2200, "content": [
            {"type": "tool_result", "tool_use_id": "toolu_r2", "content": letters('o', 3000)}, env_details(1000)]}),
        json!({"role": "assistant", "ts": T0 + 3100, "content": [text(letters('a', 100))]}),
    ];
    let cond = json!({"ts": T0 + 3050, "type": "say", "say": "condense_context", "contextCondense":
        {"cost": 0.02, "prevContextTokens": 35_000, "newContextTokens": 15_000, "summary": "elided", "condenseId": "c-1"}});
    // Current Roo / Kilo: tokensIn is the whole prompt.
    let row = |ts: i64, total: i64, cw: i64, cr: i64| {
        let mut r = req(ts, total, cw, cr, None);
        r.as_object_mut().unwrap().remove("modelInfo");
        r
    };
    let rows = vec![
        say(T0, "text", None),
        row(T0 + 1000, 9_000, 9_000, 0),
        say(T0 + 1150, "text", None),
        row(T0 + 2000, 31_000, 22_000, 9_000),
        say(T0 + 2150, "text", None),
        row(T0 + 3000, 14_000, 14_000, 0),
        cond,
        say(T0 + 3150, "completion_result", None),
    ];
    (t, vec![Value::Array(rows), Value::Array(hist)])
}

#[test]
fn roo_condense_shows_the_drop_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (t, files) = roo_task(Flavor::Roo, dir.path());
    t.write(files[0].as_array().unwrap(), &files[1]);
    let ev = parse(Flavor::Roo, &t.ui());
    assert_eq!(ev.len(), 3);
    assert_adds_up(&ev);
    // tokensIn holds the whole prompt (Roo >= 3.29.5): the input totals are 9,000, 31,000
    // and 14,000, not tokensIn + the cache.
    let totals: Vec<i64> = ev.iter().map(|e| e.tokens.prompt_total()).collect();
    assert_eq!(totals, [9_000, 31_000, 14_000]);
    assert_eq!(ev[0].model.as_deref(), Some("claude-sonnet-4-5"));
    let (c1, c2, c3) = (split(&ev[0]), split(&ev[1]), split(&ev[2]));
    // r1 was sent m0 only: its answer (m1) was written after its row.
    assert_eq!(c1.of(CtxKind::ToolCall), 0);
    assert_eq!(c1.parts.len(), 2);
    // r2: the read's result is in (60,085 bytes / 3.0); the summary is not (written later).
    assert_eq!(tool_result(&c2, "read_file"), 20_028);
    assert_eq!(c2.of(CtxKind::Summary), 0);
    // r3 was sent after the condense: the summary (7,023 bytes / 3.5 = 2,006.6) stands for
    // m1 and m2, which dropped out.
    assert_eq!(tool_result(&c3, "read_file"), 0);
    assert_eq!(c3.of(CtxKind::Summary), 2007);
    assert_eq!(tool_result(&c3, "execute_command"), 1_020);
    assert!(c3.of(CtxKind::Assistant) < c2.of(CtxKind::Assistant) + 100);
}

#[test]
fn kilo_reads_the_versioned_history_and_its_sliding_window() {
    let dir = tempfile::tempdir().unwrap();
    let t = Task::new(
        dir.path(),
        Flavor::Kilo,
        "7c3e9a41-0b7e-4f6e-9d9e-0a5b8f2c3d44",
    );
    // Kilo / newer Roo: `{version: 2, messages}`, AI SDK parts, `role: "tool"` results, a
    // standalone reasoning item. r1 (row at +1000) was answered by m1 + m2, r2 (+1250) by
    // m4; while r3 (+1350) was sent, a sliding-window truncation hid m1..m4 behind a marker.
    let msgs = vec![
        json!({"role": "user", "ts": T0 + 10, "content": [text(letters('u', 690))]}),
        json!({"type": "reasoning", "ts": T0 + 1100, "truncationParent": "t-1", "encrypted_content": letters('E', 9000),
            "summary": [{"type": "summary_text", "text": letters('k', 539)}]}),
        json!({"role": "assistant", "ts": T0 + 1101, "truncationParent": "t-1", "content": [
            {"type": "reasoning", "text": letters('k', 250)},
            {"type": "tool-call", "toolCallId": "call_1", "toolName": "read_file", "input": {"path": "a.rs"}}]}),
        json!({"role": "tool", "ts": T0 + 1200, "truncationParent": "t-1", "content": [
            {"type": "tool-result", "toolCallId": "call_1", "toolName": "read_file", "output": {"type": "text", "value": letters('r', 45_000)}}]}),
        json!({"role": "assistant", "ts": T0 + 1300, "truncationParent": "t-1", "content": [text(letters('a', 100))]}),
        json!({"role": "user", "ts": T0 + 2050, "isTruncationMarker": true, "truncationId": "t-1",
            "content": [text("[Sliding window truncation: 4 messages hidden to reduce context]".into())]}),
        json!({"role": "user", "ts": T0 + 1400, "content": [text(letters('u', 200))]}),
        json!({"role": "assistant", "ts": T0 + 2100, "content": [text(letters('a', 100))]}),
    ];
    let hist = json!({"version": 2, "messages": msgs});
    let row = |ts: i64, total: i64| {
        let mut r = req(ts, total, total - 1000, 0, None);
        r.as_object_mut().unwrap().remove("modelInfo");
        r
    };
    let rows = vec![
        say(T0, "text", None),
        row(T0 + 1000, 5_000),
        row(T0 + 1250, 21_000),
        row(T0 + 1350, 5_500),
        json!({"ts": T0 + 2050, "type": "say", "say": "sliding_window_truncation", "contextTruncation":
            {"truncationId": "t-1", "messagesRemoved": 4, "prevContextTokens": 21_000, "newContextTokens": 5_000}}),
    ];
    t.write(&rows, &hist);
    let ev = parse(Flavor::Kilo, &t.ui());
    assert_eq!(ev.len(), 3);
    assert_adds_up(&ev);
    let (c1, c2, c3) = (split(&ev[0]), split(&ev[1]), split(&ev[2]));
    assert_eq!(
        c1.of(CtxKind::User),
        204,
        "(690 + 25) / 3.5 = 204.3: {c1:?}"
    );
    // r2: the reasoning item's summary (not its encrypted content), the reasoning part, the
    // call and read_file's result (matched by toolCallId).
    let item = span(&msgs[1]["summary"]) as f64 / 2.75;
    let part = span(&msgs[2]["content"][0]) as f64 / 2.75;
    assert_eq!(c2.of(CtxKind::Thinking), (item + part).round() as i64);
    assert_eq!(
        tool_result(&c2, "read_file"),
        (span(&msgs[3]["content"][0]) as f64 / 3.0).round() as i64
    );
    assert_eq!(c2.of(CtxKind::Summary), 0);
    // r3 was sent after the truncation: m1..m4 hidden, the marker sent as user text.
    assert_eq!(tool_result(&c3, "read_file"), 0);
    assert_eq!(c3.of(CtxKind::Thinking), 0);
    assert!(c3.of(CtxKind::User) > c1.of(CtxKind::User));
}

// ---------------------------------------------------------------------------------------------
// Rewrites, restarts, missing history

/// The task's stored requests: (dedup key hash, input total, split).
fn stored(h: &Home, tool: &str) -> Vec<(i64, Option<String>)> {
    let c = sql(&h.db());
    let mut st = c
        .prepare(
            "SELECT input + cw5 + cw1h + cr, ctx FROM events WHERE tool = ?1 ORDER BY ts, key_hash",
        )
        .unwrap();
    st.query_map([tool], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_rewritten_task_reads_to_the_same_splits() {
    let h = Home::new();
    let root = h.home().join(".cline/data");
    let t = Task {
        dir: root.join("tasks/1781220400003"),
    };
    std::fs::create_dir_all(&t.dir).unwrap();
    let hist = cline_history();
    let mut rows = cline_rows();
    // Mid-task: two requests done, the third one's placeholder written, the history up to
    // its user message.
    let third = rows[6].clone();
    rows[6] = json!({"ts": T0 + 3000, "type": "say", "say": "api_req_started", "text": "{\"request\":\"elided\"}", "conversationHistoryIndex": 3});
    rows.truncate(7);
    t.write(&rows, &Value::Array(hist[..5].to_vec()));
    h.scan();
    let first = stored(&h, "cline");
    assert_eq!(first.len(), 2);
    // The extension rewrites both files whole: the third request done, the answer added.
    rows[6] = third;
    rows.push(say(T0 + 3500, "completion_result", Some(4)));
    t.write(&rows, &Value::Array(hist.clone()));
    h.scan();
    h.scan();
    let second = stored(&h, "cline");
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
    // The same as a read of the finished task from scratch.
    let whole = parse(Flavor::Cline, &t.ui());
    let fresh: Vec<Option<String>> = whole
        .iter()
        .map(|e| e.ctx.as_ref().map(|c| c.as_str().to_string()))
        .collect();
    let got: Vec<Option<String>> = second.into_iter().map(|r| r.1).collect();
    assert_eq!(got, fresh);
}

#[test]
fn a_task_without_its_history_has_no_split() {
    let dir = tempfile::tempdir().unwrap();
    let t = Task::new(dir.path(), Flavor::Roo, "9a0b");
    std::fs::write(t.ui(), serde_json::to_vec(&cline_rows()).unwrap()).unwrap();
    let ev = parse(Flavor::Roo, &t.ui());
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.ctx.is_none()));
    assert_eq!(ev[2].tokens.prompt_total(), 39_003);
    // A history that is not JSON (torn mid-write) is no split either, and no error.
    std::fs::write(
        t.dir.join("api_conversation_history.json"),
        b"[{\"role\":\"user\",\"con",
    )
    .unwrap();
    let ev = parse(Flavor::Roo, &t.ui());
    assert_eq!(ev.len(), 3);
    assert!(ev.iter().all(|e| e.ctx.is_none()));
}

// ---------------------------------------------------------------------------------------------
// Cline SDK sessions (`sessions/<id>/<id>.messages.json`)
//
// Built from the SDK's storage as its source writes it (`docs/composition.md`, "Cline SDK
// sessions"): `{version, updated_at, agent, sessionId, messages, system_prompt?}` written with
// `JSON.stringify(payload, null, 2)` (serde_json's pretty printer writes the same layout),
// Anthropic-style content blocks, per-turn `metrics` on assistant messages, `metadata.
// displayOnly` on messages that are shown but never sent, and the `<id>.compaction.json`
// sidecar `{version, updated_at, source_message_count, messages}`.

use tokwatch::parser::cline::ClineSdkParser;

const SDK_ID: &str = "1781220500000_ab12c";

fn sdk_answer(ts: i64, content: Value, input: i64, cw: i64, cr: i64) -> Value {
    json!({"id": format!("msg_{ts}"), "role": "assistant", "ts": ts, "content": content,
        "modelInfo": {"id": "claude-sonnet-4-5", "provider": "anthropic"},
        "metrics": {"inputTokens": input, "outputTokens": 100, "cacheReadTokens": cr, "cacheWriteTokens": cw, "cost": 0.01}})
}

/// m0 the prompt; m1 an answer that reads a 60,000-byte file with `read_files`; m2 its result;
/// m3 an answer that calls an MCP tool; m4 its 9,000-byte result; m5 a display-only notice
/// (5,000 bytes, never sent); m6 the last answer.
fn sdk_messages() -> Vec<Value> {
    vec![
        json!({"id": "m0", "role": "user", "ts": T0, "content": [text(letters('u', 675))]}),
        sdk_answer(
            T0 + 1000,
            json!([
                {"type": "thinking", "thinking": letters('k', 550), "signature": letters('S', 400)},
                text(letters('a', 739)),
                {"type": "tool_use", "id": "toolu_s1", "name": "read_files", "input": {"file_paths": ["src/big.rs"]}},
            ]),
            12_003,
            12_000,
            0,
        ),
        json!({"id": "m2", "role": "user", "ts": T0 + 1100, "content": [
            {"type": "tool_result", "tool_use_id": "toolu_s1", "content": [text(letters('r', 60_000))]}]}),
        sdk_answer(
            T0 + 2000,
            json!([text(letters('a', 300)),
                {"type": "tool_use", "id": "toolu_s2", "name": "mcp__docs__get_page", "input": {"page": "intro"}}]),
            31_003,
            19_000,
            12_000,
        ),
        json!({"id": "m4", "role": "user", "ts": T0 + 2100, "content": [
            {"type": "tool_result", "tool_use_id": "toolu_s2", "content": letters('o', 9000)}]}),
        json!({"id": "m5", "role": "assistant", "ts": T0 + 2200, "metadata": {"displayOnly": true},
            "content": [text(letters('d', 5000))]}),
        sdk_answer(
            T0 + 3000,
            json!([text(letters('a', 400))]),
            34_003,
            3_000,
            31_000,
        ),
    ]
}

fn sdk_dir(root: &Path) -> PathBuf {
    let d = root.join(SDK_ID);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sdk_write(dir: &Path, msgs: &[Value], pretty: bool) -> PathBuf {
    let doc = json!({"version": 1, "updated_at": "2026-06-11T21:27:00.000Z", "agent": "lead",
        "sessionId": SDK_ID, "messages": msgs, "system_prompt": letters('p', 8000)});
    let p = dir.join(format!("{SDK_ID}.messages.json"));
    let body = if pretty {
        serde_json::to_string_pretty(&doc).unwrap() + "\n"
    } else {
        doc.to_string()
    };
    std::fs::write(&p, body).unwrap();
    p
}

fn sdk_parse(p: &Path) -> Vec<UsageEvent> {
    let mut out = Vec::new();
    let r = ClineSdkParser
        .parse_whole(p, &mut FileState::default(), &mut out)
        .unwrap();
    assert_eq!(r.malformed, 0);
    out
}

#[test]
fn sdk_session_split_is_hand_checked_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = sdk_dir(dir.path());
    let msgs = sdk_messages();
    let ev = sdk_parse(&sdk_write(&d, &msgs, true));
    assert_eq!(ev.len(), 3, "the display-only message is no request");
    assert_adds_up(&ev);
    let b = |m: usize, i: usize| span(&msgs[m]["content"][i]);
    assert_eq!(b(0, 0), 700);
    assert_eq!((b(1, 0), b(1, 1), b(1, 2)), (998, 764, 93));
    assert_eq!((b(3, 0), b(3, 1)), (325, 89));
    // Request 1 (m1) was sent m0: 700 bytes of user text / 3.5 = 200 tokens; the system
    // prompt (in the file, but not measured: it is the rest with the tool definitions) and
    // the tool definitions are 12,003 - 200.
    assert_eq!(split(&ev[0]).encode(), "s=11803;u=200");
    // Request 2 (m3) was sent m0..m2. The file is indented: spans are measured as written
    // compactly (the same sizes as `span`). Thinking (998 - the 402-byte signature) / 2.75 =
    // 216.7; assistant 764 / 3.75 = 203.7; the call 93 / 3.0 = 31; read_files's 60,085-byte
    // result is cut to 50,000 characters by the SDK when it sends it (read_files is one of the
    // tools its message builder truncates): 50,040 bytes / 3.0 = 16,680. System: 31,003 -
    // (200 + 204 + 217 + 31 + 16,680) = 13,671.
    let c2 = split(&ev[1]);
    assert_eq!(tool_result(&c2, "read_files"), 16_680);
    assert_eq!(
        c2.encode(),
        "s=13671;u=200;a=204;k=217;c=31;r.read_files=16680"
    );
    // Request 3 (m6): m0..m5 without the display-only m5. The MCP tool's result is not cut:
    // (9,000 + 60 bytes of its block) / 3.0 = 3,020; assistant (764 + 325) / 3.75 = 290.4;
    // calls (93 + 89) / 3.0 = 60.7; system 34,003 - 20,468 = 13,535.
    let m4 = span(&msgs[4]["content"][0]);
    assert_eq!(m4, 9_060);
    let c3 = split(&ev[2]);
    assert_eq!(tool_result(&c3, "mcp__docs__get_page"), 3_020);
    assert_eq!(
        c3.encode(),
        "s=13535;u=200;a=290;k=217;c=61;r.read_files=16680;r.mcp__docs__get_page=3020"
    );
    // The growth from request 1 to 2 is mostly the file read.
    assert_eq!(
        ev[1].tokens.prompt_total() - ev[0].tokens.prompt_total(),
        19_000
    );
    assert!(tool_result(&c2, "read_files") > 19_000 * 3 / 4);
    // A compact copy of the same session reads to the same splits.
    let d2 = dir.path().join("compact");
    let compact = sdk_parse(&sdk_write(&sdk_dir(&d2), &msgs, false));
    let enc = |v: &[UsageEvent]| -> Vec<String> { v.iter().map(|e| split(e).encode()).collect() };
    assert_eq!(enc(&compact), enc(&ev));
}

#[test]
fn sdk_compaction_sidecar_shows_the_drop() {
    let dir = tempfile::tempdir().unwrap();
    let d = sdk_dir(dir.path());
    let msgs = sdk_messages();
    let p = sdk_write(&d, &msgs, true);
    // Compacted after request 2 (m3, T0 + 2000) and before request 3 (m6, T0 + 3000): m0..m3
    // are replaced by a 2,000-byte summary when requests are built.
    let side = json!({"version": 1, "updated_at": "2026-06-11T23:27:01.500Z",
        "source_message_count": 4, "source_prefix_hash": "sha256:elided",
        "messages": [{"role": "user", "content": [text(letters('s', 1975))]}]});
    assert_eq!(
        common_ts("2026-06-11T23:27:01.500Z"),
        T0 + 2500,
        "the sidecar was written between the two requests"
    );
    std::fs::write(
        d.join(format!("{SDK_ID}.compaction.json")),
        serde_json::to_string_pretty(&side).unwrap(),
    )
    .unwrap();
    let ev = sdk_parse(&p);
    assert_eq!(ev.len(), 3);
    assert_adds_up(&ev);
    let (c2, c3) = (split(&ev[1]), split(&ev[2]));
    assert_eq!(
        tool_result(&c2, "read_files"),
        16_680,
        "before the compaction"
    );
    // Request 3: the summary (2,000 bytes / 3.5 = 571.4, user text: the sidecar does not mark
    // it) and m4; read_files's result and the earlier answers are gone.
    assert_eq!(tool_result(&c3, "read_files"), 0, "{c3:?}");
    assert_eq!(c3.of(CtxKind::User), 571);
    assert_eq!(c3.of(CtxKind::Thinking), 0);
    assert_eq!(tool_result(&c3, "mcp__docs__get_page"), 3_020);
    let measured = |c: &Composition| c.total() - c.of(CtxKind::System);
    assert!(measured(&c3) < measured(&c2), "the context dropped");
}

fn common_ts(iso: &str) -> i64 {
    tokwatch::parser::common::timestamp(&json!(iso)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The append-only `ui_messages.jsonl` variant

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| r.to_string() + "\n").collect()
}

#[test]
fn jsonl_task_resumed_reads_the_same_splits_as_a_whole_read() {
    let hist = cline_history();
    let rows = cline_rows();
    let dir_of = |h: &Home| h.home().join(".cline/data/tasks/1781220400004");
    let write_hist = |d: &Path, n: usize| {
        std::fs::write(
            d.join("api_conversation_history.json"),
            serde_json::to_vec(&Value::Array(hist[..n].to_vec())).unwrap(),
        )
        .unwrap()
    };
    // Resumed: two requests and the history so far, a scan; then the rest appended and the
    // history grown, two scans (the second reads nothing new).
    let a = Home::new();
    let d = dir_of(&a);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("ui_messages.jsonl"), jsonl(&rows[..5])).unwrap();
    write_hist(&d, 3);
    a.scan();
    assert_eq!(stored(&a, "cline").len(), 2);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("ui_messages.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut f, jsonl(&rows[5..]).as_bytes()).unwrap();
    write_hist(&d, hist.len());
    a.scan();
    a.scan();
    // Whole: the finished task read once.
    let b = Home::new();
    let d = dir_of(&b);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("ui_messages.jsonl"), jsonl(&rows)).unwrap();
    write_hist(&d, hist.len());
    b.scan();
    let (ra, rb) = (stored(&a, "cline"), stored(&b, "cline"));
    assert_eq!(ra.len(), 3);
    assert_eq!(ra, rb, "resumed read == whole read");
    // And the same as the classic file's splits (Cline's index places each request; the
    // deleted range is not in play here).
    let tmp = tempfile::tempdir().unwrap();
    let t = Task::new(tmp.path(), Flavor::Cline, "x");
    t.write(&rows, &Value::Array(hist.clone()));
    let classic: Vec<Option<String>> = parse(Flavor::Cline, &t.ui())
        .iter()
        .map(|e| e.ctx.as_ref().map(|c| c.as_str().to_string()))
        .collect();
    let got: Vec<Option<String>> = ra.iter().map(|r| r.1.clone()).collect();
    assert_eq!(got, classic);
    for (total, ctx) in &ra {
        let c = Composition::decode(ctx.as_deref().unwrap()).unwrap();
        assert_eq!(c.total(), *total);
    }
    assert_eq!(
        got[1].as_deref(),
        Some("s=11134;u=1392;a=204;k=217;c=28;r.read_file=20028")
    );
}

/// A Roo jsonl task: `ts`-placed requests and a condense row appended before the request
/// it applies to is filled in; the incremental parse (line by line, one state) equals a parse
/// resumed with a fresh state that first replays the earlier lines.
#[test]
fn jsonl_roo_condense_and_replayed_state() {
    let dir = tempfile::tempdir().unwrap();
    let (t, files) = roo_task(Flavor::Roo, dir.path());
    let mut rows = files[0].as_array().unwrap().clone();
    // Append-only: the filled row of request 3 comes after the condense row.
    let r3 = rows.remove(5);
    rows.insert(6, r3);
    std::fs::write(
        t.dir.join("api_conversation_history.json"),
        serde_json::to_vec(&files[1]).unwrap(),
    )
    .unwrap();
    let ui = t.dir.join("ui_messages.jsonl");
    std::fs::write(&ui, jsonl(&rows)).unwrap();
    let p = ClineTaskParser {
        flavor: Flavor::Roo,
        jsonl: true,
    };
    let lines: Vec<String> = rows.iter().map(Value::to_string).collect();
    let run = |from: usize, st: &mut FileState, keep: bool| {
        let mut out = Vec::new();
        for l in &lines[from..] {
            p.parse_line(l.as_bytes(), &ui, st, &mut out).unwrap();
        }
        if keep {
            out
        } else {
            Vec::new()
        }
    };
    let whole = run(0, &mut FileState::default(), true);
    assert_eq!(whole.len(), 3);
    assert_adds_up(&whole);
    // Resumed at line 4 without the in-memory state: the earlier lines are replayed first.
    let mut st = FileState::default();
    let mut first = Vec::new();
    for l in &lines[..4] {
        p.parse_line(l.as_bytes(), &ui, &mut st, &mut first)
            .unwrap();
    }
    let mut fresh = FileState::default();
    for l in &lines[..4] {
        p.parse_line(l.as_bytes(), &ui, &mut fresh, &mut Vec::new())
            .unwrap();
    }
    let rest = run(4, &mut fresh, true);
    let enc = |v: &[UsageEvent]| -> Vec<String> { v.iter().map(|e| split(e).encode()).collect() };
    let resumed: Vec<UsageEvent> = first.into_iter().chain(rest).collect();
    assert_eq!(enc(&resumed), enc(&whole));
    // The condense applies to request 3, as in the classic file.
    let classic = parse(Flavor::Roo, &{
        t.write(files[0].as_array().unwrap(), &files[1]);
        t.ui()
    });
    assert_eq!(enc(&whole), enc(&classic));
    let c3 = split(&whole[2]);
    assert_eq!(tool_result(&c3, "read_file"), 0);
    assert_eq!(c3.of(CtxKind::Summary), 2007);
}
