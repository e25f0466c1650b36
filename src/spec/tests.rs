//! Spec parsing: defaults, every validation error with its line and column.

use std::path::Path;
use std::time::Duration;

use super::*;

/// `text` parsed as `/tmp/proj/proctor.toml`.
pub(super) fn parse(text: &str) -> Result<Spec, SpecErrors> {
    Spec::parse_str(text, Path::new("/tmp/proj/proctor.toml"))
}

/// The single error `text` produces, as `(line, col, message)`.
pub(super) fn error(text: &str) -> (usize, usize, String) {
    let errs = parse(text).expect_err("should be rejected").0;
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let e = &errs[0];
    (e.line, e.col, format!("{e}"))
}

#[test]
fn minimal_service_gets_defaults() {
    let spec = parse("[service.web]\ncommand = [\"sleep\", \"1\"]\n").expect("valid");
    assert_eq!(spec.project.name, "proj");
    let s = &spec.services[0];
    assert_eq!(s.command, ["sleep", "1"]);
    assert_eq!(s.cwd, Path::new("/tmp/proj"));
    assert_eq!(s.restart, RestartPolicy::OnFailure);
    assert_eq!(s.stop_signal, Signal::TERM);
    assert_eq!(s.stop_timeout, Duration::from_secs(10));
    assert_eq!(s.backoff, Backoff::default());
    assert_eq!(s.start_limit, StartLimit::default());
    assert_eq!(s.autostart, Autostart::Always(true));
    assert_eq!(s.backend, Backend::Process);
}

#[test]
fn full_service_parses() {
    let spec = parse(
        r#"
[project]
name = "shop"
roles = ["master", "worker"]

[service.db]
command = "postgres -D 'my data'"
ready = { tcp = "127.0.0.1:5432", interval = "250ms", deadline = "30s" }

[service.web]
command = "exec ./server --port $PORT"
shell = true
env = { PORT = 8080, DEBUG = true }
autostart = ["worker"]
restart = "always"
backoff = { initial = "1s", max = "1m", factor = 1.5 }
start_limit = { burst = 3, interval = "10s" }
stop_signal = "SIGINT"
stop_timeout = "2s"
ready = { http = "http://127.0.0.1:8080/health", status = [200, 204] }
live = { exec = "test -f alive", failures = 2 }
depends_on = { db = "ready" }
logs = { max_size = "1MiB", keep = 2, max_line = "4KiB" }
storage = { path = "data/web", keep_on_exit = false }
"#,
    )
    .expect("valid");
    assert_eq!(spec.project.name, "shop");
    let names: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "web"], "file order is kept");
    let db = spec.service("db").expect("db");
    assert_eq!(db.command, ["postgres", "-D", "my data"]);
    let web = spec.service("web").expect("web");
    assert_eq!(web.command, ["sh", "-c", "exec ./server --port $PORT"]);
    assert_eq!(web.env["PORT"], "8080");
    assert_eq!(web.env["DEBUG"], "true");
    assert!(web.autostarts(Some("worker")) && !web.autostarts(None));
    assert_eq!(web.restart, RestartPolicy::Always);
    assert_eq!(web.backoff.factor, 1.5);
    assert_eq!(web.start_limit.burst, 3);
    assert_eq!(web.stop_signal, Signal::INT);
    assert_eq!(web.stop_timeout, Duration::from_secs(2));
    assert_eq!(
        web.ready.as_ref().map(|p| &p.kind),
        Some(&ProbeKind::Http {
            url: "http://127.0.0.1:8080/health".into(),
            status: vec![200, 204]
        })
    );
    assert_eq!(web.live.as_ref().map(|p| p.failures), Some(2));
    assert_eq!(web.depends_on[0].condition, Condition::Ready);
    assert_eq!(web.logs.max_size, 1 << 20);
    assert_eq!(
        web.storage,
        Some(Storage::Persistent {
            path: "/tmp/proj/data/web".into(),
            keep_on_exit: false
        })
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let (line, col, msg) = error("[service.web]\ncommand = [\"x\"]\nrestrat = \"no\"\n");
    assert_eq!((line, col), (3, 1));
    assert!(msg.contains("unknown key `restrat`"), "{msg}");
    assert!(msg.contains("did you mean `restart`?"), "{msg}");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let (line, col, msg) = error("[service.web]\ncommand = [\"x\"]\nautostart = \"yes\"\n");
    assert_eq!((line, col), (3, 13));
    assert!(msg.contains("true, false or an array of roles"), "{msg}");
    let (line, col, msg) = error("[service.web]\ncommand = [\"x\", 3]\n");
    assert_eq!((line, col), (2, 17));
    assert!(msg.contains("must be a string"), "{msg}");
}

