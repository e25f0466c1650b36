//! Which backend holds a name: the tmux session or container a service of that name uses.
//!
//! Native processes have no name outside proctor, so only tmux (the project's private
//! server) and the container runtimes (every one installed) are asked.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::container::{self, program};
use super::tmux::{session_name, TmuxBackend};
use super::BackendError;
use crate::spec::{self, BackendKind, Runtime, Spec};

/// Where a session or container of a service's name was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    /// The backend holding it.
    pub backend: BackendKind,
    /// The tmux session or container name.
    pub name: String,
    /// The container runtime, for containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.runtime {
            Some(rt) => write!(f, "{} container {:?}", program(rt), self.name),
            None => write!(f, "tmux session {:?}", self.name),
        }
    }
}

/// Every tmux session and container that service `name` of `spec`'s project would use,
/// whether or not the spec declares it (ad-hoc and stale ones count too).
pub fn find_all(spec: &Spec, state_dir: &Path, name: &str) -> Result<Vec<Found>, BackendError> {
    spec::check_name(name).map_err(|why| BackendError::InvalidName {
        name: name.to_string(),
        why,
    })?;
    let project = &spec.project.name;
    let mut found = Vec::new();
    let tmux = TmuxBackend::new(spec.project.tmux_binary.as_deref(), state_dir);
    let session = session_name(project, name);
    if tmux.has_session(&session) {
        found.push(Found {
            backend: BackendKind::Tmux,
            name: session,
            runtime: None,
        });
    }
    let mut names = vec![container::default_name(project, name)];
    if let Some(spec::Backend::Container(c)) = spec.service(name).map(|s| &s.backend) {
        if let Some(n) = &c.container_name {
            names.insert(0, n.clone());
        }
    }
    for rt in container::installed_runtimes() {
        if let Some(n) = names.iter().find(|n| container::exists(rt, n)) {
            found.push(Found {
                backend: BackendKind::Container,
                name: n.clone(),
                runtime: Some(rt),
            });
        }
    }
    Ok(found)
}
