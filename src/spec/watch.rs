//! `watch = { paths, ignore, debounce }`: restart a service when its files change.
//!
//! Paths are relative to the service's `cwd` (the spec's directory unless set). A path is a
//! directory (watched with everything below it), a file, or a glob such as
//! `config/*.toml` (`*` stays within one directory, `**` crosses them). `ignore` takes
//! `.gitignore` lines (`target` anywhere, `*.tmp`, `/build`, `!keep.tmp`), checked on top
//! of the project's own `.gitignore` files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::DeValue;

use super::values::{absolute, Ctx, Value};

const WATCH_KEYS: &[&str] = &["paths", "ignore", "debounce"];

/// How long a burst of changes must be quiet before the restart, unless `debounce` says.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// `watch = …` on a service: what restarts it when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// Directories, files or glob patterns, made absolute against the service's `cwd`.
    pub paths: Vec<PathBuf>,
    /// `.gitignore`-style lines whose matches never restart the service; relative
    /// patterns are anchored at the service's `cwd`.
    pub ignore: Vec<String>,
    /// Quiet time after the last change before the restart: an editor's save or a build
    /// writes many files, and they should cost one restart.
    pub debounce: Duration,
}

impl Watch {
    /// Watches `paths` (absolute) with no extra ignores and the default debounce.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            ignore: Vec::new(),
            debounce: DEFAULT_DEBOUNCE,
        }
    }
}

/// Whether `s` holds a glob metacharacter, so it is matched rather than compared.
pub(crate) fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// The directory a watched path is found under: the path itself, or for a glob the
/// longest leading part without metacharacters.
pub(crate) fn root_of(path: &Path) -> PathBuf {
    let mut root = PathBuf::new();
    for c in path.components() {
        if is_glob(&c.as_os_str().to_string_lossy()) {
            break;
        }
        root.push(c);
    }
    root
}

/// A glob for an absolute watched path: the pattern's own metacharacters work, while those
/// the directory above it happens to have in its name are taken literally.
pub(crate) fn glob_for(path: &Path) -> Result<globset::GlobMatcher, globset::Error> {
    let root = root_of(path);
    let rest = path.strip_prefix(&root).unwrap_or(path);
    let pattern = Path::new(&globset::escape(&root.to_string_lossy()))
        .join(rest)
        .to_string_lossy()
        .into_owned();
    Ok(globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// Parses `watch = "src"`, `["src", "config/*.toml"]` or a table; `cwd` is the service's.
pub(super) fn parse(ctx: &mut Ctx<'_>, v: &Value<'_>, cwd: &Path) -> Option<Watch> {
    match v.get_ref() {
        DeValue::String(_) | DeValue::Array(_) => Some(Watch::new(paths(ctx, "watch", v, cwd)?)),
        DeValue::Table(t) => {
            ctx.check_keys(t, WATCH_KEYS, "`watch`");
            let mut ok = true;
            let mut w = Watch::new(Vec::new());
            match t.get("paths") {
                Some(p) => match paths(ctx, "watch.paths", p, cwd) {
                    Some(p) => w.paths = p,
                    None => ok = false,
                },
                None => {
                    ctx.error_help(
                        v.span(),
                        "`watch` has no `paths`",
                        Some("add paths = [\"src\"] (relative to the service's cwd)"),
                    );
                    ok = false;
                }
            }
            if let Some(i) = t.get("ignore") {
                match ignore(ctx, i, cwd) {
                    Some(lines) => w.ignore = lines,
                    None => ok = false,
                }
            }
            if let Some(d) = t.get("debounce") {
                match ctx.duration("watch.debounce", d) {
                    Some(d) => w.debounce = d,
                    None => ok = false,
                }
            }
            ok.then_some(w)
        }
        _ => {
            ctx.expected(
                "watch",
                v,
                "a path, an array of paths, or a table { paths, ignore, debounce }",
            );
            None
        }
    }
}

/// The items of a string or an array of strings, each with its span.
fn items<'a, 'i>(ctx: &mut Ctx<'_>, key: &str, v: &'a Value<'i>) -> Option<Vec<&'a Value<'i>>> {
    let items: Vec<&Value<'_>> = match v.get_ref() {
        DeValue::String(_) => vec![v],
        DeValue::Array(a) => a.iter().collect(),
        _ => {
            ctx.expected(key, v, "a string or an array of strings");
            return None;
        }
    };
    if items.is_empty() {
        ctx.error_help(
            v.span(),
            format!("`{key}` is empty"),
            Some("list at least one path, such as \"src\""),
        );
        return None;
    }
    Some(items)
}

fn paths(ctx: &mut Ctx<'_>, key: &str, v: &Value<'_>, cwd: &Path) -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in items(ctx, key, v)? {
        let Some(s) = ctx.nonempty(&format!("{key}[…]"), item) else {
            ok = false;
            continue;
        };
        let path = absolute(cwd, &s);
        if is_glob(&s) {
            if let Err(e) = glob_for(&path) {
                ctx.error_help(
                    item.span(),
                    format!("`{key}` entry {s:?} is not a valid glob: {}", e.kind()),
                    Some("use * within a directory, ** across them, [abc] or {a,b}"),
                );
                ok = false;
                continue;
            }
        }
        out.push(path);
    }
    ok.then_some(out)
}

