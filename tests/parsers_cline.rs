//! Cline / Roo Code / Kilo Code. No public sample exists: every fixture here is built from the
//! documented schema (docs/log-formats.md §6 and the extensions' source as summarized
//! there): `tasks/<taskId>/ui_messages.json` arrays whose `api_req_started` rows carry a JSON
//! `text`, sibling `task_metadata.json` / `history_item.json` / `api_conversation_history.json`,
//! `state/taskHistory.json`, and Cline SDK `sessions/<id>/<id>.messages.json`.

mod util;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokwatch::dedup::merge;
use tokwatch::env::Env;
use tokwatch::event::{Merge, UsageEvent};
use tokwatch::parser::cline::{ClineSdkParser, ClineTaskParser, Flavor};
use tokwatch::parser::{FileState, Format, Parser};
use tokwatch::registry::Registry;

fn req(ts: i64, info: Value, model: Option<(&str, &str)>) -> Value {
    let mut row =
        json!({"ts": ts, "type": "say", "say": "api_req_started", "text": info.to_string()});
    if let Some((provider, id)) = model {
        row["modelInfo"] = json!({"providerId": provider, "modelId": id, "mode": "act"});
    }
    row
}

fn usage(tin: i64, tout: i64, cw: i64, cr: i64, cost: f64) -> Value {
    json!({"request": "<task>elided</task>", "tokensIn": tin, "tokensOut": tout, "cacheWrites": cw, "cacheReads": cr, "cost": cost})
}

fn write(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
}

fn parse(p: &dyn Parser, path: &Path) -> (Vec<UsageEvent>, u64) {
    let mut out = Vec::new();
    let r = p
        .parse_whole(path, &mut FileState::default(), &mut out)
        .unwrap();
    (out, r.malformed)
}

const T0: i64 = 1_781_220_419_000; // 2026-06-11, after both Roo and Kilo changed tokensIn

