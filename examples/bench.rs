//! proctor's benchmark: speed and footprint of the supervisor, measured end to end.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench -- [--n 200] [--idle-secs 30] [--rounds 5] [--only logs]…
//! ```
//!
//! Prints a table and writes `target/bench.json`. Each figure drives the real `proctor`
//! binary (`target/release/proctor`, next to this example) under a temp `PROCTOR_HOME`. The
//! example re-executes itself as the services' children (`stamp` writes a nanosecond
//! timestamp as its first act, `listen` serves a TCP port), so no figure includes a shell.

#![allow(clippy::print_stdout)] // A command-line report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "bench/ready.rs"]
mod ready;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        // Child modes come first: their start is what the restart figure measures.
        Some("stamp") => return child_stamp(&args[2]),
        Some("listen") => return child_listen(&args[2]),
        Some("ready") => return ready::child(&args[2], &args[3], &args[4]),
        _ => {}
    }
    let mut n = 200usize;
    let mut idle_secs = 30u64;
    let mut rounds = 5usize;
    let mut only: Vec<String> = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--n" => n = it.next().ok_or("--n needs a number")?.parse()?,
            "--idle-secs" => idle_secs = it.next().ok_or("--idle-secs needs a number")?.parse()?,
            // Cold starts and stops are medians over this many rounds.
            "--rounds" => rounds = it.next().ok_or("--rounds needs a number")?.parse()?,
            // plain, reload, stop50, tcp, ready, restart, logs, lock: run only these figures.
            "--only" => only.push(it.next().ok_or("--only needs a name")?.clone()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let bench = Bench::new()?;
    let mut rows: Vec<Row> = Vec::new();

    if want("plain") {
        // 1, 3, 4, 5, 7: N plain services. The first start makes the project's state
        // directory; the cold start figure is the median over the `rounds` starts after it
        // (supervisor not running, state directory kept, as after a reboot), each followed
        // by a timed stop. The last round's services stay up for the figures in between.
        rows.push(Row::new(
            &format!("reference: spawn {n} sleeps (bare std Command), p50"),
            n,
            spawn_floor(n, rounds)?,
            "ms",
            "",
        ));
        let p = bench.project("plain", &plain_services(n, &bench.me))?;
        let first = timed(&p, &["up", "-d"])?;
        settle();
        let mut stops = vec![timed(&p, &["down"])?];
        rows.push(Row::new(
            "first start (up -d, new state dir)",
            n,
            first,
            "ms",
            "",
        ));
        let mut starts = Vec::new();
        for _ in 1..rounds.max(1) {
            starts.push(timed(&p, &["up", "-d"])?);
            settle();
            stops.push(timed(&p, &["down"])?);
        }
        starts.push(timed(&p, &["up", "-d"])?);
        rows.push(Row::new(
            "cold start (up -d, all running), p50",
            n,
            median(&mut starts),
            "ms",
            "< 150 ms for 200",
        ));
        let sup = p.supervisor_pid()?;
        let (rss, pss) = memory(sup)?;
        rows.push(Row::new(
            "supervisor RSS",
            n,
            rss / 1024.0,
            "MiB",
            "< 8 MiB for 200",
        ));
        rows.push(Row::new("supervisor PSS", n, pss / 1024.0, "MiB", ""));
        let mut lat = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            p.ok(&["status", "--json"])?;
            lat.push(ms(t.elapsed()));
        }
        // The floors under the status figure: any process, and proctor doing nothing.
        let floor = |cmd: &Path, args: &[&str]| -> Res<f64> {
            let mut v = Vec::new();
            for _ in 0..50 {
                let t = Instant::now();
                Command::new(cmd)
                    .args(args)
                    .stdout(Stdio::null())
                    .status()?;
                v.push(ms(t.elapsed()));
            }
            Ok(median(&mut v))
        };
        rows.push(Row::new(
            "floor: spawn /bin/true, p50",
            0,
            floor(Path::new("/bin/true"), &[])?,
            "ms",
            "",
        ));
        rows.push(Row::new(
            "floor: proctor --version, p50",
            0,
            floor(&bench.proctor, &["--version"])?,
            "ms",
            "",
        ));
        rows.push(Row::new(
            "status --json, p50 (whole CLI)",
            n,
            median(&mut lat),
            "ms",
            "< 1.5 ms for 200",
        ));
        // Let the last status connection's teardown pass before sampling.
        std::thread::sleep(Duration::from_secs(1));
        let (cpu, switches) = idle(sup, Duration::from_secs(idle_secs))?;
        rows.push(Row::new(
            &format!("idle CPU over {idle_secs}s"),
            n,
            cpu,
            "CPU-s",
            "0.00",
        ));
        rows.push(Row::new(
            &format!("idle wake-ups over {idle_secs}s"),
            n,
            switches as f64,
            "switches",
            "0",
        ));
        stops.push(timed(&p, &["down"])?);
        rows.push(Row::new(
            "stop all (down, exit on TERM), p50",
            n,
            median(&mut stops),
            "ms",
            "",
        ));
    }

    if want("reload") {
        // Issue 14: a reload that changes 1 of N services; the other N-1 keep their pids.
        let p = bench.project("reload", &plain_services(n, &bench.me))?;
        p.ok(&["up", "-d"])?;
        let pids = |p: &Project| -> Res<Vec<(String, u64)>> {
            Ok(p.status()?["services"]
                .as_array()
                .ok_or("no services")?
                .iter()
                .map(|s| {
                    let name = s["name"].as_str().unwrap_or_default().to_string();
                    (name, s["pid"].as_u64().unwrap_or(0))
                })
                .collect())
        };
        let before = pids(&p)?;
        let spec = std::fs::read_to_string(p.dir.join("proctor.toml"))?;
        let mut times = Vec::new();
        for round in 0..rounds.max(1) {
            let changed = spec.replace(
                "[service.s0]\n",
                &format!("[service.s0]\nenv = {{ ROUND = \"{round}\" }}\n"),
            );
            std::fs::write(p.dir.join("proctor.toml"), changed)?;
            times.push(timed(&p, &["reload"])?);
        }
        let after = pids(&p)?;
        let kept = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.0 != "s0" && b == a)
            .count();
        rows.push(Row::new(
            "reload changing 1 service (whole CLI, until it is up), p50",
            n,
            median(&mut times),
            "ms",
            "",
        ));
        rows.push(Row::new(
            "  other services with unchanged pids",
            n,
            kept as f64,
            "services",
            "all but the changed one",
        ));
        p.ok(&["down"])?;
    }

    if want("stop50") {
        // 7b: the peer table's stop figure is for 50 services.
        let mut stops = Vec::new();
        let p = bench.project("fifty", &plain_services(50, &bench.me))?;
        for _ in 0..rounds.max(1) {
            p.ok(&["up", "-d"])?;
            settle();
            stops.push(timed(&p, &["down"])?);
        }
        rows.push(Row::new(
            "stop all (down, exit on TERM), p50",
            50,
            median(&mut stops),
            "ms",
            "< 20 ms for 50",
        ));
    }

    if want("tcp") {
        // 1b: N services ready by a tcp probe.
        let base_port = 20000 + (std::process::id() % 20000) as u16;
        let p = bench.project("tcp", &tcp_services(n, &bench.me, base_port))?;
        let t = Instant::now();
        p.ok(&["up", "-d"])?;
        rows.push(Row::new(
            "cold start (up -d, all tcp-ready)",
            n,
            ms(t.elapsed()),
            "ms",
            "",
        ));
        p.ok(&["down"])?;
    }

    if want("ready") {
        // Time to ready per probe kind, 20 starts each.
        ready::measure(&bench, 20, &mut rows)?;
    }

    if want("restart") {
        // 2: restart after kill -9, to the replacement's first instruction.
        let p = bench.project(
            "restart",
            &restart_service(&bench.me, &bench.dir.path().join("stamps")),
        )?;
        p.ok(&["up", "-d"])?;
        let mut lat = Vec::new();
        for _ in 0..50 {
            let pid = p.service_pid("victim")?;
            let before = read_stamps(&bench.dir.path().join("stamps")).len();
            let killed_at = now_ns();
            rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).ok_or("bad pid")?,
                rustix::process::Signal::KILL,
            )?;
            let deadline = Instant::now() + Duration::from_secs(10);
            let stamp = loop {
                let s = read_stamps(&bench.dir.path().join("stamps"));
                if s.len() > before {
                    break s[before];
                }
                if Instant::now() > deadline {
                    return Err("no replacement within 10 s".into());
                }
                std::thread::sleep(Duration::from_micros(200));
            };
            lat.push((stamp.saturating_sub(killed_at)) as f64 / 1e6);
            // Let the replacement settle as `running` before the next kill.
            p.wait_running("victim", pid)?;
        }
        let p50 = median(&mut lat);
        let p95 = percentile(&lat, 0.95);
        rows.push(Row::new(
            "restart after kill -9, p50",
            1,
            p50,
            "ms",
            "< 2.5 ms",
        ));
        rows.push(Row::new("restart after kill -9, p95", 1, p95, "ms", ""));
        p.ok(&["down"])?;
    }

    if want("logs") {
        // 6: log capture of seq 1 5000000.
        let p = bench.project("logs", "[service.seq]\ncommand = [\"seq\", \"1\", \"5000000\"]\nrestart = \"no\"\nautostart = false\nlogs = { max_size = \"1GB\" }\n")?;
        p.ok(&["up", "-d"])?;
        let sup = p.supervisor_pid()?;
        let log = p.home.join("logs/seq.log");
        let t = Instant::now();
        p.ok(&["start", "seq"])?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !has_line(&log, b"5000000")? {
            if Instant::now() > deadline {
                return Err("log capture did not finish within 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let secs = t.elapsed().as_secs_f64();
        let data = std::fs::read(&log)?;
        let lines = data
            .split(|b| *b == b'\n')
            .filter(|l| l.windows(5).any(|w| w == b" out "))
            .count();
        let peak = status_kib(sup, "VmHWM:")?;
        rows.push(Row::new(
            "log capture, seq 1 5000000",
            1,
            lines as f64 / secs / 1e6,
            "M lines/s",
            ">= 20 M lines/s",
        ));
        rows.push(Row::new(
            "log capture, bytes of output",
            1,
            38.9 / secs,
            "MB/s",
            "",
        ));
        rows.push(Row::new(
            "log capture, lines lost",
            1,
            5_000_000f64 - lines as f64,
            "lines",
            "0",
        ));
        rows.push(Row::new(
            "log capture, supervisor peak RSS",
            1,
            peak / 1024.0,
            "MiB",
            "",
        ));
        p.ok(&["down"])?;
    }

    if want("lock") {
        // 8: the lifecycle lock.
        let mut lat = Vec::new();
        let locks = bench.dir.path().join("locks");
        for _ in 0..10_000 {
            let t = Instant::now();
            let mut l = proctor::lock::Lock::for_service(&locks, "bench");
            let _fresh = l.acquire()?;
            l.release()?;
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        rows.push(Row::new(
            "lock acquire+release, p50",
            1,
            median(&mut lat),
            "µs",
            "",
        ));
    }

    print_table(&rows, &bench.proctor);
    let json = serde_json::json!({
        "machine": machine(),
        "binary": linking(&bench.proctor),
        "n": n,
        "rows": rows.iter().map(|r| serde_json::json!({
            "figure": r.figure, "services": r.n, "value": r.value, "unit": r.unit, "target": r.target,
        })).collect::<Vec<_>>(),
    });
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench.json");
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)?;
    println!("\nwrote {}", out.display());
    Ok(())
}

/// Milliseconds `proctor args…` takes in `p`.
fn timed(p: &Project, args: &[&str]) -> Res<f64> {
    let t = Instant::now();
    p.ok(args)?;
    Ok(ms(t.elapsed()))
}

/// Lets the services just started finish their own start-up (exec, dynamic loading) before
/// a stop is timed, as they would have long before anyone stops them.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

/// The floor under the cold start: spawning `n` `sleep`s with piped output from a program
/// that does nothing else (std's `Command`), median over `rounds`.
fn spawn_floor(n: usize, rounds: usize) -> Res<f64> {
    let mut v = Vec::new();
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let mut kids = Vec::with_capacity(n);
        for _ in 0..n {
            kids.push(
                Command::new("sleep")
                    .arg("100000")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?,
            );
        }
        v.push(ms(t.elapsed()));
        for k in &mut kids {
            let _ = k.kill();
        }
        for k in &mut kids {
            let _ = k.wait();
        }
        settle();
    }
    Ok(median(&mut v))
}

/// First act of a restarted child: append the wall clock in ns, then wait forever.
fn child_stamp(path: &str) -> Res<()> {
    let ns = now_ns();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    f.write_all(format!("{ns}\n").as_bytes())?;
    drop(f);
    loop {
        std::thread::park();
    }
}

fn child_listen(port: &str) -> Res<()> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?))?;
    for conn in l.incoming() {
        drop(conn);
    }
    Ok(())
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn read_stamps(path: &Path) -> Vec<u128> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

