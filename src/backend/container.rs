//! The container backend: each service is a podman or docker container.
//!
//! proctor drives the runtime's CLI with argv (no shell): `<runtime> run --rm --name NAME
//! --cidfile FILE --label proctor.project=P --label proctor.service=S …`, attached, so the
//! `run` client is an ordinary child in its own process group whose stdout and stderr are
//! the container's, and whose exit status is the container's. A stop is `<runtime> stop -t
//! N` (which sends the stop signal, then SIGKILL after N seconds); if even that hangs, the
//! client is killed and the container removed by the id in the cidfile. The cidfile is
//! also the proof of ownership: a container proctor removes is always one whose id it
//! recorded itself, never merely one with a matching name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::process::{spawn_group, GroupChild};
use super::tools::{find_program, output, output_async};
use super::{Backend, BackendError, Exit, Running, Session, StartRequest, StopCmd, StopHandle};
use crate::spec::{self, ContainerSettings, Runtime, Signal};
use crate::sys::child::{kill_group, Ended};

/// How long past the stop timeout `<runtime> stop` may take before the client is killed.
const STOP_MARGIN: Duration = Duration::from_secs(10);

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
    pub fn remove_leftover(&self, rt: Runtime, service: &str) {
        let cidfile = self.cidfile(service);
        if let Ok(id) = std::fs::read_to_string(&cidfile) {
            let id = id.trim();
            if !id.is_empty() {
                let mut c = Command::new(program(rt));
                c.args(["rm", "-f", id]);
                if let Err(e) = output(c, "rm") {
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

impl Backend for ContainerBackend {
    fn start(&self, req: StartRequest<'_>) -> Result<Running, BackendError> {
        let svc = req.service;
        let spec::Backend::Container(settings) = &svc.backend else {
            return Err(BackendError::WrongBackend {
                service: svc.name.clone(),
                backend: "container",
            });
        };
        let rt = self.runtime_for(&svc.name, settings)?;
        let name = name_of(req.project, svc, settings);
        let cidfile = self.cidfile(&svc.name);
        if let Some(dir) = cidfile.parent() {
            crate::state::ensure_private_dir(dir).map_err(|source| BackendError::File {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        self.remove_leftover(rt, &svc.name);
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
        let GroupChild { pid, output, pidfd } =
            spawn_group(program(rt), &args, &svc.cwd, std::iter::empty())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let w = Watch {
            rt,
            name: name.clone(),
            pid,
            cidfile: cidfile.clone(),
        };
        Ok(Running {
            pid,
            output,
            stop: StopHandle(tx),
            watch: Box::pin(w.run(pidfd, rx, req.output_closed)),
            tty: false,
            session: Some(Session {
                name,
                id_file: Some(cidfile),
            }),
        })
    }
}

/// What the watcher of one container needs.
struct Watch {
    rt: Runtime,
    name: String,
    /// The `run` client's pid (and process group).
    pid: u32,
    cidfile: PathBuf,
}

impl Watch {
    async fn run(
        self,
        pidfd: crate::sys::pidfd::AsyncPidFd,
        mut stop_rx: mpsc::UnboundedReceiver<StopCmd>,
        mut output_closed: mpsc::Receiver<()>,
    ) -> Exit {
        let pid = self.pid;
        let mut stopping = false;
        let mut timed_out = false;
        let mut killed = false;
        let mut exited = false;
        let mut deadline: Option<Instant> = None;
        loop {
            let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
            tokio::select! {
                r = pidfd.exited(), if !exited => {
                    exited = true;
                    if r.is_err() || !stopping || killed {
                        break;
                    }
                }
                Some(cmd) = stop_rx.recv(), if !stopping => {
                    stopping = true;
                    let secs = cmd.timeout.as_secs() + u64::from(cmd.timeout.subsec_nanos() > 0);
                    let mut stop = tokio::process::Command::new(program(self.rt));
                    stop.args(["stop", "-t", &secs.to_string(), &self.name]);
                    // The runtime sends the stop signal and escalates to SIGKILL itself;
                    // the attached client exits once the container has.
                    tokio::spawn(async move { output_async(&mut stop).await });
                    deadline = Some(Instant::now() + cmd.timeout);
                }
                () = sleep, if deadline.is_some() && !killed => {
                    if timed_out {
                        // The runtime did not manage either: end the client ourselves and
                        // remove the container below.
                        killed = true;
                        let _ = kill_group(pid, Signal::KILL);
                        if exited {
                            break;
                        }
                    } else {
                        timed_out = true;
                        deadline = Some(Instant::now() + STOP_MARGIN);
                    }
                }
                // Exited during a stop: the output is the container's, so once it closes
                // there is nothing left to wait for.
                None = output_closed.recv(), if exited => break,
            }
        }
        // The client is a zombie (or about to be): its group id is still ours.
        let _ = kill_group(pid, Signal::KILL);
        let ended = match pidfd.reap_async().await {
            Ok(ended) => ended,
            Err(e) => {
                tracing::warn!(pid, "reaping failed: {e}");
                None
            }
        };
        if killed || matches!(ended, Some(Ended::Signal(_)) | None) {
            // `run --rm` removes the container only when the client sees it exit.
            if let Ok(id) = std::fs::read_to_string(&self.cidfile) {
                let mut rm = tokio::process::Command::new(program(self.rt));
                rm.args(["rm", "-f", id.trim()]);
                let _ = output_async(&mut rm).await;
            }
        }
        let _ = std::fs::remove_file(&self.cidfile);
        // The client is gone, so its pipes close: let the reader take the container's last
        // lines before its exit is reported (bounded, in case something else holds them).
        let _ = tokio::time::timeout(Duration::from_secs(1), output_closed.recv()).await;
        // A stop escalated by the runtime still counts as timed out.
        let timed_out = timed_out && (killed || ended != Some(Ended::Code(0)));
        Exit::from_ended(ended, timed_out)
    }
}
