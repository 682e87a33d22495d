-- tokwatch schema, version 9 (issue 16): a time-only rollup, for reports by day, week or month
-- over long histories in any time zone, and a 64-day rollup for the other reports (docs/design.md, "Rollup layers").
--
-- The sums of all usage, with no tool, repository, branch, model, provider, machine or
-- session: per 15-minute bucket (unit 0), per UTC hour (unit 1), and per local day of each of
-- the 40 UTC offsets zones use today, -12:00 to +14:00 (unit 2, `off` in quarter-hours; `off` =
-- 0 are UTC days; the list is query::OFFSETS). A report by day, week or month with no filter but its range reads a
-- local day of its zone as one row (the day's offset), a day with a clock change or cut by the
-- range as its whole hours and the quarter-hours left over. One row per bucket or day that
-- holds usage: ~35k quarter-hours, ~9k hours and 40 x 365 days a year of daily use. Costs
-- are integer billionths of a dollar, as in `rollup_hour`. Kept in step with `rollup` by the
-- same batch writer in the same transaction (store::write_batch, store::reprice).

CREATE TABLE rollup_time(
    unit         INTEGER NOT NULL,             -- 0 = 15 minutes, 1 = UTC hour, 2 = local day
    off          INTEGER NOT NULL,             -- unit 2: the UTC offset in quarter-hours; else 0
    t            INTEGER NOT NULL,             -- unit 0/1: ts / the unit's width;
                                               -- unit 2: (ts + off x 900000) / 86400000
    requests     INTEGER NOT NULL,
    input        INTEGER NOT NULL,
    cw5          INTEGER NOT NULL,
    cw1h         INTEGER NOT NULL,
    cr           INTEGER NOT NULL,
    output       INTEGER NOT NULL,
    reasoning    INTEGER NOT NULL,
    cost_nano    INTEGER NOT NULL,
    unpriced     INTEGER NOT NULL,
    estimated    INTEGER NOT NULL,
    reported     INTEGER NOT NULL,
    PRIMARY KEY(unit, t, off)                 -- a commit's 40 day rows side by side
) WITHOUT ROWID;

-- Hours from the hourly layer (it holds every request, pruned ones too, with the writer's
-- integer costs).
INSERT INTO rollup_time
SELECT 1, 0, hour, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), sum(cost_nano), sum(unpriced), sum(estimated), sum(reported)
FROM rollup_hour GROUP BY hour HAVING sum(requests) != 0;

-- Quarter-hours from the 15-minute layer (pruned requests are only there), its float costs in
-- billionths: a cell's figure may differ from the writer's sum of each request's billionths
-- by a few billionths (a millionth of a dollar is what reports show). Not from the requests
-- themselves: grouping 10M of them by time took 3 minutes, this takes a second.
INSERT INTO rollup_time
SELECT 0, 0, bucket, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), CAST(round(total(cost) * 1e9) AS INTEGER), sum(unpriced),
       sum(estimated), sum(reported)
FROM rollup GROUP BY bucket HAVING sum(requests) != 0;

-- Local days: of whole-hour offsets from the hours (exact), of the others from the
-- quarter-hours.
INSERT INTO rollup_time
WITH o(q) AS (VALUES (-48), (-44), (-40), (-38), (-36), (-32), (-28), (-24), (-20), (-16),
    (-14), (-12), (-10), (-8), (-4), (0), (4), (8), (12), (14), (16), (18), (20), (22), (23), (24),
    (26), (28), (32), (35), (36), (38), (40), (42), (44), (48), (51), (52), (55), (56))
SELECT 2, o.q, (r.t * 4 + o.q + 960000) / 96 - 10000, sum(requests), sum(input), sum(cw5),
       sum(cw1h), sum(cr), sum(output), sum(reasoning), sum(cost_nano), sum(unpriced),
       sum(estimated), sum(reported)
FROM rollup_time r, o WHERE r.unit = 1 AND o.q % 4 = 0 GROUP BY o.q, 3;

INSERT INTO rollup_time
WITH o(q) AS (VALUES (-48), (-44), (-40), (-38), (-36), (-32), (-28), (-24), (-20), (-16),
    (-14), (-12), (-10), (-8), (-4), (0), (4), (8), (12), (14), (16), (18), (20), (22), (23), (24),
    (26), (28), (32), (35), (36), (38), (40), (42), (44), (48), (51), (52), (55), (56))
SELECT 2, o.q, (r.t + o.q + 960000) / 96 - 10000, sum(requests), sum(input), sum(cw5),
       sum(cw1h), sum(cr), sum(output), sum(reasoning), sum(cost_nano), sum(unpriced),
       sum(estimated), sum(reported)
FROM rollup_time r, o WHERE r.unit = 0 AND o.q % 4 != 0 GROUP BY o.q, 3;

-- The daily layer's sums per 64 UTC days (`span` = day / 64): reports that do not group by time
-- (model, repository, tool, ...) read the whole spans of their range from it and the days at
-- either edge from `rollup_day` (~7x fewer rows than the daily layer for all history of the
-- report benchmark).
CREATE TABLE rollup_span(
    span         INTEGER NOT NULL,             -- ts / (64 x 86400000)
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
    cost_nano    INTEGER NOT NULL,
    unpriced     INTEGER NOT NULL,
    estimated    INTEGER NOT NULL,
    reported     INTEGER NOT NULL,
    last_ms      INTEGER NOT NULL,
    PRIMARY KEY(span, tool, workspace_id, branch, model, provider, machine_id)
) WITHOUT ROWID;

INSERT INTO rollup_span
SELECT (day - ((day % 64) + 64) % 64) / 64, tool, workspace_id, branch, model, provider,
       machine_id, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), sum(cost_nano), sum(unpriced), sum(estimated), sum(reported), max(last_ms)
FROM rollup_day
GROUP BY 1, 2, 3, 4, 5, 6, 7;
