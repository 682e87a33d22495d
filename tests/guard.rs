//! `tokwatch guard check` run the way Claude Code runs a command hook: the hook's JSON on
//! stdin, the answer on stdout and in the exit code. It blocks exactly at the cap, lets work
//! through below it, lets one session through after `guard allow`, and lets everything through
//! (saying why on stderr) when tokwatch itself cannot answer.

mod common;
mod util;

use common::lines::{append, now_ms, Req};
use std::io::Write;
use util::*;

fn config(h: &Home, text: &str) {
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), text).unwrap();
}

struct Answer {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_hook(mut c: std::process::Command, input: &str) -> Answer {
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Answer {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn check(h: &Home, input: &str) -> Answer {
    let mut c = h.cmd();
    c.args(["guard", "check"]);
    run_hook(c, input)
}

/// Claude Code's hook input (the documented common fields and the event's own).
fn pre_tool_use(session: &str, cwd: &str) -> String {
    serde_json::json!({
        "session_id": session,
        "transcript_path": "/home/u/.claude/projects/-p/x.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "npm test", "description": "Run the tests"},
        "tool_use_id": "toolu_01ABC"
    })
    .to_string()
}

fn prompt_submit(session: &str, cwd: &str) -> String {
    serde_json::json!({
        "session_id": session,
        "transcript_path": "/home/u/.claude/projects/-p/x.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "please refactor the parser"
    })
    .to_string()
}

/// A home with $5.00 spent today in session `s1` (1,000,000 input tokens of opus).
fn spent_five() -> Home {
    let h = Home::new();
    let log = h.claude_projects().join("-p/s1.jsonl");
    let mut r = Req::new("s1", "g1", now_ms());
    r.input = 600_000;
    append(&log, &r.line());
    let mut r = Req::new("s1", "g2", now_ms());
    r.input = 400_000;
    append(&log, &r.line());
    h.scan();
    h
}

#[test]
fn blocks_exactly_at_a_hard_daily_cap() {
    let h = spent_five();
    // Just above what is spent: through, silently.
    config(
        &h,
        "[budget]\ntz = \"UTC\"\n[[budgets]]\nusd = 5.01\nperiod = \"day\"\nhard = true\n",
    );
    for input in [pre_tool_use("s1", "/tmp"), prompt_submit("s1", "/tmp")] {
        let a = check(&h, &input);
        assert_eq!((a.code, a.stdout.as_str(), a.stderr.as_str()), (0, "", ""));
    }
    // At the cap: blocked, with Claude Code's documented answers.
    config(
        &h,
        "[budget]\ntz = \"UTC\"\n[[budgets]]\nusd = 5.0\nperiod = \"day\"\nhard = true\n",
    );
    let a = check(&h, &pre_tool_use("s1", "/tmp"));
    assert_eq!(a.code, 0, "{}", a.stderr);
    let v: serde_json::Value = serde_json::from_str(a.stdout.trim()).unwrap();
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    let reason = v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("the daily budget of $5.00 is used up ($5.00 spent today)")
            && reason.contains("`tokwatch guard allow s1`"),
        "{reason}"
    );
    assert!(
        !a.stdout.contains("npm test"),
        "the tool input is never echoed"
    );
    let a = check(&h, &prompt_submit("s1", "/tmp"));
    assert_eq!(a.code, 0);
    let v: serde_json::Value = serde_json::from_str(a.stdout.trim()).unwrap();
    assert_eq!(v["decision"], "block");
    assert!(v["reason"].as_str().unwrap().contains("is used up"));
    assert!(!a.stdout.contains("refactor"), "the prompt is never echoed");
    // An event the guard does not answer in JSON: the blocking exit code, reason on stderr.
    let a = check(
        &h,
        r#"{"session_id":"s1","cwd":"/tmp","hook_event_name":"Stop"}"#,
    );
    assert_eq!(a.code, 2);
    assert!(a.stderr.contains("is used up"), "{}", a.stderr);

    // `guard allow` lifts it for that session only.
    let out = h.cmd().args(["guard", "allow"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Session s1"));
    let a = check(&h, &pre_tool_use("s1", "/tmp"));
    assert_eq!((a.code, a.stdout.as_str()), (0, ""));
    let a = check(&h, &pre_tool_use("s2", "/tmp"));
    assert!(
        a.stdout.contains("\"deny\""),
        "another session is still stopped"
    );
}

#[test]
fn session_cap_and_soft_budgets() {
    let h = spent_five();
    // A soft budget used up does not block: only hard ones do.
    config(
        &h,
        "[budget]\ndaily_usd = 1.0\n[guard]\nsession_usd = 5.0\n",
    );
    let a = check(&h, &pre_tool_use("s2", "/tmp"));
    assert_eq!((a.code, a.stdout.as_str()), (0, ""));
    // The session cap: s1 has cost $5.00.
    let a = check(&h, &pre_tool_use("s1", "/tmp"));
    assert!(
        a.stdout
            .contains("this Claude Code session has cost $5.00, the cap per session is $5.00"),
        "{}",
        a.stdout
    );
    let (ok, out) = {
        let o = h.cmd().args(["guard", "status"]).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert!(ok);
    assert!(
        out.contains(
            "session cap $5.00: the latest Claude Code session s1 has cost $5.00 (used up)"
        ),
        "{out}"
    );
    // `guard cap` wins over the config.
    let out = h
        .cmd()
        .args(["guard", "cap", "--session", "5.5"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let a = check(&h, &pre_tool_use("s1", "/tmp"));
    assert_eq!((a.code, a.stdout.as_str()), (0, ""));
}

#[test]
fn own_failures_let_the_work_go_on() {
    let h = spent_five();
    config(&h, "[[budgets]]\nusd = 1\nperiod = \"day\"\nhard = true\n");
    // A damaged database.
    let bad = h.dir.path().join("broken.db");
    std::fs::write(&bad, b"this is not a database, just bytes").unwrap();
    let mut c = h.cmd();
    c.env("TOKWATCH_DB", &bad).args(["guard", "check"]);
    let a = run_hook(c, &pre_tool_use("s1", "/tmp"));
    assert_eq!(a.code, 1, "a non-blocking error");
    assert_eq!(a.stdout, "");
    assert!(
        a.stderr.contains("cannot be used") && a.stderr.contains("Letting the work go on"),
        "{}",
        a.stderr
    );
    // No database at all.
    let mut c = h.cmd();
    c.env("TOKWATCH_DB", h.dir.path().join("none.db"))
        .args(["guard", "check"]);
    let a = run_hook(c, &pre_tool_use("s1", "/tmp"));
    assert_eq!((a.code, a.stdout.as_str()), (1, ""));
    assert!(a.stderr.contains("no tokwatch database"), "{}", a.stderr);
    // Input that is not JSON, and a config tokwatch cannot read.
    let a = check(&h, "not json");
    assert_eq!((a.code, a.stdout.as_str()), (1, ""));
    config(&h, "[budget]\nweek_start = \"someday\"\n");
    let a = check(&h, &pre_tool_use("s1", "/tmp"));
    assert_eq!((a.code, a.stdout.as_str()), (1, ""));
    assert!(a.stderr.contains("week_start"), "{}", a.stderr);
}

/// `guard install` writes a hook whose command, run through the shell as Claude Code runs it,
/// is the guard; `guard uninstall` restores the file.
#[test]
fn installed_hook_runs_the_guard() {
    let h = spent_five();
    config(&h, "[[budgets]]\nusd = 2\nperiod = \"day\"\nhard = true\n");
    let settings = h.home().join(".claude/settings.json");
    std::fs::write(
        &settings,
        r#"{"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo done"}]}]}}"#,
    )
    .unwrap();
    let out = h.cmd().args(["guard", "install"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["model"], "opus");
    assert_eq!(v["hooks"]["Stop"][0]["hooks"][0]["command"], "echo done");
    let cmd = v["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], "*");
    assert_eq!(
        v["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],
        cmd.as_str()
    );
    // As Claude Code runs it: through the shell, without tokwatch's variables.
    let mut sh = std::process::Command::new("sh");
    sh.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", h.home())
        .arg("-c")
        .arg(&cmd);
    let a = run_hook(sh, &pre_tool_use("s1", "/tmp"));
    assert!(
        a.stdout.contains("\"deny\""),
        "{cmd}: {} {}",
        a.stdout,
        a.stderr
    );
    let out = h.cmd().args(["guard", "uninstall"]).output().unwrap();
    assert!(out.status.success());
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        back,
        serde_json::json!({"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo done"}]}]}})
    );
}
