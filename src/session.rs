//! Sessions by name: where a service's tmux session or container lives, and how to attach
//! to it, for programs that drive proctor without the CLI (the Python package's
//! `SessionManager`, `auto_detect_backend`). The CLI's `attach` and
//! `status --all-backends` answer the same questions.

use std::path::Path;
use std::process::Command;

use crate::backend::container::{self, ContainerBackend};
pub use crate::backend::detect::{find_all, Found};
use crate::backend::tmux::{session_name, TmuxBackend};
pub use crate::backend::BackendError;
use crate::spec::{Backend, Spec};

/// Why there is nothing to attach to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The spec has no service of that name.
    #[error("no service named {0:?}")]
    UnknownService(String),
    /// A native process has no terminal to attach to.
    #[error("{0} runs as a native process, which has no terminal to attach to: only tmux and container services can be attached")]
    NoTerminal(String),
    /// The program the backend drives is missing, or the runtime cannot be chosen.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The session or container does not exist (the service is not running).
    #[error("{service} is not running (no {what} {name:?})")]
    NotRunning {
        /// The service.
        service: String,
        /// `tmux session` or `container`.
        what: &'static str,
        /// The session or container name looked for.
        name: String,
    },
}

/// The command that attaches the terminal to service `name` of `spec` (state directory
/// `state_dir`): a tmux client of its session, or a shell inside its container.
pub fn attach_command(spec: &Spec, state_dir: &Path, name: &str) -> Result<Command, AttachError> {
    let svc = spec
        .service(name)
        .ok_or_else(|| AttachError::UnknownService(name.to_string()))?;
    match &svc.backend {
        Backend::Process => Err(AttachError::NoTerminal(name.to_string())),
        Backend::Tmux => {
            let tmux = TmuxBackend::new(spec.project.tmux_binary.as_deref(), state_dir);
            let session = session_name(&spec.project.name, name);
            if !tmux.installed() {
                return Err(AttachError::Backend(BackendError::MissingTool {
                    service: name.to_string(),
                    tool: spec.project.tmux_binary.clone().unwrap_or("tmux".into()),
                    hint: "install tmux (apt-get install tmux)",
                }));
            }
            if !tmux.has_session(&session) {
                return Err(AttachError::NotRunning {
                    service: name.to_string(),
                    what: "tmux session",
                    name: session,
                });
            }
            Ok(tmux.attach_command(&session))
        }
        Backend::Container(settings) => {
            let backend = ContainerBackend::new(spec.project.container_runtime, state_dir);
            let rt = backend.runtime_for(name, settings)?;
            let cname = container::name_of(&spec.project.name, svc, settings);
            if !container::exists(rt, &cname) {
                return Err(AttachError::NotRunning {
                    service: name.to_string(),
                    what: "container",
                    name: cname,
                });
            }
            Ok(container::attach_command(rt, &cname))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        let text = "[service.native]\ncommand = [\"sleep\", \"1\"]\n\n\
                    [service.term]\nbackend = \"tmux\"\ncommand = [\"sleep\", \"1\"]\n";
        Spec::parse_str(text, Path::new("/p/proctor.toml")).expect("spec")
    }

    #[test]
    fn only_tmux_and_container_services_can_be_attached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = spec();
        assert!(matches!(
            attach_command(&spec, dir.path(), "absent"),
            Err(AttachError::UnknownService(n)) if n == "absent"
        ));
        assert!(matches!(
            attach_command(&spec, dir.path(), "native"),
            Err(AttachError::NoTerminal(_))
        ));
    }
}
