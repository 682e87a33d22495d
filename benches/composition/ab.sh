#!/bin/bash
# benches/composition/ab.sh HOME RUNS BIN...: cold scans of the logs under HOME, each binary in
# turn RUNS times (interleaved), a fresh database each; prints "BIN wall user sys peak-RSS-KB"
# per run (/usr/bin/time). Medians: see docs/benchmarks.md, "Issue 14: every tool's split merged".
H=$1; N=$2; shift 2
for i in $(seq $N); do
  for b in "$@"; do
    d=$(mktemp -d /tmp/ab.XXXX)
    HOME=$H TOKWATCH_AUTO_START=0 TOKWATCH_CONFIG_DIR=$d TZ=UTC /usr/bin/time -f "$b %e %U %S %M" $b --db $d/t.db scan --quiet 2>&1 | tail -1
    rm -rf $d
  done
done