fn plain_services(n: usize, _me: &Path) -> String {
    (0..n)
        .map(|i| {
            format!("[service.s{i}]\ncommand = [\"sleep\", \"100000\"]\nstop_timeout = \"5s\"\n")
        })
        .collect()
}

fn tcp_services(n: usize, me: &Path, base: u16) -> String {
    (0..n)
        .map(|i| {
            let port = base + i as u16;
            format!(
                "[service.t{i}]\ncommand = [{me:?}, \"listen\", \"{port}\"]\nready = {{ tcp = \"127.0.0.1:{port}\", interval = \"10ms\" }}\n"
            )
        })
        .collect()
}

fn restart_service(me: &Path, stamps: &Path) -> String {
    format!(
        "[service.victim]\ncommand = [{me:?}, \"stamp\", {stamps:?}]\nrestart = \"always\"\nbackoff = {{ initial = \"0ms\", max = \"1s\" }}\nstart_limit = {{ burst = 1000, interval = \"1m\" }}\n"
    )
}

struct Bench {
    dir: tempfile::TempDir,
    me: PathBuf,
    proctor: PathBuf,
}

struct Project {
    dir: PathBuf,
    home: PathBuf,
    proctor: PathBuf,
}

impl Bench {
    fn new() -> Res<Self> {
        let me = std::env::current_exe()?;
        let proctor = me
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("proctor"))
            .filter(|p| p.exists())
            .ok_or("build the proctor binary first: cargo build --release")?;
        Ok(Self {
            dir: tempfile::tempdir()?,
            me,
            proctor,
        })
    }

    fn project(&self, name: &str, services: &str) -> Res<Project> {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("proctor.toml"),
            format!(
                "[project]\nname = \"{name}\"\n{}{services}",
                // `auto`, `cgroup`, `subreaper`, `process-group`: compare containments.
                std::env::var("PROCTOR_BENCH_CONTAINMENT")
                    .map(|c| format!("containment = \"{c}\"\n"))
                    .unwrap_or_default()
            ),
        )?;
        Ok(Project {
            home: dir.join("home"),
            dir,
            proctor: self.proctor.clone(),
        })
    }
}

