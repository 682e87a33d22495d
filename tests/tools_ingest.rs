//! The other tools' real samples through the whole pipeline (store and CLI): fixtures/EXPECTED.md.

mod util;

use tokwatch::store::query::Filter;
use util::*;

#[test]
fn gemini_sample_matches_expected_in_the_store() {
    let h = Home::new();
    let d = h.home().join(".gemini/tmp/9da8b3df/chats");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        fixtures().join("gemini-cli/session.jsonl"),
        d.join("session-2026-04-23T12-52-0ab84937.jsonl"),
    )
    .unwrap();
    h.scan();
    let s = h.tool("gemini-cli");
    // 6 messages; input 202,586 of which cached 48,951; output 2,152 + thoughts 2,141.
    assert_eq!(s.requests, 6);
    assert_eq!(s.input + s.cache_read, 202_586);
    assert_eq!(s.cache_read, 48_951);
    assert_eq!(s.output, 2_152 + 2_141);
    assert_eq!(s.reasoning, 2_141);
    assert_eq!(s.total_tokens(), 206_879);
    let o = h
        .cmd()
        .args(["report", "model", "--json", "--tool", "gemini-cli"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"gemini-3-flash-preview") && keys.contains(&"gemini-3.1-pro-preview"),
        "{keys:?}"
    );
    // Re-reading adds nothing.
    h.scan();
    assert_eq!(h.tool("gemini-cli"), s);
}

#[test]
fn copilot_sample_matches_expected_in_the_store() {
    let h = Home::new();
    let d = h
        .home()
        .join(".copilot/session-state/96ef38f0-9d09-45c3-8124-6448c36090ed");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(
        fixtures().join("copilot-cli/events.jsonl"),
        d.join("events.jsonl"),
    )
    .unwrap();
    h.scan();
    let s = h.tool("copilot-cli");
    // claude-sonnet-4.6: input 186,809 incl. cache read 151,738; output 2,848 incl. reasoning 1,024; 6 requests.
    assert_eq!(s.requests, 6);
    assert_eq!(
        s.input + s.cache_read + s.cache_write_5m + s.cache_write_1h,
        186_809
    );
    assert_eq!(s.cache_read, 151_738);
    assert_eq!(s.output, 2_848);
    assert_eq!(s.reasoning, 1_024);
    let r = h
        .reader()
        .report(
            tokwatch::store::query::GroupBy::Repo,
            &Filter {
                tool: Some("copilot-cli".into()),
                ..Filter::default()
            },
            tokwatch::store::query::Zone::Utc,
        )
        .unwrap();
    assert_eq!(r.rows[0].key, "Mai0313/VibeCodingTracker", "{:?}", r.rows);
}

#[test]
fn doctor_lists_every_tool_and_counts_malformed_records() {
    let h = Home::new();
    let d = h.home().join(".gemini/tmp/p/chats");
    std::fs::create_dir_all(&d).unwrap();
    let mut bytes = std::fs::read(fixtures().join("gemini-cli/session.jsonl")).unwrap();
    bytes.extend_from_slice(
        b"{\"id\":\"broken\",\"type\":\"gemini\",\"tokens\":{\"input\":\"lots\"}}\n",
    );
    std::fs::write(d.join("s.jsonl"), bytes).unwrap();
    assert!(h.cmd().args(["scan", "-q"]).status().unwrap().success());
    let o = h.cmd().args(["doctor", "--json"]).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let tools = v["tools"].as_array().unwrap();
    for t in [
        "claude-code",
        "codex",
        "gemini-cli",
        "copilot-cli",
        "qwen-code",
        "cline",
        "roo-code",
        "aider",
        "amp",
    ] {
        assert!(tools.iter().any(|x| x["tool"] == t), "doctor lists {t}");
    }
    let g = tools.iter().find(|x| x["tool"] == "gemini-cli").unwrap();
    assert_eq!(g["found"], true);
    assert_eq!(g["requests"], 6);
    assert_eq!(g["malformed_records"], 1);
    assert!(g["malformed_example"].is_string());
    // Each place once, in JSON and in text (several sources of one tool share roots).
    for t in tools {
        let mut all: Vec<&str> = ["roots_found", "roots_missing"]
            .iter()
            .flat_map(|k| t[*k].as_array().unwrap().iter())
            .map(|r| r.as_str().unwrap())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "{} lists a place twice: {all:?}", t["tool"]);
    }
    let text = String::from_utf8(h.cmd().arg("doctor").output().unwrap().stdout).unwrap();
    assert!(
        text.contains("gemini-cli") && text.contains("malformed"),
        "{text}"
    );
    assert!(text.lines().count() < 80, "doctor stays short:\n{text}");
}

