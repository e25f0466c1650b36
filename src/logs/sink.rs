//! A service's log: formatting, readiness watch and live fan-out on the supervisor's loop;
//! the file itself (writes, rotation, error accounting) is the writer thread's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::record::RecordStream;
use super::writer::{LogFile, Writer, BEHIND, QUEUED_MAX};
use crate::backend::Stream;
use crate::spec::LogSettings;

/// Formatted records of one service, as sent to live subscribers.
#[derive(Debug)]
pub struct LogBatch {
    /// Index of the service in the spec.
    pub service: usize,
    /// Complete records, each ending in a newline.
    pub records: Vec<u8>,
}

/// Formats one service's records and queues them for `NAME.log`, rotated by size, on the
/// writer thread of the supervisor it is created on; nothing here waits for the disk.
#[derive(Debug)]
pub struct LogSink {
    service: usize,
    path: PathBuf,
    settings: LogSettings,
    carry: [Vec<u8>; 2],
    out: Vec<u8>,
    /// The file, shared with the writer thread.
    file: Arc<LogFile>,
    writer: Rc<Writer>,
    /// Lines dropped (the writer was stuck) and not yet counted in the file.
    dropped: u64,
    live: broadcast::Sender<Arc<LogBatch>>,
    /// A `log` readiness probe: called once when a line matches.
    watch: Option<(regex::bytes::Regex, OnMatch)>,
}

/// A callback run when a watched line arrives.
pub struct OnMatch(pub Box<dyn FnOnce()>);

impl std::fmt::Debug for OnMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnMatch")
    }
}

/// Records are queued in pieces of about this size: the unit of a write, of a live batch,
/// and of a buffer reused from the writer.
const FLUSH_AT: usize = 64 * 1024;

impl LogSink {
    /// A sink for service number `service`, writing `dir/NAME.log` (opened lazily). Its
    /// writer thread is the one of every sink created on this thread, started with the first.
    pub fn new(
        service: usize,
        dir: &Path,
        name: &str,
        settings: LogSettings,
        live: broadcast::Sender<Arc<LogBatch>>,
    ) -> Self {
        let path = dir.join(format!("{name}.log"));
        Self {
            service,
            file: Arc::new(LogFile::new(path.clone(), settings)),
            path,
            settings,
            carry: [Vec::new(), Vec::new()],
            out: Vec::new(),
            writer: Writer::current(),
            dropped: 0,
            live,
            watch: None,
        }
    }

    /// Calls `on_match` once, when the next line matching `pattern` arrives.
    pub fn watch_for(&mut self, pattern: regex::bytes::Regex, on_match: Box<dyn FnOnce()>) {
        self.watch = Some((pattern, OnMatch(on_match)));
    }

    /// Stops watching for a line.
    pub fn unwatch(&mut self) {
        self.watch = None;
    }

    /// The current log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last write error while writing is failing, or else that lines were dropped
    /// because the writer is behind (until the next write says how many).
    pub fn error(&self) -> Option<String> {
        self.file
            .error()
            .or_else(|| (self.dropped > 0).then(|| format!("{}: {BEHIND}", self.path.display())))
    }

