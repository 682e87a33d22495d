//! Ties an event's working directory to a workspace: the git repository it belongs to.
//! (Stub interface: the implementation lands in its own change.)

use std::path::PathBuf;

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

/// Resolves cwds to workspaces, caching every answer; never runs `git`.
#[derive(Default)]
pub struct Attributor {}

impl Attributor {
    pub fn new() -> Attributor {
        Attributor::default()
    }

    /// The workspace for `cwd`; `repo_hint` is what the log itself says about the repository
    /// (used when the cwd no longer exists).
    pub fn resolve(&mut self, cwd: Option<&str>, repo_hint: Option<&str>) -> Option<Workspace> {
        let cwd = cwd?;
        let _ = repo_hint;
        let name = cwd.rsplit('/').find(|s| !s.is_empty()).unwrap_or(cwd);
        Some(Workspace {
            key: cwd.to_string(),
            name: name.to_string(),
            root: None,
            remote: None,
        })
    }

    /// The branch checked out in the worktree containing `cwd`, read from its `HEAD`.
    pub fn current_branch(&mut self, cwd: &str) -> Option<String> {
        let _ = cwd;
        None
    }
}
