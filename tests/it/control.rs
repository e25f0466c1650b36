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
