//! Context composition of OpenCode / Kilo CLI (issue 14, `docs/composition.md`, "OpenCode and
//! Kilo CLI").
//!
//! There is no public OpenCode database or storage directory, so every fixture here is built by
//! test code from the documented schema: the v1 `message`/`part` and v2 `session_message`
//! `CREATE TABLE`s of OpenCode's `schema.gen.ts` (as in `tests/parsers_sqlite.rs`), part and
//! message JSON shaped like OpenCode's `MessageV2` types, v2 rows like its `SessionMessage`
//! types, and the legacy `storage/message|part` files. Texts are made of known lengths, so each
//! part's JSON span (text + 2 quotes) is known and the splits can be checked by hand.

mod util;

use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::path::Path;
use tokwatch::event::{Composition, CtxKind, UsageEvent};
use tokwatch::parser::opencode::{Flavor, OpenCodeDb, OpenCodeLegacy};
use tokwatch::parser::{FileState, Parser};
use util::*;

const OC: OpenCodeDb = OpenCodeDb {
    flavor: Flavor::OpenCode,
};
const T0: i64 = 1_771_083_156_415;

// The tables of OpenCode's schema.gen.ts that the parser reads (see tests/parsers_sqlite.rs).
const SCHEMA: &str = "
CREATE TABLE `message` (`id` text PRIMARY KEY, `session_id` text NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL, `data` text NOT NULL);
CREATE TABLE `part` (`id` text PRIMARY KEY, `message_id` text NOT NULL, `session_id` text NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL, `data` text NOT NULL);
CREATE TABLE `session_message` (`id` text PRIMARY KEY, `session_id` text NOT NULL,
  `type` text NOT NULL, `seq` integer NOT NULL, `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL, `data` text NOT NULL);
CREATE TABLE `session` (`id` text PRIMARY KEY, `project_id` text NOT NULL, `slug` text NOT NULL,
  `directory` text NOT NULL, `title` text NOT NULL, `version` text NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL);
CREATE INDEX `message_session_time_created_id_idx` ON `message` (`session_id`,`time_created`,`id`);
CREATE INDEX `part_message_id_id_idx` ON `part` (`message_id`,`id`);
CREATE UNIQUE INDEX `session_message_session_seq_idx` ON `session_message` (`session_id`,`seq`);
";

fn db(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch(SCHEMA).unwrap();
    c.execute(
        "INSERT INTO session VALUES('ses_a', 'prj', 'a', '/home/u/proj', 't', '1.2.0', ?1, ?1)",
        [T0],
    )
    .unwrap();
    c
}

/// A text of exactly `n` bytes that starts with `tag` (its JSON span is `n + 2`).
fn txt(tag: &str, n: usize) -> String {
    let mut s = tag.to_string();
    while s.len() < n {
        s.push('z');
    }
    s
}

fn user() -> String {
    r#"{"role":"user","time":{"created":1},"agent":"build","model":{"providerID":"anthropic","modelID":"claude-sonnet-4-5"}}"#.into()
}

/// An assistant message's data: tokens (input, cache write, cache read); `summary` for a
/// compaction summary; `done`: completed.
fn asst(model: &str, tok: (i64, i64, i64), summary: bool, done: bool) -> String {
    let (i, w, r) = tok;
    let completed = if done { r#","completed":2"# } else { "" };
    let summary = if summary { r#""summary":true,"# } else { "" };
    format!(
        r#"{{"role":"assistant","time":{{"created":1{completed}}},"parentID":"msg_u2","modelID":"{model}","providerID":"anthropic",{summary}"mode":"build","agent":"build","path":{{"cwd":"/home/u/proj","root":"/home/u/proj"}},"cost":0,"tokens":{{"input":{i},"output":10,"reasoning":0,"cache":{{"read":{r},"write":{w}}}}},"finish":"stop"}}"#
    )
}

fn msg(c: &Connection, id: &str, t: i64, data: &str) {
    // The message's own `time.created` is the row's.
    let data = data.replace(r#"{"created":1"#, &format!(r#"{{"created":{t}"#));
    c.execute(
        "INSERT INTO message VALUES(?1, 'ses_a', ?2, ?2, ?3)",
        params![id, t, data],
    )
    .unwrap();
}

fn part(c: &Connection, id: &str, m: &str, data: &str) {
    c.execute(
        "INSERT INTO part VALUES(?1, ?2, 'ses_a', 0, 0, ?3)",
        params![id, m, data],
    )
    .unwrap();
}

fn text_part(text: &str) -> String {
    format!(r#"{{"type":"text","text":"{text}","time":{{"start":1,"end":2}}}}"#)
}

/// A completed `read` call: input `{"filePath":"/x"}` (17 bytes), output of `n` bytes; its
/// `metadata` (for the screen) is not sent.
fn read_part(tag: &str, n: usize) -> String {
    format!(
        r#"{{"type":"tool","callID":"c_{tag}","tool":"read","state":{{"status":"completed","input":{{"filePath":"/x"}},"output":"{}","title":"x","metadata":{{"preview":"{}"}},"time":{{"start":1,"end":2}}}}}}"#,
        txt(tag, n),
        txt("METADATA_NOT_SENT", 5000)
    )
}

const STEP_START: &str = r#"{"type":"step-start","snapshot":"abc"}"#;
const STEP_FINISH: &str = r#"{"type":"step-finish","reason":"stop","cost":0,"tokens":{"input":1,"output":1,"reasoning":0,"cache":{"read":0,"write":0}}}"#;

/// The v1 session of the hand-checked tests, in the order OpenCode writes it: its messages
/// `from..upto` (0..7 is all of it).
///
/// - u1: text of 700 bytes (span 702).
/// - a1: total 2,100 (100 + write 2,000); reasoning 550 (span 552), text 373 (span 375), a
///   `read` call (call 4 + 2 + 17 = 23 bytes) returning 30,000 bytes (span 30,002).
/// - a2: total 12,000 (cache read 12,000); no parts of its own.
/// - u2: a `compaction` part ("What did we do so far?", 22 bytes).
/// - s: the summary, total 13,000; its text of 3,498 bytes (span 3,500).
/// - u3: text of 348 bytes (span 350).
/// - a3: total 5,000 (input 5,000).
fn v1_session(c: &Connection, from: usize, upto: usize) {
    type Step = Box<dyn Fn(&Connection)>;
    let steps: Vec<Step> = vec![
        Box::new(|c| {
            msg(c, "msg_u1", T0, &user());
            part(
                c,
                "prt_u1",
                "msg_u1",
                &text_part(&txt("PROMPT_NEEDLE_U1", 700)),
            );
        }),
        Box::new(|c| {
            msg(
                c,
                "msg_a1",
                T0 + 10,
                &asst("claude-sonnet-4-5", (100, 2000, 0), false, true),
            );
            part(c, "prt_a1_0", "msg_a1", STEP_START);
            part(
                c,
                "prt_a1_1",
                "msg_a1",
                &format!(
                    r#"{{"type":"reasoning","text":"{}","time":{{"start":1,"end":2}}}}"#,
                    txt("THINKING_NEEDLE", 550)
                ),
            );
            part(
                c,
                "prt_a1_2",
                "msg_a1",
                &text_part(&txt("ANSWER_NEEDLE_A1", 373)),
            );
            part(
                c,
                "prt_a1_3",
                "msg_a1",
                &read_part("TOOL_OUTPUT_NEEDLE", 30_000),
            );
            part(c, "prt_a1_4", "msg_a1", STEP_FINISH);
        }),
        Box::new(|c| {
            msg(
                c,
                "msg_a2",
                T0 + 20,
                &asst("claude-sonnet-4-5", (0, 0, 12_000), false, true),
            );
            part(c, "prt_a2_0", "msg_a2", STEP_START);
            part(c, "prt_a2_1", "msg_a2", STEP_FINISH);
        }),
        Box::new(|c| {
            msg(c, "msg_u2", T0 + 30, &user());
            part(
                c,
                "prt_u2",
                "msg_u2",
                r#"{"type":"compaction","auto":true}"#,
            );
        }),
        Box::new(|c| {
            msg(
                c,
                "msg_s",
                T0 + 40,
                &asst("claude-sonnet-4-5", (13_000, 0, 0), true, true),
            );
            part(
                c,
                "prt_s_1",
                "msg_s",
                &text_part(&txt("SUMMARY_NEEDLE", 3498)),
            );
        }),
        Box::new(|c| {
            msg(c, "msg_u3", T0 + 50, &user());
            part(
                c,
                "prt_u3",
                "msg_u3",
                &text_part(&txt("PROMPT_NEEDLE_U3", 348)),
            );
        }),
        Box::new(|c| {
            msg(
                c,
                "msg_a3",
                T0 + 60,
                &asst("claude-sonnet-4-5", (5000, 0, 0), false, true),
            );
        }),
    ];
    for s in &steps[from..upto] {
        s(c);
    }
}

fn parse(p: &dyn Parser, path: &Path, st: &mut FileState) -> Vec<UsageEvent> {
    let mut out = Vec::new();
    let r = p.parse_whole(path, st, &mut out).unwrap();
    assert_eq!(r.malformed, 0, "{:?}", r.first_error);
    out
}

/// key -> (input total, split), the last event of each key winning (as the store keeps it).
fn splits(evs: &[UsageEvent]) -> BTreeMap<String, (i64, Option<Composition>)> {
    evs.iter()
        .map(|e| {
            (
                e.dedup_key.clone(),
                (
                    e.tokens.prompt_total(),
                    e.ctx.as_ref().map(tokwatch::event::Ctx::composition),
                ),
            )
        })
        .collect()
}

fn split<'a>(m: &'a BTreeMap<String, (i64, Option<Composition>)>, k: &str) -> &'a Composition {
    m[k].1
        .as_ref()
        .unwrap_or_else(|| panic!("{k} has no split"))
}

fn assert_adds_up(m: &BTreeMap<String, (i64, Option<Composition>)>) {
    for (k, (total, c)) in m {
        let c = c.as_ref().unwrap_or_else(|| panic!("{k} has no split"));
        assert_eq!(c.total(), *total, "{k}");
    }
}

/// The kinds of a split, in display order.
fn kinds(c: &Composition) -> [i64; 8] {
    CtxKind::ALL.map(|k| c.of(k))
}

#[test]
fn v1_hand_checked_growth_and_compaction_drop() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("opencode.db");
    let c = db(&path);
    v1_session(&c, 0, 7);
    let m = splits(&parse(&OC, &path, &mut FileState::default()));
    assert_eq!(m.len(), 4, "{:?}", m.keys());
    assert_adds_up(&m);

    // a1 (2,100) sees u1 only: user 702 / 3.5 = 200.57 -> 201 (largest remainder), system the
    // rest, 1,899.
    assert_eq!(
        kinds(split(&m, "opencode:msg_a1")),
        [1899, 201, 0, 0, 0, 0, 0, 0]
    );
    // a2 (12,000) sees u1 and all of a1 (Claude ratios): user 702/3.5 = 200.571, assistant
    // 375/3.75 = 100, thinking 552/2.75 = 200.727, call 23/3.0 = 7.667, read 30,002/3.0 =
    // 10,000.667; sum 10,509.632, system 1,490.368. Floors 1,490 + 200 + 100 + 200 + 7 +
    // 10,000 = 11,997; the 3 left go to the largest remainders (thinking .727, call .667,
    // read .667).
    let a2 = split(&m, "opencode:msg_a2");
    assert_eq!(kinds(a2), [1490, 200, 100, 201, 8, 10_001, 0, 0]);
    assert_eq!(tool_result(a2, "read"), 10_001);
    // Growth: the request after the 30 KB tool result carries it.
    assert_eq!(
        tool_result(a2, "read") - tool_result(split(&m, "opencode:msg_a1"), "read"),
        10_001
    );
    // The summary's own request (13,000) still sees everything, plus the compaction question
    // (22 bytes): user 724 / 3.5 = 206.857, system 2,484.08; floors leave 3 tokens, to user
    // (.857), thinking (.727) and the call (.667 by a hair over read's .667).
    let s = split(&m, "opencode:msg_s");
    assert_eq!(kinds(s), [2484, 207, 100, 201, 8, 10_000, 0, 0]);
    // a3 (5,000) after the finished summary: only u2 (22), the summary (3,500 / 3.5 = 1,000)
    // and u3 (350): user 372 / 3.5 = 106.29 -> 106, system 3,894.
    let a3 = split(&m, "opencode:msg_a3");
    assert_eq!(kinds(a3), [3894, 106, 0, 0, 0, 0, 0, 1000]);
    assert_eq!(tool_result(a3, "read"), 0, "the tool result dropped out");
}

#[test]
fn v1_incremental_reads_equal_a_whole_read() {
    let d = tempfile::tempdir().unwrap();
    let whole_path = d.path().join("whole.db");
    v1_session(&db(&whole_path), 0, 7);
    let whole = splits(&parse(&OC, &whole_path, &mut FileState::default()));

    // The same rows appended between reads; once with the in-memory state kept, once with it
    // lost after every read (a restart: the state comes back from its JSON checkpoint).
    for restart in [false, true] {
        let path = d.path().join(format!("inc-{restart}.db"));
        let c = db(&path);
        let mut st = FileState::default();
        let mut seen = Vec::new();
        for upto in 1..=7 {
            v1_session(&c, upto - 1, upto);
            if restart {
                st = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
            }
            seen.extend(parse(&OC, &path, &mut st));
        }
        assert_eq!(splits(&seen), whole, "restart between reads: {restart}");
    }
}

#[test]
fn v1_summed_steps_count_every_call_and_gpt_models_use_codex_ratios() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("opencode.db");
    let c = db(&path);
    msg(&c, "msg_u1", T0, &user());
    part(&c, "prt_u1", "msg_u1", &text_part(&txt("PROMPT", 348))); // span 350
                                                                   // Zero message tokens: the two step-finish parts are summed, and so is each call's
                                                                   // context.
    let a = asst("gpt-5", (0, 0, 0), false, true)
        .replace(r#""providerID":"anthropic""#, r#""providerID":"openai""#)
        .replace(r#""output":10"#, r#""output":0"#);
    msg(&c, "msg_a", T0 + 10, &a);
    let fin = |i: i64| {
        format!(
            r#"{{"type":"step-finish","reason":"stop","cost":0,"tokens":{{"input":{i},"output":1,"reasoning":0,"cache":{{"read":0,"write":0}}}}}}"#
        )
    };
    part(&c, "p0", "msg_a", STEP_START);
    part(&c, "p1", "msg_a", &text_part(&txt("STEP1", 423))); // span 425
    part(&c, "p2", "msg_a", &fin(1000));
    part(&c, "p3", "msg_a", STEP_START);
    part(&c, "p4", "msg_a", &fin(1000));
    let m = splits(&parse(&OC, &path, &mut FileState::default()));
    assert_adds_up(&m);
    // Total 2,000 = two calls of 1,000. Codex ratios (gpt): user 3.5, assistant 4.25 bytes per
    // token. Call 1 saw u1 (350 / 3.5 = 100 user); call 2 saw u1 and its step's text (425 /
    // 4.25 = 100 assistant): user 200, assistant 100, system 1,700.
    assert_eq!(
        kinds(split(&m, "opencode:msg_a")),
        [1700, 200, 100, 0, 0, 0, 0, 0]
    );
}

// ---- v2: session_message rows with their content inline -------------------------------------

fn v2(c: &Connection, id: &str, ty: &str, seq: i64, data: &str) {
    c.execute(
        "INSERT INTO session_message VALUES(?1, 'ses_a', ?2, ?3, ?4, ?4, ?5)",
        params![id, ty, seq, T0 + seq, data],
    )
    .unwrap();
}

fn v2_asst(content: &str, tok: (i64, i64, i64)) -> String {
    let (i, w, r) = tok;
    format!(
        r#"{{"time":{{"created":1,"completed":2}},"model":{{"id":"claude-opus-4-7","providerID":"anthropic"}},"content":[{content}],"cost":0,"tokens":{{"input":{i},"output":5,"reasoning":0,"cache":{{"read":{r},"write":{w}}}}}}}"#
    )
}

/// A v2 session: user text 348 (span 350); a1 (1,000) answers with text 373 (span 375) and a
/// `read` tool (input 17 bytes, `content` of 30,000 bytes in a text item); a2 (12,000); a
/// completed compaction (summary 1,748 + recent 1,748 bytes: spans 3,500); user 348; a3
/// (5,000).
fn v2_session(c: &Connection, from: usize, upto: usize) {
    let rows: Vec<(&str, &str, String)> = vec![
        (
            "m1",
            "user",
            format!(
                r#"{{"text":"{}","files":[]}}"#,
                txt("PROMPT_NEEDLE_V2", 348)
            ),
        ),
        (
            "m2",
            "assistant",
            v2_asst(
                &format!(
                    r#"{{"type":"text","text":"{}"}},{{"type":"tool","id":"c1","name":"read","input":{{"filePath":"/x"}},"executed":false,"state":{{"status":"completed","input":{{"filePath":"/x"}},"content":"{}"}}}}"#,
                    txt("ANSWER_V2", 373),
                    txt("TOOL_V2", 30_000 - 2)
                ),
                (1000, 0, 0),
            ),
        ),
        ("m3", "assistant", v2_asst("", (0, 0, 12_000))),
        (
            "m4",
            "compaction",
            format!(
                r#"{{"status":"completed","summary":"{}","recent":"{}"}}"#,
                txt("SUM_V2", 1748),
                txt("RECENT_V2", 1748)
            ),
        ),
        (
            "m5",
            "user",
            format!(r#"{{"text":"{}"}}"#, txt("PROMPT2_V2", 348)),
        ),
        ("m6", "assistant", v2_asst("", (5000, 0, 0))),
    ];
    for (i, (id, ty, data)) in rows.iter().enumerate().take(upto).skip(from) {
        v2(c, id, ty, i as i64 + 1, data);
    }
}

#[test]
fn v2_rows_growth_compaction_and_incremental() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("opencode.db");
    let c = db(&path);
    v2_session(&c, 0, 6);
    let m = splits(&parse(&OC, &path, &mut FileState::default()));
    assert_eq!(m.len(), 3);
    assert_adds_up(&m);
    // m2 (1,000): user 350 / 3.5 = 100.
    assert_eq!(
        kinds(split(&m, "opencode:m2")),
        [900, 100, 0, 0, 0, 0, 0, 0]
    );
    // m3 (12,000): + assistant 375 / 3.75 = 100, call 4 + 2 + 17 = 23 / 3 = 7.67, read
    // 30,000 / 3 = 10,000: system 1,792.33 -> floors 1,792 + 100 + 100 + 7 + 10,000 = 11,999,
    // the last token to the call (.67).
    let m3 = split(&m, "opencode:m3");
    assert_eq!(kinds(m3), [1792, 100, 100, 0, 8, 10_000, 0, 0]);
    // m6 (5,000): history from the compaction row on: summary and recent, two spans of 1,750:
    // 3,500 / 3.5 = 1,000; user 350 / 3.5 = 100; the tool result is gone.
    let m6 = split(&m, "opencode:m6");
    assert_eq!(kinds(m6), [3900, 100, 0, 0, 0, 0, 0, 1000]);

    // Rows appended between reads (state kept, and state lost) give the same splits.
    for restart in [false, true] {
        let p2 = d.path().join(format!("inc-{restart}.db"));
        let c2 = db(&p2);
        let mut st = FileState::default();
        let mut seen = Vec::new();
        for upto in 1..=6 {
            v2_session(&c2, upto - 1, upto);
            if restart {
                st = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
            }
            seen.extend(parse(&OC, &p2, &mut st));
        }
        assert_eq!(splits(&seen), m, "restart between reads: {restart}");
    }
}

// ---- legacy JSON storage ---------------------------------------------------------------------

#[test]
fn legacy_json_storage_splits_like_the_database() {
    let d = tempfile::tempdir().unwrap();
    // The v1 session, as the database holds it ...
    let path = d.path().join("opencode.db");
    let c = db(&path);
    v1_session(&c, 0, 7);
    let from_db = splits(&parse(&OC, &path, &mut FileState::default()));
    // ... written out as legacy storage files (message JSON with id and sessionID, time.created
    // as the row's; part files named by part id).
    let storage = d.path().join("storage");
    let mut st = c
        .prepare("SELECT id, time_created, data FROM message ORDER BY rowid")
        .unwrap();
    let msgs: Vec<(String, i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut files = Vec::new();
    for (id, t, data) in &msgs {
        let mut v: serde_json::Value = serde_json::from_str(data).unwrap();
        v["id"] = id.clone().into();
        v["sessionID"] = "ses_a".into();
        v["time"]["created"] = (*t).into();
        let dir = storage.join("message/ses_a");
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("{id}.json"));
        std::fs::write(&f, v.to_string()).unwrap();
        files.push(f);
        let mut ps = c
            .prepare("SELECT id, data FROM part WHERE message_id = ?1")
            .unwrap();
        let parts: Vec<(String, String)> = ps
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (pid, pd) in parts {
            let pdir = storage.join("part").join(id);
            std::fs::create_dir_all(&pdir).unwrap();
            let mut v: serde_json::Value = serde_json::from_str(&pd).unwrap();
            v["id"] = pid.clone().into();
            v["messageID"] = id.clone().into();
            std::fs::write(pdir.join(format!("{pid}.json")), v.to_string()).unwrap();
        }
    }
    let leg = OpenCodeLegacy {
        flavor: Flavor::OpenCode,
    };
    let mut evs = Vec::new();
    for f in &files {
        evs.extend(parse(&leg, f, &mut FileState::default()));
    }
    let from_json = splits(&evs);
    assert_eq!(from_json, from_db);
    assert_eq!(
        kinds(split(&from_json, "opencode:msg_a3")),
        [3894, 106, 0, 0, 0, 0, 0, 1000]
    );
}

// ---- end to end: stored splits are numbers only ----------------------------------------------

#[test]
fn stored_splits_hold_numbers_and_tool_names_only() {
    let h = Home::new();
    let data = h.home().join(".local/share/opencode");
    std::fs::create_dir_all(&data).unwrap();
    let c = db(&data.join("opencode.db"));
    v1_session(&c, 0, 7);
    drop(c);
    h.scan();
    let store = sql(&h.db());
    let mut st = store
        .prepare("SELECT ctx FROM events WHERE tool = 'opencode' AND ctx IS NOT NULL")
        .unwrap();
    let ctx: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ctx.len(), 4, "every request has its split");
    let item = regex::Regex::new(r"^(?:[suakcim]|r(?:\.[A-Za-z0-9_ -]+)?)=[0-9]+$").unwrap();
    for v in &ctx {
        for p in v.split(';') {
            assert!(item.is_match(p), "not a number of a kind: {p:?}");
        }
    }
    let mut bytes = std::fs::read(h.db()).unwrap();
    if let Ok(w) = std::fs::read(h.db().with_extension("db-wal")) {
        bytes.extend(w);
    }
    for needle in [
        "PROMPT_NEEDLE",
        "THINKING_NEEDLE",
        "ANSWER_NEEDLE",
        "TOOL_OUTPUT_NEEDLE",
        "SUMMARY_NEEDLE",
        "METADATA_NOT_SENT",
        "filePath",
    ] {
        assert!(
            memchr::memmem::find(&bytes, needle.as_bytes()).is_none(),
            "{needle} reached the database"
        );
    }
}
