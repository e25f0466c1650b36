//! The event loop around [`Machine`]: it feeds the machine what happened and carries out
//! what it decides. Carrying out the machine's actions is in `apply`, spawning and run
//! orders in `spawn`, control requests in `requests`, start-up (orphans, the ready report)
//! in `startup`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::backends::Backends;
use super::contain::Contain;
use super::machine::{Input, Machine, Policy, RequestId};
use super::startup::Startup;
use super::{Options, ProcessSignal, SuperviseError};
use crate::backend::{Control, RunEvent, Running, Session};
use crate::control::proto::{ErrorBody, Event, Reply};
use crate::control::server::{self, Call, Shared};
use crate::lock::Lock;
use crate::logs::{LogBatch, LogSink};
use crate::spec::{Service, Spec};
use crate::state::Paths;
use tokio_util::task::TaskTracker;

/// Messages into the loop.
pub(super) enum Msg {
    /// What a run's watcher reports about run `gen` of a service.
    Run {
        unit: usize,
        gen: u64,
        event: RunEvent,
    },
    /// A start that needed a tool (tmux, podman) finished.
    Started {
        unit: usize,
        gen: u64,
        result: Result<Running, crate::backend::BackendError>,
    },
    /// Every output pipe of run `gen` of a service reached end of file.
    OutputClosed { unit: usize, gen: u64 },
    /// A probe or notify message about run `gen` of a service.
    Probe {
        unit: usize,
        gen: u64,
        msg: super::probes::ProbeMsg,
    },
}

/// Per-service I/O state.
pub(super) struct Slot {
    /// Generation of the current run; messages about older ones are ignored.
    pub(super) gen: u64,
    /// Orders to the current run's watcher.
    pub(super) control: Option<Control>,
    pub(super) sink: Rc<RefCell<LogSink>>,
    pub(super) started_wall: Option<SystemTime>,
    /// Probe and notify tasks of the current process.
    pub(super) tasks: Vec<tokio::task::AbortHandle>,
    /// The liveness probe of the current process, replaced when a reload changes it.
    pub(super) live_task: Option<tokio::task::AbortHandle>,
    /// The last CPU reading `status` took: when, the tree's CPU ticks then, and the
    /// percentage worked out from the reading before.
    pub(super) cpu_sample: std::cell::Cell<Option<(Instant, u64, Option<f64>)>>,
    /// The notify socket of a run whose start is still in progress.
    pub(super) pending_notify: Option<crate::probe::notify::NotifySocket>,
    /// The last readiness or liveness failure.
    pub(super) probe_error: Option<String>,
    /// `STATUS=` text from the notify protocol.
    pub(super) status_text: Option<String>,
    /// `MAINPID=` from the notify protocol.
    pub(super) main_pid: Option<u32>,
    /// The service's lifecycle lock, held from its first start until it is down for good.
    pub(super) lock: Option<Lock>,
    /// The service's state directory while it exists.
    pub(super) storage_dir: Option<std::path::PathBuf>,
    /// The tmux session or container of the current run.
    pub(super) session: Option<Session>,
    /// The content of the service's `reload_on` files when its current process started.
    pub(super) config_hash: Option<u64>,
    /// What `start -e/--cwd/-- ARGS` changed, for every start until a reload.
    pub(super) overrides: Option<crate::control::proto::StartOverrides>,
    /// Started with `proctor run` (not declared in the spec file).
    pub(super) adhoc: bool,
    /// The watcher of a service with `watch`, while it is wanted up.
    pub(super) watch: Option<super::watch::FileWatch>,
    /// The schedule of a service with `schedule`.
    pub(super) job: super::schedule::JobTimer,
    /// An ad-hoc service forgotten by `rm`: hidden, kept only until a `run` reuses it, so
    /// that unit indices never shift under in-flight messages.
    pub(super) removed: bool,
}

/// Who waits for a request's answer.
pub(super) enum Asker {
    /// A control connection.
    Client(oneshot::Sender<Result<Reply, ErrorBody>>),
    /// Our own service manager, told `READY=1` once the first services are up.
    Manager(String),
    /// A `reload`, answered with its plan.
    Reload(
        oneshot::Sender<Result<Reply, ErrorBody>>,
        Vec<crate::control::proto::PlanStep>,
    ),
}

