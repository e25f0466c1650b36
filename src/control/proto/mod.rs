//! The control protocol, sans I/O: newline-delimited JSON requests and responses.
//!
//! A request is `{"v":1,"id":N,"cmd":"status",…}`; its response carries the same `id` and
//! either `"ok": {…}` or `"error": {"code","message"}`. Streaming commands (`logs` with
//! `follow`, `events`) answer with any number of `"log"`/`"event"` messages. A line that is
//! not valid JSON, names an unknown command, or speaks another version gets an error
//! response with `"id": null` (or its id when readable); the connection stays open.
//!
//! Every type here is the wire's own and this module imports nothing else from the crate:
//! the supervisor converts its internal state into these types (`supervise::wire`), so a
//! change inside the supervisor cannot change the protocol unnoticed. The checked-in
//! transcript (`tests.rs` and its snapshot) shows every message as bytes.

use serde::{Deserialize, Serialize};

mod error;
mod hello;
pub(crate) mod rfc3339;
mod run;
mod status;

pub use error::{ErrorBody, ErrorCode};
pub use hello::{HelloReply, Ready};
pub use run::{RunBackend, RunRestart, RunService, StartOverrides};
pub use status::{
    Event, Exit, Failure, LogLine, PlanAction, PlanStep, Reply, ServiceStatus, State,
};

/// The protocol version spoken by this build.
pub const VERSION: u32 = 1;

/// Longest request line accepted, in bytes.
pub const MAX_LINE: usize = 1024 * 1024;

/// A request: version, id, and the command with its arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version; must equal [`VERSION`].
    pub v: u32,
    /// Chosen by the client, echoed in the response.
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub cmd: Command,
}

/// The commands a supervisor understands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Report services (all when empty).
    Status {
        /// Services to report.
        #[serde(default)]
        services: Vec<String>,
    },
    /// Start the named services, or those `role` autostarts; answer once settled.
    Up {
        /// Services to start (empty = the autostart set).
        #[serde(default)]
        services: Vec<String>,
        /// Role selecting the autostart set.
        #[serde(default)]
        role: Option<String>,
    },
    /// Start services (and what they depend on); answer once each is ready or failed.
    Start {
        /// Services to start.
        services: Vec<String>,
        /// This start (of one service) with more environment, another directory or more
        /// arguments; kept for its restarts until a reload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overrides: Option<StartOverrides>,
    },
    /// Stop services (dependents first); answer once they are down.
    Stop {
        /// Services to stop.
        services: Vec<String>,
        /// Grace period overriding `stop_timeout`.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// Restart services; answer once each is ready or failed.
    Restart {
        /// Services to restart.
        services: Vec<String>,
    },
    /// Answer once each service is ready (or has failed).
    Wait {
        /// Services to wait for.
        services: Vec<String>,
    },
    /// Stop everything and exit the supervisor.
    Down {
        /// Grace period overriding each `stop_timeout`.
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// Stream new log records of services (all when empty) until the client leaves.
    Follow {
        /// Services to follow.
        #[serde(default)]
        services: Vec<String>,
    },
    /// Stream state-change events until the client leaves.
    Events,
    /// Add (or redefine, if stopped) an ad-hoc service and start it; answer once it is
    /// ready or failed.
    Run {
        /// The service.
        service: RunService,
    },
    /// Stop ad-hoc services and forget them; answer once they are down.
    Rm {
        /// Services to remove.
        services: Vec<String>,
    },
    /// Send a signal to each service's processes (they keep running); answered at once.
    Signal {
        /// Services to signal.
        services: Vec<String>,
        /// The signal: a name (`USR1`, `SIGHUP`) or a number.
        signal: String,
    },
    /// Re-read the spec file and apply what changed: start what was added, restart what
    /// changed, stop what was removed, leave the rest alone. Answered, with the plan, once
    /// what was started or restarted is up (at once with `dry_run`, which changes nothing).
    Reload {
        /// Only say what would change.
        #[serde(default)]
        dry_run: bool,
    },
    /// Run `replicas` instances of the `replicas = N` service `service`: start the new
    /// ones (when the others are up), stop and forget the surplus; the rest keep running.
    /// Holds until a reload, which goes back to the spec's count. Answered, with the
    /// plan, once the new ones are ready.
    Scale {
        /// The replicated service's name (`web` for `web.0` …).
        service: String,
        /// How many to run.
        replicas: u32,
    },
    /// Say who the client is and learn who the supervisor is ([`HelloReply`]). Optional,
    /// answered whatever the request's `v`; a client sends it with its first request.
    Hello {
        /// The protocol version the client speaks.
        proto: u32,
        /// The client's proctor version.
        version: String,
    },
}

/// A message from the supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "WireResponse")]
pub struct Response {
    /// Protocol version.
    pub v: u32,
    /// The request's id; `null` when the request could not be read.
    pub id: Option<u64>,
    /// The payload, encoded last: a client may slice an `ok` payload out of the line
    /// without reading it (`Client::request_raw`).
    #[serde(flatten)]
    pub body: Body,
}

/// How a [`Response`] is read: a flattened enum would make serde buffer the whole message
/// before decoding it, which dominated `status` with many services.
#[derive(Deserialize)]
struct WireResponse {
    v: u32,
    id: Option<u64>,
    ok: Option<Reply>,
    error: Option<ErrorBody>,
    log: Option<LogLine>,
    event: Option<Event>,
    hello: Option<HelloReply>,
}

impl TryFrom<WireResponse> for Response {
    type Error = &'static str;

    fn try_from(w: WireResponse) -> Result<Self, Self::Error> {
        let body = match (w.ok, w.error, w.log, w.event, w.hello) {
            (Some(r), None, None, None, None) => Body::Ok(r),
            (None, Some(e), None, None, None) => Body::Error(e),
            (None, None, Some(l), None, None) => Body::Log(l),
            (None, None, None, Some(e), None) => Body::Event(e),
            (None, None, None, None, Some(h)) => Body::Hello(h),
            _ => return Err("a response holds exactly one of ok, error, log, event, hello"),
        };
        Ok(Response {
            v: w.v,
            id: w.id,
            body,
        })
    }
}

/// The payload of a [`Response`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// The command succeeded.
    Ok(Reply),
    /// The command failed.
    Error(ErrorBody),
    /// A streamed log record.
    Log(LogLine),
    /// A streamed state change.
    Event(Event),
    /// The answer to `hello`.
    Hello(HelloReply),
}

