//! Model names: the deterministic normal form ([`normalize_model`]), the candidate spellings
//! tried against the price data, and the check that a match never crosses family or version.

use super::cost::DataEntry;
use super::data::calculator;
use super::ResolutionKind;
use genai_prices::{PriceRequest, Usage};

/// Suffixes naming an effort level or mode rather than a model. Stripped only for the families
/// that use them (Claude, GPT/o-series, Gemini), so e.g. `mistral-medium` keeps its name.
const EFFORT_SUFFIXES: [&str; 8] = [
    "-xhigh",
    "-high",
    "-medium",
    "-low",
    "-minimal",
    "-thinking",
    "-reasoning",
    "-fast",
];

/// Words that tell model sizes or families apart: a match must agree on every one of them.
const SIZE_WORDS: [&str; 13] = [
    "mini", "nano", "pro", "lite", "flash", "haiku", "sonnet", "opus", "spark", "fable", "mythos",
    "micro", "ultra",
];

fn known_family(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with("claude")
        || s.starts_with("gpt-")
        || s.starts_with("gemini")
        || s.starts_with("codex")
        || (b.len() > 1 && b[0] == b'o' && b[1].is_ascii_digit())
}

/// Strips wrappers that are not part of the model name: router/provider prefixes, Bedrock region
/// and version decorations, `@…`, `[…]`, `(…)`, `:thinking` and effort suffixes. Returns the name
/// and whether a `-fast` suffix was seen. The date and separators are kept.
fn strip_wrappers(lower: &str) -> (String, bool) {
    let mut s = lower.trim().to_string();
    let mut fast = false;
    // Provider and router prefixes (`anthropic/`, `openrouter/openai/`, `vertex_ai/`, …).
    if let Some(i) = s.rfind('/') {
        s = s[i + 1..].to_string();
    }
    loop {
        let before = s.clone();
        // `[1m]`, `(high)`.
        for (open, close) in [('[', ']'), ('(', ')')] {
            if s.ends_with(close) {
                if let Some(i) = s.rfind(open) {
                    s.truncate(i);
                }
            }
        }
        s = s.trim().trim_end_matches(['-', '_', ' ']).to_string();
        // Vertex `@default`, `@20250929`.
        if let Some(i) = s.find('@') {
            s.truncate(i);
        }
        if let Some(rest) = s.strip_suffix(":thinking") {
            s = rest.to_string();
        }
        // Bedrock `-v1:0`, `:0`.
        if let Some(i) = s.rfind("-v") {
            let tail = &s[i + 2..];
            let (v, colon) = tail.split_once(':').unwrap_or((tail, "0"));
            if !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_digit())
                && colon.bytes().all(|b| b.is_ascii_digit())
                && tail.contains(':')
            {
                s.truncate(i);
            }
        }
        if let Some((head, tail)) = s.rsplit_once(':') {
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                s = head.to_string();
            }
        }
        // Bedrock cross-region inference profiles: `us.anthropic.`, `global.anthropic.`, `anthropic.`.
        if let Some(i) = s.find("anthropic.") {
            let head = &s[..i];
            if head.is_empty()
                || (head.ends_with('.')
                    && head[..head.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'-'))
            {
                s = s[i + "anthropic.".len()..].to_string();
            }
        }
        if known_family(&s) {
            for suf in EFFORT_SUFFIXES {
                if let Some(rest) = s.strip_suffix(suf) {
                    if suf == "-fast" {
                        fast = true;
                    }
                    s = rest.to_string();
                }
            }
        }
        if s == before {
            break;
        }
    }
    (s, fast)
}

/// Removes a trailing `-YYYYMMDD` or `-YYYY-MM-DD`.
fn strip_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 9 && b[n - 9] == b'-' && digits(n - 8..n) && b[n - 8] == b'2' {
        return Some(s[..n - 9].to_string());
    }
    if n > 11
        && b[n - 11] == b'-'
        && digits(n - 10..n - 6)
        && b[n - 6] == b'-'
        && digits(n - 5..n - 3)
        && b[n - 3] == b'-'
        && digits(n - 2..n)
    {
        return Some(s[..n - 11].to_string());
    }
    None
}

