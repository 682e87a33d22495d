#!/usr/bin/env python3
"""Development server for the tokwatch dashboard (stdlib only).

Serves the dashboard the way the daemon will: every page path gets the HTML shell, /assets/...
the files of assets/dashboard/, and /api/... the JSON API of docs/dashboard.md, computed from a
deterministic synthetic history generated from mock/data/scenario.json and budgets.json (so the
overview, the repositories, a workspace and a session all agree with each other).

    python3 assets/dashboard/mock/mock_server.py [--port 8765] [--tick 3] [--fail status,report]

Live updates: each new request is appended to the newest active session and pushed on
/api/events. A request is appended when the trigger file is touched (path printed at start),
on POST/GET /mock/append, or every --tick seconds.

Errors: --fail NAMES (comma-separated: status, report, repos, workspace, session, treemap,
events, mutations) makes those endpoints answer 500 with the daemon's error text; GET
/mock/fail?endpoints=NAMES changes the set at run time (empty clears it); any /api/ call with
?fail=1 fails too.

Mutations (POST /api/alerts/pause, /api/budgets) need the header X-Tokwatch-Token: --token
(default "dev-token"); open the printed URL with #token=... to get it into the page.
This is for development only: it is not how the daemon is written.
"""

import argparse
import bisect
import json
import os
import random
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent
DB_ERROR = "database error, see `tokwatch doctor`"
PAGES = {"/", "/repos", "/workspace", "/session", "/treemap"}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".md": "text/plain; charset=utf-8",
}
# What the daemon should send with every response (see docs/dashboard.md).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
SUM_FIELDS = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output", "reasoning")


def uid(rng):
    return "%08x-%04x-4%03x-%04x-%012x" % (
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
        0x8000 | rng.getrandbits(14), rng.getrandbits(48))


