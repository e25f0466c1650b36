//! The tmux backend: each service runs in a tmux session a person can attach to.
//!
//! Sessions live on a project-private server (`tmux -S <state>/tmux.sock`, no config
//! file, so a user's `~/.tmux.conf` cannot change how panes behave). A start is one tmux
//! invocation that creates the session and, before the server reads any output, sets
//! `remain-on-exit` (so the exit status survives the pane), a `pane-died` hook that wakes a
//! `wait-for` channel, and `pipe-pane` into a FIFO the supervisor reads: logs land in the
//! normal sink while the pane still shows everything.
//!
//! Nothing user-supplied reaches tmux's own argument parser (which splits on a trailing
//! `;`): the pane runs `/bin/sh <script>`, a file proctor writes with every word quoted,
//! which `exec`s the command (so the pane's pid is the service's pid). Exit is seen through
//! a pidfd on the pane's pid; the status is read from `#{pane_dead_status}` once the hook
//! has fired.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::group::Members;
use super::tools::{find_program, is_shell_identifier, output, output_async, sh_quote};
use super::{
    BackendError, Control, Ctl, Exit, Reporter, RunEvent, Runner, Running, Session, StartRequest,
    Started,
};
use crate::backend::Stream;
use crate::spec::{Service, Signal};
use crate::sys::child::{kill_group, Ended};
use crate::sys::pidfd::{exited_of, AsyncPidFd};

/// How long to wait for tmux to record a dead pane's status after the pidfd fired.
const STATUS_WAIT: Duration = Duration::from_secs(3);

/// How long one wait on the pane-died channel lasts before tmux is asked again.
const STATUS_SLICE: Duration = Duration::from_millis(200);

/// Runs services in sessions on the project's private tmux server.
#[derive(Debug, Clone)]
pub struct TmuxBackend {
    binary: String,
    state_dir: PathBuf,
}

/// The tmux session name of `service` in `project`: `proctor-<project>-<service>`, with
/// `.` written as `,` because tmux itself turns `.` (a target separator) into `_`, which
/// would make `web.api` and `web_api` the same session. `,` is never in a valid name.
pub fn session_name(project: &str, service: &str) -> String {
    format!("proctor-{project}-{service}").replace('.', ",")
}

/// An exact-match tmux target for a session (`=NAME`), so `web` never means `web2`.
fn target(session: &str) -> String {
    format!("={session}")
}

/// An exact-match target for a session's (only) window.
fn window_target(session: &str) -> String {
    format!("={session}:")
}

