//! Reads a config file and says exactly what is wrong with it: the line and the key of every
//! problem; unknown keys are warnings that name the nearest known key; values are checked
//! (`near` in (0, 1], budgets above 0, known tool names, periods).

use super::keys;
use super::Config;
use serde::Serialize;
use std::fmt;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// An error (the file is not used) or a warning (it is, without that key).
    pub error: bool,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key (`budget.near`, `budgets.1.usd`), when known.
    pub key: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.line, &self.key) {
            (Some(l), Some(k)) => write!(f, "line {l}, key {k}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, Some(k)) => write!(f, "key {k}: {}", self.message),
            (None, None) => write!(f, "{}", self.message),
        }
    }
}

/// The outcome of reading a config file.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The config, when it has no error (warnings allowed).
    pub config: Option<Config>,
    /// Errors and warnings, in file order.
    pub problems: Vec<Problem>,
}

impl Checked {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.error)
    }
    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.error)
    }
}

/// 1-based line of byte offset `off` in `text`.
pub fn line_at(text: &str, off: usize) -> usize {
    text.as_bytes()[..off.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The span of the key at `segs` (table names and array indices) in a parsed document.
fn key_span(root: &DeTable<'_>, segs: &[String]) -> Option<Range<usize>> {
    let (first, rest) = segs.split_first()?;
    let (k, v) = root.iter().find(|(k, _)| k.get_ref().as_ref() == first)?;
    if rest.is_empty() {
        return Some(k.span());
    }
    value_span(v, rest).or(Some(k.span()))
}

fn value_span(v: &Spanned<DeValue<'_>>, segs: &[String]) -> Option<Range<usize>> {
    match v.get_ref() {
        DeValue::Table(t) => key_span(t, segs),
        DeValue::Array(a) => {
            let (first, rest) = segs.split_first()?;
            let item = a.get(first.parse::<usize>().ok()?)?;
            if rest.is_empty() {
                Some(item.span())
            } else {
                value_span(item, rest)
            }
        }
        _ => None,
    }
}

/// The deepest key whose value holds byte `off` (the key a type error is about). Tables are
/// looked into whatever their own span (a `[table]` header's span is the header only).
fn key_at(root: &DeTable<'_>, off: usize, path: &mut Vec<String>) -> bool {
    for (k, v) in root.iter() {
        path.push(k.get_ref().to_string());
        let inside = match v.get_ref() {
            DeValue::Table(t) => key_at(t, off, path),
            DeValue::Array(a) => a.iter().enumerate().any(|(i, item)| {
                path.push(i.to_string());
                let hit = match item.get_ref() {
                    DeValue::Table(t) => key_at(t, off, path),
                    _ => false,
                } || item.span().contains(&off);
                if !hit {
                    path.pop();
                }
                hit
            }),
            _ => false,
        };
        if inside || k.span().contains(&off) || v.span().contains(&off) {
            return true;
        }
        path.pop();
    }
    false
}

fn ignored_segs(p: &serde_ignored::Path<'_>, out: &mut Vec<String>) {
    use serde_ignored::Path;
    match p {
        Path::Root => {}
        Path::Seq { parent, index } => {
            ignored_segs(parent, out);
            out.push(index.to_string());
        }
        Path::Map { parent, key } => {
            ignored_segs(parent, out);
            out.push(key.clone());
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_segs(parent, out),
    }
}

/// The line of the key `segs` in `text` (for problems found after parsing).
pub fn line_of(text: &str, segs: &[String]) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    key_span(doc.get_ref(), segs).map(|s| line_at(text, s.start))
}

/// Reads `text`. `tools` are the tool names budgets may name (`None`: not checked).
pub fn check_text(text: &str, tools: Option<&[String]>) -> Checked {
    let mut out = Checked::default();
    let doc = match DeTable::parse(text) {
        Ok(d) => d,
        Err(e) => {
            out.problems.push(Problem {
                error: true,
                line: e.span().map(|s| line_at(text, s.start)),
                key: None,
                message: format!("this is not valid TOML: {}", e.message().trim()),
            });
            return out;
        }
    };
    let root = doc.get_ref();
    let mut ignored: Vec<Vec<String>> = Vec::new();
    let parsed = toml::Deserializer::parse(text).and_then(|d| {
        serde_ignored::deserialize(d, |p| {
            let mut segs = Vec::new();
            ignored_segs(&p, &mut segs);
            ignored.push(segs);
        })
    });
    for segs in &ignored {
        let line = key_span(root, segs).map(|s| line_at(text, s.start));
        let message = match keys::nearest(segs) {
            Some(n) => format!("unknown key, ignored: did you mean {n}?"),
            None => "unknown key, ignored".to_string(),
        };
        out.problems.push(Problem {
            error: false,
            line,
            key: Some(segs.join(".")),
            message,
        });
    }
    let config: Config = match parsed {
        Ok(c) => c,
        Err(e) => {
            let mut path = Vec::new();
            if let Some(s) = e.span() {
                key_at(root, s.start, &mut path);
            }
            out.problems.push(Problem {
                error: true,
                line: e.span().map(|s| line_at(text, s.start)),
                key: (!path.is_empty()).then(|| path.join(".")),
                message: e.message().trim().to_string(),
            });
            sort(&mut out.problems);
            return out;
        }
    };
    for (segs, message) in values(&config, tools) {
        out.problems.push(Problem {
            error: true,
            line: key_span(root, &segs).map(|s| line_at(text, s.start)),
            key: Some(segs.join(".")),
            message,
        });
    }
    sort(&mut out.problems);
    if out.problems.iter().all(|p| !p.error) {
        out.config = Some(config);
    }
    out
}

fn sort(p: &mut [Problem]) {
    p.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), !p.error));
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn positive(v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{v} is not an amount in USD above 0 (remove the key to have no budget)"
        ))
    }
}

