//! The Python package (`python/`, issue 17): builds it with maturin into a virtualenv under
//! `target/pyenv` and runs its pytest suite (`python/tests`), so `cargo test` covers the
//! bindings too. The venv and the build are reused: the package is reinstalled only when
//! its sources or the library's changed. Without python3 (with venv and pip) the test skips
//! loudly; under CI it fails (`support::require`). The installed package must also pass
//! `mypy --strict`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use crate::support::require;

/// What pytest and the build need, installed into the venv from PyPI.
const TOOLS: &[&str] = &["maturin>=1.5,<2", "pytest>=7", "PyYAML>=5", "mypy>=1.5"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// python3 that can make a venv with pip in it.
fn python() -> Result<PathBuf, String> {
    let python = crate::support::which("python3")?;
    let ok = Command::new(&python)
        .args(["-c", "import venv, ensurepip"])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if ok.status.success() {
        Ok(python)
    } else {
        Err("python3 lacks venv or ensurepip (apt-get install python3-venv)".into())
    }
}

/// The newest modification time and the number of files under `paths`: the package is
/// rebuilt when this changes.
fn fingerprint(paths: &[PathBuf]) -> String {
    fn walk(p: &Path, newest: &mut SystemTime, count: &mut u64) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        if meta.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "target" || n == "__pycache__")
            {
                return;
            }
            for entry in std::fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&entry.path(), newest, count);
            }
        } else {
            *count += 1;
            if let Ok(m) = meta.modified() {
                *newest = (*newest).max(m);
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut count = 0;
    for p in paths {
        walk(p, &mut newest, &mut count);
    }
    let since = newest
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09} {count}", since.as_secs(), since.subsec_nanos())
}

/// `PATH` with the venv's `bin` first, where pip's build backend finds `maturin`.
fn with_venv_path(bin: &Path) -> std::ffi::OsString {
    let mut dirs = vec![bin.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_else(|e| panic!("cannot build PATH: {e}"))
}

#[test]
fn python_package_tests_pass() {
    let Some(python) = require("python3 with venv and pip", python()) else {
        return;
    };
    let root = root();
    let venv = root.join("target").join("pyenv");
    let bin = venv.join("bin");
    // Two test runs on one target directory take turns with the venv.
    let guard_path = root.join("target").join("pyenv.lock");
    let guard = std::fs::File::create(&guard_path)
        .unwrap_or_else(|e| panic!("{}: {e}", guard_path.display()));
    guard
        .lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", guard_path.display()));
    if !bin.join("python").exists() {
        run(
            Command::new(&python).arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        );
    }
    let vpython = bin.join("python");
    let have_tools = Command::new(&vpython)
        .args(["-c", "import maturin, pytest, yaml, mypy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_tools {
        run(
            Command::new(&vpython)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(TOOLS),
            "pip install maturin pytest PyYAML mypy",
        );
    }
    let stamp = venv.join("proctor-package.stamp");
    let sources = [
        root.join("python").join("src"),
        root.join("python").join("proctor"),
        root.join("python").join("Cargo.toml"),
        root.join("python").join("pyproject.toml"),
        root.join("python").join("Cargo.lock"),
        root.join("src"),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
    ];
    let now = fingerprint(&sources);
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(now.as_str()) {
        // Built with the venv's maturin (no isolated build env to download each time), in
        // target/python so python/ stays free of build output. At the lowest priority: the
        // other tests run meanwhile, and some measure CPU time or latency.
        let mut pip = match crate::support::which("nice") {
            Ok(nice) => {
                let mut c = Command::new(nice);
                c.args(["-n", "19"]).arg(&vpython);
                c
            }
            Err(_) => Command::new(&vpython),
        };
        run(
            pip.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(["--no-deps", "--no-build-isolation", "--force-reinstall"])
                .arg(root.join("python"))
                .env("PATH", with_venv_path(&bin))
                .env("CARGO_TARGET_DIR", root.join("target").join("python")),
            "pip install ./python",
        );
        std::fs::write(&stamp, &now).unwrap_or_else(|e| panic!("{}: {e}", stamp.display()));
    }
    // The package as installed (its stubs and inline types) passes mypy --strict.
    run(
        Command::new(&vpython)
            .args(["-m", "mypy", "--strict", "--cache-dir"])
            .arg(venv.join("mypy-cache"))
            .args(["-p", "proctor"])
            .current_dir(root.join("target")),
        "mypy --strict -p proctor",
    );
    // Not from python/: its proctor/ (without the built extension) would shadow the
    // installed package.
    let out = Command::new(bin.join("pytest"))
        .args(["-q", "-p", "no:cacheprovider"])
        .arg(root.join("python").join("tests"))
        .current_dir(root.join("target"))
        .env("PATH", with_venv_path(&bin))
        // For the tests that check what the CLI sees.
        .env("PROCTOR_BIN", env!("CARGO_BIN_EXE_proctor"))
        .env_remove("PROCTOR_HOME")
        .output()
        .unwrap_or_else(|e| panic!("cannot run pytest: {e}"));
    assert!(
        out.status.success(),
        "pytest failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