pub(super) struct Driver {
    pub(super) spec: Spec,
    pub(super) role: Option<String>,
    pub(super) machine: Machine,
    pub(super) slots: Vec<Slot>,
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    pub(super) paths: Paths,
    /// Requests waiting for the machine's answer.
    pub(super) askers: HashMap<RequestId, Asker>,
    pub(super) next_request: RequestId,
    pub(super) events: broadcast::Sender<Arc<Event>>,
    pub(super) shutting_down: bool,
    /// Our own service manager's notify socket, if any.
    pub(super) manager_socket: Option<String>,
    /// Output readers still running; shutdown waits for them so no line is lost.
    pub(super) readers: TaskTracker,
    /// Removals of state directories in progress, off the loop; shutdown waits for them.
    pub(super) removals: TaskTracker,
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
    /// How the services' processes are kept hold of.
    pub(super) contain: Contain,
    /// Until orphans are gone and the first services are asked to start.
    pub(super) startup: Option<Startup>,
    /// The last walk of `/proc` a `status` made, reused by status calls for a moment.
    pub(super) procs: RefCell<Option<Rc<crate::sys::proc::ProcTable>>>,
    /// Whether schedules are kept from the start (`autostart`): a supervisor started only
    /// for some services keeps no schedule until asked.
    pub(super) arm_jobs: bool,
    /// Where watchers' threads send the changes that count (`Msg` is not `Send`).
    pub(super) watch_tx: mpsc::UnboundedSender<super::watch::Changed>,
    /// Locks a batch start is taking on the lock thread, while it lasts.
    pub(super) prelocking: Option<super::locks::Prelocking>,
}

pub(super) async fn run(
    opts: Options,
    shutdown: impl Future<Output = ()>,
    mut signals: Option<mpsc::UnboundedReceiver<ProcessSignal>>,
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
        init,
    } = opts;
    let foreground = echo.is_some();
    let mut ready = ready_fd.map(std::fs::File::from);
    let (lock_file, mut listener) = match super::signals::setup(&paths) {
        Ok((lock, listener)) => (lock, server::Acceptor::new(listener)),
        Err(e) => {
            super::startup::report_ready(ready.as_mut(), Err(&e.to_string()));
            return Err(e);
        }
    };
    let contain = match Contain::set_up(&spec.project, &paths, signals.is_some()) {
        Ok(c) => c,
        Err(e) => {
            let e = SuperviseError::from(e);
            super::startup::report_ready(ready.as_mut(), Err(&e.to_string()));
            return Err(e);
        }
    };
    // A subreaper reaps the orphans it adopts: each SIGCHLD, those that exited.
    if init.is_some() {
        // An entrypoint inherits every orphan of the container (as PID 1, or as the
        // subreaper it becomes here): it reaps them all.
        if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            tracing::warn!("cannot become a child subreaper: {e}");
        }
    }
    let mut metrics = match super::metrics::Metrics::bind(spec.project.metrics) {
        Ok(m) => m,
        Err(e) => {
            super::startup::report_ready(ready.as_mut(), Err(&e.to_string()));
            return Err(e);
        }
    };
    let mut sigchld = match (&contain, &init) {
        (Contain::Subreaper, _) | (_, Some(_)) => {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
                .map_err(|e| tracing::warn!("cannot watch SIGCHLD: {e}"))
                .ok()
        }
        _ => None,
    };
    // So that the CLI finds us from the spec file alone, even once it no longer parses. The
    // stamp postdates the load by the start-up's few milliseconds; an edit in between goes
    // unnoticed only until the next reload.
    crate::state::record_spec(&paths, &spec, crate::state::FileStamp::of(&spec.path));
    let mut spec = spec;
    // Ad-hoc services from `proctor run` live on in the state dir until `proctor rm`; a
    // service the spec file declares under the same name wins.
    let mut adhoc = crate::spec::adhoc::load(&paths.root);
    crate::spec::adhoc::merge(&mut spec, &adhoc);
    adhoc.retain(|a| spec.service(&a.name) == Some(&a.to_service(&spec.project)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (watch_tx, mut watched) = mpsc::unbounded_channel();
    let (calls_tx, mut calls) = mpsc::unbounded_channel::<Call>();
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
    let conns = TaskTracker::new();
    let shared_names = Rc::new(RefCell::new(names));
    let shared = Rc::new(Shared {
        calls: calls_tx,
        logs: logs_tx.clone(),
        events: events_tx.clone(),
        names: shared_names.clone(),
        closing,
    });
    let spec_project = spec.project.clone();
    let mut sup = Driver {
        spec,
        role,
        machine: Machine::new(policies, now),
        slots,
        tx,
        paths: paths.clone(),
        askers: HashMap::new(),
        next_request: 1,
        events: events_tx,
        shutting_down: false,
        manager_socket,
        readers: TaskTracker::new(),
        removals: TaskTracker::new(),
        down_replies: Vec::new(),
        backends: Backends::new(&spec_project, &paths.root),
        contain,
        adhoc,
        names: shared_names,
        logs_tx: logs_tx.clone(),
        startup: None,
        procs: RefCell::new(None),
        arm_jobs: autostart,
        watch_tx,
        prelocking: None,
    };
    for i in 0..sup.slots.len() {
        sup.sync_schedule(i);
    }
    sup.begin_startup(ready, &start, autostart);

    tokio::pin!(shutdown);
    let mut shutdown_done = false;
    let mut interrupted = false;
    let mut quit = false;
    loop {
        if sup
            .startup
            .as_ref()
            .is_some_and(|s| s.orphans_gone(&sup.machine))
        {
            sup.finish_startup().await;
        }
        if let Some(init) = &init {
            sup.init_main_done(init);
        }
        if sup.shutting_down && sup.machine.all_down() {
            break;
        }
        let deadline = [
            sup.machine.next_deadline(),
            sup.watch_deadline(),
            sup.schedule_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => sup.on_msg(msg),
                None => break,
            },
            Some(call) = calls.recv() => sup.on_call(call),
            Some(c) = watched.recv() => sup.on_watched(c),
            stream = listener.accept() => {
                conns.spawn_local(server::serve(stream, shared.clone()));
            }
            stream = metrics.accept() => {
                conns.spawn_local(super::metrics::serve(stream, sup.metrics_text()));
            }
            () = sleep, if deadline.is_some() => {
                sup.apply_all(vec![Input::Tick]);
                let now = Instant::now();
                sup.fire_watches(now);
                sup.fire_schedules(now);
            }
            Some(()) = next_sigchld(&mut sigchld) => {
                crate::sys::children::reap_adopted();
            }
            () = &mut shutdown, if !shutdown_done => {
                shutdown_done = true;
                tracing::info!("shutting down");
                sup.begin_shutdown(None);
            }
            Some(sig) = super::signals::next(&mut signals) => {
                if sup.on_signal(sig, foreground && init.is_none(), init.is_some(), &mut interrupted) {
                    quit = true;
                    break;
                }
            }
        }
    }
    if quit {
        // The services live on, holding their locks as orphans; what they wrote so far
        // still reaches their logs.
        for slot in &sup.slots {
            slot.sink.borrow_mut().flush();
        }
        sup.logs_written().await;
        drop(lock_file);
        return Ok(());
    }
    // Let output readers drain what the services wrote last (bounded: a pipe held open by
    // an escaped process must not keep us forever).
    sup.readers.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), sup.readers.wait()).await;
    for k in 0..sup.slots.len() {
        sup.slots[k].sink.borrow_mut().flush();
        release(&mut sup.slots[k].lock);
        sup.remove_storage(k, true);
    }
    sup.removals.close();
    sup.removals.wait().await;
    sup.logs_written().await;
    sup.contain.tear_down(&sup.spec.services);
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
    conns.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), conns.wait()).await;
    drop(logs_tx);
    if let Some(t) = echo_task {
        let _ = t.await;
    }
    tracing::info!("supervisor stopped");
    Ok(())
}

