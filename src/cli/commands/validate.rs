//! `proctor validate` (alias `config`): check a spec and report every error, or print it
//! as resolved.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::cli::args::ValidateArgs;
use crate::cli::{spec_path, Printer};
use crate::spec::{Spec, SpecError, SpecErrors};

/// One spec error as `--json` gives it.
#[derive(Serialize)]
struct JsonError<'a> {
    file: &'a Path,
    line: usize,
    col: usize,
    message: &'a str,
    help: Option<&'a str>,
}

impl<'a> From<&'a SpecError> for JsonError<'a> {
    fn from(e: &'a SpecError) -> Self {
        JsonError {
            file: &e.file,
            line: e.line,
            col: e.col,
            message: &e.message,
            help: e.help.as_deref(),
        }
    }
}

pub(crate) fn run(file: Option<&Path>, a: &ValidateArgs, p: &Printer) -> Result<ExitCode> {
    let path = spec_path(file)?;
    if a.print {
        return match Spec::resolved_toml(&path) {
            Ok(text) => {
                p.raw(text.as_bytes())?;
                Ok(ExitCode::SUCCESS)
            }
            Err(errs) => Ok(errors(&path, &errs, p)),
        };
    }
    match Spec::load(&path) {
        Ok(spec) if a.json => {
            let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
            p.json(&serde_json::json!({ "ok": true, "file": path, "services": names }));
            Ok(ExitCode::SUCCESS)
        }
        Ok(spec) => {
            p.line(&format!(
                "{}: ok ({} service{})",
                path.display(),
                spec.services.len(),
                if spec.services.len() == 1 { "" } else { "s" }
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) if a.json => {
            let list: Vec<JsonError<'_>> = errs.0.iter().map(JsonError::from).collect();
            p.json(&serde_json::json!({ "ok": false, "file": path, "errors": list }));
            Ok(ExitCode::FAILURE)
        }
        Err(errs) => Ok(errors(&path, &errs, p)),
    }
}

fn errors(path: &Path, errs: &SpecErrors, p: &Printer) -> ExitCode {
    for e in &errs.0 {
        p.note(&format!("error: {e}"));
    }
    p.note(&format!(
        "{} error{} in {}",
        errs.0.len(),
        if errs.0.len() == 1 { "" } else { "s" },
        path.display()
    ));
    ExitCode::FAILURE
}
