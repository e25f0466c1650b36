//! Lock tests against real files and real processes (the pure table is tested in `decide`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::*;

fn me(hostname: &str) -> HostInfo {
    HostInfo {
        hostname: hostname.into(),
        pid: 5000,
        pgid: 5000,
        start_time: 2000,
    }
}

fn nobody_alive(_: u32) -> Option<u64> {
    None
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

fn lock_in(tmp: &tempfile::TempDir) -> Lock {
    Lock::for_service(tmp.path(), "web")
}

/// A record naming this very process as holder and supervisor: alive by the real probe.
fn live_record() -> LockRecord {
    HostInfo::current().record()
}

fn write_raw(lock: &Lock, bytes: &[u8]) {
    std::fs::create_dir_all(record::parent(lock.path())).expect("mkdir");
    std::fs::write(lock.path(), bytes).expect("write");
}

#[test]
fn fresh_acquire_writes_the_record_0600_in_a_0700_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    assert_eq!(lock.acquire().expect("acquire"), Acquired::Fresh);
    assert!(lock.is_held());
    assert_eq!(mode(lock.path()), 0o600);
    assert_eq!(mode(&tmp.path().join("locks")), 0o700);
    assert_eq!(mode(&tmp.path().join("locks/web.flock")), 0o600);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lock.path()).expect("read")).expect("json");
    for key in [
        "schema_version",
        "pid",
        "pgid",
        "start_time",
        "hostname",
        "started_at",
        "supervisor_pid",
        "supervisor_start_time",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    let rec = lock.read().expect("record");
    let me = HostInfo::current();
    assert_eq!(rec.schema_version, SCHEMA_VERSION);
    assert_eq!((rec.pid, rec.supervisor_pid), (me.pid, me.pid));
    assert_eq!(
        rec.start_time,
        sys::proc::process_start_time(me.pid).expect("start")
    );
    assert_eq!(rec.hostname, sys::proc::hostname());
    assert!(
        humantime::parse_rfc3339(&rec.started_at).is_ok(),
        "{}",
        rec.started_at
    );
    assert!(lock.is_held_by_self());
    assert_eq!(inspect(&rec), LockHealth::Alive);
    // A first start makes the lock and its flock only: two inodes per service (the spare
    // the later writes reuse comes with the second write).
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(tmp.path().join("locks"))
            .expect("readdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(), ["web.flock", "web.lock"]);
    lock.release().expect("release");
    assert_eq!(lock.acquire().expect("acquire again"), Acquired::Fresh);
    assert_eq!(names(), [".web.lock.tmp", "web.flock", "web.lock"]);
    let spare = std::fs::read_to_string(tmp.path().join("locks/.web.lock.tmp")).expect("spare");
    assert_eq!(spare.trim(), "null");
}

#[test]
fn corrupt_files_count_as_absent() {
    let cases: [&[u8]; 5] = [
        b"",
        br#"{"schema_version": 1, "pid": 12"#,
        b"not json at all",
        br#"{"schema_version":1,"pid":"x","pgid":1,"start_time":1,"hostname":"h","started_at":"s","supervisor_pid":1}"#,
        br#"{"schema_version":1,"pid":1}"#,
    ];
    for bytes in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut lock = lock_in(&tmp);
        write_raw(&lock, bytes);
        assert_eq!(lock.read(), None, "{}", String::from_utf8_lossy(bytes));
        let got = lock
            .acquire_with(me("host-a"), nobody_alive)
            .expect("acquire");
        assert_eq!(got, Acquired::Fresh, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(lock.read().expect("rewritten").pid, 5000);
    }
}

/// Issue 15: a torn lock file is judged by its witness, which `set_child` wrote: the
/// orphan it names is reported, not forgotten; without a witness it is as before.
#[test]
fn r15_a_corrupt_lock_is_judged_by_its_witness() {
    const CHILD: u32 = 4242;
    const CHILD_START: u64 = 77;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    // The supervisor (5000) spawned CHILD, then died: CHILD alone is alive.
    let child_alive = |pid: u32| (pid == CHILD).then_some(CHILD_START);
    assert_eq!(
        lock.acquire_with(me("host-a"), nobody_alive)
            .expect("acquire"),
        Acquired::Fresh
    );
    let rec = lock.set_child(CHILD, CHILD).expect("set_child");
    drop(lock);
    let mut lock = lock_in(&tmp);
    for torn in [&b""[..], b"{\"schema_version\": 1, \"pid\"", b"\xff\xfe"] {
        write_raw(&lock, torn);
        let LockState::Corrupt { witness, .. } = lock.state().expect("state") else {
            panic!("not reported corrupt");
        };
        assert_eq!(witness.as_ref(), Some(&rec));
    }
    // Give the witness the start time our fake process table knows, then acquire.
    let mut w = rec.clone();
    w.start_time = CHILD_START;
    record::write_witness(&tmp.path().join("locks/web.flock"), &w).expect("witness");
    let got = lock
        .acquire_with(me("host-a"), child_alive)
        .expect("acquire");
    assert_eq!(got, Acquired::Orphan { orphan: w });
    drop(lock);
    // Without a witness a corrupt file is as absent.
    let mut lock = lock_in(&tmp);
    lock.force_unlock().expect("unlock");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("locks/web.flock"))
            .map(|t| t.trim().to_string())
            .ok(),
        Some("null".to_string())
    );
    write_raw(&lock, b"");
    assert_eq!(
        lock.state().expect("state"),
        LockState::Corrupt {
            reason: "EOF while parsing a value at line 1 column 0".into(),
            witness: None
        }
    );
    assert_eq!(
        lock.acquire_with(me("h"), nobody_alive).expect("acquire"),
        Acquired::Fresh
    );
}

