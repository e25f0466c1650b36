//! Ad-hoc services: started with `proctor run`, remembered in the project's state
//! directory (`adhoc.json`) until `proctor rm`, and merged into the spec wherever it is
//! loaded, so they behave like declared services (status, logs, stop, restart, attach).
//!
//! The running supervisor is the only writer while it runs; the CLI writes the file only
//! when no supervisor is running.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Backend, BackendKind, ContainerSettings, Project, RestartPolicy, Service, Spec};

/// The file, in the project state directory, that remembers ad-hoc services.
pub const FILE_NAME: &str = "adhoc.json";

/// A service started with `proctor run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdHoc {
    /// Service name.
    pub name: String,
    /// The argv; may be empty for a container (the image's default command).
    #[serde(default)]
    pub command: Vec<String>,
    /// Backend; `None` uses the project's.
    #[serde(default)]
    pub backend: Option<BackendKind>,
    /// Image, for containers.
    #[serde(default)]
    pub image: Option<String>,
    /// Restart policy; `None` means the default (`on-failure`).
    #[serde(default)]
    pub restart: Option<RestartPolicy>,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (absolute).
    pub cwd: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct File {
    schema_version: u32,
    services: Vec<AdHoc>,
}

impl AdHoc {
    /// The backend it runs on, given the project's default.
    pub fn kind(&self, project: &Project) -> BackendKind {
        match (self.backend, &self.image) {
            (Some(k), _) => k,
            (None, Some(_)) => BackendKind::Container,
            (None, None) => project.backend,
        }
    }

    /// Checks the definition with the rules of a `proctor.toml` service
    /// ([`Service::validate`]), in the same words; returns what is wrong.
    pub fn check(&self, project: &Project) -> Result<(), String> {
        // What a built service cannot tell: whether `image` was given at all.
        let container = self.kind(project) == BackendKind::Container;
        match (container, self.image.is_some()) {
            (true, false) => return Err("container service has no `image`".into()),
            (false, true) => return Err("`image` applies only to container services".into()),
            _ => {}
        }
        let problems = self.to_service(project).validate(project);
        if problems.is_empty() {
            return Ok(());
        }
        let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        Err(messages.join("; "))
    }

    /// The service it describes, with every other setting at its default.
    pub fn to_service(&self, project: &Project) -> Service {
        let mut s = Service::new(self.name.clone(), self.command.clone(), self.cwd.clone());
        s.env.clone_from(&self.env);
        if let Some(r) = self.restart {
            s.restart = r;
        }
        s.backend = match self.kind(project) {
            BackendKind::Process => Backend::Process,
            BackendKind::Tmux => Backend::Tmux,
            BackendKind::Container => Backend::Container(ContainerSettings {
                image: self.image.clone().unwrap_or_default(),
                volumes: Vec::new(),
                ports: Vec::new(),
                runtime: project.container_runtime,
                container_name: None,
            }),
        };
        s
    }
}

/// The ad-hoc services remembered in `state_dir` (none if the file is missing or unreadable:
/// a corrupt file must not stop the declared services from running).
pub fn load(state_dir: &Path) -> Vec<AdHoc> {
    let path = state_dir.join(FILE_NAME);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    match serde_json::from_str::<File>(&text) {
        Ok(f) => f.services,
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            Vec::new()
        }
    }
}

/// Writes `services` to `state_dir` atomically (temp file, fsync, rename), owner-only.
pub fn save(state_dir: &Path, services: &[AdHoc]) -> std::io::Result<()> {
    let path = state_dir.join(FILE_NAME);
    if services.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let file = File {
        schema_version: 1,
        services: services.to_vec(),
    };
    let text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    // tempfile creates the file 0600 in the same directory, so the rename is atomic.
    let mut tmp = tempfile::NamedTempFile::new_in(state_dir)?;
    tmp.write_all(&text)?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

/// Adds `adhoc` to `spec`, skipping any whose name the spec itself declares.
pub fn merge(spec: &mut Spec, adhoc: &[AdHoc]) {
    for a in adhoc {
        if spec.service(&a.name).is_none() {
            spec.services.push(a.to_service(&spec.project));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        Project {
            name: "p".into(),
            state_dir: None,
            roles: Vec::new(),
            backend: BackendKind::Process,
            tmux_binary: None,
            container_runtime: None,
            containment: crate::spec::Containment::Auto,
            metrics: None,
        }
    }

    #[test]
    fn image_implies_container_and_is_checked() {
        let mut a = AdHoc {
            name: "web.1".into(),
            command: Vec::new(),
            backend: None,
            image: Some("img".into()),
            restart: None,
            env: BTreeMap::new(),
            cwd: PathBuf::from("/"),
        };
        assert_eq!(a.kind(&project()), BackendKind::Container);
        assert!(a.check(&project()).is_ok());
        a.backend = Some(BackendKind::Tmux);
        assert!(a.check(&project()).is_err());
        a.image = None;
        assert!(a.check(&project()).is_err(), "tmux needs a command");
        a.command = vec!["sleep".into(), "1".into()];
        assert!(a.check(&project()).is_ok());
        a.name = "-x".into();
        assert!(a.check(&project()).is_err());
    }

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = AdHoc {
            name: "x".into(),
            command: vec!["true".into()],
            backend: Some(BackendKind::Tmux),
            image: None,
            restart: Some(RestartPolicy::No),
            env: BTreeMap::from([("K".into(), "v".into())]),
            cwd: PathBuf::from("/tmp"),
        };
        save(dir.path(), std::slice::from_ref(&a)).expect("save");
        assert_eq!(load(dir.path()), vec![a]);
        save(dir.path(), &[]).expect("save empty");
        assert!(!dir.path().join(FILE_NAME).exists());
    }
}
