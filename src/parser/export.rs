//! tokwatch's own export format (`tokwatch export`, the sync folder's `<machine-id>.jsonl`):
//! one stored request per line, metadata only, as JSON lines or CSV (`docs/sync-and-export.md`).
//!
//! A record carries the request's stored identity (`key`: the 64-bit key hash of its tool and
//! dedup key, as 16 hex digits), the machine that recorded it with that machine's change number
//! (`rev`), its repository by identity (`repo`: the remote URL key, never a local row id), and
//! every figure the database holds for it. Reading a record back gives a [`UsageEvent`] with
//! [`Recorded`] set: the store keeps its figures instead of attributing and pricing it again.
//!
//! [`ExportParser`] reads such files as line logs (through the tailer and its checkpoints), in
//! either form: a first line that starts with `{` means JSON lines, else the first line is the
//! CSV header (kept in the file's state, so a file read on from a checkpoint keeps its columns).

use super::{FileState, Format, ParseError, Parser};
use crate::event::{Composition, CostSource, Merge, Recorded, Tokens, UsageEvent};
use crate::export_format::{valid_machine_id, Record, CSV_COLUMNS, VERSION};
use std::path::Path;

/// The source tool id of export files in the registry (the sync folder, `tokwatch import`); the
/// requests themselves keep their own tool.
pub const TOOL: &str = "tokwatch-sync";

impl Record {
    /// The request as an event that keeps the figures it was stored with; an error names what
    /// is wrong (never quoting the value).
    pub fn into_event(self) -> Result<UsageEvent, ParseError> {
        let bad = |what: &str| Err(ParseError(format!("export record: {what}")));
        if self.v != VERSION {
            return bad(&format!(
                "format version {} (this tokwatch reads {VERSION}): upgrade tokwatch",
                self.v
            ));
        }
        if self.key.len() != 16 {
            return bad("key is not 16 hex digits");
        }
        let Ok(h) = u64::from_str_radix(&self.key, 16) else {
            return bad("key is not 16 hex digits");
        };
        if !valid_machine_id(&self.machine) {
            return bad("machine is not a valid machine id");
        }
        if self.tool.is_empty() {
            return bad("tool is empty");
        }
        let tokens = Tokens {
            input: self.input,
            cache_write_5m: self.cache_write_5m,
            cache_write_1h: self.cache_write_1h,
            cache_read: self.cache_read,
            output: self.output,
            reasoning: self.reasoning,
        };
        if [
            tokens.input,
            tokens.cache_write_5m,
            tokens.cache_write_1h,
            tokens.cache_read,
            tokens.output,
            tokens.reasoning,
            self.requests,
        ]
        .iter()
        .any(|v| *v < 0)
        {
            return bad("a token or request count is negative");
        }
        if self.cost_usd.is_some_and(|c| !c.is_finite()) {
            return bad("cost_usd is not a number");
        }
        // An unpriced request has no cost; a priced one has one.
        if (self.cost_source == CostSource::Unpriced) != self.cost_usd.is_none() {
            return bad("cost_usd and cost_source disagree");
        }
        let mut ev = UsageEvent::new(
            &self.tool,
            format!("#{}", self.key),
            Merge::KeepMax,
            self.ts,
        );
        ev.model = self.model;
        ev.provider = self.provider;
        ev.tokens = tokens;
        ev.requests = self.requests;
        ev.session_id = self.session;
        ev.branch = self.branch;
        ev.estimated = self.cost_source == CostSource::Estimated;
        ev.sidechain = self.sidechain;
        ev.msg_id = self.msg_id;
        // A split that does not read back, or does not add up to the request's input total,
        // is left out: the request itself is kept with every figure (the split is an estimate;
        // the tokens are not).
        ev.ctx = self
            .ctx
            .as_deref()
            .and_then(Composition::decode)
            .filter(|c| !c.parts.is_empty() && c.total() == tokens.prompt_total())
            .map(crate::event::Ctx::from);
        ev.recorded = Some(Box::new(Recorded {
            key_hash: h as i64,
            machine: self.machine,
            rev: self.rev,
            repo_key: self.repo,
            repo_name: self.repo_name,
            repo_remote: self.repo_remote,
            cost_usd: self.cost_usd,
            cost_source: self.cost_source,
            price_key: self.price_key,
        }));
        Ok(ev)
    }
}

/// Reads export files (JSON lines or CSV) as line logs.
#[derive(Debug, Default)]
pub struct ExportParser;

/// The file-state key holding a CSV file's header (columns in another order).
const CSV_HEADER: &str = "csv_header";
/// The file-state key set when a CSV file's header is [`CSV_COLUMNS`] as tokwatch writes it.
const CSV_STANDARD: &str = "csv_standard";

