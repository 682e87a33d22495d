//! Codex rollouts (`~/.codex/sessions/**/*.jsonl`, `archived_sessions/`).
//!
//! Usage is a cumulative counter: `event_msg` / `token_count` events carry the session's running
//! `total_token_usage`. Codex re-emits the same event several times, so each file counts the
//! change of the total and skips events whose total did not move. Forks and sub-agents replay the
//! parent's events (same cumulative vectors) before their own work: every counted event is keyed
//! by its lineage (the root of the fork or sub-agent chain, found from the ancestors'
//! `session_meta` lines at the start of the replay, else the session itself) and its
//! cumulative and last-call vectors, so a replayed copy, a copied file or the same file under
//! `archived_sessions/` collapses onto the original (the parent's own record, else the earliest
//! copy).

use super::{FileState, Format, ParseError, Parser};
use crate::event::{parse_ts_ms, Merge, Tokens, UsageEvent};
use serde::Deserialize;
use std::path::Path;

/// Codex rollout files.
pub struct CodexParser;

/// The session a rollout's `session_meta` was forked or spawned from, if any.
fn parent_of(meta: &serde_json::Value) -> Option<String> {
    s(meta, &["forked_from_id"]).or_else(|| {
        s(
            meta,
            &["source", "subagent", "thread_spawn", "parent_thread_id"],
        )
    })
}

/// Tool id.
pub const TOOL: &str = "codex";

#[derive(Deserialize)]
struct Line {
    timestamp: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    payload: Option<serde_json::Value>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
struct Usage {
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    cached_input_tokens: i64,
    #[serde(default)]
    cache_write_input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
    #[serde(default)]
    reasoning_output_tokens: i64,
    #[serde(default)]
    total_tokens: i64,
}

impl Usage {
    fn vec(&self) -> Vec<i64> {
        vec![
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_input_tokens,
            self.output_tokens,
            self.reasoning_output_tokens,
            self.total_tokens,
        ]
    }
    fn from_vec(v: &[i64]) -> Usage {
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        Usage {
            input_tokens: g(0),
            cached_input_tokens: g(1),
            cache_write_input_tokens: g(2),
            output_tokens: g(3),
            reasoning_output_tokens: g(4),
            total_tokens: g(5),
        }
    }
    /// Field-wise change, clamped at zero (interleaved lineages can make a counter go down).
    fn minus(&self, o: &Usage) -> Usage {
        Usage {
            input_tokens: (self.input_tokens - o.input_tokens).max(0),
            cached_input_tokens: (self.cached_input_tokens - o.cached_input_tokens).max(0),
            cache_write_input_tokens: (self.cache_write_input_tokens - o.cache_write_input_tokens)
                .max(0),
            output_tokens: (self.output_tokens - o.output_tokens).max(0),
            reasoning_output_tokens: (self.reasoning_output_tokens - o.reasoning_output_tokens)
                .max(0),
            total_tokens: (self.total_tokens - o.total_tokens).max(0),
        }
    }
    /// OpenAI-style (input includes cached and cache-write) to disjoint buckets.
    fn tokens(&self) -> Tokens {
        let cached = self.cached_input_tokens.min(self.input_tokens).max(0);
        let cw = self
            .cache_write_input_tokens
            .min(self.input_tokens - cached)
            .max(0);
        Tokens {
            input: (self.input_tokens - cached - cw).max(0),
            cache_write_5m: cw,
            cache_write_1h: 0,
            cache_read: cached,
            output: self.output_tokens.max(0),
            reasoning: self.reasoning_output_tokens.max(0),
        }
    }
}

fn s(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty()).map(str::to_string)
}

/// Finders for the kinds of line that carry what this parser reads, built once.
fn interesting() -> &'static [memchr::memmem::Finder<'static>; 4] {
    static F: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 4]> =
        std::sync::OnceLock::new();
    F.get_or_init(|| {
        [
            b"\"token_count\"".as_slice(),
            b"\"turn_context\"",
            b"\"session_meta\"",
            b"\"thread_settings_applied\"",
        ]
        .map(memchr::memmem::Finder::new)
    })
}

