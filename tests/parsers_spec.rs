//! The plug-in spec engine: user specs loaded from a temporary config directory
//! (`TOKWATCH_CONFIG_DIR`), every format (jsonl, json, sqlite, regex), every counting rule, clear
//! errors for bad specs, and malformed records in each format. Tools used here that have no
//! public sample (`tally`, `ledgerly`, the SQLite table) are made up from the documented spec
//! format; the Claude Code and Copilot CLI specs run over the real samples in fixtures/ and must
//! reproduce fixtures/EXPECTED.md.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokwatch::cli::parsers::render_parsers_text;
use tokwatch::cli::parsers::render_spec_test_text;
use tokwatch::dedup::merge;
use tokwatch::env::Env;
use tokwatch::event::{Merge, Tokens, UsageEvent};
use tokwatch::parser::spec::Spec;
use tokwatch::parser::{FileState, Format, Parser};
use tokwatch::registry::list::test_parser;
use tokwatch::registry::specs::expand;
use tokwatch::registry::specs::load_user_specs;
use tokwatch::registry::Origin;
use tokwatch::registry::Registry;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env(home: &Path, config: &Path, vars: &[(&str, &str)]) -> Env {
    let mut m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    m.insert("TOKWATCH_CONFIG_DIR".into(), config.display().to_string());
    Env {
        home: home.to_path_buf(),
        vars: m,
    }
}

fn run_lines(
    p: &dyn Parser,
    path: &Path,
    text: &str,
    st: &mut FileState,
) -> (Vec<UsageEvent>, u64) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        if p.parse_line(line.as_bytes(), path, st, &mut out).is_err() {
            bad += 1;
        }
    }
    (out, bad)
}

fn sum(events: &[UsageEvent]) -> (Tokens, usize) {
    let u = merge(events.to_vec());
    let mut t = Tokens::default();
    for e in &u {
        t.add(&e.tokens);
    }
    (t, u.len())
}

const TALLY: &str = r#"
# A made-up tool that prints humanized usage lines (regex format).
tool = "tally"
format = "regex"

[paths]
default = ["~/.tally/logs"]
patterns = ["*.log"]

[regex]
usage = '^usage in=(?P<in>\S+) out=(?P<out>\S+) cached=(?P<cached>\S+)'
state = ['^=== session (?P<session>\S+) started (?P<started>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) model=(?P<model>\S+)']

[fields]
timestamp = "started"
session = "session"
model = "model"
cwd = "@dir"

[tokens]
input = "in"
output = "out"
cache_read = "cached"
input_includes = ["cache_read"]
humanized = true

[count]
rule = "per_record"
"#;

const TALLY_LOG: &str = "=== session 7f3a started 2026-03-01 10:00:00 model=acme-large
usage in=1.2k out=350 cached=800
usage in=12x out=5 cached=0
something else entirely
usage in=999 out=1 cached=0
";

