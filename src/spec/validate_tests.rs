//! One validation for every way a service is made: each value a `proctor.toml` rejects,
//! [`crate::DaemonBuilder`] and ad-hoc services (`proctor run`) reject too, in the same
//! words, and what it accepts they accept.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::adhoc::AdHoc;
use super::*;
use crate::error::Error;

/// A service written three ways: lines of a `[service.NAME]` table, the same settings made
/// in code, and (where `proctor run` can say it) as an ad-hoc service.
struct Case {
    name: &'static str,
    /// The table's lines; a `command = ["x"]` comes first unless `command` is among them.
    toml: &'static str,
    /// The same settings on a builder's service (which runs `["x"]`).
    code: fn(&mut Service),
    /// The same settings on an ad-hoc service (which runs `["x"]`), if it can have them.
    adhoc: Option<fn(&mut AdHoc)>,
}

fn cases() -> Vec<Case> {
    fn case(toml: &'static str, code: fn(&mut Service)) -> Case {
        Case {
            name: "web",
            toml,
            code,
            adhoc: None,
        }
    }
    fn probe(kind: ProbeKind) -> Option<Probe> {
        Some(Probe::new(kind))
    }
    fn container(s: &mut Service, f: fn(&mut ContainerSettings)) {
        let mut c = ContainerSettings {
            image: "busybox".into(),
            volumes: Vec::new(),
            ports: Vec::new(),
            runtime: None,
            container_name: None,
        };
        f(&mut c);
        s.backend = Backend::Container(c);
    }
    vec![
        Case {
            name: "-web",
            adhoc: Some(|_| {}),
            ..case("", |_| {})
        },
        Case {
            adhoc: Some(|a| a.command.clear()),
            ..case("command = []", |s| s.command.clear())
        },
        Case {
            adhoc: Some(|a| a.command = vec![String::new()]),
            ..case("command = [\"\"]", |s| s.command = vec![String::new()])
        },
        Case {
            adhoc: Some(|a| a.cwd = "/nonexistent/proctor-test".into()),
            ..case("cwd = \"/nonexistent/proctor-test\"", |s| {
                s.cwd = "/nonexistent/proctor-test".into();
            })
        },
        Case {
            adhoc: Some(|a| {
                a.env.insert(String::new(), "1".into());
            }),
            ..case("env = { \"\" = 1 }", |s| {
                s.env.insert(String::new(), "1".into());
            })
        },
        case("env = { \"A=B\" = \"1\" }", |s| {
            s.env.insert("A=B".into(), "1".into());
        }),
        case("autostart = [\"worker\"]", |s| {
            s.autostart = Autostart::Roles(vec!["worker".into()]);
        }),
        case("backoff = { factor = 0.5 }", |s| s.backoff.factor = 0.5),
        case("backoff = { initial = \"1m\", max = \"1s\" }", |s| {
            s.backoff.initial = Duration::from_secs(60);
            s.backoff.max = Duration::from_secs(1);
        }),
        case("start_limit = { burst = 0 }", |s| s.start_limit.burst = 0),
        case("ready = { tcp = \"no-port\" }", |s| {
            s.ready = probe(ProbeKind::Tcp("no-port".into()));
        }),
        case("ready = { tcp = \"\" }", |s| {
            s.ready = probe(ProbeKind::Tcp(String::new()));
        }),
        case("ready = { http = \"https://h/\" }", |s| {
            s.ready = Some(Probe::http("https://h/"));
        }),
        case(
            "ready = { http = \"http://h/\", status = [200, 42] }",
            |s| {
                let (url, status) = ("http://h/".into(), vec![200, 42]);
                s.ready = probe(ProbeKind::Http { url, status });
            },
        ),
        case("ready = { exec = [] }", |s| {
            s.ready = probe(ProbeKind::Exec(Vec::new()));
        }),
        case("ready = { log = \"(\" }", |s| {
            s.ready = Some(Probe::log("("))
        }),
        case("ready = { log = \" \" }", |s| {
            s.ready = Some(Probe::log(" "))
        }),
        case("live = { log = \"up\" }", |s| {
            s.live = Some(Probe::log("up"))
        }),
        case("live = { notify = true }", |s| {
            s.live = Some(Probe::notify())
        }),
        case("ready = { tcp = \"h:1\", interval = \"0s\" }", |s| {
            s.ready = Some(Probe::tcp("h:1").with_interval(Duration::ZERO));
        }),
        case("ready = { tcp = \"h:1\", deadline = \"0s\" }", |s| {
            s.ready = Some(Probe::tcp("h:1").with_deadline(Duration::ZERO));
        }),
        case("live = { tcp = \"h:1\", failures = 0 }", |s| {
            s.live = Some(Probe::tcp("h:1").with_failures(0));
        }),
        case("ready = { tcp = \"h:1\", watchdog = \"1s\" }", |s| {
            let mut p = Probe::tcp("h:1");
            p.watchdog = Some(Duration::from_secs(1));
            s.ready = Some(p);
        }),
        case("ready = { notify = true, watchdog = \"0s\" }", |s| {
            let mut p = Probe::notify();
            p.watchdog = Some(Duration::ZERO);
            s.ready = Some(p);
        }),
        case("depends_on = [\"web\"]", |s| {
            s.depends_on = vec![Dependency {
                name: "web".into(),
                condition: Condition::Ready,
            }];
        }),
        case("logs = { max_size = 100 }", |s| s.logs.max_size = 100),
        case("logs = { keep = 2000 }", |s| s.logs.keep = 2000),
        case("logs = { max_line = 10 }", |s| s.logs.max_line = 10),
        case("storage = { path = \"/\" }", |s| {
            s.storage = Some(Storage::Persistent {
                path: "/".into(),
                keep_on_exit: true,
            });
        }),
        Case {
            adhoc: Some(|a| a.image = Some(String::new())),
            ..case("backend = \"container\"\nimage = \"\"", |s| {
                container(s, |c| c.image.clear());
            })
        },
        case(
            "backend = \"container\"\nimage = \"busybox\"\nvolumes = [\"nocolon\"]",
            |s| container(s, |c| c.volumes = vec!["nocolon".into()]),
        ),
        case(
            "backend = \"container\"\nimage = \"busybox\"\ncontainer_name = \"\"",
            |s| container(s, |c| c.container_name = Some(String::new())),
        ),
    ]
}

