//! Ties an event's working directory to a workspace: the git repository it belongs to.
//!
//! Rules:
//! - Walk up from the cwd (canonicalized, so symlinked paths agree) to the first directory with
//!   a `.git` directory or a `.git` file (`gitdir: <path>`, linked worktree or submodule).
//! - Linked worktrees fold into their main repository: a gitdir with a `commondir` file points
//!   at the main `.git`; the main root is its parent (or `core.worktree`), or the common dir
//!   itself for a bare repository. A submodule's gitdir has no `commondir`: it is its own
//!   repository.
//! - Identity: the normalized remote URL (`origin`, else the first remote in the common
//!   `config`), else the main root path.
//! - When the cwd does not exist here or is in no repository, the log's own `repo_hint` (remote
//!   URL, `host/owner/name` or `owner/name`) decides, else the cwd as logged.
//!
//! Never runs `git`: it only reads `.git`, `commondir`, `config` and `HEAD`. Every answer is
//! cached (per cwd string, per directory visited, per common git dir, per hint), negative ones
//! too, so work is proportional to distinct cwds, not to events. Branches are the exception:
//! [`Attributor::current_branch`] re-reads the small `HEAD` file on every call, because users
//! switch branches while the daemon runs.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A workspace: one git repository (linked worktrees folded into their main repository), or a
/// plain directory when there is no repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Workspace {
    /// Stable identity: the normalized remote URL (`github.com/owner/repo`) where there is one,
    /// else the repository root path, else the cwd as logged.
    pub key: String,
    /// Short display name (`owner/repo` or the directory name).
    pub name: String,
    /// Main repository root on this machine, when known.
    pub root: Option<PathBuf>,
    /// Normalized remote URL, when known.
    pub remote: Option<String>,
}

/// Where a cwd's repository lives on this machine.
#[derive(Debug)]
struct Located {
    /// The worktree's own git dir (holds its `HEAD`).
    gitdir: PathBuf,
    /// The (main) repository, shared by all its worktrees.
    workspace: Arc<Workspace>,
}

/// Resolves cwds to workspaces, caching every answer; never runs `git`.
#[derive(Default)]
pub struct Attributor {
    /// cwd string as logged -> repository (None: missing cwd or no repository).
    by_cwd: HashMap<String, Option<Arc<Located>>, foldhash::fast::RandomState>,
    /// Canonical directory already visited by a walk -> repository containing it.
    by_dir: HashMap<PathBuf, Option<Arc<Located>>>,
    /// Canonical common git dir -> its workspace.
    by_common: HashMap<PathBuf, Arc<Workspace>>,
    /// repo_hint as logged -> workspace it names.
    by_hint: HashMap<String, Option<Workspace>, foldhash::fast::RandomState>,
    /// Filesystem walks started (one per uncached cwd).
    walks: u64,
    /// Filesystem calls made (stat, canonicalize, read).
    fs_ops: u64,
    /// `config` files read.
    config_reads: u64,
}

impl Attributor {
    /// An attributor with empty caches.
    pub fn new() -> Attributor {
        Attributor::default()
    }

    /// Forgets every cached answer (a cwd created or a remote changed since is seen afresh).
    pub fn clear(&mut self) {
        self.by_cwd.clear();
        self.by_dir.clear();
        self.by_common.clear();
        self.by_hint.clear();
    }

    /// The workspace for `cwd`; `repo_hint` is what the log itself says about the repository
    /// (used when the cwd no longer exists or is in no repository).
    pub fn resolve(&mut self, cwd: Option<&str>, repo_hint: Option<&str>) -> Option<Workspace> {
        let cwd = cwd.filter(|c| !c.trim().is_empty());
        if let Some(cwd) = cwd {
            if let Some(found) = self.locate(cwd) {
                return Some((*found.workspace).clone());
            }
        }
        if let Some(hint) = repo_hint {
            if let Some(ws) = self.hint_workspace(hint) {
                return Some(ws);
            }
        }
        cwd.map(logged_workspace)
    }

    /// The branch checked out in the worktree containing `cwd`, read from its `HEAD` on every
    /// call (the location of `HEAD` is cached, its content is not). `None` when detached, when
    /// the cwd is in no repository here, or when `HEAD` cannot tell (reftable repositories).
    pub fn current_branch(&mut self, cwd: &str) -> Option<String> {
        let found = self.locate(cwd)?;
        self.fs_ops += 1;
        let head = fs::read(found.gitdir.join("HEAD")).ok()?;
        branch_from_head(&String::from_utf8_lossy(&head))
    }

    /// The repository containing `cwd`, from the cache or by one walk.
    fn locate(&mut self, cwd: &str) -> Option<Arc<Located>> {
        if let Some(hit) = self.by_cwd.get(cwd) {
            return hit.clone();
        }
        self.walks += 1;
        let found = self.walk(cwd);
        self.by_cwd.insert(cwd.to_string(), found.clone());
        found
    }

