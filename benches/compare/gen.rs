//! Corpus generator for the side-by-side benchmark (`benches/compare/compare.py`).
//!
//!     cargo run --release --example compare-gen -- --shape claude-dense --mb 200 --out DIR
//!
//! Writes `DIR/home/.claude/projects/...` or `DIR/home/.codex/sessions/...`, then
//! `DIR/truth.json` (what a correct reader counts, per UTC day and model: the generator knows
//! every request it wrote) and last `DIR/done` (so an interrupted run is regenerated).
//!
//! Shapes (all content synthetic filler, never real text; formats per log-formats.md):
//! - `claude-dense`: many requests per MB (short prompts, tool results and blocks), ~1 MB files.
//! - `claude-content`: long tool results and text, few requests per MB.
//! - `codex`: rollouts with `token_count` re-emits and rate-limit heartbeats (`info: null`),
//!   and forks that replay (a prefix of) their parent's rollout, nested forks included.
//!
//! Claude Code sessions carry what a reader has to get right: one assistant line per content
//! block with a copy of the usage snapshot (only the last carries the final output count, and
//! its `cache_creation` keys come in the other order), resumed sessions that start with a
//! verbatim copy of an earlier session, sub-agent files (`<session>/subagents/agent-*.jsonl`,
//! `isSidechain: true`, own message ids, another model) whose requests are also embedded in the
//! parent's `agent_progress` lines, `<synthetic>` API-error lines, hook `progress` lines, and
//! 5-minute or 1-hour cache writes chosen per session; message and request ids have the real
//! ones' length (28 characters) and look as random. Every request's lines fall on one UTC day
//! and every prompt stays under 200k tokens (no long-context price tier), so per-day/per-model
//! totals have one right answer.
//!
//! Deterministic for a given shape, size and seed: `--threads` (default 2) workers write
//! disjoint file sets, each from its own seed.

#[path = "../gen.rs"]
mod gen;

use gen::Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// An id in Claude Code's shape, 28 characters like the real ones (`msg_01` and 22 base62
/// characters, `req_011C` and 20): the first characters after `prefix` a hash (so an index on
/// them is as random as on real ids), the last 12 (worker, number, request, kind) in fixed-width
/// base62, so that no two are equal.
fn claude_id(prefix: &str, w: u64, n: u64, r: u64, kind: u64) -> String {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const LEN: usize = 28;
    let mut s = String::with_capacity(LEN);
    s.push_str(prefix);
    let mut h = (w << 58 ^ n << 24 ^ r << 2 ^ kind).wrapping_add(0x9E37_79B9_7F4A_7C15);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    while s.len() < LEN - 12 {
        s.push(B62[(h % 62) as usize] as char);
        h /= 62;
    }
    let mut fixed = |v: u64, width: u32| {
        assert!(v < 62u64.pow(width), "id part {v} too large");
        for k in (0..width).rev() {
            s.push(B62[(v / 62u64.pow(k) % 62) as usize] as char);
        }
    };
    fixed(w, 1);
    fixed(n, 5);
    fixed(r, 5);
    fixed(kind, 1);
    s
}

/// First day of the corpus (2026-11-16T00:00:00Z) and how many days it spans.
const BASE_MS: i64 = 1_794_787_200_000;
const DAYS: u64 = 14;
const DAY_MS: i64 = 86_400_000;

const CLAUDE_MODELS: &[(&str, u64)] = &[
    ("claude-opus-4-6", 55),
    ("claude-sonnet-4-5-20250929", 30),
    ("claude-haiku-4-5-20251001", 15),
];
const SUBAGENT_MODEL: &str = "claude-haiku-4-5-20251001";
const CODEX_MODELS: &[(&str, u64)] = &[
    ("gpt-5.3-codex", 60),
    ("gpt-5.2-codex", 25),
    ("gpt-5.1-codex-mini", 15),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    ClaudeDense,
    ClaudeContent,
    Codex,
}

/// Totals per (day index, model) that a correct reader reports.
#[derive(Default, Clone, Copy)]
struct Cell {
    requests: u64,
    input: u64,
    output: u64,
    reasoning: u64,
    cache_read: u64,
    cache_write_5m: u64,
    cache_write_1h: u64,
}

#[derive(Default)]
struct Truth {
    cells: BTreeMap<(i64, String), Cell>,
    bytes: u64,
    files: u64,
    lines: u64,
    /// Lines with a usage record (Claude assistant lines, copies included; Codex token_count
    /// events with info, re-emits and replays included).
    usage_lines: u64,
}

impl Truth {
    fn add(&mut self, ts_ms: i64, model: &str, c: Cell) {
        let e = self
            .cells
            .entry((ts_ms.div_euclid(DAY_MS), model.to_string()))
            .or_default();
        e.requests += c.requests;
        e.input += c.input;
        e.output += c.output;
        e.reasoning += c.reasoning;
        e.cache_read += c.cache_read;
        e.cache_write_5m += c.cache_write_5m;
        e.cache_write_1h += c.cache_write_1h;
    }
    fn merge(&mut self, o: Truth) {
        for ((d, m), c) in o.cells {
            self.add(d * DAY_MS, &m, c);
        }
        self.bytes += o.bytes;
        self.files += o.files;
        self.lines += o.lines;
        self.usage_lines += o.usage_lines;
    }
}

