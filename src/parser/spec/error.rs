//! Errors that name the spec file and the field at fault, including the translation of TOML
//! parse errors (which point at a byte span) into a dotted field name and a line number.

/// A spec that cannot be used. Names the file and, where known, the field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpecError {
    /// The spec file: a path, or `builtin:parsers/<name>` for a built-in spec.
    pub file: String,
    /// The field at fault, dotted (`paths.patterns[0]`, `select.where.role`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field `{}`: {}", self.file, field, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// An error naming `file` and `field`.
pub(super) fn err(file: &str, field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        file: file.to_string(),
        field: Some(field.to_string()),
        message: message.into(),
    }
}

/// Turn a TOML error into a [`SpecError`] naming the field it points at.
pub(super) fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> SpecError {
    let message = e.message().trim().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
        .map(str::to_string);
    let Some(span) = e.span() else {
        return SpecError {
            file: file.to_string(),
            field: missing,
            message,
        };
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| {
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    // The table the span is in: its own header line, or the last header above it.
    let (table, key) = match header(line) {
        Some(h) => (Some(h), None),
        None => (
            text[..line_start]
                .lines()
                .rev()
                .map(str::trim)
                .find_map(header),
            line.split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty()),
        ),
    };
    let join = |t: Option<String>, k: String| match t {
        Some(t) => format!("{t}.{k}"),
        None => k,
    };
    let field = match (missing, key) {
        // A missing field's span covers its table (or the whole file, for top-level fields).
        (Some(m), _) => Some(join(if start == 0 { None } else { table }, m)),
        (None, Some(k)) => Some(join(table, k)),
        (None, None) => table,
    };
    SpecError {
        file: file.to_string(),
        field,
        message: format!("{message} (line {line_no})"),
    }
}