    fn walk(&mut self, cwd: &str) -> Option<Arc<Located>> {
        let path = Path::new(cwd);
        if !path.is_absolute() {
            // A relative or foreign (other OS) path says nothing about this machine.
            return None;
        }
        self.fs_ops += 1;
        let canonical = fs::canonicalize(path).ok()?;
        self.fs_ops += 1;
        let start = match fs::metadata(&canonical) {
            Ok(m) if m.is_dir() => canonical,
            Ok(_) => canonical.parent()?.to_path_buf(),
            Err(_) => return None,
        };
        let mut visited = Vec::new();
        let mut dir = Some(start.as_path());
        let found = loop {
            let Some(d) = dir else { break None };
            if let Some(hit) = self.by_dir.get(d) {
                break hit.clone();
            }
            visited.push(d.to_path_buf());
            if let Some(found) = self.probe(d) {
                break Some(found);
            }
            dir = d.parent();
        };
        for d in visited {
            self.by_dir.insert(d, found.clone());
        }
        found
    }

    /// Is `dir` the top of a worktree (`.git` inside), or itself a git dir (bare repository, or
    /// a cwd inside `.git`)?
    fn probe(&mut self, dir: &Path) -> Option<Arc<Located>> {
        let dotgit = dir.join(".git");
        self.fs_ops += 1;
        let gitdir = match fs::metadata(&dotgit) {
            Ok(m) if m.is_dir() => self.canonical_gitdir(&dotgit),
            Ok(m) if m.is_file() => self.gitdir_from_file(dir, &dotgit),
            _ => None,
        };
        if let Some(gitdir) = gitdir {
            return Some(self.located(gitdir, Some(dir)));
        }
        if dir.file_name().is_some() && self.is_full_gitdir(dir) {
            return Some(self.located(dir.to_path_buf(), None));
        }
        None
    }

    /// `path` canonicalized, when it is a git dir (has a `HEAD` file).
    fn canonical_gitdir(&mut self, path: &Path) -> Option<PathBuf> {
        self.fs_ops += 1;
        let canonical = fs::canonicalize(path).ok()?;
        self.fs_ops += 1;
        match fs::metadata(canonical.join("HEAD")) {
            Ok(m) if m.is_file() => Some(canonical),
            _ => None,
        }
    }

    /// The git dir a `.git` file points at (`gitdir: <path>`, relative to the file's directory).
    fn gitdir_from_file(&mut self, dir: &Path, dotgit: &Path) -> Option<PathBuf> {
        self.fs_ops += 1;
        let text = fs::read(dotgit).ok()?;
        let text = String::from_utf8_lossy(&text);
        let target = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("gitdir:"))?
            .trim();
        if target.is_empty() {
            return None;
        }
        self.canonical_gitdir(&dir.join(target))
    }

    /// A directory that is a whole git dir by itself: `HEAD`, `objects/` and `refs/`.
    fn is_full_gitdir(&mut self, dir: &Path) -> bool {
        self.fs_ops += 1;
        if !dir.join("HEAD").is_file() {
            return false;
        }
        self.fs_ops += 2;
        dir.join("objects").is_dir() && dir.join("refs").is_dir()
    }

    /// The repository of a (canonical) git dir; `worktree` is the directory holding `.git`.
    fn located(&mut self, gitdir: PathBuf, worktree: Option<&Path>) -> Arc<Located> {
        self.fs_ops += 1;
        let common = match fs::read(gitdir.join("commondir")) {
            Ok(text) => {
                let text = String::from_utf8_lossy(&text);
                let rel = text.lines().next().unwrap_or("").trim();
                if rel.is_empty() {
                    None
                } else {
                    self.fs_ops += 1;
                    fs::canonicalize(gitdir.join(rel)).ok()
                }
            }
            Err(_) => None,
        };
        let linked = common.is_some();
        let common = common.unwrap_or_else(|| gitdir.clone());
        let workspace = match self.by_common.get(&common) {
            Some(ws) => ws.clone(),
            None => {
                let ws =
                    Arc::new(self.repo_workspace(&common, if linked { None } else { worktree }));
                self.by_common.insert(common, ws.clone());
                ws
            }
        };
        Arc::new(Located { gitdir, workspace })
    }

    /// Identity of the repository whose common git dir is `common`. `worktree` is the
    /// directory holding `.git` when that is the main worktree.
    fn repo_workspace(&mut self, common: &Path, worktree: Option<&Path>) -> Workspace {
        self.fs_ops += 1;
        self.config_reads += 1;
        let config = fs::read(common.join("config"))
            .map(|b| parse_config(&String::from_utf8_lossy(&b)))
            .unwrap_or_default();
        let root = if config.bare {
            common.to_path_buf()
        } else if let Some(wt) = config.worktree.as_deref().filter(|w| !w.is_empty()) {
            self.fs_ops += 1;
            let joined = common.join(wt);
            fs::canonicalize(&joined).unwrap_or(joined)
        } else if common.file_name().is_some_and(|n| n == ".git") {
            common
                .parent()
                .map_or_else(|| common.to_path_buf(), Path::to_path_buf)
        } else {
            // `--separate-git-dir` style: the worktree holding the `.git` file, when known.
            worktree.map_or_else(|| common.to_path_buf(), Path::to_path_buf)
        };
        let remote = config
            .remotes
            .iter()
            .filter(|(name, _)| name == "origin")
            .chain(config.remotes.iter())
            .find_map(|(_, url)| parse_remote(url));
        match remote {
            Some(r) => Workspace {
                key: r.key.clone(),
                name: r.name,
                root: Some(root),
                remote: Some(r.key),
            },
            None => Workspace {
                key: path_string(&root),
                name: dir_name(&root),
                root: Some(root),
                remote: None,
            },
        }
    }

    fn hint_workspace(&mut self, hint: &str) -> Option<Workspace> {
        if let Some(hit) = self.by_hint.get(hint) {
            return hit.clone();
        }
        let ws = parse_hint(hint).map(|(r, is_remote)| Workspace {
            remote: is_remote.then(|| r.key.clone()),
            key: r.key,
            name: r.name,
            root: None,
        });
        self.by_hint.insert(hint.to_string(), ws.clone());
        ws
    }
}