/// Filler: JSON-escaped synthetic words (escapes, braces, non-ASCII), sliced at word starts so a
/// slice never splits an escape or a UTF-8 sequence.
struct Filler {
    text: String,
    starts: Vec<usize>,
    b64: String,
}

const WORDS: &[&str] = &[
    "the",
    "function",
    "returns",
    "error",
    "when",
    "file",
    "is",
    "missing",
    "let",
    "fix",
    "test",
    "value",
    "struct",
    "impl",
    "async",
    "await",
    "config",
    "path",
    "branch",
    "commit",
    "\\\"quoted\\\"",
    "line\\n",
    "tab\\t",
    "{",
    "}",
    "=>",
    "Ok(())",
    "unwrap()",
    "ß",
    "→",
    "src/lib.rs:42",
    "0x7f",
    "//",
    "fn",
    "match",
    "Some(x)",
    "None",
    "vec![]",
    "#[derive(Debug)]",
    "pub",
    "mod",
    "use",
    "self",
    "&mut",
    "->",
    "<T>",
    "42",
    "3.14",
    "\\\\path",
    "é",
    "日本",
    "✓",
];

impl Filler {
    fn new(seed: u64) -> Filler {
        let mut rng = Rng(seed | 1);
        let mut text = String::with_capacity(8 << 20);
        let mut starts = Vec::with_capacity(1 << 20);
        while text.len() < (8 << 20) {
            starts.push(text.len());
            text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            text.push(' ');
        }
        starts.push(text.len());
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b64: String = (0..(1 << 20))
            .map(|_| B64[rng.below(64) as usize] as char)
            .collect();
        Filler { text, starts, b64 }
    }
    /// About `n` bytes of escaped text (at least one word).
    fn text(&self, rng: &mut Rng, n: usize) -> &str {
        let n = n.min(self.text.len() / 2);
        let last = self.starts.len() - 1;
        let limit = self.starts.partition_point(|&s| s + n < self.text.len()) - 1;
        let i = rng.below(limit.max(1) as u64) as usize;
        let a = self.starts[i];
        let j = self.starts[i..].partition_point(|&s| s < a + n.max(1)) + i;
        let b = self.starts[j.min(last)];
        self.text[a..b].trim_end()
    }
    fn b64(&self, rng: &mut Rng, n: usize) -> &str {
        let n = n.min(self.b64.len());
        let a = rng.below((self.b64.len() - n + 1) as u64) as usize;
        &self.b64[a..a + n]
    }
}

/// `2026-11-16T10:00:00.000Z`.
fn ts(out: &mut String, ms: i64) {
    let days = ms.div_euclid(DAY_MS);
    let r = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        r / 3_600_000,
        r / 60_000 % 60,
        r / 1000 % 60,
        r % 1000
    );
}

fn ts_string(ms: i64) -> String {
    let mut s = String::new();
    ts(&mut s, ms);
    s
}

fn day_string(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn pick<'a>(rng: &mut Rng, table: &[(&'a str, u64)]) -> &'a str {
    let total: u64 = table.iter().map(|t| t.1).sum();
    let mut x = rng.below(total);
    for (m, w) in table {
        if x < *w {
            return m;
        }
        x -= w;
    }
    table[0].0
}

/// A uuid-shaped id, unique per (worker, serial).
fn uuid(w: u64, serial: u64) -> String {
    let h = serial.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        serial as u32,
        w,
        (h >> 52) & 0xfff,
        (h >> 40) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// Sizes of the variable parts of a Claude Code request.
struct ClaudeScale {
    requests: (u64, u64),
    gap_ms: (u64, u64),
    user: (usize, usize),
    block: (usize, usize),
}

fn range(rng: &mut Rng, r: (usize, usize)) -> usize {
    r.0 + rng.below((r.1 - r.0) as u64 + 1) as usize
}

struct Worker<'f> {
    id: u64,
    rng: Rng,
    filler: &'f Filler,
    home: PathBuf,
    truth: Truth,
    serial: u64,
    uids: u64,
    line: String,
    codex: bool,
}

