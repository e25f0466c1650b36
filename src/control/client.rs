//! The blocking control client: connect, send one request, read the answer.
//!
//! It uses std's `UnixStream` only, so the CLI starts no async runtime.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proto::{self, Body, Command, ErrorBody, Reply, Request, Response, VERSION};

/// Why talking to a supervisor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No supervisor listens on the socket.
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
    /// No answer within the time limit.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A connection to a supervisor.
pub struct Client {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    next_id: u64,
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
        })
    }

    /// The pid of the process at the other end, as the kernel recorded it when it accepted
    /// the connection (`SO_PEERCRED`): the supervisor's process.
    pub fn peer_pid(&self) -> Option<u32> {
        let cred = rustix::net::sockopt::socket_peercred(self.reader.get_ref()).ok()?;
        u32::try_from(cred.pid.as_raw_nonzero().get()).ok()
    }

    /// Limits how long a reply may take (`None` = wait indefinitely).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ControlError> {
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| self.io(e))
    }

    fn io(&self, source: std::io::Error) -> ControlError {
        match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ControlError::Timeout(
                self.reader
                    .get_ref()
                    .read_timeout()
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            ),
            _ => ControlError::Io {
                socket: self.socket.clone(),
                source,
            },
        }
    }

    /// Sends `cmd` and returns its id.
    pub fn send(&mut self, cmd: Command) -> Result<u64, ControlError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = proto::encode(&Request {
            v: VERSION,
            id,
            cmd,
        });
        self.reader
            .get_mut()
            .write_all(&line)
            .map_err(|e| self.io(e))?;
        Ok(id)
    }

    /// Reads the next line into `line` (cleared first); `Closed` at end of input.
    fn read_line(&mut self, line: &mut Vec<u8>) -> Result<(), ControlError> {
        line.clear();
        let n = self
            .reader
            .read_until(b'\n', line)
            .map_err(|e| self.io(e))?;
        if n == 0 {
            return Err(ControlError::Closed);
        }
        Ok(())
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
                Body::Log(_) | Body::Event(_) => continue,
            };
        }
    }
}
