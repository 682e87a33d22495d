-- tokwatch schema, version 9 (issue 16): a time-only rollup, for reports by day, week or month
-- over long histories in any time zone (docs/design.md, "Rollup layers").
--
-- The sums of all usage per 15-minute bucket (unit 0), per UTC hour (unit 1) and per UTC day
-- (unit 2), with no tool, repository, branch, model, provider, machine or session: one row per
-- bucket that holds usage (~35k quarter-hours, ~9k hours and 365 days a year of daily use). A
-- report by day, week or month with no filter but its range, and the forecast of the total
-- spend, read it: a local day of any zone is its whole UTC days, the whole hours at its edges
-- and the quarter-hours left over (a zone half an hour from UTC needs four quarter rows a day).
-- Costs are integer billionths of a dollar, as in `rollup_hour`. Kept in step with `rollup` by
-- the same batch writer in the same transaction (store::write_batch, store::reprice).

CREATE TABLE rollup_time(
    unit         INTEGER NOT NULL,             -- 0 = 15 minutes, 1 = UTC hour, 2 = UTC day
    t            INTEGER NOT NULL,             -- ts / the unit's width
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
    PRIMARY KEY(unit, t)
) WITHOUT ROWID;

-- Hours and days from the hourly layer (it holds every request, pruned ones too, with the
-- writer's integer costs).
INSERT INTO rollup_time
SELECT 1, hour, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), sum(cost_nano), sum(unpriced), sum(estimated), sum(reported)
FROM rollup_hour GROUP BY hour HAVING sum(requests) != 0;

INSERT INTO rollup_time
SELECT 2, t / 24, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), sum(cost_nano), sum(unpriced), sum(estimated), sum(reported)
FROM rollup_time WHERE unit = 1 GROUP BY t / 24;

-- Quarter-hours from the 15-minute layer (pruned requests are only there), its float costs in
-- billionths: a cell's figure may differ from the writer's sum of each request's billionths
-- by a few billionths (a millionth of a dollar is what reports show). Not from the requests
-- themselves: grouping 10M of them by time took 3 minutes, this takes a second.
INSERT INTO rollup_time
SELECT 0, bucket, sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
       sum(reasoning), CAST(round(total(cost) * 1e9) AS INTEGER), sum(unpriced),
       sum(estimated), sum(reported)
FROM rollup GROUP BY bucket HAVING sum(requests) != 0;
