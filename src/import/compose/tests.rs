use super::super::draft::{Draft, Svc, Val};
use super::super::node::from_yaml;
use super::super::Cx;
use super::read;

fn import(yaml: &str) -> Draft {
    let dir = std::env::temp_dir();
    let cx = Cx {
        path: dir.join("compose.yaml"),
        src_dir: dir.clone(),
        out_dir: dir,
    };
    read(&cx, &from_yaml(yaml).expect("yaml")).expect("import")
}

fn get<'a>(svc: &'a Svc, key: &str) -> Option<&'a Val> {
    svc.keys.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn table(pairs: &[(&str, &str)]) -> Val {
    Val::Table(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), Val::str(*v)))
            .collect(),
    )
}

#[test]
fn environment_forms_and_host_passthrough() {
    let d = import(
        "services:\n  a:\n    image: x\n    environment: [A=1, B=, C, D=x=y]\n  b:\n    image: x\n    environment: {N: 3, T: true, E: ~, S: on}\n",
    );
    assert_eq!(
        get(&d.services[0], "env"),
        Some(&table(&[("A", "1"), ("B", ""), ("D", "x=y")]))
    );
    assert!(
        d.services[0].skipped[0].starts_with("environment C "),
        "{:?}",
        d.services[0].skipped
    );
    assert_eq!(
        get(&d.services[1], "env"),
        Some(&table(&[("N", "3"), ("T", "true"), ("S", "on")]))
    );
    assert!(d.services[1].skipped[0].starts_with("environment E "));
}

#[test]
fn depends_on_conditions() {
    let d = import(
        "services:\n  a:\n    image: x\n    depends_on: [b, c]\n  b:\n    image: x\n    depends_on:\n      c: {condition: service_completed_successfully}\n      a: {condition: service_weird}\n  c:\n    image: x\n",
    );
    assert_eq!(
        get(&d.services[0], "depends_on"),
        Some(&table(&[("b", "started"), ("c", "started")]))
    );
    assert_eq!(
        get(&d.services[1], "depends_on"),
        Some(&table(&[("c", "completed"), ("a", "started")]))
    );
    assert!(d.services[1].skipped[0].contains("service_weird"));
}

#[test]
fn healthcheck_forms() {
    let d = import(
        "services:\n  a:\n    image: x\n    container_name: box\n    healthcheck:\n      test: curl -f http://localhost/ || exit 1\n      interval: 1m30s\n  b:\n    image: x\n    healthcheck: {test: [NONE]}\n  c:\n    image: x\n    healthcheck: {test: [CMD, true], disable: true}\n  d:\n    image: x\n    healthcheck: {test: [CMD, ping], timeout: soon}\n",
    );
    let Some(Val::Table(probe)) = get(&d.services[0], "ready") else {
        panic!("no probe: {:?}", d.services[0]);
    };
    let Val::List(exec) = &probe[0].1 else {
        panic!("exec")
    };
    let Val::Str(script) = &exec[2] else {
        panic!("script")
    };
    assert!(
        script.ends_with(" exec box sh -c 'curl -f http://localhost/ || exit 1'"),
        "{script}"
    );
    assert_eq!(probe[1], ("interval".into(), Val::str("1m30s")));
    // 3 retries of 90s.
    assert_eq!(probe[2], ("deadline".into(), Val::str("270s")));
    assert!(get(&d.services[1], "ready").is_none());
    assert!(get(&d.services[2], "ready").is_none());
    assert!(get(&d.services[3], "ready").is_some());
    assert!(d.services[3].skipped[0].contains("timeout \"soon\""));
}

#[test]
fn ports_volumes_restart_and_build() {
    let d = import(
        "name: My Shop\nservices:\n  a:\n    build: .\n    command: echo $HOME $$HOME ${X:-y}\n    ports: [80, \"127.0.0.1:8080:80/udp\", {target: 443, published: \"8443\"}]\n    volumes:\n      - /anon\n      - ./data:/data\n      - {type: bind, source: /etc/x, target: /x, read_only: true}\n      - {type: tmpfs, target: /tmp}\n    restart: on-failure:3\n",
    );
    let a = &d.services[0];
    assert_eq!(d.project[0], ("name".into(), Val::str("My-Shop")));
    assert_eq!(get(a, "image"), Some(&Val::str("My-Shop-a")));
    assert_eq!(
        get(a, "command"),
        Some(&Val::strs(["echo", "${HOME}", "$$HOME", "${X:-y}"]))
    );
    assert_eq!(
        get(a, "ports"),
        Some(&Val::strs(["80", "127.0.0.1:8080:80/udp", "8443:443"]))
    );
    assert_eq!(
        get(a, "volumes"),
        Some(&Val::strs(["./data:/data", "/etc/x:/x:ro"]))
    );
    assert_eq!(get(a, "restart"), Some(&Val::str("on-failure")));
    let skipped = a.skipped.join("\n");
    for s in ["build", "\"/anon\"", "tmpfs", "on-failure:3"] {
        assert!(skipped.contains(s), "{s:?} not in {skipped}");
    }
}

#[test]
fn restart_defaults_to_no_and_nothing_to_import_is_an_error() {
    let d = import("services:\n  a:\n    image: x\n");
    assert_eq!(get(&d.services[0], "restart"), Some(&Val::str("no")));
    let cx = Cx {
        path: "compose.yaml".into(),
        src_dir: ".".into(),
        out_dir: ".".into(),
    };
    assert!(read(&cx, &from_yaml("services: {}\n").expect("yaml")).is_err());
    assert!(read(&cx, &from_yaml("web: x\n").expect("yaml")).is_err());
}

#[test]
fn names_that_collide_once_made_valid_are_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("compose.yaml");
    std::fs::write(&path, "services:\n  a b: {image: x}\n  a-b: {image: y}\n").expect("write");
    let e = super::super::import(&path, &super::super::Options::default()).expect_err("collision");
    assert!(
        e.to_string().contains("two services are named \"a-b\""),
        "{e}"
    );
}
