//! The native process backend: each service is a process group of its own.
//!
//! Spawned as the leader of a process group (see [`super::spawn`]), stdin from /dev/null,
//! stdout and stderr through pipes. The exit is seen through a pidfd; the leader
//! is reaped only after the final SIGKILL to its group, so the group id stays ours.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use tokio::sync::mpsc;

use super::{
    BackendError, Control, Ctl, Exit, Hold, Reporter, RunEvent, Runner, Running, StartRequest,
    Started,
};
use crate::spec::Signal;
use crate::sys::child::{kill_group, Ended};
use crate::sys::pidfd::{exited_of, AsyncPidFd};

use super::spawn::{spawn_group, GroupChild};

/// Runs services as native child processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessBackend;

impl Runner for ProcessBackend {
    fn start(&self, req: StartRequest<'_>) -> Started {
        let (program, cwd) = (
            req.service.command.first().cloned().unwrap_or_default(),
            req.service.cwd.clone(),
        );
        let batch = req.batch;
        let (mut child, finish) = match start(req) {
            Ok(started) => started,
            Err(e) => return Started::Now(Err(e)),
        };
        let Some(verdict) = child.verdict.take() else {
            return Started::Now(Ok(finish(child)));
        };
        let failed = move |source| BackendError::Spawn {
            program: program.clone(),
            cwd: cwd.clone(),
            source: crate::sys::limits::explain(source),
        };
        if !batch {
            // Waiting frees this CPU for the child, which then runs at once: a restart's
            // replacement starts sooner than if the loop went on first.
            return Started::Now(match verdict.wait_blocking(&child.pidfd) {
                Ok(()) => Ok(finish(child)),
                Err(source) => Err(failed(source)),
            });
        }
        // Cloned, not exec'd yet: the loop goes on (with the next spawn) meanwhile.
        Started::Later(Box::pin(async move {
            match verdict.wait().await {
                Ok(()) => Ok(finish(child)),
                Err(source) => {
                    // It has exited (or is about to): reap it, then say why.
                    let GroupChild {
                        pidfd,
                        tracked: _tracked,
                        ..
                    } = child;
                    let _ = pidfd.reap_async().await;
                    Err(failed(source))
                }
            }
        }))
    }
}

/// Makes the [`Running`] of a spawned child once it has exec'd.
type Finish = Box<dyn FnOnce(GroupChild) -> Running>;

