#!/usr/bin/env python3
"""A Claude Code corpus shaped like real logs, for measuring what context composition costs:

    python3 benches/composition/realshape.py COPIES OUT

writes OUT/home/.claude/projects/... : the real sample (`fixtures/claude-code/projects`, three
files, 2.9 MB) copied COPIES times, every uuid, message id (`msg_`), request id (`req_`) and
tool-use id (`toolu_`, `srvtoolu_`) renamed per copy (file and directory names too), so that
each copy is its own sessions and requests (nothing deduplicates across copies) while every line
keeps its length and layout: 72 % of the lines are `progress` lines, most bytes are tool
results. Renamed ids keep their length and alphabet (hex stays hex), so the splits of every copy
are the ones of the sample. 18 copies make about 52 MB, 180 copies about 525 MB.

Run with `HOME=OUT/home TOKWATCH_AUTO_START=0 TOKWATCH_CONFIG_DIR=<tmp> tokwatch --db <fresh>
scan --quiet`. Standard library only.
"""

import hashlib
import os
import re
import shutil
import string
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "fixtures", "claude-code", "projects")

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
API = r"(?:msg|req|toolu|srvtoolu)_[A-Za-z0-9]+"
IDS = re.compile(f"{UUID}|{API}".encode())
HEX = b"0123456789abcdef"
ALNUM = (string.ascii_letters + string.digits).encode()


def renamer(copy: int):
    memo = {}

    def rename(m: re.Match) -> bytes:
        old = m.group(0)
        new = memo.get(old)
        if new is None:
            digest = hashlib.sha256(b"%d:" % copy + old).digest() * 2
            if b"_" in old:
                # Keep the prefix and the two version characters after it (`msg_01`).
                head, tail = old.split(b"_", 1)
                keep = len(head) + 1 + min(2, len(tail))
                body = bytes(ALNUM[d % len(ALNUM)] for d in digest[: len(old) - keep])
                new = old[:keep] + body
            else:
                hexes = iter(HEX[d % 16] for d in digest)
                new = bytes(c if c == ord("-") else next(hexes) for c in old)
            memo[old] = new
        return new

    return lambda b: IDS.sub(rename, b)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    copies, out = int(sys.argv[1]), sys.argv[2]
    dest = os.path.join(out, "home", ".claude", "projects")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    files = []
    for root, _, names in os.walk(SAMPLE):
        for n in names:
            if n.endswith(".jsonl"):
                p = os.path.join(root, n)
                files.append((os.path.relpath(p, SAMPLE), open(p, "rb").read()))
    total = 0
    for c in range(copies):
        r = renamer(c)
        for rel, data in files:
            path = os.path.join(dest, r(rel.encode()).decode())
            os.makedirs(os.path.dirname(path), exist_ok=True)
            body = r(data)
            assert len(body) == len(data)
            with open(path, "wb") as f:
                f.write(body)
            total += len(body)
    print(f"{copies} copies of {len(files)} files, {total:,} bytes in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
