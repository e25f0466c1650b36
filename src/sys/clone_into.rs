//! Spawning a service straight into its cgroup with `clone3(CLONE_INTO_CGROUP)`.
//!
//! Moving a process into a cgroup after it exists (writing `cgroup.procs`, as a `pre_exec`
//! did) takes the kernel's cgroup thread-group lock for writing, which waits for an RCU
//! grace period: 10–20 ms on these machines, paid by every restart after a quiet spell.
//! A child cloned into the cgroup takes that lock only for reading. This is std's fork and
//! exec done by hand, because std cannot pass the cgroup: stdin from /dev/null, stdout and
//! stderr into new pipes, a process group of its own, the signal mask and SIGPIPE reset,
//! the working directory, the [`ExecSetup`], then `execve`; a failure before the exec comes
//! back through a close-on-exec pipe as an errno, as in std.
// The one module of raw fork-and-exec: every unsafe block says why it holds.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::pipe::PipeFlags;

use super::exec::ExecSetup;

/// A child cloned into a cgroup.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, also its process group id.
    pub pid: u32,
    /// A pidfd for it, from the clone itself (no window for pid reuse).
    pub pidfd: OwnedFd,
    /// Read end of its stdout.
    pub stdout: OwnedFd,
    /// Read end of its stderr.
    pub stderr: OwnedFd,
    /// Whether it reached its `execve`, still to be read: the parent goes on (spawning the
    /// next service) while the child execs on another core.
    pub verdict: Verdict,
}

/// The read end of the close-on-exec pipe a cloned child reports a failure before its
/// exec on: closed without a word once the exec succeeded.
#[derive(Debug)]
pub struct Verdict(OwnedFd);

impl Verdict {
    /// [`Self::wait`], blocking the thread; a child that failed is reaped through `pidfd`.
    pub fn wait_blocking(self, pidfd: &impl AsFd) -> io::Result<()> {
        let mut buf = [0u8; 4];
        let n = loop {
            match rustix::io::read(&self.0, &mut buf) {
                Ok(n) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                // Unreadable: the exec's verdict is unknown; the pidfd will tell if it died.
                Err(_) => break 0,
            }
        };
        let verdict = read_verdict(n, buf);
        if verdict.is_err() {
            // It has exited (or is about to): reap it, then say why.
            let _ = rustix::process::waitid(
                rustix::process::WaitId::PidFd(pidfd.as_fd()),
                rustix::process::WaitIdOptions::EXITED,
            );
        }
        verdict
    }

    /// Resolves once the child has exec'd (`Ok`) or failed before (`Err` with its errno;
    /// it has then exited, and is the caller's to reap). Must run inside a tokio runtime.
    pub async fn wait(self) -> io::Result<()> {
        rustix::io::ioctl_fionbio(&self.0, true)?;
        // SAFETY: an owned pipe end, owned by the AsyncFd from here on, so it is neither
        // closed nor replaced while registered.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(self.0, tokio::io::Interest::READABLE)
        }?;
        let mut buf = [0u8; 4];
        loop {
            let mut guard = fd.readable().await?;
            match rustix::io::read(fd.get_ref(), &mut buf) {
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(rustix::io::Errno::INTR) => {}
                Ok(n) => return read_verdict(n, buf),
                // Unreadable: the exec's verdict is unknown; the pidfd will tell if it died.
                Err(_) => return Ok(()),
            }
        }
    }
}

/// What `n` bytes read from the failure pipe say: a whole errno if the child failed before
/// its exec, nothing (the pipe closed by the exec) if it did not.
fn read_verdict(n: usize, buf: [u8; 4]) -> io::Result<()> {
    if n == buf.len() {
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf)));
    }
    Ok(())
}

