//! The embedded `Daemon` API: start/stop, RAII, exactly-once, recovery, storage, detach.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::{alive, free_port, group_members, TestContext};
use proctor::daemon::Supervisor;
use proctor::{Daemon, Error, Probe, RecoveryError, RestartPolicy, State, Storage};

/// A TCP echo server in python: answers each connection's first message, then closes it.
const ECHO: &str = "import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()
while True:
    c,_=s.accept(); c.sendall(c.recv(1024)); c.close()";

/// Sends `msg` to the echo server and returns what came back.
fn echo(addr: SocketAddr, msg: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(msg.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// An echo daemon on a free port with its state under `home`.
fn echo_daemon(name: &str, home: &Path, restart: RestartPolicy) -> (Daemon, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let d = Daemon::builder(name)
        .command(["python3", "-c", ECHO, &port.to_string()])
        .ready(
            Probe::tcp(addr)
                .with_interval(Duration::from_millis(20))
                .with_deadline(Duration::from_secs(20)),
        )
        .restart(restart)
        .stop_timeout(Duration::from_secs(5))
        .lock_dir(home)
        .build()
        .expect("build");
    (d, addr)
}

/// A daemon that sleeps, with its state under `home`.
fn sleeper(name: &str, home: &Path) -> proctor::DaemonBuilder {
    Daemon::builder(name)
        .command(["sleep", "1000"])
        .lock_dir(home)
}

fn kill9(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill -9");
}

/// Kills the daemon's process behind the handle's back and waits until its supervisor
/// has seen it die.
fn kill_and_wait(d: &Daemon, dead: State) -> u32 {
    let pid = d.pid().expect("running");
    let mut events = d.events().expect("events");
    kill9(pid);
    loop {
        let ev = events
            .recv_timeout(Duration::from_secs(10))
            .expect("event stream")
            .expect("an event within 10s");
        if ev.state == dead {
            return pid;
        }
    }
}

#[test]
fn start_and_stop_are_idempotent() {
    let home = tempfile::tempdir().expect("tempdir");
    let (d, addr) = echo_daemon("idem", home.path(), RestartPolicy::OnFailure);
    d.stop().expect("stop before start is a no-op");
    d.start().expect("start");
    let pid = d.pid().expect("pid");
    assert_eq!(echo(addr, "hi").expect("echo"), "hi");
    let (tx, rx) = std::sync::mpsc::channel();
    d.on_event(move |ev| {
        let _ = tx.send(ev.state);
    })
    .expect("on_event");
    d.start().expect("second start");
    assert_eq!(d.pid(), Some(pid), "a second start must not respawn");
    let st = d.status().expect("status");
    assert_eq!((st.state, st.ready, st.restarts), (State::Running, true, 0));
    d.stop().expect("stop");
    assert!(!alive(pid) && group_members(pid).is_empty());
    // The callback saw the stop, and its thread ended with the supervisor.
    let seen: Vec<State> = rx.iter().collect();
    assert_eq!(seen, [State::Stopping, State::Stopped]);
    d.stop().expect("second stop");
    assert_eq!(d.status().expect("status").state, State::Stopped);
    assert!(!d.is_running());
    // And it starts again after a stop.
    d.start().expect("restart");
    assert_eq!(echo(addr, "again").expect("echo"), "again");
}

#[test]
fn stop_within_overrides_the_stop_timeout() {
    let home = tempfile::tempdir().expect("tempdir");
    let d = Daemon::builder("deaf")
        .command([
            "sh",
            "-c",
            "trap '' TERM; echo deaf now; while :; do sleep 1; done",
        ])
        .ready(Probe::log("deaf now").with_interval(Duration::from_millis(20)))
        .stop_timeout(Duration::from_secs(120))
        .lock_dir(home.path())
        .build()
        .expect("build");
    d.start().expect("start");
    let pid = d.pid().expect("pid");
    let t = std::time::Instant::now();
    d.stop_within(Duration::from_millis(100)).expect("stop");
    // SIGTERM is ignored: only the SIGKILL after the overriding grace period stops it.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(!alive(pid) && group_members(pid).is_empty());
    d.stop_within(Duration::from_millis(100))
        .expect("idempotent");
}

#[test]
fn drop_stops_the_daemon_and_releases_its_lock() {
    let home = tempfile::tempdir().expect("tempdir");
    let (d, _) = echo_daemon("dropped", home.path(), RestartPolicy::OnFailure);
    d.start().expect("start");
    let pid = d.pid().expect("pid");
    let lock = home.path().join("locks/dropped.lock");
    assert!(held(&lock));
    drop(d);
    assert!(!alive(pid), "the daemon outlived its handle");
    assert!(group_members(pid).is_empty());
    assert!(!held(&lock), "the lock was not released");
    assert!(!home.path().join("control.sock").exists());
}

#[test]
fn already_running_when_another_process_holds_the_lock() {
    let ctx = TestContext::new(
        r#"
[service.shared]
command = ["sleep", "1000"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    let holder_pid = ctx.service("shared").pid.expect("running");
    let d = sleeper("shared", ctx.home()).build().expect("build");
    match d.start() {
        Err(Error::AlreadyRunning { name, holder }) => {
            assert_eq!(name, "shared");
            assert_eq!(holder.pid, holder_pid);
            assert_eq!(holder.supervisor_pid, ctx.supervisor_pid());
        }
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert!(!d.is_running());
    drop(d);
    // Our failed start did not disturb the holder.
    assert_eq!(ctx.service("shared").pid, Some(holder_pid));
}

#[test]
fn ensure_running_brings_back_a_killed_daemon() {
    let home = tempfile::tempdir().expect("tempdir");
    // restart = no: only ensure_running can bring it back.
    let (d, addr) = echo_daemon("phoenix", home.path(), RestartPolicy::No);
    d.start().expect("start");
    let old = kill_and_wait(&d, State::Failed);
    assert!(!d.is_running());
    d.ensure_running().expect("ensure_running");
    let st = d.status().expect("status");
    assert_eq!((st.state, st.ready), (State::Running, true));
    assert_ne!(st.pid, Some(old));
    assert_eq!(echo(addr, "back").expect("echo"), "back");
    // Healthy: a no-op.
    d.ensure_running().expect("ensure_running");
    assert_eq!(d.pid(), st.pid);
}

#[test]
fn call_with_recovery_restarts_a_dead_daemon_and_retries() {
    let home = tempfile::tempdir().expect("tempdir");
    let (d, addr) = echo_daemon("recover", home.path(), RestartPolicy::No);
    d.start().expect("start");
    let old = kill_and_wait(&d, State::Failed);
    let calls = AtomicU32::new(0);
    let got = d.call_with_recovery(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        echo(addr, "retry")
    });
    assert_eq!(got.expect("recovered"), "retry");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one failure, one retry");
    let pid = d.pid().expect("running again");
    assert_ne!(pid, old);
}

#[test]
fn call_with_recovery_leaves_a_healthy_daemon_alone() {
    let home = tempfile::tempdir().expect("tempdir");
    let (d, _) = echo_daemon("healthy", home.path(), RestartPolicy::OnFailure);
    d.start().expect("start");
    let pid = d.pid();
    let calls = AtomicU32::new(0);
    let got: Result<(), _> = d.call_with_recovery(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err("the request was bad")
    });
    assert!(matches!(
        got,
        Err(RecoveryError::Call("the request was bad"))
    ));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no retry for a healthy daemon"
    );
    let st = d.status().expect("status");
    assert_eq!(
        (st.pid, st.restarts),
        (pid, 0),
        "a healthy daemon was restarted"
    );
}

#[test]
fn async_recovery_works_inside_a_runtime() {
    let home = tempfile::tempdir().expect("tempdir");
    let (d, addr) = echo_daemon("async", home.path(), RestartPolicy::No);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        d.start_async().await.expect("start");
        kill_and_wait(&d, State::Failed);
        let got = d
            .call_with_recovery_async(|| async { echo(addr, "async") })
            .await;
        assert_eq!(got.expect("recovered"), "async");
        d.stop_async().await.expect("stop");
    });
}

