//! Context composition (`docs/composition.md`): what a request's input was made of, estimated
//! from the byte lengths of the messages in the log and scaled to the request's exact input
//! total. Only numbers (and tool names) leave this module, never text.
//!
//! - [`Tally`] counts bytes per kind of content (tool results per tool name) and images.
//! - [`Tally::compose`] turns a tally into a [`Composition`] for a known input total, with a
//!   tool family's [`Ratios`] (bytes per token, calibrated on the real samples:
//!   `docs/composition-calibration.md`).
//! - [`json`] walks the byte spans of a JSON line without decoding it (the parsers measure
//!   content blocks with it: a block's size is the length of its raw span).

use crate::event::{push_part, Composition, Ctx, CtxKind, CtxPart};
use std::collections::HashMap;

/// Bytes per token of each kind of content for one tool family, and tokens per image.
#[derive(Debug, Clone, Copy)]
pub struct Ratios {
    /// Bytes of raw JSON span per token, indexed by [`CtxKind::index`].
    pub bytes_per_token: [f64; 8],
    /// Tool results of tools whose name starts with the prefix: their own ratio.
    pub tool_ratio: &'static [(&'static str, f64)],
    /// Tokens one image or attached document stands for.
    pub image_tokens: f64,
}

/// Claude Code (Anthropic tokenizer), fitted on the Opus 4.6 samples.
pub const CLAUDE: Ratios = Ratios {
    // system, user, assistant, thinking, tool_call, tool_result, image, summary
    bytes_per_token: [3.5, 3.5, 3.75, 2.75, 3.0, 3.0, 1.0, 3.5],
    tool_ratio: &[("WebFetch", 4.0), ("Task", 3.25)],
    // Anthropic's documented cost of a full-size image (about 1.15 megapixels / 750).
    image_tokens: 1600.0,
};

/// Codex (OpenAI o200k tokenizer), fitted on the gpt-5.3-codex samples. A reasoning item is
/// mostly `encrypted_content`: its bytes count at 14 per token.
pub const CODEX: Ratios = Ratios {
    bytes_per_token: [2.5, 3.5, 4.25, 14.0, 4.0, 3.75, 1.0, 3.5],
    tool_ratio: &[("apply_patch", 3.0), ("mcp__", 6.0)],
    // Measured on the samples: 1715 to 1786 tokens per image whatever its size.
    image_tokens: 1750.0,
};

/// Qwen Code: assumed, not fitted (the only sample is a mock-server run with made-up token
/// counts, `docs/composition-calibration.md`, "Qwen Code"). Qwen's tokenizer is a byte-level
/// BPE with a vocabulary (151k) close to o200k's, so the text kinds take Codex's fitted ratios;
/// thinking is plain text here (`thought` parts), not an encrypted blob, so it takes the
/// assistant's.
pub const QWEN: Ratios = Ratios {
    bytes_per_token: [2.5, 3.5, 4.25, 4.25, 4.0, 3.75, 1.0, 3.5],
    tool_ratio: &[],
    // Qwen-VL makes one token of each 28x28-pixel patch: a 1-megapixel picture is ~1,280.
    image_tokens: 1280.0,
};

/// Gemini CLI (Gemini tokenizer), fitted on the gemini-3-flash-preview sample (tool results,
/// tool calls); user, assistant and summary text assume Gemini's ~4 bytes per token. Thinking
/// is counted in tokens (`tokens.thoughts` of the tool loop's model messages), so its "bytes"
/// are tokens: 1 per token.
pub const GEMINI: Ratios = Ratios {
    bytes_per_token: [4.0, 4.0, 4.0, 1.0, 3.25, 3.75, 1.0, 4.0],
    tool_ratio: &[],
    // Assumed, no image in the sample: Gemini 3 bills an image at its default (high) media
    // resolution as 1,120 tokens; Gemini 2.5 at 258 per 768-pixel tile.
    image_tokens: 1120.0,
};

impl Ratios {
    fn tool(&self, name: &str) -> f64 {
        self.tool_ratio
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .map(|(_, r)| *r)
            .unwrap_or(self.bytes_per_token[CtxKind::ToolResult.index()])
    }
}

/// Tool names of one file, interned (a [`Tally`] holds ids).
#[derive(Debug, Clone, Default)]
pub struct Names {
    ids: HashMap<String, u16>,
    names: Vec<String>,
}

