-- tokwatch schema, version 10 (issue 16): the uniqueness of a request's identity moves from
-- the definition of `events` (an index that can never be dropped) to an index of its own,
-- `events_key`. A first load into an empty database drops it, and `events_msg_main`, and
-- builds both at its end (one sort each) after merging the copies of one request it stored
-- apart (store::bulk): random inserts into two indexes larger than the writer's page cache
-- were most of the cost of a 10 GB first load. Each row keeps the merge rule of the copy it
-- holds (`rule`, event::Merge::as_i64), which that merge applies. Rows of older versions
-- have none (NULL: never needed, they are not part of a first load).
CREATE TABLE events_v10(
    id           INTEGER PRIMARY KEY,
    tool         TEXT NOT NULL,
    key_hash     INTEGER NOT NULL,             -- 64-bit hash of (tool, the parser's dedup key)
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
    file_id      INTEGER,
    machine_id   INTEGER NOT NULL DEFAULT 0,
    rev          INTEGER,
    speed        TEXT DEFAULT '?',
    est          INTEGER NOT NULL DEFAULT 0,
    ctx          TEXT,
    rule         INTEGER
);
INSERT INTO events_v10(id, tool, key_hash, ts, model, provider, session, workspace_id, branch,
        input, cw5, cw1h, cr, output, reasoning, requests, cost, cost_source, price_key, msg_id,
        sidechain, file_id, machine_id, rev, speed, est, ctx)
    SELECT id, tool, key_hash, ts, model, provider, session, workspace_id, branch,
        input, cw5, cw1h, cr, output, reasoning, requests, cost, cost_source, price_key, msg_id,
        sidechain, file_id, machine_id, rev, speed, est, ctx
    FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_v10 RENAME TO events;
CREATE UNIQUE INDEX events_key ON events(key_hash);
CREATE INDEX events_msg_main ON events(msg_id) WHERE sidechain = 0 AND msg_id IS NOT NULL;
CREATE INDEX events_msg_side ON events(msg_id) WHERE sidechain = 1 AND msg_id IS NOT NULL;
CREATE INDEX events_rev ON events(machine_id, rev);
CREATE INDEX events_session ON events(session, tool, ts);
