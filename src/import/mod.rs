//! `proctor import`: a `proctor.toml` from a docker compose file, a `Procfile`, a
//! supervisord `.conf`, a pm2 `ecosystem.config.json` or an `ops.sessions` YAML file.
//!
//! Each format has its reader (one file each), which fills a draft of the project; one
//! writer turns the draft into TOML text. What a reader cannot carry over is never
//! dropped: it is written as a `# not imported: …` comment where it belongs and returned
//! in [`Imported::notes`] for the caller to show as warnings.

use std::path::{Path, PathBuf};

mod compose;
mod draft;
mod ini;
mod node;
mod pm2;
mod procfile;
mod sessions;
mod supervisord;
mod write;

use node::Node;

/// Whether the spec takes `replicas = N` (else it is written as a comment).
pub(crate) const REPLICAS: bool = true;

/// Whether the spec interpolates `${VAR}` (so a literal `$` from a format that has no
/// interpolation of its own must be written `$$`).
pub(crate) const INTERPOLATION: bool = true;

/// The formats `proctor import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `docker-compose.yml` / `compose.yaml`.
    Compose,
    /// A Heroku/foreman `Procfile` (and the `.env` beside it).
    Procfile,
    /// A supervisord `.conf` (`[program:x]` sections).
    Supervisord,
    /// A pm2 `ecosystem.config.json` (`apps: [...]`).
    Pm2,
    /// A YAML file with an `ops.sessions` map (the Python `SessionManager.from_config` format).
    Sessions,
}

impl Format {
    /// Every format, in the order `--from` lists them.
    pub const ALL: [Format; 5] = [
        Format::Compose,
        Format::Procfile,
        Format::Supervisord,
        Format::Pm2,
        Format::Sessions,
    ];

    /// The name `--from` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Compose => "compose",
            Format::Procfile => "procfile",
            Format::Supervisord => "supervisord",
            Format::Pm2 => "pm2",
            Format::Sessions => "sessions",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// Why a file could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Neither the name nor the content says which format the file is in.
    #[error("{}: cannot tell which format this is (compose, Procfile, supervisord, pm2 or ops.sessions); name it with --from", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid in its format; `line` is 0 when the parser gives none.
    #[error("{}{}: {message}", path.display(), at(*line))]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line, or 0.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn at(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The format, when not detected from the file.
    pub from: Option<Format>,
    /// The directory the `proctor.toml` will be in (relative paths are rewritten for it);
    /// `None`: the source file's directory.
    pub out_dir: Option<PathBuf>,
}

/// What was not carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The service it belongs to, or `None` for the project.
    pub service: Option<String>,
    /// What and why.
    pub text: String,
}

/// An imported project.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The format read.
    pub format: Format,
    /// The `proctor.toml` text.
    pub toml: String,
    /// Everything not carried over (also in `toml` as `# not imported:` comments).
    pub notes: Vec<Note>,
}

/// Reads `path` and turns it into a `proctor.toml`.
pub fn import(path: &Path, opts: &Options) -> Result<Imported, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let src_dir = abs
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let out_dir = opts
        .out_dir
        .as_ref()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .unwrap_or_else(|| src_dir.clone());
    let format = match opts.from {
        Some(f) => f,
        None => detect(path, &text).ok_or_else(|| ImportError::UnknownFormat {
            path: path.to_path_buf(),
        })?,
    };
    let cx = Cx {
        path: path.to_path_buf(),
        src_dir,
        out_dir,
    };
    let draft = match format {
        Format::Compose => compose::read(&cx, &yaml(&cx, &text)?)?,
        Format::Procfile => procfile::read(&cx, &text)?,
        Format::Supervisord => supervisord::read(&cx, &text)?,
        Format::Pm2 => pm2::read(&cx, &structured(&cx, &text)?)?,
        Format::Sessions => sessions::read(&cx, &yaml(&cx, &text)?)?,
    };
    let mut draft = draft;
    for (i, svc) in draft.services.iter().enumerate() {
        if draft.services[..i].iter().any(|s| s.name == svc.name) {
            return Err(cx.error(
                0,
                format!("two services are named {:?} once their names are made valid (letters, digits, _ . -)", svc.name),
            ));
        }
    }
    if cx.src_dir != cx.out_dir
        && matches!(format, Format::Procfile | Format::Supervisord | Format::Pm2)
    {
        // Their commands name files relative to the source's directory.
        for svc in draft.services.iter_mut().filter(|s| !s.has("cwd")) {
            svc.set(
                "cwd",
                draft::Val::str(lit(&cx.src_dir.display().to_string())),
            );
        }
    }
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let toml = write::render(&draft, &source, format.name());
    let mut notes: Vec<Note> = draft
        .skipped
        .iter()
        .map(|t| Note {
            service: None,
            text: t.clone(),
        })
        .collect();
    for s in &draft.services {
        let mut texts = s.skipped.clone();
        if let Some(n) = s.replicas.filter(|_| !REPLICAS) {
            texts.push(format!("replicas = {n} (this proctor runs one instance)"));
        }
        notes.extend(texts.into_iter().map(|text| Note {
            service: Some(s.name.clone()),
            text,
        }));
    }
    Ok(Imported {
        format,
        toml,
        notes,
    })
}