impl Project {
    fn ok(&self, args: &[&str]) -> Res<String> {
        let out = Command::new(&self.proctor)
            .args(args)
            .current_dir(&self.dir)
            .env("PROCTOR_HOME", &self.home)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "proctor {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn status(&self) -> Res<serde_json::Value> {
        Ok(serde_json::from_str(&self.ok(&["status", "--json"])?)?)
    }

    fn supervisor_pid(&self) -> Res<u32> {
        self.status()?["supervisor_pid"]
            .as_u64()
            .map(|p| p as u32)
            .ok_or_else(|| "no supervisor pid".into())
    }

    fn service_pid(&self, name: &str) -> Res<u32> {
        let st = self.status()?;
        st["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .and_then(|s| s["pid"].as_u64())
            .map(|p| p as u32)
            .ok_or_else(|| format!("{name} has no pid").into())
    }

    /// Waits until `name` runs with a pid other than `old`.
    fn wait_running(&self, name: &str, old: u32) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.status()?;
            let s = st["services"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == name))
                .cloned()
                .unwrap_or_default();
            if s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p as u32 != old) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{name} not running again: {s}").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn has_line(path: &Path, want: &[u8]) -> Res<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(false);
    };
    let len = f.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(256);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    // The record may be followed by proctor's own note that the service exited.
    let mut rec = b" out ".to_vec();
    rec.extend_from_slice(want);
    rec.push(b'\n');
    Ok(tail.windows(rec.len()).any(|w| w == rec.as_slice()))
}

