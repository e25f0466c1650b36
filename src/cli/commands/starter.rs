//! `proctor init --new` (and `proctor init` where there is no spec): a commented starter
//! `proctor.toml` in the current directory.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::Printer;
use crate::spec;

/// Files `proctor import` reads, looked for beside the new spec.
const IMPORTABLE: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
    "Procfile",
    "ecosystem.config.json",
    "supervisord.conf",
];

/// The starter: one service that runs, and the keys used most, commented.
const STARTER: &str = r#"# proctor.toml: the services of this project.
#   proctor validate    check this file (every error with file:line:col)
#   proctor up          run the services in the foreground (Ctrl-C stops them)
#   proctor up -d       in the background; then proctor status, logs -f, down
# Every key is described in proctor's README, under "A spec".

[project]
# name = "shop"                    # default: this directory's name
# roles = ["web", "worker"]        # `up --role web` starts services with autostart = ["web"]

[service.app]
# The program and its arguments; a string is split like a shell would split it.
command = ["sh", "-c", "echo hello from proctor; exec sleep 86400"]
# cwd = "."                        # default: this file's directory
# env = { RUST_LOG = "info" }
# env_file = [".env"]              # later files win; `env` wins over files
# restart = "on-failure"           # "no" | "on-failure" | "always"
# stop_timeout = "10s"             # after stop_signal (TERM), then SIGKILL
# ready = { tcp = "127.0.0.1:8080" }  # or http = "http://…", exec = […], log = "regex", notify = true
# depends_on = { db = "ready" }    # "started" | "ready" | "completed"

# [service.db]
# backend = "container"            # "process" (default) | "tmux" | "container"
# image = "docker.io/library/postgres:16"
# ports = ["5432:5432"]
# volumes = ["./data:/var/lib/postgresql/data"]
# env = { POSTGRES_PASSWORD = "example" }
"#;

/// Writes the starter into `dir` (never over an existing spec) and points at any file
/// `proctor import` could read instead.
pub(crate) fn write(dir: &Path, p: &Printer) -> Result<ExitCode> {
    use std::io::Write as _;
    let path = dir.join(spec::FILE_NAME);
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} already exists; proctor init leaves it as it is",
                path.display()
            )
        }
        other => other.with_context(|| format!("cannot create {}", path.display()))?,
    };
    f.write_all(STARTER.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    p.note(&format!(
        "wrote a starter {}: edit it, then `proctor up`",
        path.display()
    ));
    for name in IMPORTABLE {
        if dir.join(name).is_file() {
            p.note(&format!(
                "found {name}: to take its services instead, run\n    proctor import --force {name}"
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
