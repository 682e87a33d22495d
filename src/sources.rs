//! Where each tool keeps its logs, and which files under those roots are usage logs.

use crate::parser::{self, Parser};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One tool's log location(s) and the parser for them.
pub struct Source {
    /// Tool id, e.g. `claude-code`.
    pub tool: String,
    /// Directories (or single files) that may hold logs. They need not exist yet.
    pub roots: Vec<PathBuf>,
    /// Globs relative to a root that select log files (`projects/**/*.jsonl`).
    pub patterns: Vec<String>,
    glob: GlobSet,
    pub parser: Arc<dyn Parser>,
}

impl Source {
    pub fn new(
        tool: &str,
        roots: Vec<PathBuf>,
        patterns: &[&str],
        parser: Arc<dyn Parser>,
    ) -> anyhow::Result<Source> {
        let mut b = GlobSetBuilder::new();
        for p in patterns {
            b.add(
                globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| anyhow::anyhow!("bad file pattern {p:?} for {tool}: {e}"))?,
            );
        }
        let _ = Glob::new; // keep the import meaningful for readers of the builder above
        Ok(Source {
            tool: tool.to_string(),
            roots,
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
            glob: b.build()?,
            parser,
        })
    }

    /// True when `path` (anywhere below one of the roots) is a log file of this source.
    pub fn matches(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| {
            if r == path {
                return true;
            }
            path.strip_prefix(r)
                .map(|rel| self.glob.is_match(rel))
                .unwrap_or(false)
        })
    }

    /// The roots that exist right now.
    pub fn existing_roots(&self) -> Vec<PathBuf> {
        self.roots.iter().filter(|r| r.exists()).cloned().collect()
    }

    /// How many directory levels below a root a pattern can reach (`None` = any, for `**`).
    fn max_depth(&self) -> Option<usize> {
        let mut d = 0;
        for p in &self.patterns {
            if p.contains("**") {
                return None;
            }
            d = d.max(p.matches('/').count() + 1);
        }
        Some(d)
    }

    /// Every matching file under the roots (sorted, deduplicated). Walks only as deep as the
    /// patterns can match (a `*.db` pattern does not walk a tool's whole data directory).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let depth = self.max_depth();
        for r in &self.roots {
            if r.is_file() {
                out.push(r.clone());
            } else if r.is_dir() {
                walk_depth(r, depth, &mut |p| {
                    if self.matches(p) {
                        out.push(p.to_path_buf());
                    }
                });
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Each tool's roots in source order, each place once (a tool with several sources, one per
/// file format, lists the same roots in each).
pub fn roots_by_tool(sources: &[Source]) -> Vec<(&str, Vec<&Path>)> {
    let mut out: Vec<(&str, Vec<&Path>)> = Vec::new();
    for s in sources {
        let i = match out.iter().position(|(t, _)| *t == s.tool) {
            Some(i) => i,
            None => {
                out.push((&s.tool, Vec::new()));
                out.len() - 1
            }
        };
        for r in &s.roots {
            if !out[i].1.contains(&r.as_path()) {
                out[i].1.push(r);
            }
        }
    }
    out
}

/// Depth-first walk over regular files; unreadable directories are skipped silently (the
/// caller reports roots it could not read). Symlinked directories are not followed.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    walk_depth(dir, None, f)
}

/// [`walk`] limited to files at most `depth` levels below `dir` (1 = its own files).
pub fn walk_depth(dir: &Path, depth: Option<usize>, f: &mut dyn FnMut(&Path)) {
    if depth == Some(0) {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() {
            walk_depth(&p, depth.map(|d| d - 1), f);
        } else if ft.is_file() || (ft.is_symlink() && p.is_file()) {
            f(&p);
        }
    }
}

/// Environment the sources are resolved against (a struct so tests can point it anywhere).
#[derive(Debug, Clone)]
pub struct Env {
    pub home: PathBuf,
    pub vars: std::collections::HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Env {
        let home = directories::BaseDirs::new()
            .map(|b| b.home_dir().to_path_buf())
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."));
        Env {
            home,
            vars: std::env::vars().collect(),
        }
    }
    pub fn var(&self, k: &str) -> Option<&str> {
        self.vars
            .get(k)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }
    /// `$XDG_CONFIG_HOME` or `~/.config`.
    pub fn xdg_config(&self) -> PathBuf {
        self.var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.join(".config"))
    }
    /// `$XDG_DATA_HOME` or `~/.local/share`.
    pub fn xdg_data(&self) -> PathBuf {
        self.var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.join(".local/share"))
    }
}

/// Claude Code roots: `$CLAUDE_CONFIG_DIR` (comma-separated list allowed, a path ending in
/// `/projects` accepted), else `~/.claude` and `~/.config/claude`.
pub fn claude_roots(env: &Env) -> Vec<PathBuf> {
    let bases: Vec<PathBuf> = match env.var("CLAUDE_CONFIG_DIR") {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let p = PathBuf::from(s);
                if p.file_name().is_some_and(|n| n == "projects") {
                    p.parent().map(Path::to_path_buf).unwrap_or(p)
                } else {
                    p
                }
            })
            .collect(),
        None => vec![env.home.join(".claude"), env.xdg_config().join("claude")],
    };
    let mut v: Vec<PathBuf> = bases.into_iter().map(|b| b.join("projects")).collect();
    v.dedup();
    v
}

/// Codex roots: `$CODEX_HOME` (comma-separated list allowed) else `~/.codex`; both
/// `sessions/` and `archived_sessions/`.
pub fn codex_roots(env: &Env) -> Vec<PathBuf> {
    let bases: Vec<PathBuf> = match env.var("CODEX_HOME") {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect(),
        None => vec![env.home.join(".codex")],
    };
    let mut v = Vec::new();
    for b in bases {
        v.push(b.join("sessions"));
        v.push(b.join("archived_sessions"));
    }
    v
}

/// The built-in sources, resolved against `env`.
pub fn builtin(env: &Env) -> Vec<Source> {
    let mut v = vec![
        Source::new(
            "claude-code",
            claude_roots(env),
            &["**/*.jsonl"],
            Arc::new(parser::claude::ClaudeParser),
        )
        .expect("built-in patterns are valid"),
        Source::new(
            "codex",
            codex_roots(env),
            &["**/*.jsonl"],
            Arc::new(parser::codex::CodexParser),
        )
        .expect("built-in patterns are valid"),
    ];
    v.extend(extra_builtin(env));
    v
}

/// Further built-in sources (the tools beyond Claude Code and Codex).
fn extra_builtin(env: &Env) -> Vec<Source> {
    let mut v = parser::plugins::builtin_sources(env);
    v.extend(parser::sqlite_tools::builtin_sources(env));
    v
}
