//! Bad input loses nothing and says what to do; nothing but usage metadata reaches the database.

mod util;

use std::process::Output;
use util::*;

fn run(h: &Home, args: &[&str]) -> Output {
    h.cmd().args(args).output().unwrap()
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const LINE: &str = r#"{"type":"assistant","sessionId":"s1","requestId":"req_1","timestamp":"2026-02-12T14:12:01.177Z","message":{"model":"claude-opus-4-6","id":"msg_1","usage":{"input_tokens":3,"cache_read_input_tokens":10,"output_tokens":9}}}"#;

#[test]
fn malformed_lines_are_skipped_counted_and_never_fatal() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = format!(
        "{LINE}\n{{\"type\":\"assistant\",\"message\":{{\"usage\":{{\"input_tokens\":\"many\"}}}}}}\nnot json at all\n{{\"type\":\"assistant\",\"usage\"\n{}\n",
        LINE.replace("req_1", "req_2").replace("msg_1", "msg_2")
    );
    std::fs::write(dir.join("a.jsonl"), bad).unwrap();
    let st = h.scan();
    assert_eq!(st.malformed, 3);
    assert_eq!(st.lines, 5);
    let s = h.tool("claude-code");
    assert_eq!(s.requests, 2, "the good lines around the bad ones are kept");
    let (malformed, err): (i64, String) = sql(&h.db())
        .query_row("SELECT malformed, first_error FROM files", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(malformed, 3);
    assert!(!err.contains("many"), "errors never carry log text: {err}");
}

#[test]
fn binary_and_unreadable_files_do_not_stop_a_scan() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("good.jsonl"), format!("{LINE}\n")).unwrap();
    let mut junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    junk.push(b'\n');
    std::fs::write(dir.join("binary.jsonl"), junk).unwrap();
    // A directory whose name matches the glob cannot be read as a file.
    std::fs::create_dir_all(dir.join("weird.jsonl")).unwrap();
    std::fs::write(dir.join("weird.jsonl/inner.txt"), b"x").unwrap();
    let o = run(&h, &["scan"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("malformed"), "{}", stdout(&o));
    assert_eq!(h.tool("claude-code").requests, 1);
}

