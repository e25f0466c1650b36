//! Conversions between the supervisor's internal types and the control protocol's own.
//!
//! The protocol (`control::proto`) imports nothing from the crate, so that renaming an
//! internal field cannot change what clients read; this file is the one place where the
//! two meet. A new internal state or field is mapped here, visibly, or not at all.

use crate::backend;
use crate::control::proto;
use crate::spec::adhoc::AdHoc;
use crate::spec::{BackendKind, RestartPolicy};

use super::machine;

impl From<machine::State> for proto::State {
    fn from(s: machine::State) -> Self {
        match s {
            machine::State::Stopped => proto::State::Stopped,
            machine::State::Waiting => proto::State::Waiting,
            machine::State::Starting => proto::State::Starting,
            machine::State::Running => proto::State::Running,
            machine::State::Backoff => proto::State::Backoff,
            machine::State::Stopping => proto::State::Stopping,
            machine::State::Exited => proto::State::Exited,
            machine::State::Failed => proto::State::Failed,
        }
    }
}

impl From<&backend::Exit> for proto::Exit {
    fn from(e: &backend::Exit) -> Self {
        proto::Exit {
            code: e.code,
            signal: e.signal,
            timed_out: e.timed_out,
            spawn_error: e.spawn_error.clone(),
            at: e.at,
        }
    }
}

impl From<proto::RunService> for AdHoc {
    fn from(r: proto::RunService) -> Self {
        AdHoc {
            name: r.name,
            command: r.command,
            backend: r.backend.map(|b| match b {
                proto::RunBackend::Process => BackendKind::Process,
                proto::RunBackend::Tmux => BackendKind::Tmux,
                proto::RunBackend::Container => BackendKind::Container,
            }),
            image: r.image,
            restart: r.restart.map(|p| match p {
                proto::RunRestart::No => RestartPolicy::No,
                proto::RunRestart::OnFailure => RestartPolicy::OnFailure,
                proto::RunRestart::Always => RestartPolicy::Always,
            }),
            env: r.env,
            cwd: r.cwd,
        }
    }
}

impl From<AdHoc> for proto::RunService {
    fn from(a: AdHoc) -> Self {
        proto::RunService {
            name: a.name,
            command: a.command,
            backend: a.backend.map(|b| match b {
                BackendKind::Process => proto::RunBackend::Process,
                BackendKind::Tmux => proto::RunBackend::Tmux,
                BackendKind::Container => proto::RunBackend::Container,
            }),
            image: a.image,
            restart: a.restart.map(|p| match p {
                RestartPolicy::No => proto::RunRestart::No,
                RestartPolicy::OnFailure => proto::RunRestart::OnFailure,
                RestartPolicy::Always => proto::RunRestart::Always,
            }),
            env: a.env,
            cwd: a.cwd,
        }
    }
}
