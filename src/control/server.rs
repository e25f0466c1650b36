//! The supervisor's side of the control socket.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::proto::{self, Body, Command, ErrorCode, Event, HelloReply, LogLine, Response, VERSION};
use crate::logs::LogBatch;

/// A request from a connection, with where its answer goes.
pub(crate) struct Call {
    /// The request.
    pub(crate) cmd: Command,
    /// Where the answer goes; the connection waits on it.
    pub(crate) reply: oneshot::Sender<Result<proto::Reply, proto::ErrorBody>>,
}

/// What connections share with the supervisor loop.
pub(crate) struct Shared {
    /// Requests to the supervisor.
    pub(crate) calls: mpsc::UnboundedSender<Call>,
    pub(crate) logs: broadcast::Sender<Arc<LogBatch>>,
    pub(crate) events: broadcast::Sender<Arc<Event>>,
    /// Service names by index; grows when `run` adds a service.
    pub(crate) names: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    /// Becomes true when the supervisor is done: idle connections close, streams drain.
    pub(crate) closing: watch::Receiver<bool>,
}

/// How long a client has to send its first request, and to finish any request it started.
/// Generous for a CLI on a loaded machine; short enough that connections which never say
/// anything (a hung or hostile client) do not pile up and eat descriptors. Waiting
/// *between* requests has no deadline: a library keeps one connection for many.
pub(crate) const READ_DEADLINE: Duration = Duration::from_secs(10);
/// The first pause after a failed accept, doubled after each failure in a row.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
/// The longest pause between tries while accepting keeps failing (out of descriptors).
const ACCEPT_PAUSE_MAX: Duration = Duration::from_millis(500);

/// The control socket's listener, pausing after a failed accept.
///
/// At EMFILE or ENFILE the pending connection stays queued and the socket stays readable,
/// so accepting again at once fails again at once: the loop would spin at full CPU while
/// nothing frees a descriptor. Instead it pauses (10 ms, doubling to 500 ms) and tries
/// again; the waiting clients are accepted once descriptors are free. Cancel-safe: the
/// pause is kept here, so a `select!` that drops [`accept`](Self::accept) loses nothing.
#[derive(Debug)]
pub(crate) struct Acceptor {
    listener: UnixListener,
    /// The last pause, while accepting keeps failing.
    pause: Option<Duration>,
    /// No accept before this.
    until: Option<Instant>,
}

impl Acceptor {
    /// Accepts from `listener`.
    pub(crate) fn new(listener: UnixListener) -> Self {
        Self {
            listener,
            pause: None,
            until: None,
        }
    }

    /// The next connection.
    pub(crate) async fn accept(&mut self) -> UnixStream {
        loop {
            if let Some(until) = self.until {
                tokio::time::sleep_until(until).await;
                self.until = None;
            }
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    if self.pause.take().is_some() {
                        tracing::info!("accepting control connections again");
                    }
                    return stream;
                }
                Err(e) => {
                    let pause = next_pause(self.pause);
                    if self.pause.is_none() {
                        let e = crate::sys::limits::explain(e);
                        tracing::warn!("cannot accept a control connection, pausing: {e}");
                    }
                    self.pause = Some(pause);
                    self.until = Some(Instant::now() + pause);
                }
            }
        }
    }
}

/// The pause after a failed accept, given the one before (`None` after a success).
fn next_pause(last: Option<Duration>) -> Duration {
    last.map_or(ACCEPT_PAUSE_MIN, |p| (p * 2).min(ACCEPT_PAUSE_MAX))
}

/// Reads the next request line into `buf` (see [`read_line`]). The first request on a
/// connection must arrive within [`READ_DEADLINE`]; later ones may be awaited for as long as
/// the client likes, but once one starts it must be complete within the deadline.
async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    first: bool,
) -> std::io::Result<Option<bool>> {
    if !first && reader.fill_buf().await?.is_empty() {
        return Ok(None);
    }
    match tokio::time::timeout(READ_DEADLINE, read_line(reader, buf)).await {
        Ok(read) => read,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no complete request within the deadline",
        )),
    }
}

