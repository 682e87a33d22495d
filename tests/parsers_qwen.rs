//! Qwen Code, implemented purely as the built-in spec `parsers/qwen-code.toml`, against the
//! real (mock-server) sample in fixtures/qwen-code/session.jsonl: structure only, the numbers are
//! the mock's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokwatch::env::Env;
use tokwatch::event::Merge;
use tokwatch::parser::{FileState, Format};
use tokwatch::registry::list::test_parser;
use tokwatch::registry::specs::builtin_specs;
use tokwatch::registry::Origin;
use tokwatch::registry::Registry;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/qwen-code/session.jsonl")
}

fn env(home: &Path, vars: &[(&str, &str)]) -> Env {
    Env {
        home: home.to_path_buf(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([(
                "TOKWATCH_CONFIG_DIR".to_string(),
                home.join("no-config").display().to_string(),
            )])
            .collect::<HashMap<_, _>>(),
    }
}

#[test]
fn sample_structure() {
    let o = test_parser(
        &Registry::load(&Env::from_process()),
        Path::new("qwen-code"),
        &fixture(),
    )
    .unwrap();
    assert_eq!(o.tool, "qwen-code");
    assert_eq!(o.format, "jsonl");
    assert_eq!(o.malformed, 0);
    // Two assistant records; the two `ui_telemetry` api_response records repeat them and are
    // not counted.
    assert_eq!(o.events.len(), 2);
    assert_eq!(o.unique_events, 2);
    let (a, b) = (&o.events[0], &o.events[1]);
    assert_eq!(
        a.dedup_key,
        "qwen-code:c5a42b61-a532-4784-88a1-fb5f254241f9"
    );
    assert_eq!(
        b.dedup_key,
        "qwen-code:f134fbd1-97bd-4cbe-90f3-3ecdfbbc681c"
    );
    assert_eq!(a.merge, Merge::LastWins);
    assert_eq!(
        (a.tokens.input, a.tokens.cache_read, a.tokens.output),
        (500, 0, 20)
    );
    // promptTokenCount 600 includes cachedContentTokenCount 50.
    assert_eq!(
        (b.tokens.input, b.tokens.cache_read, b.tokens.output),
        (550, 50, 5)
    );
    for e in &o.events {
        assert_eq!(e.model.as_deref(), Some("coder-model"));
        assert_eq!(
            e.session_id.as_deref(),
            Some("69f0814a-8bfc-4c8e-93d3-05757f17b96f")
        );
        assert_eq!(e.cwd.as_deref(), Some("/tmp/qwentest"));
        assert_eq!(e.requests, 1);
    }
    assert_eq!(
        a.timestamp_ms,
        tokwatch::event::parse_ts_ms("2026-06-15T14:40:22.909Z").unwrap()
    );
    assert_eq!(o.totals.input, 1050);
    assert_eq!(o.totals.output, 25);
}

#[test]
fn thoughts_are_billed_as_output() {
    let spec = builtin_specs()
        .into_iter()
        .find(|s| s.tool() == "qwen-code")
        .unwrap();
    let line = r#"{"uuid":"u1","sessionId":"s","timestamp":"2026-06-15T14:40:22.909Z","type":"assistant","cwd":"/w","model":"qwen3-coder-plus","usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":30,"thoughtsTokenCount":70,"totalTokenCount":1100,"cachedContentTokenCount":400}}"#;
    let mut out = Vec::new();
    tokwatch::parser::Parser::parse_line(
        &*spec.parser,
        line.as_bytes(),
        Path::new("/q/x.jsonl"),
        &mut FileState::default(),
        &mut out,
    )
    .unwrap();
    let t = out[0].tokens;
    assert_eq!(
        (t.input, t.cache_read, t.output, t.reasoning),
        (600, 400, 100, 70)
    );
    assert_eq!(t.total(), 1100);
}

#[test]
fn roots_follow_home_and_qwen_home() {
    let dir = tempfile::tempdir().unwrap();
    let e = env(dir.path(), &[]);
    let src = Registry::load(&e)
        .sources
        .into_iter()
        .find(|s| s.tool == "qwen-code")
        .unwrap();
    assert_eq!(src.parser.format(), Format::Lines);
    assert_eq!(src.roots, vec![dir.path().join(".qwen/projects")]);
    assert!(src.matches(
        &dir.path()
            .join(".qwen/projects/-tmp-qwentest/chats/69f0814a.jsonl")
    ));
    assert!(!src.matches(
        &dir.path()
            .join(".qwen/projects/-tmp-qwentest/other/69f0814a.jsonl")
    ));

    let e = env(dir.path(), &[("QWEN_HOME", "/opt/qwen,/srv/qwen")]);
    let src = Registry::load(&e)
        .sources
        .into_iter()
        .find(|s| s.tool == "qwen-code")
        .unwrap();
    assert_eq!(
        src.roots,
        vec![
            PathBuf::from("/opt/qwen/projects"),
            PathBuf::from("/srv/qwen/projects")
        ]
    );

    // A real file under the root is found and listed as builtin (spec, not Rust).
    let chats = dir.path().join(".qwen/projects/-tmp-qwentest/chats");
    std::fs::create_dir_all(&chats).unwrap();
    std::fs::copy(fixture(), chats.join("69f0814a.jsonl")).unwrap();
    let e = env(dir.path(), &[]);
    let src = Registry::load(&e)
        .sources
        .into_iter()
        .find(|s| s.tool == "qwen-code")
        .unwrap();
    assert_eq!(src.files(), vec![chats.join("69f0814a.jsonl")]);
    let info = Registry::load(&e)
        .list()
        .into_iter()
        .find(|p| p.tool == "qwen-code")
        .unwrap();
    assert_eq!(info.origin, Origin::Builtin);
    assert_eq!(info.format, "jsonl");
    assert!(info.found);
}

#[test]
fn malformed_records_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.jsonl");
    let good = r#"{"uuid":"g","sessionId":"s","timestamp":"2026-06-15T14:40:22.909Z","type":"assistant","model":"m","usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2}}"#;
    std::fs::write(
        &f,
        [
            r#"{"uuid":"a","sessionId":"s","timestamp":"2026-06-15T14:40:22.909Z","type":"assistant","usageMetadata":{"promptTok"#,
            r#"{"uuid":"b","sessionId":"s","timestamp":"2026-06-15T14:40:22.909Z","type":"assistant","usageMetadata":{"promptTokenCount":"ten"}}"#,
            r#"{"uuid":"c","sessionId":"s","timestamp":"2026-06-15T14:40:22.909Z","type":"assistant","usageMetadata":{"promptTokenCount":1.5}}"#,
            r#"{"uuid":"d","sessionId":"s","type":"assistant","usageMetadata":{"promptTokenCount":1}}"#,
            r#"{"sessionId":"s","timestamp":"2026-06-15T14:40:22.909Z","type":"assistant","usageMetadata":{"promptTokenCount":1}}"#,
            good,
        ]
        .join("\n"),
    )
    .unwrap();
    let o = test_parser(
        &Registry::load(&Env::from_process()),
        Path::new("qwen-code"),
        &f,
    )
    .unwrap();
    assert_eq!(o.malformed, 5);
    assert_eq!(o.events.len(), 1);
    assert_eq!(o.totals.input, 10);
    assert!(o.first_error.unwrap().starts_with("line 1:"));
}
