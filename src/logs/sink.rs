//! A service's log file: formatting, size-based rotation, error accounting, live fan-out.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

use super::record::RecordStream;
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

/// Writes one service's records to `NAME.log`, rotating by size.
#[derive(Debug)]
pub struct LogSink {
    service: usize,
    path: PathBuf,
    settings: LogSettings,
    file: Option<File>,
    size: u64,
    carry: [Vec<u8>; 2],
    out: Vec<u8>,
    /// Records that could not be written since the last successful write.
    lost: u64,
    /// A write failed midway, so the file may end inside a record.
    torn: bool,
    error: Option<String>,
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

/// Records are written in pieces of about this size, bounding the formatting buffer.
const FLUSH_AT: usize = 64 * 1024;

impl LogSink {
    /// A sink for service number `service`, writing `dir/NAME.log` (opened lazily).
    pub fn new(
        service: usize,
        dir: &Path,
        name: &str,
        settings: LogSettings,
        live: broadcast::Sender<Arc<LogBatch>>,
    ) -> Self {
        Self {
            service,
            path: dir.join(format!("{name}.log")),
            settings,
            file: None,
            size: 0,
            carry: [Vec::new(), Vec::new()],
            out: Vec::new(),
            lost: 0,
            torn: false,
            error: None,
            live,
            watch: None,
        }
    }

    /// Calls `on_match` once, when the next line matching `pattern` arrives.
    pub fn watch_for(&mut self, pattern: regex::bytes::Regex, on_match: Box<dyn FnOnce()>) {
        self.watch = Some((pattern, OnMatch(on_match)));
    }

    /// Rotation and line settings from now on (a reload changed them).
    pub fn set_settings(&mut self, settings: LogSettings) {
        self.settings = settings;
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

    /// The last write error, while writing is failing.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
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
        let mut rest = data;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(nl);
            rest = &tail[1..];
            if self.carry[slot].is_empty() && self.watch.is_none() && line.len() <= max {
                // The common case, kept lean: one whole, short line.
                self.out.reserve(prefix.len() + line.len() + 1);
                self.out.extend_from_slice(&prefix);
                self.out.extend_from_slice(line);
                self.out.push(b'\n');
            } else if self.carry[slot].is_empty() {
                self.push_line(&stamp, rs, line);
            } else {
                let mut joined = std::mem::take(&mut self.carry[slot]);
                joined.extend_from_slice(line);
                self.push_line(&stamp, rs, &joined);
                joined.clear();
                self.carry[slot] = joined;
            }
            if self.out.len() >= FLUSH_AT {
                self.flush();
            }
        }
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

    /// Writes the formatted records to disk and to live subscribers.
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
        let records = std::mem::take(&mut self.out);
        if let Err(e) = self.write_out(&records) {
            let n = memchr::memchr_iter(b'\n', &records).count() as u64;
            self.lost += n;
            if self.error.is_none() {
                tracing::warn!(path = %self.path.display(), "log write failed: {e}");
            }
            self.error = Some(format!("{}: {e}", self.path.display()));
            // Reopen on the next write: the directory may come back or get space.
            self.file = None;
        }
        let mut records = records;
        records.clear();
        if records.capacity() > 4 * FLUSH_AT {
            records.shrink_to(FLUSH_AT);
        }
        self.out = records;
    }

    fn write_out(&mut self, records: &[u8]) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let f = open_append(&self.path)?;
                self.size = f.metadata()?.len();
                self.file.insert(f)
            }
        };
        if self.torn {
            file.write_all(b"\n")?;
            self.torn = false;
            self.size += 1;
        }
        if self.lost > 0 {
            let note = format!(
                "{} sys proctor: {} lines lost while the log could not be written ({})\n",
                crate::util::timestamp(SystemTime::now()),
                self.lost,
                self.error.as_deref().unwrap_or("unknown error"),
            );
            file.write_all(note.as_bytes())?;
            self.size += note.len() as u64;
            self.lost = 0;
        }
        if let Err(e) = file.write_all(records) {
            self.torn = true;
            return Err(e);
        }
        self.size += records.len() as u64;
        self.error = None;
        if self.size >= self.settings.max_size {
            self.rotate()?;
        }
        Ok(())
    }

    /// `NAME.log` → `NAME.log.1` → … → `NAME.log.<keep>`, the oldest removed. Runs between
    /// writes, so a record is never split across files or written twice.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let keep = self.settings.keep;
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if keep == 0 {
            remove_if_exists(&self.path)?;
        } else {
            remove_if_exists(&numbered(keep))?;
            for n in (1..keep).rev() {
                rename_if_exists(&numbered(n), &numbered(n + 1))?;
            }
            rename_if_exists(&self.path, &numbered(1))?;
        }
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(dir: &Path, settings: LogSettings) -> LogSink {
        let (tx, _) = broadcast::channel(4);
        LogSink::new(0, dir, "svc", settings, tx)
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
}
