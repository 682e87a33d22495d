//! Codex rollouts (`~/.codex/sessions/**/*.jsonl`).
use super::{Format, Parser};

pub struct CodexParser;

impl Parser for CodexParser {
    fn tool(&self) -> &str {
        "codex"
    }
    fn format(&self) -> Format {
        Format::Lines
    }
}