/// Workspace from the cwd string alone: key = the cwd, name = its last component.
fn logged_workspace(cwd: &str) -> Workspace {
    let trimmed = cwd.trim();
    let key = trimmed.trim_end_matches(['/', '\\']);
    let key = if key.is_empty() { trimmed } else { key };
    let name = key
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(key);
    Workspace {
        key: key.to_string(),
        name: name.to_string(),
        root: None,
        remote: None,
    }
}

/// A path as a key string (without Windows' `\\?\` verbatim prefix).
fn path_string(p: &Path) -> String {
    let s = p.to_string_lossy();
    if cfg!(windows) {
        if let Some(rest) = s.strip_prefix(r"\\?\UNC\") {
            return format!(r"\\{rest}");
        }
        if let Some(rest) = s.strip_prefix(r"\\?\") {
            return rest.to_string();
        }
    }
    s.into_owned()
}

/// Display name of a repository root: its directory name (`x.git` -> `x`; a hidden bare dir
/// such as `proj/.bare` -> `proj`).
fn dir_name(root: &Path) -> String {
    let own = root.file_name().map(|n| n.to_string_lossy().into_owned());
    match own {
        Some(n) if !n.starts_with('.') => n.strip_suffix(".git").unwrap_or(&n).to_string(),
        Some(n) => root
            .parent()
            .and_then(Path::file_name)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or(n),
        None => path_string(root),
    }
}

/// The branch named by a `HEAD` file: `ref: refs/heads/<name>`; `None` when detached.
fn branch_from_head(head: &str) -> Option<String> {
    let target = head.lines().next()?.trim().strip_prefix("ref:")?.trim();
    let branch = target.strip_prefix("refs/heads/")?;
    // Reftable repositories keep a placeholder `HEAD` pointing at `.invalid`.
    if branch.is_empty() || branch == ".invalid" {
        return None;
    }
    Some(branch.to_string())
}

/// The parts of a git `config` file attribution needs.
#[derive(Debug, Default, PartialEq)]
struct GitConfig {
    bare: bool,
    worktree: Option<String>,
    /// `(remote name, first url)` in file order.
    remotes: Vec<(String, String)>,
}

fn parse_config(text: &str) -> GitConfig {
    let mut cfg = GitConfig::default();
    let mut section = String::new();
    let mut sub: Option<String> = None;
    for raw in text.lines() {
        let mut line = raw.trim();
        if line.starts_with('[') {
            let Some(end) = line.find(']') else { continue };
            let inner = &line[1..end];
            if let Some(q) = inner.find('"') {
                section = inner[..q].trim().to_ascii_lowercase();
                let name = inner[q + 1..].strip_suffix('"').unwrap_or(&inner[q + 1..]);
                sub = Some(name.replace("\\\"", "\"").replace("\\\\", "\\"));
            } else if let Some((s, n)) = inner.split_once('.') {
                // Deprecated `[remote.origin]` syntax.
                section = s.trim().to_ascii_lowercase();
                sub = Some(n.trim().to_string());
            } else {
                section = inner.trim().to_ascii_lowercase();
                sub = None;
            }
            line = line[end + 1..].trim();
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(config_value(v))),
            None => (line.to_ascii_lowercase(), None),
        };
        match (section.as_str(), sub.as_deref(), key.as_str()) {
            ("core", None, "bare") => {
                cfg.bare = match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None => true,
                    Some(v) => matches!(v, "true" | "yes" | "on" | "1"),
                }
            }
            ("core", None, "worktree") => cfg.worktree = value,
            ("remote", Some(name), "url") => {
                if let Some(url) = value {
                    if !cfg.remotes.iter().any(|(n, _)| n == name) {
                        cfg.remotes.push((name.to_string(), url));
                    }
                }
            }
            _ => {}
        }
    }
    cfg
}

/// A config value: quotes removed, escapes applied, trailing comment dropped.
fn config_value(v: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = v.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(c) => out.push(c),
                None => {}
            },
            '#' | ';' if !quoted => break,
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

/// A normalized remote: its identity key and display name.
#[derive(Debug, PartialEq)]
struct Remote {
    key: String,
    name: String,
}

