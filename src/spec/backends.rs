//! Which backend runs a service, and a container service's settings.

/// Which backend family a service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// A native child process (default).
    #[default]
    Process,
    /// A tmux session.
    Tmux,
    /// A podman or docker container.
    Container,
}

/// A service's backend with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A native child process.
    Process,
    /// A tmux session on the project's private socket.
    Tmux,
    /// A container.
    Container(ContainerSettings),
}

impl Backend {
    /// The backend's name as `status` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Process => "process",
            Backend::Tmux => "tmux",
            Backend::Container(_) => "container",
        }
    }
}

/// Container runtime CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// podman.
    Podman,
    /// docker.
    Docker,
}

/// Settings of a container service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSettings {
    /// Image reference.
    pub image: String,
    /// `host:container` volume mounts, host side made absolute.
    pub volumes: Vec<String>,
    /// `host:container` port mappings.
    pub ports: Vec<String>,
    /// Runtime; `None` = auto-detect, podman first.
    pub runtime: Option<Runtime>,
    /// Container name; `None` = `proctor-<project>-<service>`.
    pub container_name: Option<String>,
}