#[test]
fn user_spec_from_config_dir_extracts_events() {
    let dir = tempfile::tempdir().unwrap();
    let (home, cfg) = (dir.path().join("home"), dir.path().join("cfg"));
    std::fs::create_dir_all(cfg.join("parsers")).unwrap();
    std::fs::write(cfg.join("parsers/tally.toml"), TALLY).unwrap();
    let logs = home.join(".tally/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("today.log");
    std::fs::write(&log, TALLY_LOG).unwrap();
    let e = env(&home, &cfg, &[]);

    let reg = Registry::load(&e);
    let errors = reg.problems;
    let sources: Vec<_> = reg
        .sources
        .into_iter()
        .filter(|s| s.origin == Origin::User)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sources.len(), 1);
    let src = &sources[0];
    assert_eq!(src.tool, "tally");
    assert_eq!(src.roots, vec![logs.clone()]);
    assert_eq!(src.files(), vec![log.clone()]);
    assert_eq!(src.parser.format(), Format::Lines);

    let (events, bad) = run_lines(&*src.parser, &log, TALLY_LOG, &mut FileState::default());
    assert_eq!(bad, 1, "the line with garbage numbers");
    assert_eq!(events.len(), 2);
    let (a, b) = (&events[0], &events[1]);
    assert_eq!(
        (a.tokens.input, a.tokens.cache_read, a.tokens.output),
        (400, 800, 350)
    );
    assert!(a.estimated, "1.2k is rounded");
    assert_eq!((b.tokens.input, b.tokens.output), (999, 1));
    assert!(!b.estimated, "999 is exact");
    for ev in &events {
        assert_eq!(ev.tool, "tally");
        assert_eq!(ev.model.as_deref(), Some("acme-large"));
        assert_eq!(ev.session_id.as_deref(), Some("7f3a"));
        assert_eq!(ev.cwd.as_deref(), Some(logs.to_str().unwrap()));
        assert_eq!(ev.merge, Merge::FirstWins);
        assert_eq!(
            ev.timestamp_ms,
            tokwatch::event::parse_ts_ms("2026-03-01T10:00:00Z").unwrap()
        );
    }
    assert_eq!(a.dedup_key, format!("tally:{}:2", log.display()));
    assert_eq!(b.dedup_key, format!("tally:{}:5", log.display()));

    // Listed as a user parser, its root found.
    let list = Registry::load(&e).list();
    let info = list.iter().find(|p| p.tool == "tally").unwrap();
    assert_eq!(info.origin, Origin::User);
    assert_eq!(info.format, "regex");
    assert!(info.found);
    assert_eq!(
        info.spec_file.as_deref(),
        Some(cfg.join("parsers/tally.toml").as_path())
    );
    let text = render_parsers_text(&list);
    assert!(text.contains("tally") && text.contains("user") && text.contains("regex"));
    // The Rust tools of this registry are there too.
    for t in [
        "gemini-cli",
        "copilot-cli",
        "cline",
        "roo-code",
        "kilo-code",
        "aider",
        "amp",
        "qwen-code",
    ] {
        assert!(
            list.iter().any(|p| p.tool == t),
            "{t} missing from the list"
        );
    }

    // `parsers test` on the same pair.
    let o = test_parser(
        &Registry::load(&Env::from_process()),
        &cfg.join("parsers/tally.toml"),
        &log,
    )
    .unwrap();
    assert_eq!((o.events.len(), o.malformed, o.lines), (2, 1, 5));
    assert!(o.first_error.as_deref().unwrap().starts_with("line 3:"));
    assert!(
        !o.first_error.as_deref().unwrap().contains("12x"),
        "no log text in errors"
    );
    let rendered = render_spec_test_text(&o);
    assert!(rendered.contains("2 events, 2 after dedup"));
    assert!(rendered.contains("malformed records: 1"));
    let json = serde_json::to_value(&o).unwrap();
    assert_eq!(json["events"].as_array().unwrap().len(), 2);
}

#[test]
fn incremental_regex_reads_carry_the_session_header() {
    let spec = Spec::parse(TALLY, "tally.toml").unwrap();
    let path = Path::new("/logs/a.log");
    let mut st = FileState::default();
    let lines: Vec<&str> = TALLY_LOG.lines().collect();
    let (mut a, _) = run_lines(&*spec.parser, path, &lines[..2].join("\n"), &mut st);
    let mut st: FileState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    let (b, _) = run_lines(&*spec.parser, path, &lines[2..].join("\n"), &mut st);
    a.extend(b);
    let (whole, _) = run_lines(&*spec.parser, path, TALLY_LOG, &mut FileState::default());
    assert_eq!(a, whole);
    assert_eq!(a[1].model.as_deref(), Some("acme-large"));
}

