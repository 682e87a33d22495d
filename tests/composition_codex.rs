//! Context composition of Codex requests (issue 14, `docs/composition.md`, Codex section): per
//! counted `token_count` event, estimated tokens per kind of content that add up to the
//! request's exact input total, following the rollout's `response_item` history.
//!
//! Sizes are checked on `fixtures/codex-ctx` (built from the documented schema with text of
//! known lengths, not a real log: its PROVENANCE.md); the real samples in `fixtures/codex` are
//! redacted (their text lengths are not the log's), so on them only the sums and the
//! compaction's drop are checked.

mod util;
use tokwatch::event::{Composition, CtxKind};
use util::*;

const SID: &str = "019c9000-0000-7000-8000-00000000c0de";
const ROLLOUT: &str =
    "sessions/2026/03/01/rollout-2026-03-01T10-00-00-019c9000-0000-7000-8000-00000000c0de.jsonl";

/// A stored request: session, time, input total, split.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    session: String,
    ts: i64,
    total: i64,
    ctx: Option<String>,
}

impl Row {
    fn split(&self) -> Composition {
        Composition::decode(self.ctx.as_deref().expect("a split")).expect("a valid split")
    }
    fn tool(&self, name: &str) -> i64 {
        tool_result(&self.split(), name)
    }
}