#[test]
fn sandboxed_storage_is_removed_after_drop() {
    let home = tempfile::tempdir().expect("tempdir");
    let d = Daemon::builder("boxed")
        .command([
            "sh",
            "-c",
            "echo data > \"$PROCTOR_STATE_DIR/file\"; echo stored; exec sleep 1000",
        ])
        .ready(Probe::log("stored").with_interval(Duration::from_millis(20)))
        .storage(Storage::Sandboxed)
        .lock_dir(home.path())
        .build()
        .expect("build");
    d.start().expect("start");
    let dir = d
        .status()
        .expect("status")
        .storage_dir
        .expect("storage dir");
    assert!(dir.join("file").exists(), "{} has no file", dir.display());
    drop(d);
    assert!(!dir.exists(), "{} survived the drop", dir.display());
}

#[test]
fn detached_daemon_is_seen_by_the_cli_and_cannot_be_unlocked() {
    // The CLI runs in a directory without a spec: PROCTOR_HOME alone names the state dir.
    let ctx = TestContext::new("");
    std::fs::remove_file(ctx.spec_path()).expect("no spec");
    let d = sleeper("loose", ctx.home()).build().expect("build");
    d.start().expect("start");
    let pid = d.pid().expect("pid");
    d.detach();
    assert!(alive(pid), "detach stopped it");
    let locks = ctx.ok(&["lock"]);
    assert!(locks.contains("loose: alive"), "{locks}");
    assert!(locks.contains(&format!("pid {pid}")), "{locks}");
    let out = ctx.run(&["unlock", "loose"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("held by a live process"));
    assert!(held(&ctx.home().join("locks/loose.lock")));
    let status = ctx.ok(&["status"]);
    assert!(
        status.contains("loose") && status.contains("running"),
        "{status}"
    );
    // The CLI ends the detached supervisor thread too.
    ctx.ok(&["down"]);
    assert!(!alive(pid));
    assert!(!held(&ctx.home().join("locks/loose.lock")));
}

#[test]
fn from_spec_reuses_a_proctor_toml_entry() {
    let ctx = TestContext::new(
        r#"
[service.db]
command = ["sh", "-c", "echo db ready; exec sleep 1000"]
ready = { log = "db ready", interval = "20ms" }

[service.app]
command = ["sleep", "1000"]
depends_on = ["db"]
"#,
    );
    match Daemon::from_spec(ctx.spec_path(), "nope") {
        Err(Error::UnknownService { name, .. }) => assert_eq!(name, "nope"),
        other => panic!("expected UnknownService, got {other:?}"),
    }
    let d = proctor::DaemonBuilder::from_spec(ctx.spec_path(), "app")
        .expect("spec")
        .lock_dir(ctx.home())
        .build()
        .expect("build");
    d.start().expect("start");
    // Its dependency was started first, and the CLI sees both.
    let db = ctx.service("db");
    assert_eq!((db.state, db.ready), (State::Running, true));
    assert_eq!(d.status().expect("status").state, State::Running);
    let db_pid = db.pid.expect("db pid");
    drop(d);
    assert!(!alive(db_pid), "dependencies stop with the daemon");
}

#[test]
fn start_failures_are_typed_and_leave_nothing_behind() {
    let home = tempfile::tempdir().expect("tempdir");
    match Daemon::builder("bad name!").build() {
        Err(Error::Spec(errs)) => assert_eq!(errs.0.len(), 2, "{errs}"), // name and command
        other => panic!("expected a spec error, got {other:?}"),
    }
    let never = Daemon::builder("never")
        .command(["sleep", "1000"])
        .ready(
            Probe::tcp(format!("127.0.0.1:{}", free_port()))
                .with_interval(Duration::from_millis(20))
                .with_deadline(Duration::from_millis(300)),
        )
        .lock_dir(home.path())
        .build()
        .expect("build");
    // The supervisor restarts it after each missed deadline; ours gives up after that deadline.
    match never.start() {
        Err(Error::ReadyTimeout { name, .. }) => assert_eq!(name, "never"),
        other => panic!("expected ReadyTimeout, got {other:?}"),
    }
    assert_eq!(never.status().expect("status").state, State::Stopped);
    assert!(!held(&home.path().join("locks/never.lock")));
    let missing = Daemon::builder("missing")
        .command(["/nonexistent/program"])
        .restart(RestartPolicy::No)
        .lock_dir(home.path())
        .build()
        .expect("build");
    match missing.start() {
        Err(Error::SpawnFailed { name, reason }) => {
            assert_eq!(name, "missing");
            assert!(reason.contains("nonexistent"), "{reason}");
        }
        other => panic!("expected SpawnFailed, got {other:?}"),
    }
}

fn proctor_supervisor() -> Supervisor {
    Supervisor::Process(env!("CARGO_BIN_EXE_proctor").into())
}

#[test]
fn a_detached_process_supervisor_outlives_its_handle_and_can_be_attached() {
    let ctx = TestContext::new("");
    std::fs::remove_file(ctx.spec_path()).expect("no spec");
    let d = sleeper("outliver", ctx.home())
        .supervisor(proctor_supervisor())
        .build()
        .expect("build");
    d.start().expect("start");
    let st = d.status().expect("status");
    let (pid, sup) = (st.pid.expect("pid"), st.supervisor_pid.expect("supervisor"));
    assert_ne!(
        sup,
        std::process::id(),
        "the supervisor is not a process of its own"
    );
    d.detach();
    assert!(alive(pid) && alive(sup));
    let locks = ctx.ok(&["lock"]);
    assert!(locks.contains("outliver: alive"), "{locks}");
    assert!(locks.contains(&format!("supervisor pid {sup}")), "{locks}");
    // A later handle (say, the program's next run) finds it taken, then takes it over.
    let again = sleeper("outliver", ctx.home())
        .supervisor(proctor_supervisor())
        .build()
        .expect("build");
    assert!(matches!(again.start(), Err(Error::AlreadyRunning { .. })));
    again.attach().expect("attach");
    assert_eq!(again.pid(), Some(pid));
    drop(again);
    assert!(!alive(pid));
    assert!(!alive(sup), "stop returned before the supervisor exited");
    let nothing = sleeper("outliver", ctx.home()).build().expect("build");
    assert!(matches!(nothing.attach(), Err(Error::NotStarted(_))));
}

#[test]
fn a_process_supervisor_stops_with_its_handle() {
    let home = tempfile::tempdir().expect("tempdir");
    let d = sleeper("tethered", home.path())
        .supervisor(proctor_supervisor())
        .build()
        .expect("build");
    d.start().expect("start");
    d.start().expect("idempotent");
    let st = d.status().expect("status");
    let (pid, sup) = (st.pid.expect("pid"), st.supervisor_pid.expect("supervisor"));
    drop(d);
    assert!(!alive(pid) && !alive(sup));
    assert!(!held(&home.path().join("locks/tethered.lock")));
}

#[test]
fn a_process_supervisor_stops_when_its_parent_dies() {
    // Play the parent by hand: the supervisor watches a pipe whose write end we hold;
    // closing it is what the kernel does when the parent dies, however it dies.
    use std::os::fd::AsRawFd;
    let ctx = TestContext::new(
        r#"
[service.orphaned]
command = ["sleep", "1000"]
"#,
    );
    let (ready_rd, ready_wr) = rustix::pipe::pipe().expect("pipe");
    let (parent_rd, parent_wr) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    // Only the child's end is inherited: ours must close when we "die".
    rustix::io::fcntl_setfd(&parent_rd, rustix::io::FdFlags::empty()).expect("inheritable");
    let mut sup = std::process::Command::new(env!("CARGO_BIN_EXE_proctor"))
        .env("PROCTOR_DAEMON_SPEC", ctx.spec_path())
        .env("PROCTOR_DAEMON_HOME", ctx.home())
        .env("PROCTOR_DAEMON_READY_FD", ready_wr.as_raw_fd().to_string())
        .env(
            "PROCTOR_DAEMON_PARENT_FD",
            parent_rd.as_raw_fd().to_string(),
        )
        .spawn()
        .expect("spawn supervisor");
    drop((ready_wr, parent_rd));
    let mut answer = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::from(ready_rd)),
        &mut answer,
    )
    .expect("ready line");
    assert!(answer.contains("\"ok\":true"), "{answer}");
    ctx.ok(&["start", "orphaned"]);
    let pid = ctx.service("orphaned").pid.expect("pid");
    drop(parent_wr);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = sup.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = sup.kill();
            let _ = sup.wait();
            panic!("the supervisor did not notice its parent's end");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    assert!(!alive(pid), "the service outlived its supervisor's parent");
}

/// Whether the lock file at `path` names a holder (a released lock keeps a `null` record).
fn held(path: &std::path::Path) -> bool {
    proctor::lock::Lock::at(path).read().is_some()
}
