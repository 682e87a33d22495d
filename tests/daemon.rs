//! The real daemon process: live appends, crashes, deleted logs, concurrent readers.

mod util;

use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tokwatch::store::query::Filter;
use util::*;

const CLAUDE_MAIN: &str = "claude-code/projects/-home-USER-projects-spotter-worktrees-spotter-gqc/258c7280-ae70-4798-800f-63464d01a85d.jsonl";
const CODEX_BIG: &str = "codex/sessions/2026/02/23/rollout-2026-02-23T12-54-34-019c8a59-e9dd-71f0-9ae3-4079fe9726a9.jsonl";

/// What a one-shot scan of `files` (fixture path, destination under home) gives.
fn expected(files: &[(&str, &str)]) -> tokwatch::store::query::Sums {
    let h = Home::new();
    for (src, dst) in files {
        let d = h.home().join(dst);
        std::fs::create_dir_all(d.parent().unwrap()).unwrap();
        std::fs::copy(fixtures().join(src), d).unwrap();
    }
    h.scan();
    h.sums(&Filter::default())
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Appends `src` to `dst` in random chunks (most cutting lines in half) with short pauses.
fn dribble(src: &[u8], dst: &Path, rng: &mut Rng, pause_every: u64) {
    let mut pos = 0usize;
    let mut n = 0u64;
    while pos < src.len() {
        let len = 1 + rng.below(20_000) as usize;
        let end = (pos + len).min(src.len());
        append(dst, &src[pos..end]);
        pos = end;
        n += 1;
        if n.is_multiple_of(pause_every) {
            std::thread::sleep(Duration::from_millis(rng.below(15)));
        }
    }
}

const FILES: [(&str, &str); 2] = [
    (CLAUDE_MAIN, ".claude/projects/-p/main.jsonl"),
    (
        CODEX_BIG,
        ".codex/sessions/2026/02/23/rollout-x-019c8a59-e9dd-71f0-9ae3-4079fe9726a9.jsonl",
    ),
];

#[test]
fn live_appends_in_random_chunks_appear_once_each() {
    let want = expected(&FILES);
    let h = Home::new();
    std::fs::create_dir_all(h.claude_projects()).unwrap();
    let d = h.start_daemon(&[]);
    let mut rng = Rng(0x5eed_0001);
    for (src, dst) in FILES {
        let dst = h.home().join(dst);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        dribble(
            &std::fs::read(fixtures().join(src)).unwrap(),
            &dst,
            &mut rng,
            3,
        );
    }
    let ok = wait_until(Duration::from_secs(30), || {
        try_sums(&h.db(), &Filter::default()).as_ref() == Some(&want)
    });
    assert!(
        ok.is_some(),
        "live totals {:?} != {:?}\n{}",
        try_sums(&h.db(), &Filter::default()),
        want,
        d.log_text()
    );
    assert!(
        d.log_text().contains(".codex/sessions appeared"),
        "{}",
        d.log_text()
    );
    let malformed: i64 = sql(&h.db())
        .query_row("SELECT total(malformed) FROM files", [], |r| {
            r.get::<_, f64>(0)
        })
        .unwrap() as i64;
    assert_eq!(malformed, 0, "half lines were never read as broken lines");
}

fn crash_rounds(rounds: usize, seed: u64) {
    let want = expected(&FILES);
    let h = Home::new();
    let srcs: Vec<Vec<u8>> = FILES
        .iter()
        .map(|(s, _)| std::fs::read(fixtures().join(s)).unwrap())
        .collect();
    for (_, dst) in FILES {
        std::fs::create_dir_all(h.home().join(dst).parent().unwrap()).unwrap();
    }
    // The writer appends everything, in random chunks, while the daemon is killed and restarted.
    let home = h.home();
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(seed);
        let mut pos = vec![0usize; srcs.len()];
        while pos.iter().zip(&srcs).any(|(p, s)| *p < s.len()) {
            let i = rng.below(srcs.len() as u64) as usize;
            if pos[i] >= srcs[i].len() {
                continue;
            }
            let end = (pos[i] + 1 + rng.below(30_000) as usize).min(srcs[i].len());
            append(&home.join(FILES[i].1), &srcs[i][pos[i]..end]);
            pos[i] = end;
            std::thread::sleep(Duration::from_micros(rng.below(4_000)));
        }
    });
    let mut rng = Rng(seed ^ 0xdead_beef);
    for _ in 0..rounds {
        let d = h.start_daemon(&[]);
        std::thread::sleep(Duration::from_millis(rng.below(250)));
        d.kill9();
    }
    writer.join().unwrap();
    // One more life to catch up after the last kill.
    let d = h.start_daemon(&[]);
    let ok = wait_until(Duration::from_secs(30), || {
        try_sums(&h.db(), &Filter::default()).as_ref() == Some(&want)
    });
    assert!(
        ok.is_some(),
        "after {rounds} kills: {:?} != {:?}\n{}",
        try_sums(&h.db(), &Filter::default()),
        want,
        d.log_text()
    );
}