/// (RSS, PSS) in KiB.
fn memory(pid: u32) -> Res<(f64, f64)> {
    let rss = status_kib(pid, "VmRSS:")?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let pss = rollup
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    Ok((rss, pss))
}

fn status_kib(pid: u32, key: &str) -> Res<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {key} for {pid}").into())
}

/// CPU seconds and context switches (all threads) of `pid` over `window`.
fn idle(pid: u32, window: Duration) -> Res<(f64, u64)> {
    let sample = || -> Res<(f64, u64)> {
        let mut cpu = 0.0;
        let mut sw = 0;
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
            let stat = std::fs::read_to_string(t.path().join("stat"))?;
            let after = stat.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
                + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            cpu += ticks / 100.0;
            let st = std::fs::read_to_string(t.path().join("status"))?;
            for l in st.lines() {
                if l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
                {
                    sw += l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
        Ok((cpu, sw))
    };
    let (c0, s0) = sample()?;
    std::thread::sleep(window);
    let (c1, s1) = sample()?;
    Ok((c1 - c0, s1 - s0))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

struct Row {
    figure: String,
    n: usize,
    value: f64,
    unit: &'static str,
    target: &'static str,
}

impl Row {
    fn new(figure: &str, n: usize, value: f64, unit: &'static str, target: &'static str) -> Self {
        Self {
            figure: figure.into(),
            n,
            value,
            unit,
            target,
        }
    }
}

fn print_table(rows: &[Row], proctor: &Path) {
    println!("{}; proctor linked {}", machine(), linking(proctor));
    println!(
        "{:<40} {:>8} {:>12} {:<10} target",
        "figure", "services", "value", "unit"
    );
    for r in rows {
        println!(
            "{:<40} {:>8} {:>12.3} {:<10} {}",
            r.figure, r.n, r.value, r.unit, r.target
        );
    }
}

/// `static` or `dynamic`: whether the ELF at `path` asks for a program interpreter (the
/// dynamic loader), which build.rs leaves out unless `PROCTOR_DYNAMIC=1`.
fn linking(path: &Path) -> &'static str {
    const PT_INTERP: u32 = 3;
    let Ok(elf) = std::fs::read(path) else {
        return "unknown";
    };
    let num = |at: usize, len: usize| -> Option<u64> {
        let bytes = elf.get(at..at + len)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    };
    let interp = (|| {
        let (phoff, phentsize, phnum) = (num(32, 8)?, num(54, 2)?, num(56, 2)?);
        Some((0..phnum).any(|k| {
            usize::try_from(phoff + k * phentsize)
                .ok()
                .and_then(|at| num(at, 4))
                == Some(u64::from(PT_INTERP))
        }))
    })();
    match interp {
        Some(true) => "dynamic",
        Some(false) => "static",
        None => "unknown",
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}
