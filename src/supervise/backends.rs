//! Picks the backend each service runs on.

use std::path::Path;

use crate::backend::container::ContainerBackend;
use crate::backend::process::ProcessBackend;
use crate::backend::tmux::TmuxBackend;
use crate::backend::{Backend, BackendError, Running, StartRequest};
use crate::spec::{self, Project};

/// The project's backends, configured once from `[project]`.
pub(super) struct Backends {
    tmux: TmuxBackend,
    container: ContainerBackend,
}

impl Backends {
    pub(super) fn new(project: &Project, state_dir: &Path) -> Self {
        Self {
            tmux: TmuxBackend::new(project.tmux_binary.as_deref(), state_dir),
            container: ContainerBackend::new(project.container_runtime, state_dir),
        }
    }

    /// Starts `req.service` on the backend it names.
    pub(super) fn start(&self, req: StartRequest<'_>) -> Result<Running, BackendError> {
        match &req.service.backend {
            spec::Backend::Process => ProcessBackend.start(req),
            spec::Backend::Tmux => self.tmux.start(req),
            spec::Backend::Container(_) => self.container.start(req),
        }
    }
}

/// The backend's name as `status` shows it.
pub(super) fn kind_name(backend: &spec::Backend) -> &'static str {
    match backend {
        spec::Backend::Process => "process",
        spec::Backend::Tmux => "tmux",
        spec::Backend::Container(_) => "container",
    }
}