#[test]
fn empty_command_is_rejected() {
    let (line, col, msg) = error("[service.web]\ncommand = []\n");
    assert_eq!((line, col), (2, 11));
    assert!(msg.contains("`command` is empty"), "{msg}");
    let (line, _, msg) = error("[service.web]\nrestart = \"no\"\n");
    assert_eq!(line, 1);
    assert!(msg.contains("has no `command`"), "{msg}");
}

#[test]
fn invalid_service_names_are_rejected() {
    for bad in [
        "\"-web\"",
        "\".web\"",
        "\"we b\"",
        "\"\"",
        &format!("\"{}\"", "a".repeat(65)),
    ] {
        let text = format!("[service.{bad}]\ncommand = [\"x\"]\n");
        let (line, col, msg) = error(&text);
        assert_eq!((line, col), (1, 10), "{bad}: {msg}");
        assert!(msg.contains("service name"), "{msg}");
    }
    parse("[service.a_b.c-d]\ncommand = [\"x\"]\n").expect_err("dotted key is a nested table");
    parse("[service.\"a_b.c-d\"]\ncommand = [\"x\"]\n").expect("dots and dashes are fine");
}

#[test]
fn missing_cwd_is_rejected() {
    let (line, col, msg) =
        error("[service.web]\ncommand = [\"x\"]\ncwd = \"/nonexistent/proctor-test\"\n");
    assert_eq!((line, col), (3, 7));
    assert!(msg.contains("not an existing directory"), "{msg}");
}

#[test]
fn unreadable_env_file_is_rejected() {
    let (line, col, msg) =
        error("[service.web]\ncommand = [\"x\"]\nenv_file = [\"/nonexistent/.env\"]\n");
    assert_eq!((line, col), (3, 13));
    assert!(msg.contains("cannot read env file"), "{msg}");
}

#[test]
fn env_files_in_order_then_env_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.env"), "A=1\nB=1\n").expect("write");
    std::fs::write(dir.path().join("b.env"), "B=2\nC=2\n").expect("write");
    let text = "[service.web]\ncommand = [\"x\"]\nenv_file = [\"a.env\", \"b.env\"]\nenv = { C = \"3\" }\n";
    let spec = Spec::parse_str(text, &dir.path().join("proctor.toml")).expect("valid");
    let env = &spec.services[0].env;
    assert_eq!(
        (&env["A"][..], &env["B"][..], &env["C"][..]),
        ("1", "2", "3")
    );
}

#[test]
fn durations_signals_and_policies_are_checked() {
    let base = "[service.web]\ncommand = [\"x\"]\n";
    let (line, col, msg) = error(&format!("{base}stop_timeout = \"10 parsecs\"\n"));
    assert_eq!((line, col), (3, 16));
    assert!(msg.contains("not a duration"), "{msg}");
    let (line, col, msg) = error(&format!("{base}stop_signal = \"NOPE\"\n"));
    assert_eq!((line, col), (3, 15));
    assert!(msg.contains("not a signal name"), "{msg}");
    let (_, _, msg) = error(&format!("{base}restart = \"sometimes\"\n"));
    assert!(
        msg.contains("\"no\", \"on-failure\" or \"always\""),
        "{msg}"
    );
    let (line, col, msg) = error(&format!(
        "{base}backoff = {{ initial = \"1s\", maxx = \"2s\" }}\n"
    ));
    assert_eq!((line, col), (3, 29));
    assert!(msg.contains("did you mean `max`"), "{msg}");
    let (_, _, msg) = error(&format!("{base}start_limit = {{ burst = 0 }}\n"));
    assert!(msg.contains("`burst` must be"), "{msg}");
}

