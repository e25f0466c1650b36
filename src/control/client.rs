//! The blocking control client: connect, send one request, read the answer.
//!
//! It uses std's `UnixStream` only, so the CLI starts no async runtime. The first request
//! travels with a `hello` in the same write, and both answers are read in turn: the
//! handshake tells a client and a supervisor of different versions apart at no extra round
//! trip.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::proto::{
    self, Body, Command, ErrorBody, ErrorCode, HelloReply, Reply, Request, Response, VERSION,
};

/// This build's proctor version, as `hello` tells it.
const PROCTOR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a read of a reply has room for before it grows (64 KiB; 200 services' status is 46).
const READ_ROOM: usize = 64 << 10;

/// The id of the `hello` request; requests count from 1.
const HELLO_ID: u64 = 0;

/// Why talking to a supervisor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No supervisor is listening on the socket.
    #[error("no supervisor is running for this project (no one listens on {socket})")]
    NotRunning {
        /// The socket path.
        socket: PathBuf,
    },
    /// The connection failed midway.
    #[error("talking to the supervisor at {socket}: {source}")]
    Io {
        /// The socket path.
        socket: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The supervisor closed the connection without answering.
    #[error("the supervisor closed the connection without answering")]
    Closed,
    /// A reply could not be understood.
    #[error("unreadable reply from the supervisor (is it another proctor version?): {0}")]
    Protocol(String),
    /// The supervisor refused the request.
    #[error("{}", .0.message)]
    Remote(ErrorBody),
    /// The supervisor accepted the connection but said nothing at all in time: not even
    /// the `hello` that it answers at once when it is well.
    #[error(
        "the supervisor{} did not answer within {}",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        humantime::format_duration(*waited)
    )]
    NoAnswer {
        /// Its process id, as the kernel reports the peer.
        pid: Option<u32>,
        /// How long we waited.
        waited: Duration,
    },
    /// The supervisor speaks another protocol version.
    #[error(
        "this proctor ({PROCTOR_VERSION}) speaks protocol {ours}, but the supervisor (pid \
         {pid}, {}) speaks {theirs}: restart it (`kill {pid}` stops it and its services, \
         then `proctor up -d`)",
        version.as_deref().map_or_else(|| "an older proctor".into(), |v| format!("proctor {v}"))
    )]
    VersionMismatch {
        /// Ours.
        ours: u32,
        /// The supervisor's.
        theirs: u32,
        /// The supervisor's process id.
        pid: u32,
        /// The supervisor's proctor version; `None` for one from before `hello`.
        version: Option<String>,
    },
    /// The answer did not come within the time limit; the supervisor did answer `hello`,
    /// so it is alive, and what was asked is still under way.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}

/// Where the `hello` handshake stands.
enum Hello {
    /// Not sent yet: it goes with the first request.
    Unsent,
    /// Sent; its answer is the next line to read.
    Pending,
    /// Answered (`None`: by a supervisor from before `hello`).
    Answered(Option<HelloReply>),
}

/// A connection to a supervisor.
pub struct Client {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    next_id: u64,
    /// The limit set by [`Client::set_timeout`], and when the current one ends.
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    hello: Hello,
    /// What has been read of a line a timeout cut short, kept for the next read.
    partial: Vec<u8>,
}