/// The spec's errors for `case`, as `(line, message, help)`.
fn from_toml(case: &Case, dir: &std::path::Path) -> Vec<(usize, String, Option<String>)> {
    let command = if case.toml.contains("command") {
        ""
    } else {
        "command = [\"x\"]\n"
    };
    let text = format!("[service.{:?}]\n{command}{}\n", case.name, case.toml);
    match Spec::parse_str(&text, &dir.join("proctor.toml")) {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .0
            .into_iter()
            .map(|e| (e.line, e.message, e.help))
            .collect(),
    }
}

/// The builder's errors for `case`, as `(message, help)`.
fn from_builder(case: &Case, dir: &std::path::Path) -> Vec<(String, Option<String>)> {
    let built = crate::Daemon::builder(case.name)
        .command(["x"])
        .cwd(dir)
        .lock_dir(dir.join("home"))
        .configure(case.code)
        .build();
    match built {
        Ok(_) => Vec::new(),
        Err(Error::Spec(errs)) => errs.0.into_iter().map(|e| (e.message, e.help)).collect(),
        Err(other) => panic!("{}: not a spec error: {other}", case.toml),
    }
}

fn adhoc(name: &str, dir: &std::path::Path) -> AdHoc {
    AdHoc {
        name: name.into(),
        command: vec!["x".into()],
        backend: None,
        image: None,
        restart: None,
        env: BTreeMap::new(),
        cwd: PathBuf::from(dir),
    }
}

#[test]
fn builder_and_adhoc_reject_what_the_spec_rejects_in_its_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = Project::new("p");
    for case in cases() {
        let spec = from_toml(&case, dir.path());
        let [(line, message, help)] = &spec[..] else {
            panic!("{}: expected one spec error, got {spec:#?}", case.toml);
        };
        assert!(*line > 0, "{}: the spec error has a position", case.toml);
        let built = from_builder(&case, dir.path());
        assert_eq!(
            built,
            [(message.clone(), help.clone())],
            "{}: the builder disagrees",
            case.toml
        );
        if let Some(set) = case.adhoc {
            let mut a = adhoc(case.name, dir.path());
            set(&mut a);
            assert_eq!(
                a.check(&project),
                Err(message.clone()),
                "{}: the ad-hoc service disagrees",
                case.toml
            );
        }
    }
}

#[test]
fn what_the_spec_accepts_builder_and_adhoc_accept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let accepted = Case {
        name: "web.api-1",
        toml: "env = { A_1 = \"x=y\" }\nready = { log = \"up\", deadline = \"1s\" }\n\
               live = { tcp = \"h:1\", failures = 1 }\nbackoff = { initial = \"1s\", max = \"1s\" }\n\
               logs = { max_size = 4096, keep = 0, max_line = 64 }",
        code: |s| {
            s.env.insert("A_1".into(), "x=y".into());
            s.ready = Some(Probe::log("up").with_deadline(Duration::from_secs(1)));
            s.live = Some(Probe::tcp("h:1").with_failures(1));
            s.backoff.initial = Duration::from_secs(1);
            s.backoff.max = Duration::from_secs(1);
            s.logs = LogSettings {
                max_size: 4096,
                keep: 0,
                max_line: 64,
            };
        },
        adhoc: Some(|a| {
            a.env.insert("A_1".into(), "x=y".into());
        }),
    };
    assert_eq!(from_toml(&accepted, dir.path()), []);
    assert_eq!(from_builder(&accepted, dir.path()), []);
    let mut a = adhoc(accepted.name, dir.path());
    if let Some(set) = accepted.adhoc {
        set(&mut a);
    }
    assert_eq!(a.check(&Project::new("p")), Ok(()));
}

#[test]
fn a_value_that_could_not_be_read_is_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    for toml in [
        // The default left in place of what could not be read breaks no rule of its own.
        "command = [3]",
        "command = \"echo 'unclosed\"",
        "backoff = { initial = \"1m\", max = \"soon\" }",
        "autostart = [3, \"worker\"]",
        "depends_on = { web = \"done\" }",
    ] {
        let case = Case {
            name: "web",
            toml,
            code: |_| {},
            adhoc: None,
        };
        let errors = from_toml(&case, dir.path());
        assert_eq!(errors.len(), 1, "{toml}: {errors:#?}");
    }
}
