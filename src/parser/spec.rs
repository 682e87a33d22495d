//! Plug-in parsers as data: a TOML document (`parsers/*.toml`, or `<config dir>/parsers/*.toml`)
//! declares a tool's log locations, record format, field paths and counting rule, and
//! [`SpecParser`] turns it into a [`Parser`]. `docs/parsers.md` is the reference for the format;
//! keep it in step with the structs below.

use super::common::{self, scalar_string};
use super::{FileState, Format, ParseError, Parser, WholeReport};
use crate::event::{Merge, Tokens, UsageEvent};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// ------------------------------------------------------------------------------------------
// The document, as written by people.

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Tool id, e.g. `qwen-code` (lowercase letters, digits, `-`, `_`, `.`).
    pub tool: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub format: SpecFormat,
    /// All events of this tool are estimates (rounded numbers, guessed buckets).
    #[serde(default)]
    pub estimated: bool,
    pub paths: PathsSpec,
    #[serde(default)]
    pub select: SelectSpec,
    #[serde(default)]
    pub regex: Option<RegexSpec>,
    #[serde(default)]
    pub sqlite: Option<SqliteSpec>,
    pub fields: FieldsSpec,
    pub tokens: TokensSpec,
    pub count: CountSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecFormat {
    /// One JSON document per line, appended.
    Jsonl,
    /// One JSON document per file, rewritten in place.
    Json,
    /// A SQLite database, queried read-only.
    Sqlite,
    /// Text lines matched by regular expressions.
    Regex,
}

