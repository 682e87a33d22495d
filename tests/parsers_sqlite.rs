//! SQLite-backed tools: OpenCode / Kilo CLI, Crush, Cursor (+ the dashboard CSV import).
//!
//! There are no public sample databases of these tools, so every fixture is built here by test
//! code with the tool's real schema:
//! - OpenCode: `CREATE TABLE` statements of `packages/core/src/database/schema.gen.ts`
//!   (anomalyco/opencode), plus `session_v2` with the fork columns as documented in
//!   log-formats §4 (ccusage issue #1780);
//! - Crush: `internal/db/migrations/20250424200609_initial.sql` (charmbracelet/crush), with its
//!   triggers, plus the later `messages.provider` column;
//! - Cursor: VS Code's `ItemTable` / Cursor's `cursorDiskKV` key-value tables (log-formats §5).

mod util;

use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use tokwatch::env::Env;
use tokwatch::event::{Merge, Tokens, UsageEvent};
use tokwatch::parser::crush::CrushParser;
use tokwatch::parser::cursor::{parse_cursor_csv, CursorParser};
use tokwatch::parser::opencode::{Flavor, OpenCodeDb, OpenCodeLegacy};
use tokwatch::parser::sqlite_ro;
use tokwatch::parser::{FileState, Format, Parser, WholeReport};
use util::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn parse(p: &dyn Parser, path: &Path, st: &mut FileState) -> (Vec<UsageEvent>, WholeReport) {
    let mut out = Vec::new();
    let r = p
        .parse_whole(path, st, &mut out)
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
    (out, r)
}

fn total(evs: &[UsageEvent]) -> Tokens {
    let mut t = Tokens::default();
    for e in evs {
        t.add(&e.tokens);
    }
    t
}

fn keys(evs: &[UsageEvent]) -> Vec<String> {
    let mut k: Vec<String> = evs.iter().map(|e| e.dedup_key.clone()).collect();
    k.sort();
    k
}

fn ev<'a>(evs: &'a [UsageEvent], key: &str) -> &'a UsageEvent {
    evs.iter()
        .find(|e| e.dedup_key == key)
        .unwrap_or_else(|| panic!("no event {key}: {:?}", keys(evs)))
}

