//! `TestContext` owns a temp project directory and a temp `PROCTOR_HOME`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use proctor::control::proto::{Body, Command as Cmd, Event, Reply};
use proctor::control::Client;

pub mod require;
pub use require::{require, which};

/// A project in a temp dir with its own state dir.
pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

impl TestContext {
    pub fn new(spec: &str) -> Self {
        let ctx = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            home: tempfile::tempdir().expect("tempdir"),
        };
        ctx.write_spec(spec);
        ctx
    }

    pub fn write_spec(&self, spec: &str) {
        std::fs::write(self.spec_path(), spec).expect("write spec");
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("proctor.toml")
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.home().join("control.sock")
    }

    /// A `proctor` command run in the project directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_proctor"));
        c.current_dir(self.dir.path())
            .env("PROCTOR_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("PROCTOR_LOG");
        c
    }

    /// Runs `proctor ARGS…` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run proctor")
    }

    /// Runs `proctor ARGS…` and asserts success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "proctor {args:?} failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn client(&self) -> Client {
        let mut c = Client::connect(&self.socket()).expect("connect to supervisor");
        c.set_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        c
    }

    pub fn status(&self) -> Reply {
        self.client()
            .request(Cmd::Status { services: vec![] })
            .expect("status")
    }

    pub fn service(&self, name: &str) -> proctor::control::proto::ServiceStatus {
        self.status()
            .services
            .into_iter()
            .find(|s| s.name == name)
            .expect("service in status")
    }

    /// Subscribes to state-change events.
    pub fn events(&self) -> Events {
        let mut c = self.client();
        c.send(Cmd::Events).expect("subscribe");
        Events(c)
    }

    pub fn supervisor_pid(&self) -> u32 {
        self.status().supervisor_pid
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        // Leave nothing running behind a failed test.
        if let Ok(mut c) = Client::connect(&self.socket()) {
            let _ = c.set_timeout(Some(Duration::from_secs(20)));
            if c.request(Cmd::Down {
                timeout_ms: Some(2000),
            })
            .is_ok()
            {
                while c.recv().is_ok() {}
                return;
            }
        }
        self.terminate_supervisor();
    }
}

impl TestContext {
    /// A supervisor that cannot take `down` (out of descriptors, hung) gets SIGTERM, which
    /// stops its services as `down` does, and SIGKILL if it is still there 10 s later. Its
    /// pid comes from its lock file, and counts only if that process runs with this
    /// test's `PROCTOR_HOME` (a pid may have been reused).
    fn terminate_supervisor(&self) {
        let Some(pid) = std::fs::read_to_string(self.home().join("supervisor.lock"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|&pid| pid > 0)
        else {
            return;
        };
        let ours = |pid: i32| {
            let want = format!("PROCTOR_HOME={}", self.home().display());
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want.as_bytes()))
        };
        use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
        // Held before the check, so that what is signalled is what was checked.
        let Some(fd) = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok())
        else {
            return;
        };
        if !ours(pid) {
            return;
        }
        let _ = pidfd_send_signal(&fd, Signal::TERM);
        if !exits_within(&fd, Duration::from_secs(10)) {
            let _ = pidfd_send_signal(&fd, Signal::KILL);
        }
    }
}

/// Whether the process behind `pidfd` ends within `within`: waits on the pidfd, which
/// becomes readable when it exits (and cannot name another process later).
pub fn exits_within(pidfd: &std::os::fd::OwnedFd, within: Duration) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        pidfd,
        rustix::event::PollFlags::IN,
    )];
    let limit = rustix::event::Timespec {
        tv_sec: i64::try_from(within.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(within.subsec_nanos()),
    };
    matches!(rustix::event::poll(&mut fds, Some(&limit)), Ok(n) if n > 0)
}

/// A stream of state-change events.
pub struct Events(pub Client);

impl Events {
    /// The next event matching `pred`, failing the test after `within`.
    pub fn until(&mut self, within: Duration, mut pred: impl FnMut(&Event) -> bool) -> Event {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no matching event within {within:?}");
            self.0.set_timeout(Some(left)).expect("timeout");
            match self.0.recv() {
                Ok(resp) => {
                    if let Body::Event(ev) = resp.body {
                        if pred(&ev) {
                            return ev;
                        }
                    }
                }
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    }
}

/// Pids of live processes in process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((state, _ppid, pg)) = stat(pid) {
            if pg == pgid && state != 'Z' {
                out.push(pid);
            }
        }
    }
    out
}

/// Zombie children of `parent`.
pub fn zombies_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Some((state, ppid, _)) = stat(pid) {
            if ppid == parent && state == 'Z' {
                out.push(pid);
            }
        }
    }
    out
}

/// (state, ppid, pgrp) from /proc/PID/stat.
pub fn stat(pid: u32) -> Option<(char, u32, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(s, _, _)| s != 'Z')
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits for a log line of the followed services containing `text`.
pub fn follow_until(c: &mut proctor::control::Client, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no log line with {text:?} within 10s");
        c.set_timeout(Some(left)).expect("timeout");
        let resp = c.recv().expect("log stream");
        if let proctor::control::proto::Body::Log(l) = resp.body {
            if l.record.contains(text) {
                return;
            }
        }
    }
}

/// A command's stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
