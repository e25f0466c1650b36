//! Reading a service's output pipe into its sink, no faster than the log writer writes.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use tokio::net::unix::pipe;

use super::LogSink;
use crate::backend::Stream;

/// The most one read takes from a pipe: a quarter of a grown pipe, so a chatty service costs
/// a few reads per pipeful, and what one read formats to stays bounded (about 8.4 MiB for
/// 256 KiB of empty lines; about 1.4 MiB for numbers like `seq`'s).
pub(super) const READ_MAX: usize = 256 * 1024;
/// The size a pipe is grown to once a read finds it full (the service writes faster than we
/// read): the service then keeps running while we format and write, instead of blocking on
/// every 64 KiB. The default `fs.pipe-max-size`.
const PIPE_GROWN: usize = 1024 * 1024;
/// Bytes of grown pipes over the whole process, at most: a quarter of the default per-user
/// soft limit (`fs.pipe-user-pages-soft`, 64 MiB), past which the kernel gives every new
/// pipe of that user 2 pages only, so growing ours never slows the services' own pipes.
const GROWN_MAX: usize = 16 * 1024 * 1024;
/// Bytes of grown pipes now (see [`GROWN_MAX`]).
static GROWN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// One read buffer for every pipe on the supervisor thread: a read is followed by its
    /// processing without an await in between, so readers never hold it concurrently.
    /// Zeroed lazily by the kernel: a quiet supervisor touches only its first pages.
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_MAX]);
}

/// Copies `fd` into `sink` until end of file; returns once the pipe is closed by every
/// process holding it. With `tty`, the output comes from a terminal, whose line ends are
/// `\r\n`: the `\r` is dropped so records look like any other. Must run inside the
/// supervisor's runtime.
pub async fn capture(fd: OwnedFd, stream: Stream, sink: Rc<RefCell<LogSink>>, tty: bool) {
    let rx = match pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            sink.borrow_mut()
                .note(&format!("proctor: cannot capture {stream:?}: {e}"));
            return;
        }
    };
    // A terminal is not a pipe: it has no size to read or grow.
    let size = rustix::pipe::fcntl_getpipe_size(&rx).ok();
    let pipe = Rc::new(Pipe {
        rx,
        stream,
        crlf: RefCell::new(tty.then(CrLf::default)),
        size: Cell::new(size),
        grown: Cell::new(0),
    });
    sink.borrow_mut().attach(Rc::downgrade(&pipe));
    loop {
        if pipe.rx.readable().await.is_err() {
            break;
        }
        // Back-pressure: while the log writer is behind, leave the output in the pipe, so
        // the services that write slow down instead of our memory growing (a quiet one
        // waits at most for the queue to halve). Checked right before the read, with no
        // await in between, so the queue stays bounded.
        let room = sink.borrow().room();
        room.await;
        let read = BUF.with(|buf| pipe.read_into(&mut buf.borrow_mut(), &mut sink.borrow_mut()));
        match read {
            Read::Data | Read::Empty => {}
            Read::End => break,
            Read::Failed(e) => {
                sink.borrow_mut()
                    .note(&format!("proctor: reading {stream:?} failed: {e}"));
                break;
            }
        }
    }
    sink.borrow_mut().finish(stream);
}

/// One output pipe being captured, shared by its capture task and its sink: before a note
/// of its own, the sink reads what the service already wrote, so that a note such as
/// "exited 1" follows the last lines even while capture waits for the writer.
#[derive(Debug)]
pub(super) struct Pipe {
    rx: pipe::Receiver,
    /// Which stream the pipe carries.
    pub(super) stream: Stream,
    crlf: RefCell<Option<CrLf>>,
    /// The pipe's capacity, `None` once it is not to be grown (a terminal, or tried).
    size: Cell<Option<usize>>,
    /// Bytes this pipe holds of [`GROWN`], given back when it is dropped.
    grown: Cell<usize>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        GROWN.fetch_sub(self.grown.get(), Ordering::AcqRel);
    }
}

/// What one read of a pipe found.
pub(super) enum Read {
    /// Data, now in the sink.
    Data,
    /// Nothing yet.
    Empty,
    /// End of file: every writer closed it.
    End,
    /// A read error.
    Failed(std::io::Error),
}

impl Pipe {
    /// Reads what the pipe holds (up to `buf.len()` bytes) into `sink`, never waiting.
    pub(super) fn read_into(&self, buf: &mut [u8], sink: &mut LogSink) -> Read {
        let read = self.rx.try_read(buf);
        self.deliver(read, buf, sink)
    }

    /// [`Pipe::read_into`], but asking the kernel even when the runtime has not yet seen
    /// the pipe become readable (the exit may be handled first in the same turn).
    pub(super) fn read_now(&self, buf: &mut [u8], sink: &mut LogSink) -> Read {
        let read = rustix::io::read(&self.rx, &mut *buf).map_err(std::io::Error::from);
        self.deliver(read, buf, sink)
    }

    /// Grows the pipe to [`PIPE_GROWN`] (once; a read found it full), within [`GROWN_MAX`]
    /// for the process. A refusal (the user's pipe limits) leaves it as it is.
    fn grow(&self) {
        self.size.set(None);
        if GROWN.fetch_add(PIPE_GROWN, Ordering::AcqRel) + PIPE_GROWN > GROWN_MAX {
            GROWN.fetch_sub(PIPE_GROWN, Ordering::AcqRel);
            return;
        }
        match rustix::pipe::fcntl_setpipe_size(&self.rx, PIPE_GROWN) {
            Ok(_) => self.grown.set(PIPE_GROWN),
            Err(e) => {
                GROWN.fetch_sub(PIPE_GROWN, Ordering::AcqRel);
                tracing::debug!("cannot grow a {:?} pipe: {e}", self.stream);
            }
        }
    }

    fn deliver(&self, read: std::io::Result<usize>, buf: &[u8], sink: &mut LogSink) -> Read {
        match read {
            Ok(0) => Read::End,
            Ok(n) => {
                if self.size.get().is_some_and(|size| n >= size) {
                    self.grow();
                }
                let mut crlf = self.crlf.borrow_mut();
                let data = match crlf.as_mut() {
                    Some(t) => std::borrow::Cow::Owned(t.translate(&buf[..n])),
                    None => std::borrow::Cow::Borrowed(&buf[..n]),
                };
                sink.write(self.stream, &data, SystemTime::now());
                Read::Data
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                Read::Empty
            }
            Err(e) => Read::Failed(e),
        }
    }
}

/// Turns `\r\n` into `\n` across chunk boundaries; a lone `\r` is kept.
#[derive(Debug, Default)]
struct CrLf {
    /// The previous chunk ended in `\r`, held back until the next byte is known.
    pending_cr: bool,
}

impl CrLf {
    fn translate(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 1);
        if std::mem::take(&mut self.pending_cr) && chunk.first() != Some(&b'\n') {
            out.push(b'\r');
        }
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\r', rest) {
            out.extend_from_slice(&rest[..i]);
            match rest.get(i + 1) {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => self.pending_cr = true,
            }
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::CrLf;

    #[test]
    fn drops_cr_before_lf_across_chunks() {
        let mut t = CrLf::default();
        let mut out = t.translate(b"a\r\nb\r");
        out.extend(t.translate(b"\nc\rd\r"));
        out.extend(t.translate(b"x"));
        assert_eq!(out, b"a\nb\nc\rd\rx");
    }
}