/// Normalizes a git remote URL to `host/path`: scheme, user info and port stripped, host
/// lowercased, trailing `.git` and `/` removed, scp-like `host:path` turned into `host/path`,
/// path case kept. So `git@github.com:Owner/Repo.git`, `https://github.com/Owner/Repo` and
/// `ssh://git@github.com/Owner/Repo.git` all give `github.com/Owner/Repo`. Local remotes
/// (`/srv/x.git`, `file:///srv/x.git`) give their path (`/srv/x`). `None` for what is not a
/// usable remote (relative paths, empty paths).
pub fn normalize_remote(url: &str) -> Option<String> {
    parse_remote(url).map(|r| r.key)
}

fn parse_remote(url: &str) -> Option<Remote> {
    let s = url.trim();
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    // Remote helpers: `<transport>::<address>`.
    let s = match s.split_once("::") {
        Some((t, rest)) if is_scheme(t) => rest,
        _ => s,
    };
    if let Some((scheme, rest)) = s.split_once("://") {
        if !is_scheme(scheme) {
            return None;
        }
        if scheme.eq_ignore_ascii_case("file") {
            // file:///srv/x.git, file:///C:/x
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            let rest = match rest.strip_prefix('/') {
                Some(r) if is_drive(r) => r,
                _ => rest,
            };
            return local_remote(rest);
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, tail) = if hostport.starts_with('[') {
            let end = hostport.find(']')?;
            hostport.split_at(end + 1)
        } else {
            hostport.split_at(hostport.find(':').unwrap_or(hostport.len()))
        };
        let tail = tail.strip_prefix(':').unwrap_or("");
        if tail.is_empty() || tail.bytes().all(|b| b.is_ascii_digit()) {
            return host_remote(host, path);
        }
        // `ssh://git@host:owner/repo` (scp path written inside a URL).
        return host_remote(host, &format!("{tail}/{path}"));
    }
    if s.starts_with('/') || s.starts_with('\\') || is_drive(s) {
        return local_remote(s);
    }
    // scp-like `[user@]host:path`: a colon before any slash.
    let colon = s.find(':')?;
    if s[..colon].contains('/') {
        return None;
    }
    let authority = &s[..colon];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_remote(host, &s[colon + 1..])
}

fn is_scheme(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// `C:\...` or `C:/...`
fn is_drive(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'/' || b[2] == b'\\')
}

/// Path components of a remote path: empty and `.` parts dropped, query/fragment cut, trailing
/// `.git` removed.
fn path_components(path: &str) -> Vec<&str> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if let Some(last) = parts.pop() {
        let stripped = last.strip_suffix(".git").unwrap_or(last);
        if !stripped.is_empty() {
            parts.push(stripped);
        }
    }
    parts
}

fn host_remote(host: &str, path: &str) -> Option<Remote> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '\\']) {
        return None;
    }
    let parts = path_components(path);
    if parts.is_empty() {
        return None;
    }
    let name = parts[parts.len().saturating_sub(2)..].join("/");
    Some(Remote {
        key: format!("{host}/{}", parts.join("/")),
        name,
    })
}

fn local_remote(path: &str) -> Option<Remote> {
    let trimmed = path.trim_end_matches(['/', '\\']);
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let trimmed = trimmed.trim_end_matches(['/', '\\']);
    let name = trimmed.rsplit(['/', '\\']).find(|s| !s.is_empty())?;
    if is_drive(trimmed) && trimmed.len() <= 3 {
        return None;
    }
    Some(Remote {
        key: trimmed.to_string(),
        name: name.to_string(),
    })
}

