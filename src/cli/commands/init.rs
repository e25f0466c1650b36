//! `proctor init [--main NAME] [-- CMD…]`: proctor as a container's entrypoint.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::args::InitArgs;
use crate::cli::{init_tracing, project, spec_path, Printer};
use crate::spec::{Project, RestartPolicy, Service, Spec};
use crate::state::Paths;
use crate::supervise::{run_blocking, Echo, Init, Options};

pub(crate) fn run(file: Option<&Path>, a: InitArgs, p: &Printer) -> Result<ExitCode> {
    if a.new || wants_starter(file, &a) {
        if !a.new {
            p.note("no proctor.toml here and not a container's PID 1 (`proctor init -- CMD` runs one): starting a project");
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        return super::starter::write(&cwd, p);
    }
    init_tracing("warn");
    let (spec, paths, main) = if a.command.is_empty() {
        let (spec, paths) = project(file)?;
        let main = match a.main {
            Some(m) => m,
            None => spec
                .services
                .iter()
                .find(|s| s.autostarts(a.role.as_deref()))
                .map(|s| s.name.clone())
                .context("the spec starts no service: name the main one with --main")?,
        };
        if spec.service(&main).is_none() {
            anyhow::bail!("no service named {main:?} in {}", spec.path.display());
        }
        (spec, paths, main)
    } else {
        // One service from the command line, the way tini and dumb-init are used.
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let mut svc = Service::new("main", a.command, cwd.clone());
        svc.restart = RestartPolicy::No;
        let spec = Spec {
            path: std::path::PathBuf::new(),
            dir: cwd,
            project: Project::new("init"),
            services: vec![svc],
            export: crate::spec::ExportSettings::default(),
        };
        let home = crate::state::home_override().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("proctor-init-{}", std::process::id()))
        });
        (spec, Paths::new(home), "main".to_string())
    };
    let code = Arc::new(AtomicI32::new(0));
    let opts = Options {
        spec,
        paths,
        role: a.role,
        start: Vec::new(),
        echo: Some(Echo::for_stdout()),
        ready_fd: None,
        autostart: true,
        manager_socket: None,
        init: Some(Init {
            main,
            code: code.clone(),
        }),
    };
    run_blocking(opts)?;
    let code = code.load(Ordering::Relaxed);
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Plain `proctor init` with nothing to run (no command, no spec found) and not a
/// container's PID 1: someone starting a project, who gets the starter.
fn wants_starter(file: Option<&Path>, a: &InitArgs) -> bool {
    a.command.is_empty()
        && a.main.is_none()
        && a.role.is_none()
        && file.is_none()
        && std::process::id() != 1
        && spec_path(None).is_err()
}
