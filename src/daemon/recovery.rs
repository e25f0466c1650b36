//! The error of [`Daemon::call_with_recovery`](super::Daemon::call_with_recovery).

use crate::error::Error;

/// Why a call made through [`Daemon::call_with_recovery`](super::Daemon::call_with_recovery)
/// failed: the call itself, or bringing the daemon back.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError<E> {
    /// The call failed: the daemon was healthy (first error, no retry) or had been
    /// recovered and the retry failed too (the retry's error).
    #[error("{0}")]
    Call(E),
    /// The call failed and the daemon could not be brought back.
    #[error("{error} (after the call failed: {first})")]
    Recover {
        /// The call's error.
        first: E,
        /// Why recovery failed.
        error: Error,
    },
}

impl<E> RecoveryError<E> {
    /// The call's error (the retry's when there was one).
    pub fn into_call_error(self) -> E {
        match self {
            RecoveryError::Call(e) | RecoveryError::Recover { first: e, .. } => e,
        }
    }
}