/// `4.5` -> `4-5` (a dot between digits).
fn dots_to_dashes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c == '.'
            && i > 0
            && i + 1 < b.len()
            && b[i - 1].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
        {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// `4-5` -> `4.5` where both sides are single digits (`gemini-2-5-pro` -> `gemini-2.5-pro`).
fn dashes_to_dots(s: &str) -> String {
    let b = s.as_bytes();
    let digit = |i: usize| i < b.len() && b[i].is_ascii_digit();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        let single_before = i > 0 && digit(i - 1) && !(i > 1 && digit(i - 2));
        let single_after = digit(i + 1) && !digit(i + 2);
        if c == '-' && single_before && single_after {
            out.push('.');
        } else {
            out.push(c);
        }
    }
    out
}

/// Cursor-style `claude-4.5-sonnet-thinking` -> `claude-sonnet-4.5-thinking`.
fn claude_reorder(s: &str) -> Option<String> {
    let rest = s.strip_prefix("claude-")?;
    let vlen = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
        .count();
    if vlen == 0 {
        return None;
    }
    let version = rest[..vlen].trim_end_matches('-');
    let after = &rest[version.len()..];
    let after = after.strip_prefix('-')?;
    for fam in ["opus", "sonnet", "haiku"] {
        if let Some(tail) = after.strip_prefix(fam) {
            if tail.is_empty() || tail.starts_with('-') {
                return Some(format!("claude-{fam}-{version}{tail}"));
            }
        }
    }
    None
}

/// The deterministic normal form of a model name: lowercase, wrappers stripped (router and
/// provider prefixes, Bedrock decorations, `@…`, `[…]`, effort suffixes), trailing date removed, `claude-4.5-sonnet` reordered and version dots
/// turned into dashes. `anthropic/claude-opus-4.6[1m]` -> `claude-opus-4-6`. Used to match
/// overrides; the data is matched with the less destructive forms first (dates can name distinct
/// snapshots).
pub fn normalize_model(name: &str) -> String {
    canonical_name(name)
}

pub(super) fn canonical_name(name: &str) -> String {
    let (s, _) = strip_wrappers(&name.trim().to_ascii_lowercase());
    let s = strip_date(&s).unwrap_or(s);
    let s = claude_reorder(&s).unwrap_or(s);
    dots_to_dashes(&s)
}

/// Names to try against the data, most faithful first. The first is the name as logged
/// (lowercased).
fn candidates(lower: &str) -> (Vec<String>, bool) {
    let (clean, fast) = strip_wrappers(lower);
    let mut base = vec![lower.to_string(), clean.clone()];
    if let Some(d) = strip_date(&clean) {
        base.push(d);
    }
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    for b in &base {
        push(b.clone());
    }
    for b in &base[1..] {
        let r = claude_reorder(b);
        for v in [Some(b.clone()), r].into_iter().flatten() {
            push(v.clone());
            push(dots_to_dashes(&v));
            push(dashes_to_dots(&v));
        }
    }
    (out, fast)
}

