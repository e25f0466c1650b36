//! Probes: is the service ready, is it still alive?
//!
//! tcp connect, http GET status, unix socket connect, exec exit 0 — each one attempt with a
//! timeout ([`attempt`]). Readiness loops until the first success or the deadline; liveness
//! repeats every interval and reports after `failures` consecutive failures. `log` readiness
//! is matched by the log sink as lines arrive, and `notify` readiness by the [`notify`]
//! socket, so neither polls.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::{timeout, Instant};

use crate::spec::{Probe, ProbeKind};

mod http;
pub mod notify;
mod owner;

/// Where `exec` probes run: the service's working directory and environment.
#[derive(Debug, Clone, Default)]
pub struct ExecContext {
    /// Working directory (the process's own when `None`).
    pub cwd: Option<PathBuf>,
    /// Variables added to the environment.
    pub env: BTreeMap<String, String>,
    /// The service's leader pid, when its processes are proctor's own children: a tcp
    /// probe then passes only on a port one of them listens on.
    pub owner: Option<u32>,
}

/// Runs one attempt of `kind`; `Err` says why it failed.
pub async fn attempt(kind: &ProbeKind, limit: Duration, ctx: &ExecContext) -> Result<(), String> {
    match timeout(limit, attempt_inner(kind, ctx)).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {limit:?}")),
    }
}

async fn attempt_inner(kind: &ProbeKind, ctx: &ExecContext) -> Result<(), String> {
    match kind {
        ProbeKind::Tcp(addr) => {
            let stream = TcpStream::connect(addr.as_str())
                .await
                .map_err(|e| format!("tcp {addr}: {e}"))?;
            match (ctx.owner, stream.peer_addr()) {
                (Some(leader), Ok(peer)) => owner::check(peer.port(), leader),
                _ => Ok(()),
            }
        }
        ProbeKind::Unix(path) => UnixStream::connect(path)
            .await
            .map(drop)
            .map_err(|e| format!("unix {}: {e}", path.display())),
        ProbeKind::Http { url, status } => http::get(url, status).await,
        ProbeKind::Exec(argv) => exec(argv, ctx).await,
        ProbeKind::Log(_) | ProbeKind::Notify => Ok(()),
    }
}

async fn exec(argv: &[String], ctx: &ExecContext) -> Result<(), String> {
    let (prog, args) = argv.split_first().ok_or("empty exec probe")?;
    let mut cmd = tokio::process::Command::new(prog);
    if let Some(cwd) = ctx.cwd.as_ref().filter(|c| !crate::util::is_current_dir(c)) {
        cmd.current_dir(cwd);
    }
    let mut child = cmd
        .args(args)
        .envs(&ctx.env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("exec {prog}: {e}"))?;
    // Ours to reap (tokio does): a subreaper supervisor must not take it for an orphan.
    let _tracked = child.id().map(crate::sys::children::Tracked::new);
    let mut err = Vec::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = (&mut e).take(512).read_to_end(&mut err).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("exec {prog}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        let tail = String::from_utf8_lossy(&err).trim().to_string();
        Err(format!(
            "exec {prog}: {status}{}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ))
    }
}

/// What a probe loop reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The readiness probe passed.
    Ready,
    /// An attempt failed (reported when the reason changes).
    Failing(String),
    /// Readiness deadline passed or liveness failed too often: restart.
    Unhealthy(String),
}

/// The shortest pause between readiness attempts (see [`gap`]): a connect to a closed
/// local port costs microseconds, so a starting service can be asked often.
const FIRST_GAP: Duration = Duration::from_micros(100);
/// The shortest pause between attempts of an exec probe, each of which starts a process.
const FIRST_EXEC_GAP: Duration = Duration::from_millis(1);
/// Pauses shorter than this wait on a [`FineTimer`], not tokio's millisecond wheel.
const FINE_BELOW: Duration = Duration::from_millis(8);

/// Probes readiness until it passes or the deadline passes.
///
/// A starting service is probed on a fast schedule (see [`gap`]), so a port that opens 3 ms
/// after the spawn is seen within a millisecond instead of up to an interval later; the
/// extra attempts happen only while it starts, none once ready.
pub async fn readiness(probe: Probe, ctx: ExecContext, mut report: impl FnMut(Report)) {
    let start = Instant::now();
    let deadline = start + probe.deadline;
    tokio::time::sleep_until(start + probe.initial_delay).await;
    let first_gap = match probe.kind {
        ProbeKind::Exec(_) => FIRST_EXEC_GAP,
        _ => FIRST_GAP,
    };
    // Without one (out of descriptors), the pauses round up to milliseconds.
    let fine = crate::sys::timer::FineTimer::new().ok();
    let mut last = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match attempt(
            &probe.kind,
            probe.timeout.min(left.max(Duration::from_millis(1))),
            &ctx,
        )
        .await
        {
            Ok(()) => {
                report(Report::Ready);
                return;
            }
            Err(e) => {
                if e != last {
                    report(Report::Failing(e.clone()));
                    last = e;
                }
            }
        }
        let now = Instant::now();
        let pause = gap(
            now.saturating_duration_since(start),
            probe.interval,
            first_gap,
        );
        let next = now + pause;
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            report(Report::Unhealthy(format!(
                "not ready within {:?}: {last}",
                probe.deadline
            )));
            return;
        }
        match &fine {
            Some(timer) if pause < FINE_BELOW => {
                if timer.sleep_until(next).await.is_err() {
                    tokio::time::sleep_until(next).await;
                }
            }
            _ => tokio::time::sleep_until(next).await,
        }
    }
}