impl TmuxBackend {
    /// A backend driving `binary` (default `tmux`) with its socket in `state_dir`.
    pub fn new(binary: Option<&str>, state_dir: &Path) -> Self {
        Self {
            binary: binary.unwrap_or("tmux").to_string(),
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// The project's private tmux socket.
    pub fn socket(&self) -> PathBuf {
        self.state_dir.join("tmux.sock")
    }

    /// Whether the tmux binary can be found.
    pub fn installed(&self) -> bool {
        find_program(&self.binary).is_some()
    }

    /// A tmux command aimed at the project's server. `TMUX` is removed so that running
    /// proctor from inside tmux neither confuses nor refuses the client.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("-f").arg("/dev/null").arg("-S").arg(self.socket());
        c.env_remove("TMUX");
        c
    }

    fn async_command(&self) -> tokio::process::Command {
        tokio::process::Command::from(self.command())
    }

    /// Whether the project's server has `session` (false when no server runs).
    pub fn has_session(&self, session: &str) -> bool {
        if !self.socket().exists() || !self.installed() {
            return false;
        }
        let mut c = self.command();
        c.args(["has-session", "-t", &target(session)]);
        output(c, "has-session").is_ok()
    }

    /// The command that attaches the terminal to `session` (detach leaves it running).
    pub fn attach_command(&self, session: &str) -> Command {
        let mut c = self.command();
        c.args(["attach-session", "-t", &target(session)]);
        c
    }

    fn missing(&self, service: &str) -> BackendError {
        BackendError::MissingTool {
            service: service.to_string(),
            tool: self.binary.clone(),
            hint: "install tmux (apt-get install tmux, brew install tmux), or set \
                   [project] tmux_binary to its path",
        }
    }

    /// Creates the session; returns the pane's pid.
    async fn new_session(
        &self,
        session: &str,
        script: &Path,
        fifo: &Path,
        token: &str,
        gate: &str,
    ) -> Result<u32, BackendError> {
        let create = || {
            let mut c = self.async_command();
            let win = window_target(session);
            c.args([
                "new-session",
                "-d",
                "-s",
                session,
                "-P",
                "-F",
                "#{pane_pid}",
            ])
            .arg("/bin/sh")
            .arg(script)
            .args([";", "set-option", "-w", "-t", &win, "remain-on-exit", "on"])
            .args([";", "set-hook", "-w", "-t", &win, "pane-died"])
            .arg(format!("wait-for -S {token}"))
            .args([";", "pipe-pane", "-O", "-t", &win])
            .arg(format!("exec cat > {}", sh_quote(&fifo.to_string_lossy())))
            // Only now may the script exec the command: its first line of output must
            // find pipe-pane in place, or it would be lost.
            .args([";", "wait-for", "-S", gate]);
            c
        };
        let out = match output_async(&mut create(), "new-session").await {
            Ok(out) => out,
            Err(first) => {
                // A session left by a dead supervisor, or a server that was just exiting
                // as its last session ended: clear the way once and retry.
                let mut c = self.async_command();
                c.args(["kill-session", "-t", &target(session)]);
                let _ = output_async(&mut c, "kill-session").await;
                output_async(&mut create(), "new-session")
                    .await
                    .map_err(|_| first)?
            }
        };
        out.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| BackendError::Os {
                what: "reading the new pane's pid from tmux",
                source: std::io::Error::other(format!("unexpected output {out:?}")),
            })
    }
}

/// A per-start channel name, so a wake-up left from an earlier run is never mistaken.
fn died_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "proctor-died-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Runner for TmuxBackend {
    fn start(&self, req: StartRequest<'_>) -> Started {
        let svc = req.service;
        if svc.command.is_empty() {
            return Started::Now(Err(BackendError::EmptyCommand));
        }
        if !self.installed() {
            return Started::Now(Err(self.missing(&svc.name)));
        }
        let tmux = self.clone();
        let session = session_name(req.project, &svc.name);
        let svc = svc.clone();
        let (extra_env, report) = (req.extra_env, req.report);
        Started::Later(Box::pin(async move {
            tmux.start_session(session, &svc, &extra_env, report).await
        }))
    }
}

impl TmuxBackend {
    async fn start_session(
        self,
        session: String,
        svc: &Service,
        extra_env: &[(String, String)],
        report: Reporter,
    ) -> Result<Running, BackendError> {
        let dir = self.state_dir.join("tmux");
        crate::state::ensure_private_dir(&dir).map_err(|source| BackendError::File {
            path: dir.clone(),
            source,
        })?;
        let script = dir.join(format!("{}.sh", svc.name));
        let token = died_token();
        let gate = format!("{token}-go");
        // The script waits on the gate channel (tmux remembers a signal sent first).
        let mut wait = self.command();
        wait.args(["wait-for", &gate]);
        write_script(&script, svc, extra_env, &wait)?;
        let fifo = dir.join(format!("{}.out", svc.name));
        let (reader, writer) = open_fifo(&fifo)?;
        let pid = self
            .new_session(&session, &script, &fifo, &token, &gate)
            .await?;
        // The pane may already be gone (a command that fails at once): then there is
        // nothing to watch and the status is read straight away.
        let pidfd = AsyncPidFd::open(pid).ok();
        let (control, rx) = Control::new();
        let ctx = Watch {
            tmux: self,
            session: session.clone(),
            token,
            pid,
            files: vec![script, fifo],
            writer,
        };
        Ok(Running {
            pid,
            output: vec![(Stream::Out, reader)],
            control,
            watch: Box::pin(ctx.run(pidfd, rx, report)),
            tty: true,
            session: Some(Session::new(session, None)),
        })
    }
}