impl SpecFormat {
    pub fn name(self) -> &'static str {
        match self {
            SpecFormat::Jsonl => "jsonl",
            SpecFormat::Json => "json",
            SpecFormat::Sqlite => "sqlite",
            SpecFormat::Regex => "regex",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSpec {
    /// Environment variable(s) that override the default roots (first one set wins; its value
    /// may be a comma-separated list).
    #[serde(default)]
    pub env: Option<OneOrMany>,
    /// Joined to every directory taken from `env`.
    #[serde(default)]
    pub env_subdir: Option<String>,
    /// Roots on every OS without its own list.
    #[serde(default)]
    pub default: Vec<String>,
    #[serde(default)]
    pub linux: Option<Vec<String>>,
    #[serde(default)]
    pub macos: Option<Vec<String>>,
    #[serde(default)]
    pub windows: Option<Vec<String>>,
    /// Globs relative to a root that select the log files.
    pub patterns: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSpec {
    /// Path to the records inside each document (`messages`, `data.modelMetrics.*`). Default:
    /// the document itself (a top-level array in `json` format: its elements).
    #[serde(default)]
    pub records: Option<String>,
    /// Every path must equal the value (or one of the values of an array).
    #[serde(default, rename = "where")]
    pub where_: Option<toml::Table>,
    /// No path may equal the value.
    #[serde(default)]
    pub where_not: Option<toml::Table>,
    /// Every path must be present and not null.
    #[serde(default)]
    pub require: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexSpec {
    /// Matches a line that carries usage; its named groups are the record's fields.
    pub usage: String,
    /// Lines whose named groups are remembered for later usage lines (a session header, a
    /// model banner).
    #[serde(default)]
    pub state: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSpec {
    /// A read-only query; each row is a record whose fields are the column names. Text columns
    /// holding JSON can be walked into with dotted paths.
    pub query: String,
    /// Column whose largest value is remembered and bound to `:watermark` on the next read.
    #[serde(default)]
    pub watermark: Option<String>,
}

/// A path, or a list of paths (fallbacks for fields, a sum for token buckets).
#[derive(Debug, Clone)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path string or an array of path strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = a.next_element::<String>()? {
                    v.push(s);
                }
                Ok(OneOrMany::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl OneOrMany {
    pub fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsSpec {
    pub timestamp: OneOrMany,
    /// `auto` (default), `rfc3339`, `epoch_ms`, `epoch_s`, or a chrono strftime pattern.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// Time zone of timestamps without an offset: `utc` (default) or `local`.
    #[serde(default)]
    pub timestamp_tz: Option<String>,
    #[serde(default)]
    pub model: Option<OneOrMany>,
    #[serde(default)]
    pub provider: Option<OneOrMany>,
    #[serde(default)]
    pub session: Option<OneOrMany>,
    #[serde(default)]
    pub cwd: Option<OneOrMany>,
    #[serde(default)]
    pub branch: Option<OneOrMany>,
    #[serde(default)]
    pub repo: Option<OneOrMany>,
    #[serde(default)]
    pub cost_usd: Option<OneOrMany>,
    #[serde(default)]
    pub requests: Option<OneOrMany>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSpec {
    #[serde(default)]
    pub input: Option<OneOrMany>,
    #[serde(default)]
    pub cache_read: Option<OneOrMany>,
    #[serde(default, alias = "cache_write")]
    pub cache_write_5m: Option<OneOrMany>,
    #[serde(default)]
    pub cache_write_1h: Option<OneOrMany>,
    #[serde(default)]
    pub output: Option<OneOrMany>,
    #[serde(default)]
    pub reasoning: Option<OneOrMany>,
    /// Buckets the logged input already contains (subtracted to get uncached input).
    #[serde(default)]
    pub input_includes: Vec<Bucket>,
    /// Whether the logged output already contains reasoning (default true). When false,
    /// reasoning is added to output.
    #[serde(default = "yes")]
    pub reasoning_in_output: bool,
    /// Numbers may be humanized (`1.2k`, `12k`, `1.5M`); rounded ones make the event estimated.
    #[serde(default)]
    pub humanized: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    CacheRead,
    CacheWrite,
    #[serde(rename = "cache_write_5m")]
    CacheWrite5m,
    #[serde(rename = "cache_write_1h")]
    CacheWrite1h,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    PerRecord,
    LastWins,
    KeepMax,
    CumulativePerFile,
    CumulativePerKey,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSpec {
    pub rule: Rule,
    /// Template of the record's identity, e.g. `{sessionId}:{id}`.
    #[serde(default)]
    pub key: Option<String>,
}

// ------------------------------------------------------------------------------------------
// Errors that name the spec file and the field.

/// A spec that cannot be used. Names the file and, where known, the field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpecError {
    pub file: String,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field `{}`: {}", self.file, field, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

fn err(file: &str, field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        file: file.to_string(),
        field: Some(field.to_string()),
        message: message.into(),
    }
}

/// Turn a TOML error into a [`SpecError`] naming the field it points at.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> SpecError {
    let message = e.message().trim().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .map(str::to_string);
    let Some(span) = e.span() else {
        return SpecError {
            file: file.to_string(),
            field: missing,
            message,
        };
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| {
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    // The table the span is in: its own header line, or the last header above it.
    let (table, key) = match header(line) {
        Some(h) => (Some(h), None),
        None => (
            text[..line_start]
                .lines()
                .rev()
                .map(str::trim)
                .find_map(header),
            line.split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty()),
        ),
    };
    let join = |t: Option<String>, k: String| match t {
        Some(t) => format!("{t}.{k}"),
        None => k,
    };
    let field = match (missing, key) {
        // A missing field's span covers its table (or the whole file, for top-level fields).
        (Some(m), _) => Some(join(if start == 0 { None } else { table }, m)),
        (None, Some(k)) => Some(join(table, k)),
        (None, None) => table,
    };
    SpecError {
        file: file.to_string(),
        field,
        message: format!("{message} (line {line_no})"),
    }
}

// ------------------------------------------------------------------------------------------
// Compiled paths and templates.

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Wild,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pseudo {
    File,
    FileName,
    FileStem,
    Dir,
    DirName,
    Key,
    Index,
    /// The carried session id (only in `count.key`).
    Session,
}

#[derive(Debug, Clone, PartialEq)]
enum FieldPath {
    /// Relative to the record.
    Rec(Vec<Seg>),
    /// Relative to the document (`$.`-prefixed).
    Doc(Vec<Seg>),
    Pseudo(Pseudo),
}

fn parse_segs(s: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut cur = String::new();
    let mut pending = false;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if !pending && cur.is_empty() {
                    return Err("empty path segment".into());
                }
                if !cur.is_empty() {
                    segs.push(if cur == "*" {
                        Seg::Wild
                    } else {
                        Seg::Key(cur.clone())
                    });
                    cur.clear();
                }
                pending = false;
                i += 1;
            }
            b'[' => {
                if !cur.is_empty() {
                    segs.push(if cur == "*" {
                        Seg::Wild
                    } else {
                        Seg::Key(cur.clone())
                    });
                    cur.clear();
                }
                let rest = &s[i + 1..];
                let (inner, used) = if let Some(r) = rest.strip_prefix('"') {
                    let end = r.find("\"]").ok_or("unterminated [\"...\"] segment")?;
                    (r[..end].to_string(), end + 3)
                } else {
                    let end = rest.find(']').ok_or("unterminated [...] segment")?;
                    let n = &rest[..end];
                    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
                        return Err("[...] must hold an index or a quoted key".into());
                    }
                    (n.to_string(), end + 1)
                };
                segs.push(Seg::Key(inner));
                i += 1 + used;
                pending = true;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or(' ');
                cur.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !cur.is_empty() {
        segs.push(if cur == "*" { Seg::Wild } else { Seg::Key(cur) });
    } else if !pending {
        return Err("empty path segment".into());
    }
    Ok(segs)
}

fn parse_path(s: &str) -> Result<FieldPath, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty path".into());
    }
    if let Some(p) = s.strip_prefix('@') {
        return Ok(FieldPath::Pseudo(match p {
            "file" => Pseudo::File,
            "file_name" => Pseudo::FileName,
            "file_stem" => Pseudo::FileStem,
            "dir" => Pseudo::Dir,
            "dir_name" => Pseudo::DirName,
            "key" => Pseudo::Key,
            "index" => Pseudo::Index,
            "session" => Pseudo::Session,
            _ => {
                return Err(format!(
                    "unknown `@{p}` (known: @file, @file_name, @file_stem, @dir, @dir_name, @key, @index, @session)"
                ))
            }
        }));
    }
    if s == "$" {
        return Ok(FieldPath::Doc(Vec::new()));
    }
    if let Some(rest) = s.strip_prefix("$.") {
        return Ok(FieldPath::Doc(parse_segs(rest)?));
    }
    Ok(FieldPath::Rec(parse_segs(s)?))
}

fn no_wild(p: &FieldPath) -> Result<(), String> {
    match p {
        FieldPath::Rec(s) | FieldPath::Doc(s) if s.contains(&Seg::Wild) => {
            Err("`*` is only allowed in `select.records`".into())
        }
        _ => Ok(()),
    }
}

/// Fallback list (`model = ["model", "message.model"]`) or sum list (token buckets).
#[derive(Debug, Clone, Default)]
struct Paths(Vec<FieldPath>);

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Field(FieldPath),
}

#[derive(Debug, Clone)]
struct Template(Vec<Part>);

fn parse_template(s: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("unclosed `{`")?;
        let p = parse_path(&after[..close])?;
        no_wild(&p)?;
        parts.push(Part::Field(p));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("unmatched `}`".into());
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
        return Err("a key template needs at least one `{field}`".into());
    }
    Ok(Template(parts))
}

// ------------------------------------------------------------------------------------------
// Record context and lookups.

struct Ctx<'a> {
    rec: &'a Value,
    doc: &'a Value,
    key: Option<&'a str>,
    index: &'a str,
    path: &'a Path,
    /// Values remembered from `regex.state` lines.
    vars: Option<&'a Map<String, Value>>,
}

fn step<'a>(v: &'a Value, s: &Seg) -> Option<&'a Value> {
    match (v, s) {
        (Value::Object(m), Seg::Key(k)) => m.get(k),
        (Value::Array(a), Seg::Key(k)) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Walk `segs` from `v`; a string met before the end is parsed as JSON and walked into (tools
/// that keep JSON in a text field or a TEXT column).
fn walk<'a>(v: &'a Value, segs: &[Seg]) -> Option<Cow<'a, Value>> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(Cow::Borrowed(v));
    };
    match v {
        Value::String(s) => {
            let parsed: Value = serde_json::from_str(s).ok()?;
            walk(&parsed, segs).map(|c| Cow::Owned(c.into_owned()))
        }
        _ => walk(step(v, first)?, rest),
    }
}

