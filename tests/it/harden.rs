//! Issue 15: state on disk is input, not truth; limits are survived. Each test reproduces
//! an attack (or an unlucky limit) first.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{alive, group_members, TestContext};
use proctor::lock::LockRecord;

/// Kernel start time of `pid` (field 22 of /proc/PID/stat).
pub fn start_time(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    rest.split_whitespace()
        .nth(19)
        .expect("field 22")
        .parse()
        .expect("number")
}

/// A pid that is certainly dead: a reaped child's.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("spawn true");
    let pid = c.id();
    c.wait().expect("wait");
    pid
}

/// A `sleep` in a session (and process group) of its own, as an unrelated daemon would be.
struct Stranger(Child);

impl Stranger {
    fn spawn() -> Self {
        let child = Command::new("setsid")
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn setsid sleep");
        let s = Stranger(child);
        // `setsid` execs `sleep` in a new session: wait until it leads its own group.
        let deadline = Instant::now() + Duration::from_secs(10);
        while crate::support::stat(s.pid()).map(|(_, _, g)| g) != Some(s.pid()) {
            assert!(Instant::now() < deadline, "setsid never took effect");
            std::thread::sleep(Duration::from_millis(2));
        }
        s
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `record` as the lock of `service` under `ctx`'s state dir.
fn forge_lock(ctx: &TestContext, service: &str, record: &LockRecord) {
    let dir = ctx.home().join("locks");
    std::fs::create_dir_all(&dir).expect("locks dir");
    let json = serde_json::to_vec_pretty(record).expect("json");
    std::fs::write(dir.join(format!("{service}.lock")), json).expect("write lock");
}

/// A record of a live holder whose supervisor is dead: what the reclaim path stops.
fn orphan_record(pid: u32, pgid: u32) -> LockRecord {
    let supervisor = dead_pid();
    LockRecord {
        schema_version: 1,
        pid,
        pgid,
        start_time: start_time(pid),
        hostname: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        started_at: "2026-05-01T12:00:00Z".into(),
        supervisor_pid: supervisor,
        supervisor_start_time: Some(1),
    }
}

const ONE_SLEEPER: &str = "[service.web]\ncommand = [\"sleep\", \"1000\"]\nstop_timeout = \"2s\"\n";

/// A forged record names our own live process (right pid, right start time) but an
/// unrelated process group: the reclaim path must not signal that group.
#[test]
fn r15_a_forged_pgid_is_never_signalled() {
    let stranger = Stranger::spawn();
    let mut decoy = Command::new("sleep").arg("1000").spawn().expect("decoy");
    let ctx = TestContext::new(ONE_SLEEPER);
    forge_lock(&ctx, "web", &orphan_record(decoy.id(), stranger.pid()));
    ctx.ok(&["up", "-d"]);
    let web = ctx.service("web").pid.expect("web runs");
    assert!(
        alive(stranger.pid()),
        "proctor signalled an unrelated group"
    );
    assert_eq!(group_members(stranger.pid()), vec![stranger.pid()]);
    assert!(
        alive(decoy.id()),
        "proctor signalled a process it does not own"
    );
    assert_ne!(web, decoy.id());
    let log = std::fs::read_to_string(ctx.home().join("supervisor.log")).expect("log");
    assert!(log.contains("outside its recorded group"), "{log}");
    let _ = decoy.kill();
    let _ = decoy.wait();
}

/// Group 0 (which `kill` reads as "the caller's own group") and group 1 are never
/// signalled, whatever a record says. Here the recorded pid is init, alive with its real
/// start time and really in group 0, so only that rule stands in the way.
#[test]
fn r15_group_zero_is_never_signalled() {
    let init_group = crate::support::stat(1).expect("stat 1").2;
    let ctx = TestContext::new(ONE_SLEEPER);
    forge_lock(&ctx, "web", &orphan_record(1, init_group));
    ctx.ok(&["up", "-d"]);
    let sup = ctx.supervisor_pid();
    assert!(ctx.service("web").pid.is_some());
    assert!(alive(sup), "the supervisor signalled its own group");
    assert!(alive(1));
}

/// `proctor up -d` in `ctx`, expected to fail: its stderr.
fn refused(ctx: &TestContext) -> String {
    let out = ctx.run(&["up", "-d"]);
    assert!(!out.status.success(), "up -d accepted an unsafe state dir");
    crate::support::stderr(&out)
}

#[test]
fn r15_a_state_dir_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = TestContext::new(ONE_SLEEPER);
    let home = ctx.home().to_path_buf();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = refused(&ctx);
    assert!(err.contains(&home.display().to_string()), "{err}");
    assert!(err.contains("chmod 700"), "{err}");
    assert!(!ctx.socket().exists());
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o770)).expect("chmod");
    assert!(refused(&ctx).contains("its group"));
    // Fixed as told, it is accepted.
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    ctx.ok(&["up", "-d"]);
}

