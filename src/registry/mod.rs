//! The one list of every tool tokwatch reads: which tool, where its logs live, which files under
//! those places are logs, and the parser that reads them.
//!
//! [`BUILTIN`] is the table of the tools written in Rust (one row per tool and file format);
//! [`specs::BUILTIN_SPECS`] are the tools described as data (`parsers/*.toml`). User specs from
//! `<config dir>/parsers/*.toml` are read once by [`Registry::load`], and a user spec whose
//! `tool` equals a built-in tool replaces every row of that tool (one override pass), so a user
//! can fix a path or a field without waiting for a release.
//!
//! Adding a built-in tool touches this table (plus its parser module, and where its logs live in
//! [`roots`]), or only a new `parsers/*.toml` listed in [`specs::BUILTIN_SPECS`]:
//! `docs/parsers.md` walks through both.

pub mod list;
pub mod roots;
pub mod specs;
pub mod sync;

use crate::env::Env;
use crate::parser::{self, Format, Parser};
use globset::GlobSetBuilder;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use specs::SpecError;

/// Where a parser comes from.
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

/// One row of the built-in table: a tool, one of its file formats, where those files live.
pub struct Builtin {
    /// Tool id, e.g. `claude-code`.
    pub tool: &'static str,
    /// The places that may hold its logs on this OS (directories or single files).
    pub roots: fn(&Env) -> Vec<PathBuf>,
    /// Globs relative to a root that select the log files.
    pub patterns: &'static [&'static str],
    /// The parser for those files.
    pub parser: fn() -> Arc<dyn Parser>,
}

use parser::cline::Flavor as Cline;
use parser::opencode::Flavor as OpenCode;

/// Every tool written in Rust, in the order sources are matched (first match wins).
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        tool: "claude-code",
        roots: roots::claude_roots,
        patterns: &["**/*.jsonl"],
        parser: || Arc::new(parser::claude::ClaudeParser),
    },
    Builtin {
        tool: "codex",
        roots: roots::codex_roots,
        patterns: &["**/*.jsonl"],
        parser: || Arc::new(parser::codex::CodexParser),
    },
    Builtin {
        tool: parser::gemini::TOOL,
        roots: roots::gemini,
        patterns: &["*/chats/*.jsonl", "*/chats/*/*.jsonl"],
        parser: || Arc::new(parser::gemini::GeminiParser { legacy: false }),
    },
    Builtin {
        tool: parser::gemini::TOOL,
        roots: roots::gemini,
        patterns: &["*/chats/*.json"],
        parser: || Arc::new(parser::gemini::GeminiParser { legacy: true }),
    },
    Builtin {
        tool: parser::copilot::TOOL,
        roots: roots::copilot,
        patterns: &["*/events.jsonl", "*.jsonl"],
        parser: || Arc::new(parser::copilot::CopilotParser),
    },
    Builtin {
        tool: "cline",
        roots: |e| roots::cline_storage(e, Cline::Cline),
        patterns: &["tasks/*/ui_messages.json"],
        parser: || Arc::new(task(Cline::Cline, false)),
    },
    Builtin {
        tool: "cline",
        roots: |e| roots::cline_storage(e, Cline::Cline),
        patterns: &["tasks/*/ui_messages.jsonl"],
        parser: || Arc::new(task(Cline::Cline, true)),
    },
    Builtin {
        tool: "roo-code",
        roots: |e| roots::cline_storage(e, Cline::Roo),
        patterns: &["tasks/*/ui_messages.json"],
        parser: || Arc::new(task(Cline::Roo, false)),
    },
    Builtin {
        tool: "roo-code",
        roots: |e| roots::cline_storage(e, Cline::Roo),
        patterns: &["tasks/*/ui_messages.jsonl"],
        parser: || Arc::new(task(Cline::Roo, true)),
    },
    Builtin {
        tool: "kilo-code",
        roots: |e| roots::cline_storage(e, Cline::Kilo),
        patterns: &["tasks/*/ui_messages.json"],
        parser: || Arc::new(task(Cline::Kilo, false)),
    },
    Builtin {
        tool: "kilo-code",
        roots: |e| roots::cline_storage(e, Cline::Kilo),
        patterns: &["tasks/*/ui_messages.jsonl"],
        parser: || Arc::new(task(Cline::Kilo, true)),
    },
    Builtin {
        tool: "cline",
        roots: roots::cline_sessions,
        patterns: &["*/*.messages.json"],
        parser: || Arc::new(parser::cline::ClineSdkParser),
    },
    Builtin {
        tool: parser::aider::TOOL,
        roots: roots::aider,
        patterns: &[parser::aider::FILE_NAME],
        parser: || Arc::new(parser::aider::AiderParser),
    },
    Builtin {
        tool: parser::amp::TOOL,
        roots: roots::amp,
        patterns: &["threads/T-*.json"],
        parser: || Arc::new(parser::amp::AmpParser),
    },
    Builtin {
        tool: "opencode",
        roots: |e| vec![roots::opencode_dir(e, OpenCode::OpenCode)],
        patterns: &["opencode*.db"],
        parser: || {
            Arc::new(parser::opencode::OpenCodeDb {
                flavor: OpenCode::OpenCode,
            })
        },
    },
    Builtin {
        tool: "opencode",
        roots: |e| vec![roots::opencode_dir(e, OpenCode::OpenCode).join("storage/message")],
        patterns: &["*/*.json"],
        parser: || {
            Arc::new(parser::opencode::OpenCodeLegacy {
                flavor: OpenCode::OpenCode,
            })
        },
    },
    Builtin {
        tool: "kilo-cli",
        roots: |e| vec![roots::opencode_dir(e, OpenCode::Kilo)],
        patterns: &["kilo*.db"],
        parser: || {
            Arc::new(parser::opencode::OpenCodeDb {
                flavor: OpenCode::Kilo,
            })
        },
    },
    Builtin {
        tool: "kilo-cli",
        roots: |e| vec![roots::opencode_dir(e, OpenCode::Kilo).join("storage/message")],
        patterns: &["*/*.json"],
        parser: || {
            Arc::new(parser::opencode::OpenCodeLegacy {
                flavor: OpenCode::Kilo,
            })
        },
    },
    Builtin {
        tool: "crush",
        roots: roots::crush_db_dirs,
        patterns: &["crush.db"],
        parser: || Arc::new(parser::crush::CrushParser),
    },
    Builtin {
        tool: "cursor",
        roots: |e| vec![roots::cursor_user_dir(e).join("globalStorage")],
        patterns: &["state.vscdb"],
        parser: || Arc::new(parser::cursor::CursorParser),
    },
];

