//! The event loop around [`Machine`]: spawning, exits, control requests, deadlines.

use std::cell::RefCell;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::backends::Backends;
use super::machine::{Action, Input, Machine, Policy, State};
use super::requests::Waiter;
use super::{Options, SuperviseError};
use crate::backend::{Exit, Session, StopHandle};
use crate::control::proto::{ErrorBody, Event, Reply};
use crate::control::server::{self, Shared};
use crate::lock::Lock;
use crate::logs::{LogBatch, LogSink};
use crate::spec::{Service, Spec};
use crate::state::{ensure_private_dir, Paths};
use crate::util::TaskCount;

/// Messages into the loop.
pub(crate) enum Msg {
    /// A service's process ended.
    Exited { unit: usize, gen: u64, exit: Exit },
    /// A probe or notify message about generation `gen` of a service.
    Probe {
        unit: usize,
        gen: u64,
        msg: super::probes::ProbeMsg,
    },
    /// A control request.
    Request {
        cmd: crate::control::proto::Command,
        reply: oneshot::Sender<Result<Reply, ErrorBody>>,
    },
}

/// Per-service I/O state.
pub(super) struct Slot {
    /// Generation of the current process; messages about older ones are ignored.
    pub(super) gen: u64,
    pub(super) stop: Option<StopHandle>,
    pub(super) sink: Rc<RefCell<LogSink>>,
    pub(super) started_wall: Option<SystemTime>,
    /// Probe and notify tasks of the current process.
    pub(super) tasks: Vec<tokio::task::AbortHandle>,
    /// The last readiness or liveness failure.
    pub(super) probe_error: Option<String>,
    /// `STATUS=` text from the notify protocol.
    pub(super) status_text: Option<String>,
    /// `MAINPID=` from the notify protocol.
    pub(super) main_pid: Option<u32>,
    /// Follows a `MAINPID=` for the running generation, when the backend can.
    pub(super) main_handle: Option<crate::backend::MainPidHandle>,
    /// The service's lifecycle lock, held from its first start until it is down for good.
    pub(super) lock: Option<Lock>,
    /// The service's state directory while it exists.
    pub(super) storage_dir: Option<std::path::PathBuf>,
    /// The tmux session or container of the current run.
    pub(super) session: Option<Session>,
    /// Started with `proctor run` (not declared in the spec file).
    pub(super) adhoc: bool,
    /// An ad-hoc service forgotten by `rm`: hidden, kept only until a `run` reuses it, so
    /// that unit indices never shift under in-flight messages.
    pub(super) removed: bool,
}

pub(super) struct Supervisor {
    pub(super) spec: Spec,
    pub(super) role: Option<String>,
    pub(super) machine: Machine,
    pub(super) slots: Vec<Slot>,
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    pub(super) paths: Paths,
    pub(super) waiters: Vec<Waiter>,
    pub(super) events: broadcast::Sender<Arc<Event>>,
    pub(super) shutting_down: bool,
    /// Our own service manager's notify socket, if any.
    manager_socket: Option<String>,
    /// Output readers still running; shutdown waits for them so no line is lost.
    pub(super) readers: Rc<TaskCount>,
    /// `down` requests, answered once everything is stopped and released.
    pub(super) down_replies: Vec<oneshot::Sender<Result<Reply, ErrorBody>>>,
    /// The backends services run on.
    pub(super) backends: Backends,
    /// Services started with `proctor run`, as remembered in the state dir.
    pub(super) adhoc: Vec<crate::spec::adhoc::AdHoc>,
    /// Service names by index, shared with the control connections.
    pub(super) names: Rc<RefCell<Vec<String>>>,
    /// Where log sinks publish to live followers.
    pub(super) logs_tx: broadcast::Sender<Arc<LogBatch>>,
}

