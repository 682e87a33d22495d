//! Compiling a [`SpecFile`] into a [`SpecParser`]: every path, template, regex, query and option
//! is checked once, and an error names the field at fault.

use super::document::{Bucket, OneOrMany, Rule, SpecFile, SpecFormat};
use super::engine::SpecParser;
use super::error::{err, SpecError};
use super::path::{
    no_wild, parse_path, parse_segs, parse_template, FieldPath, Paths, Pseudo, Seg, Template,
};
use crate::parser::chain_ctx::{ChainConfig, COMPOSERS};
use serde_json::Value;

/// How `fields.timestamp` values are read (`fields.timestamp_format`).
#[derive(Debug, Clone)]
pub(super) enum TsFormat {
    Auto,
    Rfc3339,
    EpochMs,
    EpochS,
    Strftime(String),
}

/// One `[select]` condition: `where`, `where_not` or `require`.
#[derive(Debug, Clone)]
pub(super) enum Cond {
    Eq(FieldPath, Vec<Value>),
    Ne(FieldPath, Vec<Value>),
    Present(FieldPath),
}

/// Everything [`compile`] checked, in the shape the engine reads it.
#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) records: Option<Vec<Seg>>,
    pub(super) conds: Vec<Cond>,
    pub(super) usage_re: Option<regex::Regex>,
    pub(super) state_re: Vec<regex::Regex>,
    pub(super) query: Option<String>,
    pub(super) watermark: Option<String>,
    pub(super) timestamp: Paths,
    pub(super) ts_format: TsFormat,
    pub(super) ts_local: bool,
    pub(super) model: Paths,
    pub(super) provider: Paths,
    pub(super) session: Paths,
    pub(super) cwd: Paths,
    pub(super) branch: Paths,
    pub(super) repo: Paths,
    pub(super) cost: Paths,
    pub(super) requests: Paths,
    pub(super) buckets: [Paths; 6],
    pub(super) input_includes: Vec<Bucket>,
    pub(super) reasoning_in_output: bool,
    pub(super) humanized: bool,
    pub(super) rule: Rule,
    pub(super) key: Option<Template>,
    /// `[context]`: the composer's config (`None`: no split).
    pub(super) context: Option<ChainConfig>,
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

/// Check a spec document once and build its parser; an error names the field at fault.
pub(super) fn compile(sf: &SpecFile, file: &str) -> Result<SpecParser, SpecError> {
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

    let context = match &sf.context {
        None => None,
        Some(c) => {
            if !COMPOSERS.contains(&c.composer.as_str()) {
                return Err(err(
                    file,
                    "context.composer",
                    format!(
                        "unknown composer `{}`: the built-in composers are {}",
                        c.composer,
                        COMPOSERS.join(", ")
                    ),
                ));
            }
            if sf.format != SpecFormat::Jsonl || sf.select.records.is_some() {
                return Err(err(
                    file,
                    "context",
                    "a composer follows a conversation line by line: only the `jsonl` format, \
                     with one record per line (no `select.records`)",
                ));
            }
            Some(
                ChainConfig::new(
                    c.id.as_deref(),
                    c.parent.as_deref(),
                    c.message.as_deref(),
                    c.compressed.as_deref(),
                    c.ratios.as_deref(),
                )
                .map_err(|(field, m)| err(file, field, m))?,
            )
        }
    };

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
            context,
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
