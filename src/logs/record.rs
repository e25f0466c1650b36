//! The on-disk record format.

use std::time::SystemTime;

/// The stream tag of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
    /// A note from proctor itself.
    Sys,
}

impl RecordStream {
    /// The tag as written in the file.
    pub fn tag(self) -> &'static str {
        match self {
            RecordStream::Out => "out",
            RecordStream::Err => "err",
            RecordStream::Sys => "sys",
        }
    }
}

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// When the chunk holding the line was read.
    pub time: SystemTime,
    /// The raw timestamp text.
    pub stamp: &'a [u8],
    /// Which stream.
    pub stream: RecordStream,
    /// The line continues in the next record (it was longer than `max_line`).
    pub continued: bool,
    /// The line's bytes, without the newline.
    pub line: &'a [u8],
}

/// Parses one record (without its trailing newline); `None` if it is not a record.
pub fn parse_record(raw: &[u8]) -> Option<Record<'_>> {
    let sp = memchr::memchr(b' ', raw)?;
    let stamp = &raw[..sp];
    let rest = &raw[sp + 1..];
    let sp2 = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let tag = &rest[..sp2];
    let line = rest.get(sp2 + 1..).unwrap_or(&[]);
    let (tag, continued) = match tag.strip_suffix(b"+") {
        Some(t) => (t, true),
        None => (tag, false),
    };
    let stream = match tag {
        b"out" => RecordStream::Out,
        b"err" => RecordStream::Err,
        b"sys" => RecordStream::Sys,
        _ => return None,
    };
    let time = humantime::parse_rfc3339(std::str::from_utf8(stamp).ok()?).ok()?;
    Some(Record {
        time,
        stamp,
        stream,
        continued,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_record() {
        let r = parse_record(b"2026-11-23T09:38:29.123456Z err+ hello world").expect("record");
        assert_eq!(r.stream, RecordStream::Err);
        assert!(r.continued);
        assert_eq!(r.line, b"hello world");
        assert!(parse_record(b"garbage").is_none());
        let empty = parse_record(b"2026-11-23T09:38:29.123456Z out").expect("record");
        assert_eq!(empty.line, b"");
    }
}
