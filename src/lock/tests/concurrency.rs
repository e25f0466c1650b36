//! Locks under concurrency: racing processes, batches, and the acquire figure.

use super::*;

/// Not a test on its own: the body of one racer, run in a child process by
/// `fifty_processes_race_exactly_one_wins` (a no-op without the environment variable).
#[test]
fn race_child() {
    let Some(path) = std::env::var_os(RACE_ENV) else {
        return;
    };
    let mut stdin = std::io::stdin().lock();
    let mut go = String::new();
    stdin.read_line(&mut go).expect("read go");
    let mut lock = Lock::at(PathBuf::from(path));
    let verdict = match lock.acquire() {
        Ok(_) => "WON".to_string(),
        Err(LockError::Conflict { .. } | LockError::Busy { .. }) => "LOST".to_string(),
        Err(e) => format!("ERROR {e}"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nRACE {verdict}").expect("write");
    out.flush().expect("flush");
    if lock.is_held() {
        // Hold until the parent has heard from every racer (it closes our stdin).
        let mut rest = Vec::new();
        stdin.read_to_end(&mut rest).expect("read to end");
        assert!(lock.release().expect("release"));
    }
}

#[test]
fn fifty_processes_race_exactly_one_wins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("locks/web.lock");
    let exe = std::env::current_exe().expect("current exe");
    let mut children: Vec<_> = (0..RACERS)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "lock::tests::concurrency::race_child",
                    "--nocapture",
                ])
                .args(["--test-threads=1", "--quiet"])
                .env(RACE_ENV, &path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn racer")
        })
        .collect();
    // Everyone is up and blocked on stdin: start them all at once.
    for child in &mut children {
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("go");
        stdin.flush().expect("flush");
    }
    let mut verdicts = Vec::new();
    let mut readers = Vec::new();
    for child in &mut children {
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let verdict = loop {
            let mut line = String::new();
            assert_ne!(
                reader.read_line(&mut line).expect("read"),
                0,
                "racer said nothing"
            );
            if let Some(v) = line.trim().strip_prefix("RACE ") {
                break v.to_string();
            }
        };
        verdicts.push(verdict);
        readers.push(reader);
    }
    for child in &mut children {
        drop(child.stdin.take());
    }
    for mut reader in readers {
        std::io::copy(&mut reader, &mut std::io::sink()).expect("drain");
    }
    for child in &mut children {
        assert!(child.wait().expect("wait").success());
    }
    let won = verdicts.iter().filter(|v| *v == "WON").count();
    let lost = verdicts.iter().filter(|v| *v == "LOST").count();
    assert_eq!((won, lost), (1, RACERS - 1), "{verdicts:?}");
    assert_eq!(Lock::at(&path).read(), None, "the winner released");
}

/// Median acquire+release time; run with `cargo test --release -- --ignored --nocapture
/// acquire_release_median` (set `PROCTOR_BENCH_DIR` to measure on a particular disk).
#[test]
#[ignore = "measurement, not a check"]
#[allow(clippy::print_stdout)]
fn acquire_release_median() {
    const N: usize = 10_000;
    let tmp = match std::env::var_os("PROCTOR_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let mut lock = lock_in(&tmp);
    let mut times = Vec::with_capacity(N);
    for _ in 0..N {
        let start = std::time::Instant::now();
        let got = lock.acquire().expect("acquire");
        assert_eq!(got, Acquired::Fresh);
        assert!(lock.release().expect("release"));
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "acquire+release over {N} iterations in {}: median {:?}, p90 {:?}, p99 {:?}",
        tmp.path().display(),
        times[N / 2],
        times[N * 9 / 10],
        times[N * 99 / 100]
    );
}

#[test]
fn acquire_many_takes_each_lock_once_with_durable_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // "busy" is already held by another Lock in this process: its flock refuses.
    let mut other = Lock::for_service(tmp.path(), "busy");
    let _first = other.acquire().expect("first acquire");
    let mut locks: Vec<Lock> = ["a", "b", "busy", "c"]
        .iter()
        .map(|n| Lock::for_service(tmp.path(), n))
        .collect();
    let results = Lock::acquire_many(&mut locks);
    assert!(matches!(results[0], Ok(Acquired::Fresh)), "{results:?}");
    assert!(matches!(results[1], Ok(Acquired::Fresh)));
    assert!(matches!(results[2], Err(LockError::Conflict { .. })));
    assert!(matches!(results[3], Ok(Acquired::Fresh)));
    for (k, lock) in locks.iter().enumerate() {
        if k == 2 {
            assert!(!lock.is_held());
            continue;
        }
        assert!(lock.is_held());
        assert!(lock.is_held_by_self());
        assert_eq!(mode(lock.path()), 0o600);
    }
    // The spares left behind hold no record: only the lock files name a holder.
    for entry in std::fs::read_dir(tmp.path().join("locks"))
        .expect("locks dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    {
        let text = std::fs::read_to_string(entry.path()).expect("spare");
        assert_eq!(text.trim(), "null", "{}", entry.path().display());
    }
    // Each is released like a singly acquired lock.
    for (k, lock) in locks.iter_mut().enumerate() {
        if k != 2 {
            assert!(lock.release().expect("release"));
        }
    }
}

#[test]
fn set_child_rewrites_in_place_and_reads_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    let _fresh = lock.acquire().expect("acquire");
    // A long hostname first, so the child's record is shorter than the file: the rest must
    // not be left as garbage.
    let long = LockRecord {
        hostname: "h".repeat(200),
        ..HostInfo::current().record()
    };
    record::write(lock.path(), &long).expect("write");
    let written = lock.set_child(4242, 4242).expect("set_child");
    assert_eq!(lock.read(), Some(written.clone()));
    assert_eq!(written.pid, 4242);
    assert_eq!(mode(lock.path()), 0o600);
    // Gone (a forced unlock): set_child recreates it.
    lock.force_unlock().expect("force");
    let again = lock.set_child(4343, 4343).expect("set_child again");
    assert_eq!(lock.read(), Some(again));
}

#[test]
fn reacquiring_a_released_lock_swaps_records_without_new_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lock = lock_in(&tmp);
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(tmp.path().join("locks"))
            .expect("locks dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    for round in 0..3 {
        assert_eq!(
            lock.acquire().expect("acquire"),
            Acquired::Fresh,
            "round {round}"
        );
        let rec = lock.read().expect("a record");
        assert!(rec.is_supervised_by(&HostInfo::current()));
        assert_eq!(mode(lock.path()), 0o600);
        lock.set_child(4242, 4242).expect("set_child");
        assert_eq!(lock.read().map(|r| r.pid), Some(4242));
        assert!(lock.release().expect("release"));
        assert_eq!(lock.read(), None);
    }
    // The lock, its flock (which holds the witness), and one spare the swaps reuse:
    // nothing accumulates.
    assert_eq!(
        files(),
        [".web.lock.tmp", "web.flock", "web.lock"],
        "{:?}",
        files()
    );
}