impl Driver {
    pub(super) fn service(&self, i: usize) -> &Service {
        &self.spec.services[i]
    }

    pub(super) fn index_of(&self, name: &str) -> Option<usize> {
        self.spec.services.iter().position(|s| s.name == name)
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Run { unit, gen, event } => {
                if self.slots[unit].gen == gen {
                    let input = match event {
                        RunEvent::Exited => Input::Exited(unit),
                        RunEvent::Drained => Input::Drained(unit),
                        RunEvent::Reaped(exit) => Input::Reaped(unit, exit),
                    };
                    self.apply_all(vec![input]);
                }
            }
            Msg::Started { unit, gen, result } => self.on_started(unit, gen, result),
            Msg::OutputClosed { unit, gen } => {
                if self.slots[unit].gen == gen {
                    self.apply_all(vec![Input::OutputClosed(unit)]);
                }
            }
            Msg::Probe { unit, gen, msg } => {
                if self.slots[unit].gen == gen {
                    self.on_probe(unit, msg);
                }
            }
        }
    }

    /// Resolves once what the services wrote so far is in their files (bounded: a hung disk
    /// must not keep the supervisor for ever).
    async fn logs_written(&self) {
        let written: Vec<_> = self
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

/// The next SIGCHLD, for a subreaper; never otherwise.
async fn next_sigchld(sigchld: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match sigchld {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Releases a held lifecycle lock, logging (not failing) on error.
pub(super) fn release(lock: &mut Option<Lock>) {
    if let Some(mut l) = lock.take() {
        if let Err(e) = l.release() {
            tracing::warn!("cannot release {}: {e}", l.path().display());
        }
    }
}
