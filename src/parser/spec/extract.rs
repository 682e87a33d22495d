//! One record to one event: selection, remembered session fields, timestamps, token buckets,
//! key templates and the counting rules (per record, last wins, keep max, cumulative).

use super::compile::{Cond, TsFormat};
use super::document::{Bucket, Rule};
use super::engine::SpecParser;
use super::path::{FieldPath, Part, Paths, Pseudo, Template};
use super::record::Ctx;
use crate::event::{Merge, Tokens, UsageEvent};
use crate::parser::common::{self, scalar_string};
use crate::parser::{FileState, ParseError};
use serde_json::Value;

const BUCKET_NAMES: [&str; 6] = [
    "tokens.input",
    "tokens.cache_read",
    "tokens.cache_write_5m",
    "tokens.cache_write_1h",
    "tokens.output",
    "tokens.reasoning",
];

impl SpecParser {
    fn naive_ts(&self, s: &str, fmt: &str) -> Option<i64> {
        use chrono::TimeZone;
        let n = chrono::NaiveDateTime::parse_from_str(s, fmt).ok()?;
        if self.c.ts_local {
            chrono::Local
                .from_local_datetime(&n)
                .earliest()
                .map(|d| d.timestamp_millis())
        } else {
            Some(n.and_utc().timestamp_millis())
        }
    }

    fn timestamp(&self, v: &Value) -> Option<i64> {
        match &self.c.ts_format {
            TsFormat::Auto => common::timestamp(v).or_else(|| {
                let s = v.as_str()?.trim();
                [
                    "%Y-%m-%d %H:%M:%S%.f",
                    "%Y-%m-%dT%H:%M:%S%.f",
                    "%Y-%m-%d %H:%M:%S",
                ]
                .iter()
                .find_map(|f| self.naive_ts(s, f))
            }),
            TsFormat::Rfc3339 => v.as_str().and_then(|s| crate::event::parse_ts_ms(s.trim())),
            TsFormat::EpochMs => match v {
                Value::Number(n) => n.as_f64().map(|f| f as i64),
                Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
                _ => None,
            },
            TsFormat::EpochS => match v {
                Value::Number(n) => n.as_f64().map(|f| (f * 1000.0).round() as i64),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .map(|f| (f * 1000.0).round() as i64),
                _ => None,
            },
            TsFormat::Strftime(f) => {
                let s = v.as_str()?.trim();
                chrono::DateTime::parse_from_str(s, f)
                    .ok()
                    .map(|d| d.timestamp_millis())
                    .or_else(|| self.naive_ts(s, f))
            }
        }
    }

    fn number(&self, v: &Value, what: &str, rounded: &mut bool) -> Result<i64, ParseError> {
        if self.c.humanized {
            if let Value::String(s) = v {
                let (n, r) = common::humanized(s)
                    .ok_or_else(|| ParseError(format!("`{what}` is not a number")))?;
                *rounded |= r;
                return Ok(n);
            }
        }
        common::count(Some(v), what)
    }

    /// Remember session-level fields the record (or document) names.
    pub(super) fn carry(&self, ctx: &Ctx, st: &mut FileState, doc_only: bool) {
        let pick = |ps: &Paths| -> Option<String> {
            ps.0.iter()
                .filter(|p| !doc_only || matches!(p, FieldPath::Doc(_)))
                .find_map(|p| ctx.get(p).and_then(|v| scalar_string(&v)))
        };
        if let Some(v) = pick(&self.c.session) {
            st.session_id = Some(v);
        }
        if let Some(v) = pick(&self.c.cwd) {
            st.cwd = Some(v);
        }
        if let Some(v) = pick(&self.c.branch) {
            st.branch = Some(v);
        }
        if let Some(v) = pick(&self.c.repo) {
            st.repo = Some(v);
        }
        if let Some(v) = pick(&self.c.model) {
            st.model = Some(v);
        }
    }

    fn selected(&self, ctx: &Ctx) -> bool {
        self.c.conds.iter().all(|c| match c {
            Cond::Eq(p, vals) => ctx.get(p).is_some_and(|v| vals.iter().any(|x| same(&v, x))),
            Cond::Ne(p, vals) => !ctx.get(p).is_some_and(|v| vals.iter().any(|x| same(&v, x))),
            Cond::Present(p) => ctx.get(p).is_some(),
        })
    }