/// Whether the peer may talk to us: the same uid, or root.
fn peer_allowed(stream: &UnixStream) -> bool {
    let me = rustix::process::getuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) => cred.uid() == me || cred.uid() == 0,
        Err(_) => false,
    }
}

/// Reads one line of at most `proto::MAX_LINE` bytes; `Ok(None)` at end of input.
async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let limit = proto::MAX_LINE as u64 + 1;
    let n = (&mut *reader).take(limit).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    let too_long = buf.len() > proto::MAX_LINE;
    if too_long && buf.last() != Some(&b'\n') {
        // Skip the rest of the over-long line.
        loop {
            let more = reader.fill_buf().await?;
            if more.is_empty() {
                break;
            }
            match memchr::memchr(b'\n', more) {
                Some(p) => {
                    reader.consume(p + 1);
                    break;
                }
                None => {
                    let l = more.len();
                    reader.consume(l);
                }
            }
        }
    }
    Ok(Some(too_long))
}

/// Serves one connection until the client leaves.
pub(crate) async fn serve(stream: UnixStream, shared: Rc<Shared>) {
    if !peer_allowed(&stream) {
        tracing::warn!("refused a control connection from another user");
        return;
    }
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    let mut line = Vec::new();
    let mut closing = shared.closing.clone();
    let mut first = true;
    loop {
        let read = tokio::select! {
            r = read_request(&mut reader, &mut line, first) => r,
            _ = closing.wait_for(|c| *c) => return,
        };
        first = false;
        let too_long = match read {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    tracing::debug!("closing a control connection: {e}");
                }
                return;
            }
        };
        let resp = if too_long {
            proto::error_response(None, ErrorCode::BadRequest, "request line too long".into())
        } else {
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            match proto::decode_request(trimmed) {
                Err(resp) => *resp,
                Ok(req) => match req.cmd {
                    Command::Follow { services } => {
                        follow(&shared, req.id, &services, &mut reader, &mut wr).await;
                        return;
                    }
                    Command::Events => {
                        events(&shared, req.id, &mut reader, &mut wr).await;
                        return;
                    }
                    Command::Hello { .. } => {
                        // Answered here, at once, even while the loop is busy. A client
                        // that sent its request and left does not read this answer, and
                        // that must not cost its request: go on reading either way.
                        let _ = wr.write_all(&proto::encode(&hello(req.id))).await;
                        continue;
                    }
                    cmd => {
                        let (tx, rx) = oneshot::channel();
                        if shared.calls.send(Call { cmd, reply: tx }).is_err() {
                            return;
                        }
                        // The loop keeps the sender until it answers; a client that leaves
                        // meanwhile just drops this task's receiver.
                        let body = match rx.await {
                            Ok(Ok(reply)) => Body::Ok(reply),
                            Ok(Err(e)) => Body::Error(e),
                            Err(_) => return,
                        };
                        Response {
                            v: VERSION,
                            id: Some(req.id),
                            body,
                        }
                    }
                },
            }
        };
        if wr.write_all(&proto::encode(&resp)).await.is_err() {
            return;
        }
    }
}

/// The answer to `hello`: this supervisor's protocol, version and pid.
fn hello(id: u64) -> Response {
    Response {
        v: VERSION,
        id: Some(id),
        body: Body::Hello(HelloReply {
            proto: VERSION,
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
        }),
    }
}