#[test]
fn bad_user_specs_report_file_and_field_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let (home, cfg) = (dir.path().join("home"), dir.path().join("cfg"));
    let pd = cfg.join("parsers");
    std::fs::create_dir_all(&pd).unwrap();
    let cases: &[(&str, String, &str)] = &[
        (
            "a-type.toml",
            TALLY.replace("input = \"in\"", "input = 5"),
            "tokens.input",
        ),
        (
            "b-typo.toml",
            TALLY.replace("rule = \"per_record\"", "rul = \"per_record\""),
            "count.rul",
        ),
        (
            "c-key.toml",
            TALLY.replace("rule = \"per_record\"", "rule = \"last_wins\""),
            "count.key",
        ),
        (
            "d-regex.toml",
            TALLY.replace("^usage in=(?P<in>", "^usage in=((?P<in>"),
            "regex.usage",
        ),
        (
            "e-path.toml",
            TALLY.replace("model = \"model\"", "model = \"a..b\""),
            "fields.model",
        ),
        (
            "f-glob.toml",
            TALLY.replace("patterns = [\"*.log\"]", "patterns = [\"[*.log\"]"),
            "paths.patterns[0]",
        ),
        (
            "g-tool.toml",
            TALLY.replace("tool = \"tally\"", "tool = \"Tally Tool\""),
            "tool",
        ),
        (
            "h-syntax.toml",
            "tool = \"x\"\nformat = jsonl\n".to_string(),
            "format",
        ),
        (
            "i-ts.toml",
            TALLY.replace(
                "timestamp = \"started\"",
                "timestamp = \"started\"\ntimestamp_format = \"sometimes\"",
            ),
            "fields.timestamp_format",
        ),
        (
            "j-missing.toml",
            TALLY.replace("timestamp = \"started\"\n", ""),
            "fields.timestamp",
        ),
        (
            "k-table.toml",
            TALLY.replace("[count]", "[selekt]\nx = 1\n\n[count]"),
            "selekt",
        ),
        (
            "l-missing-top.toml",
            TALLY.replace("tool = \"tally\"\n", ""),
            "tool",
        ),
        (
            "m-bucket.toml",
            TALLY.replace(
                "input_includes = [\"cache_read\"]",
                "input_includes = [\"cache\"]",
            ),
            "tokens.input_includes",
        ),
    ];
    for (name, text, _) in cases {
        std::fs::write(pd.join(name), text).unwrap();
    }
    std::fs::write(pd.join("z-good.toml"), TALLY).unwrap();
    std::fs::write(pd.join("z-good-twice.toml"), TALLY).unwrap();
    std::fs::write(pd.join("notes.txt"), "not a spec").unwrap();
    let e = env(&home, &cfg, &[]);
    let reg = Registry::load(&e);
    let errors = reg.problems;
    let sources: Vec<_> = reg
        .sources
        .into_iter()
        .filter(|s| s.origin == Origin::User)
        .collect();
    assert_eq!(sources.len(), 1, "the good spec still loads");
    assert_eq!(errors.len(), cases.len() + 1);
    for (name, _, field) in cases {
        let err = errors
            .iter()
            .find(|er| er.file.ends_with(name))
            .unwrap_or_else(|| panic!("no error for {name}"));
        assert_eq!(err.field.as_deref(), Some(*field), "{name}: {err}");
        let shown = err.to_string();
        assert!(shown.contains(name) && shown.contains(field), "{shown}");
    }
    // Files load in name order: `z-good-twice.toml` sorts first, so `z-good.toml` is the repeat.
    let dup = errors
        .iter()
        .find(|er| er.file.ends_with("z-good.toml"))
        .unwrap();
    assert!(
        dup.to_string().contains("already declares `tally`"),
        "{dup}"
    );
    assert_eq!(
        Registry::load(&e)
            .sources
            .into_iter()
            .filter(|s| s.origin == Origin::User)
            .collect::<Vec<_>>()
            .len(),
        1
    );
    let list = Registry::load(&e).list();
    assert_eq!(
        list.iter().filter(|p| p.error.is_some()).count(),
        cases.len() + 1
    );
}

#[test]
fn user_spec_replaces_a_builtin_tool() {
    let dir = tempfile::tempdir().unwrap();
    let (home, cfg) = (dir.path().join("home"), dir.path().join("cfg"));
    std::fs::create_dir_all(cfg.join("parsers")).unwrap();
    let mine = std::fs::read_to_string(manifest().join("parsers/qwen-code.toml"))
        .unwrap()
        .replace(
            "default = [\"~/.qwen/projects\"]",
            "default = [\"~/elsewhere/qwen\"]",
        );
    std::fs::write(cfg.join("parsers/my-qwen.toml"), mine).unwrap();
    let e = env(&home, &cfg, &[]);
    assert!(Registry::load(&e)
        .builtin_sources()
        .all(|s| s.tool != "qwen-code"));
    let user = Registry::load(&e)
        .sources
        .into_iter()
        .filter(|s| s.origin == Origin::User)
        .collect::<Vec<_>>();
    assert_eq!(user.len(), 1);
    assert_eq!(user[0].roots, vec![home.join("elsewhere/qwen")]);
    let list = Registry::load(&e).list();
    let q: Vec<_> = list.iter().filter(|p| p.tool == "qwen-code").collect();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].origin, Origin::User);
    // Without the user spec the built-in is back.
    let e2 = env(&home, &dir.path().join("empty-cfg"), &[]);
    assert!(load_user_specs(&e2).specs.is_empty());
    assert!(Registry::load(&e2)
        .sources
        .iter()
        .any(|s| s.tool == "qwen-code"));
}

