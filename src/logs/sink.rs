//! A service's log: formatting, readiness watch and live fan-out on the supervisor's loop;
//! the file itself (writes, rotation, error accounting) is the writer thread's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::capture::READ_MAX;
use super::capture::{Pipe, Read};
use super::newlines::Newlines;
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
    /// Records formatted so far and records dropped by the sink itself, for metrics.
    lines_total: u64,
    dropped_total: u64,
    live: broadcast::Sender<Arc<LogBatch>>,
    /// A `log` readiness probe: called once when a line matches.
    watch: Option<(regex::bytes::Regex, OnMatch)>,
    /// The pipes being captured into this sink, read before a note.
    pipes: Vec<Weak<Pipe>>,
}

/// A callback run when a watched line arrives.
pub struct OnMatch(pub Box<dyn FnOnce()>);

impl std::fmt::Debug for OnMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnMatch")
    }
}

/// Records are queued in pieces of about this size: the unit of a write, of a live batch,
/// and of a buffer reused from the writer. A quarter of the writer's high-water mark, so
/// the writer writes one piece while the loop formats the next.
const FLUSH_AT: usize = 256 * 1024;

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
            lines_total: 0,
            dropped_total: 0,
            live,
            watch: None,
            pipes: Vec::new(),
        }
    }

    /// Calls `on_match` once, when the next line matching `pattern` arrives.
    pub fn watch_for(&mut self, pattern: regex::bytes::Regex, on_match: Box<dyn FnOnce()>) {
        self.watch = Some((pattern, OnMatch(on_match)));
    }

    /// Rotation and line settings from now on (a reload changed them).
    pub fn set_settings(&mut self, settings: LogSettings) {
        self.settings = settings;
        self.file.set_rotation(settings);
    }

    /// Stops watching for a line.
    pub fn unwatch(&mut self) {
        self.watch = None;
    }

    /// The current log file.
    #[cfg(test)]
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

    /// Records taken in since the sink was created, and how many of them never reached
    /// the file (dropped while the writer was behind, or lost to failing writes).
    pub fn line_counts(&self) -> (u64, u64) {
        (
            self.lines_total,
            self.dropped_total + self.file.lost_total(),
        )
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
        for nl in Newlines::new(data) {
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
                self.lines_total += 1;
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

    /// Writes a note from proctor itself into the service's log, after what the service
    /// has already written to its pipes.
    pub fn note(&mut self, text: &str) {
        self.read_pipes();
        let stamp = crate::util::timestamp(SystemTime::now());
        self.push_record(&stamp, RecordStream::Sys, false, text.as_bytes());
        self.flush();
    }

    /// Whether the service is not running: its log file is then closed once written, and
    /// reopened by the next write.
    pub fn set_idle(&self, idle: bool) {
        self.file.set_idle(idle);
    }

    /// Lets a note read `pipe` first (see [`LogSink::note`]).
    pub(super) fn attach(&mut self, pipe: Weak<Pipe>) {
        self.pipes.retain(|p| p.strong_count() > 0);
        self.pipes.push(pipe);
    }

    /// Reads what the attached pipes hold now, even while capture waits for the writer:
    /// a few reads per pipe at most, so a process that keeps writing cannot hold a note
    /// back, and memory stays bounded.
    fn read_pipes(&mut self) {
        let pipes: Vec<Rc<Pipe>> = self.pipes.iter().filter_map(Weak::upgrade).collect();
        if pipes.is_empty() {
            return;
        }
        let mut buf = vec![0; READ_MAX];
        for pipe in pipes {
            for _ in 0..4 {
                match pipe.read_now(&mut buf, self) {
                    Read::Data => {}
                    Read::End => {
                        self.finish(pipe.stream);
                        break;
                    }
                    // Capture sees a failure again on its next read and says so.
                    Read::Empty | Read::Failed(_) => break,
                }
            }
        }
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
        self.lines_total += 1;
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
            let n = memchr::memchr_iter(b'\n', &self.out).count() as u64;
            self.dropped += n;
            self.dropped_total += n;
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
#[path = "sink_tests.rs"]
mod tests;
