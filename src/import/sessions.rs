//! A YAML file with an `ops.sessions` map, the format the Python package's
//! `SessionManager.from_config` reads: each session becomes a service.

use super::draft::{service_name, Draft, Svc, Val};
use super::node::Node;
use super::{env_table, lit, secs, set_cwd, Cx, ImportError};

const CONTAINER_ONLY: &[&str] = &["image", "volumes", "ports", "container_name", "runtime"];

pub(super) fn read(cx: &Cx, doc: &Node) -> Result<Draft, ImportError> {
    let Some(ops @ Node::Map(_)) = doc.get("ops") else {
        return Err(cx.error(0, "no `ops` map"));
    };
    let mut draft = Draft::default();
    for (k, _) in doc.entries() {
        if k != "ops" {
            draft.skip(format!("top-level `{k}`"));
        }
    }
    let default_backend = match ops.get("default_backend").and_then(Node::scalar) {
        Some(b) => backend(cx, &b)?,
        // SessionManager's own default.
        None => "tmux",
    };
    draft
        .project
        .push(("backend".into(), Val::str(default_backend)));
    let project_tmux = ops.get("tmux_binary").and_then(Node::scalar);
    if let Some(t) = &project_tmux {
        draft.project.push(("tmux_binary".into(), Val::str(lit(t))));
    }
    if let Some(r) = ops.get("container_runtime").and_then(Node::scalar) {
        draft
            .project
            .push(("container_runtime".into(), Val::str(runtime(cx, &r)?)));
    }
    for (k, _) in ops.entries() {
        if !matches!(
            k.as_str(),
            "default_backend" | "tmux_binary" | "container_runtime" | "sessions"
        ) {
            draft.skip(format!("ops.{k}"));
        }
    }
    let sessions = ops.get("sessions").map(Node::entries).unwrap_or_default();
    if sessions.is_empty() {
        return Err(cx.error(0, "`ops.sessions` is empty: nothing to import"));
    }
    for (name, s) in sessions {
        let svc_name = service_name(name).ok_or_else(|| {
            cx.error(
                0,
                format!("session {name:?} is not usable as a service name"),
            )
        })?;
        let mut svc = Svc::new(svc_name);
        let kind = match s.get("backend").and_then(Node::scalar) {
            Some(b) => {
                let b = backend(cx, &b)?;
                svc.set("backend", Val::str(b));
                b
            }
            None => default_backend,
        };
        session(cx, s, kind, project_tmux.as_deref(), &mut svc)?;
        if kind != "container" && !svc.has("command") {
            return Err(cx.error(0, format!("session {name:?} needs a command")));
        }
        if kind == "container" && !svc.has("image") {
            return Err(cx.error(0, format!("container session {name:?} needs an image")));
        }
        draft.services.push(svc);
    }
    Ok(draft)
}

fn backend(cx: &Cx, b: &str) -> Result<&'static str, ImportError> {
    match b {
        "process" => Ok("process"),
        "tmux" => Ok("tmux"),
        "container" => Ok("container"),
        other => Err(cx.error(
            0,
            format!("unknown backend {other:?}: expected process, tmux or container"),
        )),
    }
}

fn runtime(cx: &Cx, r: &str) -> Result<String, ImportError> {
    match r {
        "podman" | "docker" => Ok(r.to_string()),
        other => Err(cx.error(
            0,
            format!("unknown container runtime {other:?}: expected podman or docker"),
        )),
    }
}