fn task(flavor: Cline, jsonl: bool) -> parser::cline::ClineTaskParser {
    parser::cline::ClineTaskParser { flavor, jsonl }
}

/// One tool's log location(s) in one format, and the parser for them.
pub struct Source {
    /// Tool id, e.g. `claude-code`.
    pub tool: String,
    /// Directories (or single files) that may hold logs. They need not exist yet.
    pub roots: Vec<PathBuf>,
    /// Globs relative to a root that select log files (`projects/**/*.jsonl`).
    pub patterns: Vec<String>,
    /// The patterns, checked when the source is made; compiled into [`Source::glob`] only when
    /// a path is first matched (most sources' roots do not exist on a machine, and compiling a
    /// set's regular expressions costs more than a warm re-run's whole walk).
    globs: Vec<globset::Glob>,
    glob: std::sync::OnceLock<globset::GlobSet>,
    /// The parser for these files.
    pub parser: Arc<dyn Parser>,
    /// Where the parser comes from.
    pub origin: Origin,
    /// `jsonl`, `json`, `sqlite`, `regex` for specs; `lines`, `whole-file`, `sqlite` for Rust.
    pub format: String,
    /// The spec file (user specs).
    pub spec_file: Option<PathBuf>,
    /// Files under the roots that are not this source's to read (the sync folder's file this
    /// machine writes itself).
    pub exclude: Vec<PathBuf>,
}

/// The name `parsers list` gives a Rust parser's format.
pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Lines => "lines",
        Format::WholeFile => "whole-file",
        Format::Sqlite => "sqlite",
    }
}