#[test]
fn future_schema_with_live_holder_conflicts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    let mut json = serde_json::to_value(live_record()).expect("to json");
    json["schema_version"] = 7.into();
    json["new_field"] = serde_json::json!({ "nested": [1, 2] });
    write_raw(&lock, json.to_string().as_bytes());

    let err = lock.acquire().expect_err("must conflict");
    let LockError::Conflict { holder, path } = &err else {
        panic!("expected a conflict, got {err:?}");
    };
    assert_eq!(holder.schema_version, 7);
    assert_eq!(path, lock.path());
    assert!(!lock.is_held());
    let msg = err.to_string();
    let want = format!(
        "web is already running: pid {} on {} since {}",
        holder.pid, holder.hostname, holder.started_at
    );
    assert_eq!(msg, want);
}

#[test]
fn foreign_record_is_taken_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    let mut foreign = live_record();
    foreign.hostname = "some-other-host".into();
    write_raw(&lock, &serde_json::to_vec(&foreign).expect("json"));
    assert_eq!(inspect(&foreign), LockHealth::Foreign);

    let got = lock.acquire().expect("acquire");
    assert_eq!(
        got,
        Acquired::TakenOver {
            previous: foreign,
            reason: TakeoverReason::ForeignHost
        }
    );
    assert!(lock.is_held_by_self());
}

#[test]
fn dead_holder_is_taken_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    let mut stale = me("host-a").record();
    stale.pid = 4123;
    write_raw(&lock, &serde_json::to_vec(&stale).expect("json"));
    let got = lock
        .acquire_with(me("host-a"), nobody_alive)
        .expect("acquire");
    assert!(matches!(
        got,
        Acquired::TakenOver {
            reason: TakeoverReason::HolderDead,
            ..
        }
    ));
    assert_eq!(got.orphan(), None);
}

#[test]
fn orphan_keeps_its_record_until_set_child() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    let mut orphan = me("host-a").record();
    (orphan.pid, orphan.pgid, orphan.start_time) = (4123, 4123, 77);
    orphan.supervisor_pid = 4100;
    write_raw(&lock, &serde_json::to_vec(&orphan).expect("json"));

    // The holder lives; its supervisor (4100) does not.
    let probe = |pid| (pid == 4123).then_some(77);
    let got = lock.acquire_with(me("host-a"), probe).expect("acquire");
    assert_eq!(got.orphan(), Some(&orphan));
    assert!(lock.is_held());
    assert_eq!(
        lock.read().as_ref(),
        Some(&orphan),
        "record kept until replaced"
    );
    // While we hold the flock, nobody else gets in.
    let err = lock_in(&tmp).acquire().expect_err("held");
    assert!(matches!(err, LockError::Conflict { .. }), "{err:?}");

    // The caller stops the orphan, spawns, and records the child.
    let rec = lock
        .set_child(sys::proc::current_pid(), 1)
        .expect("set_child");
    assert_eq!(rec.supervisor_pid, 5000);
    assert_eq!(lock.read(), Some(rec));
}

