//! Handshakes: `hello`, where client and supervisor say which protocol and proctor they
//! are, and the readiness report a starting supervisor sends to the process that started
//! it.

use serde::{Deserialize, Serialize};

/// The supervisor's answer to `hello`: who it is.
///
/// A client sends `hello` and its first request in one write and reads both answers, so the
/// handshake costs no round trip. `hello` is answered whatever the request's `v`, so two
/// builds that speak different versions can still tell each other so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    /// The protocol version the supervisor speaks.
    pub proto: u32,
    /// The supervisor's proctor version (`0.1.0`).
    pub version: String,
    /// The supervisor's process id.
    pub pid: u32,
}

/// A starting supervisor's report to whoever started it, one line on the ready pipe: it
/// listens on its control socket, or why it cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ReadyWire", try_from = "ReadyWire")]
pub enum Ready {
    /// It listens; requests may be sent.
    Listening {
        /// The supervisor's process id.
        pid: u32,
    },
    /// It could not start.
    Failed {
        /// Why, for people.
        error: String,
    },
}

/// How [`Ready`] looks on the wire: `{"ok":true,"pid":N}` or `{"error":"…","ok":false}`
/// (the fields in that order, as every proctor so far wrote them).
#[derive(Serialize, Deserialize)]
struct ReadyWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
}

impl From<Ready> for ReadyWire {
    fn from(r: Ready) -> Self {
        match r {
            Ready::Listening { pid } => ReadyWire {
                error: None,
                ok: true,
                pid: Some(pid),
            },
            Ready::Failed { error } => ReadyWire {
                error: Some(error),
                ok: false,
                pid: None,
            },
        }
    }
}

impl TryFrom<ReadyWire> for Ready {
    type Error = &'static str;

    fn try_from(w: ReadyWire) -> Result<Self, Self::Error> {
        match (w.ok, w.pid, w.error) {
            (true, Some(pid), _) => Ok(Ready::Listening { pid }),
            (true, None, _) => Err("a ready report with \"ok\": true names the \"pid\""),
            (false, _, error) => Ok(Ready::Failed {
                error: error.unwrap_or_else(|| "unknown error".into()),
            }),
        }
    }
}
