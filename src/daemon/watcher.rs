//! Which roots are watched with OS notifications, which are polled, and which do not exist yet.
//!
//! Notifications are only hints ("look at this path again"): every read starts from the stored
//! checkpoint, so a lost, duplicated or coalesced event can never lose or double a token. Roots on
//! file systems where inotify does not report other machines' writes (NFS, SMB, 9p, FUSE, WSL's
//! Windows drives), and roots that cannot be watched (watch limit reached), are polled with a
//! cheap stat scan instead. A root that does not exist yet is picked up when it appears.

use notify::{RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

/// Messages the daemon loop receives.
pub enum Msg {
    /// A file-system notification.
    Fs(notify::Result<notify::Event>),
    /// Stop.
    Quit,
    /// Something else (e.g. the tray) asks for a fresh snapshot.
    Refresh,
    /// The config file changed, or SIGHUP: read it again.
    Reload,
    /// The binary was replaced: stop so that the new one can start.
    Restart,
}

/// The OS notifications on the roots, and the roots polled instead.
pub struct Watcher {
    inner: Option<notify::RecommendedWatcher>,
    /// Watched recursively by notifications.
    pub watched: Vec<PathBuf>,
    /// Polled by stat scans, with the reason.
    pub polled: Vec<(PathBuf, String)>,
    /// Not there yet.
    pub missing: Vec<PathBuf>,
    /// Existing ancestors of missing roots, watched non-recursively.
    ancestors: Vec<PathBuf>,
    log: fn(&str),
}

/// Why a path should be polled rather than watched, if it should.
pub fn needs_polling(path: &Path) -> Option<String> {
    if std::env::var_os("TOKWATCH_FORCE_POLL").is_some_and(|v| !v.is_empty()) {
        return Some("TOKWATCH_FORCE_POLL is set".into());
    }
    let p = path.canonicalize().ok()?;
    let ps = p.to_string_lossy();
    let b = ps.as_bytes();
    let windows_drive = b.len() >= 6
        && ps.starts_with("/mnt/")
        && b[5].is_ascii_alphabetic()
        && (b.len() == 6 || b[6] == b'/');
    if windows_drive && is_wsl() {
        return Some(
            "a Windows drive under WSL, where inotify does not see Windows programs' writes".into(),
        );
    }
    let fstype = fs_type(&p)?;
    let network = [
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "drvfs", "sshfs", "afs", "ceph",
    ];
    if network.contains(&fstype.as_str()) || fstype.starts_with("fuse") {
        return Some(format!(
            "a {fstype} file system, where inotify is unreliable"
        ));
    }
    None
}

fn is_wsl() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.to_lowercase().contains("microsoft"))
        .unwrap_or(false)
}

/// File system type of the mount holding `p` (Linux, from /proc/self/mountinfo).
fn fs_type(p: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mount = left.split(' ').nth(4)?;
        let fstype = right.split(' ').next()?;
        let mount = mount.replace("\\040", " ");
        if p.starts_with(&mount) && best.as_ref().is_none_or(|(l, _)| mount.len() > *l) {
            best = Some((mount.len(), fstype.to_string()));
        }
    }
    best.map(|(_, t)| t)
}

fn is_watch_limit(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(28), // ENOSPC from inotify_add_watch
        _ => false,
    }
}

impl Watcher {
    /// Watches `roots` (or polls, or waits for them to appear), sending to `tx`.
    pub fn new(tx: Sender<Msg>, roots: &[PathBuf], log: fn(&str)) -> Watcher {
        let inner = match notify::recommended_watcher(move |r| {
            let _ = tx.send(Msg::Fs(r));
        }) {
            Ok(w) => Some(w),
            Err(e) => {
                log(&format!(
                    "file notifications are unavailable ({e}); polling every log directory instead"
                ));
                None
            }
        };
        let mut w = Watcher {
            inner,
            watched: Vec::new(),
            polled: Vec::new(),
            missing: Vec::new(),
            ancestors: Vec::new(),
            log,
        };
        for r in roots {
            w.add_root(r);
        }
        w.check_missing();
        w
    }

    fn add_root(&mut self, r: &Path) {
        if !r.exists() {
            if !self.missing.iter().any(|m| m == r) {
                self.missing.push(r.to_path_buf());
            }
            return;
        }
        if let Some(why) = needs_polling(r) {
            (self.log)(&format!("polling {} ({why})", r.display()));
            self.polled.push((r.to_path_buf(), why));
            return;
        }
        let Some(inner) = self.inner.as_mut() else {
            self.polled
                .push((r.to_path_buf(), "no file notifications".into()));
            return;
        };
        match inner.watch(r, RecursiveMode::Recursive) {
            Ok(()) => self.watched.push(r.to_path_buf()),
            Err(e) => {
                let why = if is_watch_limit(&e) {
                    "the inotify watch limit is reached: raise fs.inotify.max_user_watches to get instant updates".to_string()
                } else {
                    format!("it cannot be watched: {e}")
                };
                (self.log)(&format!("polling {} ({why})", r.display()));
                let _ = inner.unwatch(r);
                self.polled.push((r.to_path_buf(), why));
            }
        }
    }