fn session(
    cx: &Cx,
    s: &Node,
    kind: &str,
    project_tmux: Option<&str>,
    svc: &mut Svc,
) -> Result<(), ImportError> {
    for (k, v) in s.entries() {
        let key = match k.as_str() {
            "container_runtime" => "runtime",
            "working_dir" => "cwd",
            other => other,
        };
        if CONTAINER_ONLY.contains(&key) && kind != "container" {
            svc.skip(format!("{k} (applies to container sessions only)"));
            continue;
        }
        match key {
            "backend" => {}
            "command" => match v {
                Node::Str(c) => svc.set("command", Val::str(lit(c))),
                other => match other.strings() {
                    Some(argv) => svc.set("command", Val::strs(argv.iter().map(|a| lit(a)))),
                    None => {
                        return Err(
                            cx.error(0, format!("{}: `command` is {}", svc.name, other.kind()))
                        )
                    }
                },
            },
            "cwd" => set_cwd(cx, svc, v),
            "env" => svc.set("env", env_table(v)),
            "image" | "container_name" => {
                if let Some(x) = v.scalar() {
                    svc.set(key, Val::str(lit(&x)));
                }
            }
            "volumes" | "ports" => {
                let items = v.strings().unwrap_or_default();
                let items = items.iter().map(|i| match i.split_once(':') {
                    Some((h, rest)) if h.starts_with('.') => format!("{}:{rest}", cx.rebase(h)),
                    _ => i.clone(),
                });
                svc.set(key, Val::strs(items.map(|i| lit(&i))));
            }
            "runtime" => {
                if let Some(r) = v.scalar() {
                    svc.set("runtime", Val::str(runtime(cx, &r)?));
                }
            }
            "restart" => match v.scalar().as_deref() {
                Some(p @ ("no" | "on-failure" | "always")) => svc.set("restart", Val::str(p)),
                _ => svc.skip(format!("restart {v:?} (expected no, on-failure or always)")),
            },
            "stop_timeout" => match v {
                Node::Int(n) => svc.set("stop_timeout", Val::str(secs(*n as f64))),
                Node::Float(f) => svc.set("stop_timeout", Val::str(secs(*f))),
                Node::Str(d) if humantime::parse_duration(d).is_ok() => {
                    svc.set("stop_timeout", Val::str(d.clone()))
                }
                other => svc.skip(format!("stop_timeout {other:?} (expected seconds)")),
            },
            "state_dir" => match v.scalar() {
                Some(dir) => svc.set(
                    "storage",
                    Val::Table(vec![("path".into(), Val::str(lit(&cx.rebase(&dir))))]),
                ),
                None => svc.skip("state_dir (expected a path)"),
            },
            "tmux_binary" => {
                if v.scalar().as_deref() != project_tmux {
                    svc.skip(format!(
                        "tmux_binary {} (proctor has one tmux_binary per project)",
                        v.scalar().unwrap_or_default()
                    ));
                }
            }
            _ => svc.skip(format!("{k} (not a session setting proctor has)")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_yaml(dir: &std::path::Path, yaml: &str) -> Result<Draft, ImportError> {
        let cx = Cx {
            path: dir.join("ops.yml"),
            src_dir: dir.to_path_buf(),
            out_dir: dir.to_path_buf(),
        };
        let doc = super::super::node::from_yaml(yaml).expect("yaml");
        read(&cx, &doc)
    }

    #[test]
    fn defaults_aliases_and_container_only_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = read_yaml(
            dir.path(),
            "ops:\n  sessions:\n    web:\n      command: python -m http.server\n      working_dir: .\n      ports: ['80:80']\n    db:\n      backend: container\n      image: postgres:16\n      container_runtime: docker\n      stop_timeout: 5\n",
        )
        .expect("read");
        // SessionManager's default backend is tmux.
        assert_eq!(d.project[0], ("backend".into(), Val::str("tmux")));
        let web = &d.services[0];
        assert!(web.has("cwd"));
        assert!(!web.has("ports"));
        assert!(web.skipped[0].starts_with("ports"));
        let db = &d.services[1];
        assert!(db.keys.contains(&("runtime".into(), Val::str("docker"))));
        assert!(db.keys.contains(&("stop_timeout".into(), Val::str("5s"))));
    }

    #[test]
    fn missing_pieces_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_yaml(dir.path(), "other: 1\n").is_err());
        assert!(read_yaml(dir.path(), "ops:\n  sessions: {}\n").is_err());
        assert!(read_yaml(dir.path(), "ops:\n  sessions:\n    a: {backend: process}\n").is_err());
        assert!(read_yaml(
            dir.path(),
            "ops:\n  sessions:\n    a: {backend: container}\n"
        )
        .is_err());
        assert!(read_yaml(
            dir.path(),
            "ops:\n  default_backend: vm\n  sessions:\n    a: {command: x}\n"
        )
        .is_err());
    }
}