fn start(req: StartRequest<'_>) -> Result<(GroupChild, Finish), BackendError> {
    let svc = req.service;
    let (program, args) = svc
        .command
        .split_first()
        .ok_or(BackendError::EmptyCommand)?;
    let cgroup = match &req.hold {
        Hold::Cgroup(dir) => {
            let procs =
                crate::sys::cgroup::open_procs(dir).map_err(|source| BackendError::File {
                    path: dir.join("cgroup.procs"),
                    source,
                })?;
            let events = crate::sys::cgroup::open_events(dir)
                .and_then(crate::sys::cgroup::EventsFd::new)
                .map_err(|source| BackendError::File {
                    path: dir.join("cgroup.events"),
                    source,
                })?;
            // A leaf we killed and could not make anew takes children the slow way, as does
            // a kernel that cannot clone into a cgroup.
            let into = if crate::sys::clone_into::available()
                && !crate::sys::cgroup::was_killed(dir)
            {
                let flags = rustix::fs::OFlags::RDONLY
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC;
                let fd = rustix::fs::open(dir, flags, rustix::fs::Mode::empty()).map_err(|e| {
                    BackendError::File {
                        path: dir.clone(),
                        source: e.into(),
                    }
                })?;
                Some(fd)
            } else {
                None
            };
            Some((dir.clone(), procs, events, into))
        }
        Hold::Group | Hold::Subreaper(_) => None,
    };
    let adopted = match &req.hold {
        Hold::Subreaper(name) => Some(name.clone()),
        _ => None,
    };
    let child = spawn_group(
        program,
        args,
        &svc.cwd,
        svc.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(req.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        {
            let mut setup = exec_setup(svc)?;
            // Open until the spawn returns, which is when the child has used it.
            setup.cgroup_procs = cgroup.as_ref().map(|(_, procs, _, _)| procs.as_raw_fd());
            setup
        },
        cgroup
            .as_ref()
            .and_then(|(_, _, _, into)| into.as_ref())
            .map(std::os::fd::AsFd::as_fd),
    )?;
    let cgroup = cgroup.map(|(dir, _, events, _)| Cgroup { dir, events });
    let report = req.report;
    let finish = move |child: GroupChild| {
        let (control, rx) = Control::new();
        Running {
            pid: child.pid,
            output: child.output,
            control,
            watch: Box::pin(watch(
                Leader {
                    pid: child.pid,
                    pidfd: child.pidfd,
                    tracked: child.tracked,
                },
                rx,
                report,
                Escape { cgroup, adopted },
            )),
            tty: false,
            session: None,
        }
    };
    Ok((child, Box::new(finish)))
}

/// What the child sets up before it execs, from `svc`'s identity and limits.
fn exec_setup(svc: &crate::spec::Service) -> Result<crate::sys::exec::ExecSetup, BackendError> {
    use crate::sys::exec::{lookup_group, lookup_user, resource, ExecSetup};
    let id = &svc.identity;
    let fail = |why: String| BackendError::Identity {
        service: svc.name.clone(),
        why,
    };
    let mut setup = ExecSetup {
        rlimits: id
            .rlimits
            .iter()
            .filter_map(|l| resource(l.resource).map(|r| (r, l.soft, l.hard)))
            .collect(),
        nice: id.nice,
        umask: id.umask,
        ..ExecSetup::default()
    };
    if id.user.is_some() || id.group.is_some() || !id.supplementary_groups.is_empty() {
        if !rustix::process::getuid().is_root() {
            return Err(fail(format!(
                "`user`, `group` and `supplementary_groups` need a supervisor running as root; this one runs as uid {}",
                rustix::process::getuid().as_raw()
            )));
        }
        let (uid, user_gid) = match &id.user {
            Some(u) => lookup_user(u).map_err(fail)?,
            None => (0, 0),
        };
        let gid = match &id.group {
            Some(g) => lookup_group(g).map_err(fail)?,
            None => user_gid,
        };
        let groups = id
            .supplementary_groups
            .iter()
            .map(|g| lookup_group(g).map(rustix::process::Gid::from_raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        setup.ids = Some((uid, gid, groups));
    }
    Ok(setup)
}

/// Watches the leader (or the main process it named with `MAINPID=`) and carries out
/// orders; on `Reap`, kills what is left of the group and reaps the leader.
async fn watch(
    leader: Leader,
    mut ctl: mpsc::UnboundedReceiver<Ctl>,
    report: Reporter,
    escape: Escape,
) {
    let Leader {
        pid,
        pidfd,
        tracked: _tracked,
    } = leader;
    // A forking daemon's leader exits 0 once its main process runs: from then on the service
    // is that process. The leader is reaped then, which is safe for the final group kill
    // because the main process still holds the group id.
    let mut leader = Some(pidfd);
    let mut ended: Option<Ended> = None;
    let mut main: Option<AsyncPidFd> = None;
    let mut exited = false;
    let mut drained = false;
    let mut signalled = false;
    let cgroup = escape.cgroup.as_ref();
    loop {
        tokio::select! {
            ready = exited_of(leader.as_ref()), if !exited && leader.is_some() => {
                if ready.is_ok() && main.is_some() && !signalled {
                    if let Some(l) = leader.take() {
                        ended = l.reap_async().await.ok().flatten();
                    }
                    if matches!(ended, Some(Ended::Code(0))) {
                        // Handed over: the service is now its main process.
                        continue;
                    }
                }
                exited = true;
                report.report(RunEvent::Exited);
            }
            _ = exited_of(main.as_ref()), if !exited && leader.is_none() => {
                // Not our child: its exit status is unknown, reported as `ended`.
                ended = None;
                exited = true;
                report.report(RunEvent::Exited);
            }
            r = emptied(cgroup), if exited && !drained => {
                drained = true;
                if r.is_ok() {
                    report.report(RunEvent::Drained);
                }
            }
            c = ctl.recv() => match c {
                Some(Ctl::AdoptMain(p)) => {
                    if main.is_none() && leader.is_some() && p != pid {
                        match AsyncPidFd::open(p) {
                            Ok(fd) => main = Some(fd),
                            Err(e) => tracing::warn!(pid = p, "cannot follow the main process: {e}"),
                        }
                    }
                }
                Some(Ctl::Signal(sig, _)) => {
                    signalled = true;
                    escape.send(pid, sig);
                }
                Some(Ctl::Deliver(sig)) => escape.send(pid, sig),
                Some(Ctl::Kill) => escape.kill(pid),
                Some(Ctl::Reap) | None => break,
            },
        }
    }
    // While the leader is unreaped its pid and group id are still ours: no straggler of the
    // group survives, and the signal cannot hit a stranger. After a hand-over the main
    // process held the group id until a moment ago; the id could only be reused once every
    // member is gone and reaped, which this call races by microseconds at most.
    escape.kill(pid);
    if let (Some(cg), false) = (cgroup, drained) {
        // With a cgroup, the run is over only once nothing of it is left.
        let _ = cg.events.emptied(&cg.dir).await;
    }
    if let Some(cg) = cgroup.filter(|cg| crate::sys::cgroup::was_killed(&cg.dir)) {
        // Made anew by the next start, so its children can be cloned straight into it.
        if let Err(e) = crate::sys::cgroup::remove(&cg.dir) {
            tracing::debug!(dir = %cg.dir.display(), "keeping the killed leaf: {e}");
        }
    }
    if let Some(l) = leader {
        ended = match l.reap_async().await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(pid, "reaping failed: {e}");
                None
            }
        };
    }
    report.report(RunEvent::Reaped(Exit::from_ended(ended, false)));
}

/// A service's first process, ours to reap.
struct Leader {
    pid: u32,
    pidfd: AsyncPidFd,
    tracked: crate::sys::children::Tracked,
}

/// Where a service's processes may be besides its process group.
struct Escape {
    /// Its cgroup: all of them.
    cgroup: Option<Cgroup>,
    /// The service's name, when orphans of its processes are re-parented to us.
    adopted: Option<String>,
}

impl Escape {
    /// Sends `sig` to every process of the service led by `pid`.
    fn send(&self, pid: u32, sig: Signal) {
        if let Some(cg) = &self.cgroup {
            // Every process of the service, wherever it went; its group is in there too.
            match crate::sys::cgroup::signal_all(&cg.dir, sig) {
                Ok(()) => return,
                // Out of descriptors, say: the group at least, which takes none.
                Err(e) => tracing::warn!(
                    dir = %cg.dir.display(),
                    "cannot list the service's processes ({e}); signalling its process group"
                ),
            }
        }
        // Unreaped, the leader keeps the group id ours.
        if let Err(e) = kill_group(pid, sig) {
            tracing::warn!(pid, "sending {sig:?} failed: {e}");
        }
        if let Some(name) = &self.adopted {
            for orphan in crate::sys::children::adopted_of(name) {
                crate::sys::children::signal_adopted(orphan, sig);
            }
        }
    }

    /// SIGKILLs every process of the service led by `pid`.
    fn kill(&self, pid: u32) {
        if let Some(cg) = self
            .cgroup
            .as_ref()
            .filter(|cg| crate::sys::cgroup::populated(&cg.dir))
        {
            if let Err(e) = crate::sys::cgroup::kill_all(&cg.dir) {
                tracing::warn!(dir = %cg.dir.display(), "cgroup.kill failed: {e}");
            }
        }
        self.send(pid, Signal::KILL);
    }
}

/// The service's cgroup, and its `cgroup.events` to see it empty.
pub(crate) struct Cgroup {
    dir: PathBuf,
    events: crate::sys::cgroup::EventsFd,
}

/// Resolves once the cgroup is empty; at once without one (the process group's end is seen
/// through the output pipes then).
async fn emptied(cgroup: Option<&Cgroup>) -> std::io::Result<()> {
    match cgroup {
        Some(cg) => cg.events.emptied(&cg.dir).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// Issue 18: out of descriptors, a service's cgroup cannot be listed; the stop signal
    /// must still reach its process group (which needs no descriptor), or the service
    /// outlives a stop that never ends. Found as a supervisor left running by a CI run.
    #[tokio::test]
    async fn a_cgroup_that_cannot_be_listed_still_gets_its_group_signalled() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // A directory without `cgroup.procs` reads as that listing failing.
        let (events, _w) = rustix::pipe::pipe().expect("pipe");
        let escape = Escape {
            cgroup: Some(Cgroup {
                dir: tmp.path().to_path_buf(),
                events: crate::sys::cgroup::EventsFd::new(events).expect("register"),
            }),
            adopted: None,
        };
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .process_group(0)
            .spawn()
            .expect("sleep");
        // Woken by the child's exit itself, within a deadline.
        let exited = AsyncPidFd::open(child.id()).expect("pidfd");
        escape.send(child.id(), Signal::TERM);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), exited.exited()).await;
        if ended.is_err() {
            let _ = child.kill();
        }
        let status = child.wait().ok();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGTERM));
    }
}