#[test]
fn r15_a_state_dir_owned_by_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        // Only root can give a directory away; as anyone else there is nothing to test.
        eprintln!("r15_a_state_dir_owned_by_another_user_is_refused: needs root, skipped");
        return;
    }
    let ctx = TestContext::new(ONE_SLEEPER);
    let home = ctx.home().to_path_buf();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).expect("chown");
    let err = refused(&ctx);
    assert!(err.contains("owned by uid 65534"), "{err}");
    assert!(err.contains(&home.display().to_string()), "{err}");
    std::os::unix::fs::chown(&home, Some(0), Some(0)).expect("chown back");
}

/// A link planted where a service's log goes is not followed: the file it points to keeps
/// its content, and `status` says why the service's lines are not logged.
#[test]
fn r15_a_symlink_in_logs_is_not_followed() {
    let ctx = TestContext::new(
        "[service.web]\ncommand = [\"sh\", \"-c\", \"echo overwritten; exec sleep 1000\"]\n",
    );
    let target = ctx.dir.path().join("precious");
    std::fs::write(&target, "precious\n").expect("target");
    let logs = ctx.home().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    std::os::unix::fs::symlink(&target, logs.join("web.log")).expect("plant link");
    ctx.ok(&["up", "-d"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let why = loop {
        if let Some(e) = ctx.service("web").log_error {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "status never reported the refused log"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(why.contains("symbolic link"), "{why}");
    assert_eq!(
        std::fs::read_to_string(&target).expect("target"),
        "precious\n"
    );
    assert!(std::fs::symlink_metadata(logs.join("web.log"))
        .expect("link")
        .file_type()
        .is_symlink());
}

/// Live processes of service `service` of the project in `ctx`: by the variables every
/// service's process is started with, so a duplicate shows whoever started it.
fn instances(ctx: &TestContext, service: &str) -> Vec<u32> {
    let home = format!("PROCTOR_HOME={}", ctx.home().display());
    let svc = format!("PROCTOR_SERVICE={service}");
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let has = |v: &str| env.split(|b| *b == 0).any(|x| x == v.as_bytes());
            has(&home) && has(&svc) && alive(*pid)
        })
        .collect()
}

fn kill_supervisor(ctx: &TestContext) {
    let sup = ctx.supervisor_pid();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(sup as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill supervisor");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(sup) {
        assert!(Instant::now() < deadline, "supervisor survived SIGKILL");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A lock file torn (here: emptied, then garbage) while its service's orphan runs on must
/// not lead to a second instance: the orphan is found through the lock's witness, stopped,
/// and only then is the service started again; `proctor lock` reports the corruption.
#[test]
fn r15_a_corrupt_lock_with_a_live_orphan_starts_no_duplicate() {
    // With a cgroup, the cgroup is a witness too: what matters is the two without one.
    let cases = [
        ("subreaper", &b""[..]),
        ("process-group", &b"{\"schema_version\": 1, \"pid\": 12"[..]),
        ("process-group", &b"\x00\x00garbage"[..]),
    ];
    for (containment, garbage) in cases {
        let ctx = TestContext::new(&format!(
            "[project]\ncontainment = \"{containment}\"\n\n{ONE_SLEEPER}"
        ));
        ctx.ok(&["up", "-d"]);
        let old = ctx.service("web").pid.expect("pid");
        assert_eq!(instances(&ctx, "web"), vec![old]);
        kill_supervisor(&ctx);
        assert!(alive(old), "the service died with its supervisor");
        std::fs::write(ctx.home().join("locks/web.lock"), garbage).expect("tear the lock");
        let listed = ctx.ok(&["lock"]);
        assert!(listed.contains("corrupt"), "{listed}");
        assert!(listed.contains(&format!("pid {old}")), "{listed}");
        ctx.ok(&["up", "-d"]);
        let new = ctx.service("web").pid.expect("pid");
        assert_eq!(instances(&ctx, "web"), vec![new], "two instances of web");
        assert!(!alive(old), "the orphan {old} runs beside {new}");
        ctx.ok(&["down"]);
    }
}

/// (soft, hard) "Max open files" of `pid`, from /proc/PID/limits.
fn nofile_of(pid: u32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("nofile line");
    let mut f = line["Max open files".len()..].split_whitespace();
    (
        f.next().expect("soft").to_string(),
        f.next().expect("hard").to_string(),
    )
}

/// 2,000 services need more descriptors than the common soft limit of 1,024 allows (pipes,
/// pidfds, log files): the supervisor raises its soft limit to the hard one, and every
/// service still starts with the soft limit it would have had without proctor.
#[test]
fn r15_many_services_run_under_a_low_soft_nofile_limit() {
    const N: usize = 2000;
    let mut spec = String::new();
    for i in 0..N {
        spec.push_str(&format!(
            "[service.s{i}]\ncommand = [\"sleep\", \"1000\"]\n"
        ));
    }
    let ctx = TestContext::new(&spec);
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nofile=1024:16384")
        .arg(env!("CARGO_BIN_EXE_proctor"))
        .args(["up", "-d"])
        .current_dir(ctx.dir.path())
        .env("PROCTOR_HOME", ctx.home())
        .env_remove("PROCTOR_LOG");
    let out = cmd.output().expect("run prlimit");
    assert!(
        out.status.success(),
        "up -d failed: {}",
        crate::support::stderr(&out)
    );
    let st = ctx.status();
    let running = st
        .services
        .iter()
        .filter(|s| s.state == proctor::State::Running)
        .count();
    let failed: Vec<_> = st
        .services
        .iter()
        .filter(|s| s.state != proctor::State::Running)
        .map(|s| (s.name.clone(), s.reason.clone()))
        .take(3)
        .collect();
    assert_eq!(running, N, "{failed:?}");
    assert_eq!(
        nofile_of(st.supervisor_pid),
        ("16384".into(), "16384".into())
    );
    let child = ctx.service("s1999").pid.expect("pid");
    assert_eq!(nofile_of(child), ("1024".into(), "16384".into()));
}

/// Past the hard limit too, the failure says what the ceiling is and how to lift it.
#[test]
fn r15_out_of_descriptors_names_the_ceiling() {
    let mut spec = String::new();
    for i in 0..60 {
        spec.push_str(&format!(
            "[service.s{i}]\ncommand = [\"sleep\", \"1000\"]\nrestart = \"no\"\n"
        ));
    }
    let ctx = TestContext::new(&spec);
    let out = Command::new("prlimit")
        .arg("--nofile=64:64")
        .arg(env!("CARGO_BIN_EXE_proctor"))
        .args(["up", "-d"])
        .current_dir(ctx.dir.path())
        .env("PROCTOR_HOME", ctx.home())
        .env_remove("PROCTOR_LOG")
        .output()
        .expect("run prlimit");
    assert!(!out.status.success());
    let why: Vec<String> = ctx
        .status()
        .services
        .into_iter()
        .filter_map(|s| s.last_exit?.spawn_error)
        .collect();
    assert!(!why.is_empty(), "no service failed to start");
    for w in &why {
        assert!(w.contains("RLIMIT_NOFILE soft 64"), "{w}");
        assert!(w.contains("ulimit -Hn"), "{w}");
    }
}

/// CPU time (user + system, in clock ticks) `pid` has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime); `rest` starts at field 3.
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// A client that connects and sends nothing holds up no one else.
#[test]
fn r15_a_silent_client_does_not_block_status() {
    let ctx = TestContext::new(ONE_SLEEPER);
    ctx.ok(&["up", "-d"]);
    let _silent = std::os::unix::net::UnixStream::connect(ctx.socket()).expect("connect");
    let started = Instant::now();
    assert_eq!(ctx.status().services.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// With every descriptor in use, the accept loop waits instead of spinning on EMFILE, and
/// `status` answers once descriptors are free again.
#[test]
fn r15_fd_exhaustion_neither_spins_nor_hangs_status() {
    let ctx = TestContext::new(ONE_SLEEPER);
    let out = Command::new("prlimit")
        .arg("--nofile=40:40")
        .arg(env!("CARGO_BIN_EXE_proctor"))
        .args(["up", "-d"])
        .current_dir(ctx.dir.path())
        .env("PROCTOR_HOME", ctx.home())
        .env_remove("PROCTOR_LOG")
        .output()
        .expect("run prlimit");
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let sup = ctx.supervisor_pid();
    // More connections than the supervisor has descriptors left; the rest wait in the
    // listen backlog, keeping the socket readable.
    let hogs: Vec<_> = (0..80)
        .map(|_| std::os::unix::net::UnixStream::connect(ctx.socket()).expect("connect"))
        .collect();
    // Once it has taken all it can (every descriptor its limit allows is open), measure
    // two seconds of its CPU time.
    let open_fds = || std::fs::read_dir(format!("/proc/{sup}/fd")).map_or(0, Iterator::count);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() < 40 {
        assert!(
            Instant::now() < deadline,
            "never ran out: {} fds",
            open_fds()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = cpu_ticks(sup);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(sup) - before;
    eprintln!("supervisor CPU over 2 s at fd exhaustion: {used} ticks");
    // Clock ticks are 1/100 s on Linux: under 0.1 s is under 10.
    assert!(used < 10, "the supervisor spun: {used} ticks of CPU in 2 s");
    drop(hogs);
    let started = Instant::now();
    let mut c = proctor::control::Client::connect(&ctx.socket()).expect("connect");
    c.set_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let st = c
        .request(proctor::control::proto::Command::Status { services: vec![] })
        .expect("status once descriptors are free");
    assert_eq!(st.services.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}