class History:
    """The synthetic store: requests, sessions, budgets, alerts."""

    def __init__(self, scenario, budgets, now_ms):
        self.sc = scenario
        self.tz = ZoneInfo(scenario["tz"])
        self.tzname = scenario["tz"]
        self.prices = scenario["prices"]
        self.tools = {t["name"]: t for t in scenario["tools"]}
        self.rng = random.Random(scenario.get("seed", 13))
        self.budgets = [dict(b, thresholds=[0.85, 0.95, 1.0]) for b in budgets]
        self.alerts_paused = False
        self.events = []  # sorted by ts_ms
        self.sessions = {}  # id -> state
        self.alerts = []  # {ts_ms, kind, message, session}
        self.lock = threading.Lock()
        # The mock's clock: real time shifted so that it starts at now_ms (--now).
        self.offset = now_ms - int(time.time() * 1000)
        self.generate(now_ms)

    def now(self):
        return int(time.time() * 1000) + self.offset

    # ---- generation -------------------------------------------------------------------
    def local(self, ms):
        return datetime.fromtimestamp(ms / 1000, self.tz)

    def ms(self, dt):
        return int(dt.timestamp() * 1000)

    def day_start(self, d):
        return self.ms(datetime(d.year, d.month, d.day, tzinfo=self.tz))

    def new_session(self, start_ms, repo=None, tool=None):
        rng = self.rng
        if repo is None:
            repo = rng.choices(self.sc["repos"], [r["weight"] for r in self.sc["repos"]])[0]
        if tool is None:
            tool = rng.choices(self.sc["tools"], [t["weight"] for t in self.sc["tools"]])[0]
        models = tool["models"]
        model = rng.choices(models, [7, 2, 1][: len(models)])[0]
        s = {
            "id": uid(rng), "tool": tool["name"], "provider": tool["provider"],
            "repo": repo["name"], "branch": rng.choice(repo["branches"]), "model": model,
            "ctx": rng.randint(12000, 22000), "system": 0, "n": 0, "last_ms": start_ms,
            "first_ms": start_ms, "one_hour": rng.random() < 0.15, "compacted": 0,
            "fallback_at": rng.randint(5, 40) if model != tool.get("fallback", model) and
            rng.random() < 0.5 else None,
        }
        s["system"] = s["ctx"]
        self.sessions[s["id"]] = s
        return s

    def next_request(self, s, ts_ms):
        rng = self.rng
        tool = self.tools[s["tool"]]
        s["n"] += 1
        if s["fallback_at"] is not None and s["n"] >= s["fallback_at"]:
            s["model"] = tool.get("fallback", s["model"])
            s["fallback_at"] = None
        new = int(rng.lognormvariate(7.3, 0.9)) + 80  # user text + tool results since the last call
        out = int(rng.lognormvariate(6.4, 0.9)) + 20
        prev = s["ctx"]
        ev = {"ts_ms": ts_ms, "tool": s["tool"], "provider": s["provider"], "repo": s["repo"],
              "branch": s["branch"], "session": s["id"], "model": s["model"], "input": 0,
              "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0, "output": out,
              "reasoning": 0, "ctx": None}
        miss = s["n"] == 1 or rng.random() < 0.04
        if tool.get("cache_writes"):
            ev["input"] = rng.randint(1, 12)
            written = (prev if miss else 0) + new
            ev["cache_read"] = 0 if miss else prev
            ev["cache_write_1h" if s["one_hour"] else "cache_write_5m"] = written
        elif tool["name"] in ("codex", "gemini", "opencode"):
            cached = 0 if miss else prev // 256 * 256
            ev["cache_read"] = cached
            ev["input"] = prev + new - cached
            if tool.get("reasoning"):
                ev["reasoning"] = int(out * rng.uniform(0.2, 0.7))
        else:  # no prompt caching at all
            ev["input"] = prev + new
        context = ev["input"] + ev["cache_read"] + ev["cache_write_5m"] + ev["cache_write_1h"]
        if tool.get("composition"):
            ev["ctx"] = self.composition(s, context)
        s["ctx"] = prev + new + out
        if s["ctx"] > 170000:  # compaction: the conversation is summarised
            s["compacted"] = rng.randint(2500, 5000)
            s["ctx"] = s["system"] + s["compacted"]
        # Requests without a split, as in real logs: the compaction call (its chain starts in
        # another file) and, here, one request in 25.
        if s["compacted"] and s["ctx"] == s["system"] + s["compacted"] or s["n"] % 25 == 13:
            ev["ctx"] = None
        price = self.prices.get(s["model"])
        if price is None:
            ev["cost_usd"], ev["cost_source"] = None, "unpriced"
        else:
            c = (ev["input"] * price["input"] + ev["output"] * price["output"]
                 + ev["cache_read"] * price.get("cache_read", price["input"])
                 + ev["cache_write_5m"] * price.get("cache_write_5m", price["input"])
                 + ev["cache_write_1h"] * price.get("cache_write_1h", price["input"])) / 1e6
            ev["cost_usd"] = round(c, 8)
            ev["cost_source"] = tool.get("cost_source", "computed")
        s["last_ms"] = ts_ms
        s["last_model"] = s["model"]
        return ev

    def composition(self, s, context):
        rng = self.rng
        cats = {"system_and_tools": min(s["system"], context), "compaction_summary": 0,
                "images": 0}
        rest = context - cats["system_and_tools"]
        if s["compacted"] and rest > s["compacted"]:
            cats["compaction_summary"] = s["compacted"]
            rest -= s["compacted"]
        if rest > 40000 and rng.random() < 0.2:
            cats["images"] = rng.randint(1500, 6000)
            rest -= cats["images"]
        shares = {"user": 0.08, "thinking": 0.09, "tool_calls": 0.07}
        for k, f in shares.items():
            cats[k] = int(rest * f * rng.uniform(0.7, 1.3))
        tr_total = int(rest * rng.uniform(0.4, 0.6))
        split = [rng.random() for _ in range(4)]
        tot = sum(split)
        names = ["Read", "Bash", "Grep", "Edit"]
        tr = {n: int(tr_total * v / tot) for n, v in zip(names, split)}
        cats["tool_results"] = tr
        used = sum(v for k, v in cats.items() if k != "tool_results") + sum(tr.values())
        cats["assistant"] = max(0, context - used)
        # As the daemon stores it (`events.ctx`) and /api/session sends it: parts in kind
        # order, tool results per tool, adding up to the request's input total exactly.
        kinds = [("system", "system_and_tools"), ("user", "user"), ("assistant", "assistant"),
                 ("thinking", "thinking"), ("tool_call", "tool_calls")]
        parts = [{"kind": k, "tokens": cats[c]} for k, c in kinds if cats[c] > 0]
        parts += [{"kind": "tool_result", "tool": n, "tokens": v} for n, v in sorted(tr.items()) if v > 0]
        parts += [{"kind": k, "tokens": cats[c]} for k, c in (("image", "images"), ("summary", "compaction_summary"))
                  if cats[c] > 0]
        assert sum(p["tokens"] for p in parts) == context
        return {"parts": parts}

    def prompt_cost(self, e):
        """A request's input priced alone (no output), as `composition::prompt_cost`."""
        price = self.prices.get(e["model"])
        if price is None or e["cost_source"] != "computed":
            return None
        return (e["input"] * price["input"] + e["cache_read"] * price.get("cache_read", price["input"])
                + e["cache_write_5m"] * price.get("cache_write_5m", price["input"])
                + e["cache_write_1h"] * price.get("cache_write_1h", price["input"])) / 1e6

    def session_composition(self, evs):
        """`composition::summarize` of a session: tokens and input cost per kind of content."""
        labels = {"system": "system prompt and tools", "user": "user messages", "assistant": "assistant text",
                  "thinking": "thinking", "tool_call": "tool calls", "image": "images and attachments",
                  "summary": "compaction summary"}
        sums, with_, input_cost = {}, 0, 0.0
        for e in evs:
            if not e["ctx"]:
                continue
            with_ += 1
            total = max(1, sum(p["tokens"] for p in e["ctx"]["parts"]))
            cost = self.prompt_cost(e)
            input_cost = None if input_cost is None or cost is None else input_cost + cost
            for p in e["ctx"]["parts"]:
                x = sums.setdefault((p["kind"], p.get("tool")), [0, 0.0, True])
                x[0] += p["tokens"]
                if cost is None:
                    x[2] = False
                else:
                    x[1] += cost * p["tokens"] / total
        cats = [{"kind": k, "tool": t, "label": f"tool result of {t}" if k == "tool_result" else labels[k],
                 "tokens": n, "avg_tokens": n / max(1, with_), "cost_usd": c if ok else None}
                for (k, t), (n, c, ok) in sums.items()]
        cats.sort(key=lambda c: (-c["tokens"], c["label"]))
        return {"estimated": True, "requests_with": with_, "requests_without": len(evs) - with_,
                "categories": cats, "input_cost_usd": input_cost, "growth": []}

    def run_session(self, s, until_ms, max_requests):
        rng = self.rng
        out = []
        ts = s["first_ms"]
        for _ in range(max_requests):
            if ts > until_ms:
                break
            out.append(self.next_request(s, ts))
            ts += int((rng.expovariate(1 / 35) + 4) * 1000)
        return out

    def generate(self, now_ms):
        rng = self.rng
        today = self.local(now_ms).date()
        evs = []
        for back in range(self.sc.get("days", 90) - 1, -1, -1):
            d = today - timedelta(days=back)
            weekend = d.weekday() >= 5
            n = rng.choice([0, 0, 1, 1, 2] if weekend else [1, 2, 2, 3, 3, 4, 5])
            for _ in range(n):
                start = self.day_start(d) + int(rng.uniform(8.5, 21.5) * 3600_000)
                if start > now_ms - 2 * 3600_000:
                    continue
                s = self.new_session(start)
                size = max(2, min(350, int(rng.lognormvariate(3.3, 0.8))))
                evs += self.run_session(s, min(now_ms - 3600_000, start + 5 * 3600_000), size)
        # Two sessions still going (the "active sessions" of the overview), the newest one
        # also gets the live appends.
        tools = self.sc["tools"]
        repos = self.sc["repos"]
        for start_back, repo, tool, n in ((55, repos[0], tools[0], 60), (22, repos[2], tools[1], 30)):
            s = self.new_session(now_ms - start_back * 60_000, repo=repo, tool=tool)
            s["fallback_at"] = None
            evs += self.run_session(s, now_ms - 40_000, n)
        evs.sort(key=lambda e: e["ts_ms"])
        self.events = evs
        self.times = [e["ts_ms"] for e in evs]
        self.recompute_alerts()

    def recompute_alerts(self):
        """Budget alerts where the daily total crossed each threshold (as the daemon says)."""
        b = next((b for b in self.budgets if b["period"] == "day" and b["scope"] == "all"), None)
        self.alerts = []
        if not b:
            return
        day, spent, said = None, 0.0, set()
        for e in self.events:
            d = self.local(e["ts_ms"]).date()
            if d != day:
                day, spent, said = d, 0.0, set()
            spent += e["cost_usd"] or 0.0
            for t in b["thresholds"]:
                if spent >= b["limit_usd"] * t and t not in said:
                    said.add(t)
                    lim = b["limit_usd"]
                    if t >= 1.0:
                        kind, msg = "over", f"Daily budget reached: ${spent:.2f} of ${lim:.2f} today"
                    else:
                        kind, msg = "near", f"${spent:.2f} of the ${lim:.2f} daily budget spent ({t:.0%})"
                    self.alerts.append({"ts_ms": e["ts_ms"], "kind": kind, "message": msg,
                                        "session": e["session"]})

    def append_now(self):
        """One new request in the newest session (or a fresh one): the live feed's source."""
        with self.lock:
            now = self.now()
            s = max(self.sessions.values(), key=lambda s: s["last_ms"])
            if now - s["last_ms"] > 30 * 60_000:
                s = self.new_session(now)
            ev = self.next_request(s, max(now, s["last_ms"] + 1))
            self.events.append(ev)
            self.times.append(ev["ts_ms"])
            self.recompute_alerts()
            sess = [e for e in self.session_events(s["id"])]
            ss, ts = self.sums(sess), self.sums(self.between(self.day_start(self.local(now).date()), None))
            return {
                "ts_ms": ev["ts_ms"], "updated": False, "tool": ev["tool"], "repo": ev["repo"],
                "branch": ev["branch"], "model": ev["model"], "session": ev["session"],
                "input": ev["input"], "cache_write": ev["cache_write_5m"] + ev["cache_write_1h"],
                "cache_read": ev["cache_read"], "output": ev["output"], "cost_usd": ev["cost_usd"],
                "session_cost_usd": ss["cost_usd"], "session_has_unpriced": ss["has_unpriced"],
                "today_cost_usd": ts["cost_usd"], "today_has_unpriced": ts["has_unpriced"],
            }

    # ---- queries ----------------------------------------------------------------------
    def between(self, since_ms, until_ms):
        lo = 0 if since_ms is None else bisect.bisect_left(self.times, since_ms)
        hi = len(self.times) if until_ms is None else bisect.bisect_left(self.times, until_ms)
        return self.events[lo:hi]

    def session_events(self, sid):
        return [e for e in self.events if e["session"] == sid]

    @staticmethod
    def sums(evs):
        s = {"requests": 0, **{f: 0 for f in SUM_FIELDS}, "cost_usd": 0.0, "has_unpriced": False,
             "unpriced_requests": 0, "estimated_requests": 0, "reported_requests": 0}
        for e in evs:
            s["requests"] += 1
            for f in SUM_FIELDS:
                s[f] += e[f]
            if e["cost_usd"] is None:
                s["has_unpriced"] = True
                s["unpriced_requests"] += 1
            else:
                s["cost_usd"] += e["cost_usd"]
            if e["cost_source"] == "estimated":
                s["estimated_requests"] += 1
            elif e["cost_source"] == "reported":
                s["reported_requests"] += 1
        s["cost_usd"] = round(s["cost_usd"], 10)
        return s

    def fmt_local(self, ms):
        return self.local(ms).strftime("%Y-%m-%d %H:%M")

    def key_of(self, e, by):
        if by == "day":
            return self.local(e["ts_ms"]).strftime("%Y-%m-%d")
        if by == "week":
            y, w, _ = self.local(e["ts_ms"]).isocalendar()
            return f"{y}-W{w:02d}"
        if by == "month":
            return self.local(e["ts_ms"]).strftime("%Y-%m")
        if by == "repo":
            return e["repo"] or "(no repository)"
        if by == "branch":
            return f"{e['repo'] or '(no repository)'}@{e['branch'] or '(no branch)'}"
        if by == "session":
            return e["session"]
        return e[by] or "(unknown)"  # model, tool, provider

    def report(self, by, evs):
        groups = {}
        for e in evs:
            groups.setdefault(self.key_of(e, by), []).append(e)
        rows = []
        for k, g in groups.items():
            row = {"key": k, **self.sums(g)}
            first, last = g[0]["ts_ms"], g[-1]["ts_ms"]
            if by in ("repo", "branch", "session"):
                row["repo"] = g[0]["repo"] or "(no repository)"
            if by == "session":
                row["tool"] = g[0]["tool"]
                row["branch"] = g[0]["branch"]
                row["first_seen"] = self.fmt_local(first)
                row["first_ms"] = first
                row["last_ms"] = last
                row["models"] = list(dict.fromkeys(e["model"] for e in g if e["model"]))
            if by in ("repo", "branch", "session"):
                row["last_seen"] = self.fmt_local(last)
            row["_last"] = last
            rows.append(row)
        if by in ("day", "week", "month"):
            rows.sort(key=lambda r: r["key"])
        elif by == "session":
            rows.sort(key=lambda r: -r["_last"])
        else:
            rows.sort(key=lambda r: (-r["cost_usd"], r["key"]))
        for r in rows:
            del r["_last"]
        unpriced = {}
        for e in evs:
            if e["cost_usd"] is None:
                u = unpriced.setdefault(e["model"] or "(unknown)", {"model": e["model"] or "(unknown)", "requests": 0, "tokens": 0})
                u["requests"] += 1
                u["tokens"] += sum(e[f] for f in SUM_FIELDS if f != "reasoning")
        return {"group": by, "tz": self.tzname, "totals": self.sums(evs), "rows": rows,
                "unpriced_models": sorted(unpriced.values(), key=lambda u: -u["tokens"])}

    def range_ms(self, since, until):
        s = None if since is None else self.day_start(since)
        u = None if until is None else self.day_start(until + timedelta(days=1))
        return s, u

    def period_starts(self, now_ms):
        d = self.local(now_ms).date()
        week = d - timedelta(days=d.weekday())
        month = d.replace(day=1)
        nxt_month = (month + timedelta(days=32)).replace(day=1)
        return {
            "day": (self.day_start(d), self.day_start(d + timedelta(days=1))),
            "week": (self.day_start(week), self.day_start(week + timedelta(days=7))),
            "month": (self.day_start(month), self.day_start(nxt_month)),
        }

    @staticmethod
    def forecast(spent, start, end, now):
        elapsed, remaining = now - start, end - now
        if elapsed < 3600_000 or elapsed < (end - start) * 0.03:
            return None
        rate = spent / elapsed
        return {"low_usd": round(spent + rate * remaining * 0.35, 4),
                "mid_usd": round(spent + rate * remaining * 0.8, 4),
                "high_usd": round(spent + rate * remaining * 1.4, 4)}

    @staticmethod
    def in_scope(e, scope):
        if scope == "all":
            return True
        kind, _, val = scope.partition(":")
        return (e["repo"] if kind == "repo" else e.get(kind)) == val

    def status(self, now_ms):
        periods, budgets = {}, []
        bounds = self.period_starts(now_ms)
        for name, (start, end) in bounds.items():
            s = self.sums(self.between(start, None))
            periods[name] = {"start_ms": start, "cost_usd": s["cost_usd"],
                             "has_unpriced": s["has_unpriced"],
                             "forecast": self.forecast(s["cost_usd"], start, end, now_ms)}
        for b in self.budgets:
            start, end = bounds[b["period"]]
            s = self.sums([e for e in self.between(start, None) if self.in_scope(e, b["scope"])])
            frac = s["cost_usd"] / b["limit_usd"] if b["limit_usd"] > 0 else 0.0
            state = "over" if frac >= 1 else "near" if frac >= b["thresholds"][0] else "under"
            budgets.append({**b, "spent_usd": s["cost_usd"], "has_unpriced": s["has_unpriced"],
                            "fraction": round(frac, 6), "state": state,
                            "forecast": self.forecast(s["cost_usd"], start, end, now_ms)})
        today = self.between(bounds["day"][0], None)
        active = []
        for sid in dict.fromkeys(e["session"] for e in reversed(self.between(now_ms - 30 * 60_000, None))):
            evs = self.session_events(sid)
            st = self.sums(evs)
            hours = max(evs[-1]["ts_ms"] - evs[0]["ts_ms"], 10 * 60_000) / 3600_000
            active.append({"session": sid, "tool": evs[0]["tool"], "repo": evs[0]["repo"],
                           "branch": evs[0]["branch"], "cost_usd": st["cost_usd"],
                           "usd_per_hour": round(st["cost_usd"] / hours, 4),
                           "last_ms": evs[-1]["ts_ms"]})

        def by(field):
            r = self.report(field, today)["rows"]
            return [{"key": x["key"], "cost_usd": x["cost_usd"], "has_unpriced": x["has_unpriced"]} for x in r]

        return {"now_ms": now_ms, "tz": self.tzname, "periods": periods, "budgets": budgets,
                "alerts_paused": self.alerts_paused, "active_sessions": active,
                "by_tool_today": by("tool"), "by_provider_today": by("provider"),
                "by_model_today": by("model")}


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def parse_day(q, name):
    v = q.get(name)
    if not v:
        return None
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ApiError(400, f"invalid {name} {v!r}: use YYYY-MM-DD")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, hist, args):
        super().__init__(addr, Handler)
        self.hist = hist
        self.args = args
        self.fail = set(filter(None, args.fail.split(",")))
        self.cond = threading.Condition()
        self.feed = []  # (seq, kind, data)
        self.seq = 0

    def publish(self, kind, data):
        with self.cond:
            self.seq += 1
            self.feed.append((self.seq, kind, data))
            del self.feed[:-200]
            self.cond.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tokwatch-mock"

    def log_message(self, fmt, *a):
        if self.server.args.verbose:
            sys.stderr.write("mock: " + fmt % a + "\n")

    def send(self, status, body, ctype, extra=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj), "application/json", {"Cache-Control": "no-store"})

    def host_ok(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return host in ("127.0.0.1", "localhost", "[::1]")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if not self.host_ok():  # DNS rebinding: only loopback names
            return self.send(421, "wrong host\n", "text/plain")
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path in PAGES:
            return self.send_file(ASSETS / "index.html")
        if path.startswith("/assets/"):
            rel = path[len("/assets/"):]
            f = (ASSETS / rel).resolve()
            if ASSETS in f.parents and "mock" not in f.relative_to(ASSETS).parts and f.is_file():
                return self.send_file(f)
            return self.send(404, "not found\n", "text/plain")
        if path == "/favicon.ico":
            return self.send_file(ASSETS / "favicon.svg")
        if path.startswith("/mock/"):
            return self.mock_control(path, q)
        if path.startswith("/api/"):
            name = path[len("/api/"):]
            if name in self.server.fail or q.get("fail") == "1":
                return self.send_json(500, {"error": DB_ERROR})
            if name == "events":
                return self.events()
            try:
                obj = self.api(name, q)
            except ApiError as e:
                return self.send_json(e.status, {"error": str(e)})
            if obj is None:
                return self.send_json(404, {"error": f"no such endpoint: {path}"})
            return self.send_json(200, obj)
        self.send(404, "not found\n", "text/plain")

    def send_file(self, f):
        ctype = CONTENT_TYPES.get(f.suffix, "application/octet-stream")
        self.send(200, f.read_bytes(), ctype, {"Cache-Control": "no-cache"})

    def api(self, name, q):
        h = self.server.hist
        now = h.now()
        with h.lock:
            if name == "status":
                return h.status(now)
            if name == "report":
                by = q.get("by", "day")
                if by not in ("day", "week", "month", "session", "repo", "branch", "model", "tool", "provider"):
                    raise ApiError(400, f"invalid by {by!r}")
                evs = h.between(*h.range_ms(parse_day(q, "since"), parse_day(q, "until")))
                if q.get("repo"):
                    evs = [e for e in evs if (e["repo"] or "(no repository)") == q["repo"]]
                if q.get("tool"):
                    evs = [e for e in evs if e["tool"] == q["tool"]]
                return h.report(by, evs)
            if name == "repos":
                since, until = parse_day(q, "since"), parse_day(q, "until")
                today = h.local(now).date()
                until = until or today
                since = since or until - timedelta(days=29)
                n = (until - since).days + 1
                cur = h.between(*h.range_ms(since, until))
                prev = h.between(*h.range_ms(since - timedelta(days=n), since - timedelta(days=1)))
                trend = {}
                for e in cur:
                    t = trend.setdefault(h.key_of(e, "repo"), {})
                    d = h.key_of(e, "day")
                    t[d] = t.get(d, 0.0) + (e["cost_usd"] or 0.0)
                return {"current": h.report("repo", cur), "previous": h.report("repo", prev),
                        "trend": {k: [{"day": d, "cost_usd": round(c, 8)} for d, c in sorted(v.items())]
                                  for k, v in trend.items()}}
            if name == "workspace":
                repo = q.get("repo")
                if not repo:
                    raise ApiError(400, "repo is required")
                evs = [e for e in h.between(*h.range_ms(parse_day(q, "since"), parse_day(q, "until")))
                       if (e["repo"] or "(no repository)") == repo]
                return {"repo": repo, "days": h.report("day", evs),
                        "branches": h.report("branch", evs), "sessions": h.report("session", evs)}
            if name == "session":
                sid = q.get("id")
                evs = h.session_events(sid) if sid else []
                if not evs:
                    raise ApiError(404, f"no such session: {sid}")
                reqs = [{k: e[k] for k in ("ts_ms", "model", *SUM_FIELDS, "cost_usd", "cost_source",
                                           "ctx")} for e in evs]
                changes = [{"ts_ms": b["ts_ms"], "from": a["model"], "to": b["model"]}
                           for a, b in zip(evs, evs[1:]) if a["model"] and b["model"] and a["model"] != b["model"]]
                alerts = [{k: a[k] for k in ("ts_ms", "kind", "message")} for a in h.alerts if a["session"] == sid]
                return {"session": sid, "tool": evs[0]["tool"], "repo": evs[0]["repo"],
                        "branch": evs[0]["branch"], "requests": reqs, "model_changes": changes,
                        "alerts": alerts, "totals": h.sums(evs),
                        "composition": h.session_composition(evs)}
            if name == "treemap":
                evs = h.between(*h.range_ms(parse_day(q, "since"), parse_day(q, "until")))
                tree = {}
                for e in evs:
                    r = tree.setdefault(h.key_of(e, "repo"), {})
                    s = r.setdefault(e["session"], {"tool": e["tool"], "models": {}})
                    m = s["models"].setdefault(e["model"] or "(unknown)", [0.0, False])
                    m[0] += e["cost_usd"] or 0.0
                    m[1] = m[1] or e["cost_usd"] is None
                children = []
                for repo, sessions in tree.items():
                    sc = []
                    for sid, s in sessions.items():
                        mc = [{"name": m, "cost_usd": round(c, 8), "has_unpriced": u}
                              for m, (c, u) in s["models"].items()]
                        sc.append({"name": sid, "tool": s["tool"], "cost_usd": round(sum(x["cost_usd"] for x in mc), 8),
                                   "has_unpriced": any(x.get("has_unpriced") for x in mc),
                                   "children": sorted(mc, key=lambda x: -x["cost_usd"])})
                    children.append({"name": repo, "cost_usd": round(sum(x["cost_usd"] for x in sc), 8),
                                     "has_unpriced": any(x["has_unpriced"] for x in sc),
                                     "children": sorted(sc, key=lambda x: -x["cost_usd"])})
                t = h.sums(evs)
                return {"cost_usd": t["cost_usd"], "has_unpriced": t["has_unpriced"],
                        "children": sorted(children, key=lambda x: -x["cost_usd"])}
        return None

    def do_POST(self):
        if not self.host_ok():
            return self.send(421, "wrong host\n", "text/plain")
        path = urlsplit(self.path).path
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if path == "/mock/append":
            return self.mock_control(path, {})
        if path not in ("/api/alerts/pause", "/api/budgets"):
            return self.send_json(404, {"error": f"no such endpoint: {path}"})
        if self.headers.get("X-Tokwatch-Token") != self.server.args.token:
            return self.send_json(403, {"error": "missing or wrong token: open the dashboard with `tokwatch dashboard`"})
        if "mutations" in self.server.fail:
            return self.send_json(500, {"error": DB_ERROR})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, {"error": "body is not JSON"})
        h = self.server.hist
        with h.lock:
            if path == "/api/alerts/pause":
                if not isinstance(body.get("paused"), bool):
                    return self.send_json(400, {"error": "paused must be true or false"})
                h.alerts_paused = body["paused"]
                result = {"alerts_paused": h.alerts_paused}
            else:
                b = next((b for b in h.budgets if b["id"] == body.get("id")), None)
                lim = body.get("limit_usd")
                if b is None:
                    return self.send_json(404, {"error": f"no such budget: {body.get('id')}"})
                if not isinstance(lim, (int, float)) or isinstance(lim, bool) or lim <= 0:
                    return self.send_json(400, {"error": "limit_usd must be a positive number"})
                b["limit_usd"] = float(lim)
                h.recompute_alerts()
                result = {"id": b["id"], "limit_usd": b["limit_usd"]}
        self.server.publish("status", {})
        self.send_json(200, result)

    def mock_control(self, path, q):
        if path == "/mock/append":
            ev = self.server.hist.append_now()
            self.server.publish("usage", ev)
            return self.send_json(200, ev)
        if path == "/mock/fail":
            self.server.fail = set(filter(None, q.get("endpoints", "").split(",")))
            return self.send_json(200, {"fail": sorted(self.server.fail)})
        self.send_json(404, {"error": "unknown mock control"})

    def events(self):
        srv = self.server
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True
        with srv.cond:
            seen = srv.seq
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while True:
                with srv.cond:
                    srv.cond.wait_for(lambda: srv.seq > seen, timeout=15)
                    new = [x for x in srv.feed if x[0] > seen]
                    seen = srv.seq
                if "events" in srv.fail:
                    return  # drop the stream: the page shows "reconnecting"
                if not new:
                    self.wfile.write(b": keep-alive\n\n")
                for _, kind, data in new:
                    self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