/// Version tokens of a name (tokens holding a digit), with dates and snapshot numbers removed and
/// trailing `0`s trimmed: `claude-sonnet-4-20250514` -> `[4]`, `gpt-5.3-codex` -> `[5, 3]`,
/// `gemini-2.5-flash-preview-09-2025` -> `[2, 5]`, `gpt-4o` -> `[4o]`.
fn version_tokens(s: &str) -> Vec<String> {
    let toks: Vec<&str> = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let is_num = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if !t.bytes().any(|b| b.is_ascii_digit()) {
            i += 1;
            continue;
        }
        if is_num(t) {
            let next_num = |k: usize, max: usize| {
                toks.get(i + k)
                    .is_some_and(|n| is_num(n) && !n.is_empty() && n.len() <= max)
            };
            // YYYY-MM-DD
            if t.len() == 4
                && (t.starts_with("19") || t.starts_with("20"))
                && next_num(1, 2)
                && next_num(2, 2)
            {
                i += 3;
                continue;
            }
            // YYYYMMDD, MMDD, YYYY snapshots.
            if t.len() >= 4 {
                i += 1;
                continue;
            }
            // MM-DD, MM-YYYY
            if t.len() == 2
                && toks
                    .get(i + 1)
                    .is_some_and(|n| is_num(n) && (n.len() == 2 || n.len() == 4))
            {
                i += 2;
                continue;
            }
            // Zero-padded day or month.
            if t.len() == 2 && t.starts_with('0') {
                i += 1;
                continue;
            }
        }
        out.push(t.to_string());
        i += 1;
    }
    while out.last().is_some_and(|t| t == "0") {
        out.pop();
    }
    out
}

/// Whether the data's `model_id` is the same family and version as the name we asked for. Guards
/// against prefix matches such as `claude-opus-4-60` -> `claude-opus-4-6` or a `-mini` landing on
/// the full model.
fn same_model_family(query: &str, model_id: &str) -> bool {
    let q = query.to_ascii_lowercase();
    let m = model_id.to_ascii_lowercase();
    let qv = version_tokens(&q);
    if !qv.is_empty() && qv != version_tokens(&m) {
        return false;
    }
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| SIZE_WORDS.contains(w))
            .map(str::to_string)
            .collect()
    };
    let (mut qw, mut mw) = (words(&q), words(&m));
    qw.sort();
    qw.dedup();
    mw.sort();
    mw.dedup();
    qw == mw
}

