//! The context a record is read in (the record, its document, its file, its map key and
//! index, remembered `regex.state` values) and the lookups of compiled paths in it.

use super::path::{FieldPath, Paths, Pseudo, Seg};
use crate::parser::common::{self, scalar_string};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::path::Path;

/// Where a record is read: what its field paths are looked up in.
pub(super) struct Ctx<'a> {
    /// The record.
    pub(super) rec: &'a Value,
    /// The document that holds it (`$.`-paths).
    pub(super) doc: &'a Value,
    /// The object key a `*` in `select.records` stopped at (`@key`).
    pub(super) key: Option<&'a str>,
    /// The record's number in its file (`@index`).
    pub(super) index: &'a str,
    /// The file it was read from (`@file`, `@dir`...).
    pub(super) path: &'a Path,
    /// Values remembered from `regex.state` lines.
    pub(super) vars: Option<&'a Map<String, Value>>,
}

/// One step into an object (by key) or an array (by index).
pub(super) fn step<'a>(v: &'a Value, s: &Seg) -> Option<&'a Value> {
    match (v, s) {
        (Value::Object(m), Seg::Key(k)) => m.get(k),
        (Value::Array(a), Seg::Key(k)) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Walk `segs` from `v`; a string met before the end is parsed as JSON and walked into (tools
/// that keep JSON in a text field or a TEXT column).
fn walk<'a>(v: &'a Value, segs: &[Seg]) -> Option<Cow<'a, Value>> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(Cow::Borrowed(v));
    };
    match v {
        Value::String(s) => {
            let parsed: Value = serde_json::from_str(s).ok()?;
            walk(&parsed, segs).map(|c| Cow::Owned(c.into_owned()))
        }
        _ => walk(step(v, first)?, rest),
    }
}

impl<'a> Ctx<'a> {
    /// The value at `p` (record paths fall back to `regex.state` values); `None` when missing
    /// or null.
    pub(super) fn get(&self, p: &FieldPath) -> Option<Cow<'a, Value>> {
        let v = match p {
            FieldPath::Rec(segs) => walk(self.rec, segs).or_else(|| {
                self.vars
                    .and_then(|m| match segs.split_first() {
                        Some((Seg::Key(k), rest)) => m.get(k).map(|v| (v, rest)),
                        _ => None,
                    })
                    .and_then(|(v, rest)| walk(v, rest))
            }),
            FieldPath::Doc(segs) => walk(self.doc, segs),
            FieldPath::Pseudo(ps) => {
                let s = match ps {
                    Pseudo::File => Some(self.path.to_string_lossy().into_owned()),
                    Pseudo::FileName => self
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned()),
                    Pseudo::FileStem => common::file_stem(self.path),
                    Pseudo::Dir => self.path.parent().map(|d| d.to_string_lossy().into_owned()),
                    Pseudo::DirName => common::parent_name(self.path),
                    Pseudo::Key => self.key.map(str::to_string),
                    Pseudo::Index => Some(self.index.to_string()),
                    Pseudo::Session => None,
                };
                s.map(|s| Cow::Owned(Value::String(s)))
            }
        }?;
        if v.is_null() {
            None
        } else {
            Some(v)
        }
    }

    /// First present path of a fallback list.
    pub(super) fn first(&self, ps: &Paths) -> Option<Cow<'a, Value>> {
        ps.0.iter().find_map(|p| self.get(p))
    }

    /// First present path of a fallback list that holds a scalar, as a string.
    pub(super) fn first_string(&self, ps: &Paths) -> Option<String> {
        ps.0.iter()
            .find_map(|p| self.get(p).and_then(|v| scalar_string(&v)))
    }
}
