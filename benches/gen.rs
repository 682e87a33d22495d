//! Generator of real-shaped Claude Code and Codex logs for benchmarks.
//!
//! Shapes follow the real samples in fixtures/: Claude Code writes a user line (prompt or tool
//! result, often long), then one assistant line per content block of the response, each with a
//! copy of the usage snapshot (the last with the final output count), plus `progress` lines;
//! some sessions are resumed, copying earlier lines verbatim into a new file. Codex rollouts
//! carry long `response_item` lines and `token_count` events, about half of them re-emits.
#![allow(dead_code)]

use std::io::{BufWriter, Write};
use std::path::Path;

pub struct Rng(pub u64);
impl Rng {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
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
];

/// JSON-escaped filler text of about `n` bytes.
fn text(rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        s.push(' ');
    }
    s
}

fn ts(base_ms: i64, off_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(base_ms + off_ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub struct Totals {
    pub requests: u64,
    pub bytes: u64,
}

/// One Claude Code session of `requests` requests; returns the lines (to allow resumed copies).
pub fn claude_session(
    rng: &mut Rng,
    sid: &str,
    requests: usize,
    base_ms: i64,
    content_scale: usize,
) -> Vec<String> {
    let mut lines = Vec::new();
    let cwd = format!("/home/dev/projects/repo{}", rng.below(40));
    let mut t = 0i64;
    for r in 0..requests {
        t += 5_000 + rng.below(60_000) as i64;
        let user_len = content_scale * (200 + rng.below(8_000) as usize);
        let user_text = text(rng, user_len);
        lines.push(format!(
            r#"{{"parentUuid":"p-{sid}-{r}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{sid}","version":"2.1.39","gitBranch":"main","type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_{r}","type":"tool_result","content":"{}"}}]}},"uuid":"u-{sid}-{r}","timestamp":"{}"}}"#,
            user_text,
            ts(base_ms, t)
        ));
        if rng.below(4) == 0 {
            let cmd = text(rng, 60);
            lines.push(format!(
                r#"{{"parentUuid":"u-{sid}-{r}","isSidechain":false,"cwd":"{cwd}","sessionId":"{sid}","type":"progress","data":{{"type":"hook_progress","hookEvent":"PostToolUse","command":"{}"}},"uuid":"g-{sid}-{r}","timestamp":"{}"}}"#,
                cmd,
                ts(base_ms, t + 1)
            ));
        }
        let input = 1 + rng.below(50);
        let cw = rng.below(20_000);
        let cr = 10_000 + rng.below(150_000);
        let out_final = 20 + rng.below(3_000);
        let blocks = 1 + rng.below(4) as usize;
        for b in 0..blocks {
            let last = b + 1 == blocks;
            let out = if last { out_final } else { 1 + rng.below(20) };
            let extra = if last {
                r#","server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"iterations":[]"#
            } else {
                ""
            };
            let content_len = content_scale * (100 + rng.below(2_500) as usize);
            let body = text(rng, content_len);
            lines.push(format!(
                r#"{{"parentUuid":"u-{sid}-{r}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{sid}","version":"2.1.39","gitBranch":"main","message":{{"model":"claude-opus-4-6","id":"msg_{sid}_{r}","type":"message","role":"assistant","content":[{{"type":"text","text":"{}"}}],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cw},"cache_read_input_tokens":{cr},"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":{cw}}},"output_tokens":{out},"service_tier":"standard"{extra}}}}},"requestId":"req_{sid}_{r}","type":"assistant","uuid":"a-{sid}-{r}-{b}","timestamp":"{}"}}"#,
                body,
                ts(base_ms, t + 2 + b as i64)
            ));
        }
    }
    lines
}

/// One Codex rollout with `turns` token_count events (plus re-emits).
pub fn codex_session(
    rng: &mut Rng,
    sid: &str,
    turns: usize,
    base_ms: i64,
    content_scale: usize,
) -> Vec<String> {
    let instr = text(rng, 6_000);
    let mut lines = vec![format!(
        r#"{{"timestamp":"{}","type":"session_meta","payload":{{"id":"{sid}","timestamp":"{}","cwd":"/home/dev/projects/codexrepo","originator":"codex_cli_rs","cli_version":"0.104.0","source":"cli","model_provider":"openai","base_instructions":{{"text":"{}"}},"git":{{"commit_hash":"86b4a8d9","branch":"main","repository_url":"git@github.com:dev/codexrepo.git"}}}}}}"#,
        ts(base_ms, 0),
        ts(base_ms, 0),
        instr
    )];
    let (mut ti, mut tc, mut to, mut tr) = (0u64, 0u64, 0u64, 0u64);
    let mut t = 0i64;
    for _ in 0..turns {
        t += 3_000 + rng.below(30_000) as i64;
        lines.push(format!(
            r#"{{"timestamp":"{}","type":"turn_context","payload":{{"turn_id":"x","cwd":"/home/dev/projects/codexrepo","approval_policy":"on-request","model":"gpt-5.3-codex","effort":"medium"}}}}"#,
            ts(base_ms, t)
        ));
        let n = content_scale * (500 + rng.below(6_000) as usize);
        lines.push(format!(
            r#"{{"timestamp":"{}","type":"response_item","payload":{{"type":"message","role":"assistant","content":[{{"type":"output_text","text":"{}"}}]}}}}"#,
            ts(base_ms, t + 1),
            text(rng, n)
        ));
        let li = 20_000 + rng.below(100_000);
        let lc = li * 9 / 10;
        let lo = 50 + rng.below(2_000);
        let lr = lo / 2;
        ti += li;
        tc += lc;
        to += lo;
        tr += lr;
        let ev = format!(
            r#"{{"timestamp":"{}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{ti},"cached_input_tokens":{tc},"output_tokens":{to},"reasoning_output_tokens":{tr},"total_tokens":{}}},"last_token_usage":{{"input_tokens":{li},"cached_input_tokens":{lc},"output_tokens":{lo},"reasoning_output_tokens":{lr},"total_tokens":{}}},"model_context_window":258400}},"rate_limits":null}}}}"#,
            ts(base_ms, t + 2),
            ti + to,
            li + lo
        );
        lines.push(ev.clone());
        lines.push(ev); // re-emit
    }
    lines
}

/// Writes about `target_bytes` of logs under `home` (`.claude/projects`, `.codex/sessions`).
/// `content_scale` 1 = real-shaped long lines; 0 = minimal lines (many requests per MB).
pub fn generate(home: &Path, target_bytes: u64, content_scale: usize, seed: u64) -> Totals {
    let mut rng = Rng(seed | 1);
    let mut tot = Totals {
        requests: 0,
        bytes: 0,
    };
    let base = 1_767_225_600_000i64; // 2026-01-01
    let mut s = 0u64;
    let mut previous: Vec<String> = Vec::new();
    while tot.bytes < target_bytes {
        s += 1;
        let day = (s % 120) as i64 * 86_400_000;
        let (dir, name, lines, reqs) = if s.is_multiple_of(5) {
            let sid = format!("019c{:04x}-0000-7000-8000-{:012x}", s % 65536, s);
            let turns = 20 + rng.below(80) as usize;
            let l = codex_session(&mut rng, &sid, turns, base + day, content_scale);
            (
                home.join(format!(
                    ".codex/sessions/2026/{:02}/{:02}",
                    1 + s % 4,
                    1 + s % 28
                )),
                format!("rollout-2026-01-01T00-00-00-{sid}.jsonl"),
                l,
                turns as u64,
            )
        } else {
            let sid = format!("{:08x}-0000-4000-8000-{:012x}", s, s * 7);
            let n = 10 + rng.below(90) as usize;
            let mut l = claude_session(&mut rng, &sid, n, base + day, content_scale);
            let mut reqs = n as u64;
            // Every 7th session is a resume: it starts with a verbatim copy of the previous one.
            if s.is_multiple_of(7) && !previous.is_empty() {
                let mut c = previous.clone();
                c.extend(l);
                l = c;
                reqs = n as u64; // the copied requests are not new
            }
            previous = l.clone();
            (
                home.join(format!(
                    ".claude/projects/-home-dev-projects-repo{}",
                    s % 40
                )),
                format!("{sid}.jsonl"),
                l,
                reqs,
            )
        };
        std::fs::create_dir_all(&dir).unwrap();
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut w = BufWriter::new(f);
        for l in &lines {
            w.write_all(l.as_bytes()).unwrap();
            w.write_all(b"\n").unwrap();
            tot.bytes += l.len() as u64 + 1;
        }
        w.flush().unwrap();
        tot.requests += reqs;
    }
    tot
}