impl Names {
    /// The id of a tool name (a new one when unseen; names beyond 65535 share the last id).
    pub fn id(&mut self, name: &str) -> u16 {
        if let Some(i) = self.ids.get(name) {
            return *i;
        }
        if self.names.len() >= u16::MAX as usize {
            return u16::MAX - 1;
        }
        let i = self.names.len() as u16;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), i);
        i
    }
    /// The name of an id.
    pub fn name(&self, id: u16) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }
}

/// Bytes per kind of content, tool-result bytes per tool, and images.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Bytes per kind (tool results included in total, per tool in `tools`).
    pub bytes: [u64; 8],
    /// Tool-result bytes per tool id, sorted by id.
    pub tools: Vec<(u16, u64)>,
    /// Images and documents.
    pub images: u64,
}

impl Tally {
    /// True when nothing is counted.
    pub fn is_empty(&self) -> bool {
        self.images == 0 && self.bytes.iter().all(|b| *b == 0)
    }
    /// Adds bytes of one kind (not tool results: see [`Tally::add_tool`]).
    pub fn add(&mut self, kind: CtxKind, bytes: u64) {
        self.bytes[kind.index()] += bytes;
    }
    /// Adds tool-result bytes of one tool.
    pub fn add_tool(&mut self, tool: u16, bytes: u64) {
        self.bytes[CtxKind::ToolResult.index()] += bytes;
        match self.tools.binary_search_by_key(&tool, |t| t.0) {
            Ok(i) => self.tools[i].1 += bytes,
            Err(i) => self.tools.insert(i, (tool, bytes)),
        }
    }
    /// Adds another tally.
    pub fn merge(&mut self, o: &Tally) {
        for (a, b) in self.bytes.iter_mut().zip(o.bytes.iter()) {
            *a += b;
        }
        for (t, b) in &o.tools {
            match self.tools.binary_search_by_key(t, |x| x.0) {
                Ok(i) => self.tools[i].1 += b,
                Err(i) => self.tools.insert(i, (*t, *b)),
            }
        }
        self.images += o.images;
    }

    /// The composition of a request whose input total is `total`: each kind's bytes divided
    /// by its ratio, the system part = what the total leaves over (the system prompt and tool
    /// definitions the log does not show, plus the instructions counted as system), and when
    /// the estimates exceed the total they are all scaled down to it. The parts add up to
    /// `total` exactly (largest remainders). `None` for a zero total.
    pub fn compose(&self, names: &Names, r: &Ratios, total: i64) -> Option<Composition> {
        let mut parts = Vec::new();
        self.split(names, r, total, &mut |kind, tool, tokens| {
            parts.push(CtxPart {
                kind,
                tool: tool.map(|t| names.name(t).to_string()),
                tokens,
            })
        })
        .then_some(Composition { parts })
    }

    /// [`Tally::compose`] in the stored form an event carries, written directly (one
    /// allocation: the parsers make one split per request).
    pub fn compose_ctx(&self, names: &Names, r: &Ratios, total: i64) -> Option<Ctx> {
        let mut s = String::with_capacity(16 * (8 + self.tools.len()));
        self.split(names, r, total, &mut |kind, tool, tokens| {
            push_part(&mut s, kind, tool.map(|t| names.name(t)), tokens)
        })
        .then(|| Ctx::from_encoded(s))
    }

