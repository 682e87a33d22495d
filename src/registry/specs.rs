//! Tools described as data: the built-in specs compiled in from `parsers/*.toml`, the user
//! specs read from `<config dir>/parsers/*.toml`, and where a spec's files live (its `[paths]`
//! section resolved against the [`Env`]).

use super::{Origin, Source};
use crate::env::Env;
use crate::parser::spec::{PathsSpec, Spec};
use crate::parser::Parser;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::parser::spec::SpecError;

/// Built-in specs: (file name, text). Adding a tool as data = one TOML file + one line here.
pub const BUILTIN_SPECS: &[(&str, &str)] = &[(
    "qwen-code.toml",
    include_str!("../../parsers/qwen-code.toml"),
)];

/// The built-in specs, parsed. They are tested, so a failure here is a build defect.
pub fn builtin_specs() -> Vec<Spec> {
    BUILTIN_SPECS
        .iter()
        .map(|(name, text)| {
            Spec::parse(text, &format!("builtin:parsers/{name}"))
                .unwrap_or_else(|e| panic!("built-in spec is invalid: {e}"))
        })
        .collect()
}

/// User specs that loaded, and the ones that did not (each error names its file and field).
#[derive(Debug, Default)]
pub struct UserSpecs {
    /// The specs that loaded, in file-name order.
    pub specs: Vec<Spec>,
    /// The spec files that did not.
    pub errors: Vec<SpecError>,
}

/// Reads every `*.toml` in the user spec directory, in file-name order. A missing directory is
/// not an error. Two user specs for the same tool: the first wins, the second is an error.
pub fn load_user_specs(env: &Env) -> UserSpecs {
    let mut out = UserSpecs::default();
    let dir = env.user_spec_dir();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut seen = BTreeSet::new();
    for f in files {
        match Spec::load(&f) {
            Ok(s) => {
                if seen.insert(s.tool().to_string()) {
                    out.specs.push(s);
                } else {
                    out.errors.push(SpecError {
                        file: f.display().to_string(),
                        field: Some("tool".into()),
                        message: format!("another user spec already declares `{}`", s.tool()),
                    });
                }
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// The source a spec describes, resolved against `env`.
pub fn spec_source(spec: &Spec, env: &Env, origin: Origin) -> anyhow::Result<Source> {
    let pats: Vec<&str> = spec
        .file
        .paths
        .patterns
        .iter()
        .map(String::as_str)
        .collect();
    let mut s = Source::new(
        spec.tool(),
        spec_roots(&spec.file.paths, env),
        &pats,
        spec.parser.clone() as Arc<dyn Parser>,
    )?;
    s.origin = origin;
    s.format = spec.parser.spec_format().name().to_string();
    s.spec_file = spec.origin.clone();
    Ok(s)
}

/// Expands `~`, `$VAR`, `${VAR}` and `${VAR:-default}`. An unset variable without a default
/// makes the entry unusable (`None`).
pub fn expand(s: &str, env: &Env) -> Option<PathBuf> {
    let mut out = String::new();
    let mut rest = s.trim();
    if rest == "~" {
        return Some(env.home.clone());
    }
    if let Some(r) = rest.strip_prefix("~/").or_else(|| rest.strip_prefix("~\\")) {
        out.push_str(&env.home.to_string_lossy());
        out.push(std::path::MAIN_SEPARATOR);
        rest = r;
    }
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}')?;
            let body = &inner[..close];
            let (name, default) = match body.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            match env.var(name) {
                Some(v) => out.push_str(v),
                None => {
                    let d = default?;
                    out.push_str(&expand(d, env)?.to_string_lossy());
                }
            }
            rest = &inner[close + 1..];
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                out.push('$');
                rest = after;
                continue;
            }
            out.push_str(env.var(&after[..end])?);
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    if out.is_empty() {
        None
    } else {
        Some(PathBuf::from(out))
    }
}

/// A spec's roots on this OS: the first of its `env` variables that is set (a comma-separated
/// list, each joined with `env_subdir`), else the OS's own list, else `default`.
pub fn spec_roots(p: &PathsSpec, env: &Env) -> Vec<PathBuf> {
    if let Some(names) = &p.env {
        for name in names.items() {
            if let Some(v) = env.var(&name) {
                let mut roots: Vec<PathBuf> = super::roots::split_list(v)
                    .into_iter()
                    .filter_map(|b| expand(&b.to_string_lossy(), env))
                    .map(|b| match &p.env_subdir {
                        Some(sub) if !sub.is_empty() => b.join(sub),
                        _ => b,
                    })
                    .collect();
                roots.dedup();
                return roots;
            }
        }
    }
    let os_list = if cfg!(target_os = "macos") {
        p.macos.as_ref()
    } else if cfg!(windows) {
        p.windows.as_ref()
    } else {
        p.linux.as_ref()
    };
    let list = os_list.unwrap_or(&p.default);
    let mut roots: Vec<PathBuf> = list.iter().filter_map(|s| expand(s, env)).collect();
    roots.dedup();
    roots
}
