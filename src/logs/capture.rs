//! Reading a service's output pipe into its sink.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::SystemTime;

use tokio::net::unix::pipe;

use super::LogSink;
use crate::backend::Stream;

thread_local! {
    /// One read buffer for every pipe on the supervisor thread: a read is followed by its
    /// processing without an await in between, so readers never hold it concurrently.
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

/// Copies `fd` into `sink` until end of file; returns once the pipe is closed by every
/// process holding it. Must run inside the supervisor's runtime.
pub async fn capture(fd: OwnedFd, stream: Stream, sink: Rc<RefCell<LogSink>>) {
    let rx = match pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => rx,
        Err(e) => {
            sink.borrow_mut()
                .note(&format!("proctor: cannot capture {stream:?}: {e}"));
            return;
        }
    };
    loop {
        if rx.readable().await.is_err() {
            break;
        }
        let done = BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            match rx.try_read(&mut buf) {
                Ok(0) => true,
                Ok(n) => {
                    sink.borrow_mut()
                        .write(stream, &buf[..n], SystemTime::now());
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
                Err(e) => {
                    sink.borrow_mut()
                        .note(&format!("proctor: reading {stream:?} failed: {e}"));
                    true
                }
            }
        });
        if done {
            break;
        }
    }
    sink.borrow_mut().finish(stream);
}