#[test]
fn import_cursor_csv_through_the_cli_is_idempotent() {
    // Cursor's dashboard export (newer header), built from the documented columns.
    let csv = "Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost\n\
\"2025-10-01T09:00:00.000Z\",\"Included in Pro\",\"claude-4.5-sonnet\",\"No\",\"12000\",\"10000\",\"50000\",\"800\",\"62800\",\"$0.31\"\n\
\"2025-10-01T09:06:00.000Z\",\"Usage-based\",\"claude-4.5-sonnet\",\"No\",\"5000\",\"4000\",\"1000\",\"700\",\"6700\",\"$0.05\"\n";
    let h = Home::new();
    let f = h.dir.path().join("usage.csv");
    std::fs::write(&f, csv).unwrap();
    let run = |args: &[&str]| h.cmd().args(args).output().unwrap();
    let o = run(&["import", "cursor-csv", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Imported 2 of 2"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(&["import", "cursor-csv", f.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Imported 0 of 2"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let s = h.tool("cursor");
    assert_eq!(s.requests, 2);
    assert_eq!(
        (s.input, s.cache_write_5m, s.cache_read, s.output),
        (14_000, 3_000, 51_000, 1_500)
    );
    assert!(
        (s.cost_usd - 0.36).abs() < 1e-9,
        "the export's own cost: {}",
        s.cost_usd
    );
    assert_eq!(s.reported_requests, 2);
    let bad = h.dir.path().join("notes.txt");
    std::fs::write(&bad, "hello\n").unwrap();
    let o = run(&["import", "cursor-csv", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Cursor's usage CSV"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Issue 10: Copilot CLI is live, not only at shutdown. Before `session.shutdown` the
/// per-message `outputTokens` of `assistant.message` give a marked estimate; the shutdown
/// metrics replace it exactly, and a stale copy of the unfinished file read afterwards does not
/// bring the estimate back. The real sample (fixtures/copilot-cli, Copilot CLI 1.0.34), cut
/// before its shutdown line as a live file is; the format is docs/log-formats.md §7.
#[test]
fn copilot_live_estimate_is_replaced_exactly_by_the_shutdown() {
    let h = Home::new();
    let id = "96ef38f0-9d09-45c3-8124-6448c36090ed";
    let d = h.home().join(".copilot/session-state").join(id);
    std::fs::create_dir_all(&d).unwrap();
    let text = std::fs::read_to_string(fixtures().join("copilot-cli/events.jsonl")).unwrap();
    let cut = text.find("{\"type\":\"session.shutdown\"").unwrap();
    std::fs::write(d.join("events.jsonl"), &text[..cut]).unwrap();
    h.scan();
    let s = h.tool("copilot-cli");
    // Six assistant messages with 2,848 output tokens between them; nothing else is known yet.
    assert_eq!(
        (s.requests, s.output, s.input, s.estimated_requests),
        (6, 2_848, 0, 6),
        "{s:?}"
    );
    std::fs::write(d.join("events.jsonl"), &text).unwrap();
    h.scan();
    let exact = h.tool("copilot-cli");
    assert_eq!(exact.requests, 6);
    assert_eq!(exact.output, 2_848);
    assert_eq!(exact.cache_read, 151_738);
    assert_eq!(
        exact.input + exact.cache_read + exact.cache_write_5m + exact.cache_write_1h,
        186_809
    );
    assert_eq!(exact.estimated_requests, 0, "{exact:?}");
    // An old copy of the unfinished file elsewhere (history-session-state) adds nothing.
    let old = h.home().join(".copilot/history-session-state");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join(format!("{id}.jsonl")), &text[..cut]).unwrap();
    h.scan();
    assert_eq!(h.tool("copilot-cli"), exact);
}

/// Issue 10: Aider's `.aider.chat.history.md` is found where Aider writes it: in project
/// directories (bounded depth) and in the root of every repository tokwatch knows from another
/// tool's usage, and a new one there is followed live. History text in the documented format
/// (docs/log-formats.md, Aider).
#[test]
fn aider_histories_are_found_in_project_dirs_and_known_repositories() {
    let history = |n: usize| {
        let mut s = String::from(
            "# aider chat started at 2026-03-01 09:15:02\n\n> Main model: anthropic/claude-sonnet-4-5-20250929 with diff edit format\n\n",
        );
        for i in 0..n {
            s.push_str(&format!(
                "#### change {i}\n\n> Tokens: 1.2k sent, 100 received.\n\n"
            ));
        }
        s
    };
    let h = Home::new();
    let work = h.dir.path().join("work");
    let found = work.join("org/repo");
    std::fs::create_dir_all(&found).unwrap();
    std::fs::write(found.join(".aider.chat.history.md"), history(2)).unwrap();
    // Deeper than the default depth (3): not searched.
    let deep = work.join("a/b/c/d");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join(".aider.chat.history.md"), history(5)).unwrap();
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!("[aider]\nproject_dirs = [\"{}\"]\n", work.display()),
    )
    .unwrap();
    // A repository known from Claude Code's usage only.
    let repo2 = h.dir.path().join("elsewhere/repo2");
    std::fs::create_dir_all(repo2.join(".git")).unwrap();
    std::fs::write(repo2.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let claude = h.claude_projects().join("-r");
    std::fs::create_dir_all(&claude).unwrap();
    std::fs::write(
        claude.join("s.jsonl"),
        format!(
            r#"{{"type":"assistant","sessionId":"s","cwd":"{}","uuid":"u","requestId":"req_1","timestamp":"2026-03-01T09:00:00.000Z","message":{{"id":"msg_1","model":"claude-opus-4-6","usage":{{"input_tokens":3,"output_tokens":9}}}}}}"#,
            repo2.display()
        ) + "\n",
    )
    .unwrap();
    h.scan();
    assert_eq!(
        h.tool("aider").requests,
        2,
        "the project directory's history"
    );
    // Aider starts in the known repository while the daemon runs: followed live.
    let d = h.start_daemon(&[]);
    std::fs::write(repo2.join(".aider.chat.history.md"), history(3)).unwrap();
    wait_until(std::time::Duration::from_secs(60), || {
        h.tool("aider").requests == 5
    })
    .unwrap_or_else(|| panic!("not followed: {:?}\n{}", h.tool("aider"), d.log_text()));
}
