//! Where each tool keeps its logs on each OS, with the environment overrides the tools
//! themselves honour. Every function takes the [`Env`] the run resolves against; none reads
//! the process environment. The rules come from `docs/log-formats.md` (one section per tool).

use crate::env::Env;
use crate::parser::cline::Flavor as ClineFlavor;
use crate::parser::opencode::Flavor as OpenCodeFlavor;
use std::path::{Path, PathBuf};

/// Split a comma-separated list of paths from an environment variable.
pub fn split_list(v: &str) -> Vec<PathBuf> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Per-user configuration directories of desktop apps on this OS: `$XDG_CONFIG_HOME` (Linux),
/// `~/Library/Application Support` (macOS), `%APPDATA%` (Windows).
pub fn app_config_base(env: &Env) -> PathBuf {
    if cfg!(target_os = "macos") {
        env.home.join("Library/Application Support")
    } else if cfg!(windows) {
        env.var("APPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| env.home.join("AppData").join("Roaming"))
    } else {
        env.xdg_config()
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

/// `$GEMINI_CLI_HOME/.gemini` (the variable replaces the home directory) else `~/.gemini`.
pub fn gemini_dir(env: &Env) -> PathBuf {
    match env.var("GEMINI_CLI_HOME") {
        Some(h) => PathBuf::from(h).join(".gemini"),
        None => env.home.join(".gemini"),
    }
}

/// Roots: the `tmp` directory that holds one folder per project.
pub fn gemini(env: &Env) -> Vec<PathBuf> {
    vec![gemini_dir(env).join("tmp")]
}

/// `$COPILOT_HOME` (comma-separated list allowed) else `~/.copilot`.
pub fn copilot_bases(env: &Env) -> Vec<PathBuf> {
    match env.var("COPILOT_HOME") {
        Some(v) => split_list(v),
        None => vec![env.home.join(".copilot")],
    }
}

/// `session-state/` and `history-session-state/` under every base.
pub fn copilot(env: &Env) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for b in copilot_bases(env) {
        v.push(b.join("session-state"));
        v.push(b.join("history-session-state"));
    }
    v
}

/// VS Code and its forks (folder names under the per-user config directory).
pub const EDITORS: &[&str] = &[
    "Code",
    "Code - Insiders",
    "Cursor",
    "Windsurf",
    "VSCodium",
    "Positron",
    "Antigravity",
    "Trae",
    "Kiro",
];

/// Remote-server data folders under `~` (VS Code Remote / SSH hosts).
pub const SERVERS: &[&str] = &[
    ".vscode-server/data",
    ".vscode-server-insiders/data",
    ".cursor-server/data",
    ".windsurf-server/data",
    ".vscodium-server/data",
];

/// Cline's own data directories outside VS Code: `$CLINE_DATA_DIR`, else `$CLINE_DIR/data`,
/// else `~/.cline/data`.
pub fn cline_data_dirs(env: &Env) -> Vec<PathBuf> {
    if let Some(v) = env.var("CLINE_DATA_DIR") {
        return split_list(v);
    }
    if let Some(v) = env.var("CLINE_DIR") {
        return split_list(v).into_iter().map(|d| d.join("data")).collect();
    }
    vec![env.home.join(".cline").join("data")]
}

/// Every storage folder of `flavor` (each may hold `tasks/<id>/ui_messages.json`).
pub fn cline_storage(env: &Env, flavor: ClineFlavor) -> Vec<PathBuf> {
    let ext = flavor.extension_id();
    let base = app_config_base(env);
    let mut v: Vec<PathBuf> = EDITORS
        .iter()
        .map(|e| base.join(e).join("User").join("globalStorage").join(ext))
        .collect();
    for s in SERVERS {
        v.push(
            env.home
                .join(s)
                .join("User")
                .join("globalStorage")
                .join(ext),
        );
    }
    match flavor {
        ClineFlavor::Cline => v.extend(cline_data_dirs(env)),
        // Roo Code's CLI keeps an extension-host shim's storage.
        ClineFlavor::Roo => v.push(env.home.join(".vscode-mock").join("global-storage")),
        ClineFlavor::Kilo => {}
    }
    v
}

/// Roots of Cline SDK sessions: `$CLINE_SESSION_DATA_DIR`, else `<cline data>/sessions`.
pub fn cline_sessions(env: &Env) -> Vec<PathBuf> {
    match env.var("CLINE_SESSION_DATA_DIR") {
        Some(v) => split_list(v),
        None => cline_data_dirs(env)
            .into_iter()
            .map(|d| d.join("sessions"))
            .collect(),
    }
}

/// Aider history files in project directories: every `.aider.chat.history.md` at most `depth`
/// directory levels below one of `dirs` (the directory itself is level 0). Hidden directories,
/// `node_modules` and `target` are not entered, nor is anything below a repository root (a
/// directory with `.git`), so the walk stays small.
pub fn aider_in_projects(dirs: &[PathBuf], depth: usize) -> Vec<PathBuf> {
    fn walk(dir: &Path, left: usize, out: &mut Vec<PathBuf>) {
        let f = dir.join(crate::parser::aider::FILE_NAME);
        if f.is_file() {
            out.push(f);
        }
        if left == 0 || dir.join(".git").exists() {
            return;
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut subs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                !n.starts_with('.') && n != "node_modules" && n != "target"
            })
            .map(|e| e.path())
            .collect();
        subs.sort();
        for s in subs {
            walk(&s, left - 1, out);
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        if d.is_dir() {
            walk(d, depth, &mut out);
        }
    }
    out
}

/// The history files to watch (see the module docs).
pub fn aider(env: &Env) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dirs) = env.var("TOKWATCH_AIDER_DIRS") {
        for d in std::env::split_paths(dirs) {
            if !d.as_os_str().is_empty() {
                v.push(d.join(crate::parser::aider::FILE_NAME));
            }
        }
    }
    if let Some(f) = env.var("AIDER_CHAT_HISTORY_FILE") {
        let p = PathBuf::from(f);
        if p.is_absolute() {
            v.push(p);
        }
    }
    v.push(env.home.join(crate::parser::aider::FILE_NAME));
    let mut seen = std::collections::HashSet::new();
    v.retain(|p| seen.insert(p.clone()));
    v
}

