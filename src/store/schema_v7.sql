-- tokwatch schema, version 7 (issue 16): a daily rollup without sessions, for reports over
-- long histories (docs/design.md, "Three rollup layers").
--
-- The same sums as `rollup_hour` per UTC day. A report that does not group by time (model,
-- repository, tool, ...) is the same in every time zone, so over a range that starts and ends
-- at UTC midnights (all history does) it reads this layer alone; other ranges read it for their
-- whole UTC days and the finer layers for the edges. A report by day, week or month in UTC
-- reads it too. Kept in step with `rollup` and `rollup_hour` by the same batch writer in the
-- same transaction (store::write_batch, store::reprice).

CREATE TABLE rollup_day(
    day          INTEGER NOT NULL,             -- ts / 86400000 (a UTC day)
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
    cost_nano    INTEGER NOT NULL,             -- USD x 1e9, as in rollup_hour
    unpriced     INTEGER NOT NULL,
    estimated    INTEGER NOT NULL,
    reported     INTEGER NOT NULL,
    last_ms      INTEGER NOT NULL,             -- the latest request ever added to the cell
    PRIMARY KEY(day, tool, workspace_id, branch, model, provider, machine_id)
) WITHOUT ROWID;

INSERT INTO rollup_day
SELECT (hour - ((hour % 24) + 24) % 24) / 24, tool, workspace_id, branch, model, provider,
       machine_id, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), sum(cost_nano), sum(unpriced), sum(estimated), sum(reported), max(last_ms)
FROM rollup_hour
GROUP BY 1, 2, 3, 4, 5, 6, 7;