const CLAUDE_SPEC: &str = r#"
tool = "claude-spec"
format = "jsonl"

[paths]
default = ["~/.claude/projects"]
patterns = ["**/*.jsonl"]

[select]
where = { type = "assistant" }
where_not = { message.model = "<synthetic>" }
require = ["message.usage"]

[fields]
timestamp = "timestamp"
model = "message.model"
session = "sessionId"
cwd = "cwd"
branch = "gitBranch"

[tokens]
input = "message.usage.input_tokens"
cache_write_5m = "message.usage.cache_creation.ephemeral_5m_input_tokens"
cache_write_1h = "message.usage.cache_creation.ephemeral_1h_input_tokens"
cache_read = "message.usage.cache_read_input_tokens"
output = "message.usage.output_tokens"

[count]
rule = "keep_max"
key = "{message.id}:{requestId}"
"#;

#[test]
fn keep_max_spec_reproduces_the_claude_samples() {
    let spec = Spec::parse(CLAUDE_SPEC, "claude-spec.toml").unwrap();
    let run = |files: &[PathBuf]| {
        let mut all = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(f).unwrap();
            let (ev, bad) = run_lines(&*spec.parser, f, &text, &mut FileState::default());
            assert_eq!(bad, 0);
            all.extend(ev);
        }
        sum(&all)
    };
    let single = manifest().join("fixtures/claude-code/single");
    let (t, n) = run(&[single.join("short.jsonl")]);
    assert_eq!(
        (
            n,
            t.input,
            t.output,
            t.cache_write_1h,
            t.cache_write_5m,
            t.cache_read
        ),
        (1, 3, 13, 13_835, 0, 11_515)
    );
    let (t, n) = run(&[single.join("tool_heavy.jsonl")]);
    assert_eq!(
        (
            n,
            t.input,
            t.output,
            t.cache_write_5m + t.cache_write_1h,
            t.cache_read
        ),
        (4, 54, 212, 17_696, 88_231)
    );
    let (t, n) = run(&[single.join("subagent.jsonl")]);
    assert_eq!(
        (
            n,
            t.input,
            t.output,
            t.cache_write_5m + t.cache_write_1h,
            t.cache_read
        ),
        (12, 1_576, 1_586, 25_842, 427_286)
    );
    let proj = manifest()
        .join("fixtures/claude-code/projects/-home-USER-projects-spotter-worktrees-spotter-gqc");
    let files = vec![
        proj.join("258c7280-ae70-4798-800f-63464d01a85d.jsonl"),
        proj.join("258c7280-ae70-4798-800f-63464d01a85d/subagents/agent-a881341.jsonl"),
        proj.join("258c7280-ae70-4798-800f-63464d01a85d/subagents/agent-acompact-fffbd0.jsonl"),
    ];
    let (t, n) = run(&files);
    assert_eq!(n, 156);
    assert_eq!(
        (
            t.input,
            t.output,
            t.cache_write_1h,
            t.cache_write_5m,
            t.cache_read
        ),
        (198, 38_908, 394_137, 0, 14_972_534)
    );
}

const COPILOT_SPEC: &str = r#"
tool = "copilot-spec"
format = "jsonl"

[paths]
default = ["~/.copilot/session-state"]
patterns = ["*/events.jsonl"]

[select]
records = "data.modelMetrics.*"
where = { "$.type" = "session.shutdown" }

[fields]
timestamp = "$.timestamp"
model = "@key"
session = "$.data.sessionId"
cwd = "$.data.context.cwd"
branch = "$.data.context.branch"
requests = "requests.count"

[tokens]
input = "usage.inputTokens"
cache_read = "usage.cacheReadTokens"
cache_write = "usage.cacheWriteTokens"
output = "usage.outputTokens"
reasoning = "usage.reasoningTokens"
input_includes = ["cache_read", "cache_write"]

[count]
rule = "cumulative_per_key"
key = "{@session}:{@key}"
"#;

