//! `proctor import FILE`: a proctor.toml from another tool's file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::args::ImportArgs;
use crate::cli::Printer;
use crate::import::{self, Imported, Options};
use crate::spec::{self, Spec};

/// `file` (`--file`, the spec) is where to write when `--out` is not given.
pub(crate) fn run(file: Option<&Path>, a: &ImportArgs, p: &Printer) -> Result<ExitCode> {
    let out = if a.print {
        None
    } else {
        Some(out_path(a.out.as_deref().or(file), &a.source))
    };
    let opts = Options {
        from: a.from,
        out_dir: out.as_deref().and_then(Path::parent).map(Path::to_path_buf),
    };
    let imported = import::import(&a.source, &opts)?;
    warn(&imported, p);
    let Some(out) = out else {
        p.raw(imported.toml.as_bytes())
            .context("writing the spec to stdout")?;
        return Ok(ExitCode::SUCCESS);
    };
    write(&out, &imported.toml, a.force)?;
    let services = match Spec::load(&out) {
        Ok(spec) => spec.services.len(),
        Err(errs) => {
            for e in &errs.0 {
                p.error(&e.to_string());
            }
            p.note("hint: edit it until `proctor validate` accepts it");
            bail!("{} was written but is not a valid spec", out.display());
        }
    };
    p.note(&format!(
        "wrote {} ({services} service{} from {} {}{})",
        out.display(),
        if services == 1 { "" } else { "s" },
        imported.format.name(),
        a.source.display(),
        match imported.notes.len() {
            0 => String::new(),
            n => format!(
                "; {n} thing{} not imported, see the warnings",
                if n == 1 { "" } else { "s" }
            ),
        }
    ));
    Ok(ExitCode::SUCCESS)
}

/// The proctor.toml to write: `out` (a directory gets one inside), else beside the source.
fn out_path(out: Option<&Path>, source: &Path) -> PathBuf {
    let path = match out {
        Some(o) if o.is_dir() => o.join(spec::FILE_NAME),
        Some(o) => o.to_path_buf(),
        None => source
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(spec::FILE_NAME),
    };
    std::path::absolute(&path).unwrap_or(path)
}

fn warn(imported: &Imported, p: &Printer) {
    for n in &imported.notes {
        match &n.service {
            Some(s) => p.warn(&format!("{s}: not imported: {}", n.text)),
            None => p.warn(&format!("not imported: {}", n.text)),
        }
    }
}

/// Writes `text` to `out`, refusing to replace a file unless `force`.
fn write(out: &Path, text: &str, force: bool) -> Result<()> {
    use std::io::Write as _;
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        // create_new: no window between a check and the write.
        open.create_new(true);
    }
    let mut f = match open.open(out) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} already exists: pass --force to replace it, --out PATH to write elsewhere, or --print",
                out.display()
            )
        }
        other => other.with_context(|| format!("cannot create {}", out.display()))?,
    };
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))
}
