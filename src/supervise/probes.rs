//! Wiring probes to the loop: readiness after spawn, liveness once ready, notify sockets.

use std::rc::Rc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::driver::{Driver, Msg};
use super::machine::{Input, State};
use crate::probe::notify::{Notice, NotifySocket};
use crate::probe::{self, Report};
use crate::spec::{Probe, ProbeKind};

/// What a probe task tells the loop.
#[derive(Debug)]
pub(crate) enum ProbeMsg {
    /// A probe report; `live` tells liveness from readiness.
    Report { live: bool, report: Report },
    /// `STATUS=` text from the notify socket.
    Status(String),
    /// `MAINPID=` from the notify socket.
    MainPid(u32),
    /// `STOPPING=1` from the notify socket.
    Stopping,
}

fn send(tx: &mpsc::UnboundedSender<Msg>, unit: usize, gen: u64, msg: ProbeMsg) {
    let _ = tx.send(Msg::Probe { unit, gen, msg });
}

impl Driver {
    /// Binds the notify socket for a service that asks for one, before it is spawned.
    pub(super) fn notify_socket(&self, i: usize) -> Option<std::io::Result<NotifySocket>> {
        let probe = self.service(i).ready.as_ref()?;
        if probe.kind != ProbeKind::Notify {
            return None;
        }
        let dir = self.paths.root.join("notify");
        Some(
            crate::state::ensure_private_dir(&dir).and_then(|()| {
                NotifySocket::bind(&dir.join(format!("{}.sock", self.service(i).name)))
            }),
        )
    }

    /// Starts whatever decides readiness for a freshly spawned service.
    pub(super) fn start_readiness(
        &mut self,
        i: usize,
        gen: u64,
        pid: u32,
        notify: Option<NotifySocket>,
    ) -> Vec<AbortHandle> {
        let Some(probe) = self.service(i).ready.clone() else {
            return Vec::new();
        };
        let tx = self.tx.clone();
        let mut tasks = Vec::new();
        match &probe.kind {
            ProbeKind::Notify => {
                if let Some(sock) = notify {
                    tasks.push(spawn(notify_loop(sock, pid, probe, tx, i, gen)));
                }
            }
            ProbeKind::Log(pattern) => {
                match pattern.regex().cloned() {
                    Ok(re) => {
                        let t = tx.clone();
                        self.slots[i].sink.borrow_mut().watch_for(
                            re,
                            Box::new(move || {
                                send(
                                    &t,
                                    i,
                                    gen,
                                    ProbeMsg::Report {
                                        live: false,
                                        report: Report::Ready,
                                    },
                                );
                            }),
                        );
                    }
                    Err(e) => send(
                        &tx,
                        i,
                        gen,
                        ProbeMsg::Report {
                            live: false,
                            report: Report::Unhealthy(format!("bad log pattern: {e}")),
                        },
                    ),
                }
                let deadline = probe.deadline;
                tasks.push(spawn(async move {
                    tokio::time::sleep(deadline).await;
                    send(
                        &tx,
                        i,
                        gen,
                        ProbeMsg::Report {
                            live: false,
                            report: Report::Unhealthy(format!(
                                "no matching log line within {deadline:?}"
                            )),
                        },
                    );
                }));
            }
            _ => {
                let mut ctx = self.exec_context(i);
                // This run's pid: the machine learns it only once the run is taken over.
                if self.service(i).backend == crate::spec::Backend::Process {
                    ctx.owner = Some(pid);
                }
                tasks.push(spawn(probe::readiness(probe, ctx, move |r| {
                    send(
                        &tx,
                        i,
                        gen,
                        ProbeMsg::Report {
                            live: false,
                            report: r,
                        },
                    );
                })));
            }
        }
        tasks
    }

    /// Handles a probe task's message for the current generation of service `i`.
    pub(super) fn on_probe(&mut self, i: usize, msg: ProbeMsg) {
        match msg {
            ProbeMsg::Report { live, report } => match report {
                Report::Ready => {
                    self.slots[i].probe_error = None;
                    self.slots[i].sink.borrow_mut().unwatch();
                    self.apply_all(vec![Input::Ready(i)]);
                    if self.machine.units()[i].state == State::Running {
                        self.start_liveness(i);
                    }
                }
                Report::Failing(e) => self.slots[i].probe_error = Some(e),
                Report::Unhealthy(why) => {
                    let state = self.machine.units()[i].state;
                    // A late readiness verdict for a service that became ready is moot.
                    if live || state == State::Starting {
                        self.slots[i]
                            .sink
                            .borrow_mut()
                            .note(&format!("proctor: {why}"));
                        self.apply_all(vec![Input::Unhealthy(i, why)]);
                    }
                }
            },
            ProbeMsg::Status(s) => self.slots[i].status_text = Some(s),
            ProbeMsg::MainPid(p) => self.adopt_main_pid(i, p),
            ProbeMsg::Stopping => {
                self.slots[i].status_text = Some("stopping".into());
            }
        }
    }

