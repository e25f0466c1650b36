//! `[project] metrics`: the services as Prometheus metrics, at `GET /metrics`.
//!
//! Off by default, and then there is no socket and no task: the loop's branch for it never
//! resolves. When on, the listener is one more branch of the loop; each connection gets the
//! metrics as they are at accept time (read on the loop, where the state lives) and a small
//! task that reads the request and writes the answer, so a slow scraper never holds the
//! loop. Nothing is sampled in between scrapes: an idle supervisor still never wakes.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::driver::Driver;
use super::SuperviseError;

/// How long a scraper has to send its request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Longest request head read; a scrape's is a few hundred bytes.
const REQUEST_MAX: usize = 8 * 1024;
/// The pause after a failed accept (out of descriptors), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// What the body is: the OpenMetrics text `prometheus-client` writes, which Prometheus
/// reads (and asks for first).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics listener, if the project asks for one.
pub(super) struct Metrics {
    listener: Option<TcpListener>,
    /// No accept before this, after a failure.
    until: Option<Instant>,
}

impl Metrics {
    /// Binds `addr`, or does nothing when it is `None`.
    pub(super) fn bind(addr: Option<SocketAddr>) -> Result<Self, SuperviseError> {
        let listener = match addr {
            None => None,
            Some(addr) => {
                let bound = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(TcpListener::from_std)
                    .map_err(|source| SuperviseError::Metrics { addr, source })?;
                tracing::info!("serving metrics at http://{addr}/metrics");
                Some(bound)
            }
        };
        Ok(Self {
            listener,
            until: None,
        })
    }

    /// The next scraper's connection; never resolves when metrics are off.
    pub(super) async fn accept(&mut self) -> TcpStream {
        let Some(listener) = &self.listener else {
            return std::future::pending().await;
        };
        loop {
            if let Some(until) = self.until.take() {
                tokio::time::sleep_until(until).await;
            }
            match listener.accept().await {
                Ok((stream, _)) => return stream,
                Err(e) => {
                    tracing::warn!("cannot accept a metrics connection: {e}");
                    self.until = Some(Instant::now() + ACCEPT_PAUSE);
                }
            }
        }
    }
}

/// A sample's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    project: String,
    service: String,
}

/// Every metric family of one scrape.
#[derive(Default)]
struct Families {
    up: Family<Labels, Gauge>,
    ready: Family<Labels, Gauge>,
    restarts: Family<Labels, Counter>,
    cpu: Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>>,
    memory: Family<Labels, Gauge>,
    start_time: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    lines: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
}

impl Families {
    fn register(&self) -> Registry {
        let mut r = Registry::default();
        r.register(
            "proctor_service_up",
            "1 while the service has a process",
            self.up.clone(),
        );
        r.register(
            "proctor_service_ready",
            "1 while the service is ready",
            self.ready.clone(),
        );
        r.register(
            "proctor_service_restarts",
            "Automatic restarts of the service",
            self.restarts.clone(),
        );
        r.register(
            "proctor_service_cpu_seconds",
            "CPU time used by the service's current process tree",
            self.cpu.clone(),
        );
        r.register(
            "proctor_service_memory_bytes",
            "Memory of the service's process tree (its cgroup's, or the summed RSS)",
            self.memory.clone(),
        );
        r.register(
            "proctor_service_start_time_seconds",
            "When the service's current process started, in seconds since the Unix epoch",
            self.start_time.clone(),
        );
        r.register(
            "proctor_log_lines",
            "Log records of the service",
            self.lines.clone(),
        );
        r.register(
            "proctor_log_lines_dropped",
            "Log records that never reached the log file",
            self.dropped.clone(),
        );
        r
    }
}

impl Driver {
    /// The services' metrics now, in the OpenMetrics text format.
    pub(super) fn metrics_text(&self) -> String {
        let f = Families::default();
        let project = &self.spec.project.name;
        let procs = self.proc_table();
        let hz = rustix::param::clock_ticks_per_second() as f64;
        for (i, u) in self.machine.units().iter().enumerate() {
            let slot = &self.slots[i];
            if slot.removed {
                continue;
            }
            let l = Labels {
                project: project.clone(),
                service: self.spec.services[i].name.clone(),
            };
            f.up.get_or_create(&l).set(i64::from(u.pid.is_some()));
            f.ready.get_or_create(&l).set(i64::from(u.ready));
            f.restarts.get_or_create(&l).inc_by(u64::from(u.restarts));
            let (lines, dropped) = slot.sink.borrow().line_counts();
            f.lines.get_or_create(&l).inc_by(lines);
            f.dropped.get_or_create(&l).inc_by(dropped);
            if let Some(pid) = u.pid {
                let ticks: u64 = procs.tree(pid).map(|p| p.cpu_ticks).sum();
                f.cpu.get_or_create(&l).inc_by(ticks as f64 / hz);
                let memory = self.memory_of(i, pid, &procs);
                f.memory
                    .get_or_create(&l)
                    .set(i64::try_from(memory).unwrap_or(i64::MAX));
                if let Some(t) = slot.started_wall {
                    let secs = t
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    f.start_time.get_or_create(&l).set(secs);
                }
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &f.register());
        text
    }
}

/// Reads the request on `stream` and answers it with `text` (for `GET /metrics`) or an
/// error status.
pub(super) async fn serve(mut stream: TcpStream, text: String) {
    let head = match tokio::time::timeout(REQUEST_DEADLINE, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        // Gone, silent, or too long: nothing worth an answer.
        Ok(Err(_)) | Err(_) => return,
    };
    let mut words = head.split(|&b| b == b' ');
    let (method, target) = (words.next(), words.next());
    let path = target.map(|t| t.split(|&b| b == b'?').next().unwrap_or(t));
    let response = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => respond("200 OK", CONTENT_TYPE, &text),
        (Some(b"GET"), _) => respond("404 Not Found", "text/plain", "try /metrics\n"),
        _ => respond("405 Method Not Allowed", "text/plain", "GET only\n"),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// The request line, once the whole head has arrived.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > REQUEST_MAX {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = memchr::memchr(b'\r', &buf).unwrap_or(buf.len());
    buf.truncate(end);
    Ok(buf)
}

fn respond(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}