fn fractions(t: &[f64], max: f64) -> Result<(), String> {
    if t.is_empty() {
        return Err("give at least one threshold (1.0 = the limit itself)".into());
    }
    for x in t {
        if !x.is_finite() || *x <= 0.0 || *x > max {
            return Err(format!(
                "threshold {x} is not a fraction of the limit: use numbers such as 0.85 (85%) or 1.0 (the limit)"
            ));
        }
    }
    Ok(())
}

const PERIODS: [&str; 6] = ["day", "week", "month", "daily", "weekly", "monthly"];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Values the types allow but tokwatch cannot use: (key, message).
fn values(c: &Config, tools: Option<&[String]>) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let b = &c.budget;
    for (k, v) in [
        ("daily_usd", b.daily_usd),
        ("weekly_usd", b.weekly_usd),
        ("monthly_usd", b.monthly_usd),
    ] {
        if let Some(Err(e)) = v.map(positive) {
            out.push((path(&["budget", k]), e));
        }
    }
    if let Some(n) = b.near {
        if !(n.is_finite() && n > 0.0 && n <= 1.0) {
            out.push((
                path(&["budget", "near"]),
                format!("{n} is not a fraction in (0, 1]: use e.g. 0.85 for 85% of the budget"),
            ));
        }
    }
    if let Some(Err(e)) = b.thresholds.as_deref().map(|t| fractions(t, 10.0)) {
        out.push((path(&["budget", "thresholds"]), e));
    }
    if let Some(w) = &b.week_start {
        let l = w.to_ascii_lowercase();
        if !WEEKDAYS.iter().any(|d| *d == l || d[..3] == l) {
            out.push((
                path(&["budget", "week_start"]),
                format!("{w:?} is not a day: use monday .. sunday"),
            ));
        }
    }
    if let Some(tz) = &b.tz {
        let l = tz.to_ascii_lowercase();
        if l != "utc" && l != "local" && tz.parse::<chrono_tz::Tz>().is_err() {
            out.push((
                path(&["budget", "tz"]),
                format!(
                    "{tz:?} is not a time zone: use an IANA name (Europe/Berlin), utc or local"
                ),
            ));
        }
    }
    for (i, e) in c.budgets.iter().enumerate() {
        let at = |k: &str| path(&["budgets", &i.to_string(), k]);
        if let Err(m) = positive(e.usd) {
            out.push((at("usd"), m));
        }
        if !PERIODS.contains(&e.period.to_ascii_lowercase().as_str()) {
            out.push((
                at("period"),
                format!("{:?} is not a period: use day, week or month", e.period),
            ));
        }
        if let Some(Err(m)) = e.thresholds.as_deref().map(|t| fractions(t, 10.0)) {
            out.push((at("thresholds"), m));
        }
        let scopes = [&e.repo, &e.tool, &e.model, &e.provider]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if scopes > 1 {
            out.push((
                at("repo"),
                "a budget has at most one of repo, tool, model, provider: split it into one budget per scope".into(),
            ));
        }
        if let (Some(t), Some(tools)) = (&e.tool, tools) {
            if !tools.iter().any(|k| k == t) {
                let near = tools
                    .iter()
                    .min_by_key(|k| strsim::damerau_levenshtein(k, t))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                out.push((
                    at("tool"),
                    format!(
                        "{t:?} is not a tool tokwatch reads{near}; `tokwatch parsers list` names them"
                    ),
                ));
            }
        }
    }
    if let Some(Err(m)) = c
        .alerts
        .plan_thresholds
        .as_deref()
        .map(|t| fractions(t, 1.0))
    {
        out.push((path(&["alerts", "plan_thresholds"]), m));
    }
    if let Some(Err(m)) = c.guard.session_usd.map(positive) {
        out.push((path(&["guard", "session_usd"]), m));
    }
    for (model, p) in &c.prices {
        for (k, v) in [
            ("input", Some(p.input)),
            ("output", Some(p.output)),
            ("cache_read", p.cache_read),
            ("cache_write_5m", p.cache_write_5m),
            ("cache_write_1h", p.cache_write_1h),
        ] {
            if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
                out.push((
                    path(&["prices", model, k]),
                    format!("{v} is not a price: USD per million tokens, 0 or more"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<String> {
        vec!["claude-code".into(), "codex".into()]
    }

    #[test]
    fn unknown_keys_warn_with_line_and_nearest() {
        let c = check_text(
            "[budget]\ndaily_usd = 5.0\ndaly_usd = 4\n\n[alerts]\nburn_usd_per_hr = 3\n",
            Some(&tools()),
        );
        assert!(c.config.is_some());
        let w: Vec<String> = c.warnings().map(|p| p.to_string()).collect();
        assert_eq!(
            w,
            [
                "line 3, key budget.daly_usd: unknown key, ignored: did you mean budget.daily_usd?",
                "line 6, key alerts.burn_usd_per_hr: unknown key, ignored: did you mean alerts.burn_usd_per_hour?"
            ]
        );
        // The same name in the wrong place.
        let c = check_text("daily_usd = 5.0\n", None);
        assert_eq!(
            c.problems[0].message,
            "unknown key, ignored: did you mean budget.daily_usd?"
        );
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let text = "[budget]\nnear = 1.5\n\n[[budgets]]\nusd = 10\nperiod = \"week\"\n\n[[budgets]]\nusd = 0\nperiod = \"fortnight\"\ntool = \"claud-code\"\n";
        let c = check_text(text, Some(&tools()));
        assert!(c.config.is_none());
        let e: Vec<(Option<usize>, Option<String>)> =
            c.errors().map(|p| (p.line, p.key.clone())).collect();
        assert_eq!(
            e,
            [
                (Some(2), Some("budget.near".into())),
                (Some(9), Some("budgets.1.usd".into())),
                (Some(10), Some("budgets.1.period".into())),
                (Some(11), Some("budgets.1.tool".into())),
            ]
        );
        assert!(c.problems[3].message.contains("did you mean claude-code?"));
    }

    #[test]
    fn type_and_syntax_errors_name_the_line() {
        let c = check_text("[budget]\n\ndaily_usd = \"lots\"\n", None);
        let p = &c.problems[0];
        assert!(p.error);
        assert_eq!(
            (p.line, p.key.as_deref()),
            (Some(3), Some("budget.daily_usd"))
        );
        let c = check_text("[budget]\ndaily_usd = \n", None);
        assert_eq!(c.problems[0].line, Some(2));
        assert!(c.config.is_none());
    }
}
