#!/usr/bin/env bash
# Makes docs/dashboard-{overview,repos,workspace,session,treemap}.png: the real daemon on a
# generated 30-day history (Claude Code transcripts in the shape of the real samples, in four
# git repositories made here; one model without a known price), a daily budget, and every page
# loaded by the browser driver (tests/browser/dashboard.mjs: headless Chromium, 1280x900).
#
#   bash docs/dashboard-screenshots.sh            # needs chromium, node, tests/browser/node_modules
#
# Nothing leaves the machine; everything but the PNGs lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cargo build --release --quiet
[ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund --silent
tmp=$(mktemp -d)
daemon=
cleanup() { [ -n "$daemon" ] && kill "$daemon" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export HOME="$tmp/home" TOKWATCH_DB="$tmp/tokwatch.db" TOKWATCH_CONFIG_DIR="$tmp/config" \
  XDG_RUNTIME_DIR="$tmp" NO_COLOR=1 TZ=UTC
mkdir -p "$HOME/.claude/projects" "$TOKWATCH_CONFIG_DIR"
for r in acme/api acme/web tools/cli lab/notebooks; do
  d="$HOME/src/${r#*/}"
  git init -q -b main "$d"
  git -C "$d" remote add origin "git@github.com:$r.git"
done
git -C "$HOME/src/web" checkout -q -b feature/checkout

python3 - "$HOME" <<'EOF'
import json, random, sys, time, os
home = sys.argv[1]
rng = random.Random(13)
now = int(time.time() * 1000)
repos = [("api", 0.45), ("web", 0.3), ("cli", 0.15), ("notebooks", 0.1)]
models = ["claude-opus-4-6"] * 5 + ["claude-sonnet-4-5"] * 4 + ["qwen2.5-coder:32b"]
n = 0
for day in range(30, -1, -1):
    for s in range(rng.randint(1, 4) if day else 3):
        repo = rng.choices([r for r, _ in repos], [w for _, w in repos])[0]
        sid = "%08x-5e55-4c0d-9a1b-%012x" % (rng.getrandbits(32), rng.getrandbits(48))
        if day:
            t = now - day * 86_400_000 + rng.randint(-6, 4) * 3_600_000
        else:
            t = now - rng.randint(20, 170) * 60_000
        model = rng.choice(models)
        branch = "feature/checkout" if repo == "web" else "main"
        lines = []
        context = rng.randint(8_000, 30_000)
        for r in range(rng.randint(8, 60)):
            t += rng.randint(8_000, 90_000)
            if t > now - 5_000:
                break
            if r == 25 and model == "claude-opus-4-6":
                model = "claude-sonnet-4-5"  # a fallback, shown on the session page
            context += rng.randint(500, 6_000)
            cw = rng.randint(0, 8_000)
            n += 1
            lines.append(json.dumps({
                "type": "assistant", "sessionId": sid, "cwd": f"{home}/src/{repo}",
                "gitBranch": branch, "requestId": f"req_{n}",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / 1000)) + ".000Z",
                "message": {"model": model, "id": f"msg_{n}", "usage": {
                    "input_tokens": rng.randint(1, 40), "cache_creation_input_tokens": cw,
                    "cache_read_input_tokens": context, "output_tokens": rng.randint(80, 2_500),
                    "cache_creation": {"ephemeral_5m_input_tokens": cw, "ephemeral_1h_input_tokens": 0}}},
            }))
        d = os.path.join(home, ".claude/projects", "-home-src-" + repo)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, sid + ".jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
EOF

tokwatch="$root/target/release/tokwatch"
"$tokwatch" budget set 60 --daily >/dev/null
"$tokwatch" budget set 250 --weekly >/dev/null
"$tokwatch" budget set 40 --weekly --repo acme/api >/dev/null
"$tokwatch" run --no-tray 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 100); do grep -q "dashboard at" "$tmp/daemon.log" && break; sleep 0.1; done
url=$("$tokwatch" dashboard --no-open)
base=${url%/#token=*}
shots="$tmp/shots"
node tests/browser/dashboard.mjs "$base" --repo acme/api --screenshot "$shots" >"$tmp/pages.json"
for p in overview repos workspace session treemap; do
  cp "$shots/$p.png" "docs/dashboard-$p.png"
done
echo "wrote docs/dashboard-{overview,repos,workspace,session,treemap}.png from $base"
