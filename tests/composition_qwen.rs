//! Context composition of Qwen Code requests (issue 14, `docs/composition.md`, "Qwen Code"):
//! the built-in spec `parsers/qwen-code.toml` names the `gemini-chain` composer in its
//! `[context]` section.
//!
//! The real sample (`fixtures/qwen-code/session.jsonl`, a mock-server run: real structure,
//! made-up token counts) is hand-checked. The other sessions are built here from Qwen Code's
//! documented record schema (`ChatRecord` in QwenLM/qwen-code's chat recording service:
//! `uuid`/`parentUuid`, `type`, `message: {role, parts}`, `usageMetadata`, the
//! `chat_compression` checkpoint's `systemPayload.compressedHistory`), with text of known
//! lengths, and say so.

mod util;
use serde_json::json;
use tokwatch::event::{Composition, CtxKind};
use util::*;

const SID: &str = "69f0814a-8bfc-4c8e-93d3-05757f17b96f";

/// A stored request: input total and split.
#[derive(Debug, Clone, PartialEq)]
struct Row {
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

/// Qwen Code's stored requests, in time order.
fn rows(h: &Home) -> Vec<Row> {
    let c = sql(&h.db());
    let mut st = c
        .prepare(
            "SELECT input + cw5 + cw1h + cr, ctx FROM events
             WHERE tool = 'qwen-code' ORDER BY ts, key_hash",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(Row {
            total: r.get(0)?,
            ctx: r.get(1)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn assert_adds_up(rows: &[Row]) {
    for r in rows {
        let c = r.split();
        assert_eq!(c.total(), r.total, "{r:?}");
        assert!(c.parts.iter().all(|p| p.tokens > 0), "{r:?}");
    }
}

fn chat(h: &Home) -> std::path::PathBuf {
    h.home()
        .join(".qwen/projects/-tmp-qwentest/chats")
        .join(format!("{SID}.jsonl"))
}

fn write(h: &Home, text: &str) {
    let p = chat(h);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn with(text: &str) -> Home {
    let h = Home::new();
    write(&h, text);
    h.scan();
    h
}

fn sample() -> String {
    std::fs::read_to_string(fixtures().join("qwen-code/session.jsonl")).unwrap()
}

/// Builds records in Qwen Code's documented shape, numbered, each the child of `parent`.
struct Log {
    text: String,
    n: u32,
}

impl Log {
    fn new() -> Log {
        Log {
            text: String::new(),
            n: 0,
        }
    }
    fn id(n: u32) -> String {
        format!("00000000-0000-4000-8000-{n:012}")
    }
    /// Appends a record; returns its uuid number.
    fn rec(&mut self, parent: Option<u32>, ty: &str, extra: serde_json::Value) -> u32 {
        self.n += 1;
        let mut v = json!({
            "uuid": Log::id(self.n),
            "parentUuid": parent.map(Log::id),
            "sessionId": SID,
            "timestamp": format!("2026-06-16T10:{:02}:{:02}.000Z", self.n / 60, self.n % 60),
            "type": ty,
            "cwd": "/tmp/qwentest",
            "version": "0.18.1",
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        self.text += &(v.to_string() + "\n");
        self.n
    }
    fn user(&mut self, parent: Option<u32>, text: &str) -> u32 {
        self.rec(
            parent,
            "user",
            json!({"message": {"role": "user", "parts": [{"text": text}]}}),
        )
    }
    fn model(&mut self, parent: u32, parts: serde_json::Value, prompt: i64) -> u32 {
        self.rec(
            Some(parent),
            "assistant",
            json!({
                "model": "coder-model",
                "message": {"role": "model", "parts": parts},
                "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": 10,
                                  "thoughtsTokenCount": 0, "totalTokenCount": prompt + 10,
                                  "cachedContentTokenCount": 0},
            }),
        )
    }
    fn result(&mut self, parent: u32, call: &str, tool: &str, output: &str) -> u32 {
        self.rec(
            Some(parent),
            "tool_result",
            json!({
                "message": {"role": "user", "parts": [{"functionResponse":
                    {"id": call, "name": tool, "response": {"output": output}}}]},
                // The screen's copy, not sent to the model: not counted.
                "toolCallResult": {"callId": call, "status": "success", "resultDisplay": output},
            }),
        )
    }
    fn telemetry(&mut self, parent: u32) -> u32 {
        self.rec(
            Some(parent),
            "system",
            json!({"subtype": "ui_telemetry", "systemPayload": {"uiEvent":
                {"event.name": "qwen-code.api_response", "input_token_count": 1}}}),
        )
    }
}

/// The span a part is measured by: its JSON as written in the line.
fn span(part: serde_json::Value) -> f64 {
    part.to_string().len() as f64
}

/// A session built from the documented schema: a question (350 bytes), a `read_file` call
/// whose result is 30,000 characters, and the answer after it.
fn read_session(log: &mut Log) -> (u32, String) {
    let q = "q".repeat(350);
    let u = log.user(None, &q);
    let t = log.telemetry(u);
    let call = json!([{"functionCall": {"id": "call_r", "name": "read_file",
                                        "args": {"absolute_path": "/tmp/qwentest/big.txt"}}}]);
    let a1 = log.model(t, call, 2_000);
    let out = "x".repeat(30_000);
    let r = log.result(a1, "call_r", "read_file", &out);
    let a2 = log.model(r, json!([{"text": "It is a big file."}]), 10_100);
    (a2, out)
}

/// The real sample, hand-checked. Each request's input is its chain before it; the sizes are
/// the raw spans of the parts in the sample's lines, the ratios `QWEN` (bytes per token: user
/// 3.5, tool call 4.0, tool result 3.75):
///
/// - request 1 (prompt 500): the user part `{"text":"List the files here."}` = 31 bytes =
///   8.857 tokens; system = 491.143. Largest remainders: user 9, system 491.
/// - request 2 (prompt 600, 50 of it cached): the user part (8.857), the `list_directory` call
///   part (76 bytes / 4.0 = 19.0) and its response part (108 bytes / 3.75 = 28.8, matched by
///   `call_1`); system = 600 - 56.657 = 543.343. Floors 8 + 19 + 28 + 543 = 598; the two
///   left go to the largest remainders (user .857, result .8): user 9, call 19, result 29,
///   system 543. The telemetry and snapshot records on the chain carry no message.
#[test]
fn sample_split_hand_checked() {
    let h = with(&sample());
    let r = rows(&h);
    assert_eq!(r.len(), 2);
    assert_adds_up(&r);
    assert_eq!(
        r.iter().map(|r| r.total).collect::<Vec<_>>(),
        vec![500, 600]
    );
    assert_eq!((r[0].of(CtxKind::System), r[0].of(CtxKind::User)), (491, 9));
    assert_eq!(r[0].split().parts.len(), 2);
    let b = &r[1];
    assert_eq!(b.of(CtxKind::System), 543);
    assert_eq!(b.of(CtxKind::User), 9);
    assert_eq!(b.of(CtxKind::ToolCall), 19);
    assert_eq!(b.tool("list_directory"), 29);
    assert_eq!(b.of(CtxKind::Assistant), 0);
    assert_eq!(b.split().parts.len(), 4);
}

/// The request after a 30,000-character tool result: the result is in its input under the
/// tool's name, and the growth from the request before is that result.
#[test]
fn growth_after_a_large_tool_result() {
    let mut log = Log::new();
    read_session(&mut log);
    let h = with(&log.text);
    let r = rows(&h);
    assert_eq!(r.len(), 2);
    assert_adds_up(&r);
    let user = span(json!({"text": "q".repeat(350)})) / 3.5;
    assert_eq!(r[0].of(CtxKind::User), user.round() as i64);
    assert_eq!(r[0].tool("read_file"), 0);
    let result = span(
        json!({"functionResponse": {"id": "call_r", "name": "read_file",
        "response": {"output": "x".repeat(30_000)}}}),
    ) / 3.75;
    let got = r[1].tool("read_file");
    assert!((got as f64 - result).abs() <= 1.0, "{got} vs {result}");
    assert!(got > 8_000, "{got}");
    // The screen's copy (`toolCallResult.resultDisplay`, as large) is not counted: the system
    // rest is what the first request's was, less the call and answer now in the history.
    let sys = r[1].of(CtxKind::System);
    assert!((1_800..=2_000).contains(&sys), "{sys}");
    let grew = r[1].total - r[0].total;
    assert!(got as f64 > 0.95 * grew as f64, "{got} of {grew}");
}

/// A compression checkpoint (`system` / `chat_compression`): the history before it drops out,
/// its compressed history (the summary, the model's acknowledgement, the kept tail) stands
/// for it.
#[test]
fn compression_drops_the_history() {
    let mut log = Log::new();
    let (a2, _) = read_session(&mut log);
    let summary = "s".repeat(2_000);
    let kept = "k".repeat(70);
    let c = log.rec(
        Some(a2),
        "system",
        json!({"subtype": "chat_compression", "systemPayload": {
        "info": {"originalTokenCount": 10_110, "newTokenCount": 700, "compressionStatus": 1},
        "compressedHistory": [
            {"role": "user", "parts": [{"text": summary}]},
            {"role": "model", "parts": [{"text": "Got it. Thanks for the additional context!"}]},
            {"role": "user", "parts": [{"text": kept}]},
        ]}}),
    );
    let u = log.user(Some(c), "next question");
    log.model(u, json!([{"text": "ok"}]), 3_000);
    let h = with(&log.text);
    let r = rows(&h);
    assert_eq!(r.len(), 3);
    assert_adds_up(&r);
    let last = &r[2];
    assert_eq!(last.tool("read_file"), 0, "{last:?}");
    assert_eq!(last.of(CtxKind::ToolCall), 0);
    let sum = span(json!({"text": summary})) / 3.5;
    assert!((last.of(CtxKind::Summary) as f64 - sum).abs() <= 1.0);
    let ack = span(json!({"text": "Got it. Thanks for the additional context!"})) / 4.25;
    assert!((last.of(CtxKind::Assistant) as f64 - ack).abs() <= 1.0);
    let user = (span(json!({"text": kept})) + span(json!({"text": "next question"}))) / 3.5;
    assert!((last.of(CtxKind::User) as f64 - user).abs() <= 1.0);
    // The drop: the request before held the 8,000-token result, more than this whole input.
    assert!(r[1].tool("read_file") > 8_000);
    assert!(last.total < r[1].total - 7_000);
}

/// A rewind: the new prompt's parent is a record before the rewound turn, so the abandoned
/// branch (here the large tool result) is not in the later request's input.
#[test]
fn a_branch_off_the_chain_is_not_counted() {
    let mut log = Log::new();
    let u0 = log.user(None, "first question");
    let a0 = log.model(u0, json!([{"text": "first answer"}]), 1_000);
    let u1 = log.user(Some(a0), "read it");
    let call = json!([{"functionCall": {"id": "call_b", "name": "read_file", "args": {}}}]);
    let a1 = log.model(u1, call, 1_100);
    let r1 = log.result(a1, "call_b", "read_file", &"y".repeat(20_000));
    log.model(r1, json!([{"text": "done"}]), 6_500);
    let rw = log.rec(
        Some(r1 + 1),
        "system",
        json!({"subtype": "rewind", "systemPayload": {"truncatedCount": 3}}),
    );
    assert!(rw > 0);
    let u4 = log.user(Some(a0), "another question");
    log.model(u4, json!([{"text": "another answer"}]), 1_050);
    let h = with(&log.text);
    let r = rows(&h);
    assert_eq!(r.len(), 4);
    assert_adds_up(&r);
    assert!(r[2].tool("read_file") > 5_000);
    let last = &r[3];
    assert_eq!(last.tool("read_file"), 0, "{last:?}");
    assert_eq!(last.of(CtxKind::ToolCall), 0);
    let user =
        (span(json!({"text": "first question"})) + span(json!({"text": "another question"}))) / 3.5;
    assert!((last.of(CtxKind::User) as f64 - user).abs() <= 1.0);
    let answer = span(json!({"text": "first answer"})) / 4.25;
    assert!((last.of(CtxKind::Assistant) as f64 - answer).abs() <= 1.0);
}

/// Thought parts the model wrote are sent back with the history (as `reasoning_content`):
/// thinking; their `thoughtSignature` is not counted. An image part counts as one image.
#[test]
fn thoughts_and_images() {
    let mut log = Log::new();
    let u = log.rec(
        None,
        "user",
        json!({"message": {"role": "user", "parts": [
            {"text": "what is in this picture?"},
            {"inlineData": {"mimeType": "image/png", "data": "A".repeat(40_000)}},
        ]}}),
    );
    let a = log.model(
        u,
        json!([{"text": "t".repeat(425), "thought": true, "thoughtSignature": "S".repeat(5_000)},
               {"text": "a cat"}]),
        3_000,
    );
    let u2 = log.user(Some(a), "sure?");
    log.model(u2, json!([{"text": "yes"}]), 3_200);
    let h = with(&log.text);
    let r = rows(&h);
    assert_adds_up(&r);
    assert_eq!(r[0].of(CtxKind::Image), 1_280);
    assert_eq!(r[0].of(CtxKind::Thinking), 0);
    let thought = (span(json!({"text": "t".repeat(425), "thought": true,
                                "thoughtSignature": "S".repeat(5_000)}))
        - span(json!("S".repeat(5_000))))
        / 4.25;
    assert!((r[1].of(CtxKind::Thinking) as f64 - thought).abs() <= 1.0);
    assert_eq!(r[1].of(CtxKind::Image), 1_280);
}

/// A read that resumes in a new process (no chain in memory) rebuilds it from the file's
/// start: the splits are those of a read in one go; a re-read from the start adds nothing.
#[test]
fn resumed_read_splits_like_a_whole_read() {
    let mut log = Log::new();
    let (a2, _) = read_session(&mut log);
    let half = log.text.clone();
    let u = log.user(Some(a2), "and then?");
    log.model(u, json!([{"text": "then nothing"}]), 10_300);
    let text = sample() + &log.text;
    let whole = with(&text);
    let h = with(&(sample() + &half));
    assert_eq!(rows(&h).len(), 4);
    write(&h, &text);
    h.scan();
    assert_eq!(rows(&h), rows(&whole));
    assert_eq!(rows(&h).len(), 5);
    assert_adds_up(&rows(&h));
    let p = chat(&h);
    std::fs::rename(&p, p.with_extension("moved")).unwrap();
    std::fs::write(&p, &text).unwrap();
    std::fs::remove_file(p.with_extension("moved")).unwrap();
    h.scan();
    assert_eq!(rows(&h), rows(&whole));
}

/// A user's copy of the spec without `[context]` replaces the built-in one: it still counts
/// every token, and its requests simply have no split.
#[test]
fn a_user_spec_without_context_has_no_split() {
    let builtin = std::fs::read_to_string(fixtures().join("../parsers/qwen-code.toml")).unwrap();
    let at = builtin
        .find("[context]")
        .expect("the built-in spec has a [context]");
    let h = Home::new();
    let parsers = h.dir.path().join("config/parsers");
    std::fs::create_dir_all(&parsers).unwrap();
    std::fs::write(parsers.join("qwen-code.toml"), &builtin[..at]).unwrap();
    write(&h, &sample());
    h.scan();
    let r = rows(&h);
    assert_eq!(
        r,
        vec![
            Row {
                total: 500,
                ctx: None
            },
            Row {
                total: 600,
                ctx: None
            }
        ]
    );
    // An unknown composer is an error that names the field.
    let bad = builtin.replace("\"gemini-chain\"", "\"nope\"");
    let e = tokwatch::parser::spec::Spec::parse(&bad, "qwen.toml").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("context.composer"), "{e}");
}
