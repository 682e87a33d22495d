-- tokwatch schema, version 5 (issue 10): exact session times, re-pricing, remembered workspace
-- roots. Numbers, names and paths only.

-- `report session` shows each session's real first and last request time (the rollup only
-- knows 15-minute buckets).
CREATE INDEX events_session ON events(session, tool, ts);

-- What re-pricing needs besides the tokens: the logged speed (price variant) and whether the
-- tokens are estimates. Rows stored before this version do not know their speed: '?' (see
-- store::reprice, docs/pricing.md). New rows store NULL for the standard speed.
ALTER TABLE events ADD COLUMN speed TEXT DEFAULT '?';
ALTER TABLE events ADD COLUMN est INTEGER NOT NULL DEFAULT 0;
UPDATE events SET est = 1 WHERE cost_source = 2;

-- A workspace root (a directory some event's cwd resolved to) and the repository row it
-- belongs to: once resolved, later events under that root land on the same row, even after
-- the checkout is deleted or its remote can no longer be read.
CREATE TABLE workspace_roots(
    root         TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL
);
-- Roots already known (a database from before this version).
INSERT OR IGNORE INTO workspace_roots(root, workspace_id)
    SELECT root, id FROM workspaces WHERE root IS NOT NULL AND root != '';
