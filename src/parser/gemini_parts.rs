//! Measuring Gemini API content (`Content.parts`, `PartListUnion`) by byte spans, for context
//! composition (`docs/composition.md`). Gemini CLI writes its messages' `content` and its tool
//! calls' `result` in this shape, and so does Qwen Code (a Gemini CLI fork) in its messages'
//! `parts`: any parser reading these can walk a value with [`walk`] (or a `Content` object with
//! [`walk_content`]) and decide for itself which kind each part counts as.
//!
//! A value is either a string (one text part), one part object, or an array of parts (strings or
//! part objects). Each part is reported once, with the length of its raw JSON span (keys and
//! escapes included, as everywhere in composition) and what it is; nothing is decoded, no text
//! leaves this module (only the tool name and call id spans, which callers intern or hash).

use super::context::json;

/// What one part is, by the field that makes it (the first of these that the part has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// `functionCall`: the model asking for a tool.
    Call,
    /// `functionResponse`: what a tool returned.
    Response,
    /// `inlineData` or `fileData`: an image, document or other media.
    Media,
    /// `executableCode`: code the model wrote for the built-in code execution.
    Code,
    /// `codeExecutionResult`: that code's output.
    CodeResult,
    /// `text` with `"thought": true`: a thought (reasoning summary) part.
    Thought,
    /// `text` (or a bare string).
    Text,
    /// Anything else (an empty object, an unknown field).
    Other,
}

/// One part of a Gemini content value.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// What it is.
    pub kind: PartKind,
    /// Bytes of its raw span (a part object `{…}`, or a string with its quotes).
    pub bytes: u64,
    /// Bytes of its `thoughtSignature` value, if it has one (opaque; callers usually take it
    /// out of `bytes`, as composition does not count signatures).
    pub signature: u64,
    /// Bytes of its `text` value (quotes included): 2 for an empty text.
    pub text: u64,
    /// `functionCall.name` / `functionResponse.name`, raw (without quotes, escapes undecoded).
    pub name: Option<&'a [u8]>,
    /// `functionCall.id` / `functionResponse.id`, raw.
    pub id: Option<&'a [u8]>,
}

/// A raw span of the line, if present.
type Span<'a> = Option<&'a [u8]>;

/// The name and id of a `functionCall` / `functionResponse` object at `b[s]`; its end.
fn call_fields(b: &[u8], s: usize) -> Option<(Span<'_>, Span<'_>, usize)> {
    if b.get(s) != Some(&b'{') {
        return Some((None, None, json::value(b, s)?));
    }
    let (mut name, mut id) = (None, None);
    let e = json::fields(b, s, &mut |k, s, e| match k {
        b"name" => name = json::str_at(b, s, e),
        b"id" => id = json::str_at(b, s, e),
        _ => {}
    })?;
    Some((name, id, e))
}

/// Reads the part that starts at `b[s]` (an object or a string) and reports it. Returns its end.
fn part<'a>(b: &'a [u8], s: usize, f: &mut dyn FnMut(Part<'a>)) -> Option<usize> {
    match b.get(s)? {
        b'"' => {
            let e = json::string(b, s)?;
            let n = (e - s) as u64;
            f(Part {
                kind: PartKind::Text,
                bytes: n,
                signature: 0,
                text: n,
                name: None,
                id: None,
            });
            Some(e)
        }
        b'{' => {
            let mut p = Part {
                kind: PartKind::Other,
                bytes: 0,
                signature: 0,
                text: 0,
                name: None,
                id: None,
            };
            let (mut has_text, mut thought) = (false, false);
            let mut found: Option<PartKind> = None;
            let e = json::fields_at(b, s, &mut |k, vs| {
                let (ve, kind) = match k {
                    b"functionCall" | b"functionResponse" => {
                        let (name, id, ve) = call_fields(b, vs)?;
                        if found.is_none() {
                            p.name = name;
                            p.id = id;
                        }
                        let kind = if k == b"functionCall" {
                            PartKind::Call
                        } else {
                            PartKind::Response
                        };
                        (ve, Some(kind))
                    }
                    _ => {
                        let ve = json::value(b, vs)?;
                        let kind = match k {
                            b"inlineData" | b"fileData" => Some(PartKind::Media),
                            b"executableCode" => Some(PartKind::Code),
                            b"codeExecutionResult" => Some(PartKind::CodeResult),
                            b"text" => {
                                has_text = true;
                                p.text = (ve - vs) as u64;
                                None
                            }
                            b"thought" => {
                                thought = &b[vs..ve] == b"true";
                                None
                            }
                            b"thoughtSignature" => {
                                p.signature = (ve - vs) as u64;
                                None
                            }
                            _ => None,
                        };
                        (ve, kind)
                    }
                };
                if found.is_none() {
                    found = kind;
                }
                Some(json::Step::Took(ve))
            })?;
            p.kind = match found {
                Some(k) => k,
                None if has_text && thought => PartKind::Thought,
                None if has_text => PartKind::Text,
                None => PartKind::Other,
            };
            p.bytes = (e - s) as u64;
            f(p);
            Some(e)
        }
        _ => json::value(b, s),
    }
}

