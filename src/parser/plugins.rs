//! The registry of plug-in parsers: built-in specs (`parsers/*.toml`, compiled in), user specs
//! (`<config dir>/parsers/*.toml`, read at start-up, no rebuild), and the Rust modules of the
//! line/JSON tools (Gemini CLI, Copilot CLI, Cline/Roo/Kilo, Aider, Amp). Also the library side of
//! `tokwatch parsers list` and `tokwatch parsers test SPEC FILE`.
//!
//! A user spec whose `tool` equals a tool of this registry replaces the built-in one (all its
//! sources), so a user can fix a path or a field without waiting for a release.

use super::spec::{Spec, SpecError};
use super::{aider, amp, cline, copilot, gemini, FileState, Format, Parser};
use crate::event::{Merge, Tokens, UsageEvent};
use crate::sources::{Env, Source};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Built-in specs: (file name, text). Adding a tool as data = one TOML file + one line here.
pub const BUILTIN_SPECS: &[(&str, &str)] = &[(
    "qwen-code.toml",
    include_str!("../../parsers/qwen-code.toml"),
)];

/// The built-in specs, parsed. They are tested, so a failure here is a build defect.
pub fn builtin_specs() -> Vec<Spec> {
    BUILTIN_SPECS
        .iter()
        .map(|(name, text)| {
            Spec::parse(text, &format!("builtin:parsers/{name}"))
                .unwrap_or_else(|e| panic!("built-in spec is invalid: {e}"))
        })
        .collect()
}

