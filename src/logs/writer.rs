//! The log writer: a thread that does every log file's I/O (write, rotate, reopen) for the
//! sinks of one supervisor, so a slow, hung or full disk never blocks the supervisor's loop.
//!
//! Sinks format records on the loop and queue them here in pieces of about 256 KiB, counting
//! the bytes queued and not yet written. A capture task waits (async) before reading more
//! from its pipe while [`QUEUED_HIGH`] bytes are queued, so a slow disk slows the services
//! that write (their pipes fill), and the supervisor's memory stays bounded by that, plus
//! what one read formats to (at most about 8.4 MiB, for 256 KiB of empty lines), plus the
//! spare buffers. Proctor's own notes never wait; past [`QUEUED_MAX`] they are dropped,
//! counted, and reported like lines lost to a failing disk.
//!
//! One thread for all sinks, not one per service: every log lives in the same directory, so
//! a slow disk slows all of them alike; 200 services would cost 200 thread starts (and one
//! per exit note at `down`) and their memory. One queue also keeps each sink's records in
//! order for free. The price: one file that hangs (a FIFO nobody reads, a dead NFS server)
//! holds up every log, though never the loop. Not `spawn_blocking`: that needs the blocking
//! pool a current-thread runtime does without, and its tasks run in no fixed order. The
//! thread starts with the first sink made on a supervisor's thread and ends when the last
//! one is dropped; idle, it sleeps in `recv`.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::Notify;

use crate::spec::LogSettings;

/// Queued bytes, over all sinks, at which capture tasks stop reading. Enough slack for the
/// loop and the writer to run at once through bursts of output: one read of a chatty
/// service formats to more than a MiB.
const QUEUED_HIGH: usize = 1024 * 1024;
/// Capture tasks that stopped resume once the queue is down to this: waking them at every
/// piece written would cost a cross-thread wake-up per piece.
const QUEUED_LOW: usize = QUEUED_HIGH / 2;
/// Queued bytes beyond which records are dropped and counted. Capture stays below it (it
/// reads only under [`QUEUED_HIGH`], and one read formats to at most about 8.4 MiB); notes,
/// which never wait, are what it bounds.
pub(super) const QUEUED_MAX: usize = 16 * 1024 * 1024;
/// Why lines are being dropped, as `status` says it.
pub(super) const BEHIND: &str = "the log writer is behind";
/// Spare record buffers kept for reuse, so the hot path neither allocates nor faults pages:
/// about as many as can be queued below [`QUEUED_HIGH`].
const POOL: usize = 6;
/// A buffer that grew beyond this (an over-long line) is freed rather than kept.
const POOL_CAPACITY: usize = 512 * 1024;

thread_local! {
    /// The writer of the supervisor running on this thread, while any of its sinks lives.
    static CURRENT: RefCell<std::rc::Weak<Writer>> = const { RefCell::new(std::rc::Weak::new()) };
}

/// The handle sinks queue records through.
#[derive(Debug)]
pub(super) struct Writer {
    /// `None` if the thread could not be started: records are then written inline.
    tx: Option<mpsc::Sender<Job>>,
    shared: Arc<Shared>,
}

/// What the loop and the writer thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes queued over all sinks and not yet written (or counted lost).
    queued: AtomicUsize,
    /// Signalled when `queued` falls to [`QUEUED_LOW`] or to zero, and when a sink's own
    /// queue empties; waiters check what they wait for.
    changed: Notify,
    /// Spare record buffers.
    pool: Mutex<Vec<Vec<u8>>>,
}

/// Records of one sink, to append to its file.
struct Job {
    file: Arc<LogFile>,
    records: Vec<u8>,
}

impl Writer {
    /// The writer of this thread's sinks, started on first use.
    pub(super) fn current() -> Rc<Self> {
        CURRENT.with(|current| {
            let existing = current.borrow().upgrade();
            existing.unwrap_or_else(|| {
                let writer = Rc::new(Self::start());
                *current.borrow_mut() = Rc::downgrade(&writer);
                writer
            })
        })
    }

    fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel::<Job>();
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("proctor-logs".into())
            // It formats at most a short note; the default 2 MiB would be address space
            // reserved for nothing.
            .stack_size(256 * 1024)
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job.run(&thread_shared);
                }
            });
        match spawned {
            Ok(_) => Self {
                tx: Some(tx),
                shared,
            },
            Err(e) => {
                tracing::warn!("cannot start the log writer thread, writing logs inline: {e}");
                Self { tx: None, shared }
            }
        }
    }

    /// Bytes queued over all sinks.
    pub(super) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Queues `records` for `file`.
    pub(super) fn submit(&self, file: &Arc<LogFile>, records: Vec<u8>) {
        file.queued.fetch_add(records.len(), Ordering::AcqRel);
        self.shared
            .queued
            .fetch_add(records.len(), Ordering::AcqRel);
        let job = Job {
            file: file.clone(),
            records,
        };
        let job = match &self.tx {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        // No thread (it could not start, or died): a log written late beats one lost.
        job.run(&self.shared);
    }

    /// An empty buffer of at least `capacity` to format records into, reused when one is
    /// spare.
    pub(super) fn buffer(&self, capacity: usize) -> Vec<u8> {
        let mut buf = lock(&self.shared.pool).pop().unwrap_or_default();
        buf.reserve(capacity);
        buf
    }

    /// Resolves once the queue is short enough to read more output.
    pub(super) fn room(&self) -> impl Future<Output = ()> + 'static {
        let shared = self.shared.clone();
        async move {
            if shared.queued.load(Ordering::Acquire) >= QUEUED_HIGH {
                shared
                    .wait_until(|| shared.queued.load(Ordering::Acquire) <= QUEUED_LOW)
                    .await;
            }
        }
    }

    /// Resolves once everything queued for `file` so far is written (or counted lost).
    pub(super) fn written(&self, file: &Arc<LogFile>) -> impl Future<Output = ()> + 'static {
        let shared = self.shared.clone();
        let file = file.clone();
        async move {
            shared
                .wait_until(|| file.queued.load(Ordering::Acquire) == 0)
                .await;
        }
    }
}

impl Shared {
    async fn wait_until(&self, done: impl Fn() -> bool) {
        loop {
            // Created before the check, so a wake-up between the two is not missed.
            let notified = self.changed.notified();
            if done() {
                return;
            }
            notified.await;
        }
    }
}

impl Job {
    fn run(self, shared: &Shared) {
        let Job { file, mut records } = self;
        let len = records.len();
        file.write(&records);
        let file_before = file.queued.fetch_sub(len, Ordering::AcqRel);
        let before = shared.queued.fetch_sub(len, Ordering::AcqRel);
        let after = before.saturating_sub(len);
        if file_before == len || after == 0 || (before > QUEUED_LOW && after <= QUEUED_LOW) {
            shared.changed.notify_waiters();
        }
        if records.capacity() <= POOL_CAPACITY {
            records.clear();
            let mut pool = lock(&shared.pool);
            if pool.len() < POOL {
                pool.push(records);
            }
        }
    }
}

/// One sink's file, shared by the sink (on the loop) and the writer thread.
#[derive(Debug)]
pub(super) struct LogFile {
    /// The open file and its accounting; only the writer locks it, so a write that hangs
    /// never holds up the loop.
    io: Mutex<FileIo>,
    /// The last write error while writing fails, for `status`; locked only briefly.
    error: Mutex<Option<String>>,
    /// Bytes queued for this file and not yet written (or counted lost).
    queued: AtomicUsize,
    /// Records lost to failing writes since the file was created, for metrics.
    lost_total: AtomicU64,
    /// Rotation settings, which a reload may change while the writer holds `io`.
    rotation: Mutex<(u64, u32)>,
    /// The service is not running: the file is closed once what is queued is written, so
    /// a project of many stopped or failed services holds no descriptor for their logs
    /// (out of descriptors, those kept the supervisor from taking any connection).
    idle: std::sync::atomic::AtomicBool,
}

