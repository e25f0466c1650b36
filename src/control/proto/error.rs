//! Failed commands: a machine-readable code and a message for people.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a command failed, for programs; serialised as a snake_case string.
///
/// A code this build does not know (from a newer supervisor) reads as [`ErrorCode::Other`]
/// with its text kept, so a client never fails to decode an error it cannot name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request could not be read: malformed JSON, a missing or invalid field.
    BadRequest,
    /// The command is not one this supervisor knows.
    UnknownCommand,
    /// The request speaks another protocol version.
    VersionMismatch,
    /// A service named in the request does not exist.
    UnknownService,
    /// The command was understood but could not be carried out.
    Failed,
    /// The supervisor is stopping and takes no new work.
    ShuttingDown,
    /// The request contradicts what exists (e.g. `run` of a declared or running service).
    Conflict,
    /// A stream skipped messages because the client read too slowly.
    Lagged,
    /// The spec file on disk is invalid (`reload`, or a `restart` that reads it).
    InvalidSpec,
    /// A fault in the supervisor itself.
    Internal,
    /// A code this build does not know, as sent.
    Other(String),
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::UnknownService => "unknown_service",
            ErrorCode::Failed => "failed",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Lagged => "lagged",
            ErrorCode::InvalidSpec => "invalid_spec",
            ErrorCode::Internal => "internal",
            ErrorCode::Other(s) => s,
        }
    }

    /// The code named `s` on the wire.
    pub fn from_wire(s: &str) -> Self {
        const KNOWN: &[ErrorCode] = &[
            ErrorCode::BadRequest,
            ErrorCode::UnknownCommand,
            ErrorCode::VersionMismatch,
            ErrorCode::UnknownService,
            ErrorCode::Failed,
            ErrorCode::ShuttingDown,
            ErrorCode::Conflict,
            ErrorCode::Lagged,
            ErrorCode::InvalidSpec,
            ErrorCode::Internal,
        ];
        KNOWN
            .iter()
            .find(|c| c.as_str() == s)
            .cloned()
            .unwrap_or_else(|| ErrorCode::Other(s.to_string()))
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::from_wire(&s))
    }
}

/// A failed command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// What kind of failure, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error with `code` saying `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
