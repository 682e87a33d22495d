//! Cursor (log-formats §5): the global `state.vscdb`, and the usage CSV from the dashboard.
//!
//! Local data is *not* a usage ledger:
//! - `cursorDiskKV` rows `bubbleId:<composerId>:<bubbleId>` are chat bubbles; assistant bubbles
//!   (`type` 2) carry `tokenCount.{inputTokens,outputTokens}`. Cache tokens and cost are never
//!   stored locally, and builds since about February 2026 write `{0, 0}`.
//! - An assistant bubble with tokens becomes an event with those tokens (input, output).
//! - An assistant bubble with zero tokens becomes a **request-count-only** event: tokens 0,
//!   `requests` 1, `estimated = true`, so Cursor activity shows up as requests and is clearly
//!   marked as not measured. Every assistant bubble counts (agent mode writes one per model
//!   turn), which can be more than the "requests" Cursor bills.
//! - One key per bubble, `cursor:bubble:<composerId>:<bubbleId>`, [`Merge::LastWins`]: a bubble
//!   that later gains its token counts replaces its estimate.
//! - Session = composer id; branch = the composer's `createdOnBranch`; model = the bubble's
//!   `modelInfo.modelName`, else the composer's `modelConfig.modelName`.
//! - cwd: the workspace folder whose workspace database lists the composer
//!   (`workspaceStorage/<hash>/state.vscdb`, `ItemTable` `composer.composerData`, folder from
//!   `workspace.json`). Workspace databases are read only when a bubble's composer is not yet
//!   known, and only those that changed since they were last read.
//! - The access token in `ItemTable` (`cursorAuth/accessToken`) is a credential: never read.
//!
//! The accurate source is the dashboard's usage CSV: [`parse_cursor_csv`] imports it (both
//! header variants). CSV rows and local bubbles cannot be matched to each other (the CSV has no
//! bubble or request id): import the CSV for periods whose bubbles carry no tokens.
//!
//! Re-reads: [`RowidTail`] on `cursorDiskKV` (Cursor replaces a row to update it, which gives it
//! a new rowid); recent zero-token assistant bubbles are also re-checked by key in case they are
//! updated in place.

use super::sqlite_ro::{self, bytes_of, fnv, query_err, text_of, RoDb, RowidTail};
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{parse_ts_ms, Merge, Tokens, UsageEvent};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Cursor's `state.vscdb` (request counts only).
pub struct CursorParser;

const PAGE: i64 = 200;
/// Zero-token assistant bubbles created this close to the newest bubble are re-checked.
const RECHECK_MS: i64 = 10 * 60 * 1000;
const PENDING_MAX: usize = 200;
/// Composer -> workspace folder entries kept between reads.
const WS_MAX: usize = 2000;

#[derive(Deserialize)]
struct Bubble {
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(rename = "createdAt", default)]
    created_at: Option<Value>,
    #[serde(rename = "modelInfo", default)]
    model_info: Option<Value>,
    #[serde(rename = "tokenCount", default)]
    token_count: Option<Value>,
}

#[derive(Deserialize, Default, Clone)]
struct Composer {
    #[serde(rename = "createdAt", default)]
    created_at: Option<Value>,
    #[serde(rename = "createdOnBranch", default)]
    branch: Option<Value>,
    #[serde(rename = "modelConfig", default)]
    model_config: Option<Value>,
}

fn count(v: Option<&Value>, what: &str) -> Result<i64, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)) {
            Some(x) if x >= 0 => Ok(x),
            _ => Err(ParseError(format!("{what} is not a token count"))),
        },
        Some(_) => Err(ParseError(format!("{what} has the wrong type"))),
    }
}

/// `createdAt`: ISO string or epoch ms.
fn time_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => parse_ts_ms(s),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