#[test]
fn cline_task_rows_placeholders_providers_and_side_files() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir
        .path()
        .join("Code/User/globalStorage/saoudrizwan.claude-dev");
    let task = "1781220400000";
    let ui = storage.join(format!("tasks/{task}/ui_messages.json"));
    write(
        &storage.join("state/taskHistory.json"),
        &json!([{"id": "other", "cwdOnTaskInitialization": "/nope"}, {"id": task, "cwdOnTaskInitialization": "/home/u/proj", "modelId": "x"}]),
    );
    write(
        &storage.join(format!("tasks/{task}/task_metadata.json")),
        &json!({"files_in_context": [], "model_usage": [
            {"ts": T0 - 1000, "model_id": "claude-sonnet-4-5", "model_provider_id": "anthropic", "mode": "act"},
            {"ts": T0 + 4500, "model_id": "gpt-5", "model_provider_id": "openai", "mode": "act"}]}),
    );
    let rows = json!([
        {"ts": T0 - 5, "type": "say", "say": "text", "text": "hello"},
        req(T0, usage(100, 50, 5, 20, 0.12), Some(("anthropic", "claude-sonnet-4-5"))),
        // Placeholder written at request start: no counts yet.
        req(T0 + 1000, json!({"request": "<task>…</task>"}), Some(("anthropic", "claude-sonnet-4-5"))),
        // OpenAI-compatible provider: tokensIn includes the cached tokens.
        req(T0 + 2000, usage(1000, 10, 0, 400, 0.0), Some(("openai", "gpt-4.1"))),
        // No modelInfo: model from task_metadata.json (latest entry at or before ts).
        req(T0 + 3000, usage(7, 3, 0, 0, 0.01), None),
        req(T0 + 5000, usage(9, 1, 0, 0, 0.01), None),
        {"ts": T0 + 6000, "type": "say", "say": "subagent_usage", "text": usage(4, 7, 1, 2, 0.04).to_string()},
        {"ts": T0 + 7000, "type": "say", "say": "deleted_api_reqs", "text": usage(999, 999, 0, 0, 9.0).to_string()},
        {"ts": T0 + 8000, "type": "say", "say": "api_req_started", "text": "{\"tokensIn\": 5", "partial": false},
        req(T0 + 9000, json!({"tokensIn": "abc", "tokensOut": 1}), None),
        {"ts": T0 + 10000, "type": "say", "say": "api_req_started", "partial": true, "text": usage(1, 1, 0, 0, 0.0).to_string()},
        "not an object",
    ]);
    write(&ui, &rows);
    let p = ClineTaskParser {
        flavor: Flavor::Cline,
        jsonl: false,
    };
    assert_eq!(p.format(), Format::WholeFile);
    let (events, bad) = parse(&p, &ui);
    assert_eq!(
        bad, 3,
        "bad text JSON, a string token count, a non-object row"
    );
    let got: Vec<(i64, i64, i64, i64, i64)> = events
        .iter()
        .map(|e| {
            (
                e.timestamp_ms - T0,
                e.tokens.input,
                e.tokens.cache_write_5m,
                e.tokens.cache_read,
                e.tokens.output,
            )
        })
        .collect();
    assert_eq!(
        got,
        // The subagent row has no modelInfo: task_metadata says the task was on `openai` by
        // then, whose tokensIn includes the cache (4 - 2 - 1).
        [
            (0, 100, 5, 20, 50),
            (2000, 600, 0, 400, 10),
            (3000, 7, 0, 0, 3),
            (5000, 9, 0, 0, 1),
            (6000, 1, 1, 2, 7)
        ]
    );
    let e0 = &events[0];
    assert_eq!(e0.tool, "cline");
    assert_eq!(e0.dedup_key, format!("cline:{task}:{T0}"));
    assert_eq!(e0.merge, Merge::LastWins);
    assert_eq!(e0.reported_cost_usd, Some(0.12));
    assert_eq!(e0.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(e0.provider.as_deref(), Some("anthropic"));
    assert_eq!(e0.session_id.as_deref(), Some(task));
    assert_eq!(e0.cwd.as_deref(), Some("/home/u/proj"));
    assert_eq!(
        events[1].reported_cost_usd,
        Some(0.0),
        "a reported cost of 0 is the cost (issue 10)"
    );
    assert_eq!(events[2].model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(events[3].model.as_deref(), Some("gpt-5"));
    assert_eq!(events[3].provider.as_deref(), Some("openai"));

    // The file is rewritten in place: the placeholder gets its numbers. Same keys, one more row.
    let mut rows = rows;
    rows[2] = req(
        T0 + 1000,
        usage(30, 3, 0, 0, 0.02),
        Some(("anthropic", "claude-sonnet-4-5")),
    );
    write(&ui, &rows);
    let (again, _) = parse(&p, &ui);
    let mut all = events.clone();
    all.extend(again);
    let unique = merge(all.to_vec());
    assert_eq!(unique.len(), 6);
    assert_eq!(
        unique.iter().map(|e| e.tokens.input).sum::<i64>(),
        100 + 30 + 600 + 7 + 9 + 1
    );
}

#[test]
fn roo_and_kilo_tokens_in_semantics_follow_version_dates() {
    let dir = tempfile::tempdir().unwrap();
    // 2025-11-05: after Roo's change (11-01), before Kilo's (11-12).
    let nov5 = 1_762_300_800_000;
    let oct1 = 1_759_276_800_000;
    let rows = |proto: &str| {
        json!([
            req(
                oct1,
                json!({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 300, "cost": 0.3, "apiProtocol": "anthropic"}),
                None
            ),
            req(
                oct1 + 1,
                json!({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 0, "cacheReads": 300, "cost": 0.3, "apiProtocol": "openai"}),
                None
            ),
            req(
                nov5,
                json!({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 300, "cost": 0.3, "apiProtocol": proto}),
                None
            ),
            // Below cacheReads + cacheWrites: can only be the uncached remainder.
            req(
                T0,
                json!({"tokensIn": 3, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 300, "cost": 0.3, "apiProtocol": proto}),
                None
            ),
            req(
                T0 + 1,
                json!({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 300, "cost": 0.3}),
                None
            ),
        ])
    };
    for (flavor, nov5_input) in [(Flavor::Roo, 600), (Flavor::Kilo, 1000)] {
        let task = "0d6b5d43-2a37-4b8b-9c1e-6f1a5b1d0e11";
        let storage = dir.path().join(flavor.extension_id());
        let ui = storage.join(format!("tasks/{task}/ui_messages.json"));
        write(&ui, &rows("anthropic"));
        write(
            &storage.join(format!("tasks/{task}/history_item.json")),
            &json!({"id": task, "ts": oct1, "task": "elided", "workspace": "/home/u/roo-proj"}),
        );
        // The model is only in the prompt's environment details.
        write(
            &storage.join(format!("tasks/{task}/api_conversation_history.json")),
            &json!([
                {"role": "user", "ts": oct1 - 10, "content": [{"type": "text", "text": "<task>x</task>"}, {"type": "text", "text": "<environment_details>\n# Current Mode\n<slug>code</slug>\n<model>claude-sonnet-4-5</model>\n</environment_details>"}]},
                {"role": "assistant", "ts": oct1 - 5, "content": [{"type": "text", "text": "<model>not-this</model>"}]},
                {"role": "user", "ts": nov5 + 5, "content": "<environment_details><model>glm-4.6</model></environment_details>"},
            ]),
        );
        let (ev, bad) = parse(
            &ClineTaskParser {
                flavor,
                jsonl: false,
            },
            &ui,
        );
        assert_eq!(bad, 0);
        let inputs: Vec<i64> = ev.iter().map(|e| e.tokens.input).collect();
        assert_eq!(inputs, [1000, 700, nov5_input, 3, 600], "{flavor:?}");
        assert!(ev.iter().all(|e| e.tool == flavor.tool()));
        assert_eq!(ev[0].cwd.as_deref(), Some("/home/u/roo-proj"));
        let models: Vec<_> = ev.iter().map(|e| e.model.clone().unwrap()).collect();
        // A request's model is the last one stamped before the next request.
        assert_eq!(
            models,
            [
                "claude-sonnet-4-5",
                "claude-sonnet-4-5",
                "glm-4.6",
                "glm-4.6",
                "glm-4.6"
            ]
        );
    }
}

#[test]
fn append_only_ui_messages_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tasks/t1/ui_messages.jsonl");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    let p = ClineTaskParser {
        flavor: Flavor::Roo,
        jsonl: true,
    };
    assert_eq!(p.format(), Format::Lines);
    let lines = [
        req(T0, json!({"request": "…"}), None).to_string(),
        req(T0, json!({"tokensIn": 500, "tokensOut": 9, "cacheWrites": 0, "cacheReads": 200, "cost": 0.01}), None).to_string(),
        "{\"ts\":1,".to_string(),
    ];
    let mut st = FileState::default();
    let mut out = Vec::new();
    let mut bad = 0;
    for l in &lines {
        if p.parse_line(l.as_bytes(), &f, &mut st, &mut out).is_err() {
            bad += 1;
        }
    }
    assert_eq!(bad, 1);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].tokens.input, out[0].tokens.cache_read), (300, 200));
    assert_eq!(out[0].dedup_key, format!("roo-code:t1:{T0}"));
}