/// The data's entry for a model name (lowercased): each candidate spelling is tried, first with
/// the provider hint when the data knows that provider, then without, and the first match that
/// is the same family and version wins. `None`: the data has no price for the name.
pub(super) fn find_in_data(lower: &str, provider: Option<&str>) -> Option<DataEntry> {
    let (cands, implied_fast) = candidates(lower);
    let hint = provider
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .filter(|p| matches!(calculator().find_provider(Some(p), None), Ok(Some(_))));
    let empty = Usage::new();
    let mut attempts: Vec<(usize, Option<&str>)> = Vec::new();
    if let Some(h) = hint.as_deref() {
        attempts.extend((0..cands.len()).map(|i| (i, Some(h))));
    }
    attempts.extend((0..cands.len()).map(|i| (i, None)));
    for (ci, prov) in attempts {
        let name = &cands[ci];
        let mut req = PriceRequest::new(name, &empty);
        if let Some(p) = prov {
            req = req.with_provider_id(p);
        }
        let Ok(found) = calculator().calculate(&req) else {
            continue;
        };
        if !same_model_family(name, &found.model_id) {
            continue;
        }
        let kind = if ci == 0 {
            ResolutionKind::Exact
        } else {
            ResolutionKind::Normalized
        };
        return Some(DataEntry::new(
            name.clone(),
            found.provider_id,
            found.model_id,
            kind,
            implied_fast,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::test_support::*;
    use genai_prices::Calculator;

    #[test]
    fn names_normalise_without_crossing_versions() {
        let p = pricer();
        let cases = [
            ("claude-opus-4-6", "anthropic/claude-opus-4-6"),
            ("anthropic/claude-opus-4-6", "anthropic/claude-opus-4-6"),
            (
                "us.anthropic.claude-opus-4-6-v1:0",
                "anthropic/claude-opus-4-6",
            ),
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic/claude-sonnet-4-5",
            ),
            ("claude-opus-4-6@default", "anthropic/claude-opus-4-6"),
            ("claude-opus-4-6[1m]", "anthropic/claude-opus-4-6"),
            ("Claude-Opus-4.6", "anthropic/claude-opus-4-6"),
            ("claude-4.5-sonnet-thinking", "anthropic/claude-sonnet-4-5"),
            ("claude-opus-4-7", "anthropic/claude-opus-4-7"),
            ("claude-opus-4-5-20251101", "anthropic/claude-opus-4-5"),
            ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4-0"),
            ("gpt-5.3-codex", "openai/gpt-5.3-codex"),
            ("openai/gpt-5.3-codex", "openai/gpt-5.3-codex"),
            ("gpt-5.3-codex-high", "openai/gpt-5.3-codex"),
            ("gpt-5-3-codex", "openai/gpt-5.3-codex"),
            ("gpt-5.1-codex-max", "openai/gpt-5.1"),
            ("gpt-5.1-codex-mini", "openai/gpt-5.1-codex-mini"),
            ("gpt-5.4-2026-03-05", "openai/gpt-5.4"),
            ("gemini-2-5-pro", "google/gemini-2.5-pro"),
            (
                "gemini/gemini-3.1-pro-preview",
                "google/gemini-3.1-pro-preview",
            ),
            ("gemini-3-flash-preview", "google/gemini-3-flash-preview"),
        ];
        for (name, want) in cases {
            assert_eq!(key(&p, name).as_deref(), Some(want), "{name}");
        }
        // Never across versions or sizes, even where the crate's prefix rule would match.
        let u = Usage::new();
        let raw = Calculator::bundled()
            .calculate(&PriceRequest::new("claude-opus-4-60", &u))
            .unwrap();
        assert_eq!(
            raw.model_id, "claude-opus-4-6",
            "the crate alone would match it"
        );
        assert_eq!(key(&p, "claude-opus-4-60"), None);
        assert_eq!(key(&p, "claude-sonnet-4-5-mini"), None);
        assert_ne!(
            key(&p, "claude-opus-4-7").as_deref(),
            Some("anthropic/claude-opus-4-6")
        );
        assert!(!same_model_family("gpt-5.3-codex", "gpt-5.1-codex-mini"));
        assert!(!same_model_family("claude-opus-4-7", "claude-opus-4-6"));
        assert!(!same_model_family("claude-opus-4-6", "claude-opus-4-0"));
        assert!(!same_model_family("gpt-4o", "gpt-4"));
        assert!(same_model_family("gpt-4o-2024-11-20", "gpt-4o"));
        assert!(same_model_family(
            "gemini-2.5-flash-preview-09-2025",
            "gemini-2.5-flash"
        ));
        assert_eq!(
            normalize_model("anthropic/Claude-Opus-4.6[1m]"),
            "claude-opus-4-6"
        );
        assert_eq!(
            normalize_model("us.anthropic.claude-haiku-4-5-20251001-v1:0"),
            "claude-haiku-4-5"
        );
        // Kinds.
        let exact = p
            .describe_at("claude-opus-4-6", None, ms(2026, 6, 1))
            .unwrap();
        assert_eq!(exact.resolution, ResolutionKind::Exact);
        let norm = p
            .describe_at("anthropic/claude-opus-4-6", None, ms(2026, 6, 1))
            .unwrap();
        assert_eq!(norm.resolution, ResolutionKind::Normalized);
    }

    #[test]
    fn provider_hint_is_honoured() {
        let p = pricer();
        let mut e = ev("claude-opus-4.7", ms(2026, 6, 1), toks(1, 0, 0, 0, 1));
        e.provider = Some("github-copilot".into());
        assert_eq!(
            p.price(&e).price_key.as_deref(),
            Some("github-copilot/claude-opus-4.7")
        );
        // A provider the data does not know is ignored.
        e.provider = Some("some-proxy".into());
        assert_eq!(
            p.price(&e).price_key.as_deref(),
            Some("anthropic/claude-opus-4-7")
        );
    }
}
