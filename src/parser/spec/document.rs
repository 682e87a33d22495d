//! The spec document as people write it: the serde types of a `parsers/*.toml` file, one struct
//! per TOML table. `docs/parsers.md` documents every key; keep the two in step.

use serde::Deserialize;

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
