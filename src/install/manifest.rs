//! The record of one installation: which files `install` wrote, so `uninstall` removes
//! exactly those and nothing else.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{InstallError, Scope, Target};

/// The manifest format's version.
pub const SCHEMA_VERSION: u32 = 1;

/// What one `proctor install` wrote, kept as JSON (see [`super::Host::manifest_file`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format's version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The service name.
    pub name: String,
    /// The init system.
    pub target: Target,
    /// User or system service.
    pub scope: Scope,
    /// The spec the service runs.
    pub spec: PathBuf,
    /// The role it runs with.
    pub role: Option<String>,
    /// Every file install wrote (not the manifest itself).
    pub files: Vec<PathBuf>,
    /// When.
    #[serde(with = "crate::util::rfc3339")]
    pub installed_at: SystemTime,
}

impl Manifest {
    /// Reads the manifest at `path`; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<Manifest>, InstallError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(InstallError::io(path)(e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| InstallError::BadManifest {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Writes the manifest to `path` (creating its directory).
    pub fn save(&self, path: &Path) -> Result<(), InstallError> {
        let mut text =
            serde_json::to_string_pretty(self).map_err(|source| InstallError::BadManifest {
                path: path.to_path_buf(),
                source,
            })?;
        text.push('\n');
        write_file(path, text.as_bytes(), 0o644)
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename) with
/// `mode`, creating missing parent directories. A crash never leaves half a unit file.
pub(super) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .ok_or_else(|| InstallError::io(path)(std::io::ErrorKind::InvalidInput.into()))?;
    std::fs::create_dir_all(dir).map_err(InstallError::io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(InstallError::io(dir))?;
    tmp.write_all(bytes).map_err(InstallError::io(path))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(InstallError::io(path))?;
    tmp.as_file().sync_all().map_err(InstallError::io(path))?;
    tmp.persist(path)
        .map_err(|e| InstallError::io(path)(e.error))?;
    crate::sys::fs::sync_dir(dir).map_err(InstallError::io(dir))
}