#[test]
fn cumulative_per_key_spec_matches_the_copilot_parser() {
    let spec = Spec::parse(COPILOT_SPEC, "copilot-spec.toml").unwrap();
    let path = manifest().join("fixtures/copilot-cli/events.jsonl");
    let sample = std::fs::read_to_string(&path).unwrap();
    let shutdown = sample
        .lines()
        .find(|l| l.contains("\"session.shutdown\""))
        .unwrap();
    let bigger = shutdown
        .replace("\"inputTokens\":186809", "\"inputTokens\":190000")
        .replace("\"count\":6", "\"count\":7");
    let text = format!("{sample}\n{shutdown}\n{bigger}\n{shutdown}\n");
    let (events, bad) = run_lines(&*spec.parser, &path, &text, &mut FileState::default());
    assert_eq!(bad, 0);
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(
        (
            e.tokens.input,
            e.tokens.cache_read,
            e.tokens.output,
            e.tokens.reasoning
        ),
        (35_071, 151_738, 2_848, 1_024)
    );
    assert_eq!(e.requests, 6);
    assert_eq!(e.model.as_deref(), Some("claude-sonnet-4.6"));
    assert_eq!(
        e.session_id.as_deref(),
        Some("96ef38f0-9d09-45c3-8124-6448c36090ed")
    );
    assert_eq!(
        e.branch.as_deref(),
        Some("refactor/gemini-copilot-new-formats")
    );
    assert_eq!(
        e.dedup_key,
        "copilot-spec:96ef38f0-9d09-45c3-8124-6448c36090ed:claude-sonnet-4.6:1"
    );
    assert_eq!(
        (events[1].tokens.input, events[1].requests),
        (190_000 - 186_809, 1)
    );

    // Same numbers as the Rust parser on the same text.
    let mut rust = Vec::new();
    let mut st = FileState::default();
    for l in text.lines() {
        tokwatch::parser::copilot::CopilotParser
            .parse_line(l.as_bytes(), &path, &mut st, &mut rust)
            .unwrap();
    }
    assert_eq!(sum(&rust).0, sum(&events).0);
}

#[test]
fn cumulative_per_file_counts_increases_only() {
    let spec_text = r#"
tool = "runner"
format = "jsonl"
[paths]
default = ["~/.runner"]
patterns = ["*.jsonl"]
[select]
require = ["totals"]
[fields]
timestamp = "t"
timestamp_format = "epoch_s"
model = "model"
[tokens]
input = "totals.in"
output = "totals.out"
[count]
rule = "cumulative_per_file"
"#;
    let spec = Spec::parse(spec_text, "runner.toml").unwrap();
    let text = r#"{"t":1781220419,"model":"m","totals":{"in":100,"out":10}}
{"t":1781220420,"model":"m","totals":{"in":100,"out":10}}
{"t":1781220421,"totals":{"in":150,"out":12}}
{"t":1781220422,"totals":{"in":"x"}}
{"t":1781220423,"totals":{"in":120,"out":12}}
{"t":1781220424,"totals":{"in":160,"out":20}}"#;
    let (events, bad) = run_lines(
        &*spec.parser,
        Path::new("/r/a.jsonl"),
        text,
        &mut FileState::default(),
    );
    assert_eq!(bad, 1);
    let got: Vec<(i64, i64)> = events
        .iter()
        .map(|e| (e.tokens.input, e.tokens.output))
        .collect();
    assert_eq!(got, [(100, 10), (50, 2), (10, 8)]);
    assert_eq!(events[2].timestamp_ms, 1_781_220_424_000);
    assert_eq!(
        events[2].model.as_deref(),
        Some("m"),
        "model carried from earlier records"
    );
    assert_eq!(events[2].dedup_key, "runner:/r/a.jsonl:3");
}

const LEDGERLY: &str = r#"
tool = "ledgerly"
format = "json"
[paths]
default = ["~/.ledgerly/threads"]
patterns = ["*.json"]
[select]
records = "events"
[fields]
timestamp = "at"
timestamp_format = "epoch_ms"
session = "$.id"
cwd = "$.cwd"
model = "model"
cost_usd = "cost"
[tokens]
input = "in"
output = "out"
[count]
rule = "last_wins"
key = "{$.id}:{id}"
"#;