#[test]
fn cline_sdk_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("sessions/sess_1");
    write(
        &s.join("sess_1.json"),
        &json!({"sessionId": "sess_1", "cwd": "/home/u/sdk", "model": "claude-opus-4-6"}),
    );
    write(
        &s.join("sess_1.messages.json"),
        &json!({"version": 1, "agent": "lead", "sessionId": "sess_1", "messages": [
            {"id": "m1", "role": "user", "content": "elided", "ts": T0},
            {"id": "m2", "role": "assistant", "content": "elided", "ts": T0 + 1, "modelInfo": {"id": "claude-sonnet-4-5", "provider": "anthropic"},
             "metrics": {"inputTokens": 1200, "outputTokens": 80, "cacheReadTokens": 900, "cacheWriteTokens": 100, "cost": 0.02}},
            {"id": "m3", "role": "assistant", "ts": T0 + 2, "metadata": {"displayOnly": true}, "metrics": {"inputTokens": 5}},
            {"id": "m4", "role": "assistant", "ts": T0 + 3, "metrics": {"inputTokens": 50, "outputTokens": 5}},
            {"id": "m5", "role": "assistant", "ts": T0 + 4, "metrics": {"inputTokens": [1]}},
        ]}),
    );
    write(
        &s.join("agent_7.messages.json"),
        &json!([{"id": "a1", "role": "assistant", "ts": T0 + 5, "metrics": {"inputTokens": 10, "outputTokens": 1, "cacheReadTokens": 0, "cacheWriteTokens": 0, "cost": 0}}]),
    );
    let (main, bad) = parse(&ClineSdkParser, &s.join("sess_1.messages.json"));
    assert_eq!(bad, 1);
    assert_eq!(main.len(), 2);
    assert_eq!(main[0].dedup_key, "cline:sess_1:main:m2");
    assert_eq!(
        (
            main[0].tokens.input,
            main[0].tokens.cache_read,
            main[0].tokens.cache_write_5m
        ),
        (200, 900, 100)
    );
    assert_eq!(main[0].model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(
        main[1].model.as_deref(),
        Some("claude-opus-4-6"),
        "manifest model as fallback"
    );
    assert_eq!(main[0].cwd.as_deref(), Some("/home/u/sdk"));
    let (sub, _) = parse(&ClineSdkParser, &s.join("agent_7.messages.json"));
    assert_eq!(sub[0].dedup_key, "cline:sess_1:agent_7:a1");
    assert_eq!(
        sub[0].reported_cost_usd,
        Some(0.0),
        "a reported 0 is a cost"
    );
}

