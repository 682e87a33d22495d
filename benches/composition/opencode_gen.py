#!/usr/bin/env python3
"""A synthetic OpenCode v1 database for measuring what the context split costs a full read.

    python3 benches/composition/opencode_gen.py SESSIONS REQUESTS_PER_SESSION OUT

writes OUT/home/.local/share/opencode/opencode.db: the `message`/`part`/`session` tables of
OpenCode's schema (as tests/composition_opencode.rs builds them, from `schema.gen.ts`), each
session a user prompt then assistant messages that each hold reasoning, text and a `read`
tool call whose output is 2-12 kB, with step-start/step-finish parts. Synthetic text (no real
OpenCode database is public). Run tokwatch with `HOME=OUT/home`. Standard library only.
"""
import json, os, random, sqlite3, sys

SCHEMA = """
CREATE TABLE `message` (`id` text PRIMARY KEY, `session_id` text NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL, `data` text NOT NULL);
CREATE TABLE `part` (`id` text PRIMARY KEY, `message_id` text NOT NULL, `session_id` text NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL, `data` text NOT NULL);
CREATE TABLE `session` (`id` text PRIMARY KEY, `project_id` text NOT NULL, `slug` text NOT NULL,
  `directory` text NOT NULL, `title` text NOT NULL, `version` text NOT NULL,
  `time_created` integer NOT NULL, `time_updated` integer NOT NULL);
CREATE INDEX `message_session_time_created_id_idx` ON `message` (`session_id`,`time_created`,`id`);
CREATE INDEX `part_message_id_id_idx` ON `part` (`message_id`,`id`);
"""

def words(rng, n):
    out, total = [], 0
    while total < n:
        w = rng.choice(["the", "file", "function", "returns", "value", "error", "config", "test", "build", "path"])
        out.append(w)
        total += len(w) + 1
    return " ".join(out)[:n]

def main():
    sessions, per, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(7)
    d = os.path.join(out, "home/.local/share/opencode")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "opencode.db")
    if os.path.exists(p):
        os.remove(p)
    c = sqlite3.connect(p)
    c.executescript(SCHEMA)
    t = 1_780_000_000_000
    n = 0
    for s in range(sessions):
        sid = f"ses_{s:06d}"
        c.execute("INSERT INTO session VALUES(?,?,?,?,?,?,?,?)", (sid, "prj", sid, "/home/u/proj", "t", "1.2.0", t, t))
        t += 1000
        uid = f"msg_{s:06d}_u"
        c.execute("INSERT INTO message VALUES(?,?,?,?,?)", (uid, sid, t, t, json.dumps({
            "role": "user", "time": {"created": t}, "agent": "build",
            "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"}})))
        c.execute("INSERT INTO part VALUES(?,?,?,?,?,?)", (f"prt_{s:06d}_u", uid, sid, t, t, json.dumps(
            {"type": "text", "text": words(rng, 400), "time": {"start": t, "end": t}})))
        ctx = 12_000
        for r in range(per):
            t += 5000
            mid = f"msg_{s:06d}_{r:04d}"
            out_len = rng.randint(2000, 12000)
            data = {"role": "assistant", "time": {"created": t, "completed": t + 4000}, "parentID": uid,
                    "modelID": "claude-sonnet-4-5", "providerID": "anthropic", "mode": "build", "agent": "build",
                    "path": {"cwd": "/home/u/proj", "root": "/home/u/proj"}, "cost": 0,
                    "tokens": {"input": 3, "output": 200, "reasoning": 0, "cache": {"read": ctx, "write": out_len // 3}},
                    "finish": "tool-calls"}
            ctx += out_len // 3 + 300
            c.execute("INSERT INTO message VALUES(?,?,?,?,?)", (mid, sid, t, t, json.dumps(data)))
            parts = [
                {"type": "step-start", "snapshot": "abc"},
                {"type": "reasoning", "text": words(rng, 500), "time": {"start": t, "end": t}},
                {"type": "text", "text": words(rng, 300), "time": {"start": t, "end": t}},
                {"type": "tool", "callID": f"c_{s}_{r}", "tool": "read", "state": {
                    "status": "completed", "input": {"filePath": f"/home/u/proj/src/f{r}.rs"},
                    "output": words(rng, out_len), "title": "x", "metadata": {"preview": words(rng, 200)},
                    "time": {"start": t, "end": t}}},
                {"type": "step-finish", "reason": "tool-calls", "cost": 0, "tokens": {
                    "input": 3, "output": 200, "reasoning": 0, "cache": {"read": 0, "write": 0}}},
            ]
            for i, pt in enumerate(parts):
                c.execute("INSERT INTO part VALUES(?,?,?,?,?,?)", (f"prt_{mid}_{i}", mid, sid, t, t, json.dumps(pt)))
            n += 1
    c.commit()
    c.close()
    print(f"{sessions} sessions, {n} requests, {os.path.getsize(p):,} bytes in {p}")

if __name__ == "__main__":
    main()