impl Parser for ExportParser {
    fn tool(&self) -> &str {
        TOOL
    }

    fn format(&self) -> Format {
        Format::Lines
    }

    fn replaced_by_copies(&self) -> bool {
        true
    }

    fn parse_line(
        &self,
        line: &[u8],
        _path: &Path,
        state: &mut FileState,
        out: &mut Vec<UsageEvent>,
    ) -> Result<(), ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let rec: Record = if line.first() == Some(&b'{') {
            serde_json::from_slice(line)?
        } else {
            let fields = csv_fields(line)?;
            if state.extra.contains_key(CSV_STANDARD) {
                // The columns tokwatch writes, in its order: read by position.
                out.push(
                    fields
                        .deserialize::<Record>(None)
                        .map_err(|_| ParseError("CSV row does not fit the export columns".into()))?
                        .into_event()?,
                );
                return Ok(());
            }
            let fields: Vec<String> = fields.iter().map(str::to_string).collect();
            match state.extra.get(CSV_HEADER) {
                None => {
                    if !CSV_COLUMNS
                        .iter()
                        .take(6)
                        .all(|c| fields.iter().any(|f| f == c))
                    {
                        return Err(ParseError(
                            "neither a JSON record nor a tokwatch export CSV header".into(),
                        ));
                    }
                    if fields
                        .iter()
                        .map(String::as_str)
                        .eq(CSV_COLUMNS.iter().copied())
                    {
                        state.extra.insert(CSV_STANDARD.into(), true.into());
                    } else {
                        state.extra.insert(CSV_HEADER.into(), fields.into());
                    }
                    return Ok(());
                }
                Some(h) => {
                    let header: Vec<String> = h
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|v| v.as_str().unwrap_or_default().to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                    if fields.len() != header.len() {
                        return Err(ParseError(format!(
                            "CSV row has {} fields, the header {}",
                            fields.len(),
                            header.len()
                        )));
                    }
                    from_csv(&header, &fields)?
                }
            }
        };
        out.push(rec.into_event()?);
        Ok(())
    }
}

