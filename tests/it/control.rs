//! The control socket: permissions, malformed input, unknown commands, disconnects.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use crate::support::TestContext;

fn ask(stream: &mut BufReader<UnixStream>, line: &str) -> serde_json::Value {
    stream.get_mut().write_all(line.as_bytes()).expect("write");
    let mut resp = String::new();
    stream.read_line(&mut resp).expect("read");
    serde_json::from_str(&resp).expect("JSON response")
}

#[test]
fn rejects_garbage_and_keeps_serving() {
    let ctx = TestContext::new("[service.idle]\ncommand = [\"sleep\", \"1000\"]\n");
    ctx.ok(&["up", "-d"]);
    let mode = std::fs::metadata(ctx.socket())
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(ctx.home())
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    let stream = UnixStream::connect(ctx.socket()).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut s = BufReader::new(stream);
    let r = ask(&mut s, "{this is not json\n");
    assert_eq!(r["error"]["code"], "bad_request");
    assert_eq!(r["id"], serde_json::Value::Null);
    let r = ask(&mut s, "{\"v\":1,\"id\":5,\"cmd\":\"explode\"}\n");
    assert_eq!(r["error"]["code"], "unknown_command");
    assert_eq!(r["id"], 5);
    let r = ask(&mut s, "{\"v\":2,\"id\":6,\"cmd\":\"status\"}\n");
    assert_eq!(r["error"]["code"], "version_mismatch");
    let r = ask(&mut s, "{\"v\":1,\"id\":7,\"cmd\":\"status\"}\n");
    assert_eq!(r["id"], 7);
    assert_eq!(r["ok"]["services"][0]["name"], "idle");

    // A client that leaves mid-request does not disturb the supervisor.
    let mut half = UnixStream::connect(ctx.socket()).expect("connect");
    half.write_all(b"{\"v\":1,\"id\":1,\"cmd\":\"sta")
        .expect("write");
    drop(half);
    let mut waiting = UnixStream::connect(ctx.socket()).expect("connect");
    waiting
        .write_all(b"{\"v\":1,\"id\":1,\"cmd\":\"wait\",\"services\":[\"idle\"]}\n")
        .expect("write");
    drop(waiting);
    assert_eq!(ctx.status().services.len(), 1);
}

/// A stand-in supervisor on the project's socket: accepts one connection and answers each
/// request line with `answer(line)` (nothing when it returns `None`), until the client
/// leaves. Returns the lines it read.
fn fake_supervisor(
    ctx: &TestContext,
    answer: impl Fn(&str) -> Option<String> + Send + 'static,
) -> std::thread::JoinHandle<Vec<String>> {
    let listener =
        std::os::unix::net::UnixListener::bind(ctx.socket()).expect("bind the fake socket");
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut writer = stream.try_clone().expect("clone");
        let mut seen = Vec::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = answer(&line) {
                let _ = writer.write_all(format!("{a}\n").as_bytes());
            }
            seen.push(line);
        }
        seen
    })
}

#[test]
fn a_supervisor_that_never_answers_is_reported_not_waited_on() {
    let ctx = TestContext::new("[service.idle]\ncommand = [\"sleep\", \"1000\"]\n");
    for args in [
        &["wait", "idle", "--timeout", "1s"][..],
        &["up", "-d", "--timeout", "1s"],
        &["start", "idle", "--timeout", "1s"],
    ] {
        let fake = fake_supervisor(&ctx, |_| None);
        let started = std::time::Instant::now();
        let out = ctx.run(args);
        let took = started.elapsed();
        let lines = fake.join().expect("fake supervisor");
        std::fs::remove_file(ctx.socket()).expect("remove the fake socket");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let me = std::process::id();
        assert!(
            err.contains(&format!(
                "the supervisor (pid {me}) did not answer within 1s"
            )),
            "{args:?}: {err}"
        );
        assert!(
            took < std::time::Duration::from_secs(8),
            "{args:?} took {took:?}"
        );
        // The handshake and the request went out together.
        assert!(lines[0].contains("\"cmd\":\"hello\""), "{lines:?}");
        assert_eq!(lines.len(), 2, "{lines:?}");
    }
}

#[test]
fn a_supervisor_of_another_protocol_is_named() {
    let ctx = TestContext::new("[service.idle]\ncommand = [\"sleep\", \"1000\"]\n");
    let fake = fake_supervisor(&ctx, |line| {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON request");
        Some(match v["cmd"].as_str() {
            Some("hello") => {
                r#"{"v":9,"id":0,"hello":{"proto":9,"version":"9.9.9","pid":4242}}"#.into()
            }
            _ => format!(
                r#"{{"v":9,"id":{},"error":{{"code":"version_mismatch","message":"no"}}}}"#,
                v["id"]
            ),
        })
    });
    let out = ctx.run(&["status"]);
    fake.join().expect("fake supervisor");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let ours = env!("CARGO_PKG_VERSION");
    assert!(
        err.contains(&format!(
            "this proctor ({ours}) speaks protocol 1, but the supervisor (pid 4242, proctor \
             9.9.9) speaks 9"
        )) && err.contains("kill 4242"),
        "{err}"
    );
}

#[test]
fn a_supervisor_from_before_hello_still_answers() {
    // What a proctor without `hello` says to it: unknown command; then it answers the
    // request as always.
    let ctx = TestContext::new("[service.idle]\ncommand = [\"sleep\", \"1000\"]\n");
    let fake = fake_supervisor(&ctx, |line| {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON request");
        Some(match v["cmd"].as_str() {
            Some("hello") => {
                r#"{"v":1,"id":0,"error":{"code":"unknown_command","message":"unknown command \"hello\""}}"#.into()
            }
            _ => format!(
                r#"{{"v":1,"id":{},"ok":{{"project":"old","role":null,"supervisor_pid":77,"services":[{{"name":"idle","state":"running","pid":78,"ready":true,"restarts":0,"uptime_ms":5,"last_exit":null,"since":"2026-01-01T00:00:00.000000Z","backend":"process"}}]}}}}"#,
                v["id"]
            ),
        })
    });
    let out = ctx.ok(&["status"]);
    fake.join().expect("fake supervisor");
    assert!(out.contains("project old") && out.contains("idle"), "{out}");
}

#[test]
fn a_timed_out_wait_says_what_it_waited_for() {
    let ctx = TestContext::new(
        r#"
[service.never]
command = ["sleep", "1000"]
ready = { exec = ["false"], interval = "50ms" }
autostart = false
"#,
    );
    ctx.ok(&["up", "-d"]);
    let out = ctx.run(&["start", "never", "--timeout", "500ms"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timed out after 500ms waiting for never: starting (not ready: exec"),
        "{err}"
    );
    let out = ctx.run(&["wait", "never", "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timed out after 300ms waiting for never: starting"),
        "{err}"
    );
}