impl<'a> Ctx<'a> {
    fn get(&self, p: &FieldPath) -> Option<Cow<'a, Value>> {
        let v = match p {
            FieldPath::Rec(segs) => walk(self.rec, segs).or_else(|| {
                self.vars
                    .and_then(|m| match segs.split_first() {
                        Some((Seg::Key(k), rest)) => m.get(k).map(|v| (v, rest)),
                        _ => None,
                    })
                    .and_then(|(v, rest)| walk(v, rest))
            }),
            FieldPath::Doc(segs) => walk(self.doc, segs),
            FieldPath::Pseudo(ps) => {
                let s = match ps {
                    Pseudo::File => Some(self.path.to_string_lossy().into_owned()),
                    Pseudo::FileName => self
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned()),
                    Pseudo::FileStem => common::file_stem(self.path),
                    Pseudo::Dir => self.path.parent().map(|d| d.to_string_lossy().into_owned()),
                    Pseudo::DirName => common::parent_name(self.path),
                    Pseudo::Key => self.key.map(str::to_string),
                    Pseudo::Index => Some(self.index.to_string()),
                    Pseudo::Session => None,
                };
                s.map(|s| Cow::Owned(Value::String(s)))
            }
        }?;
        if v.is_null() {
            None
        } else {
            Some(v)
        }
    }

    /// First present path of a fallback list.
    fn first(&self, ps: &Paths) -> Option<Cow<'a, Value>> {
        ps.0.iter().find_map(|p| self.get(p))
    }

    fn first_string(&self, ps: &Paths) -> Option<String> {
        ps.0.iter()
            .find_map(|p| self.get(p).and_then(|v| scalar_string(&v)))
    }
}