fn ignore(ctx: &mut Ctx<'_>, v: &Value<'_>, cwd: &Path) -> Option<Vec<String>> {
    let DeValue::Array(a) = v.get_ref() else {
        ctx.expected("watch.ignore", v, "an array of patterns such as \"*.tmp\"");
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in a.iter() {
        let Some(s) = ctx.nonempty("watch.ignore[…]", item) else {
            ok = false;
            continue;
        };
        let mut b = ignore::gitignore::GitignoreBuilder::new(cwd);
        if let Err(e) = b.add_line(None, &s) {
            ctx.error_help(
                item.span(),
                format!("`watch.ignore` entry {s:?} is not a valid pattern: {e}"),
                Some("write it as a .gitignore line, such as \"target\" or \"*.tmp\""),
            );
            ok = false;
            continue;
        }
        out.push(s);
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::tests::{error, parse};

    const HEAD: &str = "[service.web]\ncommand = \"run\"\ncwd = \"/tmp\"\n";

    #[test]
    fn paths_are_relative_to_the_service_cwd() {
        let spec = parse(&format!(
            "{HEAD}watch = {{ paths = [\"src\", \"config/*.toml\"], ignore = [\"target\", \"*.tmp\"], debounce = \"50ms\" }}\n"
        ))
        .expect("valid");
        let w = spec.services[0].watch.clone().expect("watch");
        assert_eq!(
            w.paths,
            [Path::new("/tmp/src"), Path::new("/tmp/config/*.toml")]
        );
        assert_eq!(w.ignore, ["target", "*.tmp"]);
        assert_eq!(w.debounce, Duration::from_millis(50));
    }

    #[test]
    fn a_string_or_an_array_is_the_paths_with_defaults() {
        let spec = parse(&format!("{HEAD}watch = \"src\"\n")).expect("valid");
        let w = spec.services[0].watch.clone().expect("watch");
        assert_eq!(w.paths, [Path::new("/tmp/src")]);
        assert_eq!(w.debounce, DEFAULT_DEBOUNCE);
        let spec = parse(&format!("{HEAD}watch = [\"a\", \"/abs\"]\n")).expect("valid");
        let w = spec.services[0].watch.clone().expect("watch");
        assert_eq!(w.paths, [Path::new("/tmp/a"), Path::new("/abs")]);
    }

    #[test]
    fn bad_values_are_placed() {
        let (line, col, msg) = error(&format!("{HEAD}watch = {{ paths = [] }}\n"));
        assert_eq!((line, col), (4, 19));
        assert!(msg.contains("`watch.paths` is empty"), "{msg}");

        let (line, col, msg) = error(&format!(
            "{HEAD}watch = {{ paths = [\"src\", \"a/[b\"] }}\n"
        ));
        assert_eq!((line, col), (4, 27));
        assert!(msg.contains("not a valid glob"), "{msg}");

        let (line, col, msg) = error(&format!(
            "{HEAD}watch = {{ paths = [\"src\"], debounce = \"soon\" }}\n"
        ));
        assert_eq!((line, col), (4, 39));
        assert!(msg.contains("not a duration"), "{msg}");

        let (line, col, msg) = error(&format!(
            "{HEAD}watch = {{ paths = [\"src\"], debounse = \"1s\" }}\n"
        ));
        assert_eq!((line, col), (4, 28));
        assert!(msg.contains("did you mean `debounce`"), "{msg}");

        let (line, col, msg) = error(&format!("{HEAD}watch = 3\n"));
        assert_eq!((line, col), (4, 9));
        assert!(msg.contains("a path, an array of paths"), "{msg}");

        let (_, _, msg) = error(&format!(
            "{HEAD}watch = {{ paths = [\"src\"], ignore = \"*.tmp\" }}\n"
        ));
        assert!(msg.contains("an array of patterns"), "{msg}");
    }

    #[test]
    fn glob_roots_stop_at_the_first_metacharacter() {
        assert_eq!(
            root_of(Path::new("/p/config/*.toml")),
            Path::new("/p/config")
        );
        assert_eq!(root_of(Path::new("/p/**/x.rs")), Path::new("/p"));
        assert_eq!(root_of(Path::new("/p/src")), Path::new("/p/src"));
        let g = glob_for(Path::new("/p/config/*.toml")).expect("glob");
        assert!(g.is_match("/p/config/a.toml"));
        assert!(!g.is_match("/p/config/sub/a.toml"));
        assert!(!g.is_match("/p/config/a.tomlx"));
    }
}
