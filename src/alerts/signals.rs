//! Early signals of a running session, from its requests as they are stored: a burn rate above
//! the configured $/h, the shape of a retry or prompt loop, and a change of model (fallback).
//!
//! Only requests of the last few minutes count (events of a backfill or a catch-up are older
//! and say nothing about what runs now). What fired is remembered in the store by key, so each
//! signal is said once per session and episode (see [`Detected::key`]).

use crate::config::AlertsConfig;
use crate::pricing::Pricer;
use crate::status::{Signal, SignalKind};
use crate::store::{Store, StoredEvent};
use std::collections::{HashMap, VecDeque};

const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// A session whose latest request is older than this is no longer spending.
pub const STILL_SPENDING_MS: i64 = 2 * MIN_MS;
/// Sessions idle this long are forgotten.
const FORGET_MS: i64 = 30 * MIN_MS;

/// When the signals speak (`[alerts]` with defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct SignalConfig {
    /// Burn alert above this many USD per hour (0 = off).
    pub burn_usd_per_hour: f64,
    /// The burn rate is the spend of this many minutes.
    pub burn_minutes: i64,
    /// Loop: the last `loop_min_requests` requests fall within this many minutes...
    pub loop_minutes: i64,
    /// ... there are at least this many ...
    pub loop_min_requests: usize,
    /// ... their context sizes differ by at most this fraction of the largest ...
    pub loop_size_tolerance: f64,
    /// ... and none wrote more than this many output tokens.
    pub loop_max_output: i64,
    /// Loop: this many requests in a row after the same tool error (0 = off).
    pub loop_same_errors: usize,
    /// Say when a session's model changes.
    pub fallback: bool,
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            burn_usd_per_hour: 20.0,
            burn_minutes: 10,
            loop_minutes: 10,
            loop_min_requests: 6,
            loop_size_tolerance: 0.005,
            loop_max_output: 400,
            loop_same_errors: 3,
            fallback: true,
        }
    }
}

impl SignalConfig {
    /// `[alerts]` over the defaults.
    pub fn from_config(a: &AlertsConfig) -> SignalConfig {
        let d = SignalConfig::default();
        SignalConfig {
            burn_usd_per_hour: a
                .burn_usd_per_hour
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(d.burn_usd_per_hour),
            burn_minutes: a
                .burn_minutes
                .map(|v| v.max(1) as i64)
                .unwrap_or(d.burn_minutes),
            loop_minutes: a
                .loop_minutes
                .map(|v| v.max(1) as i64)
                .unwrap_or(d.loop_minutes),
            loop_min_requests: a
                .loop_min_requests
                .map(|v| v.max(2) as usize)
                .unwrap_or(d.loop_min_requests),
            loop_size_tolerance: a
                .loop_size_tolerance
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(d.loop_size_tolerance),
            loop_max_output: a.loop_max_output.unwrap_or(d.loop_max_output),
            loop_same_errors: a
                .loop_same_errors
                .map(|v| v as usize)
                .unwrap_or(d.loop_same_errors),
            fallback: a.fallback.unwrap_or(d.fallback),
        }
    }
}

/// One request of a session, as the signals see it (numbers only).
#[derive(Debug, Clone)]
struct Req {
    key: String,
    ts: i64,
    context: i64,
    output: i64,
    cost: f64,
    sidechain: bool,
    tool_error: Option<u64>,
}

#[derive(Debug, Default)]
struct Track {
    tool: String,
    repo: Option<String>,
    reqs: VecDeque<Req>,
    /// The model the session started with.
    chosen: Option<String>,
    /// The model of its latest main-chain request.
    current: Option<String>,
    /// Since when the current model differs from the chosen one.
    switched_at: Option<i64>,
    /// The loop episode under way: when it started, what it looks like.
    loop_since: Option<(i64, String)>,
    last_ms: i64,
}

/// A signal that just became true, to be recorded (and said once per [`Detected::key`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    /// Burn, loop or fallback.
    pub kind: SignalKind,
    /// The session.
    pub session: String,
    /// Its identity in the alert store: burn and loop once per session and hour of the
    /// episode's start, a fallback once per session and pair of models.
    pub key: String,
    /// What is said.
    pub message: String,
}

/// The running sessions' recent requests, and the signals they show.
pub struct SignalTracker {
    cfg: SignalConfig,
    sessions: HashMap<String, Track>,
    pricer: Option<Pricer>,
}

fn context(e: &crate::event::Tokens) -> i64 {
    e.input + e.cache_read + e.cache_write_5m + e.cache_write_1h
}

fn where_(t: &Track) -> String {
    match &t.repo {
        Some(r) => format!("{r} ({})", t.tool),
        None => t.tool.clone(),
    }
}

