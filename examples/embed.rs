//! Embedding proctor: a program that ships its own daemon and manages it from code.
//!
//! The daemon is a tiny TCP echo server: this very binary, run as `embed serve PORT`.
//! The example starts it, waits until its port answers, talks to it, kills it behind the
//! handle's back (SIGKILL), and shows `call_with_recovery` bringing it back.
//!
//!     cargo run --example embed
//!
//! With `-- --own-process` the supervisor runs as a process of its own (this binary again,
//! which is why `main` starts with `serve_if_requested`) instead of a thread.

// An example talks to its reader on stdout; the crate's lint against it is for the library.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use proctor::daemon::Supervisor;
use proctor::{Daemon, Probe, RestartPolicy, Storage};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    // Started as a daemon's supervisor? Then this supervises and exits.
    proctor::daemon::serve_if_requested();
    let args: Vec<String> = std::env::args().collect();
    if let [_, cmd, port] = args.as_slice() {
        if cmd == "serve" {
            return serve(port.parse()?);
        }
    }
    manage(args.iter().any(|a| a == "--own-process"))
}

fn manage(own_process: bool) -> Result<()> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let exe = std::env::current_exe()?;
    let home = tempfile::tempdir()?; // the daemon's lock, socket and logs live here

    let daemon = Daemon::builder("echo")
        .command([exe.display().to_string(), "serve".into(), port.to_string()])
        .ready(Probe::tcp(addr).with_interval(Duration::from_millis(20)))
        // Left to itself it stays dead, so recovery below is visibly ours.
        .restart(RestartPolicy::No)
        .storage(Storage::Sandboxed)
        .lock_dir(home.path())
        .supervisor(if own_process {
            Supervisor::Process(exe.clone())
        } else {
            Supervisor::Thread
        })
        .build()?;

    daemon.start()?;
    let pid = daemon.pid().ok_or("not running")?;
    let sup = daemon.status()?.supervisor_pid.ok_or("not supervised")?;
    println!("started echo daemon, pid {pid}, ready on {addr} (supervisor pid {sup})");
    println!("  sent 'hello', got {:?}", echo(addr, "hello")?);

    println!("killing pid {pid} with SIGKILL behind the handle's back");
    let mut events = daemon.events()?;
    let target = rustix::process::Pid::from_raw(i32::try_from(pid)?).ok_or("bad pid")?;
    rustix::process::kill_process(target, rustix::process::Signal::KILL)?;
    while let Some(ev) = events.recv_timeout(Duration::from_secs(5))? {
        println!("  event: {} is {}", ev.service, ev.state.as_str());
        if ev.state == proctor::State::Failed {
            break;
        }
    }
    if let Err(e) = echo(addr, "anyone?") {
        println!("  a plain call now fails: {e}");
    }

    let reply = daemon.call_with_recovery(|| echo(addr, "are you back?"))?;
    let status = daemon.status()?;
    println!(
        "call_with_recovery restarted it (pid {}), reply {reply:?}",
        status.pid.ok_or("not running")?
    );

    drop(daemon); // stops it: SIGTERM to its process group, then its storage is removed
    println!("dropped the handle: the daemon is stopped");
    Ok(())
}

/// Sends `msg` and returns what comes back.
fn echo(addr: SocketAddr, msg: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(msg.as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The daemon: echoes each connection's input back until it closes.
fn serve(port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    for conn in listener.incoming() {
        let mut conn = conn?;
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if conn.read_to_end(&mut buf).is_ok() {
                let _ = conn.write_all(&buf);
            }
        });
    }
    Ok(())
}