impl Client {
    /// Connects to the supervisor whose socket is `socket`.
    pub fn connect(socket: &Path) -> Result<Self, ControlError> {
        let stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ControlError::NotRunning {
                    socket: socket.to_path_buf(),
                }
            }
            _ => ControlError::Io {
                socket: socket.to_path_buf(),
                source: e,
            },
        })?;
        Ok(Self {
            socket: socket.to_path_buf(),
            // A status of hundreds of services is tens of KiB: read it in a few calls.
            reader: BufReader::with_capacity(64 * 1024, stream),
            next_id: 1,
            timeout: None,
            deadline: None,
            hello: Hello::Unsent,
            partial: Vec::new(),
        })
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The pid of the process at the other end, as the kernel recorded it when it accepted
    /// the connection (`SO_PEERCRED`): the supervisor's process.
    pub fn peer_pid(&self) -> Option<u32> {
        let cred = rustix::net::sockopt::socket_peercred(self.reader.get_ref()).ok()?;
        u32::try_from(cred.pid.as_raw_nonzero().get()).ok()
    }

    /// Limits how long, from now on, answers may take (`None` = wait indefinitely): a
    /// deadline for everything read until the next call, not a limit per read.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ControlError> {
        self.timeout = timeout;
        self.deadline = timeout.map(|t| Instant::now() + t);
        if timeout.is_none() {
            self.reader
                .get_ref()
                .set_read_timeout(None)
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> ControlError {
        match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => self.timed_out(),
            _ => ControlError::Io {
                socket: self.socket.clone(),
                source,
            },
        }
    }

    /// The error for a deadline that passed: silence, or a slow answer.
    fn timed_out(&self) -> ControlError {
        let waited = self.timeout.unwrap_or_default();
        match self.hello {
            Hello::Pending => ControlError::NoAnswer {
                pid: self.peer_pid(),
                waited,
            },
            Hello::Unsent | Hello::Answered(_) => ControlError::Timeout(waited),
        }
    }

    /// Sends `cmd` and returns its id; the first request carries the `hello` with it.
    pub fn send(&mut self, cmd: Command) -> Result<u64, ControlError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut bytes = match self.hello {
            Hello::Unsent => hello_line(),
            Hello::Pending | Hello::Answered(_) => Vec::new(),
        };
        bytes.extend_from_slice(&proto::encode(&Request {
            v: VERSION,
            id,
            cmd,
        }));
        self.reader
            .get_mut()
            .write_all(&bytes)
            .map_err(|e| self.io(e))?;
        if matches!(self.hello, Hello::Unsent) {
            self.hello = Hello::Pending;
        }
        Ok(id)
    }

    /// Who the supervisor is, from its answer to `hello` (sent now if no request was);
    /// `None` for a supervisor from before `hello`. Fails if it speaks another protocol.
    pub fn hello(&mut self) -> Result<Option<&HelloReply>, ControlError> {
        if matches!(self.hello, Hello::Unsent) {
            self.reader
                .get_mut()
                .write_all(&hello_line())
                .map_err(|e| self.io(e))?;
            self.hello = Hello::Pending;
        }
        if matches!(self.hello, Hello::Pending) {
            let mut line = Vec::new();
            self.read_raw(&mut line)?;
            self.hello = Hello::Answered(self.check_hello(&line)?);
        }
        match &self.hello {
            Hello::Answered(h) => Ok(h.as_ref()),
            Hello::Unsent | Hello::Pending => Ok(None),
        }
    }

    /// Reads the answer to `hello`: who the supervisor is, or that it speaks another
    /// protocol.
    fn check_hello(&self, line: &[u8]) -> Result<Option<HelloReply>, ControlError> {
        let resp: Response =
            serde_json::from_slice(line).map_err(|e| ControlError::Protocol(e.to_string()))?;
        match resp.body {
            Body::Hello(h) if h.proto == VERSION => Ok(Some(h)),
            Body::Hello(h) => Err(ControlError::VersionMismatch {
                ours: VERSION,
                theirs: h.proto,
                pid: h.pid,
                version: Some(h.version),
            }),
            // A supervisor from before `hello`, which spoke protocol 1.
            Body::Error(e) if e.code == ErrorCode::UnknownCommand && VERSION != 1 => {
                Err(ControlError::VersionMismatch {
                    ours: VERSION,
                    theirs: 1,
                    pid: self.peer_pid().unwrap_or_default(),
                    version: None,
                })
            }
            // Any other refusal will show again in the answer to the request itself.
            _ => Ok(None),
        }
    }

    /// Reads the next line into `line` (cleared first), the answer to `hello` checked and
    /// consumed first if it is due; `Closed` at end of input.
    fn read_line(&mut self, line: &mut Vec<u8>) -> Result<(), ControlError> {
        if matches!(self.hello, Hello::Pending) {
            self.hello()?;
        }
        self.read_raw(line)
    }

    /// Reads the next line within the deadline. A line cut short by the deadline is kept,
    /// so that the next read goes on where this one stopped.
    fn read_raw(&mut self, line: &mut Vec<u8>) -> Result<(), ControlError> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out());
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(|e| self.io(e))?;
        }
        // Room for a status of a few hundred services up front: grown by doubling, the
        // buffer's copies faulted in three times the pages the reply needs.
        if self.partial.capacity() < READ_ROOM {
            self.partial.reserve(READ_ROOM - self.partial.len());
        }
        let read = self.reader.read_until(b'\n', &mut self.partial);
        match read {
            Ok(0) if self.partial.is_empty() => Err(ControlError::Closed),
            Ok(_) => {
                line.clear();
                std::mem::swap(line, &mut self.partial);
                Ok(())
            }
            Err(e) => Err(self.io(e)),
        }
    }

    /// Reads the next message.
    pub fn recv(&mut self) -> Result<Response, ControlError> {
        let mut line = Vec::new();
        self.read_line(&mut line)?;
        serde_json::from_slice(&line).map_err(|e| ControlError::Protocol(e.to_string()))
    }

    /// Sends `cmd` and returns its reply's JSON text undecoded (the `ok` object), for callers
    /// that only pass it on: decoding and re-encoding hundreds of services costs more than
    /// the rest of a `status` call.
    pub fn request_raw(&mut self, cmd: Command) -> Result<String, ControlError> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            id: Option<u64>,
            #[serde(borrow)]
            ok: Option<&'a serde_json::value::RawValue>,
            error: Option<proto::ErrorBody>,
        }
        let id = self.send(cmd)?;
        let mut line = Vec::new();
        loop {
            self.read_line(&mut line)?;
            if let Some(ok) = ok_payload(&line, id) {
                // The payload moved to the front of the line's own buffer, not copied.
                line.truncate(ok.end);
                line.drain(..ok.start);
                return String::from_utf8(line).map_err(|e| {
                    ControlError::Protocol(format!("a reply that is not UTF-8: {e}"))
                });
            }
            let raw: Raw<'_> =
                serde_json::from_slice(&line).map_err(|e| ControlError::Protocol(e.to_string()))?;
            if raw.id.is_some() && raw.id != Some(id) {
                continue;
            }
            match (raw.ok, raw.error) {
                (Some(ok), _) => return Ok(ok.get().to_string()),
                (None, Some(e)) => return Err(ControlError::Remote(e)),
                (None, None) => continue,
            }
        }
    }

    /// Sends `cmd` and waits for its reply.
    pub fn request(&mut self, cmd: Command) -> Result<Reply, ControlError> {
        let id = self.send(cmd)?;
        loop {
            let resp = self.recv()?;
            if resp.id.is_some() && resp.id != Some(id) {
                continue;
            }
            return match resp.body {
                Body::Ok(reply) => Ok(reply),
                Body::Error(e) => Err(ControlError::Remote(e)),
                Body::Log(_) | Body::Event(_) | Body::Hello(_) => continue,
            };
        }
    }
}

