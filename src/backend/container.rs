//! The container backend: each service is a podman or docker container.
//!
//! proctor drives the runtime's CLI with argv (no shell): `<runtime> run --rm --name NAME
//! --cidfile FILE --label proctor.project=P --label proctor.service=S …`, attached, so the
//! `run` client is an ordinary child in its own process group whose stdout and stderr are
//! the container's, and whose exit status is the container's. A stop is `<runtime> stop -t
//! N` (which sends the stop signal, then SIGKILL after N seconds); if the grace period runs
//! out all the same, the client is killed and the container removed by the id in the
//! cidfile. The cidfile is
//! also the proof of ownership: a container proctor removes is always one whose id it
//! recorded itself, never merely one with a matching name.

use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::sync::mpsc;

use super::spawn::{spawn_group, GroupChild};
use super::tools::{find_program, output, output_async};
use super::{
    BackendError, Control, Ctl, Exit, Reporter, RunEvent, Runner, Running, Session, StartRequest,
    Started,
};
use crate::spec::{self, ContainerSettings, Runtime, Signal};
use crate::sys::child::{kill_group, Ended};

/// Runs services as containers.
#[derive(Debug, Clone)]
pub struct ContainerBackend {
    default_runtime: Option<Runtime>,
    state_dir: PathBuf,
}

/// The runtime's executable name.
pub fn program(rt: Runtime) -> &'static str {
    match rt {
        Runtime::Podman => "podman",
        Runtime::Docker => "docker",
    }
}

/// The runtimes installed here, podman first.
pub fn installed_runtimes() -> Vec<Runtime> {
    [Runtime::Podman, Runtime::Docker]
        .into_iter()
        .filter(|&rt| find_program(program(rt)).is_some())
        .collect()
}

/// The default container name of `service` in `project`: `proctor-<project>-<service>`.
pub fn default_name(project: &str, service: &str) -> String {
    format!("proctor-{project}-{service}")
}

/// Whether `rt` knows a container called `name` (running or not).
pub fn exists(rt: Runtime, name: &str) -> bool {
    let mut c = Command::new(program(rt));
    c.args(["container", "inspect", "--format", "{{.Id}}", name]);
    output(c, "container inspect").is_ok()
}

/// The command that opens a shell inside the running container `name`.
pub fn attach_command(rt: Runtime, name: &str) -> Command {
    let mut c = Command::new(program(rt));
    c.args(["exec", "-it", name, "sh"]);
    c
}

