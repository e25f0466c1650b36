use std::time::SystemTime;

use super::*;

#[test]
fn round_trips_a_request() {
    let req = Request {
        v: VERSION,
        id: 7,
        cmd: Command::Stop {
            services: vec!["web".into()],
            timeout_ms: Some(500),
        },
    };
    let line = encode(&req);
    assert_eq!(
        std::str::from_utf8(&line).expect("utf8"),
        "{\"v\":1,\"id\":7,\"cmd\":\"stop\",\"services\":[\"web\"],\"timeout_ms\":500}\n"
    );
    let back = decode_request(&line).expect("decodes");
    assert_eq!(back.id, 7);
}

#[test]
fn rejects_bad_input_with_codes() {
    let code = |line: &[u8]| match decode_request(line) {
        Err(resp) => match resp.body {
            Body::Error(e) => e.code.as_str().to_string(),
            _ => "other".into(),
        },
        _ => "accepted".into(),
    };
    assert_eq!(code(b"{not json"), "bad_request");
    assert_eq!(
        code(br#"{"v":1,"id":1,"cmd":"explode"}"#),
        "unknown_command"
    );
    assert_eq!(
        code(br#"{"v":9,"id":1,"cmd":"status"}"#),
        "version_mismatch"
    );
    assert_eq!(code(br#"{"v":1,"cmd":"status"}"#), "bad_request");
    assert_eq!(code(br#"{"v":1,"id":1,"cmd":"stop"}"#), "bad_request");
    assert_eq!(code(br#"{"v":1,"id":1,"cmd":"status"}"#), "accepted");
}

/// A fixed instant, so that the transcript does not change from run to run.
fn at(micros: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_790_000_000_000_000 + micros)
}

fn exit(code: Option<i32>, signal: Option<i32>) -> Exit {
    Exit {
        code,
        signal,
        timed_out: false,
        spawn_error: None,
        at: at(1),
    }
}

fn service(name: &str, state: State, pid: Option<u32>) -> ServiceStatus {
    ServiceStatus {
        name: name.into(),
        group: None,
        state,
        pid,
        ready: state == State::Running,
        restarts: 0,
        uptime_ms: if pid.is_some() { 1500 } else { 0 },
        last_exit: None,
        since: at(2),
        reason: None,
        next_restart_ms: None,
        next_run: None,
        backend: "process".into(),
        log_error: None,
        probe_error: None,
        status_text: None,
        main_pid: None,
        storage_dir: None,
        containment: None,
        cpu_percent: None,
        memory_bytes: None,
        tmux_session: None,
        container: None,
        container_id: None,
    }
}

fn reply(services: Vec<ServiceStatus>, failures: Vec<Failure>) -> Response {
    Response {
        v: VERSION,
        id: Some(1),
        body: Body::Ok(Reply {
            project: "shop".into(),
            role: None,
            supervisor_pid: 4242,
            services,
            failures,
            plan: Vec::new(),
        }),
    }
}

fn line<T: Serialize>(msg: &T) -> String {
    String::from_utf8(encode(msg)).expect("JSON is UTF-8")
}

/// One exchange of the transcript: a title, what the client sends, what it gets back.
fn exchange(out: &mut String, title: &str, cmd: Command, answers: &[Response]) {
    exchange_as(out, title, 1, cmd, answers);
}

/// [`exchange`] with request id `id`.
fn exchange_as(out: &mut String, title: &str, id: u64, cmd: Command, answers: &[Response]) {
    out.push_str(&format!("# {title}\n> "));
    let request = line(&Request {
        v: VERSION,
        id,
        cmd,
    });
    assert!(decode_request(request.as_bytes()).is_ok(), "{request}");
    out.push_str(&request);
    for a in answers {
        let answer = line(a);
        // What the supervisor writes, its clients read.
        let back: Response = serde_json::from_str(&answer).expect("an answer decodes");
        assert_eq!(line(&back), answer);
        out.push_str("< ");
        out.push_str(&answer);
    }
}

/// The whole protocol as bytes on the wire: one request and its answer for every command,
/// an error, and the supervisor's readiness report. Any change to the protocol shows here
/// as a diff; old clients and `status --json` users read exactly these bytes.
#[test]
fn transcript() {
    let web = |state, pid| service("web", state, pid);
    let mut busy = service("db", State::Running, Some(101));
    busy.restarts = 2;
    busy.last_exit = Some(exit(Some(1), None));
    busy.probe_error = Some("not ready: connection refused".into());
    busy.status_text = Some("serving".into());
    busy.main_pid = Some(102);
    busy.storage_dir = Some("/tmp/proctor-db".into());
    let mut tmux = service("shell", State::Backoff, None);
    tmux.backend = "tmux".into();
    tmux.reason = Some("exited 1".into());
    tmux.next_restart_ms = Some(400);
    tmux.log_error = Some("No space left on device".into());
    let mut boxed = service("cache", State::Running, Some(103));
    boxed.backend = "container".into();
    boxed.container = Some("proctor-shop-cache".into());
    boxed.container_id = Some("0123456789ab".into());
    boxed.tmux_session = None;
    let mut stopped = web(State::Stopped, None);
    stopped.last_exit = Some(exit(None, Some(15)));
    let mut failed = web(State::Failed, None);
    failed.last_exit = Some(Exit {
        spawn_error: Some("No such file or directory".into()),
        ..exit(None, None)
    });
    failed.reason = Some("failed to start: No such file or directory".into());
    let mut timed_out = web(State::Stopped, None);
    timed_out.last_exit = Some(Exit {
        timed_out: true,
        ..exit(None, Some(9))
    });

    let mut t = String::new();
    exchange(
        &mut t,
        "status",
        Command::Status {
            services: Vec::new(),
        },
        &[reply(
            vec![web(State::Running, Some(100)), busy, tmux, boxed],
            Vec::new(),
        )],
    );
    let mut role_reply = reply(vec![web(State::Running, Some(100))], Vec::new());
    if let Body::Ok(r) = &mut role_reply.body {
        r.role = Some("worker".into());
    }
    exchange(
        &mut t,
        "up",
        Command::Up {
            services: Vec::new(),
            role: Some("worker".into()),
        },
        &[role_reply],
    );
    exchange(
        &mut t,
        "start (one service failed)",
        Command::Start {
            services: vec!["web".into()],
            overrides: None,
        },
        &[reply(
            vec![failed],
            vec![Failure {
                service: "web".into(),
                reason: "failed to start: No such file or directory".into(),
            }],
        )],
    );
    exchange(
        &mut t,
        "stop",
        Command::Stop {
            services: vec!["web".into()],
            timeout_ms: Some(500),
        },
        &[reply(vec![stopped.clone()], Vec::new())],
    );
    exchange(
        &mut t,
        "restart",
        Command::Restart {
            services: vec!["web".into()],
        },
        &[reply(vec![web(State::Running, Some(104))], Vec::new())],
    );
    exchange(
        &mut t,
        "wait",
        Command::Wait {
            services: vec!["web".into()],
        },
        &[reply(vec![web(State::Running, Some(104))], Vec::new())],
    );
    exchange(
        &mut t,
        "down",
        Command::Down {
            timeout_ms: Some(2000),
        },
        &[reply(vec![timed_out], Vec::new())],
    );
    exchange(
        &mut t,
        "follow",
        Command::Follow {
            services: vec!["web".into()],
        },
        &[
            Response {
                v: VERSION,
                id: Some(1),
                body: Body::Log(LogLine {
                    service: "web".into(),
                    record: "2026-09-21T12:26:40.000003Z o listening on :8080".into(),
                }),
            },
            error_response(
                Some(1),
                ErrorCode::Lagged,
                "3 log batches skipped: the client read too slowly".into(),
            ),
        ],
    );
    exchange(
        &mut t,
        "events",
        Command::Events,
        &[
            Response {
                v: VERSION,
                id: Some(1),
                body: Body::Event(Event {
                    at: at(4),
                    service: "web".into(),
                    state: State::Starting,
                    pid: Some(105),
                    reason: None,
                }),
            },
            Response {
                v: VERSION,
                id: Some(1),
                body: Body::Event(Event {
                    at: at(5),
                    service: "web".into(),
                    state: State::Backoff,
                    pid: None,
                    reason: Some("exited 1".into()),
                }),
            },
        ],
    );
    exchange(
        &mut t,
        "run",
        Command::Run {
            service: RunService {
                name: "job".into(),
                command: vec!["sleep".into(), "1000".into()],
                backend: Some(RunBackend::Tmux),
                image: None,
                restart: Some(RunRestart::OnFailure),
                env: [("MODE".to_string(), "fast".to_string())].into(),
                cwd: "/srv/shop".into(),
            },
        },
        &[reply(
            vec![service("job", State::Running, Some(106))],
            Vec::new(),
        )],
    );
    exchange(
        &mut t,
        "run (a container, with the defaults)",
        Command::Run {
            service: RunService {
                name: "box".into(),
                command: Vec::new(),
                backend: None,
                image: Some("busybox".into()),
                restart: None,
                env: std::collections::BTreeMap::new(),
                cwd: "/srv/shop".into(),
            },
        },
        &[error_response(
            Some(1),
            ErrorCode::Conflict,
            "\"box\" is already running; `proctor rm` it first".into(),
        )],
    );
    exchange(
        &mut t,
        "rm",
        Command::Rm {
            services: vec!["job".into()],
        },
        &[reply(
            vec![service("job", State::Stopped, None)],
            Vec::new(),
        )],
    );
    exchange(
        &mut t,
        "signal (the services keep running; answered at once)",
        Command::Signal {
            services: vec!["web".into()],
            signal: "USR1".into(),
        },
        &[reply(
            vec![service("web", State::Running, Some(4301))],
            Vec::new(),
        )],
    );
    let mut reloaded = reply(vec![service("web", State::Running, Some(4301))], Vec::new());
    if let Body::Ok(r) = &mut reloaded.body {
        r.plan = vec![
            PlanStep {
                service: "worker".into(),
                action: PlanAction::Start,
                reason: None,
            },
            PlanStep {
                service: "web".into(),
                action: PlanAction::Restart,
                reason: Some("env.VERSION changed".into()),
            },
            PlanStep {
                service: "cron".into(),
                action: PlanAction::Stop,
                reason: None,
            },
        ];
    }
    exchange(
        &mut t,
        "reload (answered once what it started or restarted is up; dry_run: at once)",
        Command::Reload { dry_run: false },
        &[reloaded],
    );
    exchange(
        &mut t,
        "reload of an invalid spec",
        Command::Reload { dry_run: true },
        &[error_response(
            Some(1),
            ErrorCode::InvalidSpec,
            "invalid spec, nothing changed:\nproctor.toml:3:11: `command` must be a string or an array of strings".into(),
        )],
    );
    exchange_as(
        &mut t,
        "hello (sent in one write with the first request; answered whatever its v)",
        0,
        Command::Hello {
            proto: VERSION,
            version: "0.1.0".into(),
        },
        &[Response {
            v: VERSION,
            id: Some(0),
            body: Body::Hello(HelloReply {
                proto: VERSION,
                version: "0.1.0".into(),
                pid: 4242,
            }),
        }],
    );
    t.push_str("# errors\n");
    for bad in [
        &b"{not json"[..],
        br#"{"v":1,"id":2,"cmd":"explode"}"#,
        br#"{"v":9,"id":3,"cmd":"status"}"#,
        br#"{"v":1,"id":4,"cmd":"stop"}"#,
        br#"{"v":7,"id":0,"cmd":"hello","proto":7,"version":"9.0.0"}"#,
    ] {
        t.push_str("> ");
        t.push_str(std::str::from_utf8(bad).expect("utf8"));
        t.push_str("\n< ");
        match decode_request(bad) {
            Err(resp) => t.push_str(&line(&*resp)),
            Ok(_) => t.push_str("(accepted)\n"),
        }
    }
    for (code, message) in [
        (
            ErrorCode::UnknownService,
            "no service named \"wbe\"; services: web, db",
        ),
        (ErrorCode::ShuttingDown, "the supervisor is shutting down"),
        (ErrorCode::Internal, "the supervisor lost the request"),
    ] {
        t.push_str("< ");
        t.push_str(&line(&error_response(Some(5), code, message.into())));
    }
    t.push_str("# ready handshake (supervisor to the process that started it)\n< ");
    let ready = [
        Ready::Listening { pid: 4242 },
        Ready::Failed {
            error: "a supervisor is already running for this project (pid 4241, state dir \
                    /run/shop)"
                .into(),
        },
    ];
    for r in ready {
        let sent = line(&r);
        let back: Ready = serde_json::from_str(&sent).expect("a ready report decodes");
        assert_eq!(back, r);
        t.push_str(&sent);
        t.push_str("< ");
    }
    t.truncate(t.len() - 2);
    insta::assert_snapshot!(t);
}
