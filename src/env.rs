//! What tokwatch resolves every path against: the home directory, the environment variables,
//! and the platform's data, config and runtime directories. A value, not globals, so tests
//! point a whole run at a temporary home.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The home directory and environment a run resolves its paths against.
#[derive(Debug, Clone)]
pub struct Env {
    /// The user's home directory.
    pub home: PathBuf,
    /// Environment variables (empty values count as unset).
    pub vars: HashMap<String, String>,
}

impl Env {
    /// The current process's home and environment.
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

    /// A variable's value; `None` when unset or empty.
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

    /// `$XDG_STATE_HOME` or `~/.local/state`.
    pub fn xdg_state(&self) -> PathBuf {
        self.var("XDG_STATE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.join(".local/state"))
    }

    /// tokwatch's configuration directory (holds `config.toml` and user parser specs in
    /// `parsers/`): `$TOKWATCH_CONFIG_DIR`, else the platform's (`~/.config/tokwatch` on
    /// Linux, `~/Library/Application Support/tokwatch` on macOS, `%APPDATA%\tokwatch\config`
    /// on Windows).
    pub fn config_dir(&self) -> PathBuf {
        if let Some(d) = self.var("TOKWATCH_CONFIG_DIR") {
            return PathBuf::from(d);
        }
        if cfg!(target_os = "linux") {
            return self.xdg_config().join("tokwatch");
        }
        directories::ProjectDirs::from("", "", "tokwatch")
            .map(|p| p.config_dir().to_path_buf())
            .unwrap_or_else(|| self.home.join(".tokwatch"))
    }

    /// The config file: `<config dir>/config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }

    /// Where user parser specs live: `<config dir>/parsers/`.
    pub fn user_spec_dir(&self) -> PathBuf {
        self.config_dir().join("parsers")
    }

    /// tokwatch's data directory (the database): `~/.local/share/tokwatch` on Linux.
    pub fn data_dir(&self) -> PathBuf {
        if cfg!(target_os = "linux") {
            return self.xdg_data().join("tokwatch");
        }
        directories::ProjectDirs::from("", "", "tokwatch")
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| self.home.join(".tokwatch"))
    }

    /// Where the daemon writes its log files: `$TOKWATCH_LOG_DIR`, else `~/.local/state/tokwatch`
    /// on Linux (`$XDG_STATE_HOME`), `~/Library/Logs/tokwatch` on macOS, the local data
    /// directory's `tokwatch\logs` on Windows.
    pub fn log_dir(&self) -> PathBuf {
        if let Some(d) = self.var("TOKWATCH_LOG_DIR") {
            return PathBuf::from(d);
        }
        if cfg!(target_os = "linux") {
            return self.xdg_state().join("tokwatch");
        }
        if cfg!(target_os = "macos") {
            return self.home.join("Library/Logs/tokwatch");
        }
        directories::ProjectDirs::from("", "", "tokwatch")
            .map(|d| d.data_local_dir().join("logs"))
            .unwrap_or_else(|| self.home.join(".tokwatch/logs"))
    }

    /// The database path: `$TOKWATCH_DB`, else `<data dir>/tokwatch.db`.
    pub fn default_db(&self) -> PathBuf {
        match self.var("TOKWATCH_DB") {
            Some(p) => PathBuf::from(p),
            None => self.data_dir().join("tokwatch.db"),
        }
    }

    /// A directory for sockets and other per-login files: `$XDG_RUNTIME_DIR` when it exists,
    /// else the temporary directory.
    pub fn runtime_dir(&self) -> PathBuf {
        self.var("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir)
    }

    /// `~/rest` for a path under the home directory, else the path as it is (for messages).
    pub fn short(&self, p: &Path) -> String {
        match p.strip_prefix(&self.home) {
            Ok(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
            _ => p.display().to_string(),
        }
    }
}

/// This machine's host name (the default machine id starts with it), `None` when there is none.
pub fn hostname() -> Option<String> {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname(2) writes at most `buf.len()` bytes into the buffer we own.
        let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if r != 0 {
            return None;
        }
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        let s = String::from_utf8_lossy(&buf[..end]).into_owned();
        // The short name: `laptop`, not `laptop.example.org`.
        let s = s.split('.').next().unwrap_or_default().to_string();
        (!s.is_empty()).then_some(s)
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty())
    }
}

/// The id of the user running this process (names per-user sockets).
#[cfg(unix)]
pub fn uid() -> u32 {
    // SAFETY: getuid(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::getuid() }
}

/// The id of the user running this process (0 where the platform has no such id).
#[cfg(not(unix))]
pub fn uid() -> u32 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env {
            home: PathBuf::from("/home/u"),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn overrides_and_defaults() {
        let e = env(&[("TOKWATCH_CONFIG_DIR", "/tmp/c"), ("TOKWATCH_DB", "")]);
        assert_eq!(e.config_file(), PathBuf::from("/tmp/c/config.toml"));
        assert_eq!(e.user_spec_dir(), PathBuf::from("/tmp/c/parsers"));
        if cfg!(target_os = "linux") {
            assert_eq!(
                e.default_db(),
                PathBuf::from("/home/u/.local/share/tokwatch/tokwatch.db")
            );
            assert_eq!(
                env(&[]).config_dir(),
                PathBuf::from("/home/u/.config/tokwatch")
            );
        }
        assert_eq!(e.short(Path::new("/home/u/.codex")), "~/.codex");
        assert_eq!(e.short(Path::new("/opt/x")), "/opt/x");
    }
}