    /// The parts of [`Tally::compose`], in order, to `f(kind, tool, tokens)` (parts of zero
    /// tokens left out); false for a zero total. On the stack unless a tally has more than
    /// 39 tools.
    fn split(
        &self,
        names: &Names,
        r: &Ratios,
        total: i64,
        f: &mut dyn FnMut(CtxKind, Option<u16>, i64),
    ) -> bool {
        if total <= 0 {
            return false;
        }
        let mut stack = [Est::ZERO; STACK];
        let mut heap = Vec::new();
        let est = on_stack(&mut stack, &mut heap, 9 + self.tools.len(), Est::ZERO);
        let mut len = 0;
        let mut push = |kind, tool, e: f64| {
            est[len] = Est {
                kind,
                tool,
                est: e,
                n: 0,
            };
            len += 1;
        };
        for k in CtxKind::ALL {
            match k {
                CtxKind::ToolResult => {
                    let mut listed = 0;
                    for (t, b) in &self.tools {
                        listed += b;
                        push(k, Some(*t), *b as f64 / r.tool(names.name(*t)));
                    }
                    let rest = self.bytes[k.index()].saturating_sub(listed);
                    if rest > 0 {
                        push(k, None, rest as f64 / r.bytes_per_token[k.index()]);
                    }
                }
                CtxKind::Image => push(k, None, self.images as f64 * r.image_tokens),
                _ => push(
                    k,
                    None,
                    self.bytes[k.index()] as f64 / r.bytes_per_token[k.index()],
                ),
            }
        }
        let est = &mut est[..len];
        let sum: f64 = est.iter().map(|e| e.est).sum();
        let t = total as f64;
        if sum <= t {
            est[0].est += t - sum;
        } else {
            for e in est.iter_mut() {
                e.est *= t / sum;
            }
        }
        // Largest remainders: integers that add up to the total. Every estimate is >= 0, so
        // the cast is the floor.
        for e in est.iter_mut() {
            e.n = e.est as i64;
        }
        let mut left = total - est.iter().map(|e| e.n).sum::<i64>();
        if left > 0 {
            // The parts by their fractions, largest first (ties: the earlier part), then
            // one more token each in that order until none is left.
            let mut order_stack = [0u16; STACK];
            let mut order_heap = Vec::new();
            let order = on_stack(&mut order_stack, &mut order_heap, len, 0);
            for (i, o) in order.iter_mut().enumerate() {
                *o = i as u16;
            }
            let frac = |i: u16| est[i as usize].est - est[i as usize].n as f64;
            order.sort_unstable_by(|a, b| frac(*b).total_cmp(&frac(*a)).then(a.cmp(b)));
            for i in order.iter().cycle() {
                if left == 0 {
                    break;
                }
                est[*i as usize].n += 1;
                left -= 1;
            }
        }
        for e in est.iter() {
            if e.n > 0 {
                f(e.kind, e.tool, e.n);
            }
        }
        true
    }
}

/// Room for [`Tally::split`]'s per-part arrays.
const STACK: usize = 48;

/// `len` items of scratch: on the stack when they fit, else in `heap`.
fn on_stack<'a, T: Copy>(
    stack: &'a mut [T; STACK],
    heap: &'a mut Vec<T>,
    len: usize,
    zero: T,
) -> &'a mut [T] {
    if len <= STACK {
        &mut stack[..len]
    } else {
        heap.resize(len, zero);
        heap
    }
}

/// One part's estimate in [`Tally::split`].
#[derive(Clone, Copy)]
struct Est {
    kind: CtxKind,
    tool: Option<u16>,
    est: f64,
    /// Its tokens: the floor of `est`, then the remainders handed out.
    n: i64,
}

impl Est {
    const ZERO: Est = Est {
        kind: CtxKind::System,
        tool: None,
        est: 0.0,
        n: 0,
    };
}