#[test]
fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    crash_rounds(6, 0xc0ffee);
}

/// The heavy variant: `cargo test --release --test daemon -- --ignored`.
#[test]
#[ignore]
fn sigkill_heavy_25_rounds() {
    for seed in [1u64, 2, 3] {
        crash_rounds(25, 0x1234_5678 * seed);
    }
}

#[test]
fn deleted_logs_leave_history_intact() {
    let h = Home::new();
    copy_tree(&fixtures().join("codex/sessions"), &h.codex_sessions());
    h.scan();
    let before = h.sums(&Filter::default());
    std::fs::remove_dir_all(h.codex_sessions()).unwrap();
    h.scan();
    let d = h.start_daemon(&[]);
    std::thread::sleep(Duration::from_millis(300));
    drop(d);
    assert_eq!(h.sums(&Filter::default()), before);
    assert_eq!(before.total_tokens(), 50_062_931);
}

#[test]
fn second_daemon_names_the_running_one() {
    let h = Home::new();
    let d = h.start_daemon(&[]);
    let o = h.cmd().args(["run", "--no-tray"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains(&format!("pid {}", d.child.id())), "{err}");
}

#[test]
fn scan_while_the_daemon_runs_leaves_the_writing_to_it() {
    let h = Home::new();
    let _d = h.start_daemon(&[]);
    let o = h.cmd().arg("scan").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("daemon is running"));
}

#[test]
fn readers_never_see_database_is_locked() {
    let h = Home::new();
    std::fs::create_dir_all(h.claude_projects().join("-p")).unwrap();
    // A first scan creates the database so readers can open it.
    h.scan();
    let _d = h.start_daemon(&[]);
    let src = std::fs::read(fixtures().join(CLAUDE_MAIN)).unwrap();
    let dst = h.claude_projects().join("-p/main.jsonl");
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(77);
        for _ in 0..3 {
            dribble(&src, &dst, &mut rng, 1);
        }
    });
    let mut runs = 0;
    while !writer.is_finished() || runs < 20 {
        for args in [
            &["report", "model", "--json"][..],
            &["statusline"][..],
            &["repos"][..],
        ] {
            let o = h.cmd().args(args).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{args:?} failed: {err}");
            assert!(!err.contains("locked"), "{err}");
        }
        runs += 1;
    }
    writer.join().unwrap();
}

#[test]
fn polling_fallback_picks_up_appends() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let d = h.start_daemon(&[("TOKWATCH_FORCE_POLL", "1"), ("TOKWATCH_POLL_SECS", "0.2")]);
    assert!(d.log_text().contains("polling"), "{}", d.log_text());
    std::fs::copy(
        fixtures().join("claude-code/single/tool_heavy.jsonl"),
        dir.join("t.jsonl"),
    )
    .unwrap();
    let ok = wait_until(Duration::from_secs(10), || {
        try_sums(&h.db(), &Filter::default()).map(|s| s.requests) == Some(4)
    });
    assert!(ok.is_some(), "{}", d.log_text());
}

