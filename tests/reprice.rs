//! Re-pricing stored usage when prices change (issue 10, docs/pricing.md): a price added in
//! `config.toml` for an unpriced model reaches the requests already stored, a removed one
//! takes its price away again, in one transaction, with the rollup in step; reports say when
//! prices were last applied and `doctor` sees stale prices. Logs are built in the documented
//! Claude Code shape (docs/log-formats.md §1e).

mod util;

use tokwatch::store::query::Filter;
use util::*;

fn line(ts: &str, id: &str, input: i64, output: i64) -> String {
    format!(
        r#"{{"type":"assistant","isSidechain":false,"sessionId":"s1","cwd":"/nonexistent/p","uuid":"u-{id}","requestId":"req_{id}","timestamp":"{ts}","message":{{"id":"msg_{id}","role":"assistant","model":"acme-coder-9","content":[],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}}}}"#
    )
}

fn set_config(h: &Home, text: &str) {
    let d = h.dir.path().join("config");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.toml"), text).unwrap();
}

fn doctor(h: &Home) -> (i32, serde_json::Value) {
    let out = h.cmd().args(["doctor", "--json"]).output().unwrap();
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

const PRICE: &str = "[prices.\"acme-coder-9\"]\ninput = 2.0\noutput = 10.0\n";

#[test]
fn a_new_override_reprices_stored_usage_and_a_removed_one_unprices_it() {
    let h = Home::new();
    let dir = h.claude_projects().join("-p");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("s1.jsonl");
    std::fs::write(
        &log,
        [
            line("2026-02-12T12:00:00.000Z", "a", 1_000_000, 0),
            line("2026-02-12T12:01:00.000Z", "b", 0, 100_000),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    h.scan();
    let s = h.tool("claude-code");
    assert_eq!((s.requests, s.unpriced_requests), (2, 2));
    assert_eq!(s.cost_usd, 0.0);
    assert_eq!(doctor(&h).0, 0, "prices current after the scan");

    // The user prices the model. Until something applies it, doctor says the costs are stale.
    set_config(&h, PRICE);
    let (rc, d) = doctor(&h);
    assert_eq!(rc, 1, "{d}");
    assert_eq!(d["prices"]["stale"], true);
    assert!(d["prices"]["advice"]
        .as_str()
        .unwrap()
        .contains("tokwatch reprice"));

    // A new request of the same model, then a scan: all three are priced (not half).
    std::fs::write(
        &log,
        std::fs::read_to_string(&log).unwrap()
            + &line("2026-02-12T12:02:00.000Z", "c", 500_000, 0)
            + "\n",
    )
    .unwrap();
    h.scan();
    let s = h.tool("claude-code");
    assert_eq!((s.requests, s.unpriced_requests), (3, 0), "{s:?}");
    // 1M input at $2 + 100k output at $10 + 500k input at $2
    assert!((s.cost_usd - (2.0 + 1.0 + 1.0)).abs() < 1e-9, "{s:?}");
    assert!(!s.has_unpriced);
    assert_eq!(doctor(&h).0, 0);
    // Reports say when prices were applied.
    let out = h
        .cmd()
        .args(["report", "day", "--json", "--tz", "UTC"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["prices_applied"].is_string(), "{v}");
    let text = h.cmd().args(["report", "day"]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("prices last applied"));

    // The other direction: the override goes, `tokwatch reprice` takes the price away again.
    set_config(&h, "");
    let out = h.cmd().args(["reprice", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // `reprice` opens the writer, which re-prices because the prices changed; the explicit
    // pass after it then finds nothing left to change.
    assert_eq!(st["requests"], 3);
    assert_rollup_consistent(&h.db());
    let s = h.tool("claude-code");
    assert_eq!((s.requests, s.unpriced_requests), (3, 3), "{s:?}");
    assert_eq!(s.cost_usd, 0.0);
    assert_eq!(doctor(&h).0, 0);

    // And back, by `tokwatch reprice` alone: the report follows at once.
    set_config(&h, PRICE);
    let out = h.cmd().args(["reprice"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 stored requests"));
    let s = h.sums(&Filter::default());
    assert_eq!(s.unpriced_requests, 0);
    assert!((s.cost_usd - 4.0).abs() < 1e-9);
    assert_rollup_consistent(&h.db());
}
