//! Issue 19: `replicas = N` runs `NAME.0` … `NAME.(N-1)` with their own instance number
//! and port; the group name acts on all of them; `scale` changes the count live.

use std::net::TcpListener;

use proctor::State;

use crate::support::TestContext;

/// A base port with the next `n` ports free too.
fn free_ports(n: u16) -> u16 {
    for _ in 0..50 {
        let base = crate::support::free_port();
        if base > u16::MAX - n {
            continue;
        }
        let held: Vec<_> = (0..n)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// A spec whose `web` replicas each listen on their own `PORT` (ready when they do) and
/// print their instance number; `db` depends on all of them.
fn spec(base: u16) -> String {
    format!(
        r#"
[service.web]
replicas = 3
ports_from = {base}
command = ["python3", "-c", "import os, socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); print('instance', os.environ['PROCTOR_INSTANCE'], 'of', os.environ['PROCTOR_REPLICAS'], 'name', os.environ['NAME'], flush=True); time.sleep(1000)"]
env = {{ NAME = "web-${{PROCTOR_INSTANCE}}" }}
ready = {{ tcp = "127.0.0.1:${{PORT}}" }}

[service.db]
command = ["sleep", "1000"]
depends_on = ["web"]
"#
    )
}

fn pids(ctx: &TestContext) -> Vec<(String, Option<u32>, Option<String>)> {
    ctx.status()
        .services
        .into_iter()
        .map(|s| (s.name, s.pid, s.group))
        .collect()
}

#[test]
fn replicas_run_with_their_own_instance_and_port() {
    let base = free_ports(5);
    let ctx = TestContext::new(&spec(base));
    ctx.ok(&["up", "-d", "--timeout", "20s"]);
    let status = ctx.status();
    let names: Vec<&str> = status.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web.0", "web.1", "web.2", "db"]);
    for s in &status.services {
        assert_eq!(s.state, State::Running, "{s:?}");
    }
    assert_eq!(status.services[1].group.as_deref(), Some("web"));
    assert_eq!(status.services[3].group, None);
    // Each is ready on its own port: ready means the tcp probe on PORT passed.
    for i in 0..3u16 {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", base + i)).is_ok(),
            "web.{i} listens on {}",
            base + i
        );
    }
    let logs = ctx.ok(&["logs", "web", "--no-prefix"]);
    for i in 0..3 {
        assert!(
            logs.contains(&format!("instance {i} of 3 name web-{i}")),
            "{logs}"
        );
    }

    // One replica by its own name; the group name acts on all.
    ctx.ok(&["stop", "web.1"]);
    let now = pids(&ctx);
    assert!(
        now[1].1.is_none() && now[0].1.is_some() && now[2].1.is_some(),
        "{now:?}"
    );
    ctx.ok(&["stop", "web"]);
    assert!(
        pids(&ctx).iter().all(|(_, pid, _)| pid.is_none()),
        "db depends on web and stops with it"
    );
    ctx.ok(&["start", "web", "--timeout", "20s"]);
    let now = pids(&ctx);
    assert!(now[..3].iter().all(|(_, pid, _)| pid.is_some()), "{now:?}");
    ctx.ok(&["down"]);
}

#[test]
fn scale_adds_and_removes_replicas_and_reload_restores_the_count() {
    let base = free_ports(5);
    let ctx = TestContext::new(&spec(base));
    ctx.ok(&["up", "-d", "--timeout", "20s"]);
    let before = pids(&ctx);

    ctx.ok(&["scale", "web", "5", "--timeout", "20s"]);
    let after = pids(&ctx);
    let names: Vec<&str> = after.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["web.0", "web.1", "web.2", "web.3", "web.4", "db"],
        "grouped in order"
    );
    // The running ones were left alone; the new ones listen on their own ports.
    for (b, a) in before[..3].iter().zip(&after[..3]) {
        assert_eq!(b.1, a.1, "{} kept its process", b.0);
    }
    for i in 3..5u16 {
        assert!(std::net::TcpStream::connect(("127.0.0.1", base + i)).is_ok());
    }

    let out = ctx.ok(&["scale", "web", "2", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&out).expect("json");
    let stopped: Vec<&str> = plan
        .as_array()
        .expect("plan")
        .iter()
        .filter(|s| s["action"] == "stop")
        .filter_map(|s| s["service"].as_str())
        .collect();
    assert_eq!(stopped, ["web.2", "web.3", "web.4"]);
    let names: Vec<String> = pids(&ctx).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["web.0", "web.1", "db"]);

    // reload honours the spec's count again.
    ctx.ok(&["reload", "--timeout", "20s"]);
    let now = pids(&ctx);
    assert_eq!(now.len(), 4);
    assert!(now.iter().all(|(_, pid, _)| pid.is_some()), "{now:?}");

    // A new count in the file leaves the replicas that run alone, like `scale`.
    let kept = pids(&ctx);
    ctx.write_spec(&spec(base).replace("replicas = 3", "replicas = 4"));
    ctx.ok(&["reload", "--timeout", "20s"]);
    let now = pids(&ctx);
    assert_eq!(now.len(), 5, "{now:?}");
    for (k, n) in kept[..3].iter().zip(&now[..3]) {
        assert_eq!(k.1, n.1, "{} kept its process", k.0);
    }

    let out = ctx.run(&["scale", "db", "2"]);
    assert!(!out.status.success());
    assert!(crate::support::stderr(&out).contains("no service named \"db\" with `replicas`"));
    let out = ctx.run(&["scale", "web", "0"]);
    assert!(!out.status.success());
    ctx.ok(&["down", "--timeout", "5s"]);
}