/// Streams log records of `services` until the client closes its side.
async fn follow<R: AsyncRead + Unpin, W: tokio::io::AsyncWrite + Unpin>(
    shared: &Shared,
    id: u64,
    services: &[String],
    reader: &mut BufReader<R>,
    wr: &mut W,
) {
    let wanted: Vec<usize> = services
        .iter()
        .filter_map(|n| shared.names.borrow().iter().position(|x| x == n))
        .collect();
    let mut rx = shared.logs.subscribe();
    let mut out = Vec::new();
    let mut closing = shared.closing.clone();
    let mut draining = false;
    while let Some(batch) = next_streamed(&mut rx, &mut closing, &mut draining, reader).await {
        out.clear();
        match batch {
            Ok(batch) => {
                if !wanted.is_empty() && !wanted.contains(&batch.service) {
                    continue;
                }
                let name = shared
                    .names
                    .borrow()
                    .get(batch.service)
                    .cloned()
                    .unwrap_or_default();
                for rec in batch
                    .records
                    .split(|b| *b == b'\n')
                    .filter(|r| !r.is_empty())
                {
                    out.extend_from_slice(&proto::encode(&Response {
                        v: VERSION,
                        id: Some(id),
                        body: Body::Log(LogLine {
                            service: name.clone(),
                            record: String::from_utf8_lossy(rec).into_owned(),
                        }),
                    }));
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                out.extend_from_slice(&proto::encode(&proto::error_response(
                    Some(id),
                    ErrorCode::Lagged,
                    format!("{n} log batches skipped: the client read too slowly"),
                )));
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Streams state-change events until the client closes its side.
async fn events<R: AsyncRead + Unpin, W: tokio::io::AsyncWrite + Unpin>(
    shared: &Shared,
    id: u64,
    reader: &mut BufReader<R>,
    wr: &mut W,
) {
    let mut rx = shared.events.subscribe();
    let mut closing = shared.closing.clone();
    let mut draining = false;
    while let Some(ev) = next_streamed(&mut rx, &mut closing, &mut draining, reader).await {
        let msg = match ev {
            Ok(ev) => Body::Event((*ev).clone()),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let resp = Response {
            v: VERSION,
            id: Some(id),
            body: msg,
        };
        if wr.write_all(&proto::encode(&resp)).await.is_err() {
            return;
        }
    }
}

/// The next message for a stream (`follow`, `events`) from `rx`, or `None` once the stream
/// ends: the client closed its side, or the supervisor is closing and what was already
/// queued has been handed out (`draining` remembers that it is closing).
async fn next_streamed<T: Clone, R: AsyncRead + Unpin>(
    rx: &mut broadcast::Receiver<T>,
    closing: &mut watch::Receiver<bool>,
    draining: &mut bool,
    reader: &mut BufReader<R>,
) -> Option<Result<T, broadcast::error::RecvError>> {
    let mut sink = [0u8; 64];
    loop {
        if *draining {
            return rx.try_recv().ok().map(Ok);
        }
        tokio::select! {
            m = rx.recv() => return Some(m),
            _ = closing.wait_for(|c| *c) => *draining = true,
            n = reader.read(&mut sink) => {
                if matches!(n, Ok(0) | Err(_)) {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that connects and never sends is dropped at the deadline (time is paused:
    /// the runtime jumps to it instead of waiting).
    #[tokio::test(start_paused = true)]
    async fn a_silent_client_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let mut reader = BufReader::new(server);
        let mut buf = Vec::new();
        let started = Instant::now();
        let err = read_request(&mut reader, &mut buf, true)
            .await
            .expect_err("timed out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), READ_DEADLINE);
    }

    /// Between requests a client may wait as long as it likes; a request it starts must
    /// end within the deadline.
    #[tokio::test(start_paused = true)]
    async fn idle_between_requests_is_allowed_but_a_started_line_must_finish() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = BufReader::new(server);
        let mut buf = Vec::new();
        let idle = tokio::spawn(async move {
            tokio::time::sleep(READ_DEADLINE * 5).await;
            client.write_all(b"{\"half\":").await.expect("write");
            client
        });
        let err = read_request(&mut reader, &mut buf, false)
            .await
            .expect_err("the half line times out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        drop(idle.await.expect("writer"));
    }

    /// Failed accepts in a row pause ever longer, up to the cap, never zero.
    #[test]
    fn the_accept_pause_doubles_to_its_cap() {
        assert_eq!(next_pause(None), ACCEPT_PAUSE_MIN);
        assert_eq!(next_pause(Some(ACCEPT_PAUSE_MIN)), ACCEPT_PAUSE_MIN * 2);
        assert_eq!(next_pause(Some(ACCEPT_PAUSE_MAX)), ACCEPT_PAUSE_MAX);
        let mut p = None;
        for _ in 0..20 {
            p = Some(next_pause(p));
        }
        assert_eq!(p, Some(ACCEPT_PAUSE_MAX));
    }
}