    /// Records `data` read from `stream` at `now`: complete lines are written, a trailing
    /// partial line waits for the rest (or for [`LogSink::finish`]).
    pub fn write(&mut self, stream: Stream, data: &[u8], now: SystemTime) {
        let stamp = crate::util::timestamp(now);
        let slot = stream as usize;
        let rs = match stream {
            Stream::Out => RecordStream::Out,
            Stream::Err => RecordStream::Err,
        };
        // `STAMP TAG ` once per chunk: the hot path below copies it, then the line.
        let mut prefix = Vec::with_capacity(stamp.len() + 6);
        prefix.extend_from_slice(stamp.as_bytes());
        prefix.push(b' ');
        prefix.extend_from_slice(rs.tag().as_bytes());
        prefix.push(b' ');
        let max = self.settings.max_line.max(1);
        if self.out.capacity() == 0 {
            self.out = self.writer.buffer(FLUSH_AT + FLUSH_AT / 8);
        }
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            let line = &data[start..nl];
            if line.len() <= max && self.watch.is_none() && self.carry[slot].is_empty() {
                // The common case, kept lean: one whole, short line, copied with its newline.
                let record = &data[start..=nl];
                self.out.reserve(prefix.len() + record.len());
                if let Ok(p) = <&[u8; 32]>::try_from(prefix.as_slice()) {
                    // Always the case (27 bytes of stamp, a 3-letter tag, two spaces): a
                    // copy of known length is two moves, not a call to memcpy.
                    self.out.extend_from_slice(p);
                } else {
                    self.out.extend_from_slice(&prefix);
                }
                self.out.extend_from_slice(record);
            } else if self.carry[slot].is_empty() {
                self.push_line(&stamp, rs, line);
            } else {
                let mut joined = std::mem::take(&mut self.carry[slot]);
                joined.extend_from_slice(line);
                self.push_line(&stamp, rs, &joined);
                joined.clear();
                self.carry[slot] = joined;
            }
            start = nl + 1;
            if self.out.len() >= FLUSH_AT {
                self.flush();
                // The next piece goes into a spare buffer: growing an empty one line by line
                // would reallocate all the way up.
                self.out = self.writer.buffer(FLUSH_AT + FLUSH_AT / 8);
            }
        }
        let rest = &data[start..];
        if !rest.is_empty() {
            self.carry[slot].extend_from_slice(rest);
            // Emit full pieces of an over-long partial line now, so memory stays bounded.
            while self.carry[slot].len() > max {
                let piece: Vec<u8> = self.carry[slot].drain(..max).collect();
                self.push_record(&stamp, rs, true, &piece);
            }
        }
        self.flush();
    }

    /// Writes a final line that had no newline (the stream reached end of file).
    pub fn finish(&mut self, stream: Stream) {
        let slot = stream as usize;
        if !self.carry[slot].is_empty() {
            let line = std::mem::take(&mut self.carry[slot]);
            let stamp = crate::util::timestamp(SystemTime::now());
            let rs = match stream {
                Stream::Out => RecordStream::Out,
                Stream::Err => RecordStream::Err,
            };
            self.push_line(&stamp, rs, &line);
        }
        self.flush();
    }

    /// Writes a note from proctor itself into the service's log.
    pub fn note(&mut self, text: &str) {
        let stamp = crate::util::timestamp(SystemTime::now());
        self.push_record(&stamp, RecordStream::Sys, false, text.as_bytes());
        self.flush();
    }

    fn push_line(&mut self, stamp: &str, rs: RecordStream, line: &[u8]) {
        if self.watch.as_ref().is_some_and(|(re, _)| re.is_match(line)) {
            if let Some((_, on_match)) = self.watch.take() {
                (on_match.0)();
            }
        }
        let max = self.settings.max_line.max(1);
        let mut line = line;
        while line.len() > max {
            let (piece, tail) = line.split_at(max);
            self.push_record(stamp, rs, true, piece);
            line = tail;
        }
        self.push_record(stamp, rs, false, line);
    }

    fn push_record(&mut self, stamp: &str, rs: RecordStream, continued: bool, line: &[u8]) {
        self.out.extend_from_slice(stamp.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(rs.tag().as_bytes());
        if continued {
            self.out.push(b'+');
        }
        self.out.push(b' ');
        self.out.extend_from_slice(line);
        self.out.push(b'\n');
    }

    /// Hands the formatted records to live subscribers and to the writer thread.
    pub fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(Arc::new(LogBatch {
                service: self.service,
                records: self.out.clone(),
            }));
        }
        if self.writer.queued() + self.out.len() > QUEUED_MAX {
            // Only notes get here (capture waits for room before it reads): the writer is
            // stuck, and memory must stay bounded.
            if self.dropped == 0 {
                tracing::warn!(path = %self.path.display(), "{BEHIND}, dropping lines");
            }
            self.dropped += memchr::memchr_iter(b'\n', &self.out).count() as u64;
            self.out.clear();
            return;
        }
        if self.dropped > 0 {
            // Counted where the lines went missing, as the writer does for a failing disk.
            let note = format!(
                "{} sys proctor: {} lines lost while the log could not be written ({}: {})\n",
                crate::util::timestamp(SystemTime::now()),
                std::mem::take(&mut self.dropped),
                self.path.display(),
                "the log writer was behind",
            );
            self.writer.submit(&self.file, note.into_bytes());
        }
        let records = std::mem::take(&mut self.out);
        self.writer.submit(&self.file, records);
    }

    /// Resolves once the writer's queue is short enough to read more output: capture tasks
    /// await it before each read, so a slow disk fills the services' pipes, not our memory.
    pub fn room(&self) -> impl Future<Output = ()> + 'static {
        self.writer.room()
    }

    /// Resolves once every record flushed so far is in the file (or counted lost). Bound
    /// the wait: a hung disk never resolves it.
    pub fn written(&self) -> impl Future<Output = ()> + 'static {
        self.writer.written(&self.file)
    }
}

#[cfg(test)]
mod tests {
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
        let dir_path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut s = sink(&dir_path, LogSettings::default());
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
    }
}
