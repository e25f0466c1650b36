//! Whose is a listening port: a tcp probe that reaches a port some other program holds must
//! not call the service ready (the dependent would start against the wrong server).
//!
//! The listening socket's inode comes from `/proc/net/tcp{,6}`, its holder from the
//! `socket:[INODE]` links in `/proc/PID/fd`. Where `/proc` cannot tell (another network
//! namespace, no permission), the plain connect decides, as before.

use std::collections::BTreeSet;

/// `Err` names the stranger holding `port` when none of the listeners on it belongs to
/// the service led by `leader`; `Ok` when one does or when it cannot be told.
pub fn check(port: u16, leader: u32) -> Result<(), String> {
    // Most often the leader itself listens: asked of its own sockets, without reading
    // `/proc/net/tcp{,6}` (over a millisecond each here: the kernel walks every socket).
    if leader_listens(port, leader) {
        return Ok(());
    }
    let inodes = listeners(port);
    if inodes.is_empty() {
        return Ok(());
    }
    let tree = crate::sys::proc::service_tree(leader);
    if tree.iter().any(|p| holds(*p, &inodes)) {
        return Ok(());
    }
    let stranger = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|p| !tree.contains(p) && holds(*p, &inodes));
    match stranger {
        Some(p) => {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            Err(format!(
                "port {port} is held by pid {p} ({}), not by this service",
                comm.trim()
            ))
        }
        None => Ok(()),
    }
}

/// Whether one of `leader`'s own descriptors is a socket listening on `port`: each socket
/// is borrowed with `pidfd_getfd` (allowed for our own child) and asked its address.
fn leader_listens(port: u16, leader: u32) -> bool {
    use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};
    let Some(pidfd) = i32::try_from(leader)
        .ok()
        .and_then(Pid::from_raw)
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok())
    else {
        return false;
    };
    let Ok(dir) = std::fs::read_dir(format!("/proc/{leader}/fd")) else {
        return false;
    };
    dir.flatten().any(|e| {
        let is_socket = std::fs::read_link(e.path())
            .is_ok_and(|l| l.as_os_str().as_encoded_bytes().starts_with(b"socket:"));
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse().ok()) else {
            return false;
        };
        let Some(sock) = is_socket
            .then(|| pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()).ok())
            .flatten()
        else {
            return false;
        };
        rustix::net::sockopt::socket_acceptconn(&sock).unwrap_or(false)
            && rustix::net::getsockname(&sock)
                .ok()
                .and_then(|a| std::net::SocketAddr::try_from(a).ok())
                .is_some_and(|a| a.port() == port)
    })
}

/// Inodes of the sockets listening on `port` (state `0A`), IPv4 and IPv6.
fn listeners(port: u16) -> BTreeSet<u64> {
    let want = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| read_whole(f).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| {
                    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A")
                        .then(|| f[9].parse().ok())
                        .flatten()
                })
                .collect::<Vec<u64>>()
        })
        .filter(|i| *i != 0)
        .collect()
}

/// A procfs file in as few reads as it allows: `read_to_string` cannot size one, and
/// started at 32 bytes, doubling (ten reads for a small `/proc/net/tcp`).
fn read_whole(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn holds(pid: u32, inodes: &BTreeSet<u64>) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|l| {
            l.to_str()
                .and_then(|s| s.strip_prefix("socket:["))
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
                .is_some_and(|n: u64| inodes.contains(&n))
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_port_held_by_this_process_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        // Pid 1's tree is everything; a leader that does not exist owns nothing.
        let err = super::check(port, u32::MAX - 1).expect_err("held by us");
        assert!(
            err.contains(&format!("held by pid {}", std::process::id())),
            "{err}"
        );
        assert!(super::check(port, std::process::id()).is_ok());
    }

    #[test]
    fn a_leader_is_asked_of_its_own_listening_sockets() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let me = std::process::id();
        assert!(super::leader_listens(port, me));
        // A connected socket on another port is not a listener on it.
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let local = c.local_addr().expect("addr").port();
        assert!(!super::leader_listens(local, me));
        drop(l);
        assert!(!super::leader_listens(port, me));
    }
}
