//! `proctor validate`: check a spec and report every error.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{spec_path, Printer};
use crate::spec::Spec;

pub(crate) fn run(file: Option<&Path>, p: &Printer) -> Result<ExitCode> {
    let path = spec_path(file)?;
    match Spec::load(&path) {
        Ok(spec) => {
            p.line(&format!(
                "{}: ok ({} service{})",
                path.display(),
                spec.services.len(),
                if spec.services.len() == 1 { "" } else { "s" }
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => {
            for e in &errs.0 {
                p.note(&format!("error: {e}"));
            }
            p.note(&format!(
                "{} error{} in {}",
                errs.0.len(),
                if errs.0.len() == 1 { "" } else { "s" },
                path.display()
            ));
            Ok(ExitCode::FAILURE)
        }
    }
}
