//! The open-file limit (`RLIMIT_NOFILE`): a supervisor of many services needs far more
//! descriptors than the usual soft limit of 1,024 (a pipe or two, a pidfd and a log file
//! per service), while the services themselves expect the limit they would get without us.
//!
//! So a supervisor that owns its process raises its soft limit to the hard one at start
//! ([`raise_nofile`]) and remembers the original, which every child gets back between fork
//! and exec ([`child_nofile`], applied by `exec::install`) unless the service sets `nofile`
//! itself. When even the hard limit runs out, [`explain`] says so instead of a bare EMFILE.

use std::io;
use std::sync::OnceLock;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The limit before [`raise_nofile`] raised it; unset when it did not.
static ORIGINAL: OnceLock<(Option<u64>, Option<u64>)> = OnceLock::new();

/// Raises the soft open-file limit to the hard limit (to the kernel's `nr_open` when the
/// hard limit is unlimited) and remembers the original for children. Returns (from, to)
/// when it raised it. For processes proctor owns (`proctor supervise`, `up`, `init`), not
/// for a program embedding a supervisor: its limits are its own business (a raised limit
/// breaks code that still uses `select`).
pub fn raise_nofile() -> Option<(u64, u64)> {
    let now = getrlimit(Resource::Nofile);
    let soft = now.current?;
    let target = now.maximum.unwrap_or_else(nr_open);
    if target <= soft {
        return None;
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: now.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            let _ = ORIGINAL.set((now.current, now.maximum));
            Some((soft, target))
        }
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit from {soft} to {target}: {e}");
            None
        }
    }
}

/// The (soft, hard) open-file limit a child must get back, if [`raise_nofile`] raised ours.
pub fn child_nofile() -> Option<(Option<u64>, Option<u64>)> {
    ORIGINAL.get().copied()
}

/// The kernel's ceiling on a process's open files (`/proc/sys/fs/nr_open`).
fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

/// What the open-file ceiling is and how to lift it, for an EMFILE.
fn ceiling() -> String {
    let limit = getrlimit(Resource::Nofile);
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
    let raised = match child_nofile() {
        Some((soft, _)) => format!(", raised at start from {}", show(soft)),
        None => String::new(),
    };
    format!(
        "the supervisor has all the descriptors its limit allows open (RLIMIT_NOFILE soft \
         {}{raised}, hard {}); raise the hard limit (`ulimit -Hn`, LimitNOFILE= in a systemd \
         unit) or run fewer services",
        show(limit.current),
        show(limit.maximum),
    )
}

/// `msg` (an error already rendered as text, from wherever a start failed) with the
/// open-file ceiling appended when it is an EMFILE; else unchanged.
pub fn explain_message(msg: String) -> String {
    let emfile = format!("(os error {})", rustix::io::Errno::MFILE.raw_os_error());
    if msg.contains(&emfile) && !msg.contains("RLIMIT_NOFILE") {
        format!("{msg}: {}", ceiling())
    } else {
        msg
    }
}

/// `e` with the open-file ceiling spelled out when it is EMFILE (this process's limit) or
/// ENFILE (the system's); any other error unchanged.
pub fn explain(e: io::Error) -> io::Error {
    let code = e.raw_os_error();
    if code == Some(rustix::io::Errno::MFILE.raw_os_error()) {
        io::Error::new(e.kind(), format!("{e}: {}", ceiling()))
    } else if code == Some(rustix::io::Errno::NFILE.raw_os_error()) {
        io::Error::new(
            e.kind(),
            format!("{e}: the whole system is out of open files (fs.file-max)"),
        )
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_names_the_ceiling() {
        let e = explain(io::Error::from_raw_os_error(
            rustix::io::Errno::MFILE.raw_os_error(),
        ));
        let text = e.to_string();
        assert!(text.contains("RLIMIT_NOFILE soft"), "{text}");
        assert!(text.contains("ulimit -Hn"), "{text}");
        let text = explain_message(format!("x: {}", io::Error::from_raw_os_error(24)));
        assert!(text.contains("RLIMIT_NOFILE soft"), "{text}");
        assert_eq!(explain_message("other".into()), "other");
        let other = explain(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(other.kind(), io::ErrorKind::NotFound);
    }
}
