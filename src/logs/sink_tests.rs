//! Unit tests of [`LogSink`] and its writer thread.

use super::*;

fn sink(dir: &Path, settings: LogSettings) -> LogSink {
    let (tx, _) = broadcast::channel(4);
    LogSink::new(0, dir, "svc", settings, tx)
}

/// Waits until the writer thread has written everything `s` queued.
fn settle(s: &LogSink) {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), s.written())
                .await
                .expect("the writer drains");
        });
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read log")
        .lines()
        .map(|l| l.splitn(3, ' ').skip(1).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn joins_partial_lines_and_keeps_streams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = sink(dir.path(), LogSettings::default());
    let now = SystemTime::now();
    s.write(Stream::Out, b"hel", now);
    s.write(Stream::Err, b"oops\n", now);
    s.write(Stream::Out, b"lo\nwor", now);
    s.finish(Stream::Out);
    settle(&s);
    assert_eq!(lines(s.path()), vec!["err oops", "out hello", "out wor"]);
}

#[test]
fn splits_long_lines_and_marks_pieces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = LogSettings {
        max_line: 4,
        ..LogSettings::default()
    };
    let mut s = sink(dir.path(), settings);
    s.write(Stream::Out, b"abcdefghij\n", SystemTime::now());
    settle(&s);
    assert_eq!(lines(s.path()), vec!["out+ abcd", "out+ efgh", "out ij"]);
}

#[test]
fn rotates_without_losing_or_duplicating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = LogSettings {
        max_size: 200,
        keep: 100,
        max_line: 1024,
    };
    let mut s = sink(dir.path(), settings);
    for i in 0..100 {
        s.write(Stream::Out, format!("{i}\n").as_bytes(), SystemTime::now());
    }
    settle(&s);
    let mut all = Vec::new();
    for n in (1..=100).rev() {
        let p = dir.path().join(format!("svc.log.{n}"));
        if p.exists() {
            all.extend(lines(&p));
        }
    }
    all.extend(lines(s.path()));
    let want: Vec<String> = (0..100).map(|i| format!("out {i}")).collect();
    assert_eq!(all, want);
}

fn is_pending(f: impl Future) -> bool {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.as_mut().poll(&mut cx).is_pending()
}

#[test]
fn a_stuck_file_blocks_neither_the_sink_nor_its_memory_and_drops_are_counted() {
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("svc.log");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    // The sink runs on a thread of its own, so that a sink that blocked would fail the
    // deadlines below instead of hanging the test.
    let (report, reports) = mpsc::channel();
    let (go, gone) = mpsc::channel::<()>();
    let (counts_tx, counts) = mpsc::channel();
    let dir_path = dir.path().to_path_buf();
    std::thread::spawn(move || {
        // No rotation while the notes drain: the FIFO must stay the file read below.
        let settings = LogSettings {
            max_size: 1 << 40,
            ..LogSettings::default()
        };
        let mut s = sink(&dir_path, settings);
        // Nobody reads the FIFO, so the writer blocks opening it; notes queue up to the
        // bound, then are dropped and counted.
        let mut sent = 0u64;
        while s.error().is_none() {
            s.note(&format!("note {sent} {}", "x".repeat(1000)));
            sent += 1;
        }
        let _ = report.send((sent, s.error(), is_pending(s.room())));
        if gone.recv().is_ok() {
            settle(&s);
            s.note("after");
            settle(&s);
            let _ = counts_tx.send(s.line_counts());
            let _ = report.send((0, s.error(), false));
        }
    });
    let (sent, error, room_pending) = reports
        .recv_timeout(Duration::from_secs(20))
        .expect("the sink never blocks");
    assert!(error.is_some_and(|e| e.contains(BEHIND)));
    assert!(room_pending, "capture waits while the queue is full");

    // A reader unblocks the writer, which then writes everything queued.
    let (content_tx, content) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut fifo = std::fs::File::open(&path).expect("open fifo");
        let mut data = Vec::new();
        let mut buf = [0u8; 65536];
        while !data.ends_with(b" sys after\n") {
            match fifo.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        let _ = content_tx.send(data);
    });
    go.send(()).expect("sink thread");
    let data = content
        .recv_timeout(Duration::from_secs(20))
        .expect("everything written");
    let (_, error, _) = reports
        .recv_timeout(Duration::from_secs(20))
        .expect("drained");
    assert_eq!(error, None, "no longer behind");
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let notes = lines.len() - 2;
    for (i, line) in lines[..notes].iter().enumerate() {
        let want = format!(" sys note {i} ");
        assert!(
            line.windows(want.len()).any(|w| w == want.as_bytes()),
            "note {i} in order"
        );
    }
    let lost = String::from_utf8_lossy(lines[notes]);
    let dropped = sent - notes as u64;
    assert!(
        lost.contains(&format!("proctor: {dropped} lines lost")) && lost.contains("behind"),
        "{lost}"
    );
    assert!(
        dropped >= 1 && notes > 1000,
        "{notes} notes queued, {dropped} dropped"
    );
    // What metrics report: every record taken in (the notes and "after"), and the drops.
    assert_eq!(counts.recv().expect("counts"), (sent + 1, dropped));
}

#[test]
fn a_note_follows_what_the_service_wrote_before_it() {
    use std::cell::RefCell;
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let s = Rc::new(RefCell::new(sink(dir.path(), LogSettings::default())));
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
    let mut wr = std::fs::File::from(wr);
    local.block_on(&rt, async {
        tokio::task::spawn_local(super::super::capture(rd, Stream::Out, s.clone(), false));
        // Let capture start and wait on the empty pipe.
        while s.borrow().pipes.is_empty() {
            tokio::task::yield_now().await;
        }
        // The service's last words, then its exit, seen before capture runs again (as when
        // capture waits for the writer): the note still comes after them.
        wr.write_all(b"last words\nno newline").expect("write");
        drop(wr);
        s.borrow_mut().note("proctor: exited 1");
    });
    settle(&s.borrow());
    assert_eq!(
        lines(s.borrow().path()),
        vec!["out last words", "out no newline", "sys proctor: exited 1"]
    );
}

/// Issue 18: a stopped or failed service holds no descriptor for its log: out of
/// descriptors, the notes of many failed starts kept their files open, and the supervisor
/// could accept no connection again. A running one keeps its file open.
#[test]
fn an_idle_service_log_is_closed_once_written_and_reopened_by_the_next_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = sink(dir.path(), LogSettings::default());
    let open = |path: &Path| {
        std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target == path)
            .count()
    };
    s.note("started");
    settle(&s);
    assert_eq!(open(s.path()), 1, "a running service's log stays open");
    s.set_idle(true);
    s.note("failed to start: no such file");
    settle(&s);
    assert_eq!(open(s.path()), 0, "an idle service's log is closed");
    s.set_idle(false);
    s.write(Stream::Out, b"back\n", SystemTime::now());
    s.finish(Stream::Out);
    settle(&s);
    assert_eq!(open(s.path()), 1);
    assert_eq!(
        lines(s.path()),
        vec![
            "sys started",
            "sys failed to start: no such file",
            "out back"
        ]
    );
}
