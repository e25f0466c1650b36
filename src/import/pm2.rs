//! pm2 ecosystem files (`ecosystem.config.json`, or the same in YAML): each of `apps`
//! becomes a service; `instances` becomes `replicas`.

use super::draft::{service_name, Draft, Svc, Val};
use super::node::Node;
use super::{env_table, lit, set_cwd, Cx, ImportError};

/// The interpreter pm2 picks for a script by its extension (none: run it directly).
fn interpreter_for(script: &str) -> Option<&'static str> {
    let ext = script.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "js" | "mjs" | "cjs" => "node",
        "py" => "python3",
        "sh" => "bash",
        "rb" => "ruby",
        "php" => "php",
        "pl" => "perl",
        _ => return None,
    })
}

pub(super) fn read(cx: &Cx, doc: &Node) -> Result<Draft, ImportError> {
    let apps = match doc {
        Node::Seq(items) => items.as_slice(),
        Node::Map(_) => match doc.get("apps") {
            Some(Node::Seq(items)) => items.as_slice(),
            Some(one @ Node::Map(_)) => std::slice::from_ref(one),
            _ => return Err(cx.error(0, "expected `apps`: a list of apps")),
        },
        _ => return Err(cx.error(0, "expected a map with `apps`")),
    };
    let mut draft = Draft::default();
    for (k, _) in doc.entries() {
        if k != "apps" {
            draft.skip(format!("top-level `{k}` (deploy and other pm2 settings)"));
        }
    }
    for (i, app) in apps.iter().enumerate() {
        if !matches!(app, Node::Map(_)) {
            return Err(cx.error(0, format!("apps[{i}] is {}, expected a map", app.kind())));
        }
        let script = app
            .get("script")
            .and_then(Node::scalar)
            .ok_or_else(|| cx.error(0, format!("apps[{i}] has no `script`")))?;
        let raw_name = app.get("name").and_then(Node::scalar).unwrap_or_else(|| {
            let base = script.rsplit('/').next().unwrap_or(&script);
            base.split('.').next().unwrap_or(base).to_string()
        });
        let name = service_name(&raw_name)
            .ok_or_else(|| cx.error(0, format!("apps[{i}]: name {raw_name:?} is not usable")))?;
        if draft.services.iter().any(|s| s.name == name) {
            return Err(cx.error(0, format!("two apps are named {name:?}")));
        }
        let mut svc = Svc::new(name);
        if raw_name != svc.name {
            svc.comments.push(format!("pm2 name: {raw_name}"));
        }
        app_keys(cx, app, &script, &mut svc);
        draft.services.push(svc);
    }
    if draft.services.is_empty() {
        return Err(cx.error(0, "`apps` is empty: nothing to import"));
    }
    Ok(draft)
}

fn words(v: Option<&Node>) -> Vec<String> {
    match v {
        Some(Node::Str(s)) => shell_words::split(s)
            .unwrap_or_else(|_| s.split_whitespace().map(str::to_string).collect()),
        Some(other) => other.strings().unwrap_or_default(),
        None => Vec::new(),
    }
}

