#!/usr/bin/env python3
"""Side-by-side benchmark: tokwatch against ccusage 20 (native build) and tokscale.

    python3 benches/compare/compare.py                     # quick: 0.2 GB corpora, 5 runs
    nice -n 5 python3 benches/compare/compare.py --sizes 1  # the issue's 1x sizes
    TOKWATCH_BIN=old/tokwatch TOKWATCH_BIN_B=new/tokwatch \\
        python3 benches/compare/compare.py --peers none    # A/B of two tokwatch builds

What it does (docs/benchmarks.md, "Side by side with ccusage and tokscale"):
1. builds tokwatch (unless TOKWATCH_BIN is given) and the corpus generator
   (`cargo build --release --example compare-gen`, benches/compare/gen.rs);
2. generates each corpus once, cached under target/bench-data/compare/<shape>-<size>gb/
   (usage-dense Claude Code, content-heavy Claude Code, Codex with re-emits and forks), with the
   generator's own ground truth (truth.json: what a correct reader counts per UTC day and model);
3. installs ccusage@20 and tokscale (plus the bun runtime tokscale needs) from the npm registry
   into a temporary directory (the only network use), makes ccusage's native binary executable;
4. per corpus: reads every file once (page cache), then runs each tool interleaved
   (A B C, A B C, ...) under /usr/bin/time -v, each cold tokwatch run with a fresh database and
   config, then a warm re-run of tokwatch (nothing new) against the peers' runs;
5. prints median wall, min-max, median CPU-seconds (user+sys), median peak RSS, the ratios, and
   the totals per (day, model) of every tool against the ground truth, every difference listed;
   writes the same to target/bench-data/compare/results/<time>/ (summary.md, results.json).

Every tool runs with TZ=UTC (and --tz utc / --timezone UTC), HOME at the corpus home,
CLAUDE_CONFIG_DIR / CODEX_HOME at the corpus, empty XDG and tokwatch config dirs, and (where
`unshare -n` works) in a network namespace without network, so no tool reaches anything.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ("claude-dense", "claude-content", "codex")

# USD per million tokens: (input, output, cache read, cache write 5m, cache write 1h). The
# vendors' list prices for the models the generator writes (the same rates EXPECTED.md's cost
# cross-check uses for opus-4-6 and sonnet-4-5). The ground-truth cost is the generator's
# tokens at these rates; tokscale, which cannot fetch its LiteLLM prices offline, is handed
# these rates in its own cache format (one cache-write rate: the 5-minute one).
PRICES = {
    "claude-opus-4-6": (5.0, 25.0, 0.5, 6.25, 10.0),
    "claude-sonnet-4-5-20250929": (3.0, 15.0, 0.3, 3.75, 6.0),
    "claude-haiku-4-5-20251001": (1.0, 5.0, 0.1, 1.25, 2.0),
    "gpt-5.3-codex": (1.75, 14.0, 0.175, 1.75, 1.75),
    "gpt-5.2-codex": (1.75, 14.0, 0.175, 1.75, 1.75),
    "gpt-5.1-codex-mini": (0.25, 2.0, 0.025, 0.25, 0.25),
}
FIELDS = ("input", "output", "cache_read", "cache_write")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


def fmt_gb(gb: float) -> str:
    return f"{gb:g}gb"


def human(n: float) -> str:
    return f"{n:,.0f}"


# --------------------------------------------------------------------------------------------
# Setup: /usr/bin/time, builds, corpora, peers


def ensure_gnu_time() -> str:
    t = "/usr/bin/time"
    if os.access(t, os.X_OK):
        return t
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing Debian's `time` package (/usr/bin/time -v)")
        run(["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL)
        run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "time"],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if os.access(t, os.X_OK):
            return t
    sys.exit("/usr/bin/time (GNU time) is missing: install it (apt-get install time)")


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")).resolve()


def build(need_tokwatch: bool) -> Path:
    what = ["--example", "compare-gen"] + (["--bin", "tokwatch"] if need_tokwatch else [])
    log("building:", " ".join(what))
    run(["cargo", "build", "--release", "--locked", *what], cwd=ROOT)
    return target_dir() / "release" / "examples" / "compare-gen"


# Bumped whenever benches/compare/gen.rs writes different corpora, so that a cached corpus of an
# older generator is made again (2: Claude Code message and request ids of the real length).
CORPUS_FORMAT = "2"


def corpus(gen: Path, data: Path, shape: str, gb: float) -> Path:
    d = data / f"{shape}-{fmt_gb(gb)}"
    fmt = d / "format"
    if (d / "done").exists() and (d / "truth.json").exists():
        if fmt.exists() and fmt.read_text().strip() == CORPUS_FORMAT:
            return d
        log(f"{d.name} was made by an older generator: making it again")
        shutil.rmtree(d)
    need = gb * 1e9 * 1.05
    free = shutil.disk_usage(data).free
    if free - need < 5e9:
        sys.exit(f"not enough disk for {d.name}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed + 5 GB kept free")
    log(f"generating {d.name} ...")
    run([str(gen), "--shape", shape, "--mb", f"{gb * 1000:g}", "--out", str(d)])
    fmt.write_text(CORPUS_FORMAT + "\n")
    return d


def native_platform() -> str:
    m = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)
    return f"{sys.platform if sys.platform != 'win32' else 'win32'}-{arch}"


def npm_install(prefix: Path, specs: list[str]):
    log("npm install", " ".join(specs), "into", prefix)
    run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", *specs],
        stdout=subprocess.DEVNULL,
    )


def version_of(cmd: list[str], env) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[0]
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return f"unknown ({e})"


def install_peers(prefix: Path, want: list[str], ccusage_spec: str, tokscale_spec: str) -> dict:
    """Installs the peers into prefix; returns {name: {argv0, version, notes} or {error}}."""
    prefix.mkdir(parents=True, exist_ok=True)
    nm = prefix / "node_modules"
    peers: dict = {}
    env = {"PATH": f"{nm / '.bin'}:{os.environ.get('PATH', '')}", "HOME": str(prefix)}
    if "ccusage" in want:
        notes = []
        plat = native_platform()
        native = nm / "@ccusage" / f"ccusage-{plat}" / "bin" / "ccusage"
        try:
            if not native.exists():
                npm_install(prefix, [f"ccusage@{ccusage_spec}"])
            if not native.exists():
                # The wrapper resolved to a release whose native package is not published for
                # this platform: take the newest release of that major that has one.
                got = json.loads((nm / "ccusage" / "package.json").read_text())["version"]
                vs = json.loads(
                    subprocess.run(
                        ["npm", "view", f"@ccusage/ccusage-{plat}", "versions", "--json"],
                        capture_output=True, text=True, check=True,
                    ).stdout
                )
                vs = [vs] if isinstance(vs, str) else vs
                major = ccusage_spec.split(".")[0]
                ok = [v for v in vs if re.fullmatch(r"\d+\.\d+\.\d+", v) and v.split(".")[0] == major]
                if not ok:
                    raise RuntimeError(f"no @ccusage/ccusage-{plat} release for ccusage {major}.x")
                best = max(ok, key=lambda v: tuple(map(int, v.split("."))))
                notes.append(
                    f"ccusage@{ccusage_spec} resolved to {got}, whose native package "
                    f"@ccusage/ccusage-{plat} is not on the registry; installed {best}, the newest "
                    f"{major}.x release that has one"
                )
                npm_install(prefix, [f"ccusage@{best}"])
            if not native.exists():
                raise RuntimeError(f"no native binary at {native}")
            mode = native.stat().st_mode
            if not mode & 0o111:
                native.chmod(mode | 0o755)
                notes.append("its native binary shipped without the execute bit: chmod +x")
            peers["ccusage"] = {
                "argv0": str(native),
                "version": version_of([str(native), "--version"], env),
                "notes": notes,
            }
        except Exception as e:  # noqa: BLE001 - a peer that cannot be installed is reported
            peers["ccusage"] = {"error": f"install failed: {e}"}
    if "tokscale" in want:
        try:
            bin_ = nm / ".bin" / "tokscale"
            if not bin_.exists() or not (nm / ".bin" / "bun").exists():
                # tokscale's CLI is a Bun script (#!/usr/bin/env bun); Bun comes from npm too.
                npm_install(prefix, [f"tokscale@{tokscale_spec}", "bun"])
            v = version_of([str(bin_), "--version"], env)
            if not re.match(r"^\d", v):
                raise RuntimeError(f"tokscale does not start: {v}")
            peers["tokscale"] = {
                "argv0": str(bin_),
                "version": f"tokscale {v} (bun {version_of([str(nm / '.bin' / 'bun'), '--version'], env)})",
                "notes": [
                    "prices: its LiteLLM download cannot run offline, so it is given the "
                    "reference rates as its LiteLLM cache (one cache-write rate, the 5-minute one)"
                ],
            }
        except Exception as e:  # noqa: BLE001
            peers["tokscale"] = {"error": f"install failed: {e}"}
    return peers


# --------------------------------------------------------------------------------------------
# Running the tools


def netns_prefix() -> list[str]:
    for p in (["unshare", "-n", "--"], ["unshare", "-rn", "--"]):
        try:
            if subprocess.run([*p, "true"], capture_output=True).returncode == 0:
                return p
        except FileNotFoundError:
            return []
    return []


class Tool:
    """One measured command line; `prepare(run_dir)` returns (argv, stdout path)."""

    def __init__(self, name: str, kind: str, argv0: str, version: str, notes=None):
        self.name, self.kind, self.argv0, self.version = name, kind, argv0, version
        self.notes = notes or []


def tool_env(home: Path, scratch: Path, peers_bin: Path | None) -> dict:
    xdg = scratch / "xdg"
    for d in ("config", "data", "cache", "state", "tmp", "twcfg"):
        (xdg / d).mkdir(parents=True, exist_ok=True)
    path = os.environ.get("PATH", "/usr/bin:/bin")
    if peers_bin:
        path = f"{peers_bin}:{path}"
    env = {
        "PATH": path,
        "HOME": str(home),
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(xdg / "config"),
        "XDG_DATA_HOME": str(xdg / "data"),
        "XDG_CACHE_HOME": str(xdg / "cache"),
        "XDG_STATE_HOME": str(xdg / "state"),
        "TMPDIR": str(xdg / "tmp"),
        "TOKWATCH_CONFIG_DIR": str(xdg / "twcfg"),
        # `report` would start a daemon for each cold run's database (and wait for it to catch
        # up); those daemons outlive the run and share the cores with the next ones.
        "TOKWATCH_AUTO_START": "0",
    }
    if (home / ".claude").is_dir():
        env["CLAUDE_CONFIG_DIR"] = str(home / ".claude")
    if (home / ".codex").is_dir():
        env["CODEX_HOME"] = str(home / ".codex")
    return env


def write_tokscale_prices(env: dict):
    d = Path(env["XDG_CACHE_HOME"]) / "tokscale"
    d.mkdir(parents=True, exist_ok=True)
    data = {}
    for m, (i, o, cr, w5, _w1) in PRICES.items():
        data[m] = {
            "input_cost_per_token": i / 1e6,
            "output_cost_per_token": o / 1e6,
            "cache_read_input_token_cost": cr / 1e6,
            "cache_creation_input_token_cost": w5 / 1e6,
        }
    # tokscale keeps a fetched LiteLLM price list for an hour: {"timestamp": secs, "data": {...}}.
    (d / "pricing-litellm.json").write_text(json.dumps({"timestamp": int(time.time()), "data": data}))


def parse_time_v(path: Path) -> dict:
    r = {}
    for line in path.read_text().splitlines():
        k, _, v = line.strip().rpartition(": ")
        if k == "User time (seconds)":
            r["user"] = float(v)
        elif k == "System time (seconds)":
            r["sys"] = float(v)
        elif k == "Maximum resident set size (kbytes)":
            r["rss_mb"] = int(v) / 1024
        elif k == "Exit status":
            r["exit"] = int(v)
    return r


def timed(gnu_time: str, ns: list[str], argv: list[str], env: dict, out: Path, scratch: Path) -> dict:
    tv = scratch / "time.txt"
    err = scratch / "stderr.txt"
    load = os.getloadavg()[0]  # the machine is shared: how busy it was when this run started
    with open(out, "wb") as o, open(err, "wb") as e:
        t0 = time.perf_counter()
        p = subprocess.run([gnu_time, "-v", "-o", str(tv), *ns, *argv], stdout=o, stderr=e, env=env)
        wall = time.perf_counter() - t0
    r = parse_time_v(tv) if tv.exists() else {}
    r["wall"] = wall
    r["load"] = load
    r["cpu"] = r.get("user", 0) + r.get("sys", 0)
    r["rc"] = p.returncode
    if p.returncode != 0:
        r["error"] = err.read_text(errors="replace")[-2000:].strip()
    return r


def tokwatch_cmd(bin_: str, db: Path, out: Path) -> list[str]:
    # The unit: `scan` then `report day --json`, one timed process tree.
    script = '"$0" --db "$1" scan --quiet && "$0" --db "$1" report day --json --tz utc > "$2"'
    return ["sh", "-c", script, bin_, str(db), str(out)]


def warm_page_cache(home: Path) -> tuple[int, int]:
    n = files = 0
    for dirpath, _, names in os.walk(home):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                while chunk := f.read(1 << 20):
                    n += len(chunk)
            files += 1
    return n, files


# --------------------------------------------------------------------------------------------
# Totals per (day, model)


def cells_truth(truth: dict) -> dict:
    cells = {}
    for c in truth["cells"]:
        cw = c["cache_write_5m"] + c["cache_write_1h"]
        i, o, cr, w5, w1 = PRICES[c["model"]]
        cost = (
            c["input"] * i + c["output"] * o + c["cache_read"] * cr
            + c["cache_write_5m"] * w5 + c["cache_write_1h"] * w1
        ) / 1e6
        cells[(c["day"], c["model"])] = {
            "requests": c["requests"], "input": c["input"], "output": c["output"],
            "cache_read": c["cache_read"], "cache_write": cw, "cost": cost,
        }
    return cells


def cells_tokwatch(bin_: str, db: Path, days: list[str], env: dict) -> dict:
    cells = {}
    for d in days:
        p = subprocess.run(
            [bin_, "--db", str(db), "report", "model", "--since", d, "--until", d, "--tz", "utc", "--json"],
            capture_output=True, text=True, env=env, check=True,
        )
        for r in json.loads(p.stdout)["rows"]:
            cells[(d, r["key"])] = {
                "requests": r["requests"], "input": r["input"], "output": r["output"],
                "cache_read": r["cache_read"],
                "cache_write": r["cache_write_5m"] + r["cache_write_1h"], "cost": r["cost_usd"],
            }
    return cells


def cells_ccusage(out: Path) -> dict:
    cells = {}
    for day in json.loads(out.read_text())["daily"]:
        d = day.get("period") or day.get("date")
        for m in day.get("modelBreakdowns", []):
            c = cells.setdefault((d, m["modelName"]), dict.fromkeys((*FIELDS, "cost"), 0))
            c["input"] += m["inputTokens"]
            c["output"] += m["outputTokens"]
            c["cache_read"] += m["cacheReadTokens"]
            c["cache_write"] += m["cacheCreationTokens"]
            c["cost"] += m["cost"]
    return cells


def cells_tokscale(out: Path) -> dict:
    cells = {}
    for day in json.loads(out.read_text())["contributions"]:
        for s in day["sources"]:
            c = cells.setdefault((day["date"], s["modelId"]), dict.fromkeys(("requests", *FIELDS, "cost"), 0))
            t = s["tokens"]
            c["requests"] += s.get("messages", 0)
            c["input"] += t["input"]
            c["output"] += t["output"]
            c["cache_read"] += t["cacheRead"]
            c["cache_write"] += t["cacheWrite"]
            c["cost"] += s["cost"]
    return cells


def diff_cells(truth: dict, got: dict) -> tuple[list[str], int, list[str]]:
    """Lines for every (day, model) where got differs from truth; ignored all-zero rows."""
    lines, ignored = [], []
    for key in sorted(set(truth) | set(got)):
        t, g = truth.get(key), got.get(key)
        if t is None and g is not None and all(g.get(f, 0) == 0 for f in (*FIELDS, "cost")):
            ignored.append(key[1])
            continue
        t = t or dict.fromkeys(("requests", *FIELDS, "cost"), 0)
        if g is None:
            lines.append(f"{key[0]} {key[1]}: missing (truth: " + ", ".join(f"{f} {human(t[f])}" for f in FIELDS) + ")")
            continue
        parts = []
        for f in ("requests", *FIELDS):
            if f in g and f in t and g[f] != t[f]:
                d = g[f] - t[f]
                rel = f"{d / t[f] * 100:+.2f}%" if t[f] else "new"
                parts.append(f"{f} {human(g[f])} vs {human(t[f])} ({d:+,}, {rel})")
        dc = g["cost"] - t["cost"]
        if abs(dc) > max(0.0001, abs(t["cost"]) * 1e-7):
            rel = f"{dc / t['cost'] * 100:+.3f}%" if t["cost"] else "new"
            parts.append(f"cost ${g['cost']:,.4f} vs ${t['cost']:,.4f} ({dc:+,.4f}, {rel})")
        if parts:
            lines.append(f"{key[0]} {key[1]}: " + "; ".join(parts))
    return lines, len(set(truth) | set(got)) - len(ignored), sorted(set(ignored))


def sum_cells(cells: dict) -> dict:
    s = dict.fromkeys(("requests", *FIELDS, "cost"), 0)
    for c in cells.values():
        for f in s:
            s[f] += c.get(f, 0)
    return s


# --------------------------------------------------------------------------------------------


def med(v):
    return statistics.median(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="0.2", help="GB per Claude Code corpus, comma-separated (the Codex corpus gets half, as in the issue); default 0.2")
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"subset of {','.join(SHAPES)}")
    ap.add_argument("--corpus", help="explicit SHAPE:GB list (overrides --sizes/--shapes), e.g. claude-dense:10,codex:5")
    ap.add_argument("--runs", type=int, default=5, help="interleaved cold runs per tool (default 5)")
    ap.add_argument("--warm-runs", type=int, help="warm tokwatch re-runs (default: --runs)")
    ap.add_argument("--peers", default="ccusage,tokscale", help="ccusage,tokscale or none")
    ap.add_argument("--peers-dir", help="install/reuse the peers here instead of a fresh temporary directory")
    ap.add_argument("--ccusage-version", default="20")
    ap.add_argument("--tokscale-version", default="latest")
    ap.add_argument("--data-dir", default=str(target_dir() / "bench-data" / "compare"))
    ap.add_argument("--gen-only", action="store_true", help="generate the corpora and stop")
    ap.add_argument("--no-netns", action="store_true", help="do not wrap runs in `unshare -n`")
    a = ap.parse_args()

    data = Path(a.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    if a.corpus:
        plan = [(s, float(g)) for s, g in (x.split(":") for x in a.corpus.split(","))]
    else:
        shapes = [s for s in a.shapes.split(",") if s]
        plan = [(s, float(g) / (2 if s == "codex" else 1)) for g in a.sizes.split(",") for s in shapes]
    for s, _ in plan:
        if s not in SHAPES:
            sys.exit(f"unknown shape {s}")

    bin_a = os.environ.get("TOKWATCH_BIN")
    bin_b = os.environ.get("TOKWATCH_BIN_B")
    gen = build(need_tokwatch=not bin_a)
    bin_a = str(Path(bin_a).resolve()) if bin_a else str(target_dir() / "release" / "tokwatch")
    corpora = []
    for s, g in plan:
        d = corpus(gen, data, s, g)
        corpora.append((s, g, d, json.loads((d / "truth.json").read_text())))
    for s, g, d, t in corpora:
        log(f"{d.name}: {t['bytes'] / 1e6:,.1f} MB, {t['files']:,} files, {t['requests']:,} requests, generated in {t['generate_seconds']:.1f} s")
    if a.gen_only:
        return

    gnu_time = ensure_gnu_time()
    ns = [] if a.no_netns else netns_prefix()
    if not ns:
        log("note: `unshare -n` is not available; the tools run with the machine's network")
    want = [p for p in a.peers.split(",") if p and p != "none"]
    tmp = Path(tempfile.mkdtemp(prefix="tokwatch-compare-"))
    try:
        peers_dir = Path(a.peers_dir).resolve() if a.peers_dir else tmp / "peers"
        peers = install_peers(peers_dir, want, a.ccusage_version, a.tokscale_version) if want else {}
        tools = [Tool("tokwatch" if not bin_b else "tokwatch-A", "tokwatch", bin_a, version_of([bin_a, "--version"], os.environ))]
        if bin_b:
            bin_b = str(Path(bin_b).resolve())
            tools.append(Tool("tokwatch-B", "tokwatch", bin_b, version_of([bin_b, "--version"], os.environ)))
        for name in want:
            p = peers.get(name, {"error": "unknown peer"})
            if "error" in p:
                log(f"{name}: {p['error']}")
                continue
            tools.append(Tool(name, name, p["argv0"], p["version"], p["notes"]))
        report = measure(a, corpora, tools, peers, gnu_time, ns, tmp, peers_dir / "node_modules" / ".bin")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    res = data / "results" / stamp
    res.mkdir(parents=True, exist_ok=True)
    (res / "summary.md").write_text(report["text"])
    (res / "results.json").write_text(json.dumps(report["json"], indent=1))
    print(report["text"])
    log(f"written to {res}/summary.md and results.json")


def measure(a, corpora, tools, peers, gnu_time, ns, tmp: Path, peers_bin: Path) -> dict:
    out: list[str] = []
    js: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(), "machine": machine(), "tools": {}, "corpora": []}
    p = out.append
    p(f"# tokwatch side by side ({dt.date.today().isoformat()}, {machine()})\n")
    for t in tools:
        p(f"- {t.name}: {t.version}" + (f" ({t.argv0})" if t.kind == "tokwatch" else ""))
        for n in t.notes:
            p(f"  - {n}")
        js["tools"][t.name] = {"version": t.version, "path": t.argv0, "notes": t.notes}
    for name, pe in peers.items():
        if "error" in pe:
            p(f"- {name}: not measured: {pe['error']}")
            js["tools"][name] = pe
    p(f"- {a.runs} interleaved cold runs per tool; every run with TZ=UTC" + (", in a network namespace without network" if ns else ""))
    cmds = {
        "tokwatch": "tokwatch `scan --quiet && report day --json --tz utc` (fresh --db and config each cold run)",
        "ccusage": "ccusage `daily --offline --json --timezone UTC`",
        "tokscale": "tokscale `graph --no-spinner`",
    }
    p("- commands: " + "; ".join(cmds[k] for k in cmds if any(t.kind == k for t in tools)) + "\n")
    warm_runs = a.warm_runs if a.warm_runs is not None else a.runs
    for shape, gb, d, truth in corpora:
        home = d / "home"
        log(f"== {d.name}: warming the page cache")
        nbytes, nfiles = warm_page_cache(home)
        scratch = tmp / d.name
        scratch.mkdir()
        env = tool_env(home, scratch, peers_bin if peers_bin.exists() else None)
        res = {t.name: [] for t in tools}
        errors: dict = {}
        last_out: dict = {}
        dbs: dict = {}
        for i in range(a.runs):
            for t in tools:
                if t.name in errors:
                    continue
                rd = scratch / f"{t.name}-{i}"
                rd.mkdir()
                o = rd / "stdout.json"
                if t.kind == "tokwatch":
                    db = rd / "db" / "tokwatch.db"
                    db.parent.mkdir()
                    shutil.rmtree(env["TOKWATCH_CONFIG_DIR"], ignore_errors=True)
                    Path(env["TOKWATCH_CONFIG_DIR"]).mkdir()
                    argv = tokwatch_cmd(t.argv0, db, o)
                    stdout_to = rd / "sh.out"
                elif t.kind == "ccusage":
                    argv = [t.argv0, "daily", "--offline", "--json", "--timezone", "UTC"]
                    stdout_to = o
                else:
                    write_tokscale_prices(env)
                    argv = [t.argv0, "graph", "--no-spinner"]
                    stdout_to = o
                r = timed(gnu_time, ns, argv, env, stdout_to, rd)
                log(f"  {t.name} run {i + 1}: {r['wall']:.2f} s, {r['cpu']:.2f} CPU-s, {r.get('rss_mb', 0):.0f} MB" + (f"  FAILED rc={r['rc']}" if r["rc"] else ""))
                if r["rc"] != 0:
                    errors[t.name] = f"exit {r['rc']}: {r.get('error', '')}"
                    continue
                res[t.name].append(r)
                # Keep the last run's output (and tokwatch's database for the warm runs).
                if t.name in last_out:
                    prev = last_out[t.name].parent
                    if t.kind == "tokwatch":
                        shutil.rmtree(prev / "db", ignore_errors=True)
                last_out[t.name] = o
                if t.kind == "tokwatch":
                    dbs[t.name] = rd / "db" / "tokwatch.db"
        warm = {t.name: [] for t in tools if t.kind == "tokwatch" and t.name in dbs}
        for i in range(warm_runs):
            for t in tools:
                if t.name not in warm:
                    continue
                rd = scratch / f"{t.name}-warm-{i}"
                rd.mkdir()
                r = timed(gnu_time, ns, tokwatch_cmd(t.argv0, dbs[t.name], rd / "stdout.json"), env, rd / "sh.out", rd)
                log(f"  {t.name} warm {i + 1}: {r['wall']:.3f} s" + (f"  FAILED rc={r['rc']}" if r["rc"] else ""))
                if r["rc"] == 0:
                    warm[t.name].append(r)
        # ---- timing table
        mb = truth["bytes"] / 1e6
        p(f"## {d.name}: {shape}, {mb:,.1f} MB, {truth['files']:,} files, {truth['lines']:,} lines, {truth['requests']:,} requests (generated in {truth['generate_seconds']:.1f} s)\n")
        loads = [r["load"] for rs in res.values() for r in rs]
        if loads:
            p(f"1-minute load average at the start of the runs: {min(loads):.1f}-{max(loads):.1f} (on {os.cpu_count()} cores)\n")
        p("| tool | wall median | min-max | MB/s | CPU-s median | peak RSS median |")
        p("|---|---|---|---|---|---|")
        stats = {}
        for t in tools:
            rs = res[t.name]
            if t.name in errors and not rs:
                p(f"| {t.name} | not measured: {errors[t.name].splitlines()[0][:150] if errors[t.name] else 'failed'} | | | | |")
                continue
            w = [r["wall"] for r in rs]
            s = {"wall": med(w), "min": min(w), "max": max(w), "cpu": med([r["cpu"] for r in rs]), "rss": med([r.get("rss_mb", 0) for r in rs]), "runs": rs}
            stats[t.name] = s
            p(f"| {t.name} | {s['wall']:.2f} s | {s['min']:.2f}-{s['max']:.2f} | {mb / s['wall']:,.0f} | {s['cpu']:.2f} | {s['rss']:.1f} MB |")
        wstats = {}
        for name, rs in warm.items():
            if rs:
                w = [r["wall"] for r in rs]
                wstats[name] = {"wall": med(w), "min": min(w), "max": max(w), "cpu": med([r["cpu"] for r in rs]), "rss": med([r.get("rss_mb", 0) for r in rs]), "runs": rs}
                p(f"| {name} warm (nothing new) | {med(w):.3f} s | {min(w):.3f}-{max(w):.3f} | | {wstats[name]['cpu']:.3f} | {wstats[name]['rss']:.1f} MB |")
        p("")
        tw = [t.name for t in tools if t.kind == "tokwatch"]
        pe = [t.name for t in tools if t.kind != "tokwatch"]
        ratios = []
        if len(tw) == 2 and all(n in stats for n in tw):
            b, a_ = stats[tw[1]], stats[tw[0]]
            line = f"- B/A: wall {b['wall'] / a_['wall']:.2f}x, CPU {b['cpu'] / a_['cpu']:.2f}x, peak RSS {b['rss'] / a_['rss']:.2f}x"
            if all(n in wstats for n in tw):
                line += f"; warm re-run wall {wstats[tw[1]]['wall'] / wstats[tw[0]]['wall']:.2f}x"
            ratios.append(line)
        for x in tw:
            for y in pe:
                if x in stats and y in stats:
                    wr = stats[x]["wall"] / stats[y]["wall"]
                    cr = stats[x]["cpu"] / stats[y]["cpu"]
                    line = f"- {x}/{y}: wall {wr:.2f}x, CPU {cr:.2f}x"
                    if y == "ccusage":
                        ok = wr <= 0.5 and cr <= 0.5
                        line += f" (target <= 0.5x: {'met' if ok else 'not met'})"
                    if x in wstats:
                        f_ = stats[y]["wall"] / wstats[x]["wall"]
                        line += f"; warm re-run {f_:,.0f}x faster than {y}'s run"
                        if y == "ccusage":
                            line += f" (target >= 50x: {'met' if f_ >= 50 else 'not met'})"
                    ratios.append(line)
        for x in tw:
            if x in stats:
                ratios.append(f"- {x} peak RSS {stats[x]['rss']:.1f} MB (target < 100 MB: {'met' if stats[x]['rss'] < 100 else 'not met'})")
        if pe:
            ratios.append("- peers keep no state: the warm comparison divides their (cold) run by tokwatch's re-run")
        out.extend(ratios)
        p("")
        for n, e in errors.items():
            p(f"- {n} failed: {e[:600]}")
        # ---- totals
        tcells = cells_truth(truth)
        days = sorted({k[0] for k in tcells})
        got = {}
        for t in tools:
            if t.name not in last_out:
                continue
            try:
                if t.kind == "tokwatch":
                    rows = json.loads(last_out[t.name].read_text())["rows"]
                    ds = sorted(set(days) | {r["key"] for r in rows})
                    got[t.name] = cells_tokwatch(t.argv0, dbs[t.name], ds, env)
                elif t.kind == "ccusage":
                    got[t.name] = cells_ccusage(last_out[t.name])
                else:
                    got[t.name] = cells_tokscale(last_out[t.name])
            except Exception as e:  # noqa: BLE001 - an unreadable output is a finding
                p(f"- {t.name}: output not readable: {e}")
        tt = sum_cells(tcells)
        p(f"Totals per (UTC day, model) against the generator's ground truth ({len(tcells)} cells; cost at the reference list prices):\n")
        p("| | requests | input | output | cache read | cache write | cost |")
        p("|---|---|---|---|---|---|---|")
        p(f"| truth | {human(tt['requests'])} | {human(tt['input'])} | {human(tt['output'])} | {human(tt['cache_read'])} | {human(tt['cache_write'])} | ${tt['cost']:,.2f} |")
        cj = {}
        for name, cells in got.items():
            s = sum_cells(cells)
            req = human(s["requests"]) if any("requests" in c for c in cells.values()) and name != "ccusage" else "-"
            p(f"| {name} | {req} | {human(s['input'])} | {human(s['output'])} | {human(s['cache_read'])} | {human(s['cache_write'])} | ${s['cost']:,.2f} |")
        p("")
        for name, cells in got.items():
            lines, n, ignored = diff_cells(tcells, cells)
            note = f" (ignored all-zero rows: {', '.join(ignored)})" if ignored else ""
            if not lines:
                p(f"- {name}: all {n} cells equal the truth{note}")
            else:
                p(f"- {name}: {len(lines)} of {n} cells differ from the truth{note}:")
                for ln in lines:
                    p(f"    - {ln}")
            cj[name] = {"differences": lines, "ignored_zero_rows": ignored}
        for x in tw:
            for y in pe:
                if x in got and y in got:
                    lines, n, _ = diff_cells(got[x], got[y])
                    p(f"- {x} against {y} directly: {len(lines)} of {n} cells differ")
        p("")
        js["corpora"].append({
            "name": d.name, "shape": shape, "gb": gb, "bytes": truth["bytes"], "read_bytes": nbytes,
            "files": nfiles, "requests": truth["requests"], "generate_seconds": truth["generate_seconds"],
            "cold": {k: {kk: vv for kk, vv in v.items()} for k, v in stats.items()},
            "warm": wstats, "errors": errors, "totals": cj,
        })
    return {"text": "\n".join(out) + "\n", "json": js}


def machine() -> str:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}"


if __name__ == "__main__":
    main()
