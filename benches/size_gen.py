#!/usr/bin/env python3
"""Writes N synthetic Claude Code requests (default 100,000) as one transcript, in the shape of
tests/common/lines.rs, for the database-size measurement in docs/benchmarks.md (issue 12).

    python3 benches/size_gen.py /tmp/sz/home/.claude/projects/-p/s.jsonl [N]
"""
import datetime
import os
import random
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
random.seed(1)
os.makedirs(os.path.dirname(out), exist_ok=True)
t0 = datetime.datetime(2026, 11, 1)
with open(out, "w") as f:
    for i in range(n):
        ts = (t0 + datetime.timedelta(seconds=i * 25)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        f.write(
            '{"type":"assistant","sessionId":"sess-%d","cwd":"/nonexistent/acme/w%d","gitBranch":"main",'
            '"requestId":"req_%d","timestamp":"%s","message":{"model":"claude-opus-4-6","id":"msg_%d",'
            '"usage":{"input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":%d}}}\n'
            % (i // 500, i % 7, i, ts, i, random.randint(1, 5000), random.randint(0, 200000), random.randint(1, 3000))
        )
