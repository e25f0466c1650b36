//! Runs each cargo-fuzz target in `fuzz/` (the spec parser, the control protocol decoders,
//! the lock record reader) for a minute, so every `cargo test` fuzzes a little (issue 15).
//!
//! A test binary of its own: cargo runs test binaries one after another, so the fuzzers'
//! busy cores do not slow the timing-sensitive integration tests. `PROCTOR_FUZZ_SECONDS`
//! sets the time per target; `0` skips, and nothing else does (under CI a missing
//! `cargo-fuzz` fails the test; `.ci/run` installs it). See the README for longer runs.

#[path = "it/support/require.rs"]
#[allow(dead_code)]
mod require;

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGETS: &[&str] = &["spec", "control", "lock_record"];

fn seconds() -> u64 {
    match std::env::var("PROCTOR_FUZZ_SECONDS") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PROCTOR_FUZZ_SECONDS must be a whole number, got {s:?}")),
        Err(_) => 60,
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// `cargo fuzz ARGS` in `fuzz/`, with libFuzzer's own flags after `--`. Stable Rust: no
/// sanitizer (the code under test has no unsafe), coverage guidance still on.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(fuzz_dir())
        .arg("fuzz")
        .args(args)
        // The outer `cargo test` must not steer the fuzz build (profile, target dir).
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    cmd
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn each_fuzz_target_runs_a_minute_without_a_finding() {
    let secs = seconds();
    if secs == 0 {
        eprintln!("PROCTOR_FUZZ_SECONDS=0: the fuzz targets are not run");
        return;
    }
    let Some(_) = require::require(
        "cargo-fuzz (cargo install cargo-fuzz)",
        require::which("cargo-fuzz"),
    ) else {
        return;
    };

    let built = cargo_fuzz(&["build", "-s", "none"])
        .output()
        .expect("cargo fuzz build runs");
    assert!(
        built.status.success(),
        "cargo fuzz build failed:\n{}",
        tail(&String::from_utf8_lossy(&built.stderr))
    );

    // All three at once: the minute is wall time, and nothing else runs in this binary.
    let scratch = tempfile::tempdir().expect("a temp dir");
    let runs: Vec<_> = TARGETS
        .iter()
        .map(|target| {
            let corpus = scratch.path().join(target);
            std::fs::create_dir(&corpus).expect("a corpus dir");
            let seeds = fuzz_dir().join("seeds").join(target);
            let max_time = format!("-max_total_time={secs}");
            // A file, not a pipe: a pipe left unread while another run is waited on would
            // fill and stall the fuzzer writing to it.
            let log_path = scratch.path().join(format!("{target}.log"));
            let log = std::fs::File::create(&log_path).expect("a log file");
            let child = cargo_fuzz(&["run", "-s", "none", target])
                .arg(&corpus)
                .arg(&seeds)
                .args(["--", &max_time, "-timeout=10", "-rss_limit_mb=2048"])
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .expect("cargo fuzz run starts");
            (*target, child, log_path)
        })
        .collect();
    let mut failed = Vec::new();
    for (target, mut child, log_path) in runs {
        let status = child.wait().expect("cargo fuzz run ends");
        let stderr = std::fs::read_to_string(&log_path).expect("the run's log");
        // libFuzzer's last line says how many inputs it ran: proof that it fuzzed.
        let ran = stderr
            .lines()
            .any(|l| l.starts_with("Done ") && l.contains(" runs in "));
        if !status.success() || !ran {
            failed.push(format!("--- {target} ({status}):\n{}", tail(&stderr)));
        } else if let Some(done) = stderr.lines().find(|l| l.starts_with("Done ")) {
            eprintln!("{target}: {done}");
        }
    }
    assert!(
        failed.is_empty(),
        "fuzzing found a problem (the crashing input is under fuzz/artifacts/TARGET/; \
         reproduce with `cd fuzz && cargo fuzz run -s none TARGET ARTIFACT`):\n{}",
        failed.join("\n")
    );
}