// ------------------------------------------------------------------------------------------
// The compiled spec.

#[derive(Debug, Clone)]
enum TsFormat {
    Auto,
    Rfc3339,
    EpochMs,
    EpochS,
    Strftime(String),
}

#[derive(Debug, Clone)]
enum Cond {
    Eq(FieldPath, Vec<Value>),
    Ne(FieldPath, Vec<Value>),
    Present(FieldPath),
}

#[derive(Debug)]
struct Compiled {
    records: Option<Vec<Seg>>,
    conds: Vec<Cond>,
    usage_re: Option<regex::Regex>,
    state_re: Vec<regex::Regex>,
    query: Option<String>,
    watermark: Option<String>,
    timestamp: Paths,
    ts_format: TsFormat,
    ts_local: bool,
    model: Paths,
    provider: Paths,
    session: Paths,
    cwd: Paths,
    branch: Paths,
    repo: Paths,
    cost: Paths,
    requests: Paths,
    buckets: [Paths; 6],
    input_includes: Vec<Bucket>,
    reasoning_in_output: bool,
    humanized: bool,
    rule: Rule,
    key: Option<Template>,
}

/// A parser driven by a spec document.
#[derive(Debug)]
pub struct SpecParser {
    tool: String,
    format: SpecFormat,
    estimated: bool,
    c: Compiled,
}

/// A loaded spec: its parser and where its files live.
#[derive(Debug, Clone)]
pub struct Spec {
    pub file: SpecFile,
    /// The file it was read from (`None` for built-in specs).
    pub origin: Option<PathBuf>,
    pub parser: Arc<SpecParser>,
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl Spec {
    /// Parse and validate a spec. `file` names it in errors (a path, or `builtin:<name>`).
    pub fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
        let sf: SpecFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
        let parser = compile(&sf, file)?;
        Ok(Spec {
            file: sf,
            origin: None,
            parser: Arc::new(parser),
        })
    }

    /// Read and parse a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: name.clone(),
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let mut s = Spec::parse(&text, &name)?;
        s.origin = Some(path.to_path_buf());
        Ok(s)
    }

    pub fn tool(&self) -> &str {
        &self.file.tool
    }
}

