//! Picks the backend each service runs on.

use std::path::Path;

use crate::backend::container::ContainerBackend;
use crate::backend::process::ProcessBackend;
use crate::backend::tmux::TmuxBackend;
use crate::backend::{Runner, StartRequest, Started};

use crate::spec::{self, Project, Spec};

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
    pub(super) fn start(&self, req: StartRequest<'_>) -> Started {
        match &req.service.backend {
            spec::Backend::Process => ProcessBackend.start(req),
            spec::Backend::Tmux => self.tmux.start(req),
            spec::Backend::Container(_) => self.container.start(req),
        }
    }
}

impl Backends {
    /// Clears what a dead supervisor left behind outside its services' process groups.
    /// Called at start-up, while we hold the project's singleton lock: no session on the
    /// private tmux server can belong to a live supervisor, and a container is removed only
    /// through the id an earlier run of ours recorded.
    pub(super) async fn reclaim(&self, spec: &Spec) {
        let mut tmux = false;
        for svc in &spec.services {
            match &svc.backend {
                spec::Backend::Tmux => tmux = true,
                spec::Backend::Container(c) => {
                    if let Ok(rt) = self.container.runtime_for(&svc.name, c) {
                        self.container.remove_leftover(rt, &svc.name).await;
                    }
                }
                spec::Backend::Process => {}
            }
        }
        if tmux && self.tmux.socket().exists() && self.tmux.installed() {
            let mut c = tokio::process::Command::from(self.tmux.command());
            c.arg("kill-server");
            // No server (or nothing left on it) is as good as a killed one.
            let _ = crate::backend::tools::output_async(&mut c, "kill-server").await;
        }
    }
}
