//! `Daemon::start()` until ready, for a TCP service, from Rust: the median over `--runs`
//! starts (default 20). `python/bench/start_ready.py` measures the same from Python.
//!
//! ```text
//! cargo run --release --example start_ready -- [--runs 20]
//! ```
//!
//! The service is `busybox httpd -f` on a free port (a TCP listener that starts in about a
//! millisecond), probed every 2 ms; each run's state lives in a fresh temp directory.

#![allow(clippy::print_stdout)] // A command-line report.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use proctor::{Daemon, Probe, RestartPolicy};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs = match args.iter().position(|a| a == "--runs") {
        Some(i) => args.get(i + 1).ok_or("--runs needs a number")?.parse()?,
        None => 20usize,
    };
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let home = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let daemon = Daemon::builder(format!("tcp{i}"))
            .command(["busybox", "httpd", "-f", "-p", &addr, "-h", "/"])
            .ready(Probe::tcp(&addr).with_interval(Duration::from_millis(2)))
            .restart(RestartPolicy::No)
            .lock_dir(home.path())
            .build()?;
        let t = Instant::now();
        daemon.start()?;
        times.push(t.elapsed());
        daemon.stop()?;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "rust: Daemon::start() -> ready (tcp), {runs} runs: median {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(times[runs / 2]),
        ms(times[0]),
        ms(times[runs - 1])
    );
    Ok(())
}
