-- tokwatch schema, version 3: budgets and alerts (docs/budgets.md). Numbers, ids and names only.

-- Budgets set with `tokwatch budget set` (the dashboard too); config.toml holds the others. A
-- row here wins over a config budget with the same id.
CREATE TABLE budgets(
    id         TEXT PRIMARY KEY,
    period     TEXT NOT NULL,                -- day | week | month
    scope      TEXT NOT NULL,                -- all | repo:<name> | tool:<id> | model:<text> | provider:<id>
    limit_usd  REAL NOT NULL,
    thresholds TEXT,                         -- JSON array of fractions; NULL = the default
    hard       INTEGER NOT NULL DEFAULT 0,   -- a cap `tokwatch guard` enforces
    updated_ms INTEGER NOT NULL
);

-- Every alert that fired, once per key: a budget threshold once per (budget, period, limit,
-- threshold), a signal once per session and episode. The UNIQUE key is what keeps a restart, a
-- re-scan or a backfill from firing an alert again.
CREATE TABLE alerts(
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    ts_ms           INTEGER NOT NULL,        -- when it fired
    kind            TEXT NOT NULL,           -- threshold | forecast | burn | loop | fallback | plan
    budget_id       TEXT,
    period_start_ms INTEGER,
    threshold       REAL,
    limit_usd       REAL,
    spent_usd       REAL,
    session         TEXT,
    message         TEXT NOT NULL,           -- tokwatch's own words, never log text
    delivery        TEXT NOT NULL            -- sent | paused | superseded | off
);
CREATE INDEX alerts_ts ON alerts(ts_ms);

-- Small settings the daemon keeps across restarts (the tray's "Pause alerts", the guard's
-- session cap set from the command line).
CREATE TABLE alert_settings(
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The latest plan-limit snapshot per window, as Claude Code's statusline input gave it.
CREATE TABLE plan_limits(
    name         TEXT PRIMARY KEY,           -- five_hour | seven_day | ...
    used_pct     REAL NOT NULL,              -- 0..100
    resets_at_ms INTEGER,
    captured_ms  INTEGER NOT NULL
);

-- Sessions `tokwatch guard allow` lets go on past the caps.
CREATE TABLE guard_allow(
    session TEXT PRIMARY KEY,
    ts_ms   INTEGER NOT NULL
);
