//! The systemd notify protocol: a datagram socket passed as `NOTIFY_SOCKET`.
//!
//! Daemons written for `Type=notify` send `READY=1`, `STATUS=…`, `MAINPID=…`, `STOPPING=1`,
//! `WATCHDOG=1` datagrams. `systemd-notify --ready` also sends `BARRIER=1` with a file
//! descriptor and waits until the receiver closes it; we close every received descriptor at
//! once, which is exactly the barrier's answer. Messages are accepted from any process of
//! the service's process group; the socket lives in the private state directory, so only
//! our own user can reach it at all.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// One understood notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`.
    Ready,
    /// `STATUS=text`.
    Status(String),
    /// `MAINPID=n`.
    MainPid(u32),
    /// `STOPPING=1`.
    Stopping,
    /// `WATCHDOG=1`.
    Watchdog,
    /// `WATCHDOG=trigger`: the service asks to be treated as failed.
    WatchdogTrigger,
    /// `RELOADING=1`.
    Reloading,
}

/// Parses a notify datagram into the notices it carries.
pub fn parse(msg: &[u8]) -> Vec<Notice> {
    let text = String::from_utf8_lossy(msg);
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match (k, v) {
            ("READY", "1") => out.push(Notice::Ready),
            ("STATUS", s) => out.push(Notice::Status(s.to_string())),
            ("MAINPID", p) => {
                if let Ok(p) = p.trim().parse() {
                    out.push(Notice::MainPid(p));
                }
            }
            ("STOPPING", "1") => out.push(Notice::Stopping),
            ("WATCHDOG", "1") => out.push(Notice::Watchdog),
            ("WATCHDOG", "trigger") => out.push(Notice::WatchdogTrigger),
            ("RELOADING", "1") => out.push(Notice::Reloading),
            _ => {}
        }
    }
    out
}

/// A bound notify socket for one service.
#[derive(Debug)]
pub struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds a fresh socket at `path` (removing a stale one). Must run inside a runtime.
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let sock = UnixDatagram::bind(path)?;
        rustix::net::sockopt::set_socket_passcred(&sock, true)?;
        Ok(Self {
            sock,
            path: path.to_path_buf(),
        })
    }

    /// The path to pass as `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives the next datagram from a process in group `pgid`; datagrams from other
    /// processes are dropped. Received file descriptors (barriers) are closed at once.
    pub async fn recv(&self, pgid: u32) -> std::io::Result<Vec<Notice>> {
        let mut buf = vec![0u8; 4096];
        loop {
            self.sock.readable().await?;
            let got = self.sock.try_io(Interest::READABLE, || {
                let mut space =
                    [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8), ScmCredentials(1))];
                let mut control = RecvAncillaryBuffer::new(&mut space);
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = rustix::net::recvmsg(
                    &self.sock,
                    &mut iov,
                    &mut control,
                    RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
                )?;
                let mut sender = None;
                for m in control.drain() {
                    match m {
                        // Dropping the descriptors closes them: that answers a BARRIER=1.
                        RecvAncillaryMessage::ScmRights(fds) => drop(fds.collect::<Vec<_>>()),
                        RecvAncillaryMessage::ScmCredentials(c) => {
                            sender = Some(c.pid.as_raw_nonzero().get());
                        }
                        _ => {}
                    }
                }
                Ok((msg.bytes, sender))
            });
            let (n, sender) = match got {
                Ok(v) => v,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            if !from_group(sender, pgid) {
                tracing::warn!(
                    ?sender,
                    pgid,
                    "ignored a notify message from outside the service"
                );
                continue;
            }
            return Ok(parse(&buf[..n.min(buf.len())]));
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `sender` belongs to process group `pgid`. A sender that already exited cannot be
/// checked; it could only have reached the private socket as our own user, so it passes.
fn from_group(sender: Option<i32>, pgid: u32) -> bool {
    let Some(pid) = sender.and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::getpgid(Some(pid)) {
        Ok(g) => u32::try_from(g.as_raw_nonzero().get()).is_ok_and(|g| g == pgid),
        Err(_) => true,
    }
}

/// Sends `msg` (e.g. `READY=1`) to a service manager's notify socket, as a daemon under
/// systemd would: `socket` is a path, or `@name` for an abstract socket.
pub fn send_to_manager(socket: &str, msg: &str) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), socket)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_notify_messages() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=Serving 3 clients\nMAINPID=42\nBOGUS\nX=1"),
            vec![
                Notice::Ready,
                Notice::Status("Serving 3 clients".into()),
                Notice::MainPid(42)
            ]
        );
        assert_eq!(parse(b"WATCHDOG=1"), vec![Notice::Watchdog]);
        assert_eq!(parse(b"STOPPING=1"), vec![Notice::Stopping]);
    }
}
