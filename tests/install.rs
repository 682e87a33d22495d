//! `tokwatch install` / `uninstall` into a temporary home: the systemd user unit passes
//! `systemd-analyze --user verify`, the XDG autostart entry passes `desktop-file-validate`, the
//! LaunchAgent parses as a property list, and uninstall leaves the home as it found it.
#![cfg(unix)]

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use util::*;

fn tree(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() {
            tree(&p, out);
        }
    }
}

fn listing(h: &Home) -> Vec<PathBuf> {
    let mut v = Vec::new();
    tree(&h.home(), &mut v);
    v.sort();
    v
}

fn run(h: &Home, args: &[&str]) -> String {
    let out = h.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tokwatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generated_files_pass_their_validators_and_uninstall_leaves_nothing() {
    let h = Home::new();
    let before = listing(&h);
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_tokwatch"))
        .canonicalize()
        .unwrap();

    // systemd user unit.
    let said = run(&h, &["install", "--kind", "systemd", "--no-start"]);
    let unit = h.home().join(".config/systemd/user/tokwatch.service");
    assert!(
        said.contains("~/.config/systemd/user/tokwatch.service"),
        "{said}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("ExecStart={} --db ", exe.display())),
        "{text}"
    );
    let runtime = h.dir.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(&unit)
        .env("HOME", h.home())
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("systemd-analyze (package systemd; .ci/test installs it)");
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string()
        ),
        (Some(0), String::new()),
        "systemd-analyze --user verify"
    );

    // XDG autostart entry.
    run(&h, &["install", "--kind", "xdg", "--no-start"]);
    let desktop = h.home().join(".config/autostart/tokwatch.desktop");
    let out = Command::new("desktop-file-validate")
        .arg(&desktop)
        .output()
        .expect("desktop-file-validate (package desktop-file-utils; .ci/test installs it)");
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string()
        ),
        (Some(0), String::new(), String::new()),
        "desktop-file-validate"
    );

    // LaunchAgent.
    run(&h, &["install", "--kind", "launchd", "--no-start"]);
    let plist = h
        .home()
        .join("Library/LaunchAgents/dev.tokwatch.daemon.plist");
    let v = plist::Value::from_file(&plist).unwrap();
    let d = v.as_dictionary().unwrap();
    assert_eq!(
        d.get("Label").and_then(|l| l.as_string()),
        Some("dev.tokwatch.daemon")
    );
    let args: Vec<&str> = d
        .get("ProgramArguments")
        .and_then(|a| a.as_array())
        .unwrap()
        .iter()
        .map(|a| a.as_string().unwrap())
        .collect();
    let db = h.db().display().to_string();
    assert_eq!(args, [exe.to_str().unwrap(), "--db", db.as_str(), "run"]);
    assert_eq!(d.get("RunAtLoad").and_then(|r| r.as_boolean()), Some(true));

    // Man page and completions, generated from the command line.
    let man = std::fs::read_to_string(h.home().join(".local/share/man/man1/tokwatch.1")).unwrap();
    assert!(man.contains(".TH tokwatch 1"), "{man}");
    assert!(man.contains("install"), "the man page lists the commands");
    let bash = std::fs::read_to_string(
        h.home()
            .join(".local/share/bash-completion/completions/tokwatch"),
    )
    .unwrap();
    assert!(bash.contains("_tokwatch()"), "{bash}");

    // Uninstall: nothing left, history kept.
    std::fs::write(h.db(), b"").unwrap();
    let said = run(&h, &["uninstall"]);
    assert!(said.contains("kept the history"), "{said}");
    assert_eq!(listing(&h), before, "uninstall left files behind: {said}");
    assert!(h.db().exists());
}

#[test]
fn purge_deletes_the_data_after_saying_what() {
    let h = Home::new();
    std::fs::create_dir_all(h.claude_projects().join("-p")).unwrap();
    std::fs::copy(
        fixtures().join("claude-code/projects/-home-USER-projects-spotter-worktrees-spotter-gqc/258c7280-ae70-4798-800f-63464d01a85d.jsonl"),
        h.claude_projects().join("-p/s.jsonl"),
    )
    .unwrap();
    run(&h, &["scan", "--quiet"]);
    assert!(h.db().exists());
    run(&h, &["install", "--kind", "xdg", "--no-start"]);
    let said = run(&h, &["uninstall", "--purge"]);
    assert!(said.contains("--purge: deleting the database"), "{said}");
    assert!(!h.db().exists(), "{said}");
    assert!(!h.home().join(".config/autostart/tokwatch.desktop").exists());
    // The logs the tool wrote are its own: left alone.
    assert!(h.claude_projects().join("-p/s.jsonl").exists());
}