impl Source {
    /// A source of a Rust parser; fails only on a bad glob.
    pub fn new(
        tool: &str,
        roots: Vec<PathBuf>,
        patterns: &[&str],
        parser: Arc<dyn Parser>,
    ) -> anyhow::Result<Source> {
        let mut globs = Vec::with_capacity(patterns.len());
        for p in patterns {
            globs.push(
                globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| anyhow::anyhow!("bad file pattern {p:?} for {tool}: {e}"))?,
            );
        }
        let format = format_name(parser.format()).to_string();
        Ok(Source {
            tool: tool.to_string(),
            roots,
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
            globs,
            glob: std::sync::OnceLock::new(),
            parser,
            origin: Origin::Rust,
            format,
            spec_file: None,
            exclude: Vec::new(),
        })
    }

    /// The compiled patterns (built on first use).
    fn glob(&self) -> &globset::GlobSet {
        self.glob.get_or_init(|| {
            let mut b = GlobSetBuilder::new();
            for g in &self.globs {
                b.add(g.clone());
            }
            // Each glob was built already; a set of valid globs compiles.
            b.build().unwrap_or_else(|_| globset::GlobSet::empty())
        })
    }

    /// True when `path` (anywhere below one of the roots) is a log file of this source.
    pub fn matches(&self, path: &Path) -> bool {
        if self.exclude.iter().any(|x| x == path) {
            return false;
        }
        self.roots.iter().any(|r| {
            if r == path {
                return true;
            }
            path.strip_prefix(r)
                .map(|rel| self.glob().is_match(rel))
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
        self.files_checked().0
    }

    /// [`Source::files`], and the directories under its roots that could not be listed (with
    /// the reason): logs in them cannot be seen, which is said like an unreadable file.
    pub fn files_checked(&self) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        let depth = self.max_depth();
        // Roots that gave files: the walk yields one root's files in path order already, so
        // only files from several roots need sorting (and deduplicating: roots may nest).
        let mut giving = 0;
        for r in &self.roots {
            let before = out.len();
            if r.is_file() {
                out.push(r.clone());
            } else if r.is_dir() {
                // A file under `r` that `r`'s patterns do not select but another root's do is
                // found when that root is walked: matching against `r` alone finds the same set
                // as [`Source::matches`].
                walk_rel(
                    r,
                    depth,
                    &mut |p, rel| {
                        if self.glob().is_match(rel) && !self.exclude.iter().any(|x| x == p) {
                            out.push(p.to_path_buf());
                        }
                    },
                    &mut |d, e| {
                        bad.push((d.to_path_buf(), format!("cannot list this directory: {e}")))
                    },
                );
            }
            giving += usize::from(out.len() > before);
        }
        if giving > 1 {
            out.sort();
            out.dedup();
        }
        bad.sort();
        bad.dedup();
        (out, bad)
    }

    /// True for a source whose files are SQLite databases (their `-wal` is part of them).
    pub fn is_sqlite(&self) -> bool {
        self.parser.format() == Format::Sqlite
    }
}

impl Registry {
    /// Adds Aider history files found where Aider writes them (repository roots tokwatch knows,
    /// project directories): each becomes one more root of the Aider source, followed live like
    /// any other log, a missing one as soon as it appears.
    pub fn add_aider_files(&mut self, files: Vec<PathBuf>) {
        let Some(s) = self
            .sources
            .iter_mut()
            .find(|s| s.tool == parser::aider::TOOL && s.origin == Origin::Rust)
        else {
            return;
        };
        for f in files {
            if !s.roots.contains(&f) {
                s.roots.push(f);
            }
        }
    }
}

/// Every tool's sources, resolved against one [`Env`], with the user specs that did not load.
pub struct Registry {
    /// Every source in use, in match order: the built-ins not replaced by a user spec, then the
    /// user specs.
    pub sources: Vec<Source>,
    /// User spec files that could not be used (each names its file and field).
    pub problems: Vec<SpecError>,
}