/// What a log's repository hint names: a remote URL, an already normalized `host/owner/name`,
/// or a bare `owner/name`. The bool says whether it is a remote (host known).
fn parse_hint(hint: &str) -> Option<(Remote, bool)> {
    if let Some(r) = parse_remote(hint) {
        return Some((r, true));
    }
    let h = hint.trim();
    if h.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return None;
    }
    let parts = path_components(h);
    if parts.is_empty()
        || parts
            .iter()
            .any(|p| *p == ".." || !p.chars().any(|c| c.is_alphanumeric()))
    {
        return None;
    }
    let looks_like_host = |p: &str| {
        (p.contains('.') || p.eq_ignore_ascii_case("localhost"))
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c))
    };
    if parts.len() >= 3 && looks_like_host(parts[0]) {
        let host = parts[0].split(':').next().unwrap_or(parts[0]);
        return host_remote(host, &parts[1..].join("/")).map(|r| (r, true));
    }
    if parts.len() > 2 {
        return None;
    }
    let key = parts.join("/");
    Some((
        Remote {
            name: key.clone(),
            key,
        },
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
                "-c",
                "protocol.file.allow=always",
                "-c",
                "advice.detachedHead=false",
            ])
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A repository with one commit at `dir`.
    fn init_repo(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "init"]);
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    fn canon(p: &Path) -> PathBuf {
        fs::canonicalize(p).unwrap()
    }

    #[test]
    fn plain_repo_with_scp_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("proj");
        init_repo(&repo);
        git(
            &repo,
            &[
                "remote",
                "add",
                "upstream",
                "https://gitlab.com/Up/Stream.git",
            ],
        );
        git(
            &repo,
            &["remote", "add", "origin", "git@GitHub.com:Owner/Repo.git"],
        );
        let mut a = Attributor::new();
        let ws = a.resolve(Some(s(&repo)), None).unwrap();
        assert_eq!(
            ws,
            Workspace {
                key: "github.com/Owner/Repo".into(),
                name: "Owner/Repo".into(),
                root: Some(canon(&repo)),
                remote: Some("github.com/Owner/Repo".into()),
            }
        );
        // A hint never overrides a repository found on disk.
        let ws2 = a.resolve(Some(s(&repo)), Some("other/thing")).unwrap();
        assert_eq!(ws2.key, "github.com/Owner/Repo");
    }

    #[test]
    fn first_remote_when_no_origin() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("proj");
        init_repo(&repo);
        git(
            &repo,
            &[
                "remote",
                "add",
                "zeta",
                "ssh://git@host.example:2222/Team/Zeta.git/",
            ],
        );
        git(
            &repo,
            &["remote", "add", "alpha", "https://host.example/Team/Alpha"],
        );
        let ws = Attributor::new().resolve(Some(s(&repo)), None).unwrap();
        assert_eq!(ws.key, "host.example/Team/Zeta");
        assert_eq!(ws.name, "Team/Zeta");
    }

    #[test]
    fn repo_without_remote_is_keyed_by_root() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("local-only");
        init_repo(&repo);
        let ws = Attributor::new().resolve(Some(s(&repo)), None).unwrap();
        let root = canon(&repo);
        assert_eq!(ws.key, s(&root));
        assert_eq!(ws.name, "local-only");
        assert_eq!(ws.root, Some(root));
        assert_eq!(ws.remote, None);
    }

    #[test]
    fn linked_worktree_folds_into_main_repo() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        init_repo(&main);
        let wt = tmp.path().join("elsewhere").join("feature-wt");
        fs::create_dir_all(wt.parent().unwrap()).unwrap();
        git(&main, &["worktree", "add", "-q", "-b", "feat", s(&wt)]);
        // Without a remote: both keyed by the main root.
        let mut a = Attributor::new();
        let m = a.resolve(Some(s(&main)), None).unwrap();
        let w = a.resolve(Some(s(&wt)), None).unwrap();
        assert_eq!(w, m);
        assert_eq!(w.root, Some(canon(&main)));
        assert_eq!(w.name, "main");
        // Each worktree has its own HEAD.
        assert_eq!(a.current_branch(s(&main)).as_deref(), Some("main"));
        assert_eq!(a.current_branch(s(&wt)).as_deref(), Some("feat"));

        // With a remote (read from the common config), same key and name too.
        git(
            &main,
            &[
                "remote",
                "add",
                "origin",
                "https://github.com/Owner/Repo.git",
            ],
        );
        let mut a = Attributor::new();
        let w = a.resolve(Some(s(&wt.join("."))), None).unwrap();
        let m = a.resolve(Some(s(&main)), None).unwrap();
        assert_eq!(w, m);
        assert_eq!(w.key, "github.com/Owner/Repo");
        assert_eq!(w.name, "Owner/Repo");
        assert_eq!(w.root, Some(canon(&main)));
        // Both worktrees share one config read.
        assert_eq!(a.config_reads, 1);
    }

    #[test]
    fn bare_repo_worktrees() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        init_repo(&src);
        let proj = tmp.path().join("proj");
        fs::create_dir_all(&proj).unwrap();
        let bare = proj.join(".bare");
        git(tmp.path(), &["clone", "-q", "--bare", s(&src), s(&bare)]);
        git(
            &bare,
            &["worktree", "add", "-q", "-b", "one", s(&proj.join("one"))],
        );
        git(
            &bare,
            &["worktree", "add", "-q", "-b", "two", s(&proj.join("two"))],
        );
        let mut a = Attributor::new();
        let one = a.resolve(Some(s(&proj.join("one"))), None).unwrap();
        let two = a.resolve(Some(s(&proj.join("two"))), None).unwrap();
        assert_eq!(one, two);
        // The clone's origin is the local source path.
        assert_eq!(one.key, s(&canon(&src)));
        assert_eq!(one.name, "src");
        assert_eq!(one.root, Some(canon(&bare)));
        assert_eq!(
            a.current_branch(s(&proj.join("two"))).as_deref(),
            Some("two")
        );

        // Without a remote: keyed by the bare dir, named after its project directory.
        git(&bare, &["remote", "remove", "origin"]);
        let one = Attributor::new()
            .resolve(Some(s(&proj.join("one"))), None)
            .unwrap();
        assert_eq!(one.key, s(&canon(&bare)));
        assert_eq!(one.name, "proj");
        // A cwd inside the bare repository itself.
        let inside = Attributor::new()
            .resolve(Some(s(&bare.join("refs"))), None)
            .unwrap();
        assert_eq!(inside, one);
    }

    #[test]
    fn nested_subdirectory_file_path_and_dotgit_cwd() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("proj");
        init_repo(&repo);
        git(
            &repo,
            &["remote", "add", "origin", "git@github.com:Owner/Repo.git"],
        );
        let deep = repo.join("a").join("b").join("c");
        fs::create_dir_all(&deep).unwrap();
        fs::write(repo.join("a").join("file.rs"), "fn main() {}\n").unwrap();
        let mut a = Attributor::new();
        let top = a.resolve(Some(s(&repo)), None).unwrap();
        assert_eq!(a.resolve(Some(s(&deep)), None).unwrap(), top);
        assert_eq!(
            a.resolve(Some(&format!("{}/", s(&deep))), None).unwrap(),
            top
        );
        assert_eq!(
            a.resolve(Some(s(&repo.join("a").join("file.rs"))), None)
                .unwrap(),
            top
        );
        assert_eq!(
            a.resolve(Some(s(&repo.join(".git").join("refs"))), None)
                .unwrap(),
            top
        );
        assert_eq!(a.current_branch(s(&deep)).as_deref(), Some("main"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_cwd_resolves_to_the_real_repo() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("real");
        init_repo(&repo);
        fs::create_dir_all(repo.join("sub")).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&repo, &link).unwrap();
        let mut a = Attributor::new();
        let via_link = a.resolve(Some(s(&link.join("sub"))), None).unwrap();
        let direct = a.resolve(Some(s(&repo)), None).unwrap();
        assert_eq!(via_link, direct);
        assert_eq!(via_link.key, s(&canon(&repo)));
        assert_eq!(via_link.name, "real");
    }

    #[test]
    fn dotgit_file_with_relative_gitdir() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("work");
        init_repo(&repo);
        git(
            &repo,
            &["remote", "add", "origin", "https://example.org/Grp/Sep.git"],
        );
        let store = tmp.path().join("store");
        fs::create_dir_all(&store).unwrap();
        fs::rename(repo.join(".git"), store.join("work.git")).unwrap();
        fs::write(repo.join(".git"), "gitdir: ../store/work.git\n").unwrap();
        let mut a = Attributor::new();
        let ws = a.resolve(Some(s(&repo)), None).unwrap();
        assert_eq!(ws.key, "example.org/Grp/Sep");
        assert_eq!(ws.root, Some(canon(&repo)));
        assert_eq!(a.current_branch(s(&repo)).as_deref(), Some("main"));

        // Without a remote the root is the worktree holding the `.git` file.
        git(&repo, &["remote", "remove", "origin"]);
        let ws = Attributor::new().resolve(Some(s(&repo)), None).unwrap();
        assert_eq!(ws.key, s(&canon(&repo)));
        assert_eq!(ws.name, "work");
    }

    #[test]
    fn worktree_with_hand_written_relative_commondir() {
        // A gitdir laid out by hand: relative `.git` file, relative `commondir`.
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("m");
        init_repo(&main);
        git(
            &main,
            &["remote", "add", "origin", "git@github.com:Owner/Rel.git"],
        );
        let gd = main.join(".git").join("worktrees").join("x");
        fs::create_dir_all(&gd).unwrap();
        fs::write(gd.join("HEAD"), "ref: refs/heads/topic\n").unwrap();
        fs::write(gd.join("commondir"), "../..\n").unwrap();
        let wt = tmp.path().join("x");
        fs::create_dir_all(&wt).unwrap();
        fs::write(wt.join(".git"), "gitdir: ../m/.git/worktrees/x\n").unwrap();
        let mut a = Attributor::new();
        let ws = a.resolve(Some(s(&wt)), None).unwrap();
        assert_eq!(ws.key, "github.com/Owner/Rel");
        assert_eq!(ws.root, Some(canon(&main)));
        assert_eq!(a.current_branch(s(&wt)).as_deref(), Some("topic"));
    }

    #[test]
    fn missing_cwd_with_hint() {
        let mut a = Attributor::new();
        let gone = "/nonexistent/tokwatch-test/gone-project";
        let ws = a
            .resolve(
                Some(gone),
                Some("https://user:secret@GitHub.com/Owner/Repo.git"),
            )
            .unwrap();
        assert_eq!(
            ws,
            Workspace {
                key: "github.com/Owner/Repo".into(),
                name: "Owner/Repo".into(),
                root: None,
                remote: Some("github.com/Owner/Repo".into()),
            }
        );
        let ws = a.resolve(Some(gone), Some("Owner/Repo")).unwrap();
        assert_eq!(
            (ws.key.as_str(), ws.name.as_str()),
            ("Owner/Repo", "Owner/Repo")
        );
        assert_eq!(ws.remote, None);
        let ws = a
            .resolve(Some(gone), Some("github.com/Owner/Repo"))
            .unwrap();
        assert_eq!(ws.key, "github.com/Owner/Repo");
        assert_eq!(ws.remote.as_deref(), Some("github.com/Owner/Repo"));
        // A redacted or garbage hint falls back to the cwd.
        let ws = a.resolve(Some(gone), Some("...")).unwrap();
        assert_eq!(ws.key, gone);
        // Hint only.
        let ws = a.resolve(None, Some("git@github.com:Owner/Repo")).unwrap();
        assert_eq!(ws.key, "github.com/Owner/Repo");
        assert_eq!(a.resolve(None, Some("")), None);
    }

    #[test]
    fn missing_cwd_without_hint() {
        let mut a = Attributor::new();
        let ws = a
            .resolve(Some("/nonexistent/tokwatch-test/my-app/"), None)
            .unwrap();
        assert_eq!(
            ws,
            Workspace {
                key: "/nonexistent/tokwatch-test/my-app".into(),
                name: "my-app".into(),
                root: None,
                remote: None,
            }
        );
        let ws = a.resolve(Some(r"C:\Users\me\proj"), None).unwrap();
        assert_eq!(ws.name, "proj");
        assert_eq!(
            a.resolve(Some("relative/dir"), None).unwrap().key,
            "relative/dir"
        );
        assert_eq!(a.resolve(None, None), None);
        assert_eq!(a.resolve(Some(""), None), None);
        assert_eq!(a.current_branch("/nonexistent/tokwatch-test/my-app"), None);
    }

    #[test]
    fn existing_dir_outside_any_repo() {
        // Like $HOME that is not a repository: the cwd as logged, or the hint.
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home-user");
        fs::create_dir_all(home.join("notes")).unwrap();
        let mut a = Attributor::new();
        let ws = a.resolve(Some(s(&home)), None).unwrap();
        assert_eq!(ws.key, s(&home));
        assert_eq!(ws.name, "home-user");
        assert_eq!(ws.root, None);
        let ws = a
            .resolve(Some(s(&home)), Some("git@github.com:Owner/Repo.git"))
            .unwrap();
        assert_eq!(ws.key, "github.com/Owner/Repo");
        assert_eq!(a.current_branch(s(&home)), None);
        // A stray empty `.git` directory is not a repository.
        fs::create_dir_all(home.join("notes").join(".git")).unwrap();
        let ws = a.resolve(Some(s(&home.join("notes"))), None).unwrap();
        assert_eq!(ws.key, s(&home.join("notes")));
    }

    #[test]
    fn submodule_is_its_own_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = tmp.path().join("lib-src");
        init_repo(&lib);
        let sup = tmp.path().join("super");
        init_repo(&sup);
        git(
            &sup,
            &["remote", "add", "origin", "git@github.com:Owner/Super.git"],
        );
        git(&sup, &["submodule", "add", "-q", s(&lib), "vendor/lib"]);
        let sub = sup.join("vendor").join("lib");
        git(
            &sub,
            &[
                "remote",
                "set-url",
                "origin",
                "https://github.com/Other/Lib.git",
            ],
        );
        assert!(sup
            .join(".git")
            .join("modules")
            .join("vendor")
            .join("lib")
            .join("config")
            .is_file());
        assert!(sub.join(".git").is_file());
        let mut a = Attributor::new();
        let ws = a.resolve(Some(s(&sub.join("."))), None).unwrap();
        assert_eq!(ws.key, "github.com/Other/Lib");
        assert_eq!(ws.name, "Other/Lib");
        assert_eq!(ws.root, Some(canon(&sub)));
        let sw = a.resolve(Some(s(&sup.join("vendor"))), None).unwrap();
        assert_eq!(sw.key, "github.com/Owner/Super");
        assert_eq!(sw.root, Some(canon(&sup)));
        // The submodule's HEAD lives in `<super>/.git/modules/vendor/lib`.
        git(&sub, &["checkout", "-q", "-b", "libwork"]);
        assert_eq!(a.current_branch(s(&sub)).as_deref(), Some("libwork"));
        assert_eq!(a.current_branch(s(&sup)).as_deref(), Some("main"));
        git(&sub, &["checkout", "-q", "--detach"]);
        assert_eq!(a.current_branch(s(&sub)), None);
    }

    #[test]
    fn branch_follows_live_checkouts() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("live");
        init_repo(&repo);
        fs::create_dir_all(repo.join("src")).unwrap();
        let cwd = repo.join("src");
        let mut a = Attributor::new();
        assert_eq!(a.current_branch(s(&cwd)).as_deref(), Some("main"));
        git(&repo, &["checkout", "-q", "-b", "feature/x"]);
        assert_eq!(a.current_branch(s(&cwd)).as_deref(), Some("feature/x"));
        git(&repo, &["checkout", "-q", "main"]);
        assert_eq!(a.current_branch(s(&cwd)).as_deref(), Some("main"));
        assert_eq!(a.walks, 1);
    }

    #[test]
    fn detached_head_has_no_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("det");
        init_repo(&repo);
        let mut a = Attributor::new();
        assert_eq!(a.current_branch(s(&repo)).as_deref(), Some("main"));
        git(&repo, &["checkout", "-q", "--detach"]);
        assert_eq!(a.current_branch(s(&repo)), None);
    }

    #[test]
    fn head_parsing() {
        assert_eq!(
            branch_from_head("ref: refs/heads/main\n").as_deref(),
            Some("main")
        );
        assert_eq!(
            branch_from_head("ref:refs/heads/a/b").as_deref(),
            Some("a/b")
        );
        assert_eq!(
            branch_from_head("3f786850e387550fdab836ed7e6dc881de23001b\n"),
            None
        );
        assert_eq!(branch_from_head("ref: refs/remotes/origin/main\n"), None);
        assert_eq!(branch_from_head("ref: refs/heads/.invalid\n"), None);
        assert_eq!(branch_from_head(""), None);
    }

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "git@github.com:Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "https://github.com/Owner/Repo",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "ssh://git@github.com/Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "https://github.com/Owner/Repo.git/",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "HTTPS://GitHub.COM/Owner/Repo/",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "http://github.com/Owner/Repo",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "git://github.com/Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "github.com:Owner/Repo",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "git@github.com:/Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "ssh://git@github.com:22/Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "ssh://git@github.com:Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "git+ssh://git@github.com/Owner/Repo",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "https://user:tok@github.com:443/Owner/Repo.git",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "https://github.com//Owner//Repo",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "  git@github.com:Owner/Repo.git \n",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "persistent-https::https://github.com/Owner/Repo",
                Some("github.com/Owner/Repo"),
                "Owner/Repo",
            ),
            (
                "https://gitlab.com/Group/Sub/Proj.git",
                Some("gitlab.com/Group/Sub/Proj"),
                "Sub/Proj",
            ),
            (
                "ssh://git@[::1]:2222/team/x.git",
                Some("[::1]/team/x"),
                "team/x",
            ),
            (
                "https://host.example/solo",
                Some("host.example/solo"),
                "solo",
            ),
            ("/srv/git/project.git", Some("/srv/git/project"), "project"),
            (
                "file:///srv/git/project.git/",
                Some("/srv/git/project"),
                "project",
            ),
            ("C:/repos/proj.git", Some("C:/repos/proj"), "proj"),
            ("../sibling", None, ""),
            ("relative/path", None, ""),
            ("https://github.com", None, ""),
            ("https://github.com/.git", None, ""),
            ("git@github.com:", None, ""),
            ("", None, ""),
            ("not a url", None, ""),
        ];
        for (url, key, name) in cases {
            let got = parse_remote(url);
            assert_eq!(got.as_ref().map(|r| r.key.as_str()), *key, "key of {url:?}");
            if let Some(r) = got {
                assert_eq!(r.name, *name, "name of {url:?}");
            }
            assert_eq!(normalize_remote(url).as_deref(), *key);
        }
    }

    #[test]
    fn config_parsing() {
        let cfg = parse_config(
            "[core]\n\tbare = TRUE\n\tworktree = \"../w t\" ; comment\n\
             [remote \"upstream\"]\n\turl = https://a.example/x/y\n\
             [remote \"origin\"] url = git@b.example:o/r.git # trailing\n\turl = https://second/ignored\n\
             [remote.old]\n\turl = /srv/old.git\n",
        );
        assert!(cfg.bare);
        assert_eq!(cfg.worktree.as_deref(), Some("../w t"));
        assert_eq!(
            cfg.remotes,
            vec![
                ("upstream".to_string(), "https://a.example/x/y".to_string()),
                ("origin".to_string(), "git@b.example:o/r.git".to_string()),
                ("old".to_string(), "/srv/old.git".to_string()),
            ]
        );
        assert!(!parse_config("[core]\nbare = false\n").bare);
        assert!(parse_config("[core]\nbare\n").bare);
    }

    #[test]
    fn cache_makes_repeat_events_free() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("cached");
        init_repo(&repo);
        git(
            &repo,
            &["remote", "add", "origin", "git@github.com:Owner/Cached.git"],
        );
        let cwd = repo.join("deep").join("er");
        fs::create_dir_all(&cwd).unwrap();
        let mut a = Attributor::new();
        let first = a.resolve(Some(s(&cwd)), None).unwrap();
        let (walks, ops) = (a.walks, a.fs_ops);
        assert_eq!(walks, 1);
        assert!(ops > 0);
        for _ in 0..10_000 {
            assert_eq!(a.resolve(Some(s(&cwd)), None).as_ref(), Some(&first));
        }
        assert_eq!((a.walks, a.fs_ops), (walks, ops));

        // A sibling cwd of the same repository: one new walk that stops at the first cached
        // directory (`deep`), no new config read.
        let sibling = repo.join("deep").join("other");
        fs::create_dir_all(&sibling).unwrap();
        let ws = a.resolve(Some(s(&sibling)), None).unwrap();
        assert_eq!(ws, first);
        assert_eq!(a.walks, 2);
        assert_eq!(a.config_reads, 1);
        // canonicalize + metadata + one probe of `other` (its `.git`, then HEAD check).
        assert!(a.fs_ops - ops <= 4, "{} ops", a.fs_ops - ops);

        // Negative answers are cached too.
        let gone = "/nonexistent/tokwatch-test/cache";
        a.resolve(Some(gone), None);
        let ops = a.fs_ops;
        for _ in 0..10_000 {
            assert_eq!(a.resolve(Some(gone), None).unwrap().key, gone);
        }
        assert_eq!(a.fs_ops, ops);
        assert_eq!(a.walks, 3);

        // The answer is served from memory: it survives the repository's removal until clear().
        fs::remove_dir_all(&repo).unwrap();
        assert_eq!(a.resolve(Some(s(&cwd)), None).unwrap(), first);
        a.clear();
        assert_eq!(a.resolve(Some(s(&cwd)), None).unwrap().key, s(&cwd));
    }
}