/// ` (pricier: $15.00 → $75.00 per million output tokens)` when prices are known.
fn compare(pricer: Option<&Pricer>, from: &str, to: &str) -> String {
    let Some(p) = pricer else {
        return String::new();
    };
    let (Some(a), Some(b)) = (p.describe(from, None), p.describe(to, None)) else {
        return String::new();
    };
    let (a, b) = (a.rates, b.rates);
    let word = if (b.output, b.input) > (a.output, a.input) {
        "pricier"
    } else if (b.output, b.input) < (a.output, a.input) {
        "cheaper"
    } else {
        return " (same price)".into();
    };
    format!(
        " ({word}: ${:.2} → ${:.2} per million output tokens)",
        a.output, b.output
    )
}

impl SignalTracker {
    /// A tracker with these settings; `pricer` tells a pricier model from a cheaper one.
    pub fn new(cfg: SignalConfig, pricer: Option<Pricer>) -> SignalTracker {
        SignalTracker {
            cfg,
            sessions: HashMap::new(),
            pricer,
        }
    }

    fn keep_ms(&self) -> i64 {
        self.cfg.burn_minutes.max(self.cfg.loop_minutes) * MIN_MS
    }

    /// Takes in newly stored requests (at `now_ms`) and returns the signals that just became
    /// true.
    pub fn observe(&mut self, store: &Store, evs: &[StoredEvent], now_ms: i64) -> Vec<Detected> {
        let keep = self.keep_ms();
        let mut touched: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for se in evs {
            let e = &se.ev;
            let Some(session) = e.session_id.clone().filter(|s| !s.is_empty()) else {
                continue;
            };
            // History (a backfill, a catch-up): not what runs now.
            if e.timestamp_ms < now_ms - keep {
                continue;
            }
            let new_session = !self.sessions.contains_key(&session);
            let t = self.sessions.entry(session.clone()).or_default();
            t.tool = e.tool.clone();
            if se.workspace_name.is_some() {
                t.repo = se.workspace_name.clone();
            }
            if new_session && t.chosen.is_none() {
                // The model it started with, from what is stored of it (this request included).
                if let Ok(models) = store.session_models(&session) {
                    t.chosen = models.first().map(|m| m.0.clone());
                    t.current = t.chosen.clone();
                }
            }
            let req = Req {
                key: e.dedup_key.clone(),
                ts: e.timestamp_ms,
                context: context(&e.tokens),
                output: e.tokens.output,
                cost: se.cost_usd.unwrap_or(0.0),
                sidechain: e.sidechain,
                tool_error: e.tool_error,
            };
            match t.reqs.iter_mut().find(|r| r.key == req.key) {
                // A later copy of the same request (final streaming numbers).
                Some(r) => *r = req,
                None => {
                    let at = t
                        .reqs
                        .iter()
                        .rposition(|r| r.ts <= req.ts)
                        .map_or(0, |i| i + 1);
                    t.reqs.insert(at, req);
                }
            }
            t.last_ms = t.last_ms.max(e.timestamp_ms);
            if !e.sidechain {
                if let Some(m) = e.model.clone().filter(|m| !m.is_empty()) {
                    if t.chosen.is_none() {
                        t.chosen = Some(m.clone());
                    }
                    if t.current.as_deref() != Some(&m) {
                        let from = t.current.replace(m.clone());
                        let away = t.chosen.as_deref() != Some(&m);
                        t.switched_at = away.then_some(e.timestamp_ms);
                        if let (true, Some(from), true) = (self.cfg.fallback, from, away) {
                            let how = compare(self.pricer.as_ref(), &from, &m);
                            out.push(Detected {
                                kind: SignalKind::Fallback,
                                session: session.clone(),
                                key: format!("fallback:{session}:{from}:{m}"),
                                message: format!(
                                    "Session in {} switched model from {from} to {m}{how}",
                                    where_(t)
                                ),
                            });
                        }
                    }
                }
            }
            if !touched.contains(&session) {
                touched.push(session);
            }
        }
        for s in touched {
            out.extend(self.check(&s, now_ms));
        }
        self.sessions
            .retain(|_, t| t.last_ms >= now_ms - FORGET_MS.max(keep));
        for t in self.sessions.values_mut() {
            while t.reqs.front().is_some_and(|r| r.ts < now_ms - keep) {
                t.reqs.pop_front();
            }
        }
        out
    }

    fn burn_rate(&self, t: &Track, now_ms: i64) -> f64 {
        let from = now_ms - self.cfg.burn_minutes * MIN_MS;
        let spent: f64 = t.reqs.iter().filter(|r| r.ts > from).map(|r| r.cost).sum();
        spent * 60.0 / self.cfg.burn_minutes as f64
    }