impl Registry {
    /// Resolves every built-in tool against `env`, reads the user specs once, and lets each user
    /// spec replace the built-in tool of the same id.
    pub fn load(env: &Env) -> Registry {
        let user = specs::load_user_specs(env);
        let replaced: BTreeSet<String> = user.specs.iter().map(|s| s.tool().to_string()).collect();
        let mut sources: Vec<Source> = Vec::new();
        for b in BUILTIN.iter().filter(|b| !replaced.contains(b.tool)) {
            sources.push(
                Source::new(b.tool, (b.roots)(env), b.patterns, (b.parser)())
                    .expect("built-in patterns are valid"),
            );
            // The spec tools sit right after the first two rows (Claude Code and Codex), where
            // the older registry listed them.
            if b.tool == "codex" {
                for s in specs::builtin_specs() {
                    if !replaced.contains(s.tool()) {
                        let src = specs::spec_source(&s, env, Origin::Builtin)
                            .expect("built-in patterns are valid");
                        sources.push(src);
                    }
                }
            }
        }
        let mut problems = user.errors;
        for s in user.specs {
            match specs::spec_source(&s, env, Origin::User) {
                Ok(src) => sources.push(src),
                Err(e) => problems.push(SpecError {
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
        Registry { sources, problems }
    }

    /// The sources of built-in tools (Rust parsers and built-in specs) still in use.
    pub fn builtin_sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(|s| s.origin != Origin::User)
    }

    /// The sources of the user specs that loaded.
    pub fn user_sources(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(|s| s.origin == Origin::User)
    }

    /// Every tool id, in match order, each once.
    pub fn tools(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for s in &self.sources {
            if !v.contains(&s.tool.as_str()) {
                v.push(&s.tool);
            }
        }
        v
    }

    /// Index of the source a path belongs to (a SQLite database's `-wal`/`-shm` belongs to
    /// the database's source).
    pub fn source_for(&self, path: &Path) -> Option<usize> {
        self.sources.iter().position(|s| s.matches(path))
    }

    /// Each place any source looks, once, in source order (the daemon watches these).
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = Vec::new();
        for r in self.sources.iter().flat_map(|s| s.roots.iter()) {
            if !roots.contains(r) {
                roots.push(r.clone());
            }
        }
        roots
    }

    /// An error for an unknown tool name, listing the known ones; `Ok` for a known one.
    pub fn check_tool(&self, name: &str) -> Result<(), String> {
        if self.sources.iter().any(|s| s.tool == name) {
            return Ok(());
        }
        Err(format!(
            "unknown tool {name:?}: use one of {}",
            self.tools().join(", ")
        ))
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
    walk_checked(dir, depth, f, &mut |_, _| {})
}

/// The walk of [`walk_checked`], also handing `f` each file's path relative to `root` (what a
/// source's patterns are matched against), without taking the full path apart again.
fn walk_rel(
    root: &Path,
    depth: Option<usize>,
    f: &mut dyn FnMut(&Path, &Path),
    unreadable: &mut dyn FnMut(&Path, &std::io::Error),
) {
    /// The part of `p` (a path the walk built under `root`) after `root`.
    fn rel<'a>(p: &'a Path, root: &Path) -> &'a Path {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let b = p.as_os_str().as_bytes();
            let n = root.as_os_str().as_bytes().len();
            let rest = b.get(n..).unwrap_or_default();
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            Path::new(std::ffi::OsStr::from_bytes(rest))
        }
        #[cfg(not(unix))]
        {
            p.strip_prefix(root).unwrap_or(p)
        }
    }
    fn go(
        root: &Path,
        dir: &Path,
        depth: Option<usize>,
        f: &mut dyn FnMut(&Path, &Path),
        unreadable: &mut dyn FnMut(&Path, &std::io::Error),
    ) {
        if depth == Some(0) {
            return;
        }
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    unreadable(dir, &e);
                }
                return;
            }
        };
        // One directory's paths share everything up to the name: sorting the paths' bytes
        // sorts by name.
        let mut entries: Vec<(PathBuf, std::fs::DirEntry)> =
            rd.flatten().map(|e| (e.path(), e)).collect();
        entries.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
        for (p, e) in entries {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                go(root, &p, depth.map(|d| d - 1), f, unreadable);
            } else if ft.is_file() || (ft.is_symlink() && p.is_file()) {
                f(&p, rel(&p, root));
            }
        }
    }
    go(root, root, depth, f, unreadable)
}

/// [`walk_depth`], telling `unreadable` each directory that could not be listed, and why.
pub fn walk_checked(
    dir: &Path,
    depth: Option<usize>,
    f: &mut dyn FnMut(&Path),
    unreadable: &mut dyn FnMut(&Path, &std::io::Error),
) {
    walk_rel(dir, depth, &mut |p, _| f(p), unreadable)
}