#[test]
fn whole_file_json_spec_with_malformed_records_and_documents() {
    let spec = Spec::parse(LEDGERLY, "ledgerly.toml").unwrap();
    assert_eq!(spec.parser.format(), Format::WholeFile);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("T-1.json");
    std::fs::write(
        &f,
        r#"{"id":"T-1","cwd":"/w/p","events":[
            {"id":"e1","at":1781220419000,"model":"m1","in":100,"out":10,"cost":0.01},
            {"id":"e2","at":"bad","in":1},
            {"id":"e3","at":1781220420000,"model":"m2","in":{"n":1}},
            {"id":"e4","at":1781220421000,"model":"m1","in":5,"out":1}]}"#,
    )
    .unwrap();
    let mut out = Vec::new();
    let r = spec
        .parser
        .parse_whole(&f, &mut FileState::default(), &mut out)
        .unwrap();
    assert_eq!(r.malformed, 2);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].dedup_key, "ledgerly:T-1:e1");
    assert_eq!(out[0].session_id.as_deref(), Some("T-1"));
    assert_eq!(out[0].cwd.as_deref(), Some("/w/p"));
    assert_eq!(out[0].reported_cost_usd, Some(0.01));
    assert_eq!(out[1].tokens.input, 5);
    // Re-reading the rewritten document gives the same keys.
    let mut again = Vec::new();
    spec.parser
        .parse_whole(&f, &mut FileState::default(), &mut again)
        .unwrap();
    assert_eq!(out, again);
    // A document that does not parse: one malformed record, not an error.
    std::fs::write(&f, r#"{"id":"T-1","events":[{"id":"e1""#).unwrap();
    let mut out = Vec::new();
    let r = spec
        .parser
        .parse_whole(&f, &mut FileState::default(), &mut out)
        .unwrap();
    assert_eq!((r.malformed, out.len()), (1, 0));
    // An unreadable source is an error.
    assert!(spec
        .parser
        .parse_whole(
            &dir.path().join("gone.json"),
            &mut FileState::default(),
            &mut out
        )
        .is_err());
}

const SQLITE_SPEC: &str = r#"
tool = "sqlish"
format = "sqlite"
[paths]
default = ["${XDG_DATA_HOME:-~/.local/share}/sqlish"]
patterns = ["*.db"]
[sqlite]
query = "SELECT id, session_id, time_created, time_updated, data FROM message WHERE time_updated > :watermark ORDER BY time_updated"
watermark = "time_updated"
[select]
where = { "data.role" = "assistant" }
[fields]
timestamp = "time_created"
session = "session_id"
model = "data.modelID"
provider = "data.providerID"
cwd = "data.path.cwd"
cost_usd = "data.cost"
[tokens]
input = "data.tokens.input"
output = "data.tokens.output"
reasoning = "data.tokens.reasoning"
cache_read = "data.tokens.cache.read"
cache_write = "data.tokens.cache.write"
reasoning_in_output = false
[count]
rule = "last_wins"
key = "{id}"
"#;