/// A database the way the tools open theirs: WAL journal.
fn writer(path: &Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const OC: OpenCodeDb = OpenCodeDb {
    flavor: Flavor::OpenCode,
};

// OpenCode, packages/core/src/database/schema.gen.ts (v1 tables, and the v2 `session_message`).
const OPENCODE_SCHEMA: &str = "
CREATE TABLE `project` (
  `id` text PRIMARY KEY, `worktree` text NOT NULL, `vcs` text, `name` text, `icon_url` text,
  `icon_url_override` text, `icon_color` text, `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL, `time_initialized` integer, `sandboxes` text NOT NULL,
  `commands` text
);
CREATE TABLE `message` (
  `id` text PRIMARY KEY,
  `session_id` text NOT NULL,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `data` text NOT NULL,
  CONSTRAINT `fk_message_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`) ON DELETE CASCADE
);
CREATE TABLE `part` (
  `id` text PRIMARY KEY,
  `message_id` text NOT NULL,
  `session_id` text NOT NULL,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `data` text NOT NULL,
  CONSTRAINT `fk_part_message_id_message_id_fk` FOREIGN KEY (`message_id`) REFERENCES `message`(`id`) ON DELETE CASCADE
);
CREATE TABLE `session_message` (
  `id` text PRIMARY KEY,
  `session_id` text NOT NULL,
  `type` text NOT NULL,
  `seq` integer NOT NULL,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `data` text NOT NULL,
  CONSTRAINT `fk_session_message_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`) ON DELETE CASCADE
);
CREATE TABLE `session` (
  `id` text PRIMARY KEY, `project_id` text NOT NULL, `workspace_id` text, `parent_id` text,
  `slug` text NOT NULL, `directory` text NOT NULL, `path` text, `title` text NOT NULL,
  `version` text NOT NULL, `share_url` text, `summary_additions` integer,
  `summary_deletions` integer, `summary_files` integer, `summary_diffs` text, `metadata` text,
  `cost` real DEFAULT 0 NOT NULL, `tokens_input` integer DEFAULT 0 NOT NULL,
  `tokens_output` integer DEFAULT 0 NOT NULL, `tokens_reasoning` integer DEFAULT 0 NOT NULL,
  `tokens_cache_read` integer DEFAULT 0 NOT NULL, `tokens_cache_write` integer DEFAULT 0 NOT NULL,
  `revert` text, `permission` text, `agent` text, `model` text,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL, `time_compacting` integer,
  `time_archived` integer,
  CONSTRAINT `fk_session_project_id_project_id_fk` FOREIGN KEY (`project_id`) REFERENCES `project`(`id`) ON DELETE CASCADE
);
CREATE INDEX `message_session_time_created_id_idx` ON `message` (`session_id`,`time_created`,`id`);
CREATE INDEX `part_message_id_id_idx` ON `part` (`message_id`,`id`);
CREATE INDEX `part_session_idx` ON `part` (`session_id`);
CREATE UNIQUE INDEX `session_message_session_seq_idx` ON `session_message` (`session_id`,`seq`);
CREATE INDEX `session_message_session_type_seq_idx` ON `session_message` (`session_id`,`type`,`seq`);
CREATE INDEX `session_message_session_time_created_id_idx` ON `session_message` (`session_id`,`time_created`,`id`);
CREATE INDEX `session_project_idx` ON `session` (`project_id`);
";

// OpenCode 2.x sessions with fork columns (log-formats §4: session_v2(id, project_id,
// workspace_id, parent_id, fork_session_id, fork_boundary, directory, path, title, model, cost,
// tokens_*), ccusage #1780).
const OPENCODE_SESSION_V2: &str = "
CREATE TABLE `session_v2` (
  `id` text PRIMARY KEY, `project_id` text NOT NULL, `workspace_id` text, `parent_id` text,
  `fork_session_id` text, `fork_boundary` text, `directory` text NOT NULL, `path` text,
  `title` text NOT NULL, `model` text, `cost` real DEFAULT 0 NOT NULL,
  `tokens_input` integer DEFAULT 0 NOT NULL, `tokens_output` integer DEFAULT 0 NOT NULL,
  `tokens_reasoning` integer DEFAULT 0 NOT NULL, `tokens_cache_read` integer DEFAULT 0 NOT NULL,
  `tokens_cache_write` integer DEFAULT 0 NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL
);
";

const T0: i64 = 1_771_083_156_415; // ms, 2026-02-14

fn oc_db(path: &Path) -> Connection {
    let c = writer(path);
    c.execute_batch(OPENCODE_SCHEMA).unwrap();
    c.execute(
        "INSERT INTO project(id, worktree, time_created, time_updated, sandboxes)
         VALUES('prj_1', '/home/u/proj', ?1, ?1, '[]')",
        [T0],
    )
    .unwrap();
    c
}

fn oc_session(c: &Connection, id: &str, dir: &str) {
    c.execute(
        "INSERT INTO session(id, project_id, slug, directory, title, version, time_created, time_updated)
         VALUES(?1, 'prj_1', ?1, ?2, 't', '1.2.0', ?3, ?3)",
        params![id, dir, T0],
    )
    .unwrap();
}

fn oc_msg(c: &Connection, id: &str, session: &str, t: i64, data: &str) {
    c.execute(
        "INSERT INTO message(id, session_id, time_created, time_updated, data) VALUES(?1, ?2, ?3, ?3, ?4)",
        params![id, session, t, data],
    )
    .unwrap();
}

fn oc_part(c: &Connection, id: &str, msg: &str, session: &str, t: i64, data: &str) {
    c.execute(
        "INSERT INTO part(id, message_id, session_id, time_created, time_updated, data) VALUES(?1, ?2, ?3, ?4, ?4, ?5)",
        params![id, msg, session, t, data],
    )
    .unwrap();
}

fn oc_v2(c: &Connection, id: &str, session: &str, kind: &str, seq: i64, t: i64, data: &str) {
    c.execute(
        "INSERT INTO session_message(id, session_id, type, seq, time_created, time_updated, data)
         VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![id, session, kind, seq, t, data],
    )
    .unwrap();
}

/// `message.data` of an assistant message (shape of log-formats §4 (e)).
fn asst(t: i64, model: &str, provider: &str, cost: f64, tok: (i64, i64, i64, i64, i64)) -> String {
    let (input, output, reasoning, read, write) = tok;
    format!(
        r#"{{"role":"assistant","time":{{"created":{t},"completed":{}}},"parentID":"msg_u","modelID":"{model}","providerID":"{provider}","mode":"build","agent":"build","path":{{"cwd":"/home/u/proj/sub","root":"/home/u/proj"}},"cost":{cost},"tokens":{{"total":0,"input":{input},"output":{output},"reasoning":{reasoning},"cache":{{"read":{read},"write":{write}}}}},"finish":"stop"}}"#,
        t + 1000
    )
}

const USER: &str = r#"{"role":"user","time":{"created":1771083150000},"agent":"build","model":{"providerID":"anthropic","modelID":"claude-sonnet-4-5"}}"#;

// ---------------------------------------------------------------------------------------------
// OpenCode
// ---------------------------------------------------------------------------------------------

#[test]
fn opencode_v1_exact_totals_reasoning_step_finish_cost_provider_cwd() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let c = oc_db(&db);
    oc_session(&c, "ses_a", "/home/u/proj");
    oc_msg(&c, "msg_u1", "ses_a", T0, USER);
    // A: reasoning disjoint from output; OpenCode's own cost.
    oc_msg(
        &c,
        "msg_a",
        "ses_a",
        T0 + 1,
        &asst(
            T0 + 1,
            "claude-sonnet-4-5",
            "anthropic",
            0.05,
            (100, 50, 20, 1000, 200),
        ),
    );
    // B: message tokens all zero, usage in two step-finish parts (+ a text part to ignore).
    let b = r#"{"role":"assistant","time":{"created":1771083160000,"completed":1771083161000},"modelID":"gpt-5","providerID":"openai","cost":0,"tokens":{"input":0,"output":0,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    oc_msg(&c, "msg_b", "ses_a", T0 + 2, b);
    oc_part(
        &c,
        "prt_1",
        "msg_b",
        "ses_a",
        T0 + 3,
        r#"{"type":"text","text":"secret prompt words"}"#,
    );
    oc_part(
        &c,
        "prt_2",
        "msg_b",
        "ses_a",
        T0 + 4,
        r#"{"type":"step-finish","reason":"tool-calls","cost":0.001,"tokens":{"input":10,"output":5,"reasoning":0,"cache":{"read":0,"write":0}}}"#,
    );
    oc_part(
        &c,
        "prt_3",
        "msg_b",
        "ses_a",
        T0 + 5,
        r#"{"type":"step-finish","reason":"stop","cost":0.002,"tokens":{"input":20,"output":7,"reasoning":3,"cache":{"read":40,"write":0}}}"#,
    );
    // C: subscription provider, cost 0 -> no reported cost; no path -> session directory.
    let cmsg = r#"{"role":"assistant","time":{"created":1771083170000,"completed":1771083171000},"model":{"providerID":"github-copilot","modelID":"claude-sonnet-4.6"},"cost":0,"tokens":{"input":5,"output":5,"reasoning":0,"cache":{"read":0,"write":0}}}"#;
    oc_msg(&c, "msg_c", "ses_a", T0 + 6, cmsg);

    let mut st = FileState::default();
    let (evs, rep) = parse(&OC, &db, &mut st);
    assert_eq!(rep.malformed, 0, "{:?}", rep.first_error);
    assert_eq!(
        keys(&evs),
        ["opencode:msg_a", "opencode:msg_b", "opencode:msg_c"]
    );
    assert_eq!(
        total(&evs),
        Tokens {
            input: 100 + 30 + 5,
            cache_write_5m: 200,
            cache_write_1h: 0,
            cache_read: 1000 + 40,
            output: (50 + 20) + (12 + 3) + 5,
            reasoning: 20 + 3,
        }
    );
    let a = ev(&evs, "opencode:msg_a");
    assert_eq!(a.tokens.output, 70);
    assert_eq!(a.tokens.reasoning, 20);
    assert_eq!(a.reported_cost_usd, Some(0.05));
    assert_eq!(a.provider.as_deref(), Some("anthropic"));
    assert_eq!(a.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(a.cwd.as_deref(), Some("/home/u/proj/sub"));
    assert_eq!(a.session_id.as_deref(), Some("ses_a"));
    assert_eq!(a.timestamp_ms, T0 + 1);
    assert_eq!(a.merge, Merge::LastWins);
    let b = ev(&evs, "opencode:msg_b");
    assert!((b.reported_cost_usd.unwrap() - 0.003).abs() < 1e-12);
    let c3 = ev(&evs, "opencode:msg_c");
    assert_eq!(c3.reported_cost_usd, None, "cost 0 is not a price");
    assert_eq!(c3.provider.as_deref(), Some("github-copilot"));
    assert_eq!(c3.cwd.as_deref(), Some("/home/u/proj"));
    // Privacy: nothing of the part text travels.
    assert!(!format!("{evs:?}").contains("secret"));
}

#[test]
fn opencode_reads_one_generation_prefer_non_empty_session_message() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let c = oc_db(&db);
    oc_session(&c, "ses_a", "/home/u/proj");
    // Frozen v1 rows ...
    oc_msg(
        &c,
        "msg_1",
        "ses_a",
        T0,
        &asst(T0, "m", "p", 0.0, (1, 1, 0, 0, 0)),
    );
    oc_msg(
        &c,
        "msg_2",
        "ses_a",
        T0 + 1,
        &asst(T0 + 1, "m", "p", 0.0, (2, 2, 0, 0, 0)),
    );
    // An empty session_message: v1 is read.
    let (evs, _) = parse(&OC, &db, &mut FileState::default());
    assert_eq!(keys(&evs), ["opencode:msg_1", "opencode:msg_2"]);
    // ... migrated into session_message with their ids (msg_2 with its final numbers), plus v2's
    // own rows. Only v2 is read: msg_2 counted once, with the v2 numbers.
    let v2 = |t: i64, i: i64| {
        format!(
            r#"{{"time":{{"created":{t},"completed":{t}}},"model":{{"id":"claude-opus-4-7","providerID":"anthropic"}},"cost":0.5,"tokens":{{"input":{i},"output":10,"reasoning":0,"cache":{{"read":0,"write":0}}}}}}"#
        )
    };
    oc_v2(&c, "msg_0u", "ses_a", "user", 1, T0, "{}");
    oc_v2(&c, "msg_1", "ses_a", "assistant", 2, T0, &v2(T0, 1));
    oc_v2(&c, "msg_2", "ses_a", "assistant", 3, T0 + 1, &v2(T0 + 1, 7));
    oc_v2(
        &c,
        "msg_3",
        "ses_a",
        "assistant",
        4,
        T0 + 2,
        &v2(T0 + 2, 100),
    );
    oc_v2(
        &c,
        "msg_4",
        "ses_a",
        "compaction",
        5,
        T0 + 3,
        &v2(T0 + 3, 9999),
    );
    let mut st = FileState::default();
    let (evs, rep) = parse(&OC, &db, &mut st);
    assert_eq!(rep.malformed, 0);
    assert_eq!(
        keys(&evs),
        ["opencode:msg_1", "opencode:msg_2", "opencode:msg_3"]
    );
    assert_eq!(total(&evs).input, 1 + 7 + 100);
    assert_eq!(total(&evs).output, 30);
    let e = ev(&evs, "opencode:msg_3");
    assert_eq!(e.model.as_deref(), Some("claude-opus-4-7"));
    assert_eq!(e.provider.as_deref(), Some("anthropic"));
    assert_eq!(e.cwd.as_deref(), Some("/home/u/proj"));
    assert_eq!(e.reported_cost_usd, Some(0.5));
}

#[test]
fn opencode_v2_fork_copies_at_or_before_boundary_are_excluded() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let c = oc_db(&db);
    c.execute_batch(OPENCODE_SESSION_V2).unwrap();
    // schema.gen.ts's session_message references `session`; these sessions live in
    // `session_v2` only, so the fixture does not enforce that reference.
    c.pragma_update(None, "foreign_keys", "OFF").unwrap();
    let sess = |id: &str, fork_of: Option<&str>, boundary: Option<&str>, created: i64| {
        c.execute(
            "INSERT INTO session_v2(id, project_id, fork_session_id, fork_boundary, directory, title, time_created, time_updated)
             VALUES(?1, 'prj_1', ?2, ?3, '/home/u/proj', 't', ?4, ?4)",
            params![id, fork_of, boundary, created],
        )
        .unwrap();
    };
    let a = |input: i64| {
        format!(
            r#"{{"time":{{"created":{T0},"completed":{T0}}},"model":{{"id":"gpt-5","providerID":"openai"}},"tokens":{{"input":{input},"output":1}}}}"#
        )
    };
    // Parent: four rows, two of them assistant.
    sess("ses_p", None, None, T0);
    oc_v2(&c, "m_p1", "ses_p", "user", 1, T0, "{}");
    oc_v2(&c, "m_p2", "ses_p", "assistant", 2, T0 + 1, &a(100));
    oc_v2(&c, "m_p3", "ses_p", "user", 3, T0 + 2, "{}");
    oc_v2(&c, "m_p4", "ses_p", "assistant", 4, T0 + 3, &a(200));
    // Fork made after m_p4: copies get new ids and keep the parent's seq; then its own turn.
    sess("ses_f", Some("ses_p"), Some("m_p4"), T0 + 10_000);
    for (i, seq, kind, inp) in [
        ("c1", 1, "user", 0),
        ("c2", 2, "assistant", 100),
        ("c3", 3, "user", 0),
        ("c4", 4, "assistant", 200),
    ] {
        let data = if kind == "user" {
            "{}".to_string()
        } else {
            a(inp)
        };
        oc_v2(&c, i, "ses_f", kind, seq, T0 + seq, &data);
    }
    oc_v2(&c, "m_f5", "ses_f", "user", 5, T0 + 20_000, "{}");
    oc_v2(&c, "m_f6", "ses_f", "assistant", 6, T0 + 20_001, &a(7));
    // A second fork whose boundary message is gone (parent history deleted): rows created
    // before the fork itself are the copies.
    sess("ses_g", Some("ses_gone"), Some("m_gone"), T0 + 30_000);
    oc_v2(&c, "g1", "ses_g", "assistant", 1, T0 + 1, &a(100));
    oc_v2(&c, "g2", "ses_g", "assistant", 2, T0 + 30_001, &a(11));

    let (evs, rep) = parse(&OC, &db, &mut FileState::default());
    assert_eq!(rep.malformed, 0);
    assert_eq!(
        keys(&evs),
        [
            "opencode:g2",
            "opencode:m_f6",
            "opencode:m_p2",
            "opencode:m_p4"
        ]
    );
    assert_eq!(total(&evs).input, 100 + 200 + 7 + 11);
}

fn oc_legacy_json(storage: &Path, session: &str, id: &str, body: &str) -> PathBuf {
    let dir = storage.join("message").join(session);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{id}.json"));
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn opencode_db_and_legacy_json_count_once_db_wins() {
    // Through the real ingest and store, JSON read first and DB after, then the other way.
    for json_first in [true, false] {
        let h = Home::new();
        let data = h.home().join(".local/share/opencode");
        std::fs::create_dir_all(&data).unwrap();
        let storage = data.join("storage");
        // msg_x: in both. The JSON copy is an unfinished snapshot (less output).
        let x_json = format!(
            r#"{{"id":"msg_x","sessionID":"ses_a","role":"assistant","time":{{"created":{T0}}},"modelID":"claude-sonnet-4-5","providerID":"anthropic","cost":0,"tokens":{{"input":100,"output":3,"reasoning":0,"cache":{{"read":0,"write":0}}}}}}"#
        );
        oc_legacy_json(&storage, "ses_a", "msg_x", &x_json);
        // msg_y: JSON only, usage in step-finish part files; no path -> session file directory.
        let y_json = format!(
            r#"{{"id":"msg_y","sessionID":"ses_a","role":"assistant","time":{{"created":{T0},"completed":{T0}}},"modelID":"claude-sonnet-4-5","providerID":"anthropic","tokens":{{"input":0,"output":0,"reasoning":0,"cache":{{"read":0,"write":0}}}}}}"#
        );
        oc_legacy_json(&storage, "ses_a", "msg_y", &y_json);
        let parts = storage.join("part/msg_y");
        std::fs::create_dir_all(&parts).unwrap();
        std::fs::write(parts.join("prt_1.json"), r#"{"type":"step-finish","tokens":{"input":40,"output":4,"reasoning":1,"cache":{"read":0,"write":2}}}"#).unwrap();
        std::fs::write(
            parts.join("prt_2.json"),
            r#"{"type":"text","text":"words"}"#,
        )
        .unwrap();
        std::fs::create_dir_all(storage.join("session/prj_1")).unwrap();
        std::fs::write(
            storage.join("session/prj_1/ses_a.json"),
            r#"{"id":"ses_a","directory":"/home/u/legacy"}"#,
        )
        .unwrap();
        // The user message: no usage.
        oc_legacy_json(
            &storage,
            "ses_a",
            "msg_u",
            r#"{"id":"msg_u","role":"user"}"#,
        );

        let make_db = || {
            let c = oc_db(&data.join("opencode.db"));
            oc_session(&c, "ses_a", "/home/u/proj");
            oc_msg(
                &c,
                "msg_x",
                "ses_a",
                T0,
                &asst(
                    T0,
                    "claude-sonnet-4-5",
                    "anthropic",
                    0.0,
                    (100, 50, 0, 10, 0),
                ),
            );
            // A second channel database with its own message.
            let c2 = oc_db(&data.join("opencode-canary.db"));
            oc_session(&c2, "ses_c", "/home/u/proj");
            oc_msg(
                &c2,
                "msg_z",
                "ses_c",
                T0,
                &asst(T0, "gpt-5", "openai", 0.0, (1, 1, 0, 0, 0)),
            );
        };
        if json_first {
            h.scan();
            assert_eq!(tuple(&h.tool("opencode")), (2, 100 + 40, 2, 0, 3 + 5));
            make_db();
        } else {
            make_db();
        }
        h.scan();
        // msg_x once with the DB numbers, msg_y from JSON, msg_z from the canary channel.
        assert_eq!(
            tuple(&h.tool("opencode")),
            (3, 100 + 40 + 1, 2, 10, 50 + 5 + 1),
            "json_first={json_first}"
        );
        // A re-scan adds nothing.
        h.scan();
        assert_eq!(tuple(&h.tool("opencode")).0, 3);
    }
}

#[test]
fn opencode_sources_cover_channels_not_wal_and_kilo_has_its_own() {
    let h = Home::new();
    let srcs = tokwatch::registry::Registry::load(&h.env()).sources;
    let data = h.home().join(".local/share/opencode");
    let db_src = srcs
        .iter()
        .find(|s| s.tool == "opencode" && s.parser.format() == Format::Sqlite)
        .unwrap();
    assert!(db_src.matches(&data.join("opencode.db")));
    assert!(db_src.matches(&data.join("opencode-canary.db")));
    assert!(!db_src.matches(&data.join("opencode.db-wal")));
    assert!(!db_src.matches(&data.join("opencode.db-shm")));
    let json_src = srcs
        .iter()
        .find(|s| s.tool == "opencode" && s.parser.format() == Format::WholeFile)
        .unwrap();
    assert!(json_src.matches(&data.join("storage/message/ses_a/msg_x.json")));
    assert!(!json_src.matches(&data.join("storage/part/msg_x/prt_1.json")));
    let kilo = h.home().join(".local/share/kilo");
    assert!(srcs
        .iter()
        .any(|s| s.tool == "kilo-cli" && s.matches(&kilo.join("kilo.db"))));
    // XDG_DATA_HOME moves both.
    let mut env = h.env();
    env.vars.insert("XDG_DATA_HOME".into(), "/data/x".into());
    let srcs = tokwatch::registry::Registry::load(&env).sources;
    assert!(srcs
        .iter()
        .any(|s| s.tool == "opencode" && s.matches(Path::new("/data/x/opencode/opencode.db"))));

    // Kilo CLI: same format, its own tool id.
    std::fs::create_dir_all(&kilo).unwrap();
    let c = oc_db(&kilo.join("kilo.db"));
    oc_session(&c, "ses_k", "/home/u/proj");
    oc_msg(
        &c,
        "msg_k",
        "ses_k",
        T0,
        &asst(T0, "kilo/auto", "kilo", 0.01, (3, 4, 0, 0, 0)),
    );
    drop(c);
    h.scan();
    assert_eq!(tuple(&h.tool("kilo-cli")), (1, 3, 0, 0, 4));
    assert_eq!(tuple(&h.tool("opencode")).0, 0);
}

#[test]
fn opencode_incremental_reread_new_rows_inflight_updates_and_revert() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let c = oc_db(&db);
    oc_session(&c, "ses_a", "/home/u/proj");
    for i in 0..1200 {
        // More rows than one read page.
        oc_msg(
            &c,
            &format!("msg_{i:05}"),
            "ses_a",
            T0 + i,
            &asst(T0 + i, "m", "p", 0.0, (1, 1, 0, 0, 0)),
        );
    }
    // In flight: no completion time, no tokens yet.
    let streaming = format!(
        r#"{{"role":"assistant","time":{{"created":{T0}}},"modelID":"m","providerID":"p","tokens":{{"input":0,"output":0,"reasoning":0,"cache":{{"read":0,"write":0}}}}}}"#
    );
    oc_msg(&c, "msg_live", "ses_a", T0 + 5000, &streaming);

    let mut st = FileState::default();
    let (evs, _) = parse(&OC, &db, &mut st);
    assert_eq!(evs.len(), 1200);
    // State survives serialization (it is checkpointed as JSON).
    let mut st: FileState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();

    // Unchanged database: nothing.
    let (evs, _) = parse(&OC, &db, &mut st);
    assert!(evs.is_empty(), "{:?}", keys(&evs));

    // A new row: exactly that row.
    oc_msg(
        &c,
        "msg_new",
        "ses_a",
        T0 + 6000,
        &asst(T0 + 6000, "m", "p", 0.0, (9, 9, 0, 0, 0)),
    );
    let (evs, _) = parse(&OC, &db, &mut st);
    assert_eq!(keys(&evs), ["opencode:msg_new"]);
    let (evs, _) = parse(&OC, &db, &mut st);
    assert!(evs.is_empty());

    // The in-flight message completes in place (same rowid): exactly that message.
    c.execute(
        "UPDATE message SET time_updated = ?1, data = ?2 WHERE id = 'msg_live'",
        params![T0 + 7000, asst(T0 + 5000, "m", "p", 0.2, (50, 60, 0, 0, 0))],
    )
    .unwrap();
    let (evs, _) = parse(&OC, &db, &mut st);
    assert_eq!(keys(&evs), ["opencode:msg_live"]);
    assert_eq!(evs[0].tokens.input, 50);
    let (evs, _) = parse(&OC, &db, &mut st);
    assert!(evs.is_empty());

    // Undo: the newest rows are deleted and new ones take their rowids. Nothing is missed
    // (a full, idempotent re-read).
    c.execute(
        "DELETE FROM message WHERE id IN ('msg_new', 'msg_live')",
        [],
    )
    .unwrap();
    oc_msg(
        &c,
        "msg_after_undo",
        "ses_a",
        T0 + 8000,
        &asst(T0 + 8000, "m", "p", 0.0, (4, 4, 0, 0, 0)),
    );
    let (evs, _) = parse(&OC, &db, &mut st);
    assert!(keys(&evs).contains(&"opencode:msg_after_undo".to_string()));
    let (evs, _) = parse(&OC, &db, &mut st);
    assert!(evs.is_empty());
}

#[test]
fn live_wal_writer_is_never_blocked_and_uncommitted_rows_are_not_read() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let w = oc_db(&db);
    // Keep everything in the WAL (no automatic checkpoint), as a busy writer would have it.
    w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // The writer never waits for a lock: any conflict with our reads would fail at once.
    w.busy_timeout(std::time::Duration::ZERO).unwrap();
    oc_session(&w, "ses_a", "/home/u/proj");
    oc_msg(
        &w,
        "msg_1",
        "ses_a",
        T0,
        &asst(T0, "m", "p", 0.0, (1, 1, 0, 0, 0)),
    );
    assert!(
        std::fs::metadata(d.path().join("opencode.db-wal"))
            .unwrap()
            .len()
            > 0
    );
    let db_bytes = std::fs::read(&db).unwrap();

    // An open write transaction with an uncommitted row.
    w.execute_batch("BEGIN IMMEDIATE").unwrap();
    oc_msg(
        &w,
        "msg_2",
        "ses_a",
        T0 + 1,
        &asst(T0 + 1, "m", "p", 0.0, (2, 2, 0, 0, 0)),
    );

    // We read the committed state (from the WAL) while the writer holds its transaction.
    let mut st = FileState::default();
    let (evs, _) = parse(&OC, &db, &mut st);
    assert_eq!(keys(&evs), ["opencode:msg_1"]);

    // Our connection is open, inside a read transaction, while the writer commits.
    let ro = sqlite_ro::open_ro(&db).unwrap();
    assert!(!ro.is_snapshot(), "the normal path, not the copy fallback");
    ro.conn.execute_batch("BEGIN").unwrap();
    let n: i64 = ro
        .conn
        .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    w.execute_batch("COMMIT")
        .expect("the writer commits while we read");
    // And writes again, still with our read transaction open.
    oc_msg(
        &w,
        "msg_3",
        "ses_a",
        T0 + 2,
        &asst(T0 + 2, "m", "p", 0.0, (3, 3, 0, 0, 0)),
    );
    // Our snapshot is stable until we end it.
    let n: i64 = ro
        .conn
        .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    ro.conn.execute_batch("COMMIT").unwrap();
    // Read-only: we cannot write even if we tried.
    assert!(ro.conn.execute("DELETE FROM message", []).is_err());
    drop(ro);

    let (evs, _) = parse(&OC, &db, &mut st);
    assert_eq!(keys(&evs), ["opencode:msg_2", "opencode:msg_3"]);
    // The writer's WAL was never checkpointed by us: the main file is untouched.
    assert_eq!(std::fs::read(&db).unwrap(), db_bytes);
    // The writer still owns the database normally.
    w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
}

#[test]
fn copy_fallback_reads_wal_contents() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let w = oc_db(&db);
    w.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    oc_session(&w, "ses_a", "/home/u/proj");
    oc_msg(
        &w,
        "msg_1",
        "ses_a",
        T0,
        &asst(T0, "m", "p", 0.0, (1, 1, 0, 0, 0)),
    );
    // The row lives only in the WAL so far: a copy without it would see no message.
    let snap = sqlite_ro::open_snapshot(&db).unwrap();
    assert!(snap.is_snapshot());
    let n: i64 = snap
        .conn
        .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    drop(snap);

    // A read-only directory (the -shm index cannot be created): where permissions bind
    // (not for root), the parser still reads the database through a copy.
    let ro_dir = d.path().join("ro");
    std::fs::create_dir_all(&ro_dir).unwrap();
    let db2 = ro_dir.join("opencode.db");
    {
        let w2 = oc_db(&db2);
        w2.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        oc_session(&w2, "ses_a", "/home/u/proj");
        oc_msg(
            &w2,
            "msg_1",
            "ses_a",
            T0,
            &asst(T0, "m", "p", 0.0, (1, 1, 0, 0, 0)),
        );
        // Closing the last connection checkpoints and removes the -wal: keep one in the WAL by
        // copying the files while the writer is open.
        std::fs::copy(&db2, ro_dir.join("copy.db")).unwrap();
        std::fs::copy(ro_dir.join("opencode.db-wal"), ro_dir.join("copy.db-wal")).unwrap();
    }
    let db3 = ro_dir.join("copy.db");
    // The shared-memory index cannot be opened (a directory in its place, which binds even
    // for root): SQLite's read-only WAL support keeps the index in private memory, and the
    // WAL contents are read either way.
    let shm = ro_dir.join("copy.db-shm");
    let _ = std::fs::remove_file(&shm);
    std::fs::create_dir(&shm).unwrap();
    let (evs, rep) = parse(&OC, &db3, &mut FileState::default());
    assert_eq!(rep.malformed, 0);
    assert_eq!(keys(&evs), ["opencode:msg_1"]);
    std::fs::remove_dir(&shm).unwrap();
    // No temporary copies are left behind.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("tokwatch-snap-{}-", std::process::id()))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(ro_dir.join("copy.db-shm"));
        std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let binding = std::fs::write(ro_dir.join("probe"), b"x").is_err();
        let via_copy = sqlite_ro::open_ro(&db3).map(|r| r.is_snapshot());
        eprintln!("read-only directory binds: {binding}; read through a copy: {via_copy:?}");
        if binding {
            // Not root: the -shm cannot be created, so the normal open fails and the copy is
            // read (run as an unprivileged user to exercise this branch).
            assert!(via_copy.unwrap());
        }
        let (evs, rep) = parse(&OC, &db3, &mut FileState::default());
        std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(rep.malformed, 0);
        assert_eq!(
            keys(&evs),
            ["opencode:msg_1"],
            "permissions bind: {binding}"
        );
    }
    #[cfg(not(unix))]
    {
        let (evs, _) = parse(&OC, &db3, &mut FileState::default());
        assert_eq!(keys(&evs), ["opencode:msg_1"]);
    }
}

#[test]
fn opencode_malformed_rows_counted_not_fatal() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let c = oc_db(&db);
    oc_session(&c, "ses_a", "/home/u/proj");
    oc_msg(
        &c,
        "msg_ok",
        "ses_a",
        T0,
        &asst(T0, "m", "p", 0.0, (1, 2, 0, 0, 0)),
    );
    oc_msg(
        &c,
        "msg_badjson",
        "ses_a",
        T0 + 1,
        r#"{"role":"assistant","tokens":{"inp"#,
    );
    oc_msg(
        &c,
        "msg_badtype",
        "ses_a",
        T0 + 2,
        r#"{"role":"assistant","tokens":{"input":"many"}}"#,
    );
    oc_msg(&c, "msg_array", "ses_a", T0 + 3, "[1,2,3]");
    // Wrong SQLite type in a column: a BLOB of garbage as data.
    c.execute(
        "INSERT INTO message(id, session_id, time_created, time_updated, data) VALUES('msg_blob', 'ses_a', ?1, ?1, x'FF00FF')",
        [T0 + 4],
    )
    .unwrap();
    // A zero-token message whose step-finish part is malformed.
    oc_msg(
        &c,
        "msg_z",
        "ses_a",
        T0 + 5,
        &asst(T0 + 5, "m", "p", 0.0, (0, 0, 0, 0, 0)),
    );
    oc_part(
        &c,
        "prt_bad",
        "msg_z",
        "ses_a",
        T0 + 5,
        r#"{"type":"step-finish","tokens":{"input":true}}"#,
    );
    let (evs, rep) = parse(&OC, &db, &mut FileState::default());
    assert_eq!(keys(&evs), ["opencode:msg_ok"]);
    assert_eq!(rep.malformed, 5, "{:?}", rep.first_error);
    let err = rep.first_error.unwrap();
    assert!(!err.contains("inp\""), "no log text in errors: {err}");

    // A file named like a database that is not one: a clear error, no panic.
    let fake = d.path().join("opencode-fake.db");
    std::fs::write(&fake, b"this is not a database at all, just text\n").unwrap();
    let e = OC
        .parse_whole(&fake, &mut FileState::default(), &mut Vec::new())
        .unwrap_err();
    assert!(e.0.contains("not a SQLite database"), "{e}");
    // A SQLite header followed by garbage.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xAB, 4096));
    let broken = d.path().join("opencode-broken.db");
    std::fs::write(&broken, bytes).unwrap();
    assert!(OC
        .parse_whole(&broken, &mut FileState::default(), &mut Vec::new())
        .is_err());
    // A SQLite database without OpenCode's tables: counted, not fatal.
    let other = d.path().join("opencode-other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let (evs, rep) = parse(&OC, &other, &mut FileState::default());
    assert!(evs.is_empty());
    assert_eq!(rep.malformed, 1);
    // An empty file (a database being created) is simply empty.
    let empty = d.path().join("opencode-empty.db");
    std::fs::write(&empty, b"").unwrap();
    let (evs, rep) = parse(&OC, &empty, &mut FileState::default());
    assert!(evs.is_empty());
    assert_eq!(rep.malformed, 0);

    // Legacy JSON: bad files counted.
    let storage = d.path().join("storage");
    let p = oc_legacy_json(
        &storage,
        "ses_a",
        "msg_q",
        r#"{"role":"assistant","tokens":{"output":"x"}}"#,
    );
    let leg = OpenCodeLegacy {
        flavor: Flavor::OpenCode,
    };
    let (evs, rep) = parse(&leg, &p, &mut FileState::default());
    assert!(evs.is_empty());
    assert_eq!(rep.malformed, 1);
    let p = oc_legacy_json(&storage, "ses_a", "msg_r", "{not json");
    let (_, rep) = parse(&leg, &p, &mut FileState::default());
    assert_eq!(rep.malformed, 1);
}

// ---------------------------------------------------------------------------------------------
// Crush
// ---------------------------------------------------------------------------------------------

// charmbracelet/crush internal/db/migrations/20250424200609_initial.sql (sessions, messages and
// their triggers), plus `messages.provider` from a later migration.
const CRUSH_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    parent_session_id TEXT,
    title TEXT NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    prompt_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens>= 0),
    cost REAL NOT NULL DEFAULT 0.0 CHECK (cost >= 0.0),
    updated_at INTEGER NOT NULL,  -- Unix timestamp in seconds
    created_at INTEGER NOT NULL   -- Unix timestamp in seconds
);
CREATE TRIGGER IF NOT EXISTS update_sessions_updated_at
AFTER UPDATE ON sessions
BEGIN
UPDATE sessions SET updated_at = strftime('%s', 'now')
WHERE id = new.id;
END;
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    role TEXT NOT NULL,
    parts BLOB NOT NULL default '[]',
    model TEXT,
    created_at INTEGER NOT NULL,  -- Unix timestamp in seconds
    updated_at INTEGER NOT NULL,  -- Unix timestamp in seconds
    finished_at INTEGER,  -- Unix timestamp in seconds
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_messages_session_id ON messages (session_id);
CREATE TRIGGER IF NOT EXISTS update_messages_updated_at
AFTER UPDATE ON messages
BEGIN
UPDATE messages SET updated_at = strftime('%s', 'now')
WHERE id = new.id;
END;
CREATE TRIGGER IF NOT EXISTS update_session_message_count_on_insert
AFTER INSERT ON messages
BEGIN
UPDATE sessions SET
    message_count = message_count + 1
WHERE id = new.session_id;
END;
CREATE TRIGGER IF NOT EXISTS update_session_message_count_on_delete
AFTER DELETE ON messages
BEGIN
UPDATE sessions SET
    message_count = message_count - 1
WHERE id = old.session_id;
END;
ALTER TABLE messages ADD COLUMN provider TEXT;
";

fn crush_db(path: &Path) -> Connection {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = writer(path);
    c.execute_batch(CRUSH_SCHEMA).unwrap();
    c
}

fn crush_session(c: &Connection, id: &str, parent: Option<&str>, cost: f64, t: i64) {
    c.execute(
        "INSERT INTO sessions(id, parent_session_id, title, prompt_tokens, completion_tokens, cost, updated_at, created_at)
         VALUES(?1, ?2, 'Fix flaky test', 23110, 18452, ?3, ?4, ?4)",
        params![id, parent, cost, t],
    )
    .unwrap();
}

fn crush_msg(c: &Connection, id: &str, session: &str, role: &str, model: Option<&str>, t: i64) {
    c.execute(
        "INSERT INTO messages(id, session_id, role, parts, model, provider, created_at, updated_at)
         VALUES(?1, ?2, ?3, '[{\"type\":\"text\",\"data\":{\"text\":\"private\"}}]', ?4, ?5, ?6, ?6)",
        params![id, session, role, model, model.map(|_| "anthropic"), t],
    )
    .unwrap();
}

#[test]
fn crush_one_event_per_top_level_session_with_its_cost() {
    let h = Home::new();
    let project = h.dir.path().join("work/proj");
    let db = project.join(".crush/crush.db");
    let c = crush_db(&db);
    // Inserts set message_count through triggers, which bumps updated_at: use "now" times.
    let t = now_s() - 3600;
    // s1 holds its child's cost (Crush adds a finished sub-agent's cost to the parent).
    crush_session(&c, "s1", None, 1.25, t);
    crush_session(&c, "s1-agent", Some("s1"), 0.25, t);
    crush_session(&c, "s2", None, 0.0, t); // nothing used
    crush_session(&c, "orphan", Some("deleted-parent"), 0.1, t);
    crush_session(&c, "s3", None, 0.5, t);
    crush_msg(&c, "m1", "s1", "user", None, t);
    crush_msg(
        &c,
        "m2",
        "s1",
        "assistant",
        Some("claude-sonnet-4-5"),
        t + 1,
    );
    crush_msg(&c, "m3", "s1", "user", None, t + 2);
    crush_msg(&c, "m4", "s1", "assistant", Some("claude-opus-4-7"), t + 3);
    crush_msg(&c, "m5", "s1", "assistant", Some("claude-opus-4-7"), t + 4);
    crush_msg(
        &c,
        "a1",
        "s1-agent",
        "assistant",
        Some("claude-haiku-4-5"),
        t + 5,
    );
    crush_msg(
        &c,
        "a2",
        "s1-agent",
        "assistant",
        Some("claude-haiku-4-5"),
        t + 6,
    );
    crush_msg(&c, "o1", "orphan", "assistant", Some("gpt-5"), t + 7);

    let mut st = FileState::default();
    let (evs, rep) = parse(&CrushParser, &db, &mut st);
    assert_eq!(rep.malformed, 0, "{:?}", rep.first_error);
    // The orphan (its parent was deleted, Crush does not cascade) is not counted on its own:
    // its cost was rolled into the parent's while the parent existed.
    assert_eq!(keys(&evs), ["crush:session:s1", "crush:session:s3"]);
    let s1 = ev(&evs, "crush:session:s1");
    assert_eq!(s1.reported_cost_usd, Some(1.25));
    assert_eq!(s1.requests, 5, "3 own + 2 of its sub-agent");
    assert_eq!(s1.tokens, Tokens::default(), "Crush keeps no token totals");
    assert!(!s1.estimated);
    assert_eq!(s1.model.as_deref(), Some("claude-opus-4-7"));
    assert_eq!(s1.provider.as_deref(), Some("anthropic"));
    assert_eq!(s1.merge, Merge::LastWins);
    assert_eq!(s1.cwd.as_deref(), Some(project.to_str().unwrap()));
    let total_cost: f64 = evs.iter().filter_map(|e| e.reported_cost_usd).sum();
    assert!((total_cost - (1.25 + 0.5)).abs() < 1e-9);
    assert_eq!(ev(&evs, "crush:session:s3").requests, 0);
    assert!(!format!("{evs:?}").contains("private"));

    // Unchanged: nothing. Cost grows (the trigger bumps updated_at): exactly that session.
    let (evs, _) = parse(&CrushParser, &db, &mut st);
    assert!(evs.is_empty(), "{:?}", keys(&evs));
    c.execute("UPDATE sessions SET cost = 2.0 WHERE id = 's1'", [])
        .unwrap();
    let (evs, _) = parse(&CrushParser, &db, &mut st);
    assert_eq!(keys(&evs), ["crush:session:s1"]);
    assert_eq!(evs[0].reported_cost_usd, Some(2.0));
    let (evs, _) = parse(&CrushParser, &db, &mut st);
    assert!(evs.is_empty());
    // A sub-agent's new turn re-emits its top-level session with the new request count.
    crush_msg(
        &c,
        "a3",
        "s1-agent",
        "assistant",
        Some("claude-haiku-4-5"),
        t + 8,
    );
    let (evs, _) = parse(&CrushParser, &db, &mut st);
    assert_eq!(keys(&evs), ["crush:session:s1"]);
    assert_eq!(evs[0].requests, 6);
    drop(c);

    // Found through projects.json, and stored with its cost as reported.
    let global = h.home().join(".local/share/crush");
    std::fs::create_dir_all(&global).unwrap();
    std::fs::write(
        global.join("projects.json"),
        format!(
            r#"{{"projects":[{{"path":"{}","data_dir":".crush","last_accessed":"2026-02-14T10:00:00Z"}}]}}"#,
            project.display()
        ),
    )
    .unwrap();
    assert_eq!(
        tokwatch::registry::roots::crush_db_dirs(&h.env()),
        vec![project.join(".crush")]
    );
    h.scan();
    let s = h.tool("crush");
    assert_eq!(s.requests, 6);
    assert!((s.cost_usd - (2.0 + 0.5)).abs() < 1e-9, "{s:?}");
    assert_eq!(s.reported_requests, 6);
}

#[test]
fn crush_malformed_and_foreign_schemas() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join(".crush/crush.db");
    let c = crush_db(&db);
    let t = now_s();
    crush_session(&c, "ok", None, 0.3, t);
    // Wrong types stored in a loosely typed column (SQLite allows it).
    c.execute_batch("PRAGMA ignore_check_constraints = 1")
        .unwrap();
    c.execute(
        "INSERT INTO sessions(id, title, cost, updated_at, created_at) VALUES('bad', 't', 'lots', ?1, ?1)",
        [t],
    )
    .unwrap();
    let (evs, rep) = parse(&CrushParser, &db, &mut FileState::default());
    assert_eq!(keys(&evs), ["crush:session:ok"]);
    assert_eq!(rep.malformed, 1);
    // No sessions table.
    let other = d.path().join("other/crush.db");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE x(y)")
        .unwrap();
    let (evs, rep) = parse(&CrushParser, &other, &mut FileState::default());
    assert!(evs.is_empty());
    assert_eq!(rep.malformed, 1);
    let fake = d.path().join("fake.db");
    std::fs::write(&fake, "{\"json\": true}").unwrap();
    assert!(CrushParser
        .parse_whole(&fake, &mut FileState::default(), &mut Vec::new())
        .is_err());
}

// ---------------------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------------------

// VS Code's storage table and Cursor's key-value table (log-formats §5).
const CURSOR_SCHEMA: &str = "
CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);
CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);
";

fn kv(c: &Connection, key: &str, value: &str) {
    c.execute(
        "INSERT INTO cursorDiskKV(key, value) VALUES(?1, ?2)",
        params![key, value.as_bytes()],
    )
    .unwrap();
}

fn bubble(kind: i64, created: &str, model: Option<&str>, tok: (i64, i64)) -> String {
    let mi = model
        .map(|m| format!(r#""modelInfo":{{"modelName":"{m}"}},"#))
        .unwrap_or_default();
    format!(
        r#"{{"_v":3,"type":{kind},"bubbleId":"b","text":"private words","createdAt":"{created}","requestId":"r1","usageUuid":"u1",{mi}"timingInfo":{{}},"tokenCount":{{"inputTokens":{},"outputTokens":{}}}}}"#,
        tok.0, tok.1
    )
}

fn cursor_home(h: &Home) -> (PathBuf, Connection) {
    let user = h.home().join(".config/Cursor/User");
    let global = user.join("globalStorage");
    std::fs::create_dir_all(&global).unwrap();
    let db = global.join("state.vscdb");
    let c = writer(&db);
    c.execute_batch(CURSOR_SCHEMA).unwrap();
    c.execute(
        "INSERT INTO ItemTable(key, value) VALUES('cursorAuth/accessToken', 'SECRET-TOKEN')",
        [],
    )
    .unwrap();
    kv(
        &c,
        "composerData:c1",
        r#"{"_v":3,"composerId":"c1","name":"n","createdAt":1771083156415,"lastUpdatedAt":1771083256415,"status":"completed","modelConfig":{"modelName":"claude-4-sonnet","maxMode":false},"createdOnBranch":"feat/x","fullConversationHeadersOnly":[]}"#,
    );
    // The workspace the composer belongs to.
    let ws = user.join("workspaceStorage/abc123");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("workspace.json"),
        r#"{"folder":"file:///home/u/my%20proj"}"#,
    )
    .unwrap();
    let w = Connection::open(ws.join("state.vscdb")).unwrap();
    w.execute_batch(CURSOR_SCHEMA).unwrap();
    w.execute(
        "INSERT INTO ItemTable(key, value) VALUES('composer.composerData', ?1)",
        [r#"{"allComposers":[{"composerId":"c1","lastUpdatedAt":1771083256415}]}"#],
    )
    .unwrap();
    (db, c)
}

#[test]
fn cursor_token_bubbles_and_zero_token_bubbles_as_estimated_requests() {
    let h = Home::new();
    let (db, c) = cursor_home(&h);
    kv(
        &c,
        "bubbleId:c1:b1",
        &bubble(1, "2026-02-14T10:00:00.000Z", None, (0, 0)),
    );
    kv(
        &c,
        "bubbleId:c1:b2",
        &bubble(2, "2026-02-14T10:00:05.000Z", Some("gpt-5"), (1000, 200)),
    );
    kv(
        &c,
        "bubbleId:c1:b3",
        &bubble(2, "2026-02-14T10:00:09.000Z", None, (0, 0)),
    );
    kv(
        &c,
        "bubbleId:c1:b4",
        &bubble(2, "2026-02-14T10:00:12.000Z", Some("auto"), (0, 0)),
    );
    kv(&c, "bubbleId:c1:bad1", "{not json");
    kv(
        &c,
        "bubbleId:c1:bad2",
        r#"{"type":2,"tokenCount":{"inputTokens":"many"}}"#,
    );
    kv(&c, "checkpointId:c1:x", "{}");

    let mut st = FileState::default();
    let (evs, rep) = parse(&CursorParser, &db, &mut st);
    assert_eq!(rep.malformed, 2, "{:?}", rep.first_error);
    assert_eq!(
        keys(&evs),
        [
            "cursor:bubble:c1:b2",
            "cursor:bubble:c1:b3",
            "cursor:bubble:c1:b4"
        ]
    );
    assert_eq!(
        total(&evs),
        Tokens {
            input: 1000,
            output: 200,
            ..Tokens::default()
        }
    );
    let b2 = ev(&evs, "cursor:bubble:c1:b2");
    assert!(!b2.estimated);
    assert_eq!(b2.model.as_deref(), Some("gpt-5"));
    assert_eq!(b2.timestamp_ms, 1_771_063_205_000);
    for k in ["cursor:bubble:c1:b3", "cursor:bubble:c1:b4"] {
        let e = ev(&evs, k);
        assert!(e.estimated, "{k}");
        assert_eq!(e.requests, 1);
        assert!(e.tokens.is_zero());
    }
    assert_eq!(
        ev(&evs, "cursor:bubble:c1:b3").model.as_deref(),
        Some("claude-4-sonnet"),
        "composer model when the bubble names none"
    );
    for e in &evs {
        assert_eq!(e.branch.as_deref(), Some("feat/x"));
        assert_eq!(e.session_id.as_deref(), Some("c1"));
        assert_eq!(e.cwd.as_deref(), Some("/home/u/my proj"));
    }
    let dump = format!("{evs:?}{st:?}");
    assert!(!dump.contains("SECRET") && !dump.contains("private"));

    // Re-reads: unchanged -> nothing; a new bubble -> exactly it; a bubble replaced with its
    // token counts -> exactly it, no longer estimated.
    let (evs, _) = parse(&CursorParser, &db, &mut st);
    assert!(evs.is_empty(), "{:?}", keys(&evs));
    kv(
        &c,
        "bubbleId:c1:b5",
        &bubble(2, "2026-02-14T10:01:00.000Z", Some("gpt-5"), (10, 20)),
    );
    let (evs, _) = parse(&CursorParser, &db, &mut st);
    assert_eq!(keys(&evs), ["cursor:bubble:c1:b5"]);
    kv(
        &c,
        "bubbleId:c1:b3",
        &bubble(2, "2026-02-14T10:00:09.000Z", None, (300, 40)),
    );
    let (evs, _) = parse(&CursorParser, &db, &mut st);
    assert_eq!(keys(&evs), ["cursor:bubble:c1:b3"]);
    assert!(!evs[0].estimated);
    // Updated in place (same rowid) while recent: seen too.
    c.execute(
        "UPDATE cursorDiskKV SET value = ?1 WHERE key = 'bubbleId:c1:b4'",
        [bubble(2, "2026-02-14T10:00:12.000Z", Some("auto"), (7, 8)).as_bytes()],
    )
    .unwrap();
    let (evs, _) = parse(&CursorParser, &db, &mut st);
    assert_eq!(keys(&evs), ["cursor:bubble:c1:b4"]);
    assert_eq!(evs[0].tokens.input, 7);
    let (evs, _) = parse(&CursorParser, &db, &mut st);
    assert!(evs.is_empty());
    drop(c);

    // Through the store: every assistant bubble is a request; the ones without tokens are
    // estimated.
    h.scan();
    let s = h.tool("cursor");
    assert_eq!(s.requests, 4);
    assert_eq!(
        (s.input, s.output),
        (1000 + 300 + 7 + 10, 200 + 40 + 8 + 20)
    );
    h.scan();
    assert_eq!(h.tool("cursor").requests, 4);
}

#[test]
fn cursor_zero_token_bubbles_count_as_requests_in_the_store() {
    let h = Home::new();
    let (_db, c) = cursor_home(&h);
    kv(
        &c,
        "bubbleId:c1:b3",
        &bubble(2, "2026-02-14T10:00:09.000Z", None, (0, 0)),
    );
    kv(
        &c,
        "bubbleId:c1:b4",
        &bubble(2, "2026-02-14T10:00:12.000Z", None, (0, 0)),
    );
    drop(c);
    h.scan();
    let s = h.tool("cursor");
    assert_eq!(s.requests, 2);
    assert_eq!(s.total_tokens(), 0);
}

#[test]
fn cursor_db_without_its_tables() {
    let d = tempfile::tempdir().unwrap();
    let old = d.path().join("old.vscdb");
    Connection::open(&old)
        .unwrap()
        .execute_batch("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        .unwrap();
    let (evs, rep) = parse(&CursorParser, &old, &mut FileState::default());
    assert!(evs.is_empty());
    assert_eq!(
        rep.malformed, 0,
        "an older Cursor without cursorDiskKV has no usage"
    );
    let other = d.path().join("other.vscdb");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE z(a)")
        .unwrap();
    let (_, rep) = parse(&CursorParser, &other, &mut FileState::default());
    assert_eq!(rep.malformed, 1);
}

// ---------------------------------------------------------------------------------------------
// Cursor dashboard CSV
// ---------------------------------------------------------------------------------------------

const CSV_OLD: &str = "Date,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost,Cost to you\r
2025-09-10T14:23:45.123Z,claude-4-sonnet,\"12,000\",10000,50000,800,62800,$0.31,$0.00\r
2025-09-10T14:25:00.000Z,gpt-5,3000,3000,0,500,3500,0.02,0.02\r
2025-09-10T14:25:00.000Z,gpt-5,3000,3000,0,500,3500,0.02,0.02\r
";

const CSV_NEW: &str = "\u{feff}Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost
\"2025-10-01T09:00:00.000Z\",\"Included\",\"auto\",\"No\",\"2000\",\"1500\",\"4000\",\"300\",\"6300\",\"Included\"
\"2025-10-01T09:05:00.000Z\",\"Errored, Not Charged\",\"claude-4.5-sonnet\",\"Yes\",\"100\",\"100\",\"0\",\"0\",\"100\",\"$0.00\"
\"2025-10-01T09:06:00.000Z\",\"Usage-based\",\"claude-4.5-sonnet\",\"No\",\"5000\",\"4000\",\"1000\",\"700\",\"6700\",\"$0.05\"
\"yesterday\",\"Usage-based\",\"gpt-5\",\"No\",\"1\",\"1\",\"0\",\"1\",\"2\",\"$0.01\"
\"2025-10-01T09:07:00.000Z\",\"Usage-based\",\"gpt-5\",\"No\",\"10\",\"20\",\"0\",\"1\",\"31\",\"$0.01\"
\"2025-10-01T09:08:00.000Z\",\"Usage-based\",\"gpt-5\",\"No\",\"ten\",\"1\",\"0\",\"1\",\"2\",\"$0.01\"
";

#[test]
fn cursor_csv_both_header_variants_exact_totals() {
    let d = tempfile::tempdir().unwrap();
    let old = d.path().join("old.csv");
    std::fs::write(&old, CSV_OLD).unwrap();
    let (evs, rep) = parse_cursor_csv(&old).unwrap();
    assert_eq!(rep.malformed, 0);
    assert_eq!(evs.len(), 3, "identical rows are distinct requests");
    assert_eq!(
        total(&evs),
        Tokens {
            input: 10_000 + 3_000 * 2,
            cache_write_5m: 2_000,
            cache_write_1h: 0,
            cache_read: 50_000,
            output: 800 + 500 * 2,
            reasoning: 0,
        }
    );
    assert_eq!(evs[0].reported_cost_usd, Some(0.31));
    assert_eq!(evs[0].model.as_deref(), Some("claude-4-sonnet"));
    assert_eq!(evs[0].timestamp_ms, 1_757_514_225_123);
    assert!(evs.iter().all(|e| e.tool == "cursor" && !e.estimated));
    assert_ne!(evs[1].dedup_key, evs[2].dedup_key);

    let new = d.path().join("new.csv");
    std::fs::write(&new, CSV_NEW).unwrap();
    let (evs, rep) = parse_cursor_csv(&new).unwrap();
    assert_eq!(rep.malformed, 3, "bad date, w/ < w/o, non-numeric");
    assert_eq!(evs.len(), 3);
    assert_eq!(
        total(&evs),
        Tokens {
            input: 1500 + 100 + 4000,
            cache_write_5m: 500 + 1000, // the not-charged row wrote none
            cache_write_1h: 0,
            cache_read: 4000 + 1000,
            output: 300 + 700,
            reasoning: 0,
        }
    );
    assert_eq!(
        evs[0].reported_cost_usd, None,
        "Included: tokwatch prices the tokens"
    );
    assert_eq!(evs[1].reported_cost_usd, Some(0.0), "not charged");
    assert_eq!(evs[2].reported_cost_usd, Some(0.05));

    // The same rows exported in the other header variant have the same keys.
    let same_old = d.path().join("same-old.csv");
    std::fs::write(
        &same_old,
        "Date,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost,Cost to you\n\
         2025-10-01T09:06:00.000Z,claude-4.5-sonnet,5000,4000,1000,700,6700,$0.05,$0.05\n",
    )
    .unwrap();
    let (evs2, _) = parse_cursor_csv(&same_old).unwrap();
    assert_eq!(evs2[0].dedup_key, evs[2].dedup_key);

    // Not a usage CSV, or missing: clear errors.
    let bad = d.path().join("bad.csv");
    std::fs::write(&bad, "a,b,c\n1,2,3\n").unwrap();
    let e = parse_cursor_csv(&bad).unwrap_err().to_string();
    assert!(e.contains("not a Cursor usage CSV"), "{e}");
    assert!(parse_cursor_csv(&d.path().join("missing.csv")).is_err());
}

#[test]
fn cursor_csv_reimport_adds_nothing_in_the_store() {
    use tokwatch::pricing::Pricer;
    use tokwatch::store::{ReadCounts, StoredEvent};
    use tokwatch::tailer::Checkpoint;
    let h = Home::new();
    let csv = h.dir.path().join("usage.csv");
    std::fs::write(&csv, CSV_OLD).unwrap();
    let pricer = Pricer::new(Default::default());
    let mut store = tokwatch::store::Store::open_writer(&h.db()).unwrap();
    let mut import = || {
        let (evs, _) = parse_cursor_csv(&csv).unwrap();
        let stored: Vec<StoredEvent> = evs
            .into_iter()
            .map(|ev| {
                let p = pricer.price(&ev);
                StoredEvent {
                    ev,
                    workspace_id: None,
                    workspace_name: None,
                    cost_usd: p.cost_usd,
                    cost_source: p.source,
                    price_key: p.price_key,
                    updated: false,
                }
            })
            .collect();
        let (_, out) = store
            .commit_batch(
                &csv.to_string_lossy(),
                "cursor",
                &Checkpoint::default(),
                &ReadCounts::default(),
                &stored,
            )
            .unwrap();
        out.inserted + out.updated
    };
    assert_eq!(import(), 3);
    let first = tuple(&h.tool("cursor"));
    assert_eq!(first, (3, 16_000, 2_000, 50_000, 1_800));
    assert_eq!(import(), 0, "the second import changes nothing");
    drop(store);
    assert_eq!(tuple(&h.tool("cursor")), first);
}

#[test]
fn cursor_paths_per_os() {
    let env = Env {
        home: PathBuf::from("/h"),
        vars: Default::default(),
    };
    let dir = tokwatch::registry::roots::cursor_user_dir(&env);
    if cfg!(target_os = "macos") {
        assert_eq!(dir, Path::new("/h/Library/Application Support/Cursor/User"));
    } else if cfg!(windows) {
        assert_eq!(dir, Path::new("/h/AppData/Roaming/Cursor/User"));
    } else {
        assert_eq!(dir, Path::new("/h/.config/Cursor/User"));
    }
    let mut env2 = env.clone();
    env2.vars.insert("CRUSH_GLOBAL_DATA".into(), "/cg".into());
    assert_eq!(
        tokwatch::registry::roots::crush_global_dir(&env2),
        Path::new("/cg")
    );
    env2.vars.insert("OPENCODE_DATA_DIR".into(), "/oc".into());
    assert_eq!(
        tokwatch::registry::roots::opencode_dir(&env2, Flavor::OpenCode),
        Path::new("/oc")
    );
}

// ---------------------------------------------------------------------------------------------
// `tokwatch parsers test` on the Rust parsers (issue 10: it refused the SQLite tools)
// ---------------------------------------------------------------------------------------------

/// `parsers test TOOL FILE --json` through the real binary: its exit code and JSON.
fn parsers_test(h: &Home, tool: &str, file: &Path) -> (Option<i32>, serde_json::Value, String) {
    let o = h
        .cmd()
        .args(["parsers", "test", tool])
        .arg(file)
        .arg("--json")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code(), v, err)
}

#[test]
fn parsers_test_reads_every_rust_parsers_own_files() {
    let h = Home::new();
    // OpenCode and Kilo CLI: the same database schema.
    for tool in ["opencode", "kilo-cli"] {
        let db = h.dir.path().join(format!("{tool}.db"));
        let c = oc_db(&db);
        oc_session(&c, "ses_a", "/home/u/proj");
        oc_msg(
            &c,
            "msg_a",
            "ses_a",
            T0 + 1,
            &asst(
                T0 + 1,
                "claude-sonnet-4-5",
                "anthropic",
                0.05,
                (100, 50, 20, 1000, 200),
            ),
        );
        drop(c);
        let (code, v, err) = parsers_test(&h, tool, &db);
        assert_eq!(code, Some(0), "{tool}: {err}");
        assert_eq!(v["tool"], tool, "{v}");
        assert_eq!(v["requests"], 1, "{tool}: {v}");
        assert_eq!(v["totals"]["input"], 100, "{tool}: {v}");
        assert_eq!(v["totals"]["cache_read"], 1000, "{tool}: {v}");
    }
    // Crush.
    let db = h.dir.path().join("proj/.crush/crush.db");
    let c = crush_db(&db);
    let t = now_s() - 3600;
    crush_session(&c, "s1", None, 1.25, t);
    crush_msg(
        &c,
        "m2",
        "s1",
        "assistant",
        Some("claude-sonnet-4-5"),
        t + 1,
    );
    drop(c);
    let (code, v, err) = parsers_test(&h, "crush", &db);
    assert_eq!(code, Some(0), "crush: {err}");
    assert_eq!(v["tool"], "crush", "{v}");
    assert_eq!(v["events"].as_array().map(|a| a.len()), Some(1), "{v}");
    // Cursor.
    let (db, c) = cursor_home(&h);
    kv(
        &c,
        "bubbleId:c1:b1",
        &bubble(
            2,
            "2026-02-14T10:00:00.000Z",
            Some("claude-4-sonnet"),
            (1200, 340),
        ),
    );
    drop(c);
    let (code, v, err) = parsers_test(&h, "cursor", &db);
    assert_eq!(code, Some(0), "cursor: {err}");
    assert_eq!(v["tool"], "cursor", "{v}");
    assert_eq!(v["totals"]["input"], 1200, "{v}");
    assert_eq!(v["totals"]["output"], 340, "{v}");
    // Claude Code and Codex (Rust line parsers) on their real samples.
    let claude = fixtures().join("claude-code/single/short.jsonl");
    let (code, v, err) = parsers_test(&h, "claude-code", &claude);
    assert_eq!(code, Some(0), "claude-code: {err}");
    assert_eq!(v["requests"], 1, "{v}");
    assert_eq!(v["totals"]["cache_read"], 11_515, "EXPECTED.md: {v}");
}

/// OpenCode versions that make several model calls in one assistant message overwrite the
/// message's `tokens` with each step's (its `cost` adds up): the message's own tokens are then
/// only the last call's, and every `step-finish` part is one billed call. Schema as in
/// docs/log-formats.md (OpenCode), the numbers made up.
#[test]
fn opencode_message_tokens_that_are_the_last_steps_count_every_step() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("opencode.db");
    let c = oc_db(&db);
    oc_session(&c, "ses_a", "/home/u/proj");
    oc_msg(&c, "msg_u1", "ses_a", T0, USER);
    let step = |i: i64, o: i64, r: i64| {
        format!(
            r#"{{"type":"step-finish","reason":"tool-calls","cost":0.001,"tokens":{{"input":{i},"output":{o},"reasoning":0,"cache":{{"read":{r},"write":0}}}}}}"#
        )
    };
    let message = |id: &str, t: i64, cost: f64, tok: (i64, i64, i64, i64, i64)| {
        let data = asst(t, "claude-sonnet-4-5", "anthropic", cost, tok);
        oc_msg(&c, id, "ses_a", t, &data);
    };
    // msg_o: three steps, the message's tokens equal to the last one's.
    message("msg_o", T0 + 1, 0.003, (30, 9, 0, 300, 0));
    for (n, (i, o, r)) in [(10, 5, 100), (20, 7, 200), (30, 9, 300)]
        .into_iter()
        .enumerate()
    {
        oc_part(
            &c,
            &format!("prt_o{n}"),
            "msg_o",
            "ses_a",
            T0 + 2 + n as i64,
            &step(i, o, r),
        );
    }
    // msg_s: two steps, the message's tokens already their sum (a version that adds up).
    message("msg_s", T0 + 10, 0.002, (30, 12, 0, 300, 0));
    oc_part(&c, "prt_s0", "msg_s", "ses_a", T0 + 11, &step(10, 5, 100));
    oc_part(&c, "prt_s1", "msg_s", "ses_a", T0 + 12, &step(20, 7, 200));
    // msg_1: one step equal to the message: nothing to add.
    message("msg_1", T0 + 20, 0.001, (10, 5, 0, 100, 0));
    oc_part(&c, "prt_10", "msg_1", "ses_a", T0 + 21, &step(10, 5, 100));
    let mut st = FileState::default();
    let (evs, rep) = parse(&OC, &db, &mut st);
    assert_eq!(rep.malformed, 0, "{:?}", rep.first_error);
    let t = |k: &str| {
        let e = ev(&evs, k);
        (e.tokens.input, e.tokens.output, e.tokens.cache_read)
    };
    assert_eq!(t("opencode:msg_o"), (60, 21, 600), "every step counted");
    assert_eq!(
        t("opencode:msg_s"),
        (30, 12, 300),
        "a summed message as it is"
    );
    assert_eq!(t("opencode:msg_1"), (10, 5, 100));
    // The message's own cost (which adds up over its steps) is kept.
    assert_eq!(ev(&evs, "opencode:msg_o").reported_cost_usd, Some(0.003));
}