fn compile(sf: &SpecFile, file: &str) -> Result<SpecParser, SpecError> {
    let tool = sf.tool.trim();
    if tool.is_empty()
        || !tool
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
    {
        return Err(err(
            file,
            "tool",
            "must be non-empty and use only lowercase letters, digits, `-`, `_`, `.`",
        ));
    }
    if sf.paths.patterns.is_empty() {
        return Err(err(
            file,
            "paths.patterns",
            "at least one file pattern is needed",
        ));
    }
    for (i, p) in sf.paths.patterns.iter().enumerate() {
        if let Err(e) = globset::GlobBuilder::new(p).literal_separator(true).build() {
            return Err(err(file, &format!("paths.patterns[{i}]"), e.to_string()));
        }
    }
    let path1 = |field: &str, s: &str| -> Result<FieldPath, SpecError> {
        let p = parse_path(s).map_err(|m| err(file, field, m))?;
        no_wild(&p).map_err(|m| err(file, field, m))?;
        if p == FieldPath::Pseudo(Pseudo::Session) {
            return Err(err(
                file,
                field,
                "`@session` is only allowed in `count.key`",
            ));
        }
        Ok(p)
    };
    let paths = |field: &str, v: &Option<OneOrMany>| -> Result<Paths, SpecError> {
        match v {
            None => Ok(Paths::default()),
            Some(v) => {
                let items = v.items();
                if items.is_empty() {
                    return Err(err(file, field, "empty list"));
                }
                Ok(Paths(
                    items
                        .iter()
                        .map(|s| path1(field, s))
                        .collect::<Result<_, _>>()?,
                ))
            }
        }
    };

    let records = match &sf.select.records {
        None => None,
        Some(r) => {
            if !matches!(sf.format, SpecFormat::Jsonl | SpecFormat::Json) {
                return Err(err(
                    file,
                    "select.records",
                    "only the `jsonl` and `json` formats have nested records",
                ));
            }
            let segs = parse_segs(r).map_err(|m| err(file, "select.records", m))?;
            Some(segs)
        }
    };
    let mut conds = Vec::new();
    for (table, neg) in [(&sf.select.where_, false), (&sf.select.where_not, true)] {
        let name = if neg {
            "select.where_not"
        } else {
            "select.where"
        };
        if let Some(t) = table {
            // `message.role = "x"` (a dotted TOML key) arrives as nested tables: flatten.
            let mut flat = Vec::new();
            let mut stack: Vec<(String, &toml::Value)> =
                t.iter().map(|(k, v)| (k.clone(), v)).collect();
            while let Some((k, v)) = stack.pop() {
                match v {
                    toml::Value::Table(inner) => {
                        stack.extend(inner.iter().map(|(k2, v2)| (format!("{k}.{k2}"), v2)))
                    }
                    _ => flat.push((k, v)),
                }
            }
            flat.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in flat {
                let field = format!("{name}.{k}");
                let p = path1(&field, &k)?;
                let vals = match toml_to_json(v) {
                    Value::Array(a) => a,
                    x => vec![x],
                };
                if vals.iter().any(|v| v.is_object() || v.is_array()) {
                    return Err(err(file, &field, "expected a value or an array of values"));
                }
                conds.push(if neg {
                    Cond::Ne(p, vals)
                } else {
                    Cond::Eq(p, vals)
                });
            }
        }
    }
    for (i, r) in sf.select.require.iter().enumerate() {
        conds.push(Cond::Present(path1(&format!("select.require[{i}]"), r)?));
    }

    let (mut usage_re, mut state_re) = (None, Vec::new());
    match (&sf.format, &sf.regex) {
        (SpecFormat::Regex, Some(r)) => {
            let re =
                regex::Regex::new(&r.usage).map_err(|e| err(file, "regex.usage", e.to_string()))?;
            if re.capture_names().flatten().next().is_none() {
                return Err(err(
                    file,
                    "regex.usage",
                    "needs named groups, e.g. (?P<input>\\d+)",
                ));
            }
            usage_re = Some(re);
            for (i, s) in r.state.iter().enumerate() {
                state_re.push(
                    regex::Regex::new(s)
                        .map_err(|e| err(file, &format!("regex.state[{i}]"), e.to_string()))?,
                );
            }
        }
        (SpecFormat::Regex, None) => {
            return Err(err(
                file,
                "regex",
                "the `regex` format needs a [regex] table with `usage`",
            ))
        }
        (_, Some(_)) => return Err(err(file, "regex", "only used with format = \"regex\"")),
        _ => {}
    }
    let (mut query, mut watermark) = (None, None);
    match (&sf.format, &sf.sqlite) {
        (SpecFormat::Sqlite, Some(s)) => {
            if s.query.trim().is_empty() {
                return Err(err(file, "sqlite.query", "empty query"));
            }
            query = Some(s.query.clone());
            watermark = s.watermark.clone();
            if watermark.is_some() && !s.query.contains(":watermark") {
                return Err(err(
                    file,
                    "sqlite.watermark",
                    "the query must use the `:watermark` parameter",
                ));
            }
        }
        (SpecFormat::Sqlite, None) => {
            return Err(err(
                file,
                "sqlite",
                "the `sqlite` format needs a [sqlite] table with `query`",
            ))
        }
        (_, Some(_)) => return Err(err(file, "sqlite", "only used with format = \"sqlite\"")),
        _ => {}
    }

    let ts_format = match sf.fields.timestamp_format.as_deref().unwrap_or("auto") {
        "auto" => TsFormat::Auto,
        "rfc3339" => TsFormat::Rfc3339,
        "epoch_ms" => TsFormat::EpochMs,
        "epoch_s" => TsFormat::EpochS,
        s if s.contains('%') => TsFormat::Strftime(s.to_string()),
        _ => {
            return Err(err(
                file,
                "fields.timestamp_format",
                "expected auto, rfc3339, epoch_ms, epoch_s or a strftime pattern",
            ))
        }
    };
    let ts_local = match sf.fields.timestamp_tz.as_deref().unwrap_or("utc") {
        "utc" => false,
        "local" => true,
        _ => {
            return Err(err(
                file,
                "fields.timestamp_tz",
                "expected `utc` or `local`",
            ))
        }
    };

    let t = &sf.tokens;
    let buckets = [
        paths("tokens.input", &t.input)?,
        paths("tokens.cache_read", &t.cache_read)?,
        paths("tokens.cache_write_5m", &t.cache_write_5m)?,
        paths("tokens.cache_write_1h", &t.cache_write_1h)?,
        paths("tokens.output", &t.output)?,
        paths("tokens.reasoning", &t.reasoning)?,
    ];
    if buckets.iter().all(|b| b.0.is_empty()) {
        return Err(err(file, "tokens", "name at least one token field"));
    }

    let key = match &sf.count.key {
        Some(k) => Some(parse_template(k).map_err(|m| err(file, "count.key", m))?),
        None => None,
    };
    let needs_key = match sf.count.rule {
        Rule::LastWins | Rule::KeepMax | Rule::CumulativePerKey => true,
        Rule::PerRecord => sf.format == SpecFormat::Sqlite,
        Rule::CumulativePerFile => false,
    };
    if needs_key && key.is_none() {
        return Err(err(
            file,
            "count.key",
            format!(
                "required with rule = {:?} and format = {:?}",
                rule_name(sf.count.rule),
                sf.format.name()
            ),
        ));
    }

    Ok(SpecParser {
        tool: tool.to_string(),
        format: sf.format,
        estimated: sf.estimated,
        c: Compiled {
            records,
            conds,
            usage_re,
            state_re,
            query,
            watermark,
            timestamp: paths("fields.timestamp", &Some(sf.fields.timestamp.clone()))?,
            ts_format,
            ts_local,
            model: paths("fields.model", &sf.fields.model)?,
            provider: paths("fields.provider", &sf.fields.provider)?,
            session: paths("fields.session", &sf.fields.session)?,
            cwd: paths("fields.cwd", &sf.fields.cwd)?,
            branch: paths("fields.branch", &sf.fields.branch)?,
            repo: paths("fields.repo", &sf.fields.repo)?,
            cost: paths("fields.cost_usd", &sf.fields.cost_usd)?,
            requests: paths("fields.requests", &sf.fields.requests)?,
            buckets,
            input_includes: t.input_includes.clone(),
            reasoning_in_output: t.reasoning_in_output,
            humanized: t.humanized,
            rule: sf.count.rule,
            key,
        },
    })
}

fn rule_name(r: Rule) -> &'static str {
    match r {
        Rule::PerRecord => "per_record",
        Rule::LastWins => "last_wins",
        Rule::KeepMax => "keep_max",
        Rule::CumulativePerFile => "cumulative_per_file",
        Rule::CumulativePerKey => "cumulative_per_key",
    }
}

const BUCKET_NAMES: [&str; 6] = [
    "tokens.input",
    "tokens.cache_read",
    "tokens.cache_write_5m",
    "tokens.cache_write_1h",
    "tokens.output",
    "tokens.reasoning",
];

impl SpecParser {
    pub fn spec_format(&self) -> SpecFormat {
        self.format
    }

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
    fn carry(&self, ctx: &Ctx, st: &mut FileState, doc_only: bool) {
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
    fn record(&self, ctx: &Ctx, st: &mut FileState) -> Result<Option<UsageEvent>, ParseError> {
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