    /// The nearest existing ancestor of every missing root.
    fn nearest_ancestors(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for m in &self.missing {
            let mut a = m.parent();
            while let Some(p) = a {
                if p.is_dir() {
                    if !out.iter().any(|x| x == p) {
                        out.push(p.to_path_buf());
                    }
                    break;
                }
                a = p.parent();
            }
        }
        out
    }

    /// Watch the nearest existing ancestor of every missing root (non-recursively); returns
    /// the ancestors it aimed at.
    fn refresh_ancestors(&mut self) -> Vec<PathBuf> {
        let want = self.nearest_ancestors();
        let Some(inner) = self.inner.as_mut() else {
            return want;
        };
        for a in std::mem::take(&mut self.ancestors) {
            if !want.contains(&a) {
                let _ = inner.unwatch(&a);
            } else {
                self.ancestors.push(a);
            }
        }
        for p in &want {
            if !self.ancestors.contains(p) && inner.watch(p, RecursiveMode::NonRecursive).is_ok() {
                self.ancestors.push(p.clone());
            }
        }
        want
    }

    /// True when a change at `p` may mean a missing root appeared (p is the root or one of its
    /// ancestors).
    pub fn concerns_missing(&self, p: &Path) -> bool {
        self.missing.iter().any(|m| m.starts_with(p))
    }

    /// Roots that appeared since the last call (now watched or polled).
    ///
    /// A directory created between looking and placing a watch sends no event to anyone, so
    /// this settles: after moving the watches it looks again, until every missing root is
    /// still missing and its nearest existing ancestor is the one watched.
    pub fn check_missing(&mut self) -> Vec<PathBuf> {
        let mut appeared = Vec::new();
        // Paths only get deeper, so this ends; the bound is a guard against a churning tree.
        for _ in 0..64 {
            if self.missing.is_empty() {
                break;
            }
            let (now, still): (Vec<PathBuf>, Vec<PathBuf>) =
                self.missing.drain(..).partition(|m| m.exists());
            self.missing = still;
            for r in &now {
                (self.log)(&format!("{} appeared: following it", r.display()));
                self.add_root(r);
            }
            appeared.extend(now);
            // An intermediate directory may have appeared: move the ancestor watches down.
            let aimed = self.refresh_ancestors();
            let settled =
                !self.missing.iter().any(|m| m.exists()) && self.nearest_ancestors() == aimed;
            if settled {
                break;
            }
        }
        appeared
    }

    /// A watch error arrived (e.g. the limit was hit while adding a new subdirectory): poll
    /// everything that was watched from now on, said once.
    pub fn degrade(&mut self, e: &notify::Error) {
        if !is_watch_limit(e) {
            (self.log)(&format!(
                "file notification error: {e} (a stat scan covers the gap)"
            ));
            return;
        }
        let why = "the inotify watch limit is reached: raise fs.inotify.max_user_watches to get instant updates";
        for r in std::mem::take(&mut self.watched) {
            (self.log)(&format!("polling {} ({why})", r.display()));
            if let Some(i) = self.inner.as_mut() {
                let _ = i.unwatch(&r);
            }
            self.polled.push((r, why.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    fn quiet(_: &str) {}

    /// A root several levels below anything that exists, created by another thread while the
    /// watcher follows: however the creation interleaves with moving the ancestor watches, the
    /// root ends up watched (a directory made between looking and watching sends no event, so
    /// `check_missing` has to look again).
    #[test]
    fn a_deep_root_created_concurrently_is_always_picked_up() {
        for round in 0..100 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("home/.codex/sessions");
            let (tx, rx) = channel();
            let mut w = Watcher::new(tx, std::slice::from_ref(&root), quiet);
            assert_eq!(w.missing, vec![root.clone()]);
            let r2 = root.clone();
            let maker = std::thread::spawn(move || {
                std::fs::create_dir_all(r2.join("2026/02/23")).unwrap();
                std::fs::write(r2.join("2026/02/23/rollout.jsonl"), b"{}\n").unwrap();
            });
            // The daemon's loop: any event about a missing root's ancestor -> check_missing.
            let mut done = false;
            while let Ok(Msg::Fs(ev)) = rx.recv_timeout(Duration::from_millis(300)) {
                if let Ok(ev) = ev {
                    if ev.paths.iter().any(|p| w.concerns_missing(p)) {
                        w.check_missing();
                    }
                }
                if w.watched.contains(&root) {
                    done = true;
                    break;
                }
            }
            maker.join().unwrap();
            assert!(
                done,
                "round {round}: {} not followed (missing {:?}, ancestors {:?})",
                root.display(),
                w.missing,
                w.ancestors
            );
        }
    }
}