fn name_in(v: Option<&Value>, key: &str) -> Option<String> {
    v?.get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

struct BubbleUsage {
    assistant: bool,
    created: Option<i64>,
    model: Option<String>,
    tokens: Tokens,
}

fn bubble_usage(bytes: &[u8]) -> Result<BubbleUsage, ParseError> {
    let b: Bubble = serde_json::from_slice(bytes)?;
    let kind = match &b.kind {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => return Err(ParseError("bubble type has the wrong type".into())),
    };
    let tc = b.token_count.as_ref().filter(|v| !v.is_null());
    if tc.is_some_and(|v| !v.is_object()) {
        return Err(ParseError("tokenCount has the wrong type".into()));
    }
    let tokens = Tokens {
        input: count(tc.and_then(|t| t.get("inputTokens")), "inputTokens")?,
        output: count(tc.and_then(|t| t.get("outputTokens")), "outputTokens")?,
        ..Tokens::default()
    };
    Ok(BubbleUsage {
        assistant: kind == Some(2),
        created: time_of(b.created_at.as_ref()),
        model: name_in(b.model_info.as_ref(), "modelName"),
        tokens,
    })
}

/// Composer -> workspace folder, from the workspace databases next to the global one.
struct Workspaces {
    root: Option<PathBuf>,
    /// composer id -> (folder, last time it was needed)
    map: BTreeMap<String, (String, i64)>,
    /// workspace dir name -> modification time (ns) of its database when last read
    scanned: BTreeMap<String, i64>,
    rescanned: bool,
}

impl Workspaces {
    fn load(global_db: &Path, state: &FileState) -> Workspaces {
        // .../User/globalStorage/state.vscdb -> .../User/workspaceStorage
        let root = global_db
            .parent()
            .and_then(Path::parent)
            .map(|u| u.join("workspaceStorage"))
            .filter(|p| p.is_dir());
        let mut w = Workspaces {
            root,
            map: BTreeMap::new(),
            scanned: BTreeMap::new(),
            rescanned: false,
        };
        if let Some(Value::Object(m)) = state.extra.get("ws") {
            for (k, v) in m {
                if let (Some(f), Some(t)) = (v.get(0).and_then(Value::as_str), v.get(1)) {
                    w.map
                        .insert(k.clone(), (f.to_string(), t.as_i64().unwrap_or(0)));
                }
            }
        }
        if let Some(Value::Object(m)) = state.extra.get("ws_scanned") {
            for (k, v) in m {
                if let Some(t) = v.as_i64() {
                    w.scanned.insert(k.clone(), t);
                }
            }
        }
        w
    }

    fn save(&mut self, state: &mut FileState) {
        if self.map.len() > WS_MAX {
            let mut v: Vec<_> = std::mem::take(&mut self.map).into_iter().collect();
            v.sort_by_key(|(_, (_, t))| std::cmp::Reverse(*t));
            v.truncate(WS_MAX);
            self.map = v.into_iter().collect();
        }
        let m: Map<String, Value> = self
            .map
            .iter()
            .map(|(k, (f, t))| (k.clone(), json!([f, t])))
            .collect();
        let s: Map<String, Value> = self
            .scanned
            .iter()
            .map(|(k, t)| (k.clone(), json!(t)))
            .collect();
        state.extra.insert("ws".into(), Value::Object(m));
        state.extra.insert("ws_scanned".into(), Value::Object(s));
    }

    fn folder(&mut self, composer: &str, ts: i64) -> Option<String> {
        if !self.map.contains_key(composer) && !self.rescanned {
            self.rescan();
        }
        let e = self.map.get_mut(composer)?;
        e.1 = e.1.max(ts);
        Some(e.0.clone())
    }

    /// Reads the workspace databases that changed since their last read.
    fn rescan(&mut self) {
        self.rescanned = true;
        let Some(root) = self.root.clone() else {
            return;
        };
        let Ok(rd) = std::fs::read_dir(&root) else {
            return;
        };
        for e in rd.flatten() {
            let dir = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let db = dir.join("state.vscdb");
            let Some(mtime) = mtime_ns(&db) else { continue };
            if self.scanned.get(&name) == Some(&mtime) {
                continue;
            }
            self.scanned.insert(name, mtime);
            let Some(folder) = workspace_folder(&dir.join("workspace.json")) else {
                continue;
            };
            for c in workspace_composers(&db) {
                let t = self.map.get(&c).map(|x| x.1).unwrap_or(0);
                self.map.insert(c, (folder.clone(), t));
            }
        }
    }
}

fn mtime_ns(p: &Path) -> Option<i64> {
    let m = std::fs::metadata(p).ok()?.modified().ok()?;
    let d = m.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos() as i64)
}

/// `workspace.json` `{"folder": "file:///home/u/proj"}` -> `/home/u/proj`. Remote and
/// multi-root workspaces have no single local folder: none.
fn workspace_folder(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() > 1 << 20 {
        return None;
    }
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    file_uri_path(v.get("folder")?.as_str()?)
}

pub(crate) fn file_uri_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    // Authority (usually empty) up to the path.
    let path = &rest[rest.find('/')?..];
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let mut s = String::from_utf8(out).ok()?;
    // file:///c%3A/Users/x -> c:/Users/x
    let b = s.as_bytes();
    if b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':' {
        s.remove(0);
    }
    Some(s)
}