/// The `ok` payload of the reply to request `id`, sliced out of the line as the supervisor
/// encodes it (`{"v":1,"id":ID,"ok":PAYLOAD}`, the payload last: [`super::proto::Response`])
/// without reading the payload: serde_json's check of a raw value scans every byte of it,
/// two thirds of a `status --json` of 200 services. Any other shape is `None`, and read
/// in full.
fn ok_payload(line: &[u8], id: u64) -> Option<std::ops::Range<usize>> {
    let head = format!(r#"{{"v":{VERSION},"id":{id},"ok":"#);
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let payload = line.strip_prefix(head.as_bytes())?.strip_suffix(b"}")?;
    // A reply is an object. A field after it (a later protocol) ends the line otherwise,
    // unless its value is an object too; the encoder's test keeps `ok` last.
    (payload.first() == Some(&b'{') && payload.last() == Some(&b'}'))
        .then_some(head.len()..head.len() + payload.len())
}

/// The `hello` request line.
fn hello_line() -> Vec<u8> {
    proto::encode(&Request {
        v: VERSION,
        id: HELLO_ID,
        cmd: Command::Hello {
            proto: VERSION,
            version: PROCTOR_VERSION.into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::encode;

    /// The payload sliced from an encoded reply is the reply's own JSON, byte for byte;
    /// other shapes are left to the full reading.
    #[test]
    fn the_ok_payload_is_sliced_from_the_line_as_encoded() {
        let reply = Reply {
            project: "p \"q\" }".into(),
            ..Reply::default()
        };
        let line = encode(&Response {
            v: VERSION,
            id: Some(42),
            body: Body::Ok(reply.clone()),
        });
        let want = serde_json::to_vec(&reply).expect("encodes");
        let range = ok_payload(&line, 42).expect("sliced");
        assert_eq!(&line[range], &want[..]);
        assert_eq!(ok_payload(&line, 41), None, "another request's reply");
        let error = encode(&Response {
            v: VERSION,
            id: Some(42),
            body: Body::Error(ErrorBody {
                code: ErrorCode::BadRequest,
                message: "no".into(),
            }),
        });
        assert_eq!(ok_payload(&error, 42), None);
        let later = br#"{"v":1,"id":42,"ok":{"a":1},"more":2}"#;
        assert_eq!(ok_payload(later, 42), None);
    }
}
