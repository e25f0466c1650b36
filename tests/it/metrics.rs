//! Issue 20: `[project] metrics` serves Prometheus metrics; scraped with a plain HTTP client
//! and read with a Prometheus text parser, they agree with `status --json`.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use prometheus_parse::{Scrape, Value};

use crate::support::{free_port, stderr, TestContext};

/// `GET path` on `port`: the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read answer");
    let (head, body) = out.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

fn scrape(port: u16) -> Scrape {
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses as Prometheus text")
}

/// The value of `metric` for `service`, if it has a sample.
fn value(s: &Scrape, metric: &str, service: &str) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == metric && x.labels.get("service") == Some(service))
        .map(|x| {
            assert_eq!(x.labels.get("project"), Some("shop"));
            match x.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                ref other => panic!("{metric}: unexpected {other:?}"),
            }
        })
}

#[test]
fn metrics_match_status_json() {
    let port = free_port();
    let ctx = TestContext::new(&format!(
        r#"[project]
name = "shop"
metrics = "127.0.0.1:{port}"

[service.chatty]
command = ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; exec sleep 1000"]
ready = {{ log = "line 5" }}

[service.idle]
command = ["sleep", "1000"]

[service.off]
command = ["sleep", "1000"]
autostart = false
"#
    ));
    ctx.ok(&["up", "-d"]);
    // One automatic restart of `idle`, so that the counter has something to agree on.
    let mut events = ctx.events();
    let old = ctx.service("idle").pid.expect("idle runs");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(old as i32).expect("pid"),
        rustix::process::Signal::KILL,
    )
    .expect("kill idle");
    events.until(Duration::from_secs(10), |e| {
        e.service == "idle"
            && e.state == proctor::control::proto::State::Running
            && e.pid != Some(old)
    });

    let s = scrape(port);
    let json: serde_json::Value =
        serde_json::from_str(&ctx.ok(&["status", "--json"])).expect("status --json");
    let services = json["services"].as_array().expect("services");
    assert_eq!(services.len(), 3);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    for svc in services {
        let name = svc["name"].as_str().expect("name");
        let running = svc["pid"].is_u64();
        let up = value(&s, "proctor_service_up", name);
        assert_eq!(up, Some(if running { 1.0 } else { 0.0 }), "{name}");
        let ready = svc["ready"].as_bool().expect("ready");
        assert_eq!(
            value(&s, "proctor_service_ready", name),
            Some(f64::from(u8::from(ready)))
        );
        assert_eq!(
            value(&s, "proctor_service_restarts_total", name),
            svc["restarts"].as_f64(),
            "{name}"
        );
        assert!(value(&s, "proctor_log_lines_total", name).is_some());
        assert_eq!(
            value(&s, "proctor_log_lines_dropped_total", name),
            Some(0.0)
        );
        if !running {
            for m in [
                "proctor_service_memory_bytes",
                "proctor_service_start_time_seconds",
            ] {
                assert_eq!(value(&s, m, name), None, "{name} {m}");
            }
            continue;
        }
        let started = value(&s, "proctor_service_start_time_seconds", name).expect("start");
        let uptime = svc["uptime_ms"].as_f64().expect("uptime") / 1000.0;
        assert!(
            (now - uptime - started).abs() < 2.0,
            "{name}: {started} vs {now} - {uptime}"
        );
        let mem = value(&s, "proctor_service_memory_bytes", name).expect("memory");
        let json_mem = svc["memory_bytes"].as_f64().expect("status memory");
        // Memory moves between the two readings; the same source, so by little.
        assert!(
            (mem - json_mem).abs() <= json_mem * 0.25 + 65536.0,
            "{name}: {mem} vs {json_mem}"
        );
        let cpu = value(&s, "proctor_service_cpu_seconds_total", name).expect("cpu");
        assert!((0.0..5.0).contains(&cpu), "{name}: {cpu}");
    }
    assert_eq!(
        value(&s, "proctor_service_restarts_total", "idle"),
        Some(1.0)
    );
    assert_eq!(value(&s, "proctor_log_lines_total", "chatty"), Some(5.0));
    // Only /metrics is served.
    assert_eq!(get(port, "/").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn metrics_are_off_by_default_and_a_taken_address_is_an_error() {
    let ctx = TestContext::new("[service.a]\ncommand = [\"sleep\", \"1000\"]\n");
    ctx.ok(&["up", "-d"]);
    let pid = ctx.supervisor_pid();
    // No TCP socket at all among the supervisor's descriptors.
    let tcp: String = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let inodes: Vec<String> = tcp
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9).map(str::to_string))
        .collect();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fds") {
        let link = std::fs::read_link(fd.expect("fd").path()).unwrap_or_default();
        let link = link.to_string_lossy();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            assert!(!inodes.iter().any(|i| i == inode), "a TCP socket: {link}");
        }
    }
    ctx.ok(&["down"]);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    ctx.write_spec(&format!(
        "[project]\nmetrics = \"127.0.0.1:{port}\"\n[service.a]\ncommand = [\"sleep\", \"1000\"]\n"
    ));
    let out = ctx.run(&["up", "-d"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("cannot serve metrics at 127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
    drop(taken);
    ctx.ok(&["up", "-d"]);
    assert_eq!(
        scrape(port)
            .samples
            .iter()
            .filter(|s| s.metric == "proctor_service_up")
            .count(),
        1
    );
}