/// Writes the script the pane runs: cd, environment, then `exec` of the quoted argv.
fn write_script(
    path: &Path,
    svc: &Service,
    extra: &[(String, String)],
    gate: &Command,
) -> Result<(), BackendError> {
    let gate_line: Vec<String> = std::iter::once(gate.get_program())
        .chain(gate.get_args())
        .map(|a| sh_quote(&a.to_string_lossy()))
        .collect();
    let mut text = format!(
        "# Written by proctor for service {:?}; rewritten at each start.\n{} 2>/dev/null || :\ncd -- {} || exit 127\n",
        svc.name,
        gate_line.join(" "),
        sh_quote(&svc.cwd.to_string_lossy())
    );
    let mut odd_names = Vec::new();
    let vars = svc.env.iter().chain(extra.iter().map(|(k, v)| (k, v)));
    for (k, v) in vars {
        if is_shell_identifier(k) {
            text.push_str(&format!("export {k}={}\n", sh_quote(v)));
        } else {
            // The shell cannot export it; env(1) can set it for the command.
            odd_names.push(sh_quote(&format!("{k}={v}")));
        }
    }
    text.push_str("exec ");
    if !odd_names.is_empty() {
        text.push_str(&format!("env {} ", odd_names.join(" ")));
    }
    let argv: Vec<String> = svc.command.iter().map(|a| sh_quote(a)).collect();
    text.push_str(&argv.join(" "));
    text.push('\n');
    let io = |source| BackendError::File {
        path: path.to_path_buf(),
        source,
    };
    // It may hold secrets from the environment: owner-only, like everything in the state dir.
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)
}

/// Makes a fresh FIFO and opens both ends: the reader for the log capture, and a writer the
/// watcher holds so the reader sees end of file only after the service is gone (and not
/// before tmux's `cat` has opened its end).
fn open_fifo(path: &Path) -> Result<(OwnedFd, OwnedFd), BackendError> {
    let io = |source: std::io::Error| BackendError::File {
        path: path.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(path);
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o600))
        .map_err(|e| io(e.into()))?;
    let reader = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let writer = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    Ok((reader, writer))
}

/// What the watcher of one tmux service needs.
struct Watch {
    tmux: TmuxBackend,
    session: String,
    token: String,
    pid: u32,
    files: Vec<PathBuf>,
    /// Held until the end so the log reader gets end of file only then.
    writer: OwnedFd,
}

impl Watch {
    /// Watches the pane's process and then the rest of its group, carries out orders, and
    /// on `Reap` kills what is left, reads the status and kills the session.
    async fn run(
        self,
        pidfd: Option<AsyncPidFd>,
        mut ctl: mpsc::UnboundedReceiver<Ctl>,
        report: Reporter,
    ) {
        let pid = self.pid;
        // Once the pane's process is gone tmux reaps it, so its group is watched (and
        // signalled) only through the members that are left.
        let mut left: Option<Members> = None;
        let mut drained = false;
        if pidfd.is_none() {
            left = Some(Members::of(pid));
            report.report(RunEvent::Exited);
        }
        loop {
            tokio::select! {
                _ = exited_of(pidfd.as_ref()), if left.is_none() => {
                    left = Some(Members::of(pid));
                    report.report(RunEvent::Exited);
                }
                () = all_gone(left.as_ref()), if left.is_some() && !drained => {
                    drained = true;
                    report.report(RunEvent::Drained);
                }
                c = ctl.recv() => match c {
                    Some(Ctl::Signal(sig, _)) => self.signal(left.as_ref(), sig),
                    Some(Ctl::Kill) => self.signal(left.as_ref(), Signal::KILL),
                    Some(Ctl::Deliver(sig)) => self.signal(left.as_ref(), sig),
                    Some(Ctl::AdoptMain(_)) => {}
                    Some(Ctl::Reap) | None => break,
                },
            }
        }
        self.signal(left.as_ref(), Signal::KILL);
        let ended = self.status().await;
        let mut kill = self.tmux.async_command();
        kill.args(["kill-session", "-t", &target(&self.session)]);
        let _ = output_async(&mut kill, "kill-session").await;
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        // The killed session ends pipe-pane's `cat`; with our end closed too, the reader
        // drains what is left and sees end of file.
        drop(self.writer);
        report.report(RunEvent::Reaped(Exit::from_ended(ended, false)));
    }

