//! The library side of `tokwatch parsers list` (every parser and where it looks) and
//! `tokwatch parsers test SPEC FILE` (what a parser extracts from one file).

use super::{Origin, Registry};
use crate::event::{Tokens, UsageEvent};
use crate::parser::spec::Spec;
use crate::parser::{FileState, Format, Parser};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One place a parser looks, and whether it is there.
#[derive(Debug, Clone, Serialize)]
pub struct RootInfo {
    /// The directory or file.
    pub path: PathBuf,
    /// Whether it exists now.
    pub exists: bool,
}

/// One parser as `parsers list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ParserInfo {
    /// Tool id.
    pub tool: String,
    /// Built-in spec, user spec or Rust.
    pub origin: Origin,
    /// `jsonl`, `json`, `sqlite`, `regex` for specs; `lines`, `whole-file`, `sqlite` for Rust.
    pub format: String,
    /// Where it looks.
    pub roots: Vec<RootInfo>,
    /// Which files under those places it reads.
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

impl Registry {
    /// Every parser in use, then the user specs that failed to load.
    pub fn list(&self) -> Vec<ParserInfo> {
        let mut out: Vec<ParserInfo> = self
            .sources
            .iter()
            .map(|s| {
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
                    origin: s.origin,
                    format: s.format.clone(),
                    found: roots.iter().any(|r| r.exists),
                    roots,
                    patterns: s.patterns.clone(),
                    spec_file: s.spec_file.clone(),
                    error: None,
                }
            })
            .collect();
        for e in &self.problems {
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

    /// The parser of tool `name` that fits `file` best (by its extension: `.json` a whole-file
    /// parser, `.db`/`.sqlite`/`.vscdb` a database parser, else a line parser).
    pub fn parser_named(&self, name: &str, file: &Path) -> Option<(Arc<dyn Parser>, String)> {
        let want = match file.extension().and_then(|x| x.to_str()) {
            Some("json") => Format::WholeFile,
            Some("db" | "sqlite" | "vscdb") => Format::Sqlite,
            _ => Format::Lines,
        };
        let candidates: Vec<_> = self.sources.iter().filter(|s| s.tool == name).collect();
        let pick = candidates
            .iter()
            .find(|s| s.parser.format() == want)
            .or(candidates.first())?;
        Some((pick.parser.clone(), pick.format.clone()))
    }
}

/// What a parser extracts from one file, for people writing specs.
#[derive(Debug, Clone, Serialize)]
pub struct ParserTest {
    /// Tool id.
    pub tool: String,
    /// The spec file, or `builtin:<tool>` when SPEC named a tool.
    pub spec: String,
    /// The parser's format name.
    pub format: String,
    /// The file read.
    pub file: PathBuf,
    /// Lines handed to the parser (line formats), else 0.
    pub lines: u64,
    /// Every event in the order it was produced (before deduplication).
    pub events: Vec<UsageEvent>,
    /// Records skipped as malformed.
    pub malformed: u64,
    /// One example error (never log text).
    pub first_error: Option<String>,
    /// Events left after applying each event's merge rule to equal dedup keys.
    pub unique_events: usize,
    /// Token totals of the unique events.
    pub totals: Tokens,
    /// Requests the unique events stand for.
    pub requests: i64,
    /// Sum of tool-reported costs of the unique events that have one.
    pub reported_cost_usd: Option<f64>,
    /// Models seen.
    pub models: Vec<String>,
}

/// Runs a parser (a spec `.toml` file, or the name of any tool in `reg`) over `file` and reports
/// every event it extracts, the malformed records, and the totals after deduplication.
pub fn test_parser(reg: &Registry, spec_path: &Path, file: &Path) -> anyhow::Result<ParserTest> {
    let (parser, spec_name, format): (Arc<dyn Parser>, String, String) = if spec_path.is_file() {
        let spec = Spec::load(spec_path)?;
        let f = spec.parser.spec_format().name().to_string();
        (spec.parser.clone(), spec_path.display().to_string(), f)
    } else {
        let name = spec_path.to_string_lossy();
        match reg.parser_named(&name, file) {
            Some((p, f)) => (p, format!("builtin:{name}"), f),
            None => anyhow::bail!(
                "{}: no such spec file, and no tool of that name (known tools: {})",
                spec_path.display(),
                reg.tools().join(", ")
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
    let unique = crate::dedup::merge(events.clone());
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
    Ok(ParserTest {
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