#[test]
fn sqlite_spec_reads_read_only_and_incrementally() {
    let spec = Spec::parse(SQLITE_SPEC, "sqlish.toml").unwrap();
    assert_eq!(spec.parser.format(), Format::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE message(id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, time_updated INTEGER, data TEXT);",
    )
    .unwrap();
    let row = |id: &str, upd: i64, data: &str| {
        conn.execute(
            "INSERT OR REPLACE INTO message VALUES(?1, 'ses_1', 1781083156415, ?2, ?3)",
            rusqlite::params![id, upd, data],
        )
        .unwrap();
    };
    let a = r#"{"role":"assistant","modelID":"claude-sonnet-4.6","providerID":"github-copilot","path":{"cwd":"/home/u/proj"},"cost":0,"tokens":{"input":11387,"output":153,"reasoning":7,"cache":{"read":10,"write":20}}}"#;
    row("msg_a", 1, a);
    row("msg_u", 2, r#"{"role":"user"}"#);
    row(
        "msg_bad",
        3,
        r#"{"role":"assistant","tokens":{"input":"lots"}}"#,
    );
    let before = std::fs::read(&db).unwrap();
    let mut st = FileState::default();
    let mut out = Vec::new();
    let r = spec.parser.parse_whole(&db, &mut st, &mut out).unwrap();
    assert_eq!(r.malformed, 1);
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e.dedup_key, "sqlish:msg_a");
    assert_eq!(
        (
            e.tokens.input,
            e.tokens.output,
            e.tokens.reasoning,
            e.tokens.cache_read,
            e.tokens.cache_write_5m
        ),
        (11387, 160, 7, 10, 20)
    );
    assert_eq!(e.model.as_deref(), Some("claude-sonnet-4.6"));
    assert_eq!(e.provider.as_deref(), Some("github-copilot"));
    assert_eq!(e.cwd.as_deref(), Some("/home/u/proj"));
    assert_eq!(e.session_id.as_deref(), Some("ses_1"));
    assert_eq!(e.reported_cost_usd, Some(0.0));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is not modified"
    );
    // Next read: only rows updated since the watermark.
    row("msg_a", 4, &a.replace("\"output\":153", "\"output\":200"));
    row("msg_c", 5, a);
    let mut out = Vec::new();
    let r = spec.parser.parse_whole(&db, &mut st, &mut out).unwrap();
    assert_eq!(r.malformed, 0);
    let keys: Vec<_> = out.iter().map(|e| e.dedup_key.as_str()).collect();
    assert_eq!(keys, ["sqlish:msg_a", "sqlish:msg_c"]);
    assert_eq!(out[0].tokens.output, 207);
    // A query that writes is refused.
    let w = SQLITE_SPEC.replace(
        "SELECT id, session_id, time_created, time_updated, data FROM message WHERE time_updated > :watermark ORDER BY time_updated",
        "DELETE FROM message WHERE time_updated > :watermark",
    );
    let ws = Spec::parse(&w, "w.toml").unwrap();
    assert!(ws
        .parser
        .parse_whole(&db, &mut FileState::default(), &mut Vec::new())
        .is_err());
    let n: i64 = conn
        .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 4, "nothing was deleted");
}

#[test]
fn per_record_keys_are_stable_line_numbers_and_paths_accept_quoted_keys() {
    let spec_text = r#"
tool = "telemetry"
format = "jsonl"
[paths]
default = ["~/.t"]
patterns = ["*.jsonl"]
[select]
where = { 'ev["event.name"]' = ["api_response", "api_reply"] }
[fields]
timestamp = 'ev["event.timestamp"]'
[tokens]
input = "ev.in"
[count]
rule = "per_record"
"#;
    let spec = Spec::parse(spec_text, "t.toml").unwrap();
    let text = r#"{"ev":{"event.name":"api_response","event.timestamp":"2026-01-01T00:00:00Z","in":5}}

{"ev":{"event.name":"tool_call","event.timestamp":"2026-01-01T00:00:01Z","in":9}}
{"ev":{"event.name":"api_reply","event.timestamp":"2026-01-01T00:00:02Z","in":7}}"#;
    let (a, _) = run_lines(
        &*spec.parser,
        Path::new("/t/x.jsonl"),
        text,
        &mut FileState::default(),
    );
    let keys: Vec<_> = a.iter().map(|e| e.dedup_key.clone()).collect();
    // The blank line is not numbered.
    assert_eq!(keys, ["telemetry:/t/x.jsonl:1", "telemetry:/t/x.jsonl:3"]);
    let mut b = Vec::new();
    let mut st = FileState::default();
    for line in text.split('\n') {
        // Blank lines handed over too, as some readers do.
        spec.parser
            .parse_line(line.as_bytes(), Path::new("/t/x.jsonl"), &mut st, &mut b)
            .unwrap();
    }
    assert_eq!(a, b);
    assert_eq!(a[1].tokens.input, 7);
}

#[test]
fn root_expansion() {
    let e = Env {
        home: PathBuf::from("/home/u"),
        vars: [("XDG_DATA_HOME".to_string(), "/data".to_string())]
            .into_iter()
            .collect(),
    };
    assert_eq!(expand("~/.x", &e), Some(PathBuf::from("/home/u/.x")));
    assert_eq!(
        expand("${XDG_DATA_HOME:-~/.local/share}/amp", &e),
        Some(PathBuf::from("/data/amp"))
    );
    assert_eq!(
        expand("${XDG_CONFIG_HOME:-~/.config}/x", &e),
        Some(PathBuf::from("/home/u/.config/x"))
    );
    assert_eq!(
        expand("$XDG_DATA_HOME/y", &e),
        Some(PathBuf::from("/data/y"))
    );
    assert_eq!(
        expand("$NOPE/y", &e),
        None,
        "an unset variable drops the entry"
    );
    assert_eq!(expand("${NOPE}/y", &e), None);
}