/// Composer ids a workspace database lists (`ItemTable` `composer.composerData`).
fn workspace_composers(db: &Path) -> Vec<String> {
    let Ok(ro) = sqlite_ro::open_ro(db) else {
        return Vec::new();
    };
    let v: Option<Vec<u8>> = ro
        .conn
        .query_row(
            "SELECT value FROM ItemTable WHERE key = 'composer.composerData'",
            [],
            |r| Ok(bytes_of(r.get_ref(0)?)),
        )
        .ok()
        .flatten();
    #[derive(Deserialize)]
    struct All {
        #[serde(rename = "allComposers", default)]
        all: Vec<One>,
    }
    #[derive(Deserialize)]
    struct One {
        #[serde(rename = "composerId", default)]
        id: Option<String>,
    }
    v.and_then(|b| serde_json::from_slice::<All>(&b).ok())
        .map(|a| a.all.into_iter().filter_map(|o| o.id).collect())
        .unwrap_or_default()
}

struct Reader<'a> {
    db: &'a RoDb,
    composers: HashMap<String, Composer>,
    ws: Workspaces,
    report: WholeReport,
    newest: i64,
}

impl Reader<'_> {
    fn composer(&mut self, id: &str) -> Composer {
        if let Some(c) = self.composers.get(id) {
            return c.clone();
        }
        let bytes: Option<Vec<u8>> = self
            .db
            .conn
            .query_row(
                "SELECT value FROM cursorDiskKV WHERE key = ?1",
                [format!("composerData:{id}")],
                |r| Ok(bytes_of(r.get_ref(0)?)),
            )
            .ok()
            .flatten();
        let c = bytes
            .and_then(|b| serde_json::from_slice::<Composer>(&b).ok())
            .unwrap_or_default();
        self.composers.insert(id.to_string(), c.clone());
        c
    }

    /// One `bubbleId:` row. Returns (time, content hash) when the bubble should be re-checked
    /// later (a zero-token assistant bubble: it may still receive its counts).
    fn process(
        &mut self,
        key: &str,
        value: Option<Vec<u8>>,
        out: &mut Vec<UsageEvent>,
    ) -> Option<(i64, i64)> {
        let value = value?; // deleted/empty bubble
        let mut parts = key.splitn(3, ':');
        let (Some(_), Some(composer), Some(bubble)) = (parts.next(), parts.next(), parts.next())
        else {
            self.report
                .bad("bubble key without composer and bubble ids");
            return None;
        };
        let u = match bubble_usage(&value) {
            Ok(u) => u,
            Err(e) => {
                self.report.bad(format!("bubble: {e}"));
                return None;
            }
        };
        if !u.assistant && u.tokens.is_zero() {
            return None; // user bubbles carry no usage
        }
        let c = self.composer(composer);
        let Some(ts) = u.created.or_else(|| time_of(c.created_at.as_ref())) else {
            self.report.bad("bubble without a time");
            return None;
        };
        self.newest = self.newest.max(ts);
        let mut e = UsageEvent::new(
            "cursor",
            format!("cursor:bubble:{composer}:{bubble}"),
            Merge::LastWins,
            ts,
        );
        e.model = u
            .model
            .clone()
            .or_else(|| name_in(c.model_config.as_ref(), "modelName"));
        e.tokens = u.tokens;
        e.estimated = u.tokens.is_zero();
        e.session_id = Some(composer.to_string());
        e.branch = c
            .branch
            .as_ref()
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        e.cwd = self.ws.folder(composer, ts);
        out.push(e);
        u.tokens.is_zero().then(|| (ts, fnv(&value)))
    }
}

impl Parser for CursorParser {
    fn tool(&self) -> &str {
        "cursor"
    }
    fn format(&self) -> Format {
        Format::Sqlite
    }

