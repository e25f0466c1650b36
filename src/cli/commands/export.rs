//! `proctor export kube|compose|systemd`: the project rendered for another engine, to
//! stdout or as files in `--out DIR`; what the target cannot express is warned about on
//! stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::cli::{load_spec, Printer};
use crate::export::{self, Options};

/// `export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to render.
    #[arg(value_enum)]
    pub target: Target,
    /// Write one file per object (kube), per unit (systemd) or `compose.yaml` into DIR
    /// instead of printing to stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Kubernetes namespace of every object (kube only).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Prefix of every name (default: none; systemd: `PROJECT-`).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub name_prefix: String,
    /// Export service NAME as a StatefulSet with a claim for its state (kube only;
    /// repeatable). Services with `storage = { path = … }` are one already.
    #[arg(long, value_name = "NAME")]
    pub stateful: Vec<String>,
}

/// An export target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Kubernetes objects (Deployment, StatefulSet, Job, Service, ConfigMap, claims).
    Kube,
    /// A compose file.
    Compose,
    /// One systemd unit per service.
    Systemd,
}

pub(crate) fn run(file: Option<&Path>, a: ExportArgs, p: &Printer) -> Result<ExitCode> {
    let spec = load_spec(file)?;
    let kube_only = a.namespace.is_some() || !a.stateful.is_empty();
    if kube_only && a.target != Target::Kube {
        anyhow::bail!("--namespace and --stateful apply to `export kube` only");
    }
    let opts = Options {
        namespace: a.namespace,
        name_prefix: a.name_prefix,
        stateful: a.stateful,
    };
    let out = match a.target {
        Target::Kube => export::kube::kube(&spec, &opts),
        Target::Compose => export::compose::compose(&spec, &opts),
        Target::Systemd => export::systemd::systemd(&spec, &opts),
    }?;
    for w in &out.warnings {
        p.warn(&w.to_string());
    }
    match &a.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for f in &out.files {
                let path = dir.join(&f.name);
                std::fs::write(&path, &f.text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            p.note(&format!(
                "wrote {} file(s) to {}",
                out.files.len(),
                dir.display()
            ));
        }
        None => p
            .raw(out.stream.as_bytes())
            .context("cannot write the export to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}
