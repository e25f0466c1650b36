//! Time to ready, per probe kind: from the instant a service becomes ready (its port
//! opens, its ready line is written, its `READY=1` is sent, the file its exec probe tests
//! appears) to `proctor start` returning to the shell that asked.
//!
//! The child (this example re-executed as `ready KIND ARG STAMPS`) waits a few
//! milliseconds after its spawn, as a real daemon would while it loads, then appends the
//! wall clock in ns to `STAMPS` just before it becomes ready by `KIND`'s rule.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use super::{median, now_ns, percentile, read_stamps, Bench, Res, Row};

/// How long the child works before it becomes ready.
const LOAD: Duration = Duration::from_millis(3);

/// The probe kinds measured, each with the service it is measured on.
fn services(bench: &Bench, port: u16) -> Vec<(&'static str, String)> {
    let me = &bench.me;
    let dir = bench.dir.path().join("ready");
    let stamps = |kind: &str| dir.join(format!("{kind}.stamps"));
    let flag = dir.join("exec.flag");
    let sock = dir.join("unix.sock");
    let svc = |kind: &'static str, arg: String, ready: String| {
        (
            kind,
            format!(
                "[service.{kind}]\ncommand = [{me:?}, \"ready\", \"{kind}\", {arg:?}, {:?}]\nready = {{ {ready} }}\nautostart = false\nrestart = \"no\"\n",
                stamps(kind)
            ),
        )
    };
    vec![
        svc(
            "tcp",
            port.to_string(),
            format!("tcp = \"127.0.0.1:{port}\""),
        ),
        svc(
            "http",
            (port + 1).to_string(),
            format!("http = \"http://127.0.0.1:{}/\"", port + 1),
        ),
        svc(
            "unix",
            sock.display().to_string(),
            format!("unix = {sock:?}"),
        ),
        svc(
            "exec",
            flag.display().to_string(),
            format!("exec = [\"test\", \"-e\", {flag:?}]"),
        ),
        svc("log", String::new(), "log = \"^ready$\"".into()),
        svc("notify", String::new(), "notify = true".into()),
    ]
}

/// One row per probe kind: p50 and p95 over `rounds` starts.
pub(super) fn measure(bench: &Bench, rounds: usize, rows: &mut Vec<Row>) -> Res<()> {
    let dir = bench.dir.path().join("ready");
    std::fs::create_dir_all(&dir)?;
    let port = 40000 + (std::process::id() % 10000) as u16;
    let kinds = services(bench, port);
    let spec: String = kinds.iter().map(|(_, s)| s.as_str()).collect();
    let p = bench.project("ready", &spec)?;
    p.ok(&["up", "-d"])?;
    for (kind, _) in &kinds {
        let stamps = dir.join(format!("{kind}.stamps"));
        let mut lat = Vec::new();
        for _ in 0..rounds.max(1) {
            let _ = std::fs::remove_file(dir.join("exec.flag"));
            let _ = std::fs::remove_file(dir.join("unix.sock"));
            let before = read_stamps(&stamps).len();
            p.ok(&["start", kind])?;
            let returned = now_ns();
            let stamp = *read_stamps(&stamps)
                .get(before)
                .ok_or_else(|| format!("{kind}: ready without a stamp"))?;
            lat.push(returned.saturating_sub(stamp) as f64 / 1e6);
            p.ok(&["stop", kind])?;
        }
        let p50 = median(&mut lat);
        let p95 = percentile(&lat, 0.95);
        rows.push(Row::new(
            &format!("ready -> `proctor start` returns, {kind} probe, p50"),
            1,
            p50,
            "ms",
            "< 2 ms",
        ));
        rows.push(Row::new(
            &format!("ready -> `proctor start` returns, {kind} probe, p95"),
            1,
            p95,
            "ms",
            "",
        ));
    }
    p.ok(&["down"])?;
    Ok(())
}

/// The child: load for a moment, stamp, become ready by `kind`'s rule, then serve.
pub(super) fn child(kind: &str, arg: &str, stamps: &str) -> Res<()> {
    std::thread::sleep(LOAD);
    let stamp = || -> Res<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(stamps)?;
        f.write_all(format!("{}\n", now_ns()).as_bytes())?;
        Ok(())
    };
    match kind {
        "tcp" | "http" => {
            let l = std::net::TcpListener::bind(("127.0.0.1", arg.parse::<u16>()?))?;
            stamp()?;
            for mut conn in l.incoming().flatten() {
                if kind == "http" {
                    let mut buf = [0u8; 1024];
                    let _ = conn.read(&mut buf);
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
        "unix" => {
            let l = std::os::unix::net::UnixListener::bind(arg)?;
            stamp()?;
            for conn in l.incoming() {
                drop(conn);
            }
        }
        "exec" => {
            stamp()?;
            std::fs::write(Path::new(arg), b"")?;
        }
        "log" => {
            stamp()?;
            let mut out = std::io::stdout().lock();
            out.write_all(b"ready\n")?;
            out.flush()?;
        }
        "notify" => {
            let to = std::env::var("NOTIFY_SOCKET")?;
            let sock = std::os::unix::net::UnixDatagram::unbound()?;
            stamp()?;
            sock.send_to(b"READY=1", to)?;
        }
        other => return Err(format!("unknown probe kind {other}").into()),
    }
    loop {
        std::thread::park();
    }
}