    fn parse_whole(
        &self,
        path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<WholeReport, ParseError> {
        let db = sqlite_ro::open_ro(path)?;
        if !db.table_exists("cursorDiskKV") {
            let mut report = WholeReport::default();
            // Editors of the VS Code family all have ItemTable; older Cursor builds have no
            // cursorDiskKV (and no usage). Anything else is not a state database.
            if !db.table_exists("ItemTable") {
                report.bad("no cursorDiskKV or ItemTable table (unknown schema)");
            }
            return Ok(report);
        }
        let mut rd = Reader {
            db: &db,
            composers: HashMap::new(),
            ws: Workspaces::load(path, state),
            report: WholeReport::default(),
            newest: 0,
        };
        let mut tail = RowidTail::load(state, "bubbles");
        let incremental = tail
            .anchor_holds(&db.conn, "SELECT key FROM cursorDiskKV WHERE rowid = ?1")
            .map_err(|e| query_err("bubbles", &e))?;
        if !incremental {
            tail = RowidTail::default();
        }
        let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(i64, String, Option<Vec<u8>>)> {
            Ok((
                r.get(0)?,
                text_of(r.get_ref(1)?).unwrap_or_default(),
                bytes_of(r.get_ref(2)?),
            ))
        };
        let mut pending_new: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut done: std::collections::HashSet<String> = Default::default();
        // New rows first (they set `newest`), then recent zero-token bubbles.
        let mut after = tail.rowid.unwrap_or(i64::MIN);
        loop {
            let rows: Vec<(i64, String, Option<Vec<u8>>)> = {
                let mut st = db
                    .conn
                    .prepare_cached(
                        "SELECT rowid, key, value FROM cursorDiskKV \
                         WHERE rowid > ?1 AND key LIKE 'bubbleId:%' ORDER BY rowid LIMIT ?2",
                    )
                    .map_err(|e| query_err("bubbles", &e))?;
                let it = st
                    .query_map(rusqlite::params![after, PAGE], read)
                    .map_err(|e| query_err("bubbles", &e))?;
                it.collect::<rusqlite::Result<_>>()
                    .map_err(|e| query_err("bubbles", &e))?
            };
            let n = rows.len() as i64;
            for (rowid, key, value) in rows {
                after = rowid;
                tail.advance(rowid, &key);
                done.insert(key.clone());
                if let Some(h) = rd.process(&key, value, out) {
                    pending_new.insert(key, h);
                }
            }
            if n < PAGE {
                break;
            }
        }
        let old_pending = std::mem::take(&mut tail.pending);
        for (key, (t, h)) in old_pending {
            if done.contains(&key) || t < rd.newest - RECHECK_MS {
                continue;
            }
            let row = db
                .conn
                .query_row(
                    "SELECT rowid, key, value FROM cursorDiskKV WHERE key = ?1",
                    [&key],
                    read,
                )
                .ok();
            let Some((_, _, value)) = row else { continue };
            let Some(bytes) = value else { continue };
            if fnv(&bytes) == h {
                pending_new.insert(key, (t, h)); // unchanged: keep watching while recent
                continue;
            }
            if let Some(h2) = rd.process(&key, Some(bytes), out) {
                pending_new.insert(key, h2);
            }
        }
        tail.pending = pending_new;
        tail.trim_pending(rd.newest - RECHECK_MS, PENDING_MAX);
        tail.save(state, "bubbles");
        rd.ws.save(state);
        Ok(rd.report)
    }
}

// ------------------------------------------------------------------------------------------
// Dashboard CSV import
// ------------------------------------------------------------------------------------------

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes, CRLF or LF).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rec: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                any = true;
            }
            ',' => {
                rec.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' => {}
            '\n' => {
                rec.push(std::mem::take(&mut field));
                if any || rec.iter().any(|f| !f.is_empty()) {
                    out.push(std::mem::take(&mut rec));
                } else {
                    rec.clear();
                }
                any = false;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if any || !field.is_empty() {
        rec.push(field);
        out.push(rec);
    }
    out
}

/// Timestamps as the dashboard writes them (ISO 8601 UTC), plus naive forms taken as UTC.
fn csv_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = parse_ts_ms(s) {
        return Some(t);
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    None
}

/// A token figure: digits with optional thousands separators; empty is 0.
fn csv_count(s: &str) -> Option<i64> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    if t.is_empty() || t == "-" {
        return Some(0);
    }
    if let Ok(n) = t.parse::<i64>() {
        return (n >= 0).then_some(n);
    }
    let f: f64 = t.parse().ok()?;
    (f.is_finite() && f >= 0.0).then_some(f.round() as i64)
}

