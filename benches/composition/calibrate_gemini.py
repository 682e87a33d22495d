#!/usr/bin/env python3
"""Gemini CLI: bytes-per-token ratios for tokwatch's context composition.

Usage: python3 benches/composition/calibrate_gemini.py fixtures

Stdlib only; measures bytes the way src/parser/gemini_ctx.rs does (raw JSON spans
in the chat file's lines) and prints, per consecutive pair of requests, the input
growth against the bytes added between them. See docs/composition-calibration.md,
"Gemini CLI".
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from calibrate import obj_spans, arr_spans, blen  # noqa: E402

KINDS = ("user", "assistant", "tool_call", "tool_result", "image")


def parts_bytes(s, span, text_kind, tool=None):
    """Bytes per kind of a Gemini `Content.parts`-like value (string or list)."""
    out = dict.fromkeys(KINDS, 0)
    a, b = span
    if s[a] == '"':
        if b - a > 2:  # an empty string is no part
            out[text_kind] += blen(s, span)
        return out
    if s[a] != "[":
        return out
    for ps in arr_spans(s, a):
        if s[ps[0]] != "{":
            continue
        keys, _ = obj_spans(s, ps[0])
        if "functionResponse" in keys:
            out["tool_result"] += blen(s, ps)
        elif "functionCall" in keys:
            out["tool_call"] += blen(s, ps)
        elif "inlineData" in keys or "fileData" in keys:
            out["image"] += 1
        elif "text" in keys and not json.loads(s[slice(*keys.get("thought", (0, 0)))] or "false"):
            out[text_kind] += blen(s, ps)
    return out


def records(path):
    """The file's message records, latest copy per id, in first-seen order."""
    order, latest = [], {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        v = json.loads(line)
        if "id" not in v or "type" not in v:
            continue
        if v["id"] not in latest:
            order.append(v["id"])
        latest[v["id"]] = (line, v)
    return [latest[i] for i in order]


def measure(line, v):
    keys, _ = obj_spans(line, 0)
    out = dict.fromkeys(KINDS, 0)
    if v["type"] == "user" and "content" in keys:
        out = parts_bytes(line, keys["content"], "user")
    elif v["type"] == "gemini":
        if "content" in keys:
            out = parts_bytes(line, keys["content"], "assistant")
        if "toolCalls" in keys:
            for ts in arr_spans(line, keys["toolCalls"][0]):
                tk, _ = obj_spans(line, ts[0])
                for k in ("name", "args"):
                    if k in tk:
                        out["tool_call"] += blen(line, tk[k])
                if "result" in tk:
                    r = parts_bytes(line, tk["result"], "tool_result")
                    for k in KINDS:
                        out[k] += r[k]
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    path = os.path.join(root, "gemini-cli/session.jsonl")
    recs = records(path)
    reqs = []  # (index, prompt, output, thoughts)
    for i, (line, v) in enumerate(recs):
        t = v.get("tokens")
        if v["type"] == "gemini" and t:
            reqs.append((i, t["input"] + t.get("tool", 0), t["output"], t["thoughts"]))
    sizes = [measure(line, v) for line, v in recs]
    print("request  prompt   growth  output(A)  loop/new prompt  added bytes by kind")
    prev = None
    for n, (i, prompt, out, th) in enumerate(reqs):
        if prev is None:
            before = dict.fromkeys(KINDS, 0)
            for s in sizes[:i]:
                for k in KINDS:
                    before[k] += s[k]
            print(f"R{n + 1}  {prompt:7d}  first: {before}")
        else:
            pi, pp, pout, pth = prev
            added = dict.fromkeys(KINDS, 0)
            new_turn = False
            for j in range(pi, i):
                for k in KINDS:
                    added[k] += sizes[j][k]
                if recs[j][1]["type"] == "user":
                    new_turn = True
            print(f"R{n + 1}  {prompt:7d}  {prompt - pp:+7d}  {pout:5d}  "
                  f"{'turn' if new_turn else 'loop'}  {added}")
        prev = (i, prompt, out, th)


if __name__ == "__main__":
    main()
