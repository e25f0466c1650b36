//! Helpers shared by the backends that drive an external program (tmux, podman, docker).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::BackendError;

/// Finds `program` the way `execvp` would: a path with a slash as is, else on `$PATH`.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    find_on_path(program, &std::env::var_os("PATH")?, Path::new(""))
}

/// The first executable `dir/program` for the directories of `path` (a `$PATH` value),
/// relative ones taken from `cwd`, as `execvp` in `cwd` would try them.
pub(crate) fn find_on_path(program: &str, path: &OsStr, cwd: &Path) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| cwd.join(dir).join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Quotes `s` as one word for `sh`: inside single quotes nothing is special, and a single
/// quote itself is closed, escaped and reopened.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `name` can be `export`ed by a POSIX shell.
pub(crate) fn is_shell_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Runs `cmd` to completion (blocking) and returns its stdout, or a [`BackendError::Tool`]
/// carrying its stderr.
pub(crate) fn output(mut cmd: Command, what: &'static str) -> Result<String, BackendError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| BackendError::Spawn {
            program: program.clone(),
            cwd: std::env::current_dir().unwrap_or_default(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(BackendError::Tool {
            program,
            what,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `cmd` to completion without blocking the runtime and returns its stdout, or a
/// [`BackendError::Tool`] carrying its stderr. The tool is killed if the future is dropped.
pub(crate) async fn output_async(
    cmd: &mut tokio::process::Command,
    what: &'static str,
) -> Result<String, BackendError> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let spawn_error = |source| BackendError::Spawn {
        program: program.clone(),
        cwd: std::env::current_dir().unwrap_or_default(),
        source,
    };
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_error)?;
    // Ours to reap (tokio does): a subreaper supervisor must not take it for an orphan.
    let _tracked = child.id().map(crate::sys::children::Tracked::new);
    let out = child.wait_with_output().await.map_err(spawn_error)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(BackendError::Tool {
            program,
            what,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(x);`y`"), "'$(x);`y`'");
    }

    #[test]
    fn knows_shell_identifiers() {
        assert!(is_shell_identifier("PATH_2"));
        assert!(!is_shell_identifier("2X"));
        assert!(!is_shell_identifier("a.b"));
        assert!(!is_shell_identifier(""));
    }
}
