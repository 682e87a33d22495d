-- tokwatch schema, version 2: machines, change numbers, exporters' ledgers
-- (docs/sync-and-export.md).

-- The machines whose requests this database holds. Row 0 is this machine (its id is set by the
-- writer from the config, or `<hostname>-<6 hex>` once); the others come from export files.
CREATE TABLE machines(
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE                  -- the machine id, e.g. laptop-3fa9c2
);

-- The machine that recorded each request (0 = this one), and that machine's change number of it:
-- each insert or change of a request recorded here takes the next number, so exporters send
-- what is above their ledger's mark, and of two copies from one machine the higher is newer.
ALTER TABLE events ADD COLUMN machine_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN rev INTEGER;
UPDATE events SET rev = id;
CREATE INDEX events_rev ON events(machine_id, rev);

-- Files that sync tools replace with longer copies of themselves: a hash of the bytes just
-- before the checkpoint's offset (tailer::tail_hash), so a copy is read on, not read again.
ALTER TABLE files ADD COLUMN tail_hash INTEGER;

-- How far each exporter (the sync file, OTLP) got: every request of this machine with a change
-- number up to `rev` was written or acknowledged. Committed only after the write or the
-- acknowledgement, so a crash resends (idempotently) and never skips.
CREATE TABLE sent_ledger(
    exporter      TEXT PRIMARY KEY,            -- 'sync:<file>', 'otlp:<endpoint>'
    rev           INTEGER NOT NULL DEFAULT 0,
    sent          INTEGER NOT NULL DEFAULT 0,  -- records written/acknowledged so far
    started_ms    INTEGER NOT NULL,            -- when the exporter was first turned on
    last_ok_ms    INTEGER,
    last_error    TEXT,
    last_error_ms INTEGER
);

-- The rollup gains the provider (the Prometheus and OTLP labels) and the machine (`report
-- machine`, `--machine`); rebuilt from the events it sums.
CREATE TABLE rollup_v2(
    bucket       INTEGER NOT NULL,
    tool         TEXT NOT NULL,
    workspace_id INTEGER NOT NULL,
    branch       TEXT NOT NULL,
    model        TEXT NOT NULL,
    session      TEXT NOT NULL,
    provider     TEXT NOT NULL,                -- '' = none
    machine_id   INTEGER NOT NULL,             -- 0 = this machine
    requests     INTEGER NOT NULL,
    input        INTEGER NOT NULL,
    cw5          INTEGER NOT NULL,
    cw1h         INTEGER NOT NULL,
    cr           INTEGER NOT NULL,
    output       INTEGER NOT NULL,
    reasoning    INTEGER NOT NULL,
    cost         REAL NOT NULL,
    unpriced     INTEGER NOT NULL,
    estimated    INTEGER NOT NULL,
    reported     INTEGER NOT NULL,
    PRIMARY KEY(bucket, tool, workspace_id, branch, model, session, provider, machine_id)
) WITHOUT ROWID;
INSERT INTO rollup_v2
SELECT (ts - ((ts % 900000) + 900000) % 900000) / 900000, tool, coalesce(workspace_id, 0),
       coalesce(branch, ''), coalesce(model, ''), coalesce(session, ''), coalesce(provider, ''),
       machine_id, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), total(cost),
       sum(CASE cost_source WHEN 3 THEN requests ELSE 0 END),
       sum(CASE cost_source WHEN 2 THEN requests ELSE 0 END),
       sum(CASE cost_source WHEN 1 THEN requests ELSE 0 END)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
DROP TABLE rollup;
ALTER TABLE rollup_v2 RENAME TO rollup;
CREATE INDEX rollup_session ON rollup(session);