/// The code block that follows `<!-- example: NAME -->` in docs/parsers.md.
fn doc_block(doc: &str, marker: &str) -> String {
    let at = doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in docs/parsers.md"));
    let rest = &doc[at..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn the_worked_example_in_the_docs_is_true() {
    let doc = std::fs::read_to_string(manifest().join("docs/parsers.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (home, cfg) = (dir.path().join("home"), dir.path().join("cfg"));
    std::fs::create_dir_all(cfg.join("parsers")).unwrap();
    let spec = cfg.join("parsers/acme-agent.toml");
    std::fs::write(&spec, doc_block(&doc, "<!-- example: acme-agent.toml -->")).unwrap();
    let sessions = home.join(".acme/sessions/2026-05-04");
    std::fs::create_dir_all(&sessions).unwrap();
    let log = sessions.join("s-42.jsonl");
    std::fs::write(&log, doc_block(&doc, "<!-- example: s-42.jsonl -->")).unwrap();

    // The output shown in the docs, from the table header on.
    let console = &doc[doc.find("$ tokwatch parsers test").unwrap()..];
    let console = &console[..console.find("```").unwrap()];
    let shown: Vec<&str> = console
        .lines()
        .skip_while(|l| !l.starts_with("time "))
        .collect();
    let o = test_parser(&Registry::load(&Env::from_process()), &spec, &log).unwrap();
    let text = render_spec_test_text(&o);
    let got: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("time "))
        .collect();
    assert_eq!(got, shown);

    // And as a user spec found by tokwatch under the config directory.
    let e = env(&home, &cfg, &[]);
    let src = Registry::load(&e)
        .sources
        .into_iter()
        .filter(|s| s.origin == Origin::User)
        .collect::<Vec<_>>()
        .into_iter()
        .find(|s| s.tool == "acme-agent")
        .unwrap();
    assert_eq!(src.files(), vec![log.clone()]);
    let e2 = env(&home, &cfg, &[("ACME_HOME", "/opt/acme")]);
    let src = Registry::load(&e2)
        .sources
        .into_iter()
        .filter(|s| s.origin == Origin::User)
        .collect::<Vec<_>>()
        .into_iter()
        .find(|s| s.tool == "acme-agent")
        .unwrap();
    assert_eq!(src.roots, vec![PathBuf::from("/opt/acme/sessions")]);
    let unique = merge(o.events.to_vec());
    assert_eq!(unique[0].cwd.as_deref(), Some("/home/me/src/shop"));
    assert_eq!(unique[0].branch.as_deref(), Some("main"));
    assert_eq!(unique[0].reported_cost_usd, Some(0.0034));
}

#[test]
fn input_includes_names_every_bucket() {
    let spec_text = r#"
tool = "buckets"
format = "jsonl"
[paths]
default = ["~/.b"]
patterns = ["*.jsonl"]
[fields]
timestamp = "t"
[tokens]
input = "in"
cache_read = "cr"
cache_write_5m = "w5"
cache_write_1h = "w1"
output = "out"
input_includes = ["cache_read", "cache_write_5m", "cache_write_1h"]
[count]
rule = "last_wins"
key = "{id}"
"#;
    let spec = Spec::parse(spec_text, "b.toml").unwrap();
    let line =
        r#"{"id":"a","t":"2026-01-01T00:00:00Z","in":1000,"cr":500,"w5":100,"w1":50,"out":9}"#;
    let (ev, bad) = run_lines(
        &*spec.parser,
        Path::new("/b/x.jsonl"),
        line,
        &mut FileState::default(),
    );
    assert_eq!(bad, 0);
    let t = ev[0].tokens;
    assert_eq!(
        (
            t.input,
            t.cache_read,
            t.cache_write_5m,
            t.cache_write_1h,
            t.output
        ),
        (350, 500, 100, 50, 9)
    );
    let both = spec_text.replace("\"cache_write_5m\", \"cache_write_1h\"", "\"cache_write\"");
    assert_ne!(both, spec_text);
    let spec = Spec::parse(&both, "b.toml").unwrap();
    let (ev, _) = run_lines(
        &*spec.parser,
        Path::new("/b/x.jsonl"),
        line,
        &mut FileState::default(),
    );
    assert_eq!(ev[0].tokens.input, 350);
}
