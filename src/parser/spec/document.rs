//! The spec document as people write it: the serde types of a `parsers/*.toml` file, one struct
//! per TOML table. `docs/parsers.md` documents every key; keep the two in step.

use serde::Deserialize;

/// A spec document: one `parsers/*.toml` file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Tool id, e.g. `qwen-code` (lowercase letters, digits, `-`, `_`, `.`).
    pub tool: String,
    /// Display name, free text for people.
    #[serde(default)]
    pub name: Option<String>,
    /// Description, free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// How the log files are read: `jsonl`, `json`, `sqlite` or `regex`.
    pub format: SpecFormat,
    /// All events of this tool are estimates (rounded numbers, guessed buckets).
    #[serde(default)]
    pub estimated: bool,
    /// `[paths]`: where the log files are.
    pub paths: PathsSpec,
    /// `[select]`: which records count.
    #[serde(default)]
    pub select: SelectSpec,
    /// `[regex]`: the line patterns of the `regex` format.
    #[serde(default)]
    pub regex: Option<RegexSpec>,
    /// `[sqlite]`: the query of the `sqlite` format.
    #[serde(default)]
    pub sqlite: Option<SqliteSpec>,
    /// `[fields]`: where a record's timestamp, model, session... are.
    pub fields: FieldsSpec,
    /// `[tokens]`: where a record's token counts are and how they add up.
    pub tokens: TokensSpec,
    /// `[count]`: the counting rule and the dedup key.
    pub count: CountSpec,
    /// `[context]`: a built-in composer that estimates what each request's input was made of
    /// (context composition, `docs/composition.md`). Absent: events have no split.
    #[serde(default)]
    pub context: Option<ContextSpec>,
}

/// `[context]`: which built-in composer follows the conversation, and where its fields are.
/// A composer is stateful Rust code (a spec cannot express a conversation); the spec only
/// names it and the field paths it reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    /// The composer: `gemini-chain` (records linked by a parent id, messages as Gemini
    /// `Content` with `parts`).
    pub composer: String,
    /// Bytes-per-token ratios: `qwen` (default), `claude` or `codex`.
    #[serde(default)]
    pub ratios: Option<String>,
    /// The record's own id (default `uuid`).
    #[serde(default)]
    pub id: Option<String>,
    /// The id of the record it follows (default `parentUuid`; null or missing: a root).
    #[serde(default)]
    pub parent: Option<String>,
    /// The record's message, a `Content` (default `message`).
    #[serde(default)]
    pub message: Option<String>,
    /// A compression checkpoint: the history the model sees from then on, a `Content` list
    /// whose first user entry is the summary (default `systemPayload.compressedHistory`).
    #[serde(default)]
    pub compressed: Option<String>,
}

/// The record format of a tool's log files (`format`).
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
    /// The name as written in a spec (`jsonl`, `json`, `sqlite`, `regex`).
    pub fn name(self) -> &'static str {
        match self {
            SpecFormat::Jsonl => "jsonl",
            SpecFormat::Json => "json",
            SpecFormat::Sqlite => "sqlite",
            SpecFormat::Regex => "regex",
        }
    }
}

/// `[paths]`: the roots a tool's log files live under, and the globs that pick them.
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
    /// Roots on Linux (and other Unix systems), instead of `default`.
    #[serde(default)]
    pub linux: Option<Vec<String>>,
    /// Roots on macOS, instead of `default`.
    #[serde(default)]
    pub macos: Option<Vec<String>>,
    /// Roots on Windows, instead of `default`.
    #[serde(default)]
    pub windows: Option<Vec<String>>,
    /// Globs relative to a root that select the log files.
    pub patterns: Vec<String>,
}

/// `[select]`: which records count; the others are skipped silently.
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

/// `[regex]`: the patterns of the `regex` format.
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

/// `[sqlite]`: the query of the `sqlite` format.
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
    /// A single path.
    One(String),
    /// A list of paths.
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
    /// The paths, as a list (one item for [`OneOrMany::One`]).
    pub fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `[fields]`: where a record's fields are; each is a path or a list of fallback paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsSpec {
    /// The record's time (required).
    pub timestamp: OneOrMany,
    /// `auto` (default), `rfc3339`, `epoch_ms`, `epoch_s`, or a chrono strftime pattern.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// Time zone of timestamps without an offset: `utc` (default) or `local`.
    #[serde(default)]
    pub timestamp_tz: Option<String>,
    /// The model as logged (prices are resolved from it); remembered for later records.
    #[serde(default)]
    pub model: Option<OneOrMany>,
    /// The provider as logged.
    #[serde(default)]
    pub provider: Option<OneOrMany>,
    /// Session id; remembered for later records.
    #[serde(default)]
    pub session: Option<OneOrMany>,
    /// Working directory; remembered for later records.
    #[serde(default)]
    pub cwd: Option<OneOrMany>,
    /// Git branch; remembered for later records.
    #[serde(default)]
    pub branch: Option<OneOrMany>,
    /// Repository the log names (`owner/name` or a remote URL); remembered for later records.
    #[serde(default)]
    pub repo: Option<OneOrMany>,
    /// A cost in US dollars that the tool itself recorded.
    #[serde(default)]
    pub cost_usd: Option<OneOrMany>,
    /// Number of API requests the record stands for (default 1).
    #[serde(default)]
    pub requests: Option<OneOrMany>,
}

/// `[tokens]`: where a record's token counts are (each a path, or a list of paths summed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSpec {
    /// Input tokens as logged.
    #[serde(default)]
    pub input: Option<OneOrMany>,
    /// Cache reads (hits).
    #[serde(default)]
    pub cache_read: Option<OneOrMany>,
    /// Cache writes with a 5-minute TTL, or the tool's only kind (alias `cache_write`).
    #[serde(default, alias = "cache_write")]
    pub cache_write_5m: Option<OneOrMany>,
    /// Cache writes with a 1-hour TTL.
    #[serde(default)]
    pub cache_write_1h: Option<OneOrMany>,
    /// Output tokens as logged.
    #[serde(default)]
    pub output: Option<OneOrMany>,
    /// Reasoning (thinking) tokens.
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

/// A token bucket the logged input may already contain (`tokens.input_includes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// `cache_read`: cache reads.
    CacheRead,
    /// `cache_write`: cache writes of both TTLs.
    CacheWrite,
    /// `cache_write_5m`: cache writes with a 5-minute TTL.
    #[serde(rename = "cache_write_5m")]
    CacheWrite5m,
    /// `cache_write_1h`: cache writes with a 1-hour TTL.
    #[serde(rename = "cache_write_1h")]
    CacheWrite1h,
}

/// How records become events (`count.rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `per_record`: every record is a distinct request; the first of a key is kept.
    PerRecord,
    /// `last_wins`: the newest record of a key is kept.
    LastWins,
    /// `keep_max`: the record of a key with the largest output is kept.
    KeepMax,
    /// `cumulative_per_file`: records are running totals, one counter per file; increases count.
    CumulativePerFile,
    /// `cumulative_per_key`: records are running totals, one counter per key; increases count.
    CumulativePerKey,
}

/// `[count]`: the counting rule and the dedup key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSpec {
    /// The counting rule.
    pub rule: Rule,
    /// Template of the record's identity, e.g. `{sessionId}:{id}`.
    #[serde(default)]
    pub key: Option<String>,
}