/// True when `name` can be a tool name as the model APIs take them (`[A-Za-z0-9_-]{1,64}`):
/// anything else is not one (it may be text) and is kept as `unknown tool`.
pub fn is_tool_name(name: &[u8]) -> bool {
    (1..=64).contains(&name.len())
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// The in-memory key of an id (a uuid, message id, tool-use or call id) for the parsers'
/// maps: eight bytes at a time, as ids are hashed once or twice per line. Never stored.
pub fn id_key(b: &[u8]) -> i64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("eight bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    (h ^ (h >> 32)) as i64
}

/// Walking a JSON text by byte spans: values are skipped (strings with `memchr`), not decoded.
/// Every function takes the position of a value's first byte and returns the position just
/// after it; `None` means the text is not valid JSON there.
pub mod json {
    /// The first position at or after `i` that is not JSON whitespace.
    #[inline]
    pub fn ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        }
        i
    }

    /// Skips the string starting at `b[i] == '"'`: returns the position after its closing
    /// quote, the first quote not escaped by a backslash. Tool results and file contents are
    /// long strings full of escaped quotes and newlines, so the string is scanned 64 bytes at a
    /// time: masks of its quotes and backslashes, and from the backslash runs which bytes are
    /// escaped (a byte after an odd run), branch-free; the last bytes one at a time.
    #[inline]
    pub fn string(b: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        // Whether the byte at `j` is escaped (the block before ended in an odd backslash run).
        let mut carry = 0u64;
        while let Some(block) = b.get(j..j + 64) {
            let (quotes, backslashes) = masks(block.try_into().expect("64 bytes"));
            let quotes = if backslashes | carry == 0 {
                quotes
            } else {
                quotes & !escaped(backslashes, &mut carry)
            };
            if quotes != 0 {
                return Some(j + quotes.trailing_zeros() as usize + 1);
            }
            j += 64;
        }
        let mut esc = carry != 0;
        for (k, c) in b.get(j..)?.iter().enumerate() {
            if esc {
                esc = false;
            } else if *c == b'\\' {
                esc = true;
            } else if *c == b'"' {
                return Some(j + k + 1);
            }
        }
        None
    }

    /// The bytes of `backslashes` positions that are escaped: those right after an odd run of
    /// backslashes (the run may start in the block before: `carry`, updated for the next
    /// block). The carry-chain trick of simdjson's string scanner.
    #[inline]
    fn escaped(backslashes: u64, carry: &mut u64) -> u64 {
        const EVEN: u64 = 0x5555_5555_5555_5555;
        // A backslash escaped by the block before is not the start of a run.
        let bs = backslashes & !*carry;
        let follows = (bs << 1) | *carry;
        let odd_starts = bs & !EVEN & !follows;
        let (even_ends, overflow) = odd_starts.overflowing_add(bs);
        *carry = overflow as u64;
        let invert = even_ends << 1;
        (EVEN ^ invert) & follows
    }

    /// Bit masks of the quotes and backslashes of 64 bytes (bit k = byte k).
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn masks(block: &[u8; 64]) -> (u64, u64) {
        use std::arch::x86_64::*;
        let (mut q, mut s) = (0u64, 0u64);
        // SAFETY: SSE2 is part of the x86_64 baseline; the loads are unaligned loads of 16
        // bytes within the 64-byte array.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let slash = _mm_set1_epi8(b'\\' as i8);
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
                let mq = _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u16 as u64;
                let ms = _mm_movemask_epi8(_mm_cmpeq_epi8(v, slash)) as u16 as u64;
                q |= mq << (16 * k);
                s |= ms << (16 * k);
            }
        }
        (q, s)
    }

    /// Bit masks of the quotes and backslashes of 64 bytes (bit k = byte k).
    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    fn masks(block: &[u8; 64]) -> (u64, u64) {
        let (mut q, mut s) = (0u64, 0u64);
        for (k, c) in block.iter().enumerate() {
            q |= ((*c == b'"') as u64) << k;
            s |= ((*c == b'\\') as u64) << k;
        }
        (q, s)
    }

    /// Skips any value.
    pub fn value(b: &[u8], i: usize) -> Option<usize> {
        match *b.get(i)? {
            b'"' => string(b, i),
            b'{' | b'[' => {
                // Outside strings, bytes are few: a plain loop; strings are skipped whole.
                let mut depth = 0usize;
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            j = string(b, j)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(j + 1);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                None
            }
            _ => {
                let mut j = i;
                while j < b.len()
                    && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    j += 1;
                }
                (j > i).then_some(j)
            }
        }
    }

    /// Calls `f(key, value start, value end)` for each field of the object at `b[i] == '{'`
    /// (keys as raw bytes, without quotes; escapes are not decoded). Returns the end of the
    /// object.
    pub fn fields(b: &[u8], i: usize, f: &mut dyn FnMut(&[u8], usize, usize)) -> Option<usize> {
        fields_at(b, i, &mut |k, s| {
            let e = value(b, s)?;
            f(k, s, e);
            Some(Step::Took(e))
        })
    }

    /// What a [`fields_at`] callback did with a value.
    pub enum Step {
        /// Not read: the walker skips it.
        Skip,
        /// Read up to this end.
        Took(usize),
        /// Stop the walk.
        Stop,
    }

    /// Calls `f(key, value start)` for each field of the object at `b[i] == '{'`; the callback
    /// may read the value itself (each byte is walked once). Returns the object's end, or
    /// `Some(0)` when stopped.
    pub fn fields_at(
        b: &[u8],
        i: usize,
        f: &mut dyn FnMut(&[u8], usize) -> Option<Step>,
    ) -> Option<usize> {
        if b.get(i) != Some(&b'{') {
            return None;
        }
        let j = ws(b, i + 1);
        if b.get(j) == Some(&b'}') {
            return Some(j + 1);
        }
        fields_from(b, j, f)
    }

    /// [`fields_at`] from the key at `b[j] == '"'` of an object's field on: the rest of that
    /// object's fields. Returns the object's end, or `Some(0)` when stopped.
    pub fn fields_from(
        b: &[u8],
        mut j: usize,
        f: &mut dyn FnMut(&[u8], usize) -> Option<Step>,
    ) -> Option<usize> {
        loop {
            if b.get(j) != Some(&b'"') {
                return None;
            }
            let ke = string(b, j)?;
            let key = &b[j + 1..ke - 1];
            j = ws(b, ke);
            if b.get(j) != Some(&b':') {
                return None;
            }
            let vs = ws(b, j + 1);
            let ve = match f(key, vs)? {
                Step::Skip => value(b, vs)?,
                Step::Took(e) => e,
                Step::Stop => return Some(0),
            };
            j = ws(b, ve);
            match b.get(j)? {
                b',' => j = ws(b, j + 1),
                b'}' => return Some(j + 1),
                _ => return None,
            }
        }
    }

    /// Calls `f(start)` for each element of the array at `b[i] == '['`; `f` reads the element
    /// and returns its end. Returns the array's end.
    pub fn elements_at(
        b: &[u8],
        i: usize,
        f: &mut dyn FnMut(usize) -> Option<usize>,
    ) -> Option<usize> {
        if b.get(i) != Some(&b'[') {
            return None;
        }
        let mut j = ws(b, i + 1);
        if b.get(j) == Some(&b']') {
            return Some(j + 1);
        }
        loop {
            let e = f(j)?;
            j = ws(b, e);
            match b.get(j)? {
                b',' => j = ws(b, j + 1),
                b']' => return Some(j + 1),
                _ => return None,
            }
        }
    }

    /// Calls `f(start, end)` for each element of the array at `b[i] == '['`.
    pub fn elements(b: &[u8], i: usize, f: &mut dyn FnMut(usize, usize)) -> Option<usize> {
        elements_at(b, i, &mut |s| {
            let e = value(b, s)?;
            f(s, e);
            Some(e)
        })
    }

    /// The contents of a string value's span (without quotes, escapes not decoded), when the
    /// span is a string.
    pub fn str_at(b: &[u8], s: usize, e: usize) -> Option<&[u8]> {
        (e >= s + 2 && b[s] == b'"').then(|| &b[s + 1..e - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_spans_of_nested_json() {
        let line = br#"{"a":"x\"}y","b":[1,{"c":[2,"]"]},true],"d":{"e":null},"f":-1.5e3}"#;
        let mut seen = Vec::new();
        let end = json::fields(line, 0, &mut |k, s, e| {
            seen.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(&line[s..e]).into_owned(),
            ))
        });
        assert_eq!(end, Some(line.len()));
        assert_eq!(
            seen,
            vec![
                ("a".into(), r#""x\"}y""#.into()),
                ("b".into(), r#"[1,{"c":[2,"]"]},true]"#.into()),
                ("d".into(), r#"{"e":null}"#.into()),
                ("f".into(), "-1.5e3".into()),
            ]
        );
        let arr = br#"[ {"x":1} , "s" ,[]]"#;
        let mut n = Vec::new();
        json::elements(arr, 0, &mut |s, e| n.push((s, e))).unwrap();
        assert_eq!(n.len(), 3);
        assert!(json::fields(br#"{"a":"unterminated}"#, 0, &mut |_, _, _| {}).is_none());
    }

    /// The string skipper before the 64-byte scan: one `memchr` per quote, a quote escaped
    /// when an odd number of backslashes precede it.
    fn string_by_quotes(b: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        loop {
            let k = j + memchr::memchr(b'"', b.get(j..)?)?;
            let mut n = 0;
            while k > i + 1 + n && b[k - 1 - n] == b'\\' {
                n += 1;
            }
            if n % 2 == 0 {
                return Some(k + 1);
            }
            j = k + 1;
        }
    }

    #[test]
    fn the_block_scan_ends_strings_where_counting_backslashes_does() {
        // Strings of quotes, backslashes (runs across the 64-byte blocks) and letters, every
        // length up to four blocks, from every start: the same end, or both `None`.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut seen = 0;
        for n in 0..3000usize {
            let len = n % 300;
            let mut b = vec![b'"'];
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Backslash runs are common, quotes rarer, so that strings reach far.
                b.push(match x % 16 {
                    0 => b'"',
                    1..=6 => b'\\',
                    _ => b'a',
                });
            }
            for i in (0..b.len()).filter(|i| b[*i] == b'"') {
                assert_eq!(json::string(&b, i), string_by_quotes(&b, i), "{n} at {i}");
                seen += json::string(&b, i).map_or(0, |e| e - i);
            }
        }
        assert!(seen > 100_000, "{seen} bytes of strings skipped");
        let long = [b"\"".as_slice(), &[b'\\'; 127], b"\"x\"", &[b'y'; 70]].concat();
        assert_eq!(json::string(&long, 0), Some(131));
        assert_eq!(string_by_quotes(&long, 0), Some(131));
    }

    #[test]
    fn a_split_is_stored_as_it_was_formatted() {
        let mut names = Names::default();
        let odd = names.id("a;b=c");
        let read = names.id("Read");
        let mut t = Tally::default();
        t.add(CtxKind::User, 35_000_000_000);
        t.add_tool(odd, 3);
        t.add_tool(read, 30_000);
        let c = t.compose(&names, &CLAUDE, i64::MAX / 2).unwrap();
        let mut want = String::new();
        for p in &c.parts {
            if !want.is_empty() {
                want.push(';');
            }
            want.push(p.kind.code());
            if let Some(t) = &p.tool {
                want.push('.');
                want.push_str(&t.replace([';', '='], "_"));
            }
            want.push_str(&format!("={}", p.tokens));
        }
        assert_eq!(c.encode(), want);
        assert!(
            want.contains(";r.a_b_c=") && want.contains(";u=1000000002"),
            "{want}"
        );
        let neg = Composition {
            parts: vec![crate::event::CtxPart {
                kind: CtxKind::System,
                tool: None,
                tokens: i64::MIN,
            }],
        };
        assert_eq!(neg.encode(), format!("s={}", i64::MIN));
    }

    #[test]
    fn composition_adds_up_to_the_total_and_the_system_part_takes_the_rest() {
        let mut names = Names::default();
        let read = names.id("Read");
        let mut t = Tally::default();
        t.add(CtxKind::User, 350); // 100 tokens
        t.add_tool(read, 3000); // 1000 tokens
        let c = t.compose(&names, &CLAUDE, 5000).unwrap();
        assert_eq!(c.total(), 5000);
        assert_eq!(c.of(CtxKind::User), 100);
        assert_eq!(c.of(CtxKind::ToolResult), 1000);
        assert_eq!(c.of(CtxKind::System), 3900);
        // Estimates larger than the total are scaled down to it.
        let c = t.compose(&names, &CLAUDE, 550).unwrap();
        assert_eq!(c.total(), 550);
        assert_eq!(c.of(CtxKind::User), 50);
        assert_eq!(c.of(CtxKind::ToolResult), 500);
        assert_eq!(Composition::decode(&c.encode()), Some(c.clone()));
        assert!(t.compose(&names, &CLAUDE, 0).is_none());
    }

    #[test]
    fn the_stored_form_made_directly_is_the_encoded_parts_with_any_number_of_tools() {
        // 0 to 70 tools (the split is on the stack up to 39, on the heap beyond), uneven
        // sizes so that fractions differ, totals below and above the estimates' sum.
        let mut names = Names::default();
        for n in [0usize, 1, 5, 39, 40, 70] {
            let mut t = Tally::default();
            t.add(CtxKind::User, 1_003);
            t.add(CtxKind::Thinking, 77);
            t.images = (n % 3) as u64;
            for i in 0..n {
                let id = names.id(&format!("tool_{i};x"));
                t.add_tool(id, 1 + (i as u64 * 7_919) % 4_001);
            }
            t.add(CtxKind::ToolResult, 11); // tool-result bytes of no listed tool
            for total in [1, 9, 1_000, 123_457, 10_000_000] {
                let c = t.compose(&names, &CODEX, total).unwrap();
                assert_eq!(c.total(), total, "{n} tools");
                assert!(c.parts.iter().all(|p| p.tokens > 0));
                let ctx = t.compose_ctx(&names, &CODEX, total).unwrap();
                assert_eq!(ctx.as_str(), c.encode(), "{n} tools, total {total}");
                // (tool names lose their `;` and `=` in the stored form)
                assert_eq!(Some(ctx.composition()), Composition::decode(&c.encode()));
            }
        }
        // Largest remainders: what the floors leave goes to the largest fractions.
        let mut t = Tally::default();
        t.add(CtxKind::User, 7); // 2 tokens at 3.5 bytes each
        t.add(CtxKind::Assistant, 15); // 4
        let c = t.compose(&names, &CLAUDE, 5).unwrap();
        assert_eq!(c.total(), 5);
        // 2 + 4 = 6 > 5: scaled by 5/6 to 1.667 and 3.333; floors 1 + 3, the one left to the
        // larger fraction (user).
        assert_eq!((c.of(CtxKind::User), c.of(CtxKind::Assistant)), (2, 3));
    }
}