#[test]
fn shell_words_errors_and_shell_needs_a_string() {
    let (line, col, msg) = error("[service.web]\ncommand = \"echo 'unclosed\"\n");
    assert_eq!((line, col), (2, 11));
    assert!(msg.contains("cannot be split"), "{msg}");
    let (_, _, msg) = error("[service.web]\ncommand = [\"x\"]\nshell = true\n");
    assert!(msg.contains("needs `command` to be a string"), "{msg}");
}

#[test]
fn probes_are_checked() {
    let base = "[service.web]\ncommand = [\"x\"]\n";
    let (_, _, msg) = error(&format!("{base}ready = {{ interval = \"1s\" }}\n"));
    assert!(msg.contains("names no check"), "{msg}");
    let (_, _, msg) = error(&format!(
        "{base}ready = {{ tcp = \"h:1\", unix = \"/s\" }}\n"
    ));
    assert!(msg.contains("use exactly one"), "{msg}");
    let (line, col, msg) = error(&format!("{base}live = {{ log = \"ready\" }}\n"));
    assert_eq!((line, col), (3, 16));
    assert!(msg.contains("readiness check only"), "{msg}");
    let (_, _, msg) = error(&format!("{base}ready = {{ log = \"(\" }}\n"));
    assert!(msg.contains("not a valid regex"), "{msg}");
    let (_, _, msg) = error(&format!(
        "{base}ready = {{ tcp = \"h:1\", watchdog = \"1s\" }}\n"
    ));
    assert!(msg.contains("only to `notify = true`"), "{msg}");
    let spec = parse(&format!(
        "{base}ready = {{ notify = true, watchdog = \"5s\" }}\n"
    ))
    .expect("ok");
    assert_eq!(
        spec.services[0].ready.as_ref().and_then(|p| p.watchdog),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn dependencies_unknown_self_and_cycles() {
    let (line, col, msg) = error("[service.web]\ncommand = [\"x\"]\ndepends_on = [\"bd\"]\n\n[service.db]\ncommand = [\"x\"]\n");
    assert_eq!((line, col), (3, 15));
    assert!(msg.contains("`bd`, which is not declared"), "{msg}");
    assert!(msg.contains("did you mean `db`?"), "{msg}");
    let (_, _, msg) = error("[service.web]\ncommand = [\"x\"]\ndepends_on = [\"web\"]\n");
    assert!(msg.contains("depends on itself"), "{msg}");
    let (_, _, msg) = error(
        "[service.a]\ncommand = [\"x\"]\ndepends_on = [\"b\"]\n[service.b]\ncommand = [\"x\"]\ndepends_on = { c = \"started\" }\n[service.c]\ncommand = [\"x\"]\ndepends_on = [\"a\"]\n",
    );
    assert!(msg.contains("dependency cycle: a -> b -> c -> a"), "{msg}");
    let (_, _, msg) =
        error("[service.a]\ncommand = [\"x\"]\ndepends_on = { b = \"done\" }\n[service.b]\ncommand = [\"x\"]\n");
    assert!(
        msg.contains("\"started\", \"ready\" or \"completed\""),
        "{msg}"
    );
}

#[test]
fn roles_must_be_declared() {
    let (line, col, msg) = error("[service.w]\ncommand = [\"x\"]\nautostart = [\"worker\"]\n");
    assert_eq!((line, col), (3, 14));
    assert!(msg.contains("declare it: [project] roles"), "{msg}");
    let (_, _, msg) = error(
        "[project]\nroles = [\"master\", \"worker\"]\n[service.w]\ncommand = [\"x\"]\nautostart = [\"wroker\"]\n",
    );
    assert!(msg.contains("did you mean \"worker\"?"), "{msg}");
}

#[test]
fn container_keys_need_the_container_backend() {
    // `image` and `ports` are read for export on every service (issue 21).
    let (line, col, msg) = error("[service.w]\ncommand = [\"x\"]\nvolumes = [\"a:/a\"]\n");
    assert_eq!((line, col), (3, 1));
    assert!(msg.contains("only to container services"), "{msg}");
    let spec = parse(
        "[service.w]\nbackend = \"container\"\nimage = \"busybox\"\nvolumes = [\"./d:/d\"]\n",
    )
    .expect("valid");
    match &spec.services[0].backend {
        Backend::Container(c) => {
            assert_eq!(c.image, "busybox");
            assert_eq!(c.volumes, ["/tmp/proj/./d:/d"]);
        }
        other => panic!("not a container: {other:?}"),
    }
}

#[test]
fn toml_syntax_errors_have_positions() {
    let errs = parse("[service.web]\ncommand = [\"x\"\n")
        .expect_err("bad toml")
        .0;
    assert!(errs[0].line >= 2, "{errs:?}");
    assert!(errs[0].message.starts_with("invalid TOML"), "{errs:?}");
}

#[test]
fn all_errors_are_reported_at_once() {
    let errs =
        parse("[service.a]\ncommand = []\n[service.b]\ncommand = [\"x\"]\nrestart = 3\nfoo = 1\n")
            .expect_err("bad")
            .0;
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 5, 6], "{errs:#?}");
}

