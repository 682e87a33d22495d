#!/usr/bin/env python3
"""Checks a database scanned from a generated corpus, without tokwatch itself:

    python3 benches/compare/verify.py DB [TRUTH.json]

- every (UTC day, model) total of `events` against the generator's `truth.json` (requests and
  every token field), when given;
- the three rollup layers against `events` (per cell of each layer: requests, tokens, cost);
- the indexes a finished scan must have (`sqlite_master`), and `PRAGMA integrity_check`;
- prints a SHA-256 over every stored event (sorted by key hash; the workspace by its key, not
  its row id; without the change number and the file, which follow the order in which parallel
  workers finished files) and one
  over every file's checkpoint (path, offset, state, counts), for comparing two builds.

Exit status 1 when anything differs. Standard library only.
"""

import hashlib
import json
import sqlite3
import sys

INDEXES = {
    "events_msg_main", "events_msg_side", "events_rev", "events_session", "rollup_session",
    "pruned_msg", "alerts_ts",
}


def main() -> int:
    db = sys.argv[1]
    truth = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else None
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    bad = 0

    have = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    missing = INDEXES - have
    if missing:
        print("missing indexes:", ", ".join(sorted(missing)))
        bad += 1
    ok = c.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        print("integrity_check:", ok)
        bad += 1

    if truth is not None:
        got = {}
        for day, model, req, inp, out, rsn, cr, w5, w1 in c.execute(
            """SELECT date(ts / 1000, 'unixepoch'), model, sum(requests), sum(input), sum(output),
                      sum(reasoning), sum(cr), sum(cw5), sum(cw1h)
               FROM events GROUP BY 1, 2"""
        ):
            if req:
                got[(day, model)] = (req, inp, out, rsn, cr, w5, w1)
        want = {
            (t["day"], t["model"]): (
                t["requests"], t["input"], t["output"], t["reasoning"], t["cache_read"],
                t["cache_write_5m"], t["cache_write_1h"],
            )
            for t in truth["cells"]
        }
        for k in sorted(set(got) | set(want)):
            if got.get(k) != want.get(k):
                print("cell differs:", k, "stored", got.get(k), "truth", want.get(k))
                bad += 1
        n = sum(v[0] for v in got.values())
        print(f"truth: {len(want)} cells, {n:,} requests stored, {truth['requests']:,} in truth,",
              "equal" if got == want else "DIFFERENT")

    # Each rollup layer against the events it sums.
    ev = """SELECT {t}, tool, coalesce(workspace_id, 0), coalesce(branch, ''), coalesce(model, ''),
                   {extra} sum(requests), sum(input), sum(cw5), sum(cw1h), sum(cr), sum(output),
                   sum(reasoning), {cost}
            FROM events GROUP BY {g}"""
    layers = [
        ("rollup", "ts / 900000", "coalesce(session, ''), coalesce(provider, ''), machine_id,",
         "round(total(cost), 6)",
         "SELECT bucket, tool, workspace_id, branch, model, session, provider, machine_id, requests,"
         " input, cw5, cw1h, cr, output, reasoning, round(cost, 6) FROM rollup", 8),
        ("rollup_hour", "ts / 3600000", "coalesce(provider, ''), machine_id,",
         "sum(CAST(round(coalesce(cost, 0) * 1e9) AS INTEGER))",
         "SELECT hour, tool, workspace_id, branch, model, provider, machine_id, requests, input,"
         " cw5, cw1h, cr, output, reasoning, cost_nano FROM rollup_hour", 7),
        ("rollup_day", "ts / 86400000", "coalesce(provider, ''), machine_id,",
         "sum(CAST(round(coalesce(cost, 0) * 1e9) AS INTEGER))",
         "SELECT day, tool, workspace_id, branch, model, provider, machine_id, requests, input,"
         " cw5, cw1h, cr, output, reasoning, cost_nano FROM rollup_day", 7),
    ]
    for name, t, extra, cost, q, nkey in layers:
        g = ", ".join(str(i) for i in range(1, nkey + 1))
        from_events = {r[:nkey]: r[nkey:] for r in c.execute(ev.format(t=t, extra=extra, cost=cost, g=g))}
        stored = {r[:nkey]: r[nkey:] for r in c.execute(q) if any(r[nkey:])}
        diff = [k for k in set(from_events) | set(stored) if not close(from_events.get(k), stored.get(k))]
        if diff:
            print(f"{name}: {len(diff)} cells differ from events, e.g.", diff[0],
                  from_events.get(diff[0]), stored.get(diff[0]))
            bad += 1
        else:
            print(f"{name}: {len(stored):,} cells equal to events")

    h = hashlib.sha256()
    n = 0
    for r in c.execute(
        """SELECT e.key_hash, e.tool, e.ts, e.model, e.provider, e.session, w.key, e.branch,
                  e.input, e.cw5, e.cw1h, e.cr, e.output, e.reasoning, e.requests, e.cost,
                  e.cost_source, e.price_key, e.msg_id, e.sidechain, e.machine_id, e.speed, e.est,
                  e.ctx
           FROM events e LEFT JOIN workspaces w ON w.id = e.workspace_id ORDER BY e.key_hash"""
    ):
        h.update(repr(r).encode())
        n += 1
    print(f"events: {n:,} rows, sha256 {h.hexdigest()}")
    h = hashlib.sha256()
    for r in c.execute(
        "SELECT path, tool, size, offset, state, lines, events, malformed, first_error, read_error"
        " FROM files ORDER BY path"
    ):
        h.update(repr(r).encode())
    print(f"files: sha256 {h.hexdigest()}")
    return 1 if bad else 0


def close(a, b) -> bool:
    if a is None or b is None:
        return a == b or not any((a or b))
    return all(x == y or (isinstance(x, float) and abs(x - y) < 1e-4) for x, y in zip(a, b))


if __name__ == "__main__":
    sys.exit(main())