#[test]
fn watch_prints_one_line_per_new_request() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let d = h.start_daemon(&[]);
    let mut w = h
        .cmd()
        .args(["watch", "--json"])
        .env("XDG_RUNTIME_DIR", h.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The feed has no backlog: append only once `watch` is connected.
    assert!(
        wait_until(Duration::from_secs(30), || d
            .log_text()
            .contains("live-feed client connected"))
        .is_some(),
        "{}",
        d.log_text()
    );
    std::fs::copy(
        fixtures().join("claude-code/single/short.jsonl"),
        dir.join("s.jsonl"),
    )
    .unwrap();
    let out = w.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a feed line");
    // short.jsonl holds 5 snapshot lines of one request: one feed line, no more.
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "one line per request"
    );
    let _ = w.kill();
    let _ = w.wait();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["tool"], "claude-code");
    assert_eq!(v["model"], "claude-opus-4-6");
    assert_eq!(v["cache_read"], 11_515);
    assert_eq!(v["output"], 13);
}

#[test]
fn statusline_shows_the_session_and_repository_from_claude_code_json() {
    let h = Home::new();
    // A real git repository as the session's cwd.
    let repo = h.dir.path().join("src/widget");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        assert!(std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap()
            .status
            .success())
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["remote", "add", "origin", "git@github.com:acme/widget.git"]);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let line = |sid: &str, i: u32, input: u64| {
        format!(
            r#"{{"type":"assistant","sessionId":"{sid}","cwd":"{}","requestId":"req_{i}","timestamp":"{now}","message":{{"model":"claude-opus-4-6","id":"msg_{i}","usage":{{"input_tokens":{input},"output_tokens":0}}}}}}"#,
            repo.display()
        )
    };
    let d = h.claude_projects().join("-p");
    std::fs::create_dir_all(&d).unwrap();
    // Session A: $2.00 in this repository; session B: $1.00 elsewhere.
    std::fs::write(
        d.join("a.jsonl"),
        format!(
            "{}\n{}\n",
            line("sess-a", 1, 400_000),
            line("sess-b", 2, 0)
                .replace(&repo.display().to_string(), "/nonexistent/other")
                .replace("\"input_tokens\":0", "\"input_tokens\":200000")
        ),
    )
    .unwrap();
    h.scan();
    let mut c = h
        .cmd()
        .arg("statusline")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!(
        r#"{{"session_id":"sess-a","transcript_path":"/x.jsonl","cwd":"{0}","model":{{"id":"claude-opus-4-6","display_name":"Opus"}},"workspace":{{"current_dir":"{0}","project_dir":"{0}"}}}}"#,
        repo.display()
    );
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(c.stdin.take());
    let o = c.wait_with_output().unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        out.trim(),
        "session $2.00 · acme/widget today $2.00 · all today $3.00"
    );
    // Without JSON (tmux, a prompt): today's total only.
    let o = h
        .cmd()
        .arg("statusline")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        "all today $3.00"
    );
}

const LINE: &str = r#"{"type":"assistant","sessionId":"s1","requestId":"req_1","timestamp":"2026-02-12T14:12:01.177Z","message":{"model":"claude-opus-4-6","id":"msg_1","usage":{"input_tokens":3,"cache_read_input_tokens":10,"output_tokens":9}}}"#;

#[test]
fn watch_survives_a_daemon_restart() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let d = h.start_daemon(&[]);
    let mut w = h
        .cmd()
        .args(["watch", "--json"])
        .env("XDG_RUNTIME_DIR", h.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let connected = |d: &DaemonProc| {
        wait_until(Duration::from_secs(30), || {
            d.log_text().contains("live-feed client connected")
        })
        .is_some()
    };
    assert!(connected(&d), "{}", d.log_text());
    let out = w.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let line = |req: &str| {
        LINE.replace("req_1", req)
            .replace("msg_1", &format!("msg_{req}"))
    };
    std::fs::write(dir.join("a.jsonl"), format!("{}\n", line("r1"))).unwrap();
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("a line");
    assert!(first.contains("claude-code"), "{first}");
    // The daemon restarts (killed, as a crash or `systemctl restart` would, then started).
    d.kill9();
    let d2 = h.start_daemon(&[]);
    assert!(connected(&d2), "watch reconnects: {}", d2.log_text());
    assert!(w.try_wait().unwrap().is_none(), "watch is still running");
    std::fs::write(dir.join("b.jsonl"), format!("{}\n", line("r2"))).unwrap();
    let second = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a line after the restart");
    let v: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(v["tool"], "claude-code");
    assert_eq!(v["output"], 9);
    let _ = w.kill();
    let _ = w.wait();
}
