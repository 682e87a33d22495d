//! Context composition of Gemini CLI chats (issue 14, `docs/composition.md`, "Gemini CLI").
//!
//! Checked on the real sample (`fixtures/gemini-cli/session.jsonl`, real text, 6 billed
//! requests) and on records appended to it that are built here from the documented schema
//! (`docs/log-formats.md` §3, Gemini CLI's `chatRecordingService`): a rewind, a compression
//! written as a `$set.messages` snapshot. Those lines say so where they are made; their text is
//! filler of known lengths.

mod util;
use serde_json::{json, Value};
use tokwatch::event::{Composition, CtxKind};
use util::*;

const SID: &str = "0ab84937-9fe7-4284-986a-33c832af0b6a";
const FILE: &str = "session-2026-04-23T12-52-0ab84937.jsonl";

/// A stored Gemini CLI request: message id, input total, split.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: String,
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

fn rows(h: &Home) -> Vec<Row> {
    let c = sql(&h.db());
    let mut st = c
        .prepare(
            "SELECT msg_id, input + cw5 + cw1h + cr, ctx FROM events
             WHERE tool = 'gemini-cli' AND input + cw5 + cw1h + cr + output > 0
             ORDER BY ts, key_hash",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            total: r.get(1)?,
            ctx: r.get(2)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn row<'a>(rows: &'a [Row], id: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id}"))
}

fn assert_adds_up(rows: &[Row]) {
    for r in rows {
        let c = r.split();
        assert_eq!(c.total(), r.total, "{r:?}");
        assert!(c.parts.iter().all(|p| p.tokens > 0), "{r:?}");
    }
}

fn sample() -> String {
    std::fs::read_to_string(fixtures().join("gemini-cli/session.jsonl")).unwrap()
}