#[test]
fn unreadable_file_is_recorded_with_its_reason() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("good.jsonl"), format!("{LINE}\n")).unwrap();
    let mut ing = h.ingestor();
    // Reading a directory fails with EISDIR: the kind of error an unreadable log gives.
    let st = ing
        .ingest_path(0, &dir, &mut |_| {})
        .expect("an unreadable source is not an error of the run");
    assert_eq!(st.unreadable, 1);
    let why: String = sql(&h.db())
        .query_row(
            "SELECT read_error FROM files WHERE path = ?1",
            [dir.to_string_lossy()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(why.to_lowercase().contains("directory"), "{why}");
}

#[test]
fn missing_log_directories_say_where_they_looked() {
    let h = Home::new();
    let o = run(&h, &["scan"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("No AI tool logs found"), "{out}");
    // One short line per tool, home shown as ~, each place once.
    assert!(
        out.contains("  claude-code  ~/.claude/projects, ~/.config/claude/projects\n"),
        "{out}"
    );
    assert!(
        out.contains("  codex        ~/.codex/sessions, ~/.codex/archived_sessions\n"),
        "{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() <= 20, "{} lines:\n{out}", lines.len());
    let mut tools: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let n = tools.len();
    tools.dedup();
    assert_eq!(tools.len(), n, "a tool listed twice:\n{out}");
    let o = run(&h, &["report"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("No usage recorded yet"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn missing_and_corrupted_databases_exit_3_with_a_way_out() {
    let h = Home::new();
    let o = run(&h, &["report"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("tokwatch scan"), "{}", stderr(&o));
    std::fs::write(h.db(), vec![0x42u8; 8192]).unwrap();
    for args in [&["report"][..], &["scan"][..]] {
        let o = run(&h, args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(".bad"), "{}", stderr(&o));
    }
    let o = run(&h, &["report", "--since", "last tuesday"]);
    assert_eq!(o.status.code(), Some(2), "bad usage");
    assert!(stderr(&o).contains("YYYY-MM-DD"), "{}", stderr(&o));
    let o = run(&h, &["report", "fortnight"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Every string of message, thinking or tool text in a log line.
fn texts(v: &serde_json::Value, under_text: bool, out: &mut Vec<String>) {
    const TEXT_KEYS: &[&str] = &[
        "text",
        "thinking",
        "content",
        "input",
        "output",
        "command",
        "prompt",
        "stdout",
        "stderr",
        "arguments",
        "summary",
        "description",
        "base_instructions",
        "user_instructions",
        "message",
        "result",
        "toolUseResult",
        "data",
        // Gemini CLI: tool arguments, thought summaries, the screen's copies.
        "args",
        "thoughts",
        "resultDisplay",
        "displayContent",
    ];
    match v {
        serde_json::Value::String(s) if under_text && s.len() >= 12 => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| texts(x, under_text, out)),
        serde_json::Value::Object(m) => {
            // Metadata tokwatch does keep (ids, model, cwd, branch) is not message text.
            const META: &[&str] = &[
                "model",
                "id",
                "cwd",
                "sessionId",
                "requestId",
                "uuid",
                "parentUuid",
                "timestamp",
                "gitBranch",
                "version",
                "session_id",
                "branch",
                "repository_url",
                // Copilot CLI's context, model changes and tool names (kept as metadata).
                "gitRoot",
                "repository",
                "newModel",
                "previousModel",
                "currentModel",
                "toolName",
                "mcpToolName",
                "name",
            ];
            for (k, x) in m {
                if META.contains(&k.as_str()) {
                    continue;
                }
                texts(x, under_text || TEXT_KEYS.contains(&k.as_str()), out);
            }
        }
        _ => {}
    }
}

/// Writes a Cline task with two requests (ui rows and the conversation history they were sent)
/// into `dir`; returns the texts it holds.
fn cline_task(dir: &std::path::Path) -> Vec<String> {
    use serde_json::json;
    let texts: Vec<String> = [
        "<task>refactor the quarterly ledger reconciler</task>",
        "<environment_details>cwd holds gizmo-widget sources</environment_details>",
        "the assistant plans to inspect ledger.rs first",
        "pub fn reconcile_quarterly_ledger() { /* secret body */ }",
        "[read_file for 'src/ledger.rs'] Result:",
        "thinking about the zebra-striped audit trail",
    ]
    .map(String::from)
    .to_vec();
    let hist = json!([
        {"role": "user", "content": [{"type": "text", "text": texts[0]}, {"type": "text", "text": texts[1]}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": texts[5], "signature": "c2lnbmF0dXJlLW9mLXRoZS10aGlua2luZw"},
            {"type": "text", "text": texts[2]},
            {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "src/ledger.rs"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": texts[3]}]},
            {"type": "text", "text": texts[4]}]},
    ]);
    let usage = |tin: i64| {
        json!({"request": "<task>refactor the quarterly ledger reconciler</task>", "tokensIn": tin, "tokensOut": 10, "cacheWrites": 2000, "cacheReads": 0, "cost": 0.01}).to_string()
    };
    let ui = json!([
        {"ts": 1781220410000i64, "type": "say", "say": "text", "text": texts[0], "conversationHistoryIndex": -1},
        {"ts": 1781220411000i64, "type": "say", "say": "api_req_started", "text": usage(5), "conversationHistoryIndex": -1},
        {"ts": 1781220412000i64, "type": "say", "say": "text", "text": texts[2], "conversationHistoryIndex": 0},
        {"ts": 1781220413000i64, "type": "say", "say": "api_req_started", "text": usage(7), "conversationHistoryIndex": 1},
    ]);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ui_messages.json"), ui.to_string()).unwrap();
    std::fs::write(dir.join("api_conversation_history.json"), hist.to_string()).unwrap();
    texts
}

/// Writes an Amp thread with two requests (no public sample: built from the documented schema,
/// docs/log-formats.md §11) into `dir`; returns the texts it holds.
fn amp_thread(dir: &std::path::Path) -> Vec<String> {
    use serde_json::json;
    let texts: Vec<String> = [
        "amp: rename the walrus inventory module",
        "amp: the assistant will grep for walrus first",
        "amp: pondering the narwhal-shaped dependency graph",
        "amp: fn walrus_inventory() { /* secret amp body */ }",
        "amp: the running output of the walrus grep",
        "amp: summary of the walrus rename so far",
    ]
    .map(String::from)
    .to_vec();
    let usage = |m: u32| {
        json!({"model": "claude-sonnet-4-5", "inputTokens": 3, "outputTokens": 20, "cacheCreationInputTokens": 2000,
            "cacheReadInputTokens": 0, "timestamp": format!("2026-05-01T10:0{m}:00.000Z")})
    };
    let doc = json!({"v": 3, "id": "T-0f0e", "messages": [
        {"role": "user", "messageId": 0, "content": [{"type": "text", "text": texts[0]}]},
        {"role": "assistant", "messageId": 1, "content": [
            {"type": "thinking", "thinking": texts[2], "signature": "c2lnbmF0dXJlLW9mLXRoZS10aGlua2luZw"},
            {"type": "text", "text": texts[1]},
            {"type": "tool_use", "id": "toolu_01", "name": "Grep", "input": {"pattern": "walrus"}}], "usage": usage(1)},
        {"role": "user", "messageId": 2, "content": [
            {"type": "tool_result", "toolUseID": "toolu_01", "run": {"status": "done", "result": texts[3], "progress": texts[4]}}]},
        {"role": "info", "messageId": 3, "content": [{"type": "summary", "summary": {"type": "message", "summary": texts[5]}}]},
        {"role": "assistant", "messageId": 4, "content": [{"type": "text", "text": "done"}], "usage": usage(2)},
    ]});
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("T-0f0e.json"), doc.to_string()).unwrap();
    texts
}

/// Writes a Cline SDK session (`<id>/<id>.messages.json`, indented as the SDK writes it) with
/// two requests into `dir`; returns the texts it holds.
fn cline_sdk_session(dir: &std::path::Path, id: &str) -> Vec<String> {
    use serde_json::json;
    let texts: Vec<String> = [
        "please audit the porcupine billing exporter",
        "a system prompt about marzipan conventions",
        "the exporter lives in billing/porcupine.rs",
        "fn export_porcupine_invoices() { /* classified */ }",
        "reasoning about the tangerine ledger offsets",
        "shown to the user only: a kumquat status note",
    ]
    .map(String::from)
    .to_vec();
    let metrics = |input: i64| json!({"inputTokens": input, "outputTokens": 10, "cacheReadTokens": 0, "cacheWriteTokens": 2000, "cost": 0.01});
    let doc = json!({"version": 1, "updated_at": "2026-06-11T21:27:00.000Z", "agent": "lead", "sessionId": id,
    "system_prompt": texts[1],
    "messages": [
        {"id": "u1", "role": "user", "ts": 1781220410000i64, "content": [{"type": "text", "text": texts[0]}]},
        {"id": "a1", "role": "assistant", "ts": 1781220411000i64, "metrics": metrics(2005),
            "modelInfo": {"id": "claude-sonnet-4-5", "provider": "anthropic"}, "content": [
            {"type": "thinking", "thinking": texts[4], "signature": "c2lnbmF0dXJl"},
            {"type": "text", "text": texts[2]},
            {"type": "tool_use", "id": "toolu_01", "name": "read_files", "input": {"file_paths": ["billing/porcupine.rs"]}}]},
        {"id": "u2", "role": "user", "ts": 1781220412000i64, "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": texts[3]}]}]},
        {"id": "d1", "role": "assistant", "ts": 1781220412500i64, "metadata": {"displayOnly": true},
            "content": [{"type": "text", "text": texts[5]}]},
        {"id": "a2", "role": "assistant", "ts": 1781220413000i64, "metrics": metrics(2007),
            "modelInfo": {"id": "claude-sonnet-4-5", "provider": "anthropic"}, "content": [{"type": "text", "text": "done"}]},
    ]});
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join(format!("{id}.messages.json")),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{id}.json")),
        json!({"version": 1, "session_id": id, "cwd": "/tmp/porcupine", "model": "claude-sonnet-4-5"}).to_string(),
    )
    .unwrap();
    texts
}

#[test]
fn no_message_text_reaches_the_database() {
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    copy_tree(&fixtures().join("codex/sessions"), &h.codex_sessions());
    let copilot = h
        .home()
        .join(".copilot/session-state/96ef38f0-9d09-45c3-8124-6448c36090ed");
    copy_tree(&fixtures().join("copilot-cli"), &copilot);
    let qwen = h.home().join(".qwen/projects/-tmp-qwentest/chats");
    std::fs::create_dir_all(&qwen).unwrap();
    std::fs::copy(
        fixtures().join("qwen-code/session.jsonl"),
        qwen.join("69f0814a-8bfc-4c8e-93d3-05757f17b96f.jsonl"),
    )
    .unwrap();
    // A Cline task (no public sample: built from the documented schema, docs/log-formats.md
    // §6) whose conversation history holds text of every kind the split measures.
    let cline_text = cline_task(&h.home().join(".cline/data/tasks/1781220400000"));
    // A Cline SDK session (built from the SDK's storage as its source writes it,
    // docs/composition.md "Cline SDK sessions"), its system prompt and a display-only message
    // included.
    let sdk_id = "1781220500000_ab12c";
    let sdk_text = cline_sdk_session(&h.home().join(".cline/data/sessions").join(sdk_id), sdk_id);
    let gemini = h.home().join(".gemini/tmp/discordbot/chats");
    std::fs::create_dir_all(&gemini).unwrap();
    std::fs::copy(
        fixtures().join("gemini-cli/session.jsonl"),
        gemini.join("session-2026-04-23T12-52-0ab84937.jsonl"),
    )
    .unwrap();
    let amp_text = amp_thread(&h.home().join(".local/share/amp/threads"));
    h.scan();
    let mut needles = cline_text;
    needles.extend(amp_text);
    needles.extend(sdk_text);
    for f in [
        "claude-code/projects/-home-USER-projects-spotter-worktrees-spotter-gqc/258c7280-ae70-4798-800f-63464d01a85d.jsonl",
        "codex/sessions/2026/02/23/rollout-2026-02-23T12-40-23-019c8a4c-ed82-79a1-aa28-7738fc5ab61a.jsonl",
        "copilot-cli/events.jsonl",
        "qwen-code/session.jsonl",
        "gemini-cli/session.jsonl",
    ] {
        for line in std::fs::read_to_string(fixtures().join(f)).unwrap().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                texts(&v, false, &mut needles);
            }
        }
    }
    needles.sort();
    needles.dedup();
    // A message may quote the session's own directory, which tokwatch keeps as metadata.
    needles.retain(|n| {
        !(n.starts_with("/home/USER/projects/spotter")
            || n.starts_with("/home/wei/repo/VibeCodingTracker"))
            || n.contains(' ')
    });
    assert!(
        needles.len() > 500,
        "the samples hold plenty of text: {}",
        needles.len()
    );
    let mut db = std::fs::read(h.db()).unwrap();
    if let Ok(w) = std::fs::read(h.db().with_extension("db-wal")) {
        db.extend(w);
    }
    let leaked: Vec<&String> = needles
        .iter()
        .filter(|n| memchr::memmem::find(&db, n.as_bytes()).is_some())
        .collect();
    assert!(
        leaked.is_empty(),
        "text found in the database: {:?}",
        &leaked[..leaked.len().min(5)]
    );
    // The context split (issue 14) is numbers and tool names only.
    let c = sql(&h.db());
    let mut st = c
        .prepare("SELECT ctx FROM events WHERE ctx IS NOT NULL")
        .unwrap();
    let ctx: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(ctx.len() > 100, "{}", ctx.len());
    let copilot: i64 = c
        .query_row(
            "SELECT count(*) FROM events WHERE ctx IS NOT NULL AND tool = 'copilot-cli'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(copilot, 1, "the Copilot CLI sample's split is checked too");
    let qwen: i64 = c
        .query_row(
            "SELECT count(*) FROM events WHERE ctx IS NOT NULL AND tool = 'qwen-code'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(qwen, 2, "the Qwen Code sample's splits are checked too");
    let cline: i64 = c
        .query_row(
            "SELECT count(*) FROM events WHERE ctx IS NOT NULL AND tool = 'cline'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        cline, 4,
        "the Cline task's and the SDK session's splits are checked too"
    );
    let gemini: i64 = c
        .query_row(
            "SELECT count(*) FROM events WHERE ctx IS NOT NULL AND tool = 'gemini-cli'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gemini, 6, "the Gemini CLI sample's splits are checked too");
    let amp: i64 = c
        .query_row(
            "SELECT count(*) FROM events WHERE ctx IS NOT NULL AND tool = 'amp'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(amp, 2, "the Amp thread's splits are checked too");
    let item = regex::Regex::new(r"^(?:[suakcim]|r(?:\.[A-Za-z0-9_ -]+)?)=[0-9]+$").unwrap();
    for v in &ctx {
        for part in v.split(';') {
            assert!(item.is_match(part), "not a number of a kind: {part:?}");
        }
    }
}

/// A fresh machine has no `~/.local/share`: `scan` and the daemon create the data directory
/// (private) instead of failing on the lock file.
#[test]
fn first_run_creates_the_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    let data = h.home().join(".local/share/tokwatch");
    assert!(!h.home().join(".local").exists());
    let o = h
        .cmd()
        .env_remove("TOKWATCH_DB")
        .args(["scan"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(data.join("tokwatch.db").is_file());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tokwatch.db")), 0o600);
    assert_eq!(mode(&data.join("tokwatch.db.lock")), 0o600);
}

/// `--db` in a directory that exists (here a shared, world-writable one like /tmp) uses it as
/// it is: tokwatch changes the permissions only of directories it creates.
#[test]
fn an_existing_directory_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    let shared = h.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let db = shared.join("x.db");
    let o = h
        .cmd()
        .args(["--db", db.to_str().unwrap(), "scan"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(db.is_file());
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "the directory's mode is untouched");
}

#[test]
fn database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = Home::new();
    h.scan();
    let mode = std::fs::metadata(h.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn report_json_contract() {
    let h = Home::new();
    copy_tree(
        &fixtures().join("claude-code/projects"),
        &h.claude_projects(),
    );
    copy_tree(&fixtures().join("codex/sessions"), &h.codex_sessions());
    let o = run(&h, &["scan", "--quiet"]);
    assert_eq!(o.status.code(), Some(0));
    for by in [
        "day", "week", "month", "session", "repo", "branch", "model", "tool",
    ] {
        let o = run(&h, &["report", by, "--json", "--tz", "UTC"]);
        assert_eq!(o.status.code(), Some(0), "{by}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let check = |x: &serde_json::Value| {
            for k in [
                "requests",
                "input",
                "cache_write_5m",
                "cache_write_1h",
                "cache_read",
                "output",
                "reasoning",
            ] {
                assert!(x[k].is_i64(), "{by}: {k} is an integer in {x}");
            }
            assert!(x["cost_usd"].is_f64(), "{by}: cost_usd is a float");
            assert!(x["has_unpriced"].is_boolean());
        };
        check(&v["totals"]);
        let rows = v["rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        let mut sum = 0;
        for r in rows {
            check(r);
            assert!(r["key"].is_string());
            sum += r["requests"].as_i64().unwrap();
        }
        assert_eq!(
            sum,
            v["totals"]["requests"].as_i64().unwrap(),
            "{by}: rows add up"
        );
        assert_eq!(v["totals"]["requests"], 156 + 485, "{by}");
    }
    let o = run(&h, &["report", "day", "--csv", "--tz", "UTC"]);
    let csv = stdout(&o);
    assert!(csv.starts_with("key,requests,input,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("2026-02-23,")), "{csv}");
    // No TOTAL row among the data rows: the rows add up to the JSON's totals.
    assert!(!csv.contains("TOTAL"), "{csv}");
    let sum: i64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(sum, 641, "{csv}");
}

#[test]
fn unknown_models_are_unpriced_never_zero_and_overrides_price_them() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let mystery = LINE
        .replace("claude-opus-4-6", "house-model-7")
        .replace("req_1", "req_9")
        .replace("msg_1", "msg_9");
    std::fs::write(dir.join("a.jsonl"), format!("{LINE}\n{mystery}\n")).unwrap();
    assert!(run(&h, &["scan", "-q"]).status.success());
    let o = run(&h, &["report", "model", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["totals"]["has_unpriced"], true);
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "house-model-7")
        .unwrap()
        .clone();
    assert_eq!(row["has_unpriced"], true);
    assert_eq!(row["input"], 3);
    assert_eq!(v["unpriced_models"][0]["model"], "house-model-7");
    let text = stdout(&run(&h, &["report", "model"]));
    assert!(text.contains("unpriced"), "{text}");
    assert!(text.contains("lower bound"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("house-model-7"))
        .unwrap();
    assert!(line.ends_with("unpriced"), "never $0.00: {line}");
    // A price override in the config file prices it (after a re-scan the store is repriced
    // only for new records, so start from a fresh database).
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[prices.\"house-model-7\"]\ninput = 1000000.0\noutput = 0.0\n",
    )
    .unwrap();
    std::fs::remove_file(h.db()).unwrap();
    assert!(run(&h, &["scan", "-q"]).status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&run(&h, &["report", "model", "--json"]).stdout).unwrap();
    assert_eq!(v["totals"]["has_unpriced"], false);
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "house-model-7")
        .unwrap()
        .clone();
    // 3 input tokens at $1,000,000 per million, cache read defaults to 0.1 x input.
    assert!(
        (row["cost_usd"].as_f64().unwrap() - (3.0 + 10.0 * 0.1)).abs() < 1e-9,
        "{row}"
    );
    let o = run(&h, &["prices", "house-model-7"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("override"), "{}", stdout(&o));
    let o = run(&h, &["prices", "nobody-knows-me"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("[prices."), "{}", stderr(&o));
}

#[test]
fn a_bad_config_file_says_what_is_wrong() {
    let h = Home::new();
    let cfg = h.dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    // An unknown key is ignored with a warning naming the nearest known key (issue 12).
    std::fs::write(cfg.join("config.toml"), "[budget]\ndaily = 5\n").unwrap();
    let o = run(&h, &["scan"]);
    assert_eq!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(
        e.contains("config.toml: line 2, key budget.daily: unknown key, ignored: did you mean budget.daily_usd?"),
        "{e}"
    );
    // A value that cannot be used stops the command, naming line and key.
    std::fs::write(cfg.join("config.toml"), "[budget]\ndaily_usd = \"5\"\n").unwrap();
    let o = run(&h, &["scan"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("config.toml") && e.contains("line 2, key budget.daily_usd"),
        "{e}"
    );
}