/// Probes liveness forever, reporting `Unhealthy` after `failures` consecutive failures.
pub async fn liveness(probe: Probe, ctx: ExecContext, mut report: impl FnMut(Report)) {
    tokio::time::sleep(probe.initial_delay).await;
    let mut failed = 0u32;
    loop {
        tokio::time::sleep(probe.interval).await;
        match attempt(&probe.kind, probe.timeout, &ctx).await {
            Ok(()) => failed = 0,
            Err(e) => {
                failed += 1;
                report(Report::Failing(e.clone()));
                if failed >= probe.failures.max(1) {
                    report(Report::Unhealthy(format!(
                        "liveness probe failed {failed} times in a row: {e}"
                    )));
                    return;
                }
            }
        }
    }
}

/// The pause before the next readiness attempt, `elapsed` after the first: an eighth of
/// that (at least `first`, at most `interval`), so readiness is seen at most 12.5% (or
/// `first`) after it came true: about 70 attempts in the first second (50 for exec).
fn gap(elapsed: Duration, interval: Duration, first: Duration) -> Duration {
    (elapsed / 8).max(first).min(interval)
}

/// Whether `kind` needs a polling loop (tcp/http/unix/exec) rather than an event source.
pub fn polls(kind: &ProbeKind) -> bool {
    !matches!(kind, ProbeKind::Log(_) | ProbeKind::Notify)
}

/// Writes `request` to `stream` (shared by the http probe).
async fn write_all(stream: &mut TcpStream, request: &[u8]) -> std::io::Result<()> {
    stream.write_all(request).await
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn readiness_retries_fast_then_at_the_interval() {
        let (ms, us) = (Duration::from_millis, Duration::from_micros);
        let second = ms(1000);
        assert_eq!(gap(ms(0), second, FIRST_GAP), us(100));
        assert_eq!(gap(us(800), second, FIRST_GAP), us(100));
        assert_eq!(gap(ms(8), second, FIRST_GAP), ms(1));
        assert_eq!(gap(ms(8), second, FIRST_EXEC_GAP), ms(1));
        assert_eq!(gap(ms(0), second, FIRST_EXEC_GAP), ms(1));
        assert_eq!(gap(ms(80), second, FIRST_GAP), ms(10));
        assert_eq!(gap(ms(20_000), second, FIRST_GAP), second);
        assert_eq!(gap(ms(0), us(50), FIRST_GAP), us(50));
        // Attempts in the first second at the default interval.
        let attempts = |first| {
            let (mut t, mut n) = (Duration::ZERO, 0);
            while t < second {
                t += gap(t, second, first);
                n += 1;
            }
            n
        };
        assert!(
            (60..80).contains(&attempts(FIRST_GAP)),
            "{}",
            attempts(FIRST_GAP)
        );
        assert!(
            (40..60).contains(&attempts(FIRST_EXEC_GAP)),
            "{}",
            attempts(FIRST_EXEC_GAP)
        );
    }
}