#[test]
fn no_services_is_an_error() {
    let (_, _, msg) = error("[project]\nname = \"x\"\n");
    assert!(msg.contains("no services declared"), "{msg}");
}

/// `validate --print` shows what proctor runs: read back, it gives the same services.
#[test]
fn the_resolved_spec_reads_back_the_same() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("proctor.toml");
    std::fs::write(
        &path,
        "[service.one]\ncommand = [\"x\"]\nports_from = 9000\n\n\
         [service.many]\ncommand = [\"x\"]\nreplicas = 2\nports_from = 9100\n\
         env = { LITERAL = \"$${HOME} $$$$ $HOME\" }\n\n\
         [service.b]\ncommand = [\"x\"]\ndepends_on = [\"many.1\", \"many\"]\n\n\
         [service.c]\ncommand = [\"x\"]\ndepends_on = { many = \"started\", \"many.0\" = \"ready\" }\n",
    )
    .expect("write");
    let spec = Spec::load(&path).expect("valid");
    assert_eq!(
        spec.services[0].env.get("PORT").map(String::as_str),
        Some("9000")
    );
    let printed = Spec::resolved_toml(&path).expect("resolved");
    let again = Spec::parse_str(&printed, &path).expect("reads back");
    let env = |s: &Spec| -> Vec<(String, BTreeMap<String, String>)> {
        s.services
            .iter()
            .map(|s| (s.name.clone(), s.env.clone()))
            .collect()
    };
    assert_eq!(env(&again), env(&spec), "{printed}");
    let deps = |s: &Spec| -> Vec<(String, Vec<(String, Condition)>)> {
        s.services
            .iter()
            .map(|s| {
                let mut d: Vec<_> = s
                    .depends_on
                    .iter()
                    .map(|d| (d.name.clone(), d.condition))
                    .collect();
                d.sort_by(|a, b| a.0.cmp(&b.0));
                (s.name.clone(), d)
            })
            .collect()
    };
    assert_eq!(deps(&again), deps(&spec), "{printed}");
}

/// A group in `depends_on` next to one of its own replicas names each replica once.
#[test]
fn a_group_and_one_of_its_replicas_in_depends_on_are_not_a_duplicate() {
    let spec = parse(
        "[service.a]\ncommand = [\"x\"]\nreplicas = 3\n\n\
         [service.b]\ncommand = [\"x\"]\ndepends_on = [\"a.1\", \"a\"]\n\n\
         [service.c]\ncommand = [\"x\"]\ndepends_on = { a = \"started\", \"a.0\" = \"ready\" }\n",
    )
    .expect("valid");
    let deps = |name: &str| -> Vec<String> {
        let mut d: Vec<String> = spec
            .service(name)
            .expect("service")
            .depends_on
            .iter()
            .map(|d| d.name.clone())
            .collect();
        d.sort();
        d
    };
    assert_eq!(deps("b"), ["a.0", "a.1", "a.2"]);
    assert_eq!(deps("c"), ["a.0", "a.1", "a.2"]);
    // The same name twice is still a mistake.
    let (line, _, msg) = error("[service.a]\ncommand = [\"x\"]\nreplicas = 2\n\n[service.b]\ncommand = [\"x\"]\ndepends_on = [\"a\", \"a\"]\n");
    assert_eq!(line, 7, "{msg}");
    assert!(msg.contains("listed twice"), "{msg}");
}

