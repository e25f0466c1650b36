//! `proctor export kube` run by a real engine: `podman kube play` (issue 21).
//!
//! Three services of the busybox test image: `db` (the dependency, a tcp readiness probe),
//! `web` (busybox httpd with an http readiness probe and an exec liveness probe, published
//! on a host port, depending on db) and `worker` (depending on web). Each service's
//! objects are played in dependency order, on a network of their own.
//!
//! What podman 4.3 does with the fields (also in the README's table):
//! - It ignores Service objects, so the test gives each pod its Service's name as a
//!   network alias (`--network NET:alias=NAME`), which is what a cluster's DNS provides.
//! - It ignores `readinessProbe` and `startupProbe` (no health check is configured for
//!   them); `livenessProbe` becomes the container's healthcheck: `exec` works as is,
//!   `httpGet` becomes `curl -f …` and `tcpSocket` `nc -z -v "" PORT`, which the busybox
//!   image cannot run, hence the exec liveness probe here.
//! - It runs `initContainers` to completion before the pod's container, and `kube play`
//!   itself blocks until they end: that is what enforces `depends_on` here.
//! - It honours `hostPort` (the page is fetched through it), `command`, and `envFrom`
//!   with a ConfigMap of the same file.
//! - It ignores `terminationGracePeriodSeconds`: the container's stop timeout stays at
//!   podman's 10 s whatever `stop_timeout` says (seen with `podman inspect` on 4.3).
//! - Each wait ends some 20 s after its dependency answers: name lookups in pods are slow
//!   on this machine (measured: db up at 0.6 s, web's wait over at 22 s, worker's at 43 s).
//! - Not exercised here: `lifecycle.preStop`, `namespace`, `nodeSelector`, `resources`.
//!   Podman 4.3 has no `kube play --wait`; the test waits on container states instead.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::backends::{podman_usable, unique_project, IMAGE};
use crate::support::{free_port, stderr, TestContext};

/// Plays files and removes what they made, and the network, however the test ends.
struct Played {
    network: String,
    files: Vec<PathBuf>,
    children: Vec<Child>,
    /// The pods the files make: a play that failed half way is not undone by `kube down`.
    pods: Vec<String>,
}

impl Drop for Played {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for f in self.files.iter().rev() {
            let _ = Command::new("podman")
                .args(["kube", "down"])
                .arg(f)
                .output();
        }
        for pod in &self.pods {
            let _ = Command::new("podman")
                .args(["pod", "rm", "-f", "-t", "0", pod])
                .output();
        }
        let _ = Command::new("podman")
            .args(["network", "rm", "-f", &self.network])
            .output();
    }
}

impl Played {
    /// `podman kube play` of `file` on the network, its pod answering to `alias`.
    fn play(&mut self, file: &Path, alias: &str) -> Child {
        self.files.push(file.to_path_buf());
        Command::new("podman")
            .args(["kube", "play", "--network"])
            .arg(format!("{}:alias={alias}", self.network))
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run podman kube play")
    }
}

/// A container's state (`running`, `exited`…), or `None` while it does not exist.
fn state(name: &str) -> Option<String> {
    let out = Command::new("podman")
        .args([
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.State.Status}}",
            name,
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        // Polling podman: it has no event we could block on from here.
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn finish(mut c: Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = c.try_wait().expect("wait kube play") {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "kube play {what}: {status}\n{err}");
            return;
        }
        assert!(Instant::now() < deadline, "kube play {what} did not end");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn r21_kube_export_runs_under_podman_kube_play() {
    if !podman_usable() {
        return;
    }
    let prefix = format!("{}-", unique_project());
    let port = free_port();
    let spec = format!(
        r#"
[project]
name = "shop"

[export]
image = "{IMAGE}"

[service.worker]
command = ["/bin/sleep", "3600"]
depends_on = ["web"]

[service.web]
command = ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
ports = ["{port}:8080"]
ready = {{ http = "http://127.0.0.1:8080/" }}
live = {{ exec = ["/bin/pidof", "httpd"] }}
depends_on = ["db"]
env = {{ GREETING = "hello" }}

[service.db]
command = ["/bin/httpd", "-f", "-p", "5432", "-h", "/www"]
ports = ["5432"]
ready = {{ tcp = "127.0.0.1:5432" }}
"#
    );
    let ctx = TestContext::new(&spec);
    let out = ctx.dir.path().join("k8s");
    let run = ctx.run(&[
        "export",
        "kube",
        "--name-prefix",
        &prefix,
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));

    // One multi-document file per service, in the order its objects were written.
    let service_file = |name: &str| {
        let n = format!("{prefix}{name}");
        let mut docs: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("out")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name().and_then(|f| f.to_str()).is_some_and(|f| {
                    f.starts_with(&format!("{n}.")) || f.starts_with(&format!("{n}-env."))
                })
            })
            .collect();
        docs.sort();
        let text: String = docs
            .iter()
            .map(|d| format!("---\n{}", std::fs::read_to_string(d).expect("read")))
            .collect();
        let file = out.join(format!("{name}.play.yaml"));
        std::fs::write(&file, text).expect("write");
        (n, file)
    };
    let network = format!("{prefix}net");
    let made = Command::new("podman")
        .args(["network", "create", &network])
        .output()
        .expect("podman network create");
    assert!(made.status.success(), "{}", stderr(&made));
    let mut played = Played {
        network,
        files: Vec::new(),
        children: Vec::new(),
        pods: ["db", "web", "worker"]
            .iter()
            .map(|n| format!("{prefix}{n}-pod-0"))
            .collect(),
    };
    let ((db, db_file), (web, web_file), (worker, worker_file)) = (
        service_file("db"),
        service_file("web"),
        service_file("worker"),
    );
    let container = |n: &str| format!("{n}-pod-0-{n}");

    // The worker first: its init container must hold it back until web answers.
    let worker_play = played.play(&worker_file, &worker);
    // Held by the guard, so a failure below does not leave it running.
    played.children.push(worker_play);
    let init = format!("{worker}-pod-0-wait-{web}");
    wait_for(
        "the worker's init container runs",
        Duration::from_secs(60),
        || state(&init).as_deref() == Some("running"),
    );
    assert_eq!(state(&container(&worker)).as_deref(), Some("created"));

    finish(played.play(&db_file, &db), "db");
    // web waits for db the same way, and is published on the host port.
    finish(played.play(&web_file, &web), "web");
    assert_eq!(state(&container(&web)).as_deref(), Some("running"));
    wait_for(
        "web answers on its hostPort",
        Duration::from_secs(30),
        || get(port).is_some_and(|b| b.contains("<h1>proctor</h1>")),
    );
    // envFrom: the ConfigMap in the same file reached the container.
    let env = Command::new("podman")
        .args(["exec", &container(&web), "/bin/sh", "-c", "echo $GREETING"])
        .output()
        .expect("podman exec");
    assert_eq!(String::from_utf8_lossy(&env.stdout).trim(), "hello");
    // The liveness probe became podman's healthcheck, and it passes.
    let health = Command::new("podman")
        .args(["healthcheck", "run", &container(&web)])
        .output()
        .expect("podman healthcheck");
    assert!(health.status.success(), "{}", stderr(&health));

    // Now the worker's wait ends and its container runs.
    let worker_play = played.children.pop().expect("the worker's kube play");
    finish(worker_play, "worker");
    assert_eq!(state(&container(&worker)).as_deref(), Some("running"));
    assert_eq!(state(&container(&db)).as_deref(), Some("running"));
}
