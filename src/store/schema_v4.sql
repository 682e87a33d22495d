-- tokwatch schema, version 4: an hourly rollup without sessions, for reports over long
-- histories (docs/design.md, "Two rollup layers").
--
-- Every real time zone offset is a multiple of 15 minutes and almost all are whole hours, so a
-- local day (or week, or month) of such a zone is a run of whole UTC hours: this layer answers
-- those reports exactly with ~4x fewer time cells and one row per (hour, tool, workspace,
-- branch, model, provider, machine) instead of one per session too. Reports by session, for
-- one session, over ranges that do not start and end on a whole hour, or in a zone whose local
-- midnight falls inside an hour (e.g. Asia/Kolkata) read the 15-minute layer. Kept in step with
-- `rollup` by the same batch writer in the same transaction (store::write_batch).

CREATE TABLE rollup_hour(
    hour         INTEGER NOT NULL,             -- ts / 3600000
    tool         TEXT NOT NULL,
    workspace_id INTEGER NOT NULL,             -- 0 = none
    branch       TEXT NOT NULL,                -- '' = none
    model        TEXT NOT NULL,                -- '' = none
    provider     TEXT NOT NULL,                -- '' = none
    machine_id   INTEGER NOT NULL,             -- 0 = this machine
    requests     INTEGER NOT NULL,
    input        INTEGER NOT NULL,
    cw5          INTEGER NOT NULL,
    cw1h         INTEGER NOT NULL,
    cr           INTEGER NOT NULL,
    output       INTEGER NOT NULL,
    reasoning    INTEGER NOT NULL,
    cost_nano    INTEGER NOT NULL,             -- USD x 1e9, summed as integers: the same total in
                                               -- any order of writes (no float drift)
    unpriced     INTEGER NOT NULL,
    estimated    INTEGER NOT NULL,
    reported     INTEGER NOT NULL,
    last_ms      INTEGER NOT NULL,             -- the latest request ever added to the cell
    PRIMARY KEY(hour, tool, workspace_id, branch, model, provider, machine_id)
) WITHOUT ROWID;

INSERT INTO rollup_hour
SELECT (ts - ((ts % 3600000) + 3600000) % 3600000) / 3600000, tool, coalesce(workspace_id, 0),
       coalesce(branch, ''), coalesce(model, ''), coalesce(provider, ''), machine_id,
       sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output), sum(reasoning),
       sum(CAST(round(coalesce(cost, 0) * 1e9) AS INTEGER)),
       sum(CASE cost_source WHEN 3 THEN requests ELSE 0 END),
       sum(CASE cost_source WHEN 2 THEN requests ELSE 0 END),
       sum(CASE cost_source WHEN 1 THEN requests ELSE 0 END),
       max(ts)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6, 7;
