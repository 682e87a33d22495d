//! [`SpecParser`], the [`Parser`] a spec compiles to, and its readers of the four formats:
//! `jsonl` and `regex` lines, whole `json` documents, and read-only `sqlite` queries.

use super::compile::Compiled;
use super::document::SpecFormat;
use super::path::Seg;
use super::record::{step, Ctx};
use crate::event::UsageEvent;
use crate::parser::chain_ctx::Chain;
use crate::parser::common;
use crate::parser::{FileState, Format, ParseError, Parser, WholeReport};
use serde_json::{Map, Value};
use std::path::Path;

/// A parser driven by a spec document.
#[derive(Debug)]
pub struct SpecParser {
    pub(super) tool: String,
    pub(super) format: SpecFormat,
    pub(super) estimated: bool,
    pub(super) c: Compiled,
}

impl SpecParser {
    /// The format the spec declares (`format`).
    pub fn spec_format(&self) -> SpecFormat {
        self.format
    }

    /// Records of a JSON document, with their map key (under a `*` over an object) and index.
    fn records_of<'a>(&self, doc: &'a Value, whole_file: bool) -> Vec<(Option<String>, &'a Value)> {
        fn collect<'a>(
            v: &'a Value,
            segs: &[Seg],
            key: Option<String>,
            out: &mut Vec<(Option<String>, &'a Value)>,
        ) {
            let Some((first, rest)) = segs.split_first() else {
                out.push((key, v));
                return;
            };
            match first {
                Seg::Wild => match v {
                    Value::Array(a) => a.iter().for_each(|x| collect(x, rest, key.clone(), out)),
                    Value::Object(m) => m
                        .iter()
                        .for_each(|(k, x)| collect(x, rest, Some(k.clone()), out)),
                    _ => {}
                },
                s => {
                    if let Some(x) = step(v, s) {
                        collect(x, rest, key, out)
                    }
                }
            }
        }
        let mut out = Vec::new();
        match &self.c.records {
            Some(segs) => {
                let mut segs = segs.clone();
                // A path that ends on an array means its elements.
                let mut probe = Vec::new();
                collect(doc, &segs, None, &mut probe);
                if probe.len() == 1 && probe[0].1.is_array() {
                    segs.push(Seg::Wild);
                    collect(doc, &segs, None, &mut out);
                } else {
                    out = probe;
                }
            }
            None => match doc {
                Value::Array(a) if whole_file => out.extend(a.iter().map(|x| (None, x))),
                _ => out.push((None, doc)),
            },
        }
        out
    }

    /// All events of one JSON document. `st` is the working state (carried fields, counters).
    fn json_doc(
        &self,
        doc: &Value,
        path: &Path,
        st: &mut FileState,
        index_base: &str,
        whole_file: bool,
        on_record: &mut dyn FnMut(Result<Option<UsageEvent>, ParseError>),
    ) {
        let nested = self.c.records.is_some();
        // Document-level fields (`$.`-paths) are remembered even when the document holds no
        // selected record (a session header line).
        let top = Ctx {
            rec: doc,
            doc,
            key: None,
            index: index_base,
            path,
            vars: None,
        };
        self.carry(&top, st, nested || whole_file);
        for (i, (key, rec)) in self.records_of(doc, whole_file).into_iter().enumerate() {
            let index = if nested || whole_file {
                if index_base.is_empty() {
                    i.to_string()
                } else {
                    format!("{index_base}.{i}")
                }
            } else {
                index_base.to_string()
            };
            let ctx = Ctx {
                rec,
                doc,
                key: key.as_deref(),
                index: &index,
                path,
                vars: None,
            };
            on_record(self.record(&ctx, st));
        }
    }

    fn regex_line(
        &self,
        line: &str,
        path: &Path,
        st: &mut FileState,
        index: &str,
    ) -> Result<Option<UsageEvent>, ParseError> {
        let mut vars = match st.extra.remove("vars") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for re in &self.c.state_re {
            if let Some(caps) = re.captures(line) {
                for name in re.capture_names().flatten() {
                    if let Some(m) = caps.name(name) {
                        vars.insert(name.to_string(), Value::String(m.as_str().to_string()));
                    }
                }
            }
        }
        let re = self.c.usage_re.as_ref().expect("validated");
        let result = match re.captures(line) {
            None => Ok(None),
            Some(caps) => {
                let mut rec = Map::new();
                for name in re.capture_names().flatten() {
                    if let Some(m) = caps.name(name) {
                        rec.insert(name.to_string(), Value::String(m.as_str().to_string()));
                    }
                }
                let rec = Value::Object(rec);
                let ctx = Ctx {
                    rec: &rec,
                    doc: &rec,
                    key: None,
                    index,
                    path,
                    vars: Some(&vars),
                };
                self.record(&ctx, st)
            }
        };
        if !vars.is_empty() {
            st.extra.insert("vars".into(), Value::Object(vars));
        }
        result
    }

    fn sqlite(
        &self,
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        use rusqlite::{types::ValueRef, OpenFlags};
        let mut report = WholeReport::default();
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| ParseError(format!("cannot open {} read-only: {e}", path.display())))?;
        let _ = conn.busy_timeout(std::time::Duration::from_millis(250));
        let query = self.c.query.as_deref().expect("validated");
        let mut stmt = conn
            .prepare(query)
            .map_err(|e| ParseError(format!("`sqlite.query` failed on {}: {e}", path.display())))?;
        if !stmt.readonly() {
            return Err(ParseError("`sqlite.query` must only read".into()));
        }
        let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let wm_before = state
            .extra
            .get("watermark")
            .cloned()
            .unwrap_or(Value::from(0));
        if let Ok(Some(i)) = stmt.parameter_index(":watermark") {
            let r = match &wm_before {
                Value::Number(n) if n.is_i64() => stmt.raw_bind_parameter(i, n.as_i64().unwrap()),
                Value::Number(n) => stmt.raw_bind_parameter(i, n.as_f64().unwrap_or(0.0)),
                Value::String(s) => stmt.raw_bind_parameter(i, s.as_str()),
                _ => stmt.raw_bind_parameter(i, 0i64),
            };
            r.map_err(|e| ParseError(format!("cannot bind :watermark: {e}")))?;
        }
        let mut work = FileState {
            counters: std::mem::take(&mut state.counters),
            ..FileState::default()
        };
        let mut wm = wm_before.clone();
        let mut rows = stmt.raw_query();
        let mut n = 0usize;
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    state.counters = std::mem::take(&mut work.counters);
                    return Err(ParseError(format!(
                        "reading {} failed: {e}",
                        path.display()
                    )));
                }
            };
            let mut rec = Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i) {
                    Ok(ValueRef::Null) | Err(_) => Value::Null,
                    Ok(ValueRef::Integer(x)) => Value::from(x),
                    Ok(ValueRef::Real(x)) => Value::from(x),
                    Ok(ValueRef::Text(t)) => Value::String(String::from_utf8_lossy(t).into_owned()),
                    Ok(ValueRef::Blob(b)) => match std::str::from_utf8(b) {
                        Ok(s) => Value::String(s.to_string()),
                        Err(_) => Value::Null,
                    },
                };
                rec.insert(name.clone(), v);
            }
            let rec = Value::Object(rec);
            if let Some(col) = &self.c.watermark {
                if let Some(v) = rec.get(col) {
                    let bigger = match (v, &wm) {
                        (Value::Number(a), Value::Number(b)) => {
                            a.as_f64().unwrap_or(0.0) > b.as_f64().unwrap_or(0.0)
                        }
                        (Value::String(a), Value::String(b)) => a > b,
                        (Value::String(_), Value::Number(_)) => true,
                        _ => false,
                    };
                    if bigger {
                        wm = v.clone();
                    }
                }
            }
            let index = n.to_string();
            n += 1;
            let ctx = Ctx {
                rec: &rec,
                doc: &rec,
                key: None,
                index: &index,
                path,
                vars: None,
            };
            match self.record(&ctx, &mut work) {
                Ok(Some(e)) => out.push(e),
                Ok(None) => {}
                Err(e) => report.bad(e.0),
            }
        }
        state.counters = work.counters;
        if self.c.watermark.is_some() {
            state.extra.insert("watermark".into(), wm);
        }
        Ok(report)
    }
}

