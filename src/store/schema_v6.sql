-- tokwatch schema: raw-event retention (`[storage] keep_events_days`, `tokwatch prune`;
-- docs/design.md "Retention"). Numbers and the labels of rollup cells only.
--
-- A pruned request leaves `events` and keeps, here, only what the batch writer needs to merge
-- a later copy of it exactly: its identity (the same 64-bit key hash as `events.key_hash`),
-- the numbers the merge rules compare, and the rollup cell it was summed into (so a copy that
-- replaces it takes its old figures out of the same cell). Reports read the rollup, which a
-- prune does not touch.

-- The rollup cells (without the time) of pruned requests: one row per (tool, repository,
-- branch, model, session, provider, machine), shared by every pruned request of that cell.
CREATE TABLE pruned_cells(
    id           INTEGER PRIMARY KEY,
    tool         TEXT NOT NULL,
    workspace_id INTEGER NOT NULL,             -- 0 = none
    branch       TEXT NOT NULL,                -- '' = none
    model        TEXT NOT NULL,                -- '' = none
    session      TEXT NOT NULL,                -- '' = none
    provider     TEXT NOT NULL,                -- '' = none
    machine_id   INTEGER NOT NULL,
    UNIQUE(tool, workspace_id, branch, model, session, provider, machine_id)
);

-- One row per pruned request. The key hash is the rowid (an INTEGER PRIMARY KEY is stored once,
-- as the b-tree key: as small as a WITHOUT ROWID table, and no second index).
CREATE TABLE pruned(
    key_hash    INTEGER PRIMARY KEY,
    cell        INTEGER NOT NULL,              -- pruned_cells.id
    ts          INTEGER NOT NULL,
    input       INTEGER NOT NULL,
    cw5         INTEGER NOT NULL,
    cw1h        INTEGER NOT NULL,
    cr          INTEGER NOT NULL,
    output      INTEGER NOT NULL,
    reasoning   INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    cost        REAL,                          -- as summed into the rollup; NULL = unpriced
    cost_source INTEGER NOT NULL,
    rev         INTEGER NOT NULL,              -- the recording machine's change number
    msg         INTEGER,                       -- key_hash(tool, message id): sidechain replays
    side        INTEGER NOT NULL               -- 1 = a sidechain record
);
-- A sidechain replay (same message id, another request id) still loses to a pruned main-chain
-- copy, and a main-chain copy still replaces a pruned sidechain record. Not a partial index
-- (`WHERE msg IS NOT NULL`): with one, SQLite prepares every statement on `pruned` with a bound
-- value again for each new value (it checks whether the value implies the index's condition),
-- which made ingest beside pruned requests four times slower.
CREATE INDEX pruned_msg ON pruned(msg);
