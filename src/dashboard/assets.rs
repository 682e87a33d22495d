//! The dashboard's files, embedded in the binary (no CDN, no network, nothing read from disk at
//! run time): `assets/dashboard/`, served under `/assets/` with the content types
//! `docs/dashboard.md` lists. `mock/`, `vendor/README.md` and `vendor/uplot.LICENSE` are not
//! served.

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The HTML shell every page path answers with (`app.js` picks the page from the path).
pub static SHELL: &str = include_str!("../../assets/dashboard/index.html");

/// `(name under /assets/, content type, bytes)`.
pub static ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        JS,
        include_bytes!("../../assets/dashboard/app.js"),
    ),
    (
        "core.js",
        JS,
        include_bytes!("../../assets/dashboard/core.js"),
    ),
    (
        "fmt.js",
        JS,
        include_bytes!("../../assets/dashboard/fmt.js"),
    ),
    (
        "dom.js",
        JS,
        include_bytes!("../../assets/dashboard/dom.js"),
    ),
    (
        "widgets.js",
        JS,
        include_bytes!("../../assets/dashboard/widgets.js"),
    ),
    (
        "charts.js",
        JS,
        include_bytes!("../../assets/dashboard/charts.js"),
    ),
    (
        "svg.js",
        JS,
        include_bytes!("../../assets/dashboard/svg.js"),
    ),
    (
        "pages/common.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/common.js"),
    ),
    (
        "pages/overview.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/overview.js"),
    ),
    (
        "pages/repos.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/repos.js"),
    ),
    (
        "pages/workspace.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/workspace.js"),
    ),
    (
        "pages/session.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/session.js"),
    ),
    (
        "pages/treemap.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/treemap.js"),
    ),
    (
        "pages/notfound.js",
        JS,
        include_bytes!("../../assets/dashboard/pages/notfound.js"),
    ),
    (
        "app.css",
        CSS,
        include_bytes!("../../assets/dashboard/app.css"),
    ),
    (
        "vendor/uplot.min.css",
        CSS,
        include_bytes!("../../assets/dashboard/vendor/uplot.min.css"),
    ),
    (
        "vendor/uplot.iife.min.js",
        JS,
        include_bytes!("../../assets/dashboard/vendor/uplot.iife.min.js"),
    ),
    (
        "favicon.svg",
        SVG,
        include_bytes!("../../assets/dashboard/favicon.svg"),
    ),
];

/// This binary's assets as one version: a hash of every served file. The shell names them
/// under `/assets/v-VERSION/`, which never changes its bytes, so a browser keeps them without
/// asking again (no revalidation round trip per module on every page load); a new binary has
/// a new version, so an upgrade is never mixed with old files.
pub fn version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let mut all = Vec::new();
        for (n, _, b) in ASSETS {
            all.extend_from_slice(n.as_bytes());
            all.push(0);
            all.extend_from_slice(&crate::tailer::fnv1a(b).to_le_bytes());
        }
        format!("{:016x}", crate::tailer::fnv1a(&all))
    })
}

/// The prefix of this binary's immutable asset URLs: `/assets/v-VERSION/`.
pub fn versioned_prefix() -> &'static str {
    static P: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    P.get_or_init(|| format!("/assets/v-{}/", version()))
}

/// The shell with its asset URLs under [`versioned_prefix`] (module imports are relative, so
/// every module a page loads is under the same prefix).
pub fn shell() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| SHELL.replace("\"/assets/", &format!("\"{}", versioned_prefix())))
}

/// `(name, versioned)` of a path under `/assets/`: `v-VERSION/app.js` is `app.js`, versioned
/// when VERSION is this binary's (an old page's version gets today's files, not cached for
/// long).
pub fn split_version(rest: &str) -> (&str, bool) {
    match rest.strip_prefix("v-").and_then(|r| r.split_once('/')) {
        Some((v, name)) => (name, v == version()),
        None => (rest, false),
    }
}

/// The asset served at `/assets/NAME`: its content type and bytes.
pub fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, b)| (*t, *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if p.is_dir() {
                if rel != "mock" {
                    files(&p, base, out);
                }
            } else if !["index.html", "vendor/README.md", "vendor/uplot.LICENSE"]
                .contains(&rel.as_str())
            {
                out.push(rel);
            }
        }
    }

    /// Every file of `assets/dashboard/` that is served is in the table: a new module cannot be
    /// forgotten (the browser would refuse to load the page).
    #[test]
    fn every_asset_is_embedded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard");
        let mut on_disk = Vec::new();
        files(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        assert!(asset("pages/session.js")
            .unwrap()
            .0
            .starts_with("text/javascript"));
        assert!(SHELL.contains("/assets/app.js"));
        let v = versioned_prefix();
        assert!(shell().contains(&format!("{v}app.js")), "{}", shell());
        assert!(!shell().contains("\"/assets/app.js"));
        assert_eq!(
            split_version(&format!("{}pages/session.js", &v[8..])),
            ("pages/session.js", true)
        );
        assert_eq!(split_version("v-0123/app.js"), ("app.js", false));
        assert_eq!(split_version("app.js"), ("app.js", false));
    }
}