/// A line's `type` and its payload's `type` when it starts the way Codex writes every line,
/// `{"timestamp":"…","type":"…","payload":{"type":"…"` (the payload's only when it follows at
/// once); `None` for any other shape, which the caller then reads the slow way.
fn quick_kind(line: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let rest = line.strip_prefix(b"{\"timestamp\":\"")?;
    let end = memchr::memchr(b'"', &rest[..rest.len().min(64)])?;
    let rest = rest[end..].strip_prefix(b"\",\"type\":\"")?;
    let end = memchr::memchr(b'"', &rest[..rest.len().min(64)])?;
    let (ty, rest) = rest.split_at(end);
    if ty.contains(&b'\\') {
        return None;
    }
    let sub = rest
        .strip_prefix(b"\",\"payload\":{\"type\":\"")
        .and_then(|r| {
            let end = memchr::memchr(b'"', &r[..r.len().min(64)])?;
            Some(&r[..end]).filter(|t| !t.contains(&b'\\'))
        });
    Some((ty, sub))
}

impl Parser for CodexParser {
    fn tool(&self) -> &str {
        TOOL
    }
    fn format(&self) -> Format {
        Format::Lines
    }

    fn parse_line(
        &self,
        line: &[u8],
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let skip = match quick_kind(line) {
            // The shape Codex writes: the line's kind is known from its first bytes, so the
            // bulk of a rollout (response items, agent messages) is not scanned at all.
            Some((b"session_meta" | b"turn_context", _)) => false,
            Some((b"event_msg", Some(t))) => {
                t != b"token_count".as_slice() && t != b"thread_settings_applied".as_slice()
            }
            Some((b"event_msg", None)) => false,
            Some(_) => true,
            // Another shape (fields in another order): look for the kinds anywhere.
            None => !interesting().iter().any(|f| f.find(line).is_some()),
        };
        if skip {
            return if super::claude::looks_like_object(line) {
                Ok(())
            } else {
                Err(ParseError(
                    "not a JSON object (torn or corrupted line)".into(),
                ))
            };
        }
        let l: Line = serde_json::from_slice(line)?;
        let Some(p) = l.payload else { return Ok(()) };
        match l.ty.as_deref() {
            Some("session_meta") => {
                // Only the first session_meta describes this file; later ones are ancestors,
                // replayed at the start of the copied history. An ancestor that is itself a
                // fork moves the dedup scope up to its own parent, so every copy of a request
                // is keyed under the lineage's root however deep the fork (keyed by the
                // direct parent, a fork of a fork counted its grandparent's requests again).
                if state.extra.contains_key("meta") {
                    let id = s(&p, &["id"]).or_else(|| s(&p, &["session_id"]));
                    let scope = state.extra.get("scope").and_then(|v| v.as_str());
                    if id.is_some()
                        && id.as_deref() == scope
                        && !state.counters.contains_key("total")
                    {
                        if let Some(up) = parent_of(&p) {
                            state.extra.insert("scope".into(), up.into());
                        }
                    }
                    return Ok(());
                }
                state.extra.insert("meta".into(), true.into());
                state.session_id = s(&p, &["id"]).or_else(|| s(&p, &["session_id"]));
                state.cwd = s(&p, &["cwd"]);
                state.branch = s(&p, &["git", "branch"]);
                state.repo = s(&p, &["git", "repository_url"]);
                // Dedup scope: a fork or sub-agent replays its parent's events first, so its
                // counted events are keyed in the parent's scope; everything else in its own.
                let scope = parent_of(&p).or_else(|| state.session_id.clone());
                if let Some(sc) = scope {
                    state.extra.insert("scope".into(), sc.into());
                }
            }
            Some("turn_context") => {
                if let Some(m) = s(&p, &["model"]) {
                    state.model = Some(m);
                }
                if let Some(c) = s(&p, &["cwd"]) {
                    state.cwd = Some(c);
                }
            }
            Some("event_msg") => match p.get("type").and_then(|t| t.as_str()) {
                Some("thread_settings_applied") => {
                    if let Some(m) = s(&p, &["thread_settings", "model"]) {
                        state.model = Some(m);
                    }
                    match s(&p, &["thread_settings", "service_tier"]) {
                        Some(t) => {
                            state.extra.insert("tier".into(), t.into());
                        }
                        None => {
                            state.extra.remove("tier");
                        }
                    }
                }
                Some("token_count") => {
                    let Some(info) = p.get("info").filter(|i| !i.is_null()) else {
                        return Ok(());
                    };
                    let total: Option<Usage> = info
                        .get("total_token_usage")
                        .filter(|v| !v.is_null())
                        .map(|v| serde_json::from_value(v.clone()))
                        .transpose()?;
                    let last: Option<Usage> = info
                        .get("last_token_usage")
                        .filter(|v| !v.is_null())
                        .map(|v| serde_json::from_value(v.clone()))
                        .transpose()?;
                    let ts = l
                        .timestamp
                        .as_deref()
                        .and_then(parse_ts_ms)
                        .ok_or_else(|| {
                            ParseError("token_count without a valid timestamp".into())
                        })?;
                    let (delta, key) = match total {
                        Some(t) => {
                            let prev = state
                                .counters
                                .get("total")
                                .map(|v| Usage::from_vec(v))
                                .unwrap_or_default();
                            if t == prev {
                                return Ok(()); // re-emitted event
                            }
                            state.counters.insert("total".into(), t.vec());
                            let l = last.unwrap_or_default();
                            let scope = state
                                .extra
                                .get("scope")
                                .and_then(|v| v.as_str())
                                .map(str::to_string)
                                .or_else(|| session_from_name(path))
                                .unwrap_or_default();
                            let key = format!("{scope}:t{}:l{}", join(&t.vec()), join(&l.vec()));
                            (t.minus(&prev), key)
                        }
                        None => match last {
                            Some(l) => (
                                l,
                                format!(
                                    "{}:{}:l{}",
                                    state.session_id.as_deref().unwrap_or(""),
                                    ts,
                                    join(&l.vec())
                                ),
                            ),
                            None => return Ok(()),
                        },
                    };
                    let tokens = delta.tokens();
                    if tokens.is_zero() {
                        return Ok(());
                    }
                    // A fork's or sub-agent's file holds copies of its parent's requests: the
                    // parent's own record wins, whichever file is read first (it is last-wins,
                    // and a copy is never earlier than the original). Among forks replaying the
                    // same history with the parent gone, the earliest copy wins: the replay is
                    // stamped with the fork's start, so the fork that started first owns the
                    // shared prefix, with its times, in any reading order.
                    let scope = state.extra.get("scope").and_then(|v| v.as_str());
                    let original = scope.is_none() || scope == state.session_id.as_deref();
                    let merge = if original {
                        Merge::LastWins
                    } else {
                        Merge::Earliest
                    };
                    let mut ev = UsageEvent::new(TOOL, key, merge, ts);
                    ev.model = s(info, &["model"]).or_else(|| state.model.clone());
                    ev.provider = Some("openai".into());
                    ev.tokens = tokens;
                    ev.session_id = state.session_id.clone().or_else(|| session_from_name(path));
                    ev.cwd = state.cwd.clone();
                    ev.branch = state.branch.clone();
                    ev.repo_hint = state.repo.clone();
                    ev.speed = state
                        .extra
                        .get("tier")
                        .and_then(|v| v.as_str())
                        .filter(|t| *t == "priority" || *t == "flex")
                        .map(str::to_string);
                    out.push(ev);
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }
}

fn join(v: &[i64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The uuid at the end of `rollout-<date>-<uuid>.jsonl`.
fn session_from_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_string_lossy();
    (stem.len() >= 36).then(|| stem[stem.len() - 36..].to_string())
}