    fn render_key(
        &self,
        t: &Template,
        ctx: &Ctx,
        session: Option<&str>,
    ) -> Result<String, ParseError> {
        let mut s = String::new();
        for p in &t.0 {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Field(FieldPath::Pseudo(Pseudo::Session)) => {
                    s.push_str(session.ok_or_else(|| {
                        ParseError("`{@session}` in `count.key`: no session id known".into())
                    })?);
                }
                Part::Field(f) => {
                    let v = ctx
                        .get(f)
                        .and_then(|v| scalar_string(&v))
                        .ok_or_else(|| ParseError("a `count.key` field is missing".into()))?;
                    s.push_str(&v);
                }
            }
        }
        Ok(s)
    }

    /// One record: `Ok(None)` when it carries no usage (or is not selected).
    pub(super) fn record(
        &self,
        ctx: &Ctx,
        st: &mut FileState,
    ) -> Result<Option<UsageEvent>, ParseError> {
        self.carry(ctx, st, false);
        if !self.selected(ctx) {
            return Ok(None);
        }
        let mut rounded = false;
        let mut raw = [0i64; 6];
        for (i, b) in self.c.buckets.iter().enumerate() {
            for p in &b.0 {
                if let Some(v) = ctx.get(p) {
                    raw[i] += self.number(&v, BUCKET_NAMES[i], &mut rounded)?;
                }
            }
        }
        let requests = match ctx.first(&self.c.requests) {
            Some(v) => Some(self.number(&v, "fields.requests", &mut rounded)?),
            None => None,
        };
        let cost = match ctx.first(&self.c.cost) {
            Some(v) => common::money(Some(&v), "fields.cost_usd")?,
            None => None,
        };
        let ts_val = ctx
            .first(&self.c.timestamp)
            .ok_or_else(|| ParseError("the record has no `fields.timestamp`".into()))?;
        let ts = self
            .timestamp(&ts_val)
            .ok_or_else(|| ParseError("`fields.timestamp` is not a timestamp".into()))?;

        let (tokens, key, merge, requests) = match self.c.rule {
            Rule::CumulativePerFile | Rule::CumulativePerKey => {
                let id = match self.c.rule {
                    Rule::CumulativePerKey => self.render_key(
                        self.c.key.as_ref().expect("validated"),
                        ctx,
                        st.session_id.as_deref(),
                    )?,
                    _ => ctx.path.to_string_lossy().into_owned(),
                };
                let cur = [
                    raw[0],
                    raw[1],
                    raw[2],
                    raw[3],
                    raw[4],
                    raw[5],
                    requests.unwrap_or(0),
                ];
                let slot = st
                    .counters
                    .entry(format!("cum:{id}"))
                    .or_insert_with(|| vec![0; 8]);
                slot.resize(8, 0);
                let mut delta = [0i64; 7];
                for i in 0..7 {
                    if cur[i] > slot[i] {
                        delta[i] = cur[i] - slot[i];
                        slot[i] = cur[i];
                    }
                }
                if delta.iter().all(|d| *d == 0) {
                    return Ok(None);
                }
                slot[7] += 1;
                let n = slot[7];
                let d6 = [delta[0], delta[1], delta[2], delta[3], delta[4], delta[5]];
                let req = if requests.is_some() { delta[6] } else { 1 };
                (
                    self.normalize(d6),
                    format!("{}:{id}:{n}", self.tool),
                    Merge::FirstWins,
                    req,
                )
            }
            rule => {
                let key = match &self.c.key {
                    Some(t) => self.render_key(t, ctx, st.session_id.as_deref())?,
                    None => format!("{}:{}", ctx.path.to_string_lossy(), ctx.index),
                };
                let merge = match rule {
                    Rule::LastWins => Merge::LastWins,
                    Rule::KeepMax => Merge::KeepMax,
                    _ => Merge::FirstWins,
                };
                (
                    self.normalize(raw),
                    format!("{}:{key}", self.tool),
                    merge,
                    requests.unwrap_or(1),
                )
            }
        };
        if tokens.is_zero() && cost.is_none() {
            return Ok(None);
        }
        let mut e = common::event(&self.tool, key, merge, ts, tokens);
        e.requests = requests;
        e.reported_cost_usd = cost;
        e.estimated = self.estimated || rounded;
        e.provider = ctx.first_string(&self.c.provider);
        e.model = st.model.clone();
        e.session_id = st.session_id.clone();
        e.cwd = st.cwd.clone();
        e.branch = st.branch.clone();
        e.repo_hint = st.repo.clone();
        Ok(Some(e))
    }

    fn normalize(&self, raw: [i64; 6]) -> Tokens {
        let [inp, cr, w5, w1, out, rs] = raw;
        let mut input = inp;
        for b in &self.c.input_includes {
            input -= match b {
                Bucket::CacheRead => cr,
                Bucket::CacheWrite => w5 + w1,
                Bucket::CacheWrite5m => w5,
                Bucket::CacheWrite1h => w1,
            };
        }
        Tokens {
            input: input.max(0),
            cache_write_5m: w5,
            cache_write_1h: w1,
            cache_read: cr,
            output: if self.c.reasoning_in_output {
                out
            } else {
                out + rs
            },
            reasoning: rs,
        }
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
