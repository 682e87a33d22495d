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
    let text = String::from_utf8(h.cmd().arg("doctor").output().unwrap().stdout).unwrap();
    assert!(
        text.contains("gemini-cli") && text.contains("malformed"),
        "{text}"
    );
}