impl LogFile {
    /// The file `path`, rotated per `settings`, opened on the first write.
    pub(super) fn new(path: PathBuf, settings: LogSettings) -> Self {
        Self {
            io: Mutex::new(FileIo {
                path,
                max_size: settings.max_size,
                keep: settings.keep,
                file: None,
                size: 0,
                lost: 0,
                torn: false,
                error: None,
                published: false,
            }),
            error: Mutex::new(None),
            queued: AtomicUsize::new(0),
            lost_total: AtomicU64::new(0),
            rotation: Mutex::new((settings.max_size, settings.keep)),
            idle: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the service is not running (see `idle`); the next write reopens the file.
    pub(super) fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Release);
    }

    /// Rotation settings for the writes to come (never waits for a write in progress).
    pub(super) fn set_rotation(&self, settings: LogSettings) {
        *lock(&self.rotation) = (settings.max_size, settings.keep);
    }

    /// Records lost to failing writes so far.
    pub(super) fn lost_total(&self) -> u64 {
        self.lost_total.load(Ordering::Relaxed)
    }

    /// The last write error, while writing fails.
    pub(super) fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    /// Appends `records` (on the writer thread) and publishes the outcome.
    fn write(&self, records: &[u8]) {
        let mut io = lock(&self.io);
        (io.max_size, io.keep) = *lock(&self.rotation);
        let lost = io.write(records);
        // The last of what is queued for an idle service's log: let go of the file.
        if self.idle.load(Ordering::Acquire) && self.queued.load(Ordering::Acquire) <= records.len()
        {
            io.file = None;
        }
        if lost > 0 {
            self.lost_total.fetch_add(lost, Ordering::Relaxed);
        }
        // Lock `error` only when there is news: a failure, or the end of one.
        if io.error.is_some() || io.published {
            io.published = io.error.is_some();
            *lock(&self.error) = io.error.clone();
        }
    }
}

/// A log file as the writer sees it.
#[derive(Debug)]
struct FileIo {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: Option<File>,
    size: u64,
    /// Records that could not be written since the last successful write.
    lost: u64,
    /// A write failed midway, so the file may end inside a record.
    torn: bool,
    error: Option<String>,
    /// `error` as last published to [`LogFile::error`] was set.
    published: bool,
}

impl FileIo {
    /// Writes `records`, counting them lost (and remembering why) if that fails; returns
    /// how many were lost.
    fn write(&mut self, records: &[u8]) -> u64 {
        if let Err(e) = self.write_out(records) {
            let n = memchr::memchr_iter(b'\n', records).count() as u64;
            self.lost += n;
            if self.error.is_none() {
                tracing::warn!(path = %self.path.display(), "log write failed: {e}");
            }
            self.error = Some(format!("{}: {e}", self.path.display()));
            // Reopen on the next write: the directory may come back or get space.
            self.file = None;
            return n;
        }
        0
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
        if self.size >= self.max_size {
            self.rotate()?;
        }
        Ok(())
    }

    /// `NAME.log` → `NAME.log.1` → … → `NAME.log.<keep>`, the oldest removed. Runs between
    /// writes, so a record is never split across files or written twice.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let keep = self.keep;
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

/// Locks `m`, also after a panic elsewhere: the data are counters and buffers that stay
/// consistent between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a log for appending, creating it 0600. A symbolic link in its place is refused,
/// not followed (and not removed: a planted link is evidence, and whoever planted it could
/// plant the next one): its lines are counted lost, and `status` shows why.
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    crate::sys::fs::open_nofollow(
        OpenOptions::new().create(true).append(true).mode(0o600),
        path,
    )
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