#[test]
fn set_child_records_the_child_start_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    assert!(matches!(
        lock.set_child(1, 1),
        Err(LockError::NotHeld { .. })
    ));
    assert_eq!(lock.acquire().expect("acquire"), Acquired::Fresh);
    assert!(matches!(lock.acquire(), Err(LockError::AlreadyHeld { .. })));

    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn cat");
    let pid = child.id();
    let rec = lock.set_child(pid, pid).expect("set_child");
    assert_eq!((rec.pid, rec.pgid), (pid, pid));
    assert_eq!(Some(rec.start_time), sys::proc::process_start_time(pid));
    assert_eq!(rec.supervisor_pid, sys::proc::current_pid());
    assert_eq!(lock.read().as_ref(), Some(&rec));
    assert!(lock.is_held_by_self());
    assert_eq!(inspect(&rec), LockHealth::Alive);

    // A second supervisor in this process sees the live child under a live supervisor.
    drop(lock);
    let err = lock_in(&tmp).acquire().expect_err("conflict");
    assert!(matches!(err, LockError::Conflict { ref holder, .. } if holder.pid == pid));

    drop(child.stdin.take());
    child.wait().expect("wait cat");
    assert_eq!(inspect(&rec), LockHealth::Stale);
    let mut lock = lock_in(&tmp);
    assert!(matches!(
        lock.acquire().expect("take over"),
        Acquired::TakenOver {
            reason: TakeoverReason::HolderDead,
            ..
        }
    ));
}

#[test]
fn release_is_idempotent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    assert!(!lock.release().expect("release unheld"));
    assert_eq!(lock.acquire().expect("acquire"), Acquired::Fresh);
    assert!(lock.release().expect("release"));
    assert!(!lock.is_held());
    // The file stays, released: a `null` record that reads as no lock, silently.
    assert_eq!(lock.read(), None);
    let text = std::fs::read_to_string(lock.path()).expect("released file");
    assert_eq!(text.trim(), "null");
    assert!(!lock.release().expect("again"));
    // Released for real: acquiring again is fresh.
    assert_eq!(lock.acquire().expect("reacquire"), Acquired::Fresh);
}

#[test]
fn release_leaves_someone_elses_lock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut theirs = live_record();
    theirs.supervisor_pid = 1;
    let mut lock = lock_in(&tmp);
    write_raw(&lock, &serde_json::to_vec(&theirs).expect("json"));
    assert!(!lock.is_held_by_self());
    assert!(!lock.release().expect("release"));
    assert_eq!(lock.read(), Some(theirs.clone()));

    // Same pid but another host is not us either.
    let mut foreign = live_record();
    foreign.hostname = "host-b".into();
    write_raw(&lock, &serde_json::to_vec(&foreign).expect("json"));
    assert!(!lock.is_held_by_self());
    assert!(!lock.release().expect("release"));
    assert!(lock.path().exists());
}

#[test]
fn force_unlock_returns_the_previous_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lock = lock_in(&tmp);
    assert_eq!(lock.force_unlock().expect("absent"), None);
    let theirs = live_record();
    write_raw(&lock, &serde_json::to_vec(&theirs).expect("json"));
    assert_eq!(lock.force_unlock().expect("unlock"), Some(theirs));
    assert!(!lock.path().exists());
    assert_eq!(lock.force_unlock().expect("again"), None);
}

#[test]
fn flock_held_without_a_record_is_busy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    std::fs::create_dir_all(tmp.path().join("locks")).expect("mkdir");
    let _held = flock::try_lock(&tmp.path().join("locks/web.flock"))
        .expect("flock")
        .expect("free");
    let err = lock.acquire().expect_err("busy");
    assert!(matches!(err, LockError::Busy { .. }), "{err:?}");
    assert!(err.to_string().starts_with("web is being started"), "{err}");
}

#[test]
fn dropping_the_lock_releases_the_flock() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    assert_eq!(lock.acquire().expect("acquire"), Acquired::Fresh);
    let flock_path = tmp.path().join("locks/web.flock");
    assert!(flock::try_lock(&flock_path).expect("try").is_none());
    drop(lock);
    assert!(flock::try_lock(&flock_path).expect("try").is_some());
}

#[test]
fn io_errors_name_their_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"").expect("write");
    let err = Lock::at(file.join("web.lock")).acquire().expect_err("io");
    assert!(
        matches!(err, LockError::Io { ref path, .. } if *path == file),
        "{err:?}"
    );
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

const RACE_ENV: &str = "PROCTOR_LOCK_RACE_PATH";
const RACERS: usize = 50;

mod concurrency;
