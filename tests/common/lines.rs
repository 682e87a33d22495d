//! Claude Code transcript lines for tests, in the shape of the real samples
//! (`fixtures/claude-code/`): one assistant request with its usage, or a user line with a
//! failed tool call. Prices: claude-opus-4-6 $5/M input, $25/M output, $0.50/M cache reads;
//! claude-sonnet-4-5 $3/M, $15/M, $0.30/M.
#![allow(dead_code)]

use std::io::Write;

/// One request.
#[derive(Clone, Debug)]
pub struct Req<'a> {
    pub session: &'a str,
    pub id: String,
    pub model: &'a str,
    pub ts_ms: i64,
    pub input: u64,
    pub cache_read: u64,
    pub output: u64,
    pub cwd: &'a str,
}

impl<'a> Req<'a> {
    pub fn new(session: &'a str, id: impl Into<String>, ts_ms: i64) -> Req<'a> {
        Req {
            session,
            id: id.into(),
            model: "claude-opus-4-6",
            ts_ms,
            input: 0,
            cache_read: 0,
            output: 0,
            cwd: "/nonexistent/acme/widget",
        }
    }
    pub fn line(&self) -> String {
        let ts = chrono::DateTime::from_timestamp_millis(self.ts_ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        format!(
            r#"{{"type":"assistant","sessionId":"{s}","cwd":"{cwd}","gitBranch":"main","requestId":"req_{id}","timestamp":"{ts}","message":{{"model":"{m}","id":"msg_{id}","usage":{{"input_tokens":{i},"cache_read_input_tokens":{cr},"output_tokens":{o}}}}}}}"#,
            s = self.session,
            cwd = self.cwd,
            id = self.id,
            m = self.model,
            i = self.input,
            cr = self.cache_read,
            o = self.output,
        )
    }
}

/// A user line answering a tool call with an error (the error text is what gets hashed).
pub fn tool_error_line(session: &str, n: u32, ts_ms: i64, error: &str) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(ts_ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ");
    format!(
        r#"{{"parentUuid":"p{n}","isSidechain":false,"type":"user","sessionId":"{session}","message":{{"role":"user","content":[{{"type":"tool_result","content":"{error}","is_error":true,"tool_use_id":"toolu_{n}"}}]}},"uuid":"u{n}","timestamp":"{ts}"}}"#
    )
}

pub fn append(p: &std::path::Path, s: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    writeln!(f, "{s}").unwrap();
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