/// `struct clone_args` of `clone3(2)`, up to `cgroup` (kernel 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Cleared once this kernel refused to clone into a cgroup, so no spawn tries again.
static AVAILABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether cloning into a cgroup is worth trying (not refused by this kernel yet).
pub fn available() -> bool {
    AVAILABLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Notes that this kernel cannot clone into a cgroup (`ENOSYS`, `EINVAL` or `E2BIG`).
pub fn unavailable() {
    AVAILABLE.store(false, std::sync::atomic::Ordering::Relaxed);
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Spawns `path` (argv `argv`, environment exactly `env`) in `cwd` inside the cgroup
/// directory `cgroup`. `Err` with `ENOSYS`, `EINVAL` or `E2BIG` means this kernel cannot
/// clone into a cgroup; the caller falls back to moving the child. Whether the exec itself
/// succeeded is the returned [`Verdict`]'s to tell.
pub fn spawn(
    path: &Path,
    argv: &[&OsStr],
    env: &[(&OsStr, &OsStr)],
    cwd: Option<&Path>,
    cgroup: BorrowedFd<'_>,
    setup: &ExecSetup,
) -> io::Result<Spawned> {
    // Everything the child uses is made here: after the clone it may not allocate.
    let path = cstring(path.as_os_str())?;
    let argv: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<io::Result<_>>()?;
    let envp: Vec<CString> = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        })
        .collect::<io::Result<_>>()?;
    let cwd = cwd.map(|c| cstring(c.as_os_str())).transpose()?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_p.push(std::ptr::null());

    let devnull = rustix::fs::open("/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let (out_r, out_w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
    let (err_r, err_w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
    let (fail_r, fail_w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;

    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: CLONE_PIDFD | CLONE_INTO_CGROUP,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid `clone_args` of the size passed. Without CLONE_VM the child
    // gets a copy of this address space, as after fork; `child` then makes only
    // async-signal-safe calls on data prepared above, and never returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        // SAFETY: see above; this is the child.
        unsafe {
            child(Child {
                devnull: devnull.as_raw_fd(),
                out: out_w.as_raw_fd(),
                err: err_w.as_raw_fd(),
                fail: fail_w.as_raw_fd(),
                cwd: cwd.as_ref().map(|c| c.as_ptr()),
                path: path.as_ptr(),
                argv: argv_p.as_ptr(),
                envp: envp_p.as_ptr(),
                setup,
            })
        }
    }
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let pid = u32::try_from(ret).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel stored a new pidfd there, now ours alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop((devnull, out_w, err_w, fail_w));
    Ok(Spawned {
        pid,
        pidfd,
        stdout: out_r,
        stderr: err_r,
        verdict: Verdict(fail_r),
    })
}

/// What the child works from: raw descriptors and pointers into the parent's copy.
struct Child<'a> {
    devnull: libc::c_int,
    out: libc::c_int,
    err: libc::c_int,
    fail: libc::c_int,
    cwd: Option<*const libc::c_char>,
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    setup: &'a ExecSetup,
}

/// The child between clone and exec: only async-signal-safe calls, no allocation.
///
/// # Safety
/// Call only in the child of a fork-like clone, with `c` pointing into live data.
unsafe fn child(c: Child<'_>) -> ! {
    let fail = |errno: i32| -> ! {
        let bytes = errno.to_ne_bytes();
        // SAFETY: a write of a local buffer, then the child's end.
        unsafe {
            libc::write(c.fail, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127)
        }
    };
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: plain system calls on descriptors and pointers the parent prepared.
    unsafe {
        if libc::dup2(c.devnull, 0) < 0 || libc::dup2(c.out, 1) < 0 || libc::dup2(c.err, 2) < 0 {
            fail(errno());
        }
        if libc::setpgid(0, 0) < 0 {
            fail(errno());
        }
        // Rust ignores SIGPIPE and the supervisor may block signals: a service starts clean.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if let Some(dir) = c.cwd {
            if libc::chdir(dir) < 0 {
                fail(errno());
            }
        }
    }
    if let Err(e) = super::exec::apply(c.setup) {
        fail(e.raw_os_error().unwrap_or(libc::EIO));
    }
    // SAFETY: null-terminated arrays of C strings, alive in this copy of the parent.
    unsafe {
        libc::execve(c.path, c.argv, c.envp);
    }
    fail(errno())
}