/// The format of `path` from its name, else from its content.
pub fn detect(path: &Path, text: &str) -> Option<Format> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let yamlish = name.ends_with(".yml") || name.ends_with(".yaml");
    if name == "procfile" || name.starts_with("procfile.") {
        return Some(Format::Procfile);
    }
    if yamlish && (name.starts_with("docker-compose") || name.starts_with("compose")) {
        return Some(Format::Compose);
    }
    if name.starts_with("ecosystem.config") && name.ends_with(".json") {
        return Some(Format::Pm2);
    }
    if text
        .lines()
        .any(|l| l.trim_start().starts_with("[program:") || l.trim() == "[supervisord]")
    {
        return Some(Format::Supervisord);
    }
    let parsed: Option<Node> = if name.ends_with(".json") {
        serde_json::from_str(text).ok()
    } else {
        node::from_yaml(text).ok()
    };
    if let Some(doc) = &parsed {
        if doc.get("services").is_some() {
            return Some(Format::Compose);
        }
        if doc.get("apps").is_some() {
            return Some(Format::Pm2);
        }
        if doc.get("ops").is_some() {
            return Some(Format::Sessions);
        }
    }
    procfile::looks_like(text).then_some(Format::Procfile)
}

/// Where the source is and where the output goes, for the readers.
pub(crate) struct Cx {
    /// The source file as given.
    pub(crate) path: PathBuf,
    /// Its directory (absolute).
    pub(crate) src_dir: PathBuf,
    /// The output's directory (absolute).
    pub(crate) out_dir: PathBuf,
}

impl Cx {
    /// A parse error at `line` (0: unknown).
    pub(crate) fn error(&self, line: usize, message: impl Into<String>) -> ImportError {
        ImportError::Parse {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }

    /// `p` (relative to the source's directory) as the output should write it: unchanged
    /// when both are in one directory, else absolute.
    pub(crate) fn rebase(&self, p: &str) -> String {
        if self.src_dir == self.out_dir || p.starts_with('/') || p.starts_with('~') {
            p.to_string()
        } else {
            self.src_dir.join(p).display().to_string()
        }
    }

    /// `p` resolved against the source's directory.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        self.src_dir.join(p)
    }
}

/// `cwd = DIR` (relative to the imported file): kept when the directory exists here, else
/// noted as not imported.
pub(crate) fn set_cwd(cx: &Cx, svc: &mut draft::Svc, v: &node::Node) {
    match v.scalar() {
        Some(dir) if cx.resolve(&dir).is_dir() => {
            svc.set("cwd", draft::Val::str(lit(&cx.rebase(&dir))))
        }
        _ => svc.skip(format!(
            "cwd {} (no such directory here)",
            v.scalar().unwrap_or_default()
        )),
    }
}

/// A map of environment variables, its values taken literally.
pub(crate) fn env_table(v: &node::Node) -> draft::Val {
    draft::Val::Table(
        v.entries()
            .iter()
            .filter_map(|(k, val)| Some((k.clone(), draft::Val::str(lit(&val.scalar()?)))))
            .collect(),
    )
}

/// A string from a format without interpolation, written so the spec reads it literally:
/// `${` and `$$` are escaped; a bare `$VAR` is left alone, as the spec leaves it.
pub(crate) fn lit(s: &str) -> String {
    if INTERPOLATION {
        crate::spec::interpolate::escape(s)
    } else {
        s.to_string()
    }
}

/// A compose string as the spec must write it: compose also interpolates a bare `$VAR`,
/// which the spec leaves to the shell, so it is braced; `${…}` and `$$` mean the same.
pub(crate) fn compose_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str("$$");
            rest = tail;
            continue;
        }
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let starts_well = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if starts_well && name_len > 0 {
            out.push_str("${");
            out.push_str(&after[..name_len]);
            out.push('}');
            rest = &after[name_len..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `text` parsed as YAML.
fn yaml(cx: &Cx, text: &str) -> Result<Node, ImportError> {
    node::from_yaml(text).map_err(|e| {
        let line = e
            .location()
            .and_then(|l| usize::try_from(l.line()).ok())
            .unwrap_or(0);
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first).to_string();
        cx.error(line, format!("invalid YAML: {first}"))
    })
}

/// `text` parsed as JSON (for `.json` files, with JSON's line numbers) or else as YAML.
fn structured(cx: &Cx, text: &str) -> Result<Node, ImportError> {
    let is_json = cx
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        serde_json::from_str(text).map_err(|e| cx.error(e.line(), format!("invalid JSON: {e}")))
    } else {
        yaml(cx, text)
    }
}

/// A duration as the spec writes it, from a number of seconds.
pub(crate) fn secs(n: f64) -> String {
    if n.fract() == 0.0 && n >= 0.0 {
        format!("{n:.0}s")
    } else {
        format!("{:.0}ms", (n * 1000.0).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::{compose_str, lit};

    #[test]
    fn dollars_survive_interpolation() {
        assert_eq!(lit("echo $PORT ${A:-b} $$ $"), "echo $PORT $${A:-b} $$$ $");
        assert_eq!(
            compose_str("$HOME/x ${A:-b} $$HOME $1 $"),
            "${HOME}/x ${A:-b} $$HOME $1 $"
        );
    }
}