fn rows(h: &Home) -> Vec<Row> {
    let c = sql(&h.db());
    let mut st = c
        .prepare(
            "SELECT session, ts, input + cw5 + cw1h + cr, ctx FROM events
             WHERE tool = 'codex' ORDER BY session, ts, key_hash",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(Row {
            session: r.get(0)?,
            ts: r.get(1)?,
            total: r.get(2)?,
            ctx: r.get(3)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn fixture() -> Vec<u8> {
    std::fs::read(fixtures().join("codex-ctx").join(ROLLOUT)).unwrap()
}

fn with_rollout(bytes: &[u8]) -> Home {
    let h = Home::new();
    let p = h
        .codex_sessions()
        .join(ROLLOUT.trim_start_matches("sessions/"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    h
}

#[test]
fn every_real_split_adds_up_and_the_compaction_drops_the_history() {
    let h = Home::new();
    copy_tree(&fixtures().join("codex/sessions"), &h.codex_sessions());
    h.scan();
    let rs = rows(&h);
    // Every counted request of the six rollouts (fixtures/EXPECTED.md: 485 with tokens).
    assert_eq!(rs.len(), 485);
    for r in &rs {
        assert_eq!(r.split().total(), r.total, "{r:?}");
    }
    // 019c8a59 holds the samples' compaction (a `compacted` line with replacement_history):
    // the input falls from 209,950 to 48,297 tokens; the request after it has the summary and
    // none of the tool results, which the replacement history does not keep.
    let s: Vec<&Row> = rs
        .iter()
        .filter(|r| r.session.starts_with("019c8a59"))
        .collect();
    let i = s
        .windows(2)
        .position(|w| w[0].total == 209_950 && w[1].total == 48_297)
        .expect("the compaction's drop");
    let (before, after) = (s[i].split(), s[i + 1].split());
    assert!(before.of(CtxKind::ToolResult) > 5_000, "{before:?}");
    assert_eq!(after.of(CtxKind::ToolResult), 0, "{after:?}");
    assert_eq!(before.of(CtxKind::Summary), 0);
    assert!(after.of(CtxKind::Summary) > 0, "{after:?}");
    // The kept user messages carry their four images (1,750 tokens each).
    assert_eq!(after.of(CtxKind::Image), 7_000);
}

/// Hand-checked on `fixtures/codex-ctx` (spans printed by its `make.py`; CODEX ratios in bytes
/// per token: system 2.5, user 3.5, assistant 4.25, thinking 14, tool call 4.0, tool result
/// 3.75, summary 3.5, an image 1,750 tokens). Every estimate below stays under the request's
/// total, so nothing is scaled: each part is its bytes / ratio, rounded by largest remainders,
/// and the system part is the rest.
#[test]
fn the_split_follows_the_history_as_codex_builds_it() {
    let h = with_rollout(&fixture());
    h.scan();
    let rs = rows(&h);
    assert_eq!(
        rs.len(),
        4,
        "the re-emitted token_count is not counted: {rs:?}"
    );
    let c: Vec<Composition> = rs.iter().map(Row::split).collect();
    for (r, c) in rs.iter().zip(&c) {
        assert_eq!(c.total(), r.total);
        assert!(r.ctx.as_deref().unwrap().starts_with("s="), "{r:?}");
    }
    // Request 1 (12,000): the developer message (2,081 bytes) and the user's (776 bytes / 3.5
    // = 221.7 -> 222); its own reasoning and call are its output, not its input.
    assert_eq!(rs[0].total, 12_000);
    assert_eq!(c[0].of(CtxKind::User), 222);
    assert_eq!(c[0].of(CtxKind::System), 11_778);
    assert_eq!(c[0].of(CtxKind::Thinking) + c[0].of(CtxKind::ToolCall), 0);
    // Request 2 (16,300): + the exec_command output, 15,062 bytes / 3.75 = 4,016.5 tokens. The
    // input grew by 4,300 = request 1's output (300) + 4,000: the estimate is within 0.5 %.
    // Within the tool loop the reasoning stays: 3,004 bytes / 14 = 214.6; the call 105 / 4.
    assert_eq!(rs[1].total - rs[0].total, 4_300);
    assert_eq!(rs[1].tool("exec_command"), 4_016);
    assert_eq!(c[1].of(CtxKind::Thinking), 215);
    assert_eq!(c[1].of(CtxKind::ToolCall), 26);
    // Request 3 (19,000): a new user message drops all reasoning; it brings 427 bytes of text
    // (its span 20,486 minus the 20,059-byte image block: 122 tokens, 344 with the first
    // message) and one image; request 2's answer is 1,805 / 4.25 = 424.7.
    assert_eq!(c[2].of(CtxKind::Thinking), 0);
    assert_eq!(c[2].of(CtxKind::User), 344);
    assert_eq!(c[2].of(CtxKind::Image), 1_750);
    assert_eq!(c[2].of(CtxKind::Assistant), 425);
    assert_eq!(rs[2].tool("exec_command"), 4_016);
    // Request 4 (14,500), after the compaction: only the replacement history, the kept user
    // message (222) and the compaction item (7,044 bytes / 3.5 = 2,012.6) as the summary.
    assert!(rs[3].total < rs[2].total);
    assert_eq!(c[3].of(CtxKind::User), 222);
    assert_eq!(c[3].of(CtxKind::Summary), 2_012);
    for k in [
        CtxKind::Assistant,
        CtxKind::Thinking,
        CtxKind::ToolCall,
        CtxKind::ToolResult,
        CtxKind::Image,
    ] {
        assert_eq!(c[3].of(k), 0, "{k:?} after the compaction: {:?}", c[3]);
    }
}

/// A fork's rollout replays its parent's (session_meta included, times rewritten to the fork's
/// start) before its own work: the replayed events are the parent's requests (their splits
/// stay the parent's), and the fork's own request sees the whole replayed history.
#[test]
fn a_fork_replays_the_history_and_its_own_request_sees_it() {
    const FORK: &str = "019c9100-0000-7000-8000-00000000f00c";
    let parent = fixture();
    let text = String::from_utf8(parent.clone()).unwrap();
    let mut fork = format!(
        r#"{{"timestamp":"2026-03-02T09:00:00.000Z","type":"session_meta","payload":{{"id":"{FORK}","forked_from_id":"{SID}","cwd":"/home/user/project","source":"cli","git":{{"branch":"main"}}}}}}"#
    );
    fork.push('\n');
    for (i, l) in text.lines().enumerate() {
        let rest = &l[l.find(r#","type""#).unwrap()..];
        fork.push_str(&format!(
            r#"{{"timestamp":"2026-03-02T09:00:00.{:03}Z"{rest}"#,
            i * 10
        ));
        fork.push('\n');
    }
    // The fork's own turn: a user message of 350 bytes of text (its span 426), a reasoning
    // item, a call; the running total moves on from the parent's last one.
    fork.push_str(r#"{"timestamp":"2026-03-02T09:00:05.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":""#);
    fork.push_str(&"w".repeat(350));
    fork.push_str("\"}]}}\n");
    fork.push_str(r#"{"timestamp":"2026-03-02T09:00:06.000Z","type":"response_item","payload":{"type":"reasoning","summary":[],"content":null,"encrypted_content":"EEEE"}}"#);
    fork.push('\n');
    fork.push_str(r#"{"timestamp":"2026-03-02T09:00:07.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":77800,"cached_input_tokens":28032,"output_tokens":1550,"reasoning_output_tokens":400,"total_tokens":79350},"last_token_usage":{"input_tokens":16000,"cached_input_tokens":0,"output_tokens":100,"reasoning_output_tokens":50,"total_tokens":16100},"model_context_window":258400},"rate_limits":null}}"#);
    fork.push('\n');
    let fork_path = |h: &Home| {
        h.codex_sessions().join(format!(
            "2026/03/02/rollout-2026-03-02T09-00-00-{FORK}.jsonl"
        ))
    };
    let write_fork = |h: &Home| {
        let p = fork_path(h);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &fork).unwrap();
    };

    let alone = with_rollout(&parent);
    alone.scan();
    let parent_rows = rows(&alone);

    let both = with_rollout(&parent);
    write_fork(&both);
    both.scan();
    let rs = rows(&both);
    // The parent's four requests, as the parent alone stores them, and the fork's own.
    assert_eq!(rs.len(), 5, "{rs:?}");
    let (mine, theirs): (Vec<Row>, Vec<Row>) = rs.into_iter().partition(|r| r.session == FORK);
    assert_eq!(theirs, parent_rows);
    assert_eq!(mine.len(), 1);
    let own = &mine[0];
    assert_eq!(own.total, 16_000);
    let c = own.split();
    assert_eq!(c.total(), 16_000);
    // The replayed history after the parent's compaction: its kept user message (222) and
    // summary (2,012), the parent's last answer (507 bytes / 4.25 = 119.3); the new user
    // message (426 / 3.5 = 121.7) dropped the parent's last reasoning.
    // (Rounded up or down by the largest remainders.)
    let near = |k: CtxKind, x: f64| assert!((c.of(k) as f64 - x).abs() < 1.0, "{k:?}: {c:?}");
    near(CtxKind::Summary, 7_044.0 / 3.5);
    near(CtxKind::User, 776.0 / 3.5 + 426.0 / 3.5);
    near(CtxKind::Assistant, 507.0 / 4.25);
    assert_eq!(c.of(CtxKind::Thinking), 0);

    // The fork alone (its parent's rollout gone): the replayed copies are counted once, under
    // the fork, with the splits the parent's own records have.
    let orphan = Home::new();
    write_fork(&orphan);
    orphan.scan();
    let rs = rows(&orphan);
    assert_eq!(rs.len(), 5);
    let splits = |v: &[Row]| v.iter().map(|r| r.ctx.clone()).collect::<Vec<_>>();
    assert_eq!(splits(&rs[..4]), splits(&parent_rows));
}

/// A read that resumes in a new process (no history in memory) rebuilds it from the file's
/// start: the splits are the same as when the file is read in one go.
#[test]
fn a_resumed_read_splits_like_a_whole_read() {
    let src = fixture();
    let whole = with_rollout(&src);
    whole.scan();
    // Cut after request 2's token_count (line 14): requests 3 and 4 are read on resuming.
    let mut cut = 0;
    for _ in 0..14 {
        cut += memchr::memchr(b'\n', &src[cut..]).unwrap() + 1;
    }
    let h = with_rollout(&src[..cut]);
    h.scan();
    assert_eq!(rows(&h).len(), 2);
    std::fs::write(
        h.codex_sessions()
            .join(ROLLOUT.trim_start_matches("sessions/")),
        &src,
    )
    .unwrap();
    h.scan();
    assert_eq!(rows(&h), rows(&whole));
}