fn csv_fields(line: &[u8]) -> Result<csv::StringRecord, ParseError> {
    let bad = || ParseError("invalid CSV row".into());
    if !line.contains(&b'"') {
        // No quoting: the fields are what lies between the commas.
        let text = std::str::from_utf8(line).map_err(|_| bad())?;
        return Ok(csv::StringRecord::from(text.split(',').collect::<Vec<_>>()));
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .buffer_capacity(line.len() + 16)
        .from_reader(line);
    let mut rec = csv::StringRecord::new();
    match r.read_record(&mut rec) {
        Ok(_) => Ok(rec),
        Err(_) => Err(bad()),
    }
}

fn from_csv(header: &[String], fields: &[String]) -> Result<Record, ParseError> {
    let get = |name: &str| -> Option<&str> {
        header
            .iter()
            .position(|h| h == name)
            .map(|i| fields[i].as_str())
    };
    let text = |name: &str| get(name).filter(|s| !s.is_empty()).map(str::to_string);
    let int = |name: &str| -> Result<i64, ParseError> {
        match get(name).filter(|s| !s.is_empty()) {
            None => Ok(0),
            Some(s) => s
                .parse()
                .map_err(|_| ParseError(format!("CSV column {name} is not a whole number"))),
        }
    };
    let cost_source = match get("cost_source").unwrap_or("") {
        "computed" => CostSource::Computed,
        "reported" => CostSource::Reported,
        "estimated" => CostSource::Estimated,
        "unpriced" => CostSource::Unpriced,
        _ => return Err(ParseError("CSV column cost_source is not known".into())),
    };
    let cost_usd = match get("cost_usd").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            s.parse::<f64>()
                .map_err(|_| ParseError("CSV column cost_usd is not a number".into()))?,
        ),
    };
    Ok(Record {
        v: int("v")? as u32,
        machine: text("machine").unwrap_or_default(),
        rev: int("rev")?,
        key: text("key").unwrap_or_default(),
        tool: text("tool").unwrap_or_default(),
        ts: int("ts")?,
        time: String::new(),
        model: text("model"),
        provider: text("provider"),
        session: text("session"),
        repo: text("repo"),
        repo_name: text("repo_name"),
        repo_remote: text("repo_remote"),
        branch: text("branch"),
        input: int("input")?,
        cache_write_5m: int("cache_write_5m")?,
        cache_write_1h: int("cache_write_1h")?,
        cache_read: int("cache_read")?,
        output: int("output")?,
        reasoning: int("reasoning")?,
        requests: int("requests")?,
        cost_usd,
        cost_source,
        price_key: text("price_key"),
        msg_id: text("msg_id"),
        sidechain: matches!(get("sidechain"), Some("true" | "1")),
        ctx: text("ctx"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export_format::key_text;

    fn rec() -> Record {
        Record {
            v: VERSION,
            machine: "laptop-3fa9c2".into(),
            rev: 7,
            key: key_text(-5),
            tool: "claude-code".into(),
            ts: 1_733_011_200_123,
            time: "2024-12-01T00:00:00.123Z".into(),
            model: Some("claude-opus-4-6".into()),
            provider: None,
            session: Some("s1".into()),
            repo: Some("github.com/o/r".into()),
            repo_name: Some("o/r".into()),
            repo_remote: Some("github.com/o/r".into()),
            branch: Some("main".into()),
            input: 3,
            cache_write_5m: 4,
            cache_write_1h: 5,
            cache_read: 6,
            output: 7,
            reasoning: 1,
            requests: 1,
            cost_usd: Some(0.1 + 0.2),
            cost_source: CostSource::Computed,
            price_key: Some("anthropic/claude-opus-4-6".into()),
            msg_id: Some("m1".into()),
            sidechain: false,
            // 10 + 4 + 4 = the record's 3 + 4 + 5 + 6 input tokens.
            ctx: Some("s=10;u=4;r.Read=4".into()),
        }
    }

    fn read(lines: &[String]) -> Vec<UsageEvent> {
        let p = ExportParser;
        let mut st = FileState::default();
        let mut out = Vec::new();
        for l in lines {
            p.parse_line(l.as_bytes(), Path::new("x"), &mut st, &mut out)
                .unwrap();
        }
        out
    }

    #[test]
    fn json_and_csv_read_back_the_same_event() {
        let r = rec();
        let a = read(&[r.to_json()]);
        let mut w = csv::Writer::from_writer(Vec::new());
        r.write_csv(&mut w).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 2, "header and one row: {text}");
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        let b = read(&lines);
        assert_eq!(a, b);
        let e = &a[0];
        let rc = e.recorded.as_ref().unwrap();
        assert_eq!(rc.key_hash, -5);
        // The float cost comes back bit for bit.
        assert_eq!(rc.cost_usd, Some(0.1 + 0.2));
        assert_eq!(e.tokens.cache_write_1h, 5);
        assert_eq!(e.ctx.as_ref().unwrap().as_str(), "s=10;u=4;r.Read=4");
    }

    #[test]
    fn a_split_that_does_not_add_up_is_left_out_and_the_request_kept() {
        for bad in ["s=10;u=4;r.Read=5", "x=18", "s=ten", ""] {
            let mut r = rec();
            r.ctx = Some(bad.into());
            let e = &read(&[r.to_json()])[0];
            assert_eq!(e.ctx, None, "{bad:?}");
            assert_eq!(e.tokens.prompt_total(), 18);
        }
    }

    #[test]
    fn files_written_before_the_split_column_read_without_one() {
        let mut r = rec();
        r.ctx = None;
        let json = r.to_json().replace(",\"ctx\":null", "");
        assert!(!json.contains("ctx"), "{json}");
        let mut w = csv::Writer::from_writer(Vec::new());
        r.write_csv(&mut w).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        // The header and row without the last column, as version 1 files before it were.
        let lines: Vec<String> = text
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect();
        assert_eq!(lines[0], CSV_COLUMNS[..CSV_COLUMNS.len() - 1].join(","));
        let a = read(&[json]);
        assert_eq!(a, read(&lines));
        assert_eq!(a[0].ctx, None);
        assert_eq!(a[0].tokens.prompt_total(), 18);
    }

    #[test]
    fn csv_with_its_columns_in_another_order_reads_the_same() {
        let r = rec();
        let a = read(&[r.to_json()]);
        let mut w = csv::Writer::from_writer(Vec::new());
        r.write_csv(&mut w).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let rows: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        // Columns reversed, and a value quoted.
        let lines: Vec<String> = rows
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.reverse();
                r[0] = format!("\"{}\"", r[0]);
                r.join(",")
            })
            .collect();
        assert_eq!(read(&lines), a);
    }

    #[test]
    fn bad_records_are_errors_without_values() {
        let p = ExportParser;
        let mut st = FileState::default();
        let mut out = Vec::new();
        let mut r = rec();
        r.key = "zz".into();
        let e = p
            .parse_line(r.to_json().as_bytes(), Path::new("x"), &mut st, &mut out)
            .unwrap_err();
        assert!(e.0.contains("key"), "{e}");
        let mut r = rec();
        r.cost_usd = None;
        assert!(p
            .parse_line(r.to_json().as_bytes(), Path::new("x"), &mut st, &mut out)
            .is_err());
        assert!(p
            .parse_line(b"hello,world", Path::new("x"), &mut st, &mut out)
            .is_err());
        assert!(out.is_empty());
    }
}