pub(super) async fn run(
    opts: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SuperviseError> {
    let Options {
        spec,
        paths,
        role,
        start,
        echo,
        ready_fd,
        autostart,
        manager_socket,
    } = opts;
    let mut ready = ready_fd.map(std::fs::File::from);
    let setup = setup(&paths);
    let (lock_file, listener) = match setup {
        Ok(v) => v,
        Err(e) => {
            if let Some(f) = ready.as_mut() {
                let _ = writeln!(
                    f,
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            }
            return Err(e);
        }
    };
    let mut spec = spec;
    // Ad-hoc services from `proctor run` live on in the state dir until `proctor rm`; a
    // service the spec file declares under the same name wins.
    let mut adhoc = crate::spec::adhoc::load(&paths.root);
    crate::spec::adhoc::merge(&mut spec, &adhoc);
    adhoc.retain(|a| spec.service(&a.name) == Some(&a.to_service(&spec.project)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (logs_tx, _) = broadcast::channel::<Arc<LogBatch>>(4096);
    let (events_tx, _) = broadcast::channel::<Arc<Event>>(1024);
    let names: Vec<String> = spec.services.iter().map(|s| s.name.clone()).collect();
    let now = Instant::now();
    let policies = spec
        .services
        .iter()
        .map(|s| Policy::of(s, |n| names.iter().position(|x| x == n)))
        .collect();
    let logs_dir = paths.logs_dir();
    let slots = spec
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Slot::new(
                LogSink::new(i, &logs_dir, &s.name, s.logs, logs_tx.clone()),
                adhoc.iter().any(|a| a.name == s.name),
            )
        })
        .collect();
    let echo_task = echo.map(|e| {
        tokio::task::spawn_local(super::echo::print(
            e,
            names.clone(),
            logs_tx.subscribe(),
            events_tx.subscribe(),
        ))
    });
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let conns = Rc::new(TaskCount::default());
    let shared_names = Rc::new(RefCell::new(names.clone()));
    let shared = Rc::new(Shared {
        tx: tx.clone(),
        logs: logs_tx.clone(),
        events: events_tx.clone(),
        names: shared_names.clone(),
        closing,
    });
    let spec_project = spec.project.clone();
    let mut sup = Supervisor {
        spec,
        role,
        machine: Machine::new(policies, now),
        slots,
        tx,
        paths: paths.clone(),
        waiters: Vec::new(),
        events: events_tx,
        shutting_down: false,
        manager_socket: manager_socket.clone(),
        readers: Rc::new(TaskCount::default()),
        down_replies: Vec::new(),
        backends: Backends::new(&spec_project, &paths.root),
        adhoc,
        names: shared_names,
        logs_tx: logs_tx.clone(),
    };
    sup.reclaim_orphans().await;
    if let Some(mut f) = ready.take() {
        let _ = writeln!(
            f,
            "{}",
            serde_json::json!({"ok": true, "pid": std::process::id()})
        );
    }
    tracing::info!(project = %sup.spec.project.name, pid = std::process::id(), "supervisor started");
    let initial = match sup.resolve_start(&start) {
        Ok(v) if autostart => sup.with_dependencies(&v),
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::error!("{}", e.message);
            Vec::new()
        }
    };
    if let Some(sock) = manager_socket.clone() {
        // Tell our own service manager we are ready once the first services are.
        let (tx, rx) = oneshot::channel();
        sup.waiters
            .push(Waiter::new(initial.clone(), super::requests::Goal::Up, tx));
        tokio::task::spawn_local(async move {
            if rx.await.is_ok() {
                if let Err(e) = crate::probe::notify::send_to_manager(&sock, "READY=1") {
                    tracing::warn!("cannot notify the service manager: {e}");
                }
            }
        });
    }
    sup.apply_all(initial.into_iter().map(Input::Start).collect());

    tokio::pin!(shutdown);
    let mut shutdown_done = false;
    loop {
        if sup.shutting_down && sup.machine.all_down() {
            break;
        }
        let deadline = sup.machine.next_deadline();
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => sup.on_msg(msg),
                None => break,
            },
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    let guard = conns.enter();
                    let shared = shared.clone();
                    tokio::task::spawn_local(async move {
                        server::serve(stream, shared).await;
                        drop(guard);
                    });
                }
            }
            () = sleep, if deadline.is_some() => sup.apply_all(vec![Input::Tick]),
            () = &mut shutdown, if !shutdown_done => {
                shutdown_done = true;

                tracing::info!("shutting down");
                sup.begin_shutdown(None);
            }
        }
    }
    // Let output readers drain what the services wrote last (bounded: a pipe held open by
    // an escaped process must not keep us forever).
    let readers = sup.readers.clone();
    let _ = tokio::time::timeout(Duration::from_secs(2), readers.idle()).await;
    for (k, slot) in sup.slots.iter_mut().enumerate() {
        slot.sink.borrow_mut().flush();
        release(&mut slot.lock);
        if let (Some(storage), Some(dir)) = (&sup.spec.services[k].storage, slot.storage_dir.take())
        {
            super::storage::cleanup(storage, &dir);
        }
    }
    // What the services wrote last reaches their files before we go (bounded: a hung disk
    // must not keep us forever).
    let written: Vec<_> = sup
        .slots
        .iter()
        .map(|s| s.sink.borrow().written())
        .collect();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        for w in written {
            w.await;
        }
    })
    .await;
    let _ = std::fs::remove_file(paths.control_socket());
    drop(lock_file);
    let all: Vec<usize> = (0..sup.spec.services.len())
        .filter(|&i| !sup.slots[i].removed)
        .collect();
    for tx in std::mem::take(&mut sup.down_replies) {
        let _ = tx.send(Ok(sup.reply(&all)));
    }
    drop(sup);
    // Connections finish writing what they owe (answers, last events and log lines), bounded
    // so that a client that never reads cannot hold the supervisor.
    let _ = closing_tx.send(true);
    drop(shared);
    let _ = tokio::time::timeout(Duration::from_secs(2), conns.idle()).await;
    drop(logs_tx);
    if let Some(t) = echo_task {
        let _ = t.await;
    }
    tracing::info!("supervisor stopped");
    Ok(())
}

