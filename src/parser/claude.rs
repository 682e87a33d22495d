//! Claude Code transcripts (`~/.claude/projects/**/*.jsonl`).
use super::{Format, Parser};

pub struct ClaudeParser;

impl Parser for ClaudeParser {
    fn tool(&self) -> &str {
        "claude-code"
    }
    fn format(&self) -> Format {
        Format::Lines
    }
}