#[test]
fn a_replica_name_that_collides_is_an_error() {
    let ctx = TestContext::new(
        "[service.web]\nreplicas = 2\ncommand = [\"x\"]\n\n[service.\"web.1\"]\ncommand = [\"y\"]\n",
    );
    let out = ctx.run(&["validate"]);
    assert!(!out.status.success());
    let err = crate::support::stderr(&out);
    assert!(err.contains("service `web.1` is declared twice"), "{err}");
}

#[test]
fn an_ad_hoc_service_cannot_take_a_group_or_replica_name() {
    let ctx = TestContext::new("[service.web]\nreplicas = 2\ncommand = [\"sleep\", \"1000\"]\n");
    ctx.ok(&["up", "-d", "--timeout", "20s"]);
    // `web` stands for the group, and `web.2` is the name `scale web 3` gives: an ad-hoc
    // service under either would shadow the group or keep `scale` from adding its replica.
    for name in ["web", "web.1", "web.2"] {
        let out = ctx.run(&["run", name, "--", "sleep", "1000"]);
        let err = crate::support::stderr(&out);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(err.contains("replicas"), "{name}: {err}");
    }
    ctx.ok(&["scale", "web", "3", "--timeout", "20s"]);
    let names: Vec<String> = pids(&ctx).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["web.0", "web.1", "web.2"]);
    assert!(ctx
        .status()
        .services
        .iter()
        .all(|s| s.group.as_deref() == Some("web")));
    ctx.ok(&["down", "--timeout", "5s"]);
}

#[test]
fn restart_of_a_group_takes_the_file_as_it_is_now_like_restart_of_a_replica() {
    let spec = |x: &str| {
        format!(
            "[service.web]\nreplicas = 2\ncommand = [\"sh\", \"-c\", \"echo x=$X; exec sleep 1000\"]\nenv = {{ X = \"{x}\" }}\n"
        )
    };
    let ctx = TestContext::new(&spec("one"));
    ctx.ok(&["up", "-d", "--timeout", "20s"]);
    ctx.write_spec(&spec("two"));
    ctx.ok(&["restart", "web", "--timeout", "20s"]);
    let logs = ctx.ok(&["logs", "web"]);
    for r in ["web.0", "web.1"] {
        assert!(
            logs.lines().any(|l| l.contains(r) && l.contains("x=two")),
            "{r} restarted with the new env: {logs}"
        );
    }
    ctx.ok(&["down", "--timeout", "5s"]);
}

#[test]
fn scale_json_fails_when_a_new_replica_does_not_come_up() {
    let ctx = TestContext::new(
        "[service.web]\nreplicas = 1\nrestart = \"no\"\nready = { exec = [\"true\"] }\n\
         command = [\"sh\", \"-c\", \"test $PROCTOR_INSTANCE = 0 && exec sleep 1000; exit 3\"]\n",
    );
    ctx.ok(&["up", "-d", "--timeout", "20s"]);
    for json in [false, true] {
        let mut args = vec!["scale", "web", "2", "--timeout", "20s"];
        if json {
            args.push("--json");
        }
        let out = ctx.run(&args);
        assert!(
            !out.status.success(),
            "json {json}: web.1 exited before ready"
        );
        assert!(
            crate::support::stderr(&out).contains("web.1"),
            "json {json}: {}",
            crate::support::stderr(&out)
        );
        if json {
            let plan: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("the plan, as JSON");
            assert!(plan.is_array(), "{plan}");
        }
        ctx.ok(&["scale", "web", "1"]);
    }
    ctx.ok(&["down", "--timeout", "5s"]);
}

#[test]
fn logs_reach_the_replicas_a_scale_added() {
    let ctx = TestContext::new(
        "[service.web]\nreplicas = 1\ncommand = [\"sh\", \"-c\", \"echo hello from $PROCTOR_INSTANCE; exec sleep 1000\"]\nready = { log = \"hello\" }\n",
    );
    ctx.ok(&["up", "-d", "--timeout", "20s"]);
    ctx.ok(&["scale", "web", "2", "--timeout", "20s"]);
    let all = ctx.ok(&["logs", "web", "--no-prefix"]);
    assert!(all.contains("hello from 1"), "{all}");
    let one = ctx.ok(&["logs", "web.1", "--no-prefix"]);
    assert!(one.contains("hello from 1"), "{one}");
    ctx.ok(&["down", "--timeout", "5s"]);
}
