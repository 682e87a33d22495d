//! The spec engine: tools described as data. A spec is a TOML document (`parsers/*.toml`, built
//! in, or `<config dir>/parsers/*.toml`) that declares a tool's log locations, record format,
//! field paths and counting rule. [`Spec::parse`] reads it into the serde types of `document`,
//! `compile` checks it once and builds a [`SpecParser`] (compiled paths and templates from
//! `path`), and the parser implements [`Parser`](crate::parser::Parser): `engine` reads the
//! formats (`jsonl`, `json`, `sqlite`, `regex`) into records, `extract` turns each record, looked
//! up through `record`, into a usage event. Errors ([`SpecError`]) name the file and the field.
//!
//! `docs/parsers.md` is the reference for the format; keep it in step with `document`.

mod compile;
mod document;
mod engine;
mod error;
mod extract;
mod path;
mod record;

pub use document::{
    Bucket, CountSpec, FieldsSpec, OneOrMany, PathsSpec, RegexSpec, Rule, SelectSpec, SpecFile,
    SpecFormat, SqliteSpec, TokensSpec,
};
pub use engine::SpecParser;
pub use error::SpecError;

use compile::compile;
use error::toml_error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded spec: its parser and where its files live.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The document as written.
    pub file: SpecFile,
    /// The file it was read from (`None` for built-in specs).
    pub origin: Option<PathBuf>,
    /// The parser compiled from it.
    pub parser: Arc<SpecParser>,
}

impl Spec {
    /// Parse and validate a spec. `file` names it in errors (a path, or `builtin:<name>`).
    pub fn parse(text: &str, file: &str) -> Result<Spec, SpecError> {
        let sf: SpecFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
        let parser = compile(&sf, file)?;
        Ok(Spec {
            file: sf,
            origin: None,
            parser: Arc::new(parser),
        })
    }

    /// Read and parse a spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: name.clone(),
            field: None,
            message: format!("cannot read: {e}"),
        })?;
        let mut s = Spec::parse(&text, &name)?;
        s.origin = Some(path.to_path_buf());
        Ok(s)
    }

    /// The tool id the spec declares (`tool`).
    pub fn tool(&self) -> &str {
        &self.file.tool
    }
}