#[test]
fn whole_file_that_does_not_parse_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("tasks/t/ui_messages.json");
    std::fs::create_dir_all(ui.parent().unwrap()).unwrap();
    std::fs::write(&ui, b"[{\"ts\":1,\"type\":\"say\",\"say\":\"api_req_st").unwrap();
    let (ev, bad) = parse(
        &ClineTaskParser {
            flavor: Flavor::Kilo,
            jsonl: false,
        },
        &ui,
    );
    assert_eq!((ev.len(), bad), (0, 1));
    std::fs::write(&ui, b"{\"not\":\"an array\"}").unwrap();
    let (_, bad) = parse(
        &ClineTaskParser {
            flavor: Flavor::Kilo,
            jsonl: false,
        },
        &ui,
    );
    assert_eq!(bad, 1);
}

#[test]
fn roots_cover_editor_forks_and_cline_data() {
    let home = PathBuf::from("/home/u");
    let env = |vars: &[(&str, &str)]| Env {
        home: home.clone(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([(
                "TOKWATCH_CONFIG_DIR".to_string(),
                "/nonexistent/cfg".to_string(),
            )])
            .collect::<HashMap<_, _>>(),
    };
    let e = env(&[]);
    let roots = tokwatch::registry::roots::cline_storage(&e, Flavor::Roo);
    let base = if cfg!(target_os = "macos") {
        home.join("Library/Application Support")
    } else {
        home.join(".config")
    };
    if !cfg!(windows) {
        for fork in ["Code", "Code - Insiders", "Cursor", "Windsurf", "VSCodium"] {
            assert!(
                roots.contains(
                    &base
                        .join(fork)
                        .join("User/globalStorage/rooveterinaryinc.roo-cline")
                ),
                "{fork}"
            );
        }
    }
    assert!(roots
        .contains(&home.join(".vscode-server/data/User/globalStorage/rooveterinaryinc.roo-cline")));
    assert!(tokwatch::registry::roots::cline_storage(&e, Flavor::Cline)
        .contains(&home.join(".cline/data")));
    let e2 = env(&[("CLINE_DATA_DIR", "/srv/cline")]);
    assert!(tokwatch::registry::roots::cline_storage(&e2, Flavor::Cline)
        .contains(&PathBuf::from("/srv/cline")));
    assert_eq!(
        tokwatch::registry::roots::cline_sessions(&e2),
        vec![PathBuf::from("/srv/cline/sessions")]
    );

    let sources = Registry::load(&e).sources;
    let ui = base.join("Cursor/User/globalStorage/kilocode.kilo-code/tasks/abc/ui_messages.json");
    let hits: Vec<_> = sources
        .iter()
        .filter(|s| s.matches(&ui))
        .map(|s| s.tool.clone())
        .collect();
    if !cfg!(windows) {
        assert_eq!(hits, ["kilo-code"]);
    }
    let not_usage = base.join(
        "Cursor/User/globalStorage/kilocode.kilo-code/tasks/abc/api_conversation_history.json",
    );
    assert!(sources.iter().all(|s| !s.matches(&not_usage)));
    let sdk = home.join(".cline/data/sessions/s1/s1.messages.json");
    assert!(sources.iter().any(|s| s.tool == "cline" && s.matches(&sdk)));
}

/// Issue 10: a cost the extension reports is used as reported, 0 included (Cline writes
/// `cost: 0` for free models); only a row without `cost` is priced from the table. Built from
/// the documented `ui_messages.json` schema (docs/log-formats.md §6).
#[test]
fn reported_cost_zero_is_kept_and_only_a_missing_cost_is_priced() {
    let h = util::Home::new();
    let task = "1781220400000";
    let ui = h
        .home()
        .join(format!(".cline/data/tasks/{task}/ui_messages.json"));
    let m = Some(("anthropic", "claude-sonnet-4-5"));
    write(
        &ui,
        &json!([
            // Free model as Cline recorded it: cost 0 is the cost.
            req(T0, usage(1000, 100, 0, 0, 0.0), m),
            // A reported figure.
            req(T0 + 1000, usage(10, 10, 0, 0, 0.25), m),
            // No `cost` at all: priced from the table ($3 per million input for sonnet-4-5).
            req(
                T0 + 2000,
                json!({"tokensIn": 100_000, "tokensOut": 0, "cacheWrites": 0, "cacheReads": 0}),
                m
            ),
        ]),
    );
    h.scan();
    let s = h.tool("cline");
    assert_eq!(s.requests, 3);
    assert_eq!(s.reported_requests, 2, "{s:?}");
    assert_eq!(s.unpriced_requests, 0);
    assert!((s.cost_usd - (0.25 + 0.3)).abs() < 1e-9, "{s:?}");
}
