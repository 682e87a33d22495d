#!/usr/bin/env python3
"""Calibrate bytes-per-token ratios for tokwatch's context composition.

Usage: python3 benches/composition/calibrate.py fixtures [--json out.json]

Stdlib only. Measures "bytes" exactly as tokwatch does (raw byte span of a
content block / payload object in the JSONL line, escapes and keys included)
and fits bytes/token per kind of content from the growth of the prompt total
between consecutive requests on one chain, plus the output side (a response's
output_tokens against the bytes of the blocks it wrote).

See docs/composition-calibration.md for the method and the results.
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict

DEC = json.JSONDecoder()
WS = " \t\r\n"


# --------------------------------------------------------------------------
# raw-span scanner: spans are (start, end) char offsets in the decoded line
# string; byte length = len(s[a:b].encode()).
# --------------------------------------------------------------------------
def _ws(s, i):
    while i < len(s) and s[i] in WS:
        i += 1
    return i


def obj_spans(s, i):
    """s[i] == '{'. Returns ({key: (start, end)}, end_of_object)."""
    assert s[i] == "{"
    out = {}
    i = _ws(s, i + 1)
    if s[i] == "}":
        return out, i + 1
    while True:
        key, i = DEC.raw_decode(s, i)
        i = _ws(s, i)
        assert s[i] == ":"
        i = _ws(s, i + 1)
        _, j = DEC.raw_decode(s, i)
        out[key] = (i, j)
        i = _ws(s, j)
        if s[i] == ",":
            i = _ws(s, i + 1)
            continue
        assert s[i] == "}"
        return out, i + 1


def arr_spans(s, i):
    assert s[i] == "["
    out = []
    i = _ws(s, i + 1)
    if s[i] == "]":
        return out
    while True:
        _, j = DEC.raw_decode(s, i)
        out.append((i, j))
        i = _ws(s, j)
        if s[i] == ",":
            i = _ws(s, i + 1)
            continue
        return out


def blen(s, span):
    return len(s[span[0]:span[1]].encode("utf-8"))


# The public Codex sample logs were redacted upstream: every text field is
# replaced by "[REDACTED_<FIELD> len=<N> sha=<h>]" where N is the length of the
# original string. We put N back in place of the placeholder (the original
# JSON escapes - \n, \" - are lost, so this slightly under-counts raw bytes).
REDACT_RE = re.compile(r"\[REDACTED_[A-Z_]+ len=(\d+) sha=[0-9a-f]+\]")
REDACT_STATS = {"placeholders": 0, "restored_bytes": 0}


def blen_unredacted(s, span):
    sub = s[span[0]:span[1]]
    n = len(sub.encode("utf-8"))
    for m in REDACT_RE.finditer(sub):
        n += int(m.group(1)) - len(m.group(0))
        REDACT_STATS["placeholders"] += 1
        REDACT_STATS["restored_bytes"] += int(m.group(1))
    return n


# --------------------------------------------------------------------------
# small numerics (no numpy): NNLS by projected coordinate descent
# --------------------------------------------------------------------------
def nnls(X, y, free=(), iters=20000):
    """min ||Xb - y||^2 with b_j >= 0 except j in free. Returns b."""
    n = len(X[0]) if X else 0
    G = [[0.0] * n for _ in range(n)]
    h = [0.0] * n
    for row, t in zip(X, y):
        for a in range(n):
            if row[a]:
                h[a] += row[a] * t
                ra = row[a]
                Ga = G[a]
                for b in range(n):
                    if row[b]:
                        Ga[b] += ra * row[b]
    b = [0.0] * n
    for _ in range(iters):
        delta = 0.0
        for j in range(n):
            if G[j][j] <= 0:
                continue
            g = sum(G[j][k] * b[k] for k in range(n)) - h[j]
            nb = b[j] - g / G[j][j]
            if j not in free and nb < 0:
                nb = 0.0
            delta = max(delta, abs(nb - b[j]))
            b[j] = nb
        if delta < 1e-12:
            break
    return b


def fit_report(X, y, b):
    pred = [sum(r[k] * b[k] for k in range(len(b))) for r in X]
    ss_res = sum((p - t) ** 2 for p, t in zip(pred, y))
    my = sum(y) / len(y)
    ss_tot = sum((t - my) ** 2 for t in y) or 1.0
    rel = [abs(p - t) / abs(t) for p, t in zip(pred, y) if abs(t) >= 200]
    return {
        "n": len(y),
        "r2": 1 - ss_res / ss_tot,
        "rmse_tokens": (ss_res / len(y)) ** 0.5,
        "median_rel_err": statistics.median(rel) if rel else None,
        "sum_pred_over_actual": sum(pred) / sum(y) if sum(y) else None,
    }


# --------------------------------------------------------------------------
# Claude Code
# --------------------------------------------------------------------------
CL_KINDS_OUT = ("assistant", "thinking", "tool_call")


def claude_parse(path):
    """Returns dict uuid -> line record."""
    lines = {}
    order = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            try:
                o = json.loads(raw)
            except ValueError:
                continue
            u = o.get("uuid")
            if not u:
                continue
            rec = {"uuid": u, "parent": o.get("parentUuid"), "type": o.get("type"),
                   "items": [], "mid": None, "usage": None}
            t = o.get("type")
            if t in ("user", "assistant") and isinstance(o.get("message"), dict):
                top, _ = obj_spans(raw, _ws(raw, 0))
                msg, _ = obj_spans(raw, top["message"][0])
                m = o["message"]
                if t == "assistant":
                    rec["mid"] = m.get("id")
                    rec["usage"] = m.get("usage")
                    rec["model"] = m.get("model")
                cs = msg.get("content")
                if cs is not None:
                    content = m["content"]
                    if isinstance(content, str):
                        kind = "summary" if o.get("isCompactSummary") else (
                            "user" if t == "user" else "assistant")
                        rec["items"].append((kind, None, blen(raw, cs), 0))
                    elif isinstance(content, list):
                        for (a, b_), blk in zip(arr_spans(raw, cs[0]), content):
                            bt = blk.get("type")
                            nb = blen(raw, (a, b_))
                            if bt == "text":
                                kind = "summary" if o.get("isCompactSummary") else (
                                    "user" if t == "user" else "assistant")
                                rec["items"].append((kind, None, nb, 0))
                            elif bt in ("thinking", "redacted_thinking"):
                                rec["items"].append(("thinking", None, nb, 0))
                            elif bt == "tool_use":
                                rec["items"].append(("tool_call", blk.get("name"), nb, 0))
                                rec.setdefault("tool_ids", {})[blk.get("id")] = blk.get("name")
                            elif bt == "tool_result":
                                imgs = 0
                                inner = blk.get("content")
                                if isinstance(inner, list):
                                    bs, _ = obj_spans(raw, a)
                                    for (ia, ib), ib_blk in zip(arr_spans(raw, bs["content"][0]), inner):
                                        if isinstance(ib_blk, dict) and ib_blk.get("type") in ("image", "document"):
                                            nb -= blen(raw, (ia, ib))
                                            imgs += 1
                                rec["items"].append(("tool_result", blk.get("tool_use_id"), nb, imgs))
                            elif bt in ("image", "document"):
                                rec["items"].append(("image", None, 0, 1))
                            else:
                                rec["items"].append(("other", bt, nb, 0))
            lines[u] = rec
            order.append(u)
    return lines, order


def claude_steps(path):
    lines, order = claude_parse(path)
    tool_names = {}
    for r in lines.values():
        tool_names.update(r.get("tool_ids", {}))
    # resolve tool_result subkinds to tool names
    for r in lines.values():
        r["items"] = [(k, tool_names.get(s, "?") if k == "tool_result" else s, nb, im)
                      for (k, s, nb, im) in r["items"]]
    # requests: message.id -> first line (file order), usage with max output
    req_first, req_usage, req_lines = {}, {}, defaultdict(list)
    for u in order:
        r = lines[u]
        if r["type"] != "assistant" or not r["mid"] or not r["usage"]:
            continue
        if r.get("model") == "<synthetic>":
            continue
        mid = r["mid"]
        req_lines[mid].append(u)
        req_first.setdefault(mid, u)
        us = r["usage"]
        if mid not in req_usage or (us.get("output_tokens") or 0) > (req_usage[mid].get("output_tokens") or 0):
            req_usage[mid] = us

    def prompt(mid):
        us = req_usage[mid]
        return (us.get("input_tokens") or 0) + (us.get("cache_creation_input_tokens") or 0) + (
            us.get("cache_read_input_tokens") or 0)

    steps, firsts, outs = [], [], []
    for mid, first in req_first.items():
        # output side: the blocks written by this response
        ob = defaultdict(int)
        for u in req_lines[mid]:
            for (k, s, nb, im) in lines[u]["items"]:
                ob[k] += nb
        outs.append({"out": req_usage[mid].get("output_tokens") or 0, "bytes": dict(ob)})
        # walk back from the first line to the previous request on the chain
        new_items, cur, prev = [], lines[first]["parent"], None
        seen = set()
        while cur and cur in lines and cur not in seen:
            seen.add(cur)
            r = lines[cur]
            if r["type"] == "assistant" and r["mid"] and r["mid"] != mid and r["mid"] in req_usage:
                prev = r["mid"]
                break
            new_items.extend(r["items"])
            cur = r["parent"]
        if prev is None:
            # first request of a chain (or after a compaction): everything is new
            firsts.append({"prompt": prompt(mid), "items": new_items, "file": path})
            continue
        # content before prev (for dropped-thinking accounting): walk prev's chain
        # back to the last user text, summing thinking bytes
        dropped_th = 0
        if any(k in ("user", "summary") for (k, s, nb, im) in new_items):
            cur2, seen2 = req_first[prev], set()
            # thinking of prev itself
            for u in req_lines[prev]:
                dropped_th += sum(nb for (k, s, nb, im) in lines[u]["items"] if k == "thinking")
            cur2 = lines[req_first[prev]]["parent"]
            while cur2 and cur2 in lines and cur2 not in seen2:
                seen2.add(cur2)
                r = lines[cur2]
                if any(k in ("user", "summary") for (k, s, nb, im) in r["items"]):
                    break
                dropped_th += sum(nb for (k, s, nb, im) in r["items"] if k == "thinking")
                cur2 = r["parent"]
        steps.append({
            "growth": prompt(mid) - prompt(prev),
            "prev_out": req_usage[prev].get("output_tokens") or 0,
            "prev_out_bytes": sum(nb for u in req_lines[prev] for (k, s, nb, im) in lines[u]["items"]),
            "items": new_items,
            "dropped_thinking_bytes": dropped_th,
            "file": path,
        })
    return steps, firsts, outs


# --------------------------------------------------------------------------
# Codex
# --------------------------------------------------------------------------
CX_OUTPUT_TYPES = {"reasoning", "function_call", "custom_tool_call", "web_search_call", "local_shell_call"}


def codex_item_kind(p, call_names):
    t = p.get("type")
    if t == "message":
        role = p.get("role")
        if role == "assistant":
            return "assistant", None, True
        if role == "developer":
            return "developer", None, False
        return "user", None, False
    if t == "reasoning":
        return "thinking", None, True
    if t in ("function_call", "custom_tool_call", "local_shell_call"):
        call_names[p.get("call_id")] = p.get("name") or t
        return "tool_call", p.get("name") or t, True
    if t == "web_search_call":
        return "tool_call", "web_search", True
    if t in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
        return "tool_result", call_names.get(p.get("call_id"), "?"), False
    return "other", t, False


def codex_steps(path):
    call_names = {}
    events = []  # ("item", kind, sub, bytes, is_output, decoded_text_len) | ("req", usage) | ("compact",)
    prev_total = None
    base_len = None
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            try:
                o = json.loads(raw)
            except ValueError:
                continue
            t = o.get("type")
            p = o.get("payload")
            if t == "session_meta" and isinstance(p, dict) and base_len is None:
                top, _ = obj_spans(raw, _ws(raw, 0))
                ps, _ = obj_spans(raw, top["payload"][0])
                base_len = blen_unredacted(raw, ps["base_instructions"]) if "base_instructions" in ps else 0
            elif t == "response_item" and isinstance(p, dict):
                top, _ = obj_spans(raw, _ws(raw, 0))
                nb = blen_unredacted(raw, top["payload"])
                kind, sub, is_out = codex_item_kind(p, call_names)
                imgs = 0
                if p.get("type") == "message" and isinstance(p.get("content"), list):
                    ps, _ = obj_spans(raw, top["payload"][0])
                    for (ia, ib), blk in zip(arr_spans(raw, ps["content"][0]), p["content"]):
                        if isinstance(blk, dict) and blk.get("type") in ("input_image", "image"):
                            nb -= blen_unredacted(raw, (ia, ib))
                            imgs += 1
                events.append(("item", kind, sub, nb, is_out, imgs))
            elif t == "compacted":
                events.append(("compact",))
            elif t == "event_msg" and isinstance(p, dict) and p.get("type") == "token_count":
                info = p.get("info")
                if not info:
                    continue
                tot = info.get("total_token_usage")
                if tot == prev_total:
                    continue
                prev_total = tot
                events.append(("req", info.get("last_token_usage") or {}))
    steps, firsts, outs = [], [], []
    pending_in, pending_out = [], []
    prev = None
    first_done = False
    cum_reasoning = 0  # reasoning tokens written since the last user message
    for ev in events:
        if ev[0] == "compact":
            prev = None
            first_done = True  # after compaction the first request is not a session start
            pending_in, pending_out = [], []
            continue
        if ev[0] == "item":
            _, kind, sub, nb, is_out, imgs = ev
            (pending_out if is_out else pending_in).append((kind, sub, nb, imgs))
            continue
        us = ev[1]
        ob = defaultdict(int)
        for (k, s, nb, im) in pending_out:
            ob[k] += nb
        outs.append({"out": us.get("output_tokens") or 0,
                     "reasoning": us.get("reasoning_output_tokens") or 0, "bytes": dict(ob)})
        has_user = any(k == "user" for (k, s_, nb, im) in pending_in)
        if prev is None:
            if not first_done:
                firsts.append({"prompt": us.get("input_tokens") or 0, "items": pending_in, "file": path,
                               "base_instructions_bytes": base_len or 0})
            first_done = True
        else:
            steps.append({
                "growth": (us.get("input_tokens") or 0) - (prev.get("input_tokens") or 0),
                "prev_out": prev.get("output_tokens") or 0,
                "prev_reasoning": 0 if has_user else (prev.get("reasoning_output_tokens") or 0),
                "dropped_reasoning": cum_reasoning if has_user else 0,
                "items": pending_in,
                "file": path,
            })
        if has_user:
            cum_reasoning = 0
        cum_reasoning += us.get("reasoning_output_tokens") or 0
        prev = us
        pending_in, pending_out = [], []
    return steps, firsts, outs


# --------------------------------------------------------------------------
# fitting helpers
# --------------------------------------------------------------------------
def col_of(kind, sub, tool_cols):
    if kind == "tool_result":
        return "tool_result:" + (sub if sub in tool_cols else "other")
    return kind


def dominant_ratios(steps, key_fn, min_share=0.9, min_bytes=2000):
    """Per step where one column has >= min_share of new bytes: bytes/token."""
    per = defaultdict(list)
    for st in steps:
        by = defaultdict(int)
        for (k, s, nb, im) in st["items"]:
            by[key_fn(k, s)] += nb
        tot = sum(by.values())
        if tot < min_bytes or st.get("has_image"):
            continue
        col, nb = max(by.items(), key=lambda kv: kv[1])
        if nb / tot < min_share:
            continue
        y = st["y"]
        if y <= 0:
            continue
        per[col].append(tot / y)
    return per


def summarize(vals):
    vals = sorted(vals)
    if not vals:
        return None
    q = lambda f: vals[min(len(vals) - 1, int(f * (len(vals) - 1) + 0.5))]
    return {"n": len(vals), "median": statistics.median(vals), "p25": q(0.25), "p75": q(0.75)}


def regress(steps, cols, extra=(), free=(), intercept=True, trim=False):
    """Columns: bytes per col, extras are (name, fn(step)) regressors."""
    names = list(cols) + [e[0] for e in extra] + (["intercept"] if intercept else [])
    idx = {c: i for i, c in enumerate(names)}
    X, y = [], []
    for st in steps:
        row = [0.0] * len(names)
        for (k, s, nb, im) in st["items"]:
            c = st["_col"](k, s)
            if c in idx:
                row[idx[c]] += nb
            if im and "images" in idx:
                row[idx["images"]] += im
        for (nm, fn) in extra:
            row[idx[nm]] += fn(st)
        if intercept:
            row[idx["intercept"]] = 1.0
        X.append(row)
        y.append(st["y"])
    freeidx = {idx[f] for f in free if f in idx}
    if intercept:
        freeidx.add(idx["intercept"])
    b = nnls(X, y, free=freeidx)
    rep = fit_report(X, y, b)
    if trim:
        # one pass of outlier trimming: steps whose residual exceeds
        # max(4 * MAD, 150 tokens) + 30% of the prediction are content the log does not show
        # (injected reminders, context edits) and are left out of the refit
        res = [t - sum(r[k] * b[k] for k in range(len(b))) for r, t in zip(X, y)]
        med = statistics.median(res)
        mad = statistics.median(abs(v - med) for v in res) or 1.0
        keep = [i for i, v in enumerate(res)
                if abs(v - med) <= max(4 * mad, 150.0) + 0.3 * abs(y[i] - v)]
        X2, y2 = [X[i] for i in keep], [y[i] for i in keep]
        b = nnls(X2, y2, free=freeidx)
        rep = fit_report(X2, y2, b)
        rep["trimmed"] = len(X) - len(X2)
        rep["untrimmed_r2"] = fit_report(X, y, b)["r2"]
        X = X2
    return names, b, rep, X


def bytes_per_col(X, names):
    return {n: sum(r[i] for r in X) for i, n in enumerate(names)}


def fmt_ratio(coef):
    return (1.0 / coef) if coef > 1e-9 else float("inf")


# --------------------------------------------------------------------------
def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    out_json = None
    if "--json" in sys.argv:
        out_json = sys.argv[sys.argv.index("--json") + 1]
    results = {}

    # ---------------- Claude ----------------
    cl_files = []
    for d, _, fs in os.walk(os.path.join(root, "claude-code")):
        cl_files += [os.path.join(d, f) for f in fs if f.endswith(".jsonl")]
    cl_steps, cl_firsts, cl_outs = [], [], []
    for f in sorted(cl_files):
        s, fi, o = claude_steps(f)
        cl_steps += s
        cl_firsts += fi
        cl_outs += o
    tool_count = defaultdict(int)
    for st in cl_steps:
        for (k, s, nb, im) in st["items"]:
            if k == "tool_result":
                tool_count[s] += nb
    cl_tools = [t for t, n in sorted(tool_count.items(), key=lambda kv: -kv[1]) if n >= 20000][:8]
    # a predecessor whose only usage is the message_start snapshot
    # (output_tokens <= 10 although it wrote content) has no exact output count
    # is replaced by its written bytes / 3.4 (the output-side ratio below)
    n_snap = 0
    for st in cl_steps:
        if st["prev_out"] <= 10 and st["prev_out_bytes"] > 100:
            st["prev_out"] = st["prev_out_bytes"] / 3.4
            n_snap += 1
    results["claude_snapshot_steps_dropped"] = n_snap
    for st in cl_steps:
        st["y"] = st["growth"] - st["prev_out"]
        st["_col"] = lambda k, s: col_of(k, s, cl_tools)
        st["has_image"] = any(im for (k, s, nb, im) in st["items"])
    cols = ["user", "summary"] + ["tool_result:" + t for t in cl_tools] + ["tool_result:other", "images"]
    # steps across a compaction have no predecessor (chain breaks) -> not here
    names, b, rep, X = regress(cl_steps, cols,
                               extra=[("dropped_thinking", lambda st: -st["dropped_thinking_bytes"])])
    results["claude_input"] = {"names": names, "coef": b, "fit": rep, "bytes": bytes_per_col(X, names)}
    names_t, b_t, rep_t, X_t = regress(cl_steps, cols, trim=True,
                                       extra=[("dropped_thinking", lambda st: -st["dropped_thinking_bytes"])])
    results["claude_input_trimmed"] = {"names": names_t, "coef": b_t, "fit": rep_t,
                                       "bytes": bytes_per_col(X_t, names_t)}
    # pooled tool_result
    names_p, b_p, rep_p, X_p = regress(
        [dict(st, _col=lambda k, s: "tool_result" if k == "tool_result" else k) for st in cl_steps],
        ["user", "summary", "tool_result", "images"],
        extra=[("dropped_thinking", lambda st: -st["dropped_thinking_bytes"])])
    results["claude_input_pooled"] = {"names": names_p, "coef": b_p, "fit": rep_p,
                                      "bytes": bytes_per_col(X_p, names_p)}
    results["claude_dominant"] = {k: summarize(v) for k, v in dominant_ratios(
        cl_steps, lambda k, s: col_of(k, s, cl_tools)).items()}
    results["claude_dominant_pooled"] = {k: summarize(v) for k, v in dominant_ratios(
        cl_steps, lambda k, s: k).items()}
    # output side
    Xo, yo = [], []
    for o in cl_outs:
        if o["out"] < 30:
            continue
        Xo.append([o["bytes"].get(k, 0) for k in CL_KINDS_OUT] + [1.0])
        yo.append(o["out"])
    bo = nnls(Xo, yo, free={3})
    results["claude_output"] = {"names": list(CL_KINDS_OUT) + ["intercept"], "coef": bo,
                                "fit": fit_report(Xo, yo, bo),
                                "bytes": bytes_per_col(Xo, list(CL_KINDS_OUT) + ["intercept"])}
    dom_out = defaultdict(list)
    for o in cl_outs:
        tot = sum(o["bytes"].values())
        if tot < 300 or o["out"] < 30:
            continue
        k, nb = max(o["bytes"].items(), key=lambda kv: kv[1])
        if nb / tot >= 0.9:
            dom_out[k].append(tot / o["out"])
    results["claude_output_dominant"] = {k: summarize(v) for k, v in dom_out.items()}

    # ---------------- Codex ----------------
    cx_files = []
    for d, _, fs in os.walk(os.path.join(root, "codex")):
        cx_files += [os.path.join(d, f) for f in fs if f.endswith(".jsonl")]
    cx_steps, cx_firsts, cx_outs = [], [], []
    for f in sorted(cx_files):
        s, fi, o = codex_steps(f)
        cx_steps += s
        cx_firsts += fi
        cx_outs += o
    tool_count = defaultdict(int)
    for st in cx_steps:
        for (k, s, nb, im) in st["items"]:
            if k == "tool_result":
                tool_count[s] += nb
    cx_tools = [t for t, n in sorted(tool_count.items(), key=lambda kv: -kv[1]) if n >= 20000][:8]
    # A step that re-injects the full developer instructions (>= 5 kB of
    # developer text in one step) is a context restart (resume / new thread
    # state): the prompt jumps or falls by far more than the logged bytes.
    # Those are reported apart and left out of the fit.
    cx_restarts = []
    kept = []
    for st in cx_steps:
        dev = sum(nb for (k, s_, nb, im) in st["items"] if k == "developer")
        (cx_restarts if dev >= 5000 else kept).append(st)
    cx_steps = kept
    results["codex_restarts"] = [{"growth": st["growth"], "log_bytes": sum(i[2] for i in st["items"])}
                                 for st in cx_restarts]
    # Reasoning written since the last user message leaves the context when a
    # new user message arrives (verified: fitting its coefficient freely gives
    # about -0.7..-1); it is known in tokens, so it goes to the left-hand side.
    for st in cx_steps:
        st["y"] = st["growth"] - st["prev_out"] + st["dropped_reasoning"]
        st["_col"] = lambda k, s: col_of(k, s, cx_tools)
        st["has_image"] = any(im for (k, s, nb, im) in st["items"])
    cols = ["user", "developer"] + ["tool_result:" + t for t in cx_tools] + ["tool_result:other", "images"]
    names, b, rep, X = regress(cx_steps, cols,
                               extra=[("prev_reasoning_tokens", lambda st: st["prev_reasoning"])],
                               free=("prev_reasoning_tokens",))
    results["codex_input"] = {"names": names, "coef": b, "fit": rep, "bytes": bytes_per_col(X, names)}
    names_t, b_t, rep_t, X_t = regress(cx_steps, cols, trim=True,
                                       extra=[("prev_reasoning_tokens", lambda st: st["prev_reasoning"])],
                                       free=("prev_reasoning_tokens",))
    results["codex_input_trimmed"] = {"names": names_t, "coef": b_t, "fit": rep_t,
                                      "bytes": bytes_per_col(X_t, names_t)}
    names_p, b_p, rep_p, X_p = regress(
        [dict(st, _col=lambda k, s: "tool_result" if k == "tool_result" else k) for st in cx_steps],
        ["user", "developer", "tool_result", "images"],
        extra=[("prev_reasoning_tokens", lambda st: st["prev_reasoning"]),
               ("dropped_reasoning_tokens(check)", lambda st: -st["dropped_reasoning"])],
        free=("prev_reasoning_tokens", "dropped_reasoning_tokens(check)"))
    results["codex_input_pooled"] = {"names": names_p, "coef": b_p, "fit": rep_p,
                                     "bytes": bytes_per_col(X_p, names_p)}
    img = []
    for st in cx_steps:
        n_im = sum(i[3] for i in st["items"])
        if n_im == 1:
            txt = sum(i[2] for i in st["items"])
            img.append(st["y"] - txt / 4.0)
    results["codex_image_tokens"] = summarize(img)
    results["codex_dominant"] = {k: summarize(v) for k, v in dominant_ratios(
        cx_steps, lambda k, s: col_of(k, s, cx_tools)).items()}
    results["codex_dominant_pooled"] = {k: summarize(v) for k, v in dominant_ratios(
        cx_steps, lambda k, s: k).items()}
    # output side: visible output = output - reasoning vs assistant + tool_call bytes;
    # reasoning tokens vs reasoning item bytes (summary + encrypted_content)
    Xo, yo, dom_cx = [], [], defaultdict(list)
    for o in cx_outs:
        vis = o["out"] - o["reasoning"]
        if vis < 30:
            continue
        Xo.append([o["bytes"].get("assistant", 0), o["bytes"].get("tool_call", 0), 1.0])
        yo.append(vis)
        a, t_ = o["bytes"].get("assistant", 0), o["bytes"].get("tool_call", 0)
        if a + t_ >= 300:
            if a / (a + t_) >= 0.9:
                dom_cx["assistant"].append((a + t_) / vis)
            elif t_ / (a + t_) >= 0.9:
                dom_cx["tool_call"].append((a + t_) / vis)
    for o in cx_outs:
        if o["reasoning"] >= 30 and o["bytes"].get("thinking"):
            dom_cx["thinking(raw item bytes per reasoning token)"].append(o["bytes"]["thinking"] / o["reasoning"])
    bo = nnls(Xo, yo, free={2})
    results["codex_output"] = {"names": ["assistant", "tool_call", "intercept"], "coef": bo,
                               "fit": fit_report(Xo, yo, bo) if yo else None,
                               "bytes": bytes_per_col(Xo, ["assistant", "tool_call", "intercept"])}
    results["codex_output_dominant"] = {k: summarize(v) for k, v in dom_cx.items()}

    # ---------------- fixed overhead of first requests ----------------
    def overhead(firsts, ratios, default):
        rows = []
        for fi in firsts:
            est = 0.0
            for (k, s, nb, im) in fi["items"]:
                est += nb / ratios.get(k, default)
            rows.append({"file": os.path.basename(fi["file"]), "prompt": fi["prompt"],
                         "log_bytes": sum(it[2] for it in fi["items"]),
                         "log_tokens_est": round(est), "overhead": round(fi["prompt"] - est),
                         "share": (fi["prompt"] - est) / fi["prompt"] if fi["prompt"] else None,
                         "base_instructions_bytes": fi.get("base_instructions_bytes")})
        return rows

    # estimated with the recommended constants of docs/composition-calibration.md
    results["claude_first"] = overhead(cl_firsts, {"user": 3.5, "summary": 3.5, "tool_result": 3.0,
                                                   "assistant": 3.75, "tool_call": 3.0, "thinking": 2.75}, 3.5)
    results["codex_first"] = overhead(cx_firsts, {"user": 3.5, "developer": 3.5}, 3.75)

    # ---------------- print ----------------
    def show_fit(title, r):
        print(f"\n== {title}: n={r['fit']['n']} R2={r['fit']['r2']:.3f} "
              f"rmse={r['fit']['rmse_tokens']:.0f} tok, median rel err="
              f"{(r['fit']['median_rel_err'] or 0) * 100:.0f}%, sum(pred)/sum(actual)="
              f"{r['fit']['sum_pred_over_actual'] or 0:.3f}")
        for n, c in zip(r["names"], r["coef"]):
            if n == "intercept":
                print(f"   {n:32s} {c:9.1f} tokens/step")
            elif n.startswith("prev_reasoning") or n.startswith("dropped_reasoning"):
                print(f"   {n:32s} {c:9.2f} x tokens  (-1 = dropped from next input, 0 = kept)")
            elif n == "images":
                print(f"   {n:32s} {c:9.1f} tokens/image   (count {r['bytes'][n]:.0f})")
            else:
                print(f"   {n:32s} {fmt_ratio(c):9.2f} bytes/token  ({r['bytes'][n] / 1000:.0f} kB)")

    def show_dom(title, d):
        print(f"\n-- {title} (steps where one kind is >=90% of new bytes; bytes/token)")
        for k, v in sorted(d.items(), key=lambda kv: -kv[1]["n"]):
            print(f"   {k:48s} n={v['n']:4d} median={v['median']:.2f} p25={v['p25']:.2f} p75={v['p75']:.2f}")

    show_fit("Claude input growth (NNLS, per tool)", results["claude_input"])
    show_fit("Claude input growth (NNLS, per tool, outliers trimmed)", results["claude_input_trimmed"])
    print("   trimmed:", results["claude_input_trimmed"]["fit"].get("trimmed"),
          "steps; snapshot-only predecessors estimated:", results["claude_snapshot_steps_dropped"])
    show_fit("Claude input growth (NNLS, pooled)", results["claude_input_pooled"])
    show_dom("Claude input, dominant-kind steps", results["claude_dominant"])
    show_dom("Claude input, dominant-kind steps (pooled)", results["claude_dominant_pooled"])
    show_fit("Claude output (output_tokens vs written blocks)", results["claude_output"])
    show_dom("Claude output, dominant-kind responses", results["claude_output_dominant"])
    show_fit("Codex input growth (NNLS, per tool)", results["codex_input"])
    show_fit("Codex input growth (NNLS, per tool, outliers trimmed)", results["codex_input_trimmed"])
    print("   trimmed:", results["codex_input_trimmed"]["fit"].get("trimmed"), "steps")
    show_fit("Codex input growth (NNLS, pooled)", results["codex_input_pooled"])
    show_dom("Codex input, dominant-kind steps", results["codex_dominant"])
    show_dom("Codex input, dominant-kind steps (pooled)", results["codex_dominant_pooled"])
    print("\n-- Codex tokens per image (steps with exactly one image; y minus text at 4 B/tok):",
          results["codex_image_tokens"])
    print("-- Codex context-restart steps (left out):", results["codex_restarts"])
    print("-- Codex redaction placeholders read (all look-ups):", REDACT_STATS)
    if results["codex_output"]["fit"]:
        show_fit("Codex visible output (output-reasoning vs written items)", results["codex_output"])
    show_dom("Codex output, dominant-kind responses", results["codex_output_dominant"])
    for k in ("claude_first", "codex_first"):
        print(f"\n-- {k}: fixed overhead of first request (prompt - estimated log tokens)")
        for r in results[k]:
            print(f"   {r['file'][:44]:44s} prompt={r['prompt']:7d} log={r['log_bytes']:7d}B "
                  f"~{r['log_tokens_est']:6d}tok overhead={r['overhead']:7d} ({(r['share'] or 0) * 100:.0f}%)"
                  + (f" base_instructions={r['base_instructions_bytes']}B" if r.get("base_instructions_bytes") else ""))
    if out_json:
        for k in list(results):
            if isinstance(results[k], dict):
                results[k].pop("X", None)
        with open(out_json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