impl ContainerBackend {
    /// A backend using `default_runtime` (else auto-detect) with its files in `state_dir`.
    pub fn new(default_runtime: Option<Runtime>, state_dir: &Path) -> Self {
        Self {
            default_runtime,
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// The runtime `svc` uses: its own, the project's, else podman or docker, whichever is
    /// installed (podman first).
    pub fn runtime_for(
        &self,
        service: &str,
        settings: &ContainerSettings,
    ) -> Result<Runtime, BackendError> {
        match settings.runtime.or(self.default_runtime) {
            Some(rt) if find_program(program(rt)).is_some() => Ok(rt),
            Some(rt) => Err(BackendError::MissingTool {
                service: service.to_string(),
                tool: program(rt).to_string(),
                hint: "install it (apt-get install podman, or docker), or choose the other \
                       with runtime = \"podman\" | \"docker\"",
            }),
            None => installed_runtimes()
                .first()
                .copied()
                .ok_or_else(|| BackendError::NoRuntime {
                    service: service.to_string(),
                }),
        }
    }

    fn cidfile(&self, service: &str) -> PathBuf {
        self.state_dir
            .join("containers")
            .join(format!("{service}.cid"))
    }

    /// Removes a container left by an earlier run of `service` (a supervisor killed
    /// before it could clean up), found through the id it recorded.
    pub async fn remove_leftover(&self, rt: Runtime, service: &str) {
        let cidfile = self.cidfile(service);
        if let Ok(id) = std::fs::read_to_string(&cidfile) {
            let id = id.trim();
            if !id.is_empty() {
                let mut c = tokio::process::Command::new(program(rt));
                c.args(["rm", "-f", id]);
                if let Err(e) = output_async(&mut c, "rm").await {
                    tracing::debug!(service, "removing leftover container {id}: {e}");
                }
            }
        }
        let _ = std::fs::remove_file(&cidfile);
    }
}

/// The container name a service uses.
pub fn name_of(project: &str, svc: &spec::Service, settings: &ContainerSettings) -> String {
    settings
        .container_name
        .clone()
        .unwrap_or_else(|| default_name(project, &svc.name))
}

impl Runner for ContainerBackend {
    fn start(&self, req: StartRequest<'_>) -> Started {
        let svc = req.service;
        let spec::Backend::Container(settings) = &svc.backend else {
            return Started::Now(Err(BackendError::WrongBackend {
                service: svc.name.clone(),
                backend: "container",
            }));
        };
        let rt = match self.runtime_for(&svc.name, settings) {
            Ok(rt) => rt,
            Err(e) => return Started::Now(Err(e)),
        };
        let name = name_of(req.project, svc, settings);
        let cidfile = self.cidfile(&svc.name);
        let mut args: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            name.clone(),
            "--cidfile".into(),
            cidfile.to_string_lossy().into_owned(),
            "--label".into(),
            format!("proctor.project={}", req.project),
            "--label".into(),
            format!("proctor.service={}", svc.name),
            "--stop-signal".into(),
            svc.stop_signal.as_raw().to_string(),
        ];
        for (k, v) in svc
            .env
            .iter()
            .chain(req.extra_env.iter().map(|(k, v)| (k, v)))
        {
            args.push("--env".into());
            args.push(format!("{k}={v}"));
        }
        for v in &settings.volumes {
            args.push("--volume".into());
            args.push(v.clone());
        }
        for p in &settings.ports {
            args.push("--publish".into());
            args.push(p.clone());
        }
        args.push(settings.image.clone());
        args.extend(svc.command.iter().cloned());
        let (this, service, cwd, report) =
            (self.clone(), svc.name.clone(), svc.cwd.clone(), req.report);
        Started::Later(Box::pin(async move {
            if let Some(dir) = cidfile.parent() {
                crate::state::ensure_private_dir(dir).map_err(|source| BackendError::File {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            this.remove_leftover(rt, &service).await;
            let GroupChild {
                pid,
                output,
                pidfd,
                tracked,
                ..
            } = spawn_group(
                program(rt),
                &args,
                &cwd,
                std::iter::empty(),
                crate::sys::exec::ExecSetup::default(),
                None,
            )?;
            let (control, rx) = Control::new();
            let w = Watch {
                tracked,
                rt,
                name: name.clone(),
                pid,
                cidfile: cidfile.clone(),
            };
            Ok(Running {
                pid,
                output,
                control,
                watch: Box::pin(w.run(pidfd, rx, report)),
                tty: false,
                session: Some(Session::new(name, Some(cidfile))),
            })
        }))
    }
}

/// What the watcher of one container needs.
struct Watch {
    /// The `run` client is ours to reap until the watcher has.
    tracked: crate::sys::children::Tracked,
    rt: Runtime,
    name: String,
    /// The `run` client's pid (and process group).
    pid: u32,
    cidfile: PathBuf,
}

impl Watch {
    /// Watches the `run` client and carries out orders: the stop signal is the runtime's
    /// `stop` (it signals the container, which the client follows), a kill ends the client
    /// itself, and `Reap` reaps it and removes the container if it may be left behind.
    async fn run(
        self,
        pidfd: crate::sys::pidfd::AsyncPidFd,
        mut ctl: mpsc::UnboundedReceiver<Ctl>,
        report: Reporter,
    ) {
        let pid = self.pid;
        let mut killed = false;
        let mut exited = false;
        loop {
            tokio::select! {
                _ = pidfd.exited(), if !exited => {
                    exited = true;
                    report.report(RunEvent::Exited);
                }
                c = ctl.recv() => match c {
                    Some(Ctl::Signal(_, grace)) => {
                        // The container's own stop signal was set at `run`; the runtime
                        // escalates to SIGKILL after `-t` seconds itself.
                        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
                        let mut stop = tokio::process::Command::new(program(self.rt));
                        stop.args(["stop", "-t", &secs.to_string(), &self.name]);
                        tokio::task::spawn_local(async move {
                            let _ = output_async(&mut stop, "stop").await;
                        });
                    }
                    Some(Ctl::Deliver(sig)) => {
                        let mut kill = tokio::process::Command::new(program(self.rt));
                        kill.args(["kill", "--signal", &sig.as_raw().to_string(), &self.name]);
                        tokio::task::spawn_local(async move {
                            let _ = output_async(&mut kill, "kill").await;
                        });
                    }
                    Some(Ctl::Kill) => {
                        // The client is unreaped, so its group id is still ours.
                        killed = true;
                        let _ = kill_group(pid, Signal::KILL);
                    }
                    Some(Ctl::AdoptMain(_)) => {}
                    Some(Ctl::Reap) | None => break,
                },
            }
        }
        let _ = kill_group(pid, Signal::KILL);
        let ended = match pidfd.reap_async().await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(pid, "reaping failed: {e}");
                None
            }
        };
        drop(self.tracked);
        if killed || matches!(ended, Some(Ended::Signal(_)) | None) {
            // `run --rm` removes the container only when the client sees it exit.
            if let Ok(id) = std::fs::read_to_string(&self.cidfile) {
                let mut rm = tokio::process::Command::new(program(self.rt));
                rm.args(["rm", "-f", id.trim()]);
                let _ = output_async(&mut rm, "rm").await;
            }
        }
        let _ = std::fs::remove_file(&self.cidfile);
        report.report(RunEvent::Reaped(Exit::from_ended(ended, false)));
    }
}
