//! Log capture: completeness and order across rotation, streams, odd lines, the `logs`
//! command, and a full disk.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{require, stderr, TestContext};
use proctor::logs::{parse_record, RecordStream};

/// Every record of `name`'s log, oldest file first, as `(stream, continued, line)`.
fn records(home: &Path, name: &str) -> Vec<(RecordStream, bool, Vec<u8>)> {
    let dir = home.join("logs");
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .expect("logs dir")
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            let base = format!("{name}.log");
            if f == base {
                Some((0, e.path()))
            } else {
                f.strip_prefix(&format!("{base}."))
                    .and_then(|n| n.parse().ok())
                    .map(|n| (n, e.path()))
            }
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut out = Vec::new();
    for (_, f) in files {
        let data = std::fs::read(&f).expect("read log");
        for raw in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let r = parse_record(raw)
                .unwrap_or_else(|| panic!("not a record: {:?}", String::from_utf8_lossy(raw)));
            out.push((r.stream, r.continued, r.line.to_vec()));
        }
    }
    out
}

/// Waits until `pred` holds for the records of `name`.
fn wait_records(
    ctx: &TestContext,
    name: &str,
    within: Duration,
    mut pred: impl FnMut(&[(RecordStream, bool, Vec<u8>)]) -> bool,
) -> Vec<(RecordStream, bool, Vec<u8>)> {
    let deadline = Instant::now() + within;
    loop {
        let recs = if ctx.home().join("logs").exists() {
            records(ctx.home(), name)
        } else {
            Vec::new()
        };
        if pred(&recs) {
            return recs;
        }
        assert!(
            Instant::now() < deadline,
            "log of {name} never matched within {within:?}; last {} records",
            recs.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines_of(recs: &[(RecordStream, bool, Vec<u8>)], stream: RecordStream) -> Vec<String> {
    recs.iter()
        .filter(|r| r.0 == stream)
        .map(|r| String::from_utf8_lossy(&r.2).into_owned())
        .collect()
}

#[test]
fn a_million_lines_each_once_in_order_across_rotations() {
    let ctx = TestContext::new(
        r#"
[service.counter]
command = ["seq", "1", "1000000"]
restart = "no"
logs = { max_size = "1MB", keep = 200 }
"#,
    );
    ctx.ok(&["up", "-d"]);
    // Watch only the live file (cheap, and the rotated ones still move), then read all once
    // writing has stopped.
    let current = ctx.home().join("logs/counter.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read(&current).is_ok_and(|d| {
        d.split(|b| *b == b'\n')
            .rev()
            .filter_map(parse_record)
            .any(|r| r.stream == RecordStream::Out && r.line == b"1000000")
    }) {
        assert!(Instant::now() < deadline, "the last line never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    let recs = records(ctx.home(), "counter");
    let out = lines_of(&recs, RecordStream::Out);
    assert_eq!(out.len(), 1_000_000, "every line exactly once");
    for (i, line) in out.iter().enumerate() {
        assert_eq!(line, &(i + 1).to_string(), "line {i} out of order");
    }
    let rotated = std::fs::read_dir(ctx.home().join("logs"))
        .expect("logs")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("counter.log."))
        })
        .count();
    assert!(rotated >= 10, "expected many rotations, got {rotated}");
}

#[test]
fn streams_partial_lines_long_lines_and_invalid_utf8() {
    let ctx = TestContext::new(
        r#"
[service.mixed]
command = ["sh", "-c", '''for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'bad \377\376 bytes\n'; head -c 1048576 /dev/zero | tr '\0' x; echo; printf 'no newline at the end'''']
restart = "no"
"#,
    );
    ctx.ok(&["up", "-d"]);
    let recs = wait_records(&ctx, "mixed", Duration::from_secs(20), |r| {
        r.iter().any(|x| x.2 == b"no newline at the end")
    });
    let errs = lines_of(&recs, RecordStream::Err);
    assert_eq!(errs, ["err1", "err2", "err3"]);
    let outs: Vec<&(RecordStream, bool, Vec<u8>)> =
        recs.iter().filter(|r| r.0 == RecordStream::Out).collect();
    let texts: Vec<&[u8]> = outs.iter().map(|r| r.2.as_slice()).collect();
    assert_eq!(&texts[..3], [b"out1".as_slice(), b"out2", b"out3"]);
    assert_eq!(texts[3], b"bad \xff\xfe bytes", "invalid UTF-8 kept as is");
    // The 1 MiB line: 64 KiB pieces, all but the last marked as continued.
    let pieces = &outs[4..outs.len() - 1];
    assert_eq!(pieces.len(), 16);
    assert!(pieces[..15].iter().all(|p| p.1) && !pieces[15].1);
    let joined: usize = pieces.iter().map(|p| p.2.len()).sum();
    assert_eq!(joined, 1 << 20);
    assert!(pieces.iter().all(|p| p.2.iter().all(|b| *b == b'x')));
    assert_eq!(texts.last(), Some(&b"no newline at the end".as_slice()));

    // `logs` rejoins the pieces and shows the bytes lossily.
    let shown = ctx.ok(&["logs", "-n", "3", "--stream", "out", "--no-prefix", "mixed"]);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{:?}", &shown[..shown.len().min(200)]);
    assert_eq!(lines[0], "bad \u{fffd}\u{fffd} bytes");
    assert!(lines[1].len() == 1 << 20 && lines[1].bytes().all(|b| b == b'x'));
    assert_eq!(lines[2], "no newline at the end");
}

#[test]
fn logs_command_n_since_stream_unknown_and_without_a_supervisor() {
    let ctx = TestContext::new(
        "[service.old]\ncommand = [\"true\"]\n[service.b]\ncommand = [\"true\"]\n",
    );
    // No supervisor has ever run: `logs` reads files only.
    let logs = ctx.home().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
    std::fs::write(
        logs.join("old.log"),
        format!(
            "2020-01-01T00:00:00.000000Z out ancient\n2020-01-01T00:00:01.000000Z err ancient err\n{now} out fresh 1\n{now} err fresh err\n{now} out fresh 2\n"
        ),
    )
    .expect("write");
    let all = ctx.ok(&["logs", "old"]);
    assert_eq!(all.lines().count(), 5, "{all}");
    assert!(all.lines().all(|l| l.starts_with("old | ")), "{all}");
    let two = ctx.ok(&["logs", "-n", "2", "--no-prefix", "old"]);
    assert_eq!(two, "fresh err\nfresh 2\n");
    let recent = ctx.ok(&["logs", "--since", "10m", "--no-prefix", "old"]);
    assert_eq!(recent, "fresh 1\nfresh err\nfresh 2\n");
    let errs = ctx.ok(&["logs", "--stream", "err", "--no-prefix", "old"]);
    assert_eq!(errs, "ancient err\nfresh err\n");
    let json = ctx.ok(&["logs", "--json", "-n", "1", "old"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["service"], "old");
    assert_eq!(v["stream"], "out");
    assert_eq!(v["line"], "fresh 2");
    let out = ctx.run(&["logs", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope") && err.contains("old, b"), "{err}");
}

#[test]
fn follow_sees_new_lines() {
    let ctx = TestContext::new(
        r#"
[service.echoer]
command = ["sh", "-c", "while :; do if [ -e go ]; then echo 'the new line'; rm go; fi; sleep 0.05; done"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut child = ctx
        .cmd()
        .args(["logs", "-f", "-n", "0", "echoer"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Poke until the follower is subscribed and sees the line.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = None;
    while seen.is_none() && Instant::now() < deadline {
        std::fs::write(ctx.dir.path().join("go"), "").expect("poke");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            seen = Some(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.as_deref(), Some("echoer | the new line"));
}

/// Unmounts a tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn full_disk_keeps_everything_running_and_capture_resumes() {
    let ctx = TestContext::new(
        r#"
[service.chatty]
command = ["python3", "-u", "-c", "import itertools, time\nfor i in itertools.count():\n    print(f'line {i} ' + 'x' * 200)\n    time.sleep(0.001)"]
"#,
    );
    let logs = ctx.home().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    let mounted = match std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
        .arg(&logs)
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("mount -t tmpfs failed ({s}); it needs root")),
        Err(e) => Err(format!("cannot run mount: {e}")),
    };
    if require("a small tmpfs for the logs", mounted).is_none() {
        return;
    }
    let _mount = Mount(logs.clone());
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("chatty").pid.expect("pid");
    let sup = ctx.supervisor_pid();

    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        let s = ctx.service("chatty");
        if let Some(e) = s.log_error {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the full disk was never reported"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(err.contains("No space left"), "{err}");
    let s = ctx.service("chatty");
    assert_eq!(s.pid, Some(pid), "the service keeps running");
    assert_eq!(ctx.supervisor_pid(), sup, "the supervisor keeps running");

    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&logs)
        .status()
        .expect("remount");
    assert!(grown.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctx.service("chatty").log_error.is_some() {
        assert!(Instant::now() < deadline, "capture never resumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let recs = wait_records(&ctx, "chatty", Duration::from_secs(10), |r| {
        r.iter()
            .any(|x| x.0 == RecordStream::Sys && x.2.windows(10).any(|w| w == b"lines lost"))
    });
    // After the note, lines keep arriving in order.
    let note = recs
        .iter()
        .position(|x| x.0 == RecordStream::Sys)
        .expect("note");
    assert!(recs[note + 1..].iter().any(|x| x.0 == RecordStream::Out));
    ctx.ok(&["down"]);
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_flood_of_output_keeps_supervisor_memory_bounded() {
    // 256 MiB in long lines as fast as `yes` can write them: the pipe slows the writer
    // down, the supervisor's memory must not grow with the volume.
    let ctx = TestContext::new(
        r#"
[service.flood]
command = ["sh", "-c", "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c 268435456"]
restart = "no"
autostart = false
logs = { max_size = "32MB", keep = 1 }
"#,
    );
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    let before = rss_kib(sup);
    ctx.ok(&["start", "flood"]);
    let mut peak = before;
    let deadline = Instant::now() + Duration::from_secs(120);
    while ctx.service("flood").state != proctor::State::Exited {
        peak = peak.max(rss_kib(sup));
        assert!(Instant::now() < deadline, "the flood never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    peak = peak.max(rss_kib(sup));
    assert!(
        peak < before + 8 * 1024,
        "supervisor RSS grew from {before} KiB to {peak} KiB under a flood"
    );
}

/// Whether every buffer slot of the FIFO that `w` writes to is taken, so that a write of
/// more than a page blocks.
fn fifo_full(w: &std::fs::File) -> bool {
    let mut fds = [rustix::event::PollFd::new(w, rustix::event::PollFlags::OUT)];
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&now)).expect("poll") == 0
}

#[test]
fn a_stuck_log_file_stalls_neither_restarts_nor_control() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let ctx = TestContext::new(
        r#"
[service.stuck]
command = ["sh", "-c", "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -n 40000; echo stuck done; exec sleep 1000"]
[service.other]
command = ["sh", "-c", "echo other up; exec sleep 1000"]
restart = "always"
backoff = { initial = "10ms" }
"#,
    );
    // `stuck` logs into a FIFO that we hold open but never read: once its 64 KiB fill up,
    // every write to it blocks, as on a hung disk.
    let logs = ctx.home().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    let fifo_path = logs.join("stuck.log");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo_path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&fifo_path)
        .expect("open the fifo");
    // A write end of our own, only to ask the kernel whether the FIFO is full.
    let probe = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&fifo_path)
        .expect("open the fifo for writing");
    ctx.ok(&["up", "-d"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fifo_full(&probe) {
        assert!(
            Instant::now() < deadline,
            "the log writer never filled the fifo"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(probe);
    // `stuck` printed 2.8 MB in pieces of 64 KiB, each needing a free buffer slot: the log
    // writer is now blocked in write(2), for good.

    let t = Instant::now();
    let other = ctx.service("other");
    let status_took = t.elapsed();
    let mut events = ctx.events();
    let t = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(other.pid.expect("pid") as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill -9");
    let back = events.until(Duration::from_secs(20), |e| {
        e.service == "other" && e.state == proctor::State::Running && e.pid != other.pid
    });
    let restart_took = t.elapsed();
    assert!(back.pid.is_some());
    // A stalled loop would not answer at all; these bounds only absorb a noisy machine.
    assert!(
        status_took < Duration::from_secs(5),
        "status took {status_took:?}"
    );
    assert!(
        restart_took < Duration::from_secs(5),
        "restart took {restart_took:?}"
    );

    // Once the FIFO is read again, everything queued meanwhile arrives, in order.
    let (seen_tx, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut fifo = std::fs::File::open(&fifo_path).expect("open the fifo");
        let mut data = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        // Reads until the supervisor closes its end, so its last notes never block.
        while let Ok(n) = fifo.read(&mut buf) {
            if n == 0 {
                break;
            }
            let from = data.len().saturating_sub(16);
            data.extend_from_slice(&buf[..n]);
            if data[from..].windows(16).any(|w| w == b" out stuck done\n") {
                let _ = seen_tx.send(std::mem::take(&mut data));
            }
        }
    });
    drop(fifo);
    let stuck = seen
        .recv_timeout(Duration::from_secs(30))
        .expect("stuck's log drained");
    assert!(!stuck.is_empty());
    let recs = wait_records(&ctx, "other", Duration::from_secs(10), |r| {
        lines_of(r, RecordStream::Out).len() == 2
    });
    let texts: Vec<(RecordStream, String)> = recs
        .iter()
        .map(|r| (r.0, String::from_utf8_lossy(&r.2).into_owned()))
        .collect();
    let want = [
        (RecordStream::Out, "other up".to_string()),
        (RecordStream::Sys, "proctor: killed by SIGKILL".to_string()),
        (RecordStream::Out, "other up".to_string()),
    ];
    assert_eq!(texts, want);
    ctx.ok(&["down"]);
}

#[test]
fn grep_since_and_until_pick_lines_by_content_and_time() {
    let ctx = TestContext::new(
        r#"
[service.talker]
command = ["sh", "-c", "echo 'alpha one'; echo 'beta two'; echo 'alpha three'; exec sleep 1000"]
ready = { log = "three" }
"#,
    );
    // Ready once the last line is in the log.
    ctx.ok(&["up", "-d"]);
    let out = ctx.ok(&["logs", "talker", "--no-prefix", "--grep", "^alpha"]);
    assert_eq!(out, "alpha one\nalpha three\n");
    let out = ctx.ok(&["logs", "--no-prefix", "--grep", "t(wo|hree)$", "-n", "1"]);
    assert_eq!(out, "alpha three\n", "-n counts matching lines");

    // Absolute times: the lines were written today, after 2000 and before 2100.
    let out = ctx.ok(&["logs", "talker", "--no-prefix", "--since", "2000-01-01"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = ctx.ok(&[
        "logs",
        "talker",
        "--no-prefix",
        "--until",
        "2000-01-01T00:00:00Z",
    ]);
    assert_eq!(out, "");
    let out = ctx.ok(&[
        "logs",
        "talker",
        "--no-prefix",
        "--since",
        "2100-01-01 00:00",
    ]);
    assert_eq!(out, "");
    let out = ctx.ok(&[
        "logs",
        "talker",
        "--no-prefix",
        "--until",
        "2099-12-31T23:00:00+02:00",
    ]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = ctx.run(&["logs", "--since", "yesterday-ish"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("neither an age"), "{}", stderr(&out));
    let out = ctx.run(&["logs", "--grep", "(unclosed"]);
    assert!(!out.status.success());
    ctx.ok(&["down"]);
}

#[test]
fn follow_waits_for_the_supervisor_across_a_restart() {
    let ctx = TestContext::new(
        r#"
[service.greeter]
command = ["sh", "-c", "echo \"hello from $$$$\"; exec sleep 1000"]
"#,
    );
    ctx.ok(&["up", "-d"]);
    let mut child = ctx
        .cmd()
        .args(["logs", "-f", "-n", "0", "--no-prefix", "greeter"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logs -f");
    let stdout = child.stdout.take().expect("stdout");
    let stderr_pipe = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(format!("out: {line}"));
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("err: {line}"));
        }
    });
    let next = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(what) => return l,
                Ok(_) => {}
                Err(_) => panic!("logs -f never printed {what:?}"),
            }
        }
    };
    // The follower is subscribed once a restart of the service reaches it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        ctx.ok(&["restart", "greeter"]);
        // The restart's own note comes first; the new process's greeting after it.
        if rx
            .recv_timeout(Duration::from_millis(500))
            .is_ok_and(|l| l.contains("hello from") || next("hello from").contains("hello"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "logs -f never subscribed");
    }
    ctx.ok(&["down"]);
    next("waiting for it to come back");
    ctx.ok(&["up", "-d"]);
    let pid = ctx.service("greeter").pid.expect("running");
    let line = next(&format!("hello from {pid}"));
    assert!(line.starts_with("out: "), "{line}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_odd_since_or_until_is_refused_not_a_panic() {
    let ctx = TestContext::new("[service.a]\ncommand = [\"true\"]\n");
    // Multibyte text whose last six bytes do not start on a character.
    for when in ["éééé1", "2026-12-02T10:00:00é+1", "日本語の時間"] {
        for flag in ["--since", "--until"] {
            let out = ctx.run(&["logs", flag, when]);
            let err = stderr(&out);
            assert!(!out.status.success(), "{flag} {when}");
            assert!(!err.contains("panicked"), "{flag} {when}: {err}");
            assert!(err.contains("neither an age"), "{flag} {when}: {err}");
        }
    }
    // A time with an offset still reads.
    let out = ctx.run(&["logs", "--since", "2026-12-02T10:00:00+01:00"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
