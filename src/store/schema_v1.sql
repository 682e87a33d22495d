-- tokwatch schema, version 1. Usage metadata only: no prompt, response or tool text.

CREATE TABLE meta(
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per log file (or database) read, with the checkpoint of how far it was read.
CREATE TABLE files(
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,
    tool          TEXT NOT NULL,
    dev           INTEGER NOT NULL DEFAULT 0,
    ino           INTEGER NOT NULL DEFAULT 0,
    size          INTEGER NOT NULL DEFAULT 0,
    mtime_ns      INTEGER NOT NULL DEFAULT 0,
    extra_sig     INTEGER NOT NULL DEFAULT 0,   -- e.g. size+mtime of a SQLite -wal file
    head_hash     INTEGER,                      -- hash of the start of the first line
    offset        INTEGER NOT NULL DEFAULT 0,   -- bytes consumed (end of last complete line)
    state         TEXT,                         -- parser state (JSON), no log text
    lines         INTEGER NOT NULL DEFAULT 0,
    events        INTEGER NOT NULL DEFAULT 0,
    malformed     INTEGER NOT NULL DEFAULT 0,
    first_error   TEXT,                         -- one example, never log text
    read_error    TEXT,                         -- why the file could not be read, if it could not
    last_event_ms INTEGER,
    updated_ms    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE workspaces(
    id     INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE,
    name   TEXT NOT NULL,
    root   TEXT,
    remote TEXT
);

-- One row per request (after dedup).
CREATE TABLE events(
    id           INTEGER PRIMARY KEY,
    tool         TEXT NOT NULL,
    key_hash     INTEGER NOT NULL UNIQUE,      -- 64-bit hash of (tool, the parser's dedup key)
    ts           INTEGER NOT NULL,             -- ms since epoch, UTC
    model        TEXT,
    provider     TEXT,
    session      TEXT,
    workspace_id INTEGER,
    branch       TEXT,
    input        INTEGER NOT NULL,
    cw5          INTEGER NOT NULL,
    cw1h         INTEGER NOT NULL,
    cr           INTEGER NOT NULL,
    output       INTEGER NOT NULL,
    reasoning    INTEGER NOT NULL,
    requests     INTEGER NOT NULL,
    cost         REAL,                         -- NULL = unpriced, never 0 for unknown
    cost_source  INTEGER NOT NULL,             -- 0 computed, 1 reported, 2 estimated, 3 unpriced
    price_key    TEXT,
    msg_id       TEXT,
    sidechain    INTEGER NOT NULL DEFAULT 0,
    file_id      INTEGER
);
-- Message ids of main-chain and of sidechain records, apart: a sidechain replay loses to the
-- main-chain copy of the same message (store::write_batch).
CREATE INDEX events_msg_main ON events(msg_id) WHERE sidechain = 0 AND msg_id IS NOT NULL;
CREATE INDEX events_msg_side ON events(msg_id) WHERE sidechain = 1 AND msg_id IS NOT NULL;

-- Sums per 15-minute bucket (every real time zone offset is a multiple of 15 minutes, so local
-- days are exact), kept in step with `events` by the batch writer in the same transaction
-- (store::write_batch). Reports read this table.
CREATE TABLE rollup(
    bucket       INTEGER NOT NULL,             -- ts / 900000
    tool         TEXT NOT NULL,
    workspace_id INTEGER NOT NULL,             -- 0 = none
    branch       TEXT NOT NULL,                -- '' = none
    model        TEXT NOT NULL,                -- '' = none
    session      TEXT NOT NULL,                -- '' = none
    requests     INTEGER NOT NULL,
    input        INTEGER NOT NULL,
    cw5          INTEGER NOT NULL,
    cw1h         INTEGER NOT NULL,
    cr           INTEGER NOT NULL,
    output       INTEGER NOT NULL,
    reasoning    INTEGER NOT NULL,
    cost         REAL NOT NULL,
    unpriced     INTEGER NOT NULL,             -- requests without a price
    estimated    INTEGER NOT NULL,             -- requests with estimated cost
    reported     INTEGER NOT NULL,             -- requests with tool-reported cost
    PRIMARY KEY(bucket, tool, workspace_id, branch, model, session)
) WITHOUT ROWID;
CREATE INDEX rollup_session ON rollup(session);