/// The line counter of a line-format file (numbers records for keys without a template).
fn next_line_no(state: &mut FileState) -> u64 {
    let n = state.extra.get("line").and_then(Value::as_u64).unwrap_or(0) + 1;
    state.extra.insert("line".into(), Value::from(n));
    n
}

impl Parser for SpecParser {
    fn tool(&self) -> &str {
        &self.tool
    }

    fn keeps_context(&self) -> bool {
        self.c.context.is_some()
    }

    fn format(&self) -> Format {
        match self.format {
            SpecFormat::Jsonl | SpecFormat::Regex => Format::Lines,
            SpecFormat::Json => Format::WholeFile,
            SpecFormat::Sqlite => Format::Sqlite,
        }
    }

    fn parse_line(
        &self,
        line: &[u8],
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        // Blank lines carry nothing and are not numbered (whether a reader hands them over or
        // not, record numbers stay the same).
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        // A malformed line changes nothing: work on a copy, commit it on success. The line
        // counter advances either way so that later records keep stable numbers.
        let line_no = next_line_no(state);
        let mut work = state.clone();
        let mut events = Vec::new();
        match self.format {
            SpecFormat::Jsonl => {
                let doc: Value = serde_json::from_slice(line)?;
                // Context composition: every record is a link of the file's chain, whatever
                // its usage (the chain lives in the shared in-memory state, not in `work`).
                let node = self
                    .c
                    .context
                    .as_ref()
                    .and_then(|cfg| state.scratch.with(|c: &mut Chain| c.note(line, cfg)));
                work.scratch = state.scratch.clone();
                let mut first_err = None;
                self.json_doc(
                    &doc,
                    path,
                    &mut work,
                    &line_no.to_string(),
                    false,
                    &mut |r| match r {
                        Ok(Some(e)) => events.push(e),
                        Ok(None) => {}
                        Err(e) => {
                            first_err.get_or_insert(e);
                        }
                    },
                );
                if let Some(e) = first_err {
                    return Err(e);
                }
                if let (Some(cfg), Some(n)) = (&self.c.context, node) {
                    for e in &mut events {
                        let total = e.tokens.prompt_total();
                        e.ctx = work
                            .scratch
                            .with(|c: &mut Chain| c.compose(n, total, cfg))
                            .map(crate::event::Ctx::from);
                    }
                }
            }
            SpecFormat::Regex => {
                let text = String::from_utf8_lossy(line);
                if let Some(e) = self.regex_line(&text, path, &mut work, &line_no.to_string())? {
                    events.push(e);
                }
            }
            SpecFormat::Json | SpecFormat::Sqlite => {
                return Err(ParseError(format!("{} reads whole files", self.tool)))
            }
        }
        *state = work;
        out.extend(events);
        Ok(())
    }

    fn parse_whole(
        &self,
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        match self.format {
            SpecFormat::Json => {
                let mut report = WholeReport::default();
                let Some(doc) = common::read_json_doc(path, &mut report)? else {
                    return Ok(report);
                };
                // Carried fields start fresh on every read; cumulative counters persist.
                let mut work = FileState {
                    counters: std::mem::take(&mut state.counters),
                    ..FileState::default()
                };
                self.json_doc(&doc, path, &mut work, "", true, &mut |r| match r {
                    Ok(Some(e)) => out.push(e),
                    Ok(None) => {}
                    Err(e) => report.bad(e.0),
                });
                state.counters = work.counters;
                Ok(report)
            }
            SpecFormat::Sqlite => self.sqlite(path, state, out),
            _ => Err(ParseError(format!("{} reads line logs", self.tool))),
        }
    }
}