/// `$AMP_DATA_DIR` (comma-separated list allowed) else `${XDG_DATA_HOME:-~/.local/share}/amp`.
pub fn amp(env: &Env) -> Vec<PathBuf> {
    match env.var("AMP_DATA_DIR") {
        Some(v) => split_list(v),
        None => vec![env.xdg_data().join("amp")],
    }
}

/// OpenCode's data directory: `$XDG_DATA_HOME/opencode`, else `~/.local/share/opencode` on every
/// OS (OpenCode uses xdg-basedir, which does not branch per platform). `OPENCODE_DATA_DIR`
/// (ccusage's override) points at the directory itself. Kilo CLI: `kilo`, `KILO_DATA_DIR`.
pub fn opencode_dir(env: &Env, flavor: OpenCodeFlavor) -> PathBuf {
    let var = match flavor {
        OpenCodeFlavor::OpenCode => "OPENCODE_DATA_DIR",
        OpenCodeFlavor::Kilo => "KILO_DATA_DIR",
    };
    match env.var(var) {
        Some(v) => PathBuf::from(v),
        None => env.xdg_data().join(flavor.db_stem()),
    }
}

/// Crush's global data directory (holds `projects.json`): `$CRUSH_GLOBAL_DATA`, else
/// `$XDG_DATA_HOME/crush`, else `%LOCALAPPDATA%\crush` on Windows, else `~/.local/share/crush`.
pub fn crush_global_dir(env: &Env) -> PathBuf {
    if let Some(v) = env.var("CRUSH_GLOBAL_DATA") {
        return PathBuf::from(v);
    }
    if let Some(v) = env.var("XDG_DATA_HOME") {
        return PathBuf::from(v).join("crush");
    }
    if cfg!(windows) {
        let local = env
            .var("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| env.home.join("AppData").join("Local"));
        return local.join("crush");
    }
    env.home.join(".local/share/crush")
}

/// Data directories of the projects Crush knows (`projects.json`:
/// `{"projects":[{"path":..., "data_dir":...}]}`; a relative `data_dir` is relative to the
/// project, the default is `.crush`). Projects registered after start-up are picked up when the
/// sources are next resolved.
pub fn crush_db_dirs(env: &Env) -> Vec<PathBuf> {
    let file = crush_global_dir(env).join("projects.json");
    let Ok(bytes) = std::fs::read(&file) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in v
        .get("projects")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        let Some(path) = p
            .get("path")
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let data = p
            .get("data_dir")
            .and_then(|x| x.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(".crush");
        let d = Path::new(data);
        out.push(if d.is_absolute() {
            d.to_path_buf()
        } else {
            Path::new(path).join(d)
        });
    }
    out.sort();
    out.dedup();
    out
}

/// Cursor's `User` directory: macOS `~/Library/Application Support/Cursor/User`, Windows
/// `%APPDATA%\Cursor\User`, elsewhere `$XDG_CONFIG_HOME/Cursor/User` (`~/.config`).
pub fn cursor_user_dir(env: &Env) -> PathBuf {
    if cfg!(target_os = "macos") {
        env.home.join("Library/Application Support/Cursor/User")
    } else if cfg!(windows) {
        env.var("APPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| env.home.join("AppData").join("Roaming"))
            .join("Cursor")
            .join("User")
    } else {
        env.xdg_config().join("Cursor").join("User")
    }
}