    /// The loop the session's latest main-chain requests show, if any: (first request's time,
    /// what it looks like).
    fn loop_shape(&self, t: &Track) -> Option<(i64, String)> {
        let main: Vec<&Req> = t.reqs.iter().filter(|r| !r.sidechain).collect();
        let n = self.cfg.loop_same_errors;
        if n > 0 && main.len() >= n {
            let last = &main[main.len() - n..];
            if let Some(h) = last[0].tool_error {
                if last.iter().all(|r| r.tool_error == Some(h)) {
                    return Some((
                        last[0].ts,
                        format!("the same tool error came back {n} times in a row"),
                    ));
                }
            }
        }
        let k = self.cfg.loop_min_requests;
        if main.len() < k {
            return None;
        }
        let last = &main[main.len() - k..];
        let span = last[k - 1].ts - last[0].ts;
        if span > self.cfg.loop_minutes * MIN_MS {
            return None;
        }
        let max = last.iter().map(|r| r.context).max()?;
        let min = last.iter().map(|r| r.context).min()?;
        let out = last.iter().map(|r| r.output).max()?;
        if max <= 0
            || (max - min) as f64 > self.cfg.loop_size_tolerance * max as f64
            || out > self.cfg.loop_max_output
        {
            return None;
        }
        Some((
            last[0].ts,
            format!(
                "{k} requests in {} min with the same context size (~{} tokens) and at most {out} output tokens each",
                (span + MIN_MS - 1) / MIN_MS,
                crate::format::int(max)
            ),
        ))
    }

    fn check(&mut self, session: &str, now_ms: i64) -> Vec<Detected> {
        let mut out = Vec::new();
        let Some(t) = self.sessions.get(session) else {
            return out;
        };
        let still = t.last_ms >= now_ms - STILL_SPENDING_MS;
        let limit = self.cfg.burn_usd_per_hour;
        if limit > 0.0 && still {
            let rate = self.burn_rate(t, now_ms);
            if rate > limit {
                out.push(Detected {
                    kind: SignalKind::Burn,
                    session: session.to_string(),
                    key: format!("burn:{session}:{}", now_ms.div_euclid(HOUR_MS)),
                    message: format!(
                        "Session in {} is spending {} over the last {} min (burn alert above {})",
                        where_(t),
                        crate::format::rate(rate),
                        self.cfg.burn_minutes,
                        crate::format::rate(limit)
                    ),
                });
            }
        }
        let shape = self.loop_shape(t);
        let t = self.sessions.get_mut(session).expect("looked up above");
        match shape {
            Some((start, what)) => {
                let since = match &t.loop_since {
                    Some((s, _)) if *s <= start => *s,
                    _ => start,
                };
                t.loop_since = Some((since, what.clone()));
                out.push(Detected {
                    kind: SignalKind::Loop,
                    session: session.to_string(),
                    key: format!("loop:{session}:{}", since.div_euclid(HOUR_MS)),
                    message: format!("Session in {} looks stuck in a loop: {what}", where_(t)),
                });
            }
            None => t.loop_since = None,
        }
        out
    }

    /// The signals that hold at `now_ms`: burn while the session still spends, a loop while it
    /// goes on, a fallback while the session runs on the other model.
    pub fn active(&self, now_ms: i64) -> Vec<Signal> {
        let mut v = Vec::new();
        for (session, t) in &self.sessions {
            let sig = |kind, message: String, since_ms| Signal {
                kind,
                session: session.clone(),
                tool: t.tool.clone(),
                repo: t.repo.clone(),
                message,
                since_ms,
                last_ms: t.last_ms,
            };
            let limit = self.cfg.burn_usd_per_hour;
            if limit > 0.0 && t.last_ms >= now_ms - STILL_SPENDING_MS {
                let rate = self.burn_rate(t, now_ms);
                if rate > limit {
                    v.push(sig(
                        SignalKind::Burn,
                        format!("burning {}", crate::format::rate(rate)),
                        now_ms - self.cfg.burn_minutes * MIN_MS,
                    ));
                }
            }
            if let Some((since, what)) = &t.loop_since {
                if t.last_ms >= now_ms - self.cfg.loop_minutes * MIN_MS {
                    v.push(sig(SignalKind::Loop, format!("loop: {what}"), *since));
                }
            }
            if let (Some(at), Some(from), Some(to)) = (t.switched_at, &t.chosen, &t.current) {
                if self.cfg.fallback && t.last_ms >= now_ms - FORGET_MS {
                    v.push(sig(
                        SignalKind::Fallback,
                        format!("model {from} → {to}"),
                        at,
                    ));
                }
            }
        }
        v.sort_by(|a, b| {
            b.last_ms
                .cmp(&a.last_ms)
                .then(a.session.cmp(&b.session))
                .then(a.kind.as_str().cmp(b.kind.as_str()))
        });
        v
    }
}