/// Walks the content value at `b[s]` (a string, a part, or an array of parts; `null` and other
/// values hold no part) and calls `f` for each part. Returns the value's end.
pub fn walk<'a>(b: &'a [u8], s: usize, f: &mut dyn FnMut(Part<'a>)) -> Option<usize> {
    match b.get(s)? {
        b'[' => json::elements_at(b, s, &mut |s| part(b, s, f)),
        b'"' | b'{' => part(b, s, f),
        _ => json::value(b, s),
    }
}

/// Walks a `Content` object (`{"role": …, "parts": […]}`) at `b[s]`: `f` gets its parts.
/// Returns the object's end.
pub fn walk_content<'a>(b: &'a [u8], s: usize, f: &mut dyn FnMut(Part<'a>)) -> Option<usize> {
    json::fields_at(b, s, &mut |k, vs| {
        if k == b"parts" {
            return Some(json::Step::Took(walk(b, vs, f)?));
        }
        Some(json::Step::Skip)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = (PartKind, u64, u64, Option<String>, Option<String>);

    fn parts(line: &str) -> Vec<Seen> {
        let b = line.as_bytes();
        let mut v = Vec::new();
        let end = walk(b, 0, &mut |p| {
            let s = |x: Option<&[u8]>| x.map(|x| String::from_utf8_lossy(x).into_owned());
            v.push((p.kind, p.bytes, p.text, s(p.name), s(p.id)))
        });
        assert_eq!(end, Some(b.len()), "{line}");
        v
    }

    #[test]
    fn parts_are_told_apart_and_measured_by_span() {
        let t = r#"{"text":"hi"}"#;
        let th = r#"{"text":"hmm","thought":true,"thoughtSignature":"c2ln"}"#;
        let call = r#"{"thoughtSignature":"eA==","functionCall":{"id":"c1","name":"read_file","args":{"p":"x"}}}"#;
        let resp =
            r#"{"functionResponse":{"id":"c1","name":"read_file","response":{"output":"body"}}}"#;
        let img = r#"{"inlineData":{"mimeType":"image/png","data":"AAAA"}}"#;
        let line = format!(r#"[{t},{th},{call},{resp},{img},"plain",{{}}]"#);
        let got = parts(&line);
        let own = |s: &str| Some(s.to_string());
        assert_eq!(
            got,
            vec![
                (PartKind::Text, t.len() as u64, 4, None, None),
                (PartKind::Thought, th.len() as u64, 5, None, None),
                (
                    PartKind::Call,
                    call.len() as u64,
                    0,
                    own("read_file"),
                    own("c1")
                ),
                (
                    PartKind::Response,
                    resp.len() as u64,
                    0,
                    own("read_file"),
                    own("c1")
                ),
                (PartKind::Media, img.len() as u64, 0, None, None),
                (PartKind::Text, 7, 7, None, None),
                (PartKind::Other, 2, 0, None, None),
            ]
        );
        // A bare string and a single part object are values too.
        assert_eq!(parts(r#""abc""#), vec![(PartKind::Text, 5, 5, None, None)]);
        assert_eq!(parts("null"), vec![]);
        let mut sig = 0;
        walk(th.as_bytes(), 0, &mut |p| sig = p.signature).unwrap();
        assert_eq!(sig, 6);
        // A Content object.
        let c = format!(r#"{{"role":"model","parts":[{t},{call}]}}"#);
        let mut n = 0;
        assert_eq!(
            walk_content(c.as_bytes(), 0, &mut |_| n += 1),
            Some(c.len())
        );
        assert_eq!(n, 2);
        assert!(walk(br#"[{"text":"x"}"#, 0, &mut |_| {}).is_none());
    }
}