/// tokwatch's configuration directory: `$TOKWATCH_CONFIG_DIR`, else the platform's
/// (`~/.config/tokwatch` on Linux, `~/Library/Application Support/tokwatch` on macOS,
/// `%APPDATA%\tokwatch\config` on Windows).
pub fn config_dir(env: &Env) -> Option<PathBuf> {
    if let Some(d) = env.var("TOKWATCH_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "tokwatch").map(|p| p.config_dir().to_path_buf())
}

/// Where user specs live: `<config dir>/parsers/`.
pub fn user_spec_dir(env: &Env) -> Option<PathBuf> {
    config_dir(env).map(|d| d.join("parsers"))
}

/// User specs that loaded, and the ones that did not (each error names its file and field).
#[derive(Debug, Default)]
pub struct UserSpecs {
    pub specs: Vec<Spec>,
    pub errors: Vec<SpecError>,
}

/// Read every `*.toml` in the user spec directory, in file-name order. A missing directory is
/// not an error. Two user specs for the same tool: the first wins, the second is an error.
pub fn load_user_specs(env: &Env) -> UserSpecs {
    let mut out = UserSpecs::default();
    let Some(dir) = user_spec_dir(env) else {
        return out;
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut seen = BTreeSet::new();
    for f in files {
        match Spec::load(&f) {
            Ok(s) => {
                if seen.insert(s.tool().to_string()) {
                    out.specs.push(s);
                } else {
                    out.errors.push(SpecError {
                        file: f.display().to_string(),
                        field: Some("tool".into()),
                        message: format!("another user spec already declares `{}`", s.tool()),
                    });
                }
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// Sources of the user specs, and the errors of the specs that could not be used.
pub fn user_sources_with_errors(env: &Env) -> (Vec<Source>, Vec<SpecError>) {
    let UserSpecs { specs, mut errors } = load_user_specs(env);
    let mut sources = Vec::new();
    for s in specs {
        match s.source(env) {
            Ok(src) => sources.push(src),
            Err(e) => errors.push(SpecError {
                file: s
                    .origin
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                field: Some("paths.patterns".into()),
                message: e.to_string(),
            }),
        }
    }
    (sources, errors)
}

/// Sources of the user specs (bad specs are left out; see [`user_sources_with_errors`]).
pub fn user_sources(env: &Env) -> Vec<Source> {
    user_sources_with_errors(env).0
}

fn src(tool: &str, roots: Vec<PathBuf>, patterns: &[&str], p: Arc<dyn Parser>) -> Source {
    Source::new(tool, roots, patterns, p).expect("built-in patterns are valid")
}

/// The Rust-module sources of this registry.
fn rust_sources(env: &Env) -> Vec<Source> {
    let mut v = vec![
        src(
            gemini::TOOL,
            gemini::roots(env),
            &["*/chats/*.jsonl", "*/chats/*/*.jsonl"],
            Arc::new(gemini::GeminiParser { legacy: false }),
        ),
        src(
            gemini::TOOL,
            gemini::roots(env),
            &["*/chats/*.json"],
            Arc::new(gemini::GeminiParser { legacy: true }),
        ),
        src(
            copilot::TOOL,
            copilot::roots(env),
            copilot::PATTERNS,
            Arc::new(copilot::CopilotParser),
        ),
    ];
    for f in cline::Flavor::ALL {
        let roots = cline::storage_roots(env, f);
        v.push(src(
            f.tool(),
            roots.clone(),
            &["tasks/*/ui_messages.json"],
            Arc::new(cline::ClineTaskParser {
                flavor: f,
                jsonl: false,
            }),
        ));
        v.push(src(
            f.tool(),
            roots,
            &["tasks/*/ui_messages.jsonl"],
            Arc::new(cline::ClineTaskParser {
                flavor: f,
                jsonl: true,
            }),
        ));
    }
    v.push(src(
        "cline",
        cline::cline_session_roots(env),
        &["*/*.messages.json"],
        Arc::new(cline::ClineSdkParser),
    ));
    v.push(src(
        aider::TOOL,
        aider::roots(env),
        &[aider::FILE_NAME],
        Arc::new(aider::AiderParser),
    ));
    v.push(src(
        amp::TOOL,
        amp::roots(env),
        amp::PATTERNS,
        Arc::new(amp::AmpParser),
    ));
    v
}

/// Tool ids of the built-in specs.
pub fn builtin_spec_tools() -> Vec<String> {
    builtin_specs()
        .iter()
        .map(|s| s.tool().to_string())
        .collect()
}

/// Every built-in source of this registry (specs and Rust modules), minus the tools a user spec
/// replaces. Called once from `sources::extra_builtin`.
pub fn builtin_sources(env: &Env) -> Vec<Source> {
    let overridden: BTreeSet<String> = load_user_specs(env)
        .specs
        .iter()
        .map(|s| s.tool().to_string())
        .collect();
    let mut v: Vec<Source> = builtin_specs()
        .iter()
        .filter(|s| !overridden.contains(s.tool()))
        .map(|s| s.source(env).expect("built-in patterns are valid"))
        .collect();
    v.extend(
        rust_sources(env)
            .into_iter()
            .filter(|s| !overridden.contains(&s.tool)),
    );
    v
}

// ------------------------------------------------------------------------------------------
// `tokwatch parsers list`

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A spec compiled into tokwatch (`parsers/*.toml`).
    Builtin,
    /// A spec from the user's config directory.
    User,
    /// A parser written in Rust.
    Rust,
}

#[derive(Debug, Clone, Serialize)]
pub struct RootInfo {
    pub path: PathBuf,
    pub exists: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParserInfo {
    pub tool: String,
    pub origin: Origin,
    /// `jsonl`, `json`, `sqlite`, `regex` for specs; `lines`, `whole-file`, `sqlite` for Rust.
    pub format: String,
    pub roots: Vec<RootInfo>,
    pub patterns: Vec<String>,
    /// True when at least one root exists.
    pub found: bool,
    /// The spec file (user specs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_file: Option<PathBuf>,
    /// Why a user spec could not be loaded (then nothing else is filled in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Lines => "lines",
        Format::WholeFile => "whole-file",
        Format::Sqlite => "sqlite",
    }
}

fn info(s: &Source, origin: Origin, format: String, spec_file: Option<PathBuf>) -> ParserInfo {
    let roots: Vec<RootInfo> = s
        .roots
        .iter()
        .map(|r| RootInfo {
            path: r.clone(),
            exists: r.exists(),
        })
        .collect();
    ParserInfo {
        tool: s.tool.clone(),
        origin,
        format,
        found: roots.iter().any(|r| r.exists),
        roots,
        patterns: s.patterns.clone(),
        spec_file,
        error: None,
    }
}

/// Every parser tokwatch would use with `env`: all built-in sources (including those outside
/// this registry), then user specs, then user specs that failed to load.
pub fn list_parsers(env: &Env) -> Vec<ParserInfo> {
    let spec_formats: HashMap<String, String> = builtin_specs()
        .iter()
        .map(|s| {
            (
                s.tool().to_string(),
                s.parser.spec_format().name().to_string(),
            )
        })
        .collect();
    let user = load_user_specs(env);
    let overridden: BTreeSet<&str> = user.specs.iter().map(|s| s.tool()).collect();
    let mut out = Vec::new();
    for s in crate::sources::builtin(env) {
        let (origin, format) = match spec_formats.get(&s.tool) {
            Some(f) if !overridden.contains(s.tool.as_str()) => (Origin::Builtin, f.clone()),
            _ => (Origin::Rust, format_name(s.parser.format()).to_string()),
        };
        out.push(info(&s, origin, format, None));
    }
    let mut errors = user.errors;
    for spec in &user.specs {
        match spec.source(env) {
            Ok(s) => out.push(info(
                &s,
                Origin::User,
                spec.parser.spec_format().name().to_string(),
                spec.origin.clone(),
            )),
            Err(e) => errors.push(SpecError {
                file: spec
                    .origin
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                field: Some("paths.patterns".into()),
                message: e.to_string(),
            }),
        }
    }
    for e in errors {
        let file = PathBuf::from(&e.file);
        out.push(ParserInfo {
            tool: file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            origin: Origin::User,
            format: String::new(),
            roots: Vec::new(),
            patterns: Vec::new(),
            found: false,
            spec_file: Some(file),
            error: Some(e.to_string()),
        });
    }
    out
}

/// Plain-text rendering of [`list_parsers`].
pub fn render_parsers_text(list: &[ParserInfo]) -> String {
    let mut s = String::new();
    for p in list {
        if let Some(e) = &p.error {
            s.push_str(&format!("{:<12} {:<8} ERROR {}\n", p.tool, "user", e));
            continue;
        }
        let origin = match p.origin {
            Origin::Builtin => "builtin",
            Origin::User => "user",
            Origin::Rust => "rust",
        };
        s.push_str(&format!(
            "{:<12} {:<8} {:<10} {}  [{}]\n",
            p.tool,
            origin,
            p.format,
            if p.found { "found" } else { "not found" },
            p.patterns.join(", ")
        ));
        if let Some(f) = &p.spec_file {
            s.push_str(&format!("    spec {}\n", f.display()));
        }
        // Present locations in full; absent ones only when nothing is present (then a few).
        let present: Vec<_> = p.roots.iter().filter(|r| r.exists).collect();
        let shown: Vec<_> = if present.is_empty() {
            p.roots.iter().take(3).collect()
        } else {
            present.clone()
        };
        for r in &shown {
            s.push_str(&format!(
                "    {} {}\n",
                if r.exists { "+" } else { "-" },
                r.path.display()
            ));
        }
        let rest = p.roots.len() - shown.len();
        if rest > 0 {
            s.push_str(&format!(
                "    ({rest} more locations checked, not present)\n"
            ));
        }
    }
    s
}

// ------------------------------------------------------------------------------------------
// `tokwatch parsers test SPEC FILE`

/// What a spec extracts from one file, for people writing specs.
#[derive(Debug, Clone, Serialize)]
pub struct SpecTestOutput {
    pub tool: String,
    /// The spec file, or `builtin:<tool>` when SPEC named a built-in parser.
    pub spec: String,
    pub format: String,
    pub file: PathBuf,
    /// Lines handed to the parser (line formats), else 0.
    pub lines: u64,
    /// Every event in the order it was produced (before deduplication).
    pub events: Vec<UsageEvent>,
    pub malformed: u64,
    pub first_error: Option<String>,
    /// Events left after applying each event's merge rule to equal dedup keys.
    pub unique_events: usize,
    /// Token totals of the unique events.
    pub totals: Tokens,
    pub requests: i64,
    /// Sum of tool-reported costs of the unique events that have one.
    pub reported_cost_usd: Option<f64>,
    pub models: Vec<String>,
}

/// Find a parser by name among this registry's built-ins (a spec file that does not exist may
/// name one): the source whose patterns fit the file best.
fn named_parser(name: &str, file: &Path) -> Option<(Arc<dyn Parser>, String)> {
    let env = Env::from_process();
    let want = if file.extension().is_some_and(|x| x == "json") {
        Format::WholeFile
    } else if file
        .extension()
        .is_some_and(|x| x == "db" || x == "sqlite" || x == "vscdb")
    {
        Format::Sqlite
    } else {
        Format::Lines
    };
    let mut candidates: Vec<(Arc<dyn Parser>, String)> = Vec::new();
    for s in builtin_specs() {
        if s.tool() == name {
            let f = s.parser.spec_format().name().to_string();
            candidates.push((s.parser.clone() as Arc<dyn Parser>, f));
        }
    }
    for s in rust_sources(&env) {
        if s.tool == name {
            candidates.push((s.parser.clone(), format_name(s.parser.format()).to_string()));
        }
    }
    let pos = candidates
        .iter()
        .position(|(p, _)| p.format() == want)
        .unwrap_or(0);
    if candidates.is_empty() {
        None
    } else {
        Some(candidates.swap_remove(pos))
    }
}

/// Run a spec (a `.toml` file, or the name of a built-in parser) over `file` and report every
/// event it extracts, the malformed records, and the totals after deduplication.
pub fn test_spec(spec_path: &Path, file: &Path) -> anyhow::Result<SpecTestOutput> {
    let (parser, spec_name, format): (Arc<dyn Parser>, String, String) = if spec_path.is_file() {
        let spec = Spec::load(spec_path)?;
        let f = spec.parser.spec_format().name().to_string();
        (spec.parser.clone(), spec_path.display().to_string(), f)
    } else {
        let name = spec_path.to_string_lossy();
        match named_parser(&name, file) {
            Some((p, f)) => (p, format!("builtin:{name}"), f),
            None => anyhow::bail!(
                "{}: no such spec file, and no built-in parser of that name",
                spec_path.display()
            ),
        }
    };
    if !file.is_file() {
        anyhow::bail!("{}: no such file", file.display());
    }
    let mut events = Vec::new();
    let mut malformed = 0u64;
    let mut first_error = None;
    let mut lines = 0u64;
    let mut state = FileState::default();
    match parser.format() {
        Format::Lines => {
            let bytes = std::fs::read(file)?;
            for line in bytes.split(|b| *b == b'\n') {
                if line.is_empty() {
                    continue;
                }
                lines += 1;
                if let Err(e) = parser.parse_line(line, file, &mut state, &mut events) {
                    malformed += 1;
                    first_error.get_or_insert(format!("line {lines}: {e}"));
                }
            }
        }
        Format::WholeFile | Format::Sqlite => {
            let report = parser
                .parse_whole(file, &mut state, &mut events)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            malformed = report.malformed;
            first_error = report.first_error;
        }
    }
    let unique = merge(&events);
    let mut totals = Tokens::default();
    let mut requests = 0;
    let mut cost: Option<f64> = None;
    let mut models = BTreeSet::new();
    for e in &unique {
        totals.add(&e.tokens);
        requests += e.requests;
        if let Some(c) = e.reported_cost_usd {
            *cost.get_or_insert(0.0) += c;
        }
        if let Some(m) = &e.model {
            models.insert(m.clone());
        }
    }
    Ok(SpecTestOutput {
        tool: parser.tool().to_string(),
        spec: spec_name,
        format,
        file: file.to_path_buf(),
        lines,
        unique_events: unique.len(),
        events,
        malformed,
        first_error,
        totals,
        requests,
        reported_cost_usd: cost,
        models: models.into_iter().collect(),
    })
}

/// Apply each event's merge rule to events sharing a dedup key (the store does the same).
pub fn merge(events: &[UsageEvent]) -> Vec<UsageEvent> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: HashMap<String, UsageEvent> = HashMap::new();
    for e in events {
        match by_key.get_mut(&e.dedup_key) {
            None => {
                order.push(e.dedup_key.clone());
                by_key.insert(e.dedup_key.clone(), e.clone());
            }
            Some(old) => {
                let replace = match e.merge {
                    Merge::LastWins => true,
                    Merge::FirstWins => false,
                    Merge::KeepMax => {
                        (e.tokens.output, e.tokens.total())
                            > (old.tokens.output, old.tokens.total())
                    }
                };
                if replace {
                    *old = e.clone();
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect()
}

fn ts_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Plain-text rendering of [`test_spec`].
pub fn render_spec_test_text(o: &SpecTestOutput) -> String {
    let mut s = format!(
        "spec {} (tool {}, format {})\nfile {}\n",
        o.spec,
        o.tool,
        o.format,
        o.file.display()
    );
    s.push_str(&format!(
        "{:<20} {:<28} {:>10} {:>9} {:>9} {:>11} {:>9} {:>9}  key\n",
        "time", "model", "input", "cw5m", "cw1h", "cache_read", "output", "reasoning"
    ));
    for e in &o.events {
        s.push_str(&format!(
            "{:<20} {:<28} {:>10} {:>9} {:>9} {:>11} {:>9} {:>9}  {}{}\n",
            ts_text(e.timestamp_ms),
            e.model.as_deref().unwrap_or("-"),
            e.tokens.input,
            e.tokens.cache_write_5m,
            e.tokens.cache_write_1h,
            e.tokens.cache_read,
            e.tokens.output,
            e.tokens.reasoning,
            e.dedup_key,
            if e.estimated { " (estimated)" } else { "" }
        ));
    }
    let t = &o.totals;
    s.push_str(&format!(
        "{} events, {} after dedup, {} requests; input {}, cache write {} (5m) + {} (1h), cache read {}, output {} (reasoning {})\n",
        o.events.len(),
        o.unique_events,
        o.requests,
        t.input,
        t.cache_write_5m,
        t.cache_write_1h,
        t.cache_read,
        t.output,
        t.reasoning
    ));
    if let Some(c) = o.reported_cost_usd {
        s.push_str(&format!("reported cost ${c:.4}\n"));
    }
    if !o.models.is_empty() {
        s.push_str(&format!("models: {}\n", o.models.join(", ")));
    }
    s.push_str(&format!("malformed records: {}", o.malformed));
    if let Some(e) = &o.first_error {
        s.push_str(&format!(" (first: {e})"));
    }
    s.push('\n');
    s
}