    /// Signals the pane's group: while the pane's process lives it leads its own group
    /// (tmux starts it in a new session), so the group id is its own; after, only through
    /// the members left.
    fn signal(&self, left: Option<&Members>, sig: Signal) {
        match left {
            None => {
                if let Err(e) = kill_group(self.pid, sig) {
                    tracing::warn!(pid = self.pid, "signalling the pane's group failed: {e}");
                }
            }
            Some(m) => {
                m.signal(sig);
            }
        }
    }

    /// The dead pane's exit status, once tmux has recorded it (when it reaps the pane's
    /// process). tmux 3.3 now and then misses the SIGCHLD of a pane killed by a signal and
    /// leaves it a zombie until the next one, so if the status is not there yet, its server
    /// (ours: it runs on the project's private socket) gets a SIGCHLD, which makes it reap,
    /// and the pane-died hook's channel says when it has. Bounded: a server that is gone
    /// answers nothing.
    async fn status(&self) -> Option<Ended> {
        let deadline = Instant::now() + STATUS_WAIT;
        loop {
            let mut show = self.tmux.async_command();
            show.args([
                "display-message",
                "-p",
                "-t",
                &window_target(&self.session),
                "#{pane_dead} #{pane_dead_status} #{pane_dead_signal} #{pid}",
            ]);
            let text = output_async(&mut show, "display-message").await.ok()?;
            if let Some(ended) = parse_status(&text) {
                return Some(ended);
            }
            if Instant::now() >= deadline {
                return None;
            }
            if let Some(server) = text.split(' ').nth(3).and_then(|p| p.trim().parse().ok()) {
                let _ = crate::sys::child::signal_process(server, Signal::CHILD);
            }
            let mut wait = self.tmux.async_command();
            wait.args(["wait-for", &self.token]);
            let _ = tokio::time::timeout(STATUS_SLICE, output_async(&mut wait, "wait-for")).await;
        }
    }
}

/// Parses `#{pane_dead} #{pane_dead_status} #{pane_dead_signal} …`: tmux fills in the status
/// when the process exited and the signal when one killed it, leaving the other empty.
fn parse_status(text: &str) -> Option<Ended> {
    let fields: Vec<&str> = text.lines().next()?.split(' ').collect();
    if fields.first() != Some(&"1") {
        return None;
    }
    let num = |k: usize| fields.get(k).and_then(|s| s.parse::<i32>().ok());
    match (num(1), num(2)) {
        (_, Some(sig)) => Some(Ended::Signal(sig)),
        (Some(code), None) => Some(Ended::Code(code)),
        (None, None) => None,
    }
}

/// Resolves once every member in `left` has exited; never when there are none to watch.
async fn all_gone(left: Option<&Members>) {
    match left {
        Some(m) => m.all_gone().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_keep_dots_distinct() {
        assert_eq!(session_name("demo", "web.api"), "proctor-demo-web,api");
        assert_ne!(
            session_name("demo", "web.api"),
            session_name("demo", "web_api")
        );
    }

    #[test]
    fn parses_dead_pane_status() {
        assert_eq!(parse_status("1 3 \n"), Some(Ended::Code(3)));
        assert_eq!(parse_status("1  15\n"), Some(Ended::Signal(15)));
        assert_eq!(parse_status("0  \n"), None);
        assert_eq!(
            parse_status("1   4242\n"),
            None,
            "dead, status not recorded yet"
        );
        assert_eq!(parse_status("1  9 4242\n"), Some(Ended::Signal(9)));
    }
}
