//! Log capture: every line a service prints, stamped, stored, rotated, and streamed.
//!
//! Each service has a `LogSink` writing `<state>/logs/NAME.log`, one record per line:
//! `2026-11-23T09:38:29.123456Z out the line`. The stream tag is `out` or `err`, with a `+`
//! appended (`out+`) on a piece of an over-long line that continues in the next record, and
//! `sys` for proctor's own notes (e.g. lines lost while the disk was full). Readers take one
//! timestamp per read chunk and split lines with memchr on the supervisor's loop, which
//! also matches readiness lines and feeds live followers; the files themselves are written,
//! rotated and reopened by one writer thread per supervisor, so a slow or hung disk never
//! stalls the loop. Memory stays bounded because a reader only reads again once the
//! writer's queue is short enough (the pipe pushes back).

mod capture;
mod newlines;
mod record;
mod sink;
mod tail;
mod writer;

pub(crate) use capture::capture;
pub use record::{parse_record, Record, RecordStream};
pub(crate) use sink::{LogBatch, LogSink};
pub use tail::{log_files, tail};
