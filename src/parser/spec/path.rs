//! Field paths and key templates, compiled from their text: `message.usage.input`,
//! `items[0]`, `["a.b"]`, `$.`-paths into the document, `@`-pseudo fields, the `*` of
//! `select.records`, and `{path}` templates for `count.key`.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seg {
    Key(String),
    Wild,
}

/// An `@`-field: the record's file and its place in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Pseudo {
    File,
    FileName,
    FileStem,
    Dir,
    DirName,
    Key,
    Index,
    /// The carried session id (only in `count.key`).
    Session,
}

/// A compiled field path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FieldPath {
    /// Relative to the record.
    Rec(Vec<Seg>),
    /// Relative to the document (`$.`-prefixed).
    Doc(Vec<Seg>),
    Pseudo(Pseudo),
}

/// The segments of a dotted path: `a.b`, `a[0]`, `a["b.c"]`, `a.*`.
pub(super) fn parse_segs(s: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut cur = String::new();
    let mut pending = false;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if !pending && cur.is_empty() {
                    return Err("empty path segment".into());
                }
                if !cur.is_empty() {
                    segs.push(if cur == "*" {
                        Seg::Wild
                    } else {
                        Seg::Key(cur.clone())
                    });
                    cur.clear();
                }
                pending = false;
                i += 1;
            }
            b'[' => {
                if !cur.is_empty() {
                    segs.push(if cur == "*" {
                        Seg::Wild
                    } else {
                        Seg::Key(cur.clone())
                    });
                    cur.clear();
                }
                let rest = &s[i + 1..];
                let (inner, used) = if let Some(r) = rest.strip_prefix('"') {
                    let end = r.find("\"]").ok_or("unterminated [\"...\"] segment")?;
                    (r[..end].to_string(), end + 3)
                } else {
                    let end = rest.find(']').ok_or("unterminated [...] segment")?;
                    let n = &rest[..end];
                    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
                        return Err("[...] must hold an index or a quoted key".into());
                    }
                    (n.to_string(), end + 1)
                };
                segs.push(Seg::Key(inner));
                i += 1 + used;
                pending = true;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or(' ');
                cur.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !cur.is_empty() {
        segs.push(if cur == "*" { Seg::Wild } else { Seg::Key(cur) });
    } else if !pending {
        return Err("empty path segment".into());
    }
    Ok(segs)
}

/// A field path: an `@`-field, a `$`/`$.`-path into the document, or a path into the record.
pub(super) fn parse_path(s: &str) -> Result<FieldPath, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty path".into());
    }
    if let Some(p) = s.strip_prefix('@') {
        return Ok(FieldPath::Pseudo(match p {
            "file" => Pseudo::File,
            "file_name" => Pseudo::FileName,
            "file_stem" => Pseudo::FileStem,
            "dir" => Pseudo::Dir,
            "dir_name" => Pseudo::DirName,
            "key" => Pseudo::Key,
            "index" => Pseudo::Index,
            "session" => Pseudo::Session,
            _ => {
                return Err(format!(
                    "unknown `@{p}` (known: @file, @file_name, @file_stem, @dir, @dir_name, @key, @index, @session)"
                ))
            }
        }));
    }
    if s == "$" {
        return Ok(FieldPath::Doc(Vec::new()));
    }
    if let Some(rest) = s.strip_prefix("$.") {
        return Ok(FieldPath::Doc(parse_segs(rest)?));
    }
    Ok(FieldPath::Rec(parse_segs(s)?))
}

/// Refuse `*`: only `select.records` iterates.
pub(super) fn no_wild(p: &FieldPath) -> Result<(), String> {
    match p {
        FieldPath::Rec(s) | FieldPath::Doc(s) if s.contains(&Seg::Wild) => {
            Err("`*` is only allowed in `select.records`".into())
        }
        _ => Ok(()),
    }
}

/// Fallback list (`model = ["model", "message.model"]`) or sum list (token buckets).
#[derive(Debug, Clone, Default)]
pub(super) struct Paths(pub(super) Vec<FieldPath>);

/// A piece of a key template.
#[derive(Debug, Clone)]
pub(super) enum Part {
    Lit(String),
    Field(FieldPath),
}

/// A compiled `count.key` template.
#[derive(Debug, Clone)]
pub(super) struct Template(pub(super) Vec<Part>);

/// A key template: literals and `{path}` placeholders, at least one placeholder.
pub(super) fn parse_template(s: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("unclosed `{`")?;
        let p = parse_path(&after[..close])?;
        no_wild(&p)?;
        parts.push(Part::Field(p));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("unmatched `}`".into());
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
        return Err("a key template needs at least one `{field}`".into());
    }
    Ok(Template(parts))
}