fn chats(h: &Home) -> std::path::PathBuf {
    let d = h.home().join(".gemini/tmp/discordbot/chats");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn with_chat(text: &str) -> Home {
    let h = Home::new();
    std::fs::write(chats(&h).join(FILE), text).unwrap();
    h
}

/// A message record in the documented shape (`id`, `timestamp`, `type`, `content`, …), at
/// second `n` after the sample's last record.
fn rec(n: u32, id: &str, ty: &str, rest: Value) -> String {
    let mut v = json!({
        "id": id,
        "timestamp": format!("2026-04-23T13:{:02}:{:02}.000Z", n / 60, n % 60),
        "type": ty,
    });
    for (k, x) in rest.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string() + "\n"
}

fn tokens(input: i64) -> Value {
    json!({"input": input, "output": 10, "cached": 0, "thoughts": 0, "tool": 0,
           "total": input + 10})
}

const R1: &str = "52e62e67-5d6b-4a2c-b12d-11b87fe3e4a4";
const R2: &str = "a4173396-3649-48f8-8fa8-e2624684806e";
const R4: &str = "edf94f05-ab0f-46aa-8811-d3db8103da28";
const R5: &str = "0752be32-e23d-4786-bc5f-e06ee1d8a56c";
const R6: &str = "42a121a5-b72a-43e2-9e9d-640b17ea8978";

/// The sample's 6 requests, each split adding up to its input total (`tokens.input`, cached
/// included, + `tokens.tool`; 202,586 together, `fixtures/EXPECTED.md`).
///
/// Hand-checked, the request right after the 54,598-byte line (R2, 29,082 tokens), from raw
/// JSON spans measured with `python3 benches/composition/calibrate_gemini.py` (each part's
/// `{…}` span in its line) and the GEMINI ratios (bytes per token):
///
/// - user: the `/init` prompt's one text part, 2,373 bytes / 4.0 = 593.25;
/// - thinking: R1's `tokens.thoughts`, 306 (same tool loop: its reasoning is billed again);
/// - tool calls: R1's 5 calls, `name` + `args` spans 527 bytes / 3.25 = 162.15;
/// - tool results: `update_topic` 461 bytes / 3.75 = 122.93, `read_file` 10,809 + 22,830 +
///   16,977 + 1,610 = 52,226 bytes / 3.75 = 13,926.93;
/// - system: the rest, 29,082 - 15,111.26 = 13,970.74; rounded by largest remainders: 593,
///   306, 162, 123, 13,927 and 13,971.
///
/// That system rest (prompt, tool declarations, GEMINI.md, environment context: none of it in
/// the log) stays within 13,313-13,971 over the 6 requests, which checks the ratios and the
/// thinking rule: R5 follows a new prompt ("System: Please continue."), and its input is 792
/// tokens *smaller* than R4's although a turn was added: the loop's 1,180 thinking tokens
/// (306 + 642 + 232) left it.
#[test]
fn sample_splits_add_up_and_hand_checked() {
    let h = with_chat(&sample());
    h.scan();
    let rows = rows(&h);
    let totals: Vec<i64> = rows.iter().map(|r| r.total).collect();
    assert_eq!(totals, [13_906, 29_082, 38_324, 40_914, 40_122, 40_238]);
    assert_eq!(totals.iter().sum::<i64>(), 202_586);
    assert_adds_up(&rows);
    let r1 = row(&rows, R1);
    assert_eq!(
        (r1.of(CtxKind::User), r1.of(CtxKind::System)),
        (593, 13_313)
    );
    let r2 = row(&rows, R2);
    assert_eq!(r2.of(CtxKind::User), 593);
    assert_eq!(r2.of(CtxKind::Thinking), 306);
    assert_eq!(r2.of(CtxKind::ToolCall), 162);
    assert_eq!(r2.tool("update_topic"), 123);
    assert_eq!(r2.tool("read_file"), 13_927);
    assert_eq!(r2.of(CtxKind::System), 13_971);
    assert_eq!(row(&rows, R4).of(CtxKind::Thinking), 1_180);
    assert_eq!(row(&rows, R5).of(CtxKind::Thinking), 0, "a new prompt");
    for r in &rows {
        let s = r.of(CtxKind::System);
        assert!((13_300..=14_000).contains(&s), "system rest {s}: {r:?}");
    }
    // The model's text is in the later requests, the screen-only copies are not counted:
    // R6's assistant part is R4's and R5's text (779 + 372 bytes / 4.0 = 287.75).
    assert_eq!(row(&rows, R6).of(CtxKind::Assistant), 288);
}

/// The request right after the large tool result shows it: R1 -> R2 the input grew by 15,176
/// tokens, 13,927 of them `read_file` results that were not in R1.
#[test]
fn the_request_after_a_large_tool_result_shows_its_growth() {
    let h = with_chat(&sample());
    h.scan();
    let rows = rows(&h);
    let (r1, r2) = (row(&rows, R1), row(&rows, R2));
    assert_eq!(r2.total - r1.total, 15_176);
    assert_eq!(r1.tool("read_file"), 0);
    assert_eq!(r2.tool("read_file") - r1.tool("read_file"), 13_927);
    // After the system rest, the largest part of R2.
    let mut parts = r2.split().parts;
    parts.retain(|p| p.kind != CtxKind::System);
    let largest = parts.into_iter().max_by_key(|p| p.tokens).unwrap();
    assert_eq!(largest.tool.as_deref(), Some("read_file"));
}

/// Lines built from the documented schema: a new prompt (400-byte text part), a model message
/// whose `read_file` call returned 40,000 characters, then `$rewindTo` that prompt (the user
/// went back), another prompt (200 bytes) and its answer.
fn rewound() -> String {
    let mut s = sample();
    s += &rec(
        1,
        "u7",
        "user",
        json!({"content": [{"text": "a".repeat(389)}]}),
    );
    s += &rec(
        2,
        "g7",
        "gemini",
        json!({"content": "", "tokens": tokens(50_000), "model": "gemini-3-flash-preview",
               "toolCalls": [{"id": "c7", "name": "read_file", "args": {"file_path": "big"},
                 "result": [{"functionResponse": {"id": "c7", "name": "read_file",
                   "response": {"output": "x".repeat(40_000)}}}],
                 "status": "success", "resultDisplay": "y".repeat(900)}]}),
    );
    s += &rec(
        3,
        "g8",
        "gemini",
        json!({"content": "", "tokens": tokens(60_000),
               "model": "gemini-3-flash-preview"}),
    );
    s += "{\"$rewindTo\":\"u7\"}\n";
    s += &rec(
        4,
        "u9",
        "user",
        json!({"content": [{"text": "b".repeat(189)}]}),
    );
    s += &rec(
        5,
        "g9",
        "gemini",
        json!({"content": "ok", "tokens": tokens(41_000),
               "model": "gemini-3-flash-preview"}),
    );
    s
}

/// `$rewindTo` drops the rewound messages from the conversation (not from the bill): g8 saw
/// the 40,000-character result, g9 (after the rewind) does not, nor the rewound prompt.
#[test]
fn a_rewind_drops_the_rewound_messages() {
    let h = with_chat(&rewound());
    h.scan();
    let rows = rows(&h);
    assert_eq!(rows.len(), 9, "rewound requests stay billed");
    assert_adds_up(&rows);
    let base = row(&rows, R6).tool("read_file");
    let g8 = row(&rows, "g8");
    // The {"functionResponse":…} part's span: 40,000 x's + 76 bytes of JSON = 40,076 / 3.75
    // = 10,686.9 tokens more than the sample's results.
    assert_eq!(g8.tool("read_file") - base, 10_687);
    let g9 = row(&rows, "g9");
    assert_eq!(g9.tool("read_file"), base, "the rewound result is gone");
    // User text: the sample's three prompts (2,373 + 35 + 117) and u9's part (200 bytes), not
    // u7's: 2,725 / 4.0 = 681.25.
    assert_eq!(g9.of(CtxKind::User), 681);
}

/// A compression as the newest Gemini CLI source records it (documented schema: the rebuilt
/// history written as a `$set.messages` snapshot; the summary is a user message holding the
/// `<state_snapshot>`, followed by the model's acknowledgement and the kept turns): the next
/// request sees the summary and the kept turns, none of the earlier tool results.
#[test]
fn a_compression_snapshot_drops_the_history() {
    let text = sample();
    let kept: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["id"] == "231038fa-bbfb-4b43-9a30-b8b7fcf54895" || v["id"] == R6)
        .collect();
    let kept = vec![kept[0].clone(), kept.last().unwrap().clone()];
    let summary = format!("<state_snapshot>{}</state_snapshot>", "s".repeat(3_948));
    let mut msgs = vec![
        json!({"id": "sum", "timestamp": "2026-04-23T13:00:00.000Z", "type": "user",
               "content": [{"text": summary}]}),
        json!({"id": "ack", "timestamp": "2026-04-23T13:00:00.000Z", "type": "gemini",
               "content": [{"text": "Got it. Thanks for the additional context!"}]}),
    ];
    msgs.extend(kept);
    let mut s = text.clone();
    s += &(json!({"$set": {"messages": msgs, "lastUpdated": "2026-04-23T13:00:00.000Z"}})
        .to_string()
        + "\n");
    s += &rec(
        10,
        "u10",
        "user",
        json!({"content": [{"text": "c".repeat(389)}]}),
    );
    s += &rec(
        11,
        "g10",
        "gemini",
        json!({"content": "ok", "tokens": tokens(20_000),
               "model": "gemini-3.1-pro-preview"}),
    );
    let h = with_chat(&s);
    h.scan();
    let all = rows(&h);
    assert_eq!(all.len(), 7);
    assert_adds_up(&all);
    let g10 = row(&all, "g10");
    assert_eq!(g10.tool("read_file"), 0, "{g10:?}");
    assert_eq!(g10.tool("write_file"), 0);
    assert!(g10.tool("replace") > 0, "a kept turn's result stays");
    // {"text":"<state_snapshot>…</state_snapshot>"}: 3,948 + 44 = 3,992 bytes / 4.0 = 998.
    assert_eq!(g10.of(CtxKind::Summary), 998);
    // The kept prompt (117 bytes) and u10's (400): 517 / 4.0 = 129.25.
    assert_eq!(g10.of(CtxKind::User), 129);
    // A request listed again in the snapshot keeps the split it was first seen with.
    let alone = with_chat(&text);
    alone.scan();
    let alone = rows(&alone);
    assert_eq!(row(&all, R6), row(&alone, R6));
}

