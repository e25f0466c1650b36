//! What `proctor run` sends (an ad-hoc service) and what `start` may change for one start,
//! in the wire's own terms.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An ad-hoc service to add (or redefine) and start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunService {
    /// Service name.
    pub name: String,
    /// The argv; may be empty for a container (the image's default command).
    #[serde(default)]
    pub command: Vec<String>,
    /// Where it runs; `None` uses the project's backend (a container when `image` is set).
    #[serde(default)]
    pub backend: Option<RunBackend>,
    /// Image, for containers.
    #[serde(default)]
    pub image: Option<String>,
    /// Restart policy; `None` means the default (`on-failure`).
    #[serde(default)]
    pub restart: Option<RunRestart>,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (absolute: the supervisor does not know the client's).
    pub cwd: PathBuf,
}

/// Which backend an ad-hoc service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunBackend {
    /// A native child process.
    Process,
    /// A tmux session.
    Tmux,
    /// A podman or docker container.
    Container,
}

/// When an ad-hoc service is restarted after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunRestart {
    /// Never.
    No,
    /// After a non-zero exit or a death by signal.
    OnFailure,
    /// After any exit that was not requested.
    Always,
}

/// What `start NAME -e K=V --cwd DIR -- ARGS` changes for that start of one service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StartOverrides {
    /// Variables added to (or replacing) the service's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory instead of the service's (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Arguments appended to the service's command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}
