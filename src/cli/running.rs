//! Finding the supervisor a verb talks to, even when the spec on disk cannot say where it is.
//!
//! A project's state directory comes from its spec (`[project] name`, `state_dir`, the
//! file's path) unless `$PROCTOR_HOME` fixes it. The file may change under a running
//! supervisor: an edit can make it invalid (a typo, a deleted `cwd`) or rename the project.
//! Neither may lock the user out, so every supervisor records which file it runs
//! (`state::record_spec`): the verbs that talk to a running supervisor (`status`, `logs`,
//! `stop`, `down`, `restart`, `wait`, `signal`, `reload`) find it from the file's path
//! alone, say what is wrong with the file, and carry on; `up` and `start` refuse to start a
//! second supervisor for a file that one already runs under another name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::deadline::ANSWER;
use crate::cli::{project, spec_path, Printer};
use crate::control::proto::Command;
use crate::control::{Client, ControlError};
use crate::spec::{adhoc, Spec};
use crate::state::{self, Paths};

/// The supervisor a verb talks to (running or not), and the spec on disk if it was read.
pub(crate) struct Target {
    /// Its state paths.
    pub(crate) paths: Paths,
    /// The spec on disk with the ad-hoc services, when it was read and is valid.
    pub(crate) spec: Option<Spec>,
    /// Why the spec on disk was set aside: it is invalid (with every `file:line:col`).
    invalid: Option<String>,
    /// The file now names another project than the one its running supervisor runs.
    renamed: Option<String>,
}

impl Target {
    /// Says on stderr what was found wrong with the spec on disk, if anything.
    pub(crate) fn warn(&self, p: &Printer) {
        if let Some(w) = &self.invalid {
            p.note(w);
        }
        self.warn_renamed(p);
    }

    /// Only the rename; for verbs whose supervisor re-reads the file and reports its errors
    /// itself (`reload`, `restart`).
    pub(crate) fn warn_renamed(&self, p: &Printer) {
        if let Some(w) = &self.renamed {
            p.note(w);
        }
    }
}

/// Finds the supervisor of the spec file named by `file` (or found from the current
/// directory). Without `need_spec`, a file unchanged since its supervisor loaded it is not
/// parsed again (`status` stays cheap); the spec is then `None`.
pub(crate) fn target(file: Option<&Path>, need_spec: bool) -> Result<Target> {
    let fixed = state::home_override().map(Paths::new);
    let path = match spec_path(file) {
        Ok(path) => std::path::absolute(&path).unwrap_or(path),
        // No spec file at all: a daemon embedded with the library under `$PROCTOR_HOME`,
        // or the per-user default project of `proctor run`.
        Err(_) => {
            return match fixed {
                Some(paths) => Ok(plain(paths, None)),
                None => project(file).map(|(spec, paths)| plain(paths, Some(spec))),
            };
        }
    };
    let recorded = fixed.clone().or_else(|| state::indexed_dir(&path));
    if let Some(paths) = recorded
        .as_ref()
        .filter(|p| !need_spec && state::loaded_unchanged(p, &path))
    {
        return Ok(plain(paths.clone(), None));
    }
    match Spec::load(&path) {
        Ok(mut spec) => {
            let paths = fixed.unwrap_or_else(|| Paths::for_spec(&spec));
            adhoc::merge(&mut spec, &adhoc::load(&paths.root));
            match recorded.filter(|r| *r != paths && running_in(r) && !running_in(&paths)) {
                Some(old) => {
                    let renamed = Some(format!(
                        "warning: {} changed its [project] name or state_dir while its supervisor \
                         runs (state dir {}); acting on that supervisor\n\
                         hint: `proctor down`, then `proctor up` runs project {:?} as the file says now",
                        path.display(),
                        old.root.display(),
                        spec.project.name,
                    ));
                    Ok(Target {
                        paths: old,
                        spec: Some(spec),
                        invalid: None,
                        renamed,
                    })
                }
                None => Ok(plain(paths, Some(spec))),
            }
        }
        Err(errs) => {
            let Some(paths) = recorded else {
                return Err(anyhow::anyhow!("invalid spec:\n{errs}"));
            };
            let invalid = Some(format!(
                "warning: the spec on disk is invalid (a running supervisor keeps the one it loaded; \
                 state dir {}):\n{errs}\nhint: fix the file, then `proctor reload` applies it",
                paths.root.display()
            ));
            Ok(Target {
                paths,
                spec: None,
                invalid,
                renamed: None,
            })
        }
    }
}

fn plain(paths: Paths, spec: Option<Spec>) -> Target {
    Target {
        paths,
        spec,
        invalid: None,
        renamed: None,
    }
}

/// Whether a supervisor may be listening in `paths` (its socket is there; a supervisor
/// removes it on its way out, and one that was killed leaves it to the next).
fn running_in(paths: &Paths) -> bool {
    paths.control_socket().exists()
}

/// Refuses to start a supervisor for `spec` in `paths` while another one runs the same
/// file in another state directory (the file's `[project] name` or `state_dir` changed
/// while it ran): a second copy would start every service twice, ports and data and all.
pub(crate) fn refuse_second_copy(spec: &Spec, paths: &Paths) -> Result<()> {
    if state::home_override().is_some() || spec.path.as_os_str().is_empty() {
        return Ok(());
    }
    let Some(other) = state::indexed_dir(&spec.path).filter(|o| o != paths) else {
        return Ok(());
    };
    let mut client = match Client::connect(&other.control_socket()) {
        Ok(c) => c,
        Err(ControlError::NotRunning { .. }) => return Ok(()),
        Err(e) => return Err(e).context(already(&spec.path, &other.root)),
    };
    client.set_timeout(Some(ANSWER))?;
    let running = client
        .request(Command::Status {
            services: Vec::new(),
        })
        .with_context(|| already(&spec.path, &other.root))?;
    let now = if running.project == spec.project.name {
        format!("keeps its state in {}", paths.root.display())
    } else {
        format!("names the project {:?}", spec.project.name)
    };
    anyhow::bail!(
        "a supervisor (pid {}) already runs {} as project {:?} (state dir {}); the file now {now}, \
         and a second supervisor would start every service twice\n\
         hint: `proctor down` stops project {:?} (it finds it through this file), then `proctor up` \
         starts the project as the file says now; or undo the change and `proctor reload`",
        running.supervisor_pid,
        spec.path.display(),
        running.project,
        other.root.display(),
        running.project,
    )
}

fn already(spec: &Path, dir: &Path) -> String {
    format!(
        "a supervisor of {} seems to run in {}",
        spec.display(),
        dir.display()
    )
}

/// The services a running supervisor knows, in its order; `None` if none answers.
pub(crate) fn supervisor_services(paths: &Paths) -> Option<Vec<String>> {
    let mut c = Client::connect(&paths.control_socket()).ok()?;
    c.set_timeout(Some(ANSWER)).ok()?;
    let reply = c
        .request(Command::Status {
            services: Vec::new(),
        })
        .ok()?;
    Some(reply.services.into_iter().map(|s| s.name).collect())
}

/// The services that have a log file in `dir` (`NAME.log`), sorted.
pub(crate) fn logged_services(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = PathBuf::from(e.file_name());
            (name.extension()? == "log")
                .then(|| name.file_stem()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    names.sort();
    names
}