/// A read that resumes in a new process (no conversation in memory) rebuilds it from the
/// file's start: the splits are those of a read in one go.
#[test]
fn a_resumed_read_splits_like_a_whole_read() {
    let text = rewound();
    let whole = with_chat(&text);
    whole.scan();
    let h = with_chat(&sample());
    h.scan();
    assert_eq!(rows(&h).len(), 6);
    std::fs::write(chats(&h).join(FILE), &text).unwrap();
    h.scan();
    assert_eq!(rows(&h), rows(&whole));
}

/// The legacy whole-file `session-*.json` (indented, as Gemini CLI wrote it) gives the same
/// splits as the `.jsonl`: the document (built here from the sample's records, latest copy per
/// id in order, documented schema §3) holds the same conversation.
#[test]
fn the_legacy_json_gives_the_same_split() {
    let text = sample();
    let mut order: Vec<String> = Vec::new();
    let mut latest = std::collections::HashMap::new();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let (Some(id), Some(_)) = (v["id"].as_str(), v["type"].as_str()) else {
            continue;
        };
        if !latest.contains_key(id) {
            order.push(id.to_string());
        }
        latest.insert(id.to_string(), v.clone());
    }
    let msgs: Vec<Value> = order.iter().map(|i| latest[i].clone()).collect();
    let doc = json!({"sessionId": SID, "projectHash": "9da8b3df",
                     "startTime": "2026-04-23T12:52:52.759Z",
                     "lastUpdated": "2026-04-23T12:58:35.591Z", "messages": msgs});
    let h = Home::new();
    std::fs::write(
        chats(&h).join("session-2026-04-23T12-52-0ab84937.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    h.scan();
    let jsonl = with_chat(&text);
    jsonl.scan();
    assert_eq!(rows(&h), rows(&jsonl));
}