/// Creates the state directory, takes the singleton lock, binds the control socket.
fn setup(paths: &Paths) -> Result<(std::fs::File, UnixListener), SuperviseError> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| SuperviseError::Io { path, source }
    };
    ensure_private_dir(&paths.root).map_err(io(&paths.root))?;
    ensure_private_dir(&paths.logs_dir()).map_err(io(&paths.logs_dir()))?;
    let lock_path = paths.supervisor_lock();
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(SuperviseError::AlreadyRunning {
                pid: pid.trim().to_string(),
                dir: paths.root.clone(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
    }
    lock.set_len(0).map_err(io(&lock_path))?;
    write!(lock, "{}", std::process::id()).map_err(io(&lock_path))?;
    let sock = paths.control_socket();
    // We hold the singleton lock, so a socket file left here belongs to a dead supervisor.
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(io(&sock))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(io(&sock))?;
    Ok((lock, listener))
}

impl Supervisor {
    pub(super) fn service(&self, i: usize) -> &Service {
        &self.spec.services[i]
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.spec.services.iter().position(|s| s.name == name)
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Exited { unit, gen, exit } => {
                if self.slots[unit].gen == gen {
                    let slot = &mut self.slots[unit];
                    slot.stop = None;
                    slot.started_wall = None;
                    slot.session = None;
                    slot.main_pid = None;
                    slot.main_handle = None;
                    for t in slot.tasks.drain(..) {
                        t.abort();
                    }
                    slot.sink.borrow_mut().unwatch();
                    if let Some(storage) = &self.spec.services[unit].storage {
                        if super::storage::per_start(storage) {
                            if let Some(dir) = slot.storage_dir.take() {
                                super::storage::cleanup(storage, &dir);
                            }
                        }
                    }
                    slot.sink
                        .borrow_mut()
                        .note(&format!("proctor: {}", exit.describe()));
                    self.apply_all(vec![Input::Exited(unit, exit)]);
                }
            }
            Msg::Probe { unit, gen, msg } => {
                if self.slots[unit].gen == gen {
                    self.on_probe(unit, msg);
                }
            }
            Msg::Request { cmd, reply } => self.on_request(cmd, reply),
        }
    }

    /// Feeds inputs to the machine and carries out the resulting actions until quiet.
    pub(super) fn apply_all(&mut self, inputs: Vec<Input>) {
        let starts: Vec<usize> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Start(i) if !self.machine.units()[*i].state.is_active() => Some(*i),
                _ => None,
            })
            .collect();
        self.prelock(&starts);
        let mut queue: std::collections::VecDeque<Input> = inputs.into();
        let mut changed = Vec::new();
        while let Some(input) = queue.pop_front() {
            let now = Instant::now();
            for action in self.machine.on(input, now) {
                match action {
                    Action::Spawn(i) => queue.push_back(self.spawn(i)),
                    Action::Stop(i, timeout) => self.stop(i, timeout),
                    Action::Changed(i) => {
                        if !changed.contains(&i) {
                            changed.push(i);
                        }
                        if matches!(
                            self.machine.units()[i].state,
                            State::Stopped | State::Exited | State::Failed
                        ) {
                            release(&mut self.slots[i].lock);
                            if let (Some(storage), Some(dir)) = (
                                &self.spec.services[i].storage,
                                self.slots[i].storage_dir.take(),
                            ) {
                                super::storage::cleanup(storage, &dir);
                            }
                        }
                    }
                }
            }
        }
        for i in changed {
            self.publish(i);
        }
        self.check_waiters();
    }

    /// Stops every service (dependents first) and exits once all are down.
    pub(super) fn begin_shutdown(&mut self, timeout: Option<Duration>) {
        if !self.shutting_down {
            if let Some(sock) = &self.manager_socket {
                let _ = crate::probe::notify::send_to_manager(sock, "STOPPING=1");
            }
        }
        self.shutting_down = true;
        let inputs = (0..self.spec.services.len())
            .map(|i| Input::Stop(i, timeout))
            .collect();
        self.apply_all(inputs);
    }
}

/// Releases a held lifecycle lock, logging (not failing) on error.
fn release(lock: &mut Option<Lock>) {
    if let Some(mut l) = lock.take() {
        if let Err(e) = l.release() {
            tracing::warn!("cannot release {}: {e}", l.path().display());
        }
    }
}