/// A malformed line in `.env` or in a `[project] env_file` is placed at its line.
#[test]
fn a_malformed_env_file_line_has_a_position() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("proctor.toml");
    std::fs::write(tmp.path().join(".env"), "# vars\nA=1\n\nB C=2\n").expect("write");
    std::fs::write(tmp.path().join("extra.env"), "X=1\nY = 'open\n").expect("write");
    std::fs::write(
        &path,
        "[project]\nenv_file = \"extra.env\"\n\n[service.a]\ncommand = [\"x\"]\n",
    )
    .expect("write");
    let errs = Spec::load(&path).expect_err("malformed").0;
    let at: Vec<(String, usize)> = errs
        .iter()
        .map(|e| {
            let file = e.file.file_name().map(|f| f.to_string_lossy().into_owned());
            (file.unwrap_or_default(), e.line)
        })
        .collect();
    assert!(at.contains(&(".env".to_string(), 4)), "{errs:#?}");
    assert!(at.contains(&("extra.env".to_string(), 2)), "{errs:#?}");
    assert!(errs.iter().all(|e| e.line > 0 && e.col > 0), "{errs:#?}");
}

/// `ports_from`, like `replicas`, may come from a variable (`.env` holds the ports).
#[test]
fn ports_from_may_be_an_interpolated_string() {
    let spec = parse(
        "[service.web]\ncommand = [\"x\"]\nreplicas = \"${N:-2}\"\nports_from = \"${BASE_PORT_UNSET:-9000}\"\n",
    )
    .expect("valid");
    let ports: Vec<&str> = spec
        .services
        .iter()
        .map(|s| s.env["PORT"].as_str())
        .collect();
    assert_eq!(ports, ["9000", "9001"]);
    let (line, col, msg) = error("[service.web]\ncommand = [\"x\"]\nports_from = \"http\"\n");
    assert_eq!((line, col), (3, 14), "{msg}");
    assert!(msg.contains("ports_from"), "{msg}");
}

/// An interpolation error points at the expression that failed, not at an escaped one
/// that reads the same before it.
#[test]
fn an_interpolation_error_points_at_its_own_expression() {
    let (line, col, msg) = error("[service.a]\ncommand = [\"$${UNSET_X:?} ${UNSET_X:?}\"]\n");
    assert_eq!((line, col), (2, 27), "{msg}");
    let (line, col, msg) = error("[service.a]\ncommand = [\"é ${UNSET_X:-ok} ${UNSET_X:?}\"]\n");
    assert_eq!((line, col), (2, 30), "{msg}");
}

#[test]
fn metrics_address_parses_or_is_pointed_at() {
    let spec = parse("[project]\nmetrics = \"127.0.0.1:9464\"\n[service.a]\ncommand = [\"x\"]\n")
        .expect("valid");
    assert_eq!(spec.project.metrics, Some(([127, 0, 0, 1], 9464).into()));
    assert_eq!(
        parse("[service.a]\ncommand = [\"x\"]\n")
            .expect("valid")
            .project
            .metrics,
        None
    );
    let (line, col, msg) =
        error("[project]\nmetrics = \"localhost\"\n[service.a]\ncommand = [\"x\"]\n");
    assert_eq!((line, col), (2, 11));
    assert!(msg.contains("not an IP address and port"), "{msg}");
}

#[test]
fn r21_export_keys_on_a_process_service() {
    let spec = parse(
        "[export]\nimage = \"base:1\"\n[service.w]\ncommand = [\"x\"]\nimage = \"app:2\"\nports = [\"8080:80\", \"9000/udp\"]\n",
    )
    .expect("valid");
    assert_eq!(spec.export.image.as_deref(), Some("base:1"));
    let w = &spec.services[0];
    assert_eq!(w.export.image.as_deref(), Some("app:2"));
    assert_eq!(w.ports(), ["8080:80", "9000/udp"]);
    // A bad port is placed at `ports`; an unknown `[export]` key at the key.
    let (line, col, msg) = error("[service.w]\ncommand = [\"x\"]\nports = [\"80:http\"]\n");
    assert_eq!((line, col), (3, 9), "{msg}");
    assert!(msg.contains("HOST:CONTAINER"), "{msg}");
    let (line, _, msg) = error("[export]\nimagee = \"x\"\n[service.w]\ncommand = [\"x\"]\n");
    assert_eq!(line, 2, "{msg}");
}