fn millis(v: &Node) -> Option<String> {
    let ms: u32 = match v {
        Node::Int(n) => u32::try_from(*n).ok()?,
        Node::Str(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(super::secs(f64::from(ms) / 1000.0))
}

fn app_keys(cx: &Cx, app: &Node, script: &str, svc: &mut Svc) {
    let interpreter = match app.get("interpreter").and_then(Node::scalar) {
        Some(i) if i == "none" => None,
        Some(i) => Some(i),
        None => interpreter_for(script).map(str::to_string),
    };
    let mut argv = Vec::new();
    if let Some(i) = interpreter {
        argv.push(i);
        argv.extend(words(
            app.get("interpreter_args").or_else(|| app.get("node_args")),
        ));
    }
    argv.push(script.to_string());
    argv.extend(words(app.get("args")));
    svc.set("command", Val::strs(argv.iter().map(|a| lit(a))));
    // pm2 restarts whatever way an app ends unless told not to.
    svc.set("restart", Val::str("always"));
    for (k, v) in app.entries() {
        match k.as_str() {
            "name" | "script" | "args" | "interpreter" | "interpreter_args" | "node_args" => {}
            "cwd" => set_cwd(cx, svc, v),
            "env" => svc.set("env", env_table(v)),
            "instances" => match v {
                Node::Int(n) if *n >= 1 => {
                    if *n > 1 {
                        svc.replicas = u32::try_from(*n).ok();
                    }
                }
                other => svc.skip(format!(
                    "instances = {} (one per CPU: write the count as replicas)",
                    other.scalar().unwrap_or_default()
                )),
            },
            "exec_mode" => {
                if v.scalar().is_some_and(|m| m.contains("cluster")) {
                    svc.skip("exec_mode = cluster (instances are separate processes that do not share a port)");
                }
            }
            "autorestart" => {
                if let Node::Bool(b) = v {
                    svc.set("restart", Val::str(if *b { "always" } else { "no" }));
                }
            }
            "autostart" => {
                if let Node::Bool(b) = v {
                    svc.set("autostart", Val::Bool(*b));
                }
            }
            "max_restarts" => match v {
                Node::Int(n) if *n >= 1 => svc.set(
                    "start_limit",
                    Val::Table(vec![("burst".into(), Val::Int(*n))]),
                ),
                other => svc.skip(format!(
                    "max_restarts = {}",
                    other.scalar().unwrap_or_default()
                )),
            },
            "kill_timeout" => match millis(v) {
                Some(d) => svc.set("stop_timeout", Val::str(d)),
                None => svc.skip(format!("kill_timeout = {v:?} (expected milliseconds)")),
            },
            "restart_delay" => match millis(v) {
                Some(d) => svc.set(
                    "backoff",
                    Val::Table(vec![
                        ("initial".into(), Val::str(d.clone())),
                        ("max".into(), Val::str(d)),
                        ("factor".into(), Val::Float(1.0)),
                    ]),
                ),
                None => svc.skip(format!("restart_delay = {v:?} (expected milliseconds)")),
            },
            "exp_backoff_restart_delay" => match millis(v) {
                // pm2 grows the delay by 1.5 up to 15s.
                Some(d) => svc.set(
                    "backoff",
                    Val::Table(vec![
                        ("initial".into(), Val::str(d)),
                        ("max".into(), Val::str("15s")),
                        ("factor".into(), Val::Float(1.5)),
                    ]),
                ),
                None => svc.skip(format!("exp_backoff_restart_delay = {v:?}")),
            },
            "max_memory_restart" => match memory(v) {
                Some(m) => svc.set("restart_on_memory", Val::str(m)),
                None => svc.skip(format!("max_memory_restart = {v:?} (not a size)")),
            },
            "uid" | "user" => {
                if let Some(u) = v.scalar() {
                    svc.set("user", Val::str(u));
                }
            }
            "gid" => {
                if let Some(g) = v.scalar() {
                    svc.set("group", Val::str(g));
                }
            }
            "watch" => watch(app, v, svc),
            "ignore_watch" | "watch_delay" => {
                if !matches!(
                    app.get("watch"),
                    Some(Node::Bool(true) | Node::Seq(_) | Node::Str(_))
                ) {
                    svc.skip(format!("{k} (without watch)"));
                }
            }
            k if k.starts_with("env_") => svc.skip(format!(
                "{k} (pm2's --env {}: copy what you need into env)",
                &k[4..]
            )),
            k if k.ends_with("_file")
                || k == "merge_logs"
                || k == "log_date_format"
                || k == "time" =>
            {
                svc.skip(format!(
                    "{k} (proctor keeps each service's output itself: `proctor logs {}`)",
                    svc.name
                ));
            }
            other => svc.skip(format!("{other} = {}", brief(v))),
        }
    }
}

/// pm2's `watch` (true: the app's directory; or paths), `ignore_watch` and `watch_delay`
/// (ms) as the spec's `watch` table.
fn watch(app: &Node, v: &Node, svc: &mut Svc) {
    let paths = match v {
        Node::Bool(false) => return,
        Node::Bool(true) => vec![".".to_string()],
        other => match other.strings() {
            Some(p) if !p.is_empty() => p,
            _ => {
                svc.skip(format!("watch = {}", brief(v)));
                return;
            }
        },
    };
    let mut table = vec![("paths".to_string(), Val::strs(paths.iter().map(|p| lit(p))))];
    // pm2 ignores node_modules when told nothing else.
    let ignore = app
        .get("ignore_watch")
        .and_then(Node::strings)
        .unwrap_or_else(|| vec!["node_modules".into()]);
    table.push(("ignore".into(), Val::strs(ignore.iter().map(|p| lit(p)))));
    if let Some(d) = app.get("watch_delay").and_then(millis) {
        table.push(("debounce".into(), Val::str(d)));
    }
    svc.set("watch", Val::Table(table));
}

fn brief(v: &Node) -> String {
    match v {
        Node::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .filter_map(Node::scalar)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Node::Map(_) => "{…}".into(),
        other => other.scalar().unwrap_or_default(),
    }
}

/// pm2's `150M` / `1G` / `512K` (powers of 1024) or a number of bytes, as the spec writes it.
fn memory(v: &Node) -> Option<String> {
    match v {
        Node::Int(n) if *n > 0 => Some(n.to_string()),
        Node::Str(s) => {
            let s = s.trim();
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
            num.parse::<u64>().ok()?;
            let unit = match unit.to_ascii_uppercase().as_str() {
                "K" | "KB" => "KiB",
                "M" | "MB" => "MiB",
                "G" | "GB" => "GiB",
                _ => return None,
            };
            Some(format!("{num}{unit}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_json(dir: &std::path::Path, json: &str) -> Result<Draft, ImportError> {
        let cx = Cx {
            path: dir.join("ecosystem.config.json"),
            src_dir: dir.to_path_buf(),
            out_dir: dir.to_path_buf(),
        };
        let doc: Node = serde_json::from_str(json).expect("json");
        read(&cx, &doc)
    }

    #[test]
    fn interpreters_args_and_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = read_json(
            dir.path(),
            r#"{"apps": [
                {"name": "api", "script": "server.js", "node_args": "--max-old-space-size=512", "args": ["--port", 3000], "max_memory_restart": "300M"},
                {"script": "./bin/worker", "args": "-q 'a b'", "autorestart": false, "kill_timeout": 3000},
                {"name": "py", "script": "job.py", "interpreter": "/usr/bin/python3.12", "exp_backoff_restart_delay": 100}
            ]}"#,
        )
        .expect("read");
        let cmd = |i: usize| {
            d.services[i]
                .keys
                .iter()
                .find(|(k, _)| k == "command")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            cmd(0),
            Some(Val::strs([
                "node",
                "--max-old-space-size=512",
                "server.js",
                "--port",
                "3000"
            ]))
        );
        assert_eq!(d.services[1].name, "worker");
        assert_eq!(cmd(1), Some(Val::strs(["./bin/worker", "-q", "a b"])));
        assert!(d.services[1]
            .keys
            .contains(&("restart".into(), Val::str("no"))));
        assert!(d.services[1]
            .keys
            .contains(&("stop_timeout".into(), Val::str("3s"))));
        assert_eq!(cmd(2), Some(Val::strs(["/usr/bin/python3.12", "job.py"])));
        assert!(d.services[0]
            .keys
            .contains(&("restart_on_memory".into(), Val::str("300MiB"))));
    }

    #[test]
    fn instances_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = read_json(
            dir.path(),
            r#"{"apps": [{"name": "a", "script": "x", "instances": "max", "watch": true}]}"#,
        )
        .expect("read");
        let skipped = d.services[0].skipped.join("\n");
        assert!(skipped.contains("instances = max"), "{skipped}");
        assert!(!skipped.contains("watch"), "{skipped}");
        let watch = d.services[0].keys.iter().find(|(k, _)| k == "watch");
        assert_eq!(
            watch.map(|(_, v)| v),
            Some(&Val::Table(vec![
                ("paths".into(), Val::strs(["."])),
                ("ignore".into(), Val::strs(["node_modules"])),
            ]))
        );
        assert!(read_json(dir.path(), r#"{"apps": [{"name": "a"}]}"#).is_err());
        assert!(read_json(dir.path(), r#"{"apps": []}"#).is_err());
        assert!(read_json(
            dir.path(),
            r#"{"apps": [{"script": "a"}, {"script": "a.js"}]}"#
        )
        .is_err());
    }
}