impl Worker<'_> {
    fn uid(&mut self) -> String {
        self.uids += 1;
        uuid(self.id, self.uids)
    }

    fn next_id(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn write_file(&mut self, path: &Path, content: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(content).unwrap();
        self.truth.bytes += content.len() as u64;
        self.truth.files += 1;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', content) {
            let line = &content[start..end];
            start = end + 1;
            self.truth.lines += 1;
            // Lines a reader takes usage from: Claude Code assistant records (their tail is
            // `"type":"assistant","uuid":"…","timestamp":"…"}`; agent_progress copies and
            // <synthetic> lines end otherwise), Codex token_count events with info.
            let hit = if self.codex {
                memchr::memmem::find(line, br#""type":"token_count","info":{"#).is_some()
            } else {
                memchr::memmem::find(
                    &line[line.len().saturating_sub(110)..],
                    br#""type":"assistant","uuid":""#,
                )
                .is_some()
            };
            self.truth.usage_lines += hit as u64;
        }
    }

    /// One Claude Code session file (plus its sub-agent files); returns its content so the next
    /// session can resume it.
    fn claude_session(&mut self, sc: &ClaudeScale, resume_of: Option<&[u8]>) -> Vec<u8> {
        let n = self.next_id();
        let w = self.id;
        let sid = self.uid();
        let repo = self.rng.below(40);
        let project = self
            .home
            .join(format!(".claude/projects/-home-dev-projects-repo{repo}"));
        let cwd = format!("/home/dev/projects/repo{repo}");
        let model = pick(&mut self.rng, CLAUDE_MODELS);
        let one_hour = self.rng.below(2) == 0;
        let day = self.rng.below(DAYS) as i64;
        let mut t = BASE_MS + day * DAY_MS + self.rng.below(19 * 3_600_000) as i64;
        let requests = sc.requests.0 + self.rng.below(sc.requests.1 - sc.requests.0 + 1);
        let mut out: Vec<u8> = Vec::with_capacity(4 << 20);
        if let Some(prev) = resume_of {
            out.extend_from_slice(prev); // copied history: same ids, counted once
        }
        let mut parent = format!("{sid}-root");
        let filler = self.filler;
        for r in 0..requests {
            t += (sc.gap_ms.0 + self.rng.below(sc.gap_ms.1 - sc.gap_ms.0)) as i64;
            let uuid_u = self.uid();
            // The user line: a prompt or a tool result.
            let user_len = range(&mut self.rng, sc.user);
            let body = filler.text(&mut self.rng, user_len);
            let l = &mut self.line;
            l.clear();
            let _ = write!(
                l,
                r#"{{"parentUuid":"{parent}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{sid}","version":"2.1.39","gitBranch":"main","type":"user","message":{{"role":"user","content":"#
            );
            if r % 3 == 0 {
                let _ = write!(l, r#""{body}"}}"#);
            } else {
                let _ = write!(
                    l,
                    r#"[{{"tool_use_id":"toolu_{w}_{n}_{r}","type":"tool_result","content":"{body}"}}]}}"#
                );
            }
            let _ = write!(l, r#","uuid":"{uuid_u}","timestamp":""#);
            ts(l, t);
            l.push_str("\"}\n");
            out.extend_from_slice(l.as_bytes());
            parent = uuid_u;
            if self.rng.below(4) == 0 {
                let cmd = filler.text(&mut self.rng, 40);
                let g = self.uid();
                let l = &mut self.line;
                l.clear();
                let _ = write!(
                    l,
                    r#"{{"parentUuid":"{parent}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{sid}","version":"2.1.39","gitBranch":"main","type":"progress","data":{{"type":"hook_progress","hookEvent":"PostToolUse","hookName":"PostToolUse:Bash","command":"{cmd}"}},"parentToolUseID":"toolu_{w}_{n}_{r}","toolUseID":"toolu_{w}_{n}_{r}","uuid":"{g}","timestamp":""#
                );
                ts(l, t + 1);
                l.push_str("\"}\n");
                out.extend_from_slice(l.as_bytes());
            }
            // Now and then the client writes an API error: zero usage, skipped by a reader.
            if self.rng.below(150) == 0 {
                let (u1, u2) = (self.uid(), self.uid());
                let l = &mut self.line;
                l.clear();
                let _ = write!(
                    l,
                    r#"{{"parentUuid":"{parent}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{sid}","version":"2.1.39","gitBranch":"main","type":"assistant","uuid":"{u1}","timestamp":""#
                );
                ts(l, t + 2);
                let _ = write!(
                    l,
                    r#"","message":{{"id":"{u2}","container":null,"model":"<synthetic>","role":"assistant","stop_reason":"stop_sequence","stop_sequence":"","type":"message","usage":{{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"server_tool_use":{{"web_search_requests":0,"web_fetch_requests":0}},"service_tier":null,"cache_creation":{{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}}}},"content":[{{"type":"text","text":"API Error: Request timed out. Retrying."}}]}},"isApiErrorMessage":true}}"#
                );
                l.push('\n');
                out.extend_from_slice(l.as_bytes());
                t += 3;
            }
            // A sub-agent (Task tool) now and then: its own file, and its requests embedded in
            // this file's agent_progress lines.
            if self.rng.below(600) == 0 {
                let agent = format!("a{:06x}", (n * 131 + r) & 0xff_ffff);
                let (sub_file, embeds) = self.claude_subagent(&sid, &cwd, &agent, t + 5, one_hour);
                let p = project.join(&sid).join("subagents");
                self.write_file(&p.join(format!("agent-{agent}.jsonl")), &sub_file);
                out.extend_from_slice(&embeds);
                t += 60_000;
            }
            let msg = claude_id("msg_01", w, n, r, 0);
            let req = claude_id("req_011C", w, n, r, 0);
            self.claude_request(
                &mut out,
                ClaudeReq {
                    parent: &parent,
                    cwd: &cwd,
                    sid: &sid,
                    model,
                    msg: &msg,
                    req: &req,
                    t: t + 10,
                    one_hour,
                    sidechain: None,
                    uuid_base: (n, r),
                    block: sc.block,
                },
            );
            t += 100;
        }
        let path = project.join(format!("{sid}.jsonl"));
        self.write_file(&path, &out);
        out
    }

    /// A sub-agent's file (its own requests) and the parent's agent_progress lines for them.
    fn claude_subagent(
        &mut self,
        parent_sid: &str,
        cwd: &str,
        agent: &str,
        mut t: i64,
        one_hour: bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let n = self.next_id();
        let w = self.id;
        let mut file = Vec::new();
        let mut embeds = Vec::new();
        let mut parent = String::from("null");
        let filler = self.filler;
        for r in 0..(2 + self.rng.below(6)) {
            let u = self.uid();
            let prompt = filler.text(&mut self.rng, 300);
            let l = &mut self.line;
            l.clear();
            let p = if parent == "null" {
                parent.clone()
            } else {
                format!("\"{parent}\"")
            };
            let _ = write!(
                l,
                r#"{{"parentUuid":{p},"isSidechain":true,"userType":"external","cwd":"{cwd}","sessionId":"{parent_sid}","version":"2.1.39","gitBranch":"main","agentId":"{agent}","type":"user","message":{{"role":"user","content":"{prompt}"}},"uuid":"{u}","timestamp":""#
            );
            ts(l, t);
            l.push_str("\"}\n");
            file.extend_from_slice(l.as_bytes());
            parent = u;
            let msg = claude_id("msg_01", w, n, r, 1);
            let req = claude_id("req_011C", w, n, r, 1);
            let start = file.len();
            self.claude_request(
                &mut file,
                ClaudeReq {
                    parent: &parent,
                    cwd,
                    sid: parent_sid,
                    model: SUBAGENT_MODEL,
                    msg: &msg,
                    req: &req,
                    t: t + 10,
                    one_hour,
                    sidechain: Some(agent),
                    uuid_base: (n, r),
                    block: (20, 300),
                },
            );
            // The parent's progress line embeds the sub-agent's final assistant record.
            let last = file[start..file.len() - 1]
                .rsplit(|&b| b == b'\n')
                .next()
                .unwrap()
                .to_vec();
            let g = self.uid();
            let l = &mut self.line;
            l.clear();
            let _ = write!(
                l,
                r#"{{"parentUuid":"{parent}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{parent_sid}","version":"2.1.39","gitBranch":"main","type":"progress","data":{{"type":"agent_progress","agentId":"{agent}","prompt":"","message":"#
            );
            l.push_str(std::str::from_utf8(&last).unwrap());
            let _ = write!(
                l,
                r#"}},"toolUseID":"agent_msg_{w}_{n}_{r}","parentToolUseID":"toolu_{w}_{n}","uuid":"{g}","timestamp":""#
            );
            ts(l, t + 20);
            l.push_str("\"}\n");
            embeds.extend_from_slice(l.as_bytes());
            t += 2_000 + self.rng.below(8_000) as i64;
        }
        (file, embeds)
    }

    /// The assistant lines of one request: one per content block, each with the usage snapshot;
    /// the last carries the final output count. Counted once in the truth.
    fn claude_request(&mut self, out: &mut Vec<u8>, q: ClaudeReq) {
        let w = self.id;
        let filler = self.filler;
        let input = 1 + self.rng.below(40);
        let cw = if self.rng.below(3) == 0 {
            0
        } else {
            self.rng.below(25_000)
        };
        let cr = 5_000 + self.rng.below(150_000);
        let out_final = 20 + self.rng.below(4_000);
        let (c5, c1) = if q.one_hour { (0, cw) } else { (cw, 0) };
        let blocks = 1 + self.rng.below(4);
        let (n, r) = q.uuid_base;
        let sidechain = q.sidechain.is_some();
        for b in 0..blocks {
            let last = b + 1 == blocks;
            let g = self.uid();
            let l = &mut self.line;
            l.clear();
            let _ = write!(
                l,
                r#"{{"parentUuid":"{}","isSidechain":{sidechain},"userType":"external","cwd":"{}","sessionId":"{}","version":"2.1.39","gitBranch":"main","#,
                q.parent, q.cwd, q.sid
            );
            if let Some(a) = q.sidechain {
                let _ = write!(l, r#""agentId":"{a}","#);
            }
            let _ = write!(
                l,
                r#""message":{{"model":"{}","id":"{}","type":"message","role":"assistant","content":["#,
                q.model, q.msg
            );
            let len = range(&mut self.rng, q.block);
            match (b, last) {
                (0, false) => {
                    let th = filler.text(&mut self.rng, len);
                    let sig = filler.b64(&mut self.rng, 200 + len / 4);
                    let _ = write!(
                        l,
                        r#"{{"type":"thinking","thinking":"{th}","signature":"{sig}"}}"#
                    );
                }
                (_, true) if self.rng.below(2) == 0 => {
                    let cmd = filler.text(&mut self.rng, 30 + len / 8);
                    let desc = filler.text(&mut self.rng, 30);
                    let _ = write!(
                        l,
                        r#"{{"type":"tool_use","id":"toolu_{w}_{n}_{r}_{b}","name":"Bash","input":{{"command":"{cmd}","description":"{desc}"}}}}"#
                    );
                }
                _ => {
                    let tx = filler.text(&mut self.rng, len);
                    let _ = write!(l, r#"{{"type":"text","text":"{tx}"}}"#);
                }
            }
            if last {
                let _ = write!(
                    l,
                    r#"],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cw},"cache_read_input_tokens":{cr},"output_tokens":{out_final},"server_tool_use":{{"web_search_requests":0,"web_fetch_requests":0}},"service_tier":"standard","cache_creation":{{"ephemeral_1h_input_tokens":{c1},"ephemeral_5m_input_tokens":{c5}}},"inference_geo":"","iterations":[]}}}},"#
                );
            } else {
                let o = 1 + self.rng.below(12);
                let _ = write!(
                    l,
                    r#"],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cw},"cache_read_input_tokens":{cr},"cache_creation":{{"ephemeral_5m_input_tokens":{c5},"ephemeral_1h_input_tokens":{c1}}},"output_tokens":{o},"service_tier":"standard","inference_geo":"global"}}}},"#
                );
            }
            let _ = write!(
                l,
                r#""requestId":"{}","type":"assistant","uuid":"{g}","timestamp":""#,
                q.req
            );
            ts(l, q.t + b as i64 * 7);
            l.push_str("\"}\n");
            out.extend_from_slice(l.as_bytes());
        }
        self.truth.add(
            q.t,
            q.model,
            Cell {
                requests: 1,
                input,
                output: out_final,
                reasoning: 0,
                cache_read: cr,
                cache_write_5m: c5,
                cache_write_1h: c1,
            },
        );
    }

    fn claude(&mut self, sc: &ClaudeScale, target: u64) {
        let mut previous: Option<Vec<u8>> = None;
        let mut k = 0u64;
        while self.truth.bytes < target {
            k += 1;
            // Every 7th session resumes the previous one (a verbatim copy of it comes first).
            let resume = if k.is_multiple_of(7) {
                previous.take()
            } else {
                None
            };
            let content = self.claude_session(sc, resume.as_deref());
            previous = Some(content);
        }
    }
}

struct ClaudeReq<'a> {
    parent: &'a str,
    cwd: &'a str,
    sid: &'a str,
    model: &'a str,
    msg: &'a str,
    req: &'a str,
    t: i64,
    one_hour: bool,
    sidechain: Option<&'a str>,
    uuid_base: (u64, u64),
    block: (usize, usize),
}

/// Cumulative Codex counter: input (includes cached), cached, output (includes reasoning),
/// reasoning, total.
#[derive(Clone, Copy, Default)]
struct Usage([u64; 5]);

impl Usage {
    fn json(&self, out: &mut String) {
        let [i, c, o, r, t] = self.0;
        let _ = write!(
            out,
            r#"{{"input_tokens":{i},"cached_input_tokens":{c},"output_tokens":{o},"reasoning_output_tokens":{r},"total_tokens":{t}}}"#
        );
    }
}

/// A rollout kept in memory so later rollouts can fork it.
struct Rollout {
    id: String,
    lines: Vec<String>,
    /// Cumulative total after each line.
    totals: Vec<Usage>,
    end_ms: i64,
}

impl Worker<'_> {
    fn codex(&mut self, target: u64) {
        let mut recent: Vec<Rollout> = Vec::new();
        while self.truth.bytes < target {
            // One rollout in four forks one of the recent ones (which may itself be a fork).
            let parent = if !recent.is_empty() && self.rng.below(4) == 0 {
                Some(self.rng.below(recent.len() as u64) as usize)
            } else {
                None
            };
            let r = self.codex_rollout(parent.map(|i| &recent[i]));
            if recent.len() == 8 {
                recent.remove(0);
            }
            recent.push(r);
        }
    }

    fn codex_rollout(&mut self, parent: Option<&Rollout>) -> Rollout {
        let n = self.next_id();
        let w = self.id;
        let id = format!(
            "019a{:04x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
            n & 0xffff,
            w,
            (n >> 16) & 0xfff,
            n & 0xfff,
            n.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 16
        );
        let filler = self.filler;
        let repo = self.rng.below(40);
        let cwd = format!("/home/dev/projects/repo{repo}");
        // A fork starts after its parent ended, on the same day or a later one.
        let (start, fork) = match parent {
            Some(p) => {
                let pday = p.end_ms.div_euclid(DAY_MS);
                let last_day = BASE_MS / DAY_MS + DAYS as i64 - 1;
                let day = (pday + self.rng.below(3) as i64).min(last_day);
                let from = if day == pday {
                    p.end_ms + 60_000
                } else {
                    day * DAY_MS + self.rng.below(3_600_000) as i64
                };
                // Full history most of the time, else a prefix cut at a turn boundary.
                let turns: Vec<usize> = p
                    .lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.contains(r#""type":"turn_context""#))
                    .map(|(i, _)| i)
                    .collect();
                let cut = if turns.len() > 2 && self.rng.below(3) == 0 {
                    turns[1 + self.rng.below(turns.len() as u64 - 2) as usize]
                } else {
                    p.lines.len()
                };
                (from, Some((p, cut)))
            }
            None => (
                BASE_MS
                    + self.rng.below(DAYS) as i64 * DAY_MS
                    + self.rng.below(19 * 3_600_000) as i64,
                None,
            ),
        };
        let mut lines: Vec<String> = Vec::new();
        let mut totals: Vec<Usage> = Vec::new();
        let mut total = Usage::default();
        let mut l = String::with_capacity(16 << 10);
        l.push_str(r#"{"timestamp":""#);
        ts(&mut l, start);
        let _ = write!(l, r#"","type":"session_meta","payload":{{"id":"{id}","#);
        if let Some((p, _)) = fork {
            let _ = write!(l, r#""forked_from_id":"{}","#, p.id);
        }
        l.push_str(r#""timestamp":""#);
        ts(&mut l, start);
        let instr_len = 6_000 + self.rng.below(6_000) as usize;
        let instr = filler.text(&mut self.rng, instr_len);
        let _ = write!(
            l,
            r#"","cwd":"{cwd}","originator":"codex_cli_rs","cli_version":"0.104.0","source":"cli","model_provider":"openai","base_instructions":{{"text":"{instr}"}},"git":{{"commit_hash":"{:040x}","branch":"main","repository_url":"git@example.invalid:dev/repo{repo}.git"}}}}}}"#,
            n as u128 * 0x1234_5678_9abc_def1
        );
        lines.push(l.clone());
        totals.push(total);
        // The fork replays its parent's history (the parent's session_meta included) with the
        // timestamps rewritten to the fork's start, within one second.
        let mut t = start;
        if let Some((p, cut)) = fork {
            for i in 0..cut {
                let pl = &p.lines[i];
                let mut c = String::with_capacity(pl.len());
                c.push_str(r#"{"timestamp":""#);
                ts(&mut c, start + (i as i64 * 900 / cut as i64));
                c.push_str(&pl[38..]);
                lines.push(c);
                totals.push(p.totals[i]);
            }
            total = p.totals[cut - 1];
            t = start + 1_000;
        }
        let mut model = pick(&mut self.rng, CODEX_MODELS);
        let turns = 4 + self.rng.below(18);
        for turn in 0..turns {
            t += 5_000 + self.rng.below(60_000) as i64;
            if turn > 0 && self.rng.below(25) == 0 {
                model = pick(&mut self.rng, CODEX_MODELS); // /model switch mid-session
            }
            let push = |lines: &mut Vec<String>, totals: &mut Vec<Usage>, s: &str, u: Usage| {
                lines.push(s.to_string());
                totals.push(u);
            };
            let line = |t: i64, rest: &str| {
                let mut s = String::with_capacity(rest.len() + 40);
                s.push_str(r#"{"timestamp":""#);
                ts(&mut s, t);
                s.push_str("\",");
                s.push_str(rest);
                s
            };
            let s = line(
                t,
                &format!(
                    r#""type":"turn_context","payload":{{"turn_id":"{}","cwd":"{cwd}","approval_policy":"on-request","sandbox_policy":{{"type":"workspace-write","network_access":false}},"model":"{model}","effort":"medium","summary":"auto"}}}}"#,
                    uuid(w, n * 1000 + turn)
                ),
            );
            push(&mut lines, &mut totals, &s, total);
            // A re-emit of the previous turn's last token_count right after turn_context.
            if turn > 0 && self.rng.below(2) == 0 {
                if let Some(prev) = lines.iter().rev().find(|l| l.contains("total_token_usage")) {
                    let s = line(t + 1, &prev[40..]);
                    push(&mut lines, &mut totals, &s, total);
                }
            }
            let prompt = {
                let n = 100 + self.rng.below(800) as usize;
                filler.text(&mut self.rng, n)
            };
            let s = line(
                t + 2,
                &format!(
                    r#""type":"response_item","payload":{{"type":"message","role":"user","content":[{{"type":"input_text","text":"{prompt}"}}]}}}}"#
                ),
            );
            push(&mut lines, &mut totals, &s, total);
            let s = line(
                t + 3,
                &format!(
                    r#""type":"event_msg","payload":{{"type":"user_message","message":"{prompt}","images":[],"local_images":[],"text_elements":[]}}}}"#
                ),
            );
            push(&mut lines, &mut totals, &s, total);
            // Rate-limit heartbeat: a token_count without info.
            let s = line(
                t + 4,
                r#""type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"limit_id":"codex","limit_name":null,"primary":{"used_percent":4.0,"window_minutes":300,"resets_at":1771890497},"secondary":{"used_percent":10.0,"window_minutes":10080,"resets_at":1772355702},"credits":{"has_credits":false,"unlimited":false,"balance":null},"plan_type":null}}}"#,
            );
            push(&mut lines, &mut totals, &s, total);
            let calls = 1 + self.rng.below(4);
            for c in 0..calls {
                t += 2_000 + self.rng.below(20_000) as i64;
                let summary = {
                    let n = 80 + self.rng.below(300) as usize;
                    filler.text(&mut self.rng, n)
                };
                let enc = {
                    let n = 400 + self.rng.below(2_000) as usize;
                    filler.b64(&mut self.rng, n)
                };
                let s = line(
                    t,
                    &format!(
                        r#""type":"response_item","payload":{{"type":"reasoning","summary":[{{"type":"summary_text","text":"{summary}"}}],"content":null,"encrypted_content":"{enc}"}}}}"#
                    ),
                );
                push(&mut lines, &mut totals, &s, total);
                let last_call = c + 1 == calls;
                if last_call {
                    let text = {
                        let n = 200 + self.rng.below(3_000) as usize;
                        filler.text(&mut self.rng, n)
                    };
                    let s = line(
                        t + 1,
                        &format!(
                            r#""type":"response_item","payload":{{"type":"message","role":"assistant","content":[{{"type":"output_text","text":"{text}"}}]}}}}"#
                        ),
                    );
                    push(&mut lines, &mut totals, &s, total);
                    let s = line(
                        t + 2,
                        &format!(
                            r#""type":"event_msg","payload":{{"type":"agent_message","message":"{text}"}}}}"#
                        ),
                    );
                    push(&mut lines, &mut totals, &s, total);
                } else {
                    let s = line(
                        t + 1,
                        &format!(
                            r#""type":"response_item","payload":{{"type":"function_call","name":"shell_command","arguments":"{{\"command\":\"cargo test --lib\",\"workdir\":\"{cwd}\"}}","call_id":"call_{w}_{n}_{turn}_{c}"}}}}"#
                        ),
                    );
                    push(&mut lines, &mut totals, &s, total);
                    let o = {
                        let n = 300 + self.rng.below(9_000) as usize;
                        filler.text(&mut self.rng, n)
                    };
                    let s = line(
                        t + 2,
                        &format!(
                            r#""type":"response_item","payload":{{"type":"function_call_output","call_id":"call_{w}_{n}_{turn}_{c}","output":"Exit code: 0\nOutput:\n{o}"}}}}"#
                        ),
                    );
                    push(&mut lines, &mut totals, &s, total);
                }
                // The call's usage (input includes cached; output includes reasoning).
                let li = 8_000 + self.rng.below(150_000);
                let lc = li * (70 + self.rng.below(28)) / 100 / 128 * 128;
                let lo = 30 + self.rng.below(3_000);
                let lr = lo * self.rng.below(80) / 100;
                let last = Usage([li, lc, lo, lr, li + lo]);
                for k in 0..5 {
                    total.0[k] += last.0[k];
                }
                let mut s = String::from(
                    r#""type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":"#,
                );
                total.json(&mut s);
                s.push_str(r#","last_token_usage":"#);
                last.json(&mut s);
                s.push_str(r#","model_context_window":258400},"rate_limits":{"limit_id":"codex","limit_name":null,"primary":{"used_percent":4.0,"window_minutes":300,"resets_at":1771890497},"secondary":{"used_percent":10.0,"window_minutes":10080,"resets_at":1772355702},"credits":{"has_credits":false,"unlimited":false,"balance":null},"plan_type":null}}}"#);
                let ev = line(t + 3, &s);
                push(&mut lines, &mut totals, &ev, total);
                // Codex re-emits the same event (identical totals, fresh timestamp).
                if self.rng.below(3) == 0 {
                    let ev2 = line(t + 4, &s);
                    push(&mut lines, &mut totals, &ev2, total);
                }
                self.truth.add(
                    t + 3,
                    model,
                    Cell {
                        requests: 1,
                        input: li - lc,
                        output: lo,
                        reasoning: lr,
                        cache_read: lc,
                        cache_write_5m: 0,
                        cache_write_1h: 0,
                    },
                );
            }
        }
        let d = start.div_euclid(DAY_MS);
        let (y, m, dd) = civil(d);
        let r = start.rem_euclid(DAY_MS);
        let name = format!(
            "rollout-{y:04}-{m:02}-{dd:02}T{:02}-{:02}-{:02}-{id}.jsonl",
            r / 3_600_000,
            r / 60_000 % 60,
            r / 1000 % 60
        );
        let path = self
            .home
            .join(format!(".codex/sessions/{y:04}/{m:02}/{dd:02}"))
            .join(name);
        let mut content = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in &lines {
            content.extend_from_slice(l.as_bytes());
            content.push(b'\n');
        }
        self.write_file(&path, &content);
        assert!(
            t.div_euclid(DAY_MS) == d || fork.is_some(),
            "a rollout stays within its day"
        );
        Rollout {
            id,
            lines,
            totals,
            end_ms: t,
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: compare-gen --shape claude-dense|claude-content|codex --mb N --out DIR [--seed S] [--threads N]"
    );
    std::process::exit(2)
}

fn main() {
    let mut shape = None;
    let mut mb: Option<f64> = None;
    let mut out: Option<PathBuf> = None;
    let mut seed = 42u64;
    let mut threads = 2u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--shape" => {
                shape = Some(match val().as_str() {
                    "claude-dense" => Shape::ClaudeDense,
                    "claude-content" => Shape::ClaudeContent,
                    "codex" => Shape::Codex,
                    _ => usage(),
                })
            }
            "--mb" => mb = val().parse().ok(),
            "--out" => out = Some(PathBuf::from(val())),
            "--seed" => seed = val().parse().unwrap_or_else(|_| usage()),
            "--threads" => threads = val().parse().unwrap_or_else(|_| usage()),
            "--bench" => {} // passed by `cargo bench`
            _ => usage(),
        }
    }
    let (Some(shape), Some(mb), Some(out)) = (shape, mb, out) else {
        usage()
    };
    let threads = threads.max(1);
    let target = (mb * 1e6) as u64;
    let home = out.join("home");
    let _ = std::fs::remove_file(out.join("done"));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let t0 = Instant::now();
    let filler = Filler::new(seed ^ 0xf111);
    let dense = ClaudeScale {
        requests: (150, 350),
        gap_ms: (2_000, 30_000),
        user: (60, 700),
        block: (20, 260),
    };
    let content = ClaudeScale {
        requests: (40, 120),
        gap_ms: (10_000, 90_000),
        user: (2_000, 50_000),
        block: (300, 7_000),
    };
    let (dense, content) = (&dense, &content);
    let parts: Vec<Truth> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let filler = &filler;
                let home = home.clone();
                s.spawn(move || {
                    let mut wk = Worker {
                        id: w,
                        rng: Rng((seed.wrapping_mul(0x9e37_79b9) ^ ((w + 1) * 0x5851_f42d)) | 1),
                        filler,
                        home,
                        truth: Truth::default(),
                        serial: 0,
                        uids: 1 << 40,
                        codex: shape == Shape::Codex,
                        line: String::with_capacity(64 << 10),
                    };
                    let share = target / threads;
                    match shape {
                        Shape::ClaudeDense => wk.claude(dense, share),
                        Shape::ClaudeContent => wk.claude(content, share),
                        Shape::Codex => wk.codex(share),
                    }
                    wk.truth
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut truth = Truth::default();
    for p in parts {
        truth.merge(p);
    }
    let secs = t0.elapsed().as_secs_f64();
    let requests: u64 = truth.cells.values().map(|c| c.requests).sum();
    let mut j = String::new();
    let shape_name = match shape {
        Shape::ClaudeDense => "claude-dense",
        Shape::ClaudeContent => "claude-content",
        Shape::Codex => "codex",
    };
    let _ = write!(
        j,
        "{{\n  \"shape\": \"{shape_name}\",\n  \"seed\": {seed},\n  \"threads\": {threads},\n  \"bytes\": {},\n  \"files\": {},\n  \"lines\": {},\n  \"usage_lines\": {},\n  \"requests\": {requests},\n  \"generate_seconds\": {secs:.2},\n  \"first_line_ts\": \"{}\",\n  \"cells\": [",
        truth.bytes,
        truth.files,
        truth.lines,
        truth.usage_lines,
        ts_string(BASE_MS)
    );
    for (i, ((d, m), c)) in truth.cells.iter().enumerate() {
        let _ = write!(
            j,
            "{}\n    {{\"day\": \"{}\", \"model\": \"{m}\", \"requests\": {}, \"input\": {}, \"output\": {}, \"reasoning\": {}, \"cache_read\": {}, \"cache_write_5m\": {}, \"cache_write_1h\": {}}}",
            if i == 0 { "" } else { "," },
            day_string(*d),
            c.requests,
            c.input,
            c.output,
            c.reasoning,
            c.cache_read,
            c.cache_write_5m,
            c.cache_write_1h
        );
    }
    j.push_str("\n  ]\n}\n");
    std::fs::write(out.join("truth.json"), j).unwrap();
    std::fs::write(out.join("done"), format!("{secs:.2}\n")).unwrap();
    eprintln!(
        "{shape_name}: {:.1} MB, {} files, {} lines, {requests} requests in {secs:.1}s ({:.0} MB/s)",
        truth.bytes as f64 / 1e6,
        truth.files,
        truth.lines,
        truth.bytes as f64 / 1e6 / secs
    );
}