    /// `MAINPID=p`: followed only when `p` belongs to the service's own process group, so a
    /// service cannot make proctor watch (or later signal) a stranger.
    fn adopt_main_pid(&mut self, i: usize, p: u32) {
        let Some(leader) = self.machine.units()[i].pid else {
            return;
        };
        let pgid = rustix::process::Pid::from_raw(p as i32)
            .and_then(|pid| rustix::process::getpgid(Some(pid)).ok())
            .map(|g| g.as_raw_nonzero().get() as u32);
        if pgid != Some(leader) {
            tracing::warn!(
                service = %self.service(i).name,
                pid = p,
                "ignoring MAINPID outside the service's process group"
            );
            return;
        }
        self.slots[i].main_pid = Some(p);
        self.order(i, crate::backend::Ctl::AdoptMain(p));
    }

    /// Where `exec` probes of service `i` run: its cwd and environment.
    fn exec_context(&self, i: usize) -> probe::ExecContext {
        let s = self.service(i);
        let mut env = s.env.clone();
        if let Some(dir) = &self.slots[i].storage_dir {
            env.insert("PROCTOR_STATE_DIR".into(), dir.display().to_string());
        }
        probe::ExecContext {
            cwd: Some(s.cwd.clone()),
            env,
            owner: (s.backend == crate::spec::Backend::Process)
                .then(|| self.machine.units()[i].pid)
                .flatten(),
        }
    }

    pub(super) fn start_liveness(&mut self, i: usize) {
        let Some(probe) = self.service(i).live.clone() else {
            return;
        };
        if !probe::polls(&probe.kind) {
            return;
        }
        let tx = self.tx.clone();
        let gen = self.slots[i].gen;
        let task = spawn(probe::liveness(probe, self.exec_context(i), move |r| {
            send(
                &tx,
                i,
                gen,
                ProbeMsg::Report {
                    live: true,
                    report: r,
                },
            );
        }));
        if let Some(old) = self.slots[i].live_task.replace(task) {
            old.abort();
        }
    }
}

fn spawn(fut: impl std::future::Future<Output = ()> + 'static) -> AbortHandle {
    tokio::task::spawn_local(fut).abort_handle()
}

/// Serves a service's notify socket: readiness, status text, watchdog.
async fn notify_loop(
    sock: NotifySocket,
    pgid: u32,
    probe: Probe,
    tx: mpsc::UnboundedSender<Msg>,
    unit: usize,
    gen: u64,
) {
    let sock = Rc::new(sock);
    let mut ready = false;
    let mut deadline = Some(Instant::now() + probe.deadline);
    loop {
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
        tokio::select! {
            got = sock.recv(pgid) => {
                let notices = match got {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!("notify socket failed: {e}");
                        return;
                    }
                };
                for n in notices {
                    match n {
                        Notice::Ready if !ready => {
                            ready = true;
                            deadline = probe.watchdog.map(|w| Instant::now() + w);
                            send(&tx, unit, gen, ProbeMsg::Report { live: false, report: Report::Ready });
                        }
                        Notice::Ready => {}
                        Notice::Watchdog => {
                            if ready {
                                deadline = probe.watchdog.map(|w| Instant::now() + w);
                            }
                        }
                        Notice::WatchdogTrigger => {
                            send(&tx, unit, gen, ProbeMsg::Report {
                                live: true,
                                report: Report::Unhealthy("the service triggered its watchdog".into()),
                            });
                        }
                        Notice::Status(s) => send(&tx, unit, gen, ProbeMsg::Status(s)),
                        Notice::MainPid(p) => send(&tx, unit, gen, ProbeMsg::MainPid(p)),
                        Notice::Stopping => send(&tx, unit, gen, ProbeMsg::Stopping),
                        Notice::Reloading => {}
                    }
                }
            }
            () = sleep, if deadline.is_some() => {
                let report = if ready {
                    let w = probe.watchdog.unwrap_or(Duration::ZERO);
                    Report::Unhealthy(format!("watchdog timeout: no WATCHDOG=1 within {w:?}"))
                } else {
                    Report::Unhealthy(format!("no READY=1 within {:?}", probe.deadline))
                };
                send(&tx, unit, gen, ProbeMsg::Report { live: ready, report });
                deadline = None;
            }
        }
    }
}