def feeder(srv, trigger, tick):
    """Appends a request when the trigger file's mtime changes, or every `tick` seconds."""
    def mtime():
        try:
            return os.stat(trigger).st_mtime_ns
        except FileNotFoundError:
            return None
    last, next_tick = mtime(), time.time() + tick if tick else None
    while True:
        time.sleep(0.05)
        m = mtime()
        due = next_tick is not None and time.time() >= next_tick
        if m != last or due:
            last = m
            if due:
                next_tick = time.time() + tick
            srv.publish("usage", srv.hist.append_now())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tick", type=float, default=0, help="append a request every N seconds")
    ap.add_argument("--trigger-file", default=os.path.join(tempfile.gettempdir(), "tokwatch-mock.trigger"))
    ap.add_argument("--fail", default="", help="endpoints that answer 500, e.g. status,report")
    ap.add_argument("--token", default="dev-token")
    ap.add_argument("--now", help="pretend the history ends at this local time (YYYY-MM-DDTHH:MM)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    sc = json.loads((HERE / "data" / "scenario.json").read_text())
    budgets = json.loads((HERE / "data" / "budgets.json").read_text())
    now = int(time.time() * 1000)
    if args.now:
        now = int(datetime.fromisoformat(args.now).replace(tzinfo=ZoneInfo(sc["tz"])).timestamp() * 1000)
    hist = History(sc, budgets, now)
    srv = Server((args.host, args.port), hist, args)
    port = srv.server_address[1]
    threading.Thread(target=feeder, args=(srv, args.trigger_file, args.tick), daemon=True).start()
    print(f"tokwatch mock dashboard: http://127.0.0.1:{port}/#token={args.token}", flush=True)
    print(f"  {len(hist.events)} requests in {len(hist.sessions)} sessions; "
          f"touch {args.trigger_file} (or POST /mock/append) to append one", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
