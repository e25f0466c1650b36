//! Spawning a native child as the leader of a process group of its own: straight into its
//! cgroup leaf with `clone3` where it has one, else with std's `Command` (posix_spawn).

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{BackendError, Stream};
use crate::spec::Signal;
use crate::sys::child::kill_group;
use crate::sys::pidfd::AsyncPidFd;

/// A native child spawned as the leader of its own process group.
pub(crate) struct GroupChild {
    /// Its pid, which is also its process group id.
    pub(crate) pid: u32,
    /// Its stdout and stderr pipes.
    pub(crate) output: Vec<(Stream, OwnedFd)>,
    /// Owns the child from here on: readable once it exits, reaps it.
    pub(crate) pidfd: AsyncPidFd,
    /// Marks it as ours to reap until whoever holds this has reaped it.
    pub(crate) tracked: crate::sys::children::Tracked,
    /// Whether a child cloned by hand reached its exec, still to be read (`None`: std's
    /// spawn has told already).
    pub(crate) verdict: Option<crate::sys::clone_into::Verdict>,
}

/// Spawns `program args` in `cwd` with `env` added, as a process group of its own, stdin
/// from /dev/null and stdout/stderr piped. Must run inside the supervisor's runtime.
pub(crate) fn spawn_group<'a>(
    program: &str,
    args: &[String],
    cwd: &Path,
    env: impl Iterator<Item = (&'a str, &'a str)>,
    setup: crate::sys::exec::ExecSetup,
    into: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<GroupChild, BackendError> {
    let env: Vec<(&str, &str)> = env.collect();
    // Looked up here rather than by the child's `execvp`, which tries every `$PATH` entry
    // with a full failed `execve` each while the supervisor waits on the vfork: with a
    // long `$PATH`, that doubled the cost of a spawn. argv[0] stays as written.
    let resolved = (!program.contains('/'))
        .then(|| {
            let path = env.iter().rev().find(|(k, _)| *k == "PATH").map_or_else(
                || std::env::var_os("PATH"),
                |(_, v)| Some(std::ffi::OsString::from(v)),
            )?;
            super::tools::find_on_path(program, &path, cwd)
        })
        .flatten();
    if let Some(cgroup) = into {
        match spawn_into(
            program,
            resolved.as_deref(),
            args,
            cwd,
            &env,
            cgroup,
            &setup,
        ) {
            Ok(child) => return Ok(child),
            // A kernel without clone3 or CLONE_INTO_CGROUP: the child moves itself below,
            // and every later one too.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG)
                ) =>
            {
                crate::sys::clone_into::unavailable();
                tracing::debug!("clone into the cgroup unavailable ({e}); moving the child");
            }
            Err(source) => {
                return Err(BackendError::Spawn {
                    program: program.to_string(),
                    cwd: cwd.to_path_buf(),
                    source: crate::sys::limits::explain(source),
                })
            }
        }
    }
    let mut cmd = match &resolved {
        Some(path) => {
            let mut c = Command::new(path);
            c.arg0(program);
            c
        }
        None => Command::new(program),
    };
    // Most services run where the detached supervisor already is; see `is_current_dir`.
    if !crate::util::is_current_dir(cwd) {
        cmd.current_dir(cwd);
    }
    cmd.args(args)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::sys::exec::install(&mut cmd, setup);
    let mut child = cmd.spawn().map_err(|source| BackendError::Spawn {
        program: program.to_string(),
        cwd: cwd.to_path_buf(),
        source: crate::sys::limits::explain(source),
    })?;
    let pid = child.id();
    let mut output = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        output.push((Stream::Out, OwnedFd::from(out)));
    }
    if let Some(err) = child.stderr.take() {
        output.push((Stream::Err, OwnedFd::from(err)));
    }
    let pidfd = AsyncPidFd::open(pid).map_err(|source| {
        // Without a pidfd we cannot watch it; do not leave it running unowned.
        let _ = kill_group(pid, Signal::KILL);
        let _ = child.wait();
        BackendError::Os {
            what: "watching the new process",
            source: crate::sys::limits::explain(source),
        }
    })?;
    // The pidfd owns the child from here on: std's handle must not reap it.
    drop(child);
    Ok(GroupChild {
        pid,
        output,
        pidfd,
        tracked: crate::sys::children::Tracked::new(pid),
        verdict: None,
    })
}

/// [`spawn_group`] as one `clone3` straight into the cgroup `into` (see
/// [`crate::sys::clone_into`]): the same argv, environment (ours plus `env`), directory,
/// descriptors and setup as the std path.
fn spawn_into(
    program: &str,
    resolved: Option<&Path>,
    args: &[String],
    cwd: &Path,
    env: &[(&str, &str)],
    into: std::os::fd::BorrowedFd<'_>,
    setup: &crate::sys::exec::ExecSetup,
) -> std::io::Result<GroupChild> {
    use std::ffi::{OsStr, OsString};
    let mut vars: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (k, v) in env {
        vars.insert(k.into(), v.into());
    }
    let vars: Vec<(&OsStr, &OsStr)> = vars
        .iter()
        .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
        .collect();
    let argv: Vec<&OsStr> = std::iter::once(OsStr::new(program))
        .chain(args.iter().map(OsStr::new))
        .collect();
    let setup = crate::sys::exec::with_child_nofile(crate::sys::exec::ExecSetup {
        cgroup_procs: None,
        ..setup.clone()
    });
    let path = resolved.unwrap_or_else(|| Path::new(program));
    let dir = (!crate::util::is_current_dir(cwd)).then_some(cwd);
    let child = crate::sys::clone_into::spawn(path, &argv, &vars, dir, into, &setup)?;
    let pid = child.pid;
    let pidfd = AsyncPidFd::from_owned(child.pidfd).inspect_err(|_| {
        let _ = kill_group(pid, Signal::KILL);
    })?;
    Ok(GroupChild {
        pid,
        output: vec![(Stream::Out, child.stdout), (Stream::Err, child.stderr)],
        pidfd,
        tracked: crate::sys::children::Tracked::new(pid),
        verdict: Some(child.verdict),
    })
}