/// Encodes a message as one JSON line (with the trailing newline).
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing these types cannot fail: no maps with non-string keys, no custom errors.
    let mut line = serde_json::to_vec(msg).unwrap_or_else(|e| {
        format!(r#"{{"v":{VERSION},"id":null,"error":{{"code":"internal","message":"{e}"}}}}"#)
            .into_bytes()
    });
    line.push(b'\n');
    line
}

/// Decodes a request line, or the error response to send back.
pub fn decode_request(line: &[u8]) -> Result<Request, Box<Response>> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| error_response(None, ErrorCode::BadRequest, format!("malformed JSON: {e}")))
        .map_err(Box::new)?;
    let id = value.get("id").and_then(serde_json::Value::as_u64);
    // `hello` is how two versions learn that they differ: answered whatever its `v`.
    let hello = value.get("cmd").and_then(serde_json::Value::as_str) == Some("hello");
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) || hello => {}
        Some(v) => {
            return Err(Box::new(error_response(
                id,
                ErrorCode::VersionMismatch,
                format!("protocol version {v} is not supported; this supervisor speaks {VERSION}"),
            )))
        }
        None => {
            return Err(Box::new(error_response(
                id,
                ErrorCode::BadRequest,
                "missing protocol version \"v\"".into(),
            )))
        }
    }
    if id.is_none() {
        return Err(Box::new(error_response(
            None,
            ErrorCode::BadRequest,
            "missing request \"id\"".into(),
        )));
    }
    let cmd = value
        .get("cmd")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    serde_json::from_value(value).map_err(|e| {
        Box::new(match cmd {
            Some(c) if !KNOWN.contains(&c.as_str()) => error_response(
                id,
                ErrorCode::UnknownCommand,
                format!("unknown command {c:?}; known: {}", KNOWN.join(", ")),
            ),
            _ => error_response(id, ErrorCode::BadRequest, format!("invalid request: {e}")),
        })
    })
}

const KNOWN: &[&str] = &[
    "status", "up", "start", "stop", "restart", "wait", "down", "follow", "events", "run", "rm",
    "reload", "signal", "hello",
];

/// An error response.
pub fn error_response(id: Option<u64>, code: ErrorCode, message: String) -> Response {
    Response {
        v: VERSION,
        id,
        body: Body::Error(ErrorBody { code, message }),
    }
}

#[cfg(test)]
mod tests;
