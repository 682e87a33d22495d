#!/usr/bin/env python3
"""Interleaved A/B of `tokwatch report G --json` over all history (docs/benchmarks.md, "Issue 16:
reports over 10M requests in every zone"):

    python3 benches/report/ab.py OLD_BIN OLD_DB NEW_BIN NEW_DB [RUNS] [--callgrind]

For every zone and grouping, RUNS x (old, new) runs one after the other, each with an empty
HOME and TOKWATCH_AUTO_START=0 (a report would otherwise start a daemon on the database);
prints the median wall times in ms, and with --callgrind each build's instructions once
(valgrind --tool=callgrind, whole process).
"""
import os, statistics, subprocess, sys, tempfile, time

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
GROUPS = ["day", "week", "month", "model", "repo"]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) < 4:
        sys.exit(__doc__)
    builds = {"old": (args[0], args[1]), "new": (args[2], args[3])}
    runs = int(args[4]) if len(args) > 4 else 9
    home = tempfile.mkdtemp(prefix="tokwatch-report-ab-")
    for tz in ZONES:
        for g in GROUPS:
            env = dict(os.environ, HOME=home, TOKWATCH_AUTO_START="0", TZ=tz)
            times = {"old": [], "new": []}
            for _ in range(runs):
                for name, (b, db) in builds.items():
                    t = time.perf_counter()
                    subprocess.run([b, "--db", db, "report", g, "--json"],
                                   stdout=subprocess.DEVNULL, env=env, check=True)
                    times[name].append((time.perf_counter() - t) * 1000)
            line = f"{tz} {g}: old {statistics.median(times['old']):.1f} ms, " \
                   f"new {statistics.median(times['new']):.1f} ms " \
                   f"(new {min(times['new']):.1f}-{max(times['new']):.1f})"
            if "--callgrind" in sys.argv:
                for name, (b, db) in builds.items():
                    out = os.path.join(home, f"cg.{name}")
                    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                    b, "--db", db, "report", g, "--json"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=env, check=True)
                    ir = next(l.split()[1] for l in open(out) if l.startswith("summary"))
                    line += f", {name} {int(ir) / 1e6:.1f} M instructions"
            print(line, flush=True)


main()
