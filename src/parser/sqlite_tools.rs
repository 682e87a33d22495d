//! Sources of the SQLite-backed tools: OpenCode, Kilo CLI, Crush, Cursor (log-formats §4, §5,
//! §8), resolved per OS with the environment overrides the tools themselves honour.

use super::crush::CrushParser;
use super::cursor::CursorParser;
use super::opencode::{Flavor, OpenCodeDb, OpenCodeLegacy};
use crate::sources::{Env, Source};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// OpenCode's data directory: `$XDG_DATA_HOME/opencode`, else `~/.local/share/opencode` on every
/// OS (OpenCode uses xdg-basedir, which does not branch per platform). `OPENCODE_DATA_DIR`
/// (ccusage's override) points at the directory itself. Kilo CLI: `kilo`, `KILO_DATA_DIR`.
pub fn opencode_dir(env: &Env, flavor: Flavor) -> PathBuf {
    let var = match flavor {
        Flavor::OpenCode => "OPENCODE_DATA_DIR",
        Flavor::Kilo => "KILO_DATA_DIR",
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

/// The built-in sources of the SQLite-backed tools.
pub fn builtin_sources(env: &Env) -> Vec<Source> {
    let mut v = Vec::new();
    for flavor in [Flavor::OpenCode, Flavor::Kilo] {
        let dir = opencode_dir(env, flavor);
        let db_glob = format!("{}*.db", flavor.db_stem());
        v.push(
            Source::new(
                flavor.tool(),
                vec![dir.clone()],
                &[db_glob.as_str()],
                Arc::new(OpenCodeDb { flavor }),
            )
            .expect("built-in patterns are valid"),
        );
        v.push(
            Source::new(
                flavor.tool(),
                vec![dir.join("storage").join("message")],
                &["*/*.json"],
                Arc::new(OpenCodeLegacy { flavor }),
            )
            .expect("built-in patterns are valid"),
        );
    }
    v.push(
        Source::new(
            "crush",
            crush_db_dirs(env),
            &["crush.db"],
            Arc::new(CrushParser),
        )
        .expect("built-in patterns are valid"),
    );
    v.push(
        Source::new(
            "cursor",
            vec![cursor_user_dir(env).join("globalStorage")],
            &["state.vscdb"],
            Arc::new(CursorParser),
        )
        .expect("built-in patterns are valid"),
    );
    v
}