/// A money figure (`$0.12`, `0.12`); `Included`, `-` and empty are no figure.
fn csv_money(s: &str) -> Option<f64> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, '$' | ',' | ' '))
        .collect();
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Reads a usage CSV exported from Cursor's dashboard
/// (`export-usage-events-csv?strategy=tokens`), in either header variant:
///
/// - `Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost`
/// - `Date,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost,Cost to you`
///
/// Per row: input = `Input (w/o Cache Write)`; cache write = `Input (w/ Cache Write)` minus
/// that; cache read; output. `Cost` > 0 becomes the reported cost; a row whose `Kind` says it
/// was not charged is reported at $0. Columns are found by name, in any order.
///
/// Dedup key: `cursor:csv:<hash of time, model and token columns>:<n>`, where `n` counts
/// identical rows in the file, so importing the same CSV again (or a later export that repeats
/// these rows, in either header variant) adds nothing.
///
/// An unreadable file or a header without the needed columns is an `Err`; a bad row is skipped
/// and counted in the report.
pub fn parse_cursor_csv(path: &Path) -> anyhow::Result<(Vec<UsageEvent>, WholeReport)> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {}", path.display(), e.kind()))?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut recs = csv_records(text).into_iter();
    let header = recs
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} is empty", path.display()))?;
    let norm = |s: &str| s.trim().to_ascii_lowercase();
    let find = |names: &[&str]| -> Option<usize> {
        header
            .iter()
            .position(|h| names.iter().any(|n| norm(h) == *n))
    };
    let need = |names: &[&str]| -> anyhow::Result<usize> {
        find(names).ok_or_else(|| {
            anyhow::anyhow!(
                "{} is not a Cursor usage CSV: no {:?} column",
                path.display(),
                names[0]
            )
        })
    };
    let c_date = need(&["date"])?;
    let c_model = need(&["model"])?;
    let c_with = need(&["input (w/ cache write)"])?;
    let c_without = need(&["input (w/o cache write)"])?;
    let c_read = need(&["cache read"])?;
    let c_out = need(&["output tokens", "output"])?;
    let c_cost = find(&["cost"]);
    let c_kind = find(&["kind"]);

    let mut report = WholeReport::default();
    let mut events = Vec::new();
    let mut seen: HashMap<i64, u32> = HashMap::new();
    for (i, rec) in recs.enumerate() {
        let line = i + 2;
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: usize| rec.get(c).map(String::as_str).unwrap_or("");
        let Some(ts) = csv_time(get(c_date)) else {
            report.bad(format!("row {line}: the date is not a timestamp"));
            continue;
        };
        let nums = (
            csv_count(get(c_with)),
            csv_count(get(c_without)),
            csv_count(get(c_read)),
            csv_count(get(c_out)),
        );
        let (Some(with), Some(without), Some(read), Some(output)) = nums else {
            report.bad(format!("row {line}: a token column is not a number"));
            continue;
        };
        if with < without {
            report.bad(format!(
                "row {line}: input with cache write is smaller than without"
            ));
            continue;
        }
        let model = get(c_model).trim().to_string();
        let identity =
            format!("{ts}\u{1f}{model}\u{1f}{with}\u{1f}{without}\u{1f}{read}\u{1f}{output}");
        let h = fnv(identity.as_bytes());
        let n = seen.entry(h).or_insert(0);
        *n += 1;
        let mut e = UsageEvent::new(
            "cursor",
            format!("cursor:csv:{:016x}:{}", h as u64, n),
            Merge::LastWins,
            ts,
        );
        e.model = (!model.is_empty()).then_some(model);
        e.tokens = Tokens {
            input: without,
            cache_write_5m: with - without,
            cache_write_1h: 0,
            cache_read: read,
            output,
            reasoning: 0,
        };
        let not_charged = c_kind
            .map(|c| get(c).to_ascii_lowercase().contains("not charged"))
            .unwrap_or(false);
        let cost = c_cost.and_then(|c| csv_money(get(c)));
        e.reported_cost_usd = match cost {
            Some(c) if c > 0.0 => Some(c),
            _ if not_charged => Some(0.0),
            _ => None,
        };
        events.push(e);
    }
    Ok((events, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_crlf() {
        let r = csv_records("a,\"b,c\",\"d\"\"e\"\r\n1,2,3\n\n");
        assert_eq!(
            r,
            vec![
                vec!["a".to_string(), "b,c".into(), "d\"e".into()],
                vec!["1".into(), "2".into(), "3".into()]
            ]
        );
    }

    #[test]
    fn file_uris() {
        assert_eq!(
            file_uri_path("file:///home/u/my%20proj").as_deref(),
            Some("/home/u/my proj")
        );
        assert_eq!(
            file_uri_path("file:///c%3A/Users/x").as_deref(),
            Some("c:/Users/x")
        );
        assert_eq!(file_uri_path("vscode-remote://ssh/home/x"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(csv_count("1,234"), Some(1234));
        assert_eq!(csv_count(""), Some(0));
        assert_eq!(csv_count("abc"), None);
        assert_eq!(csv_money("$0.25"), Some(0.25));
        assert_eq!(csv_money("Included"), None);
    }
}
