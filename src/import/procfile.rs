//! A Heroku/foreman `Procfile`: `name: command` lines, run by a shell, with the `.env`
//! beside it as their environment.

use super::draft::{service_name, Draft, Svc, Val};
use super::{lit, Cx, ImportError};

/// The port foreman gives the first process type; each next type gets 100 more.
const FOREMAN_PORT: u32 = 5000;

/// One `name: command` line, if `line` is one.
fn entry(line: &str) -> Option<(&str, &str)> {
    let (name, cmd) = line.split_once(':')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (valid && !cmd.trim().is_empty()).then(|| (name, cmd.trim()))
}

/// Whether every line of `text` that is not blank or a comment is a `name: command` line.
pub(super) fn looks_like(text: &str) -> bool {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    lines.peek().is_some() && lines.all(|l| entry(l).is_some())
}

pub(super) fn read(cx: &Cx, text: &str) -> Result<Draft, ImportError> {
    let mut draft = Draft::default();
    let env_file = cx.resolve(".env");
    let mut dotenv: Vec<(String, String)> = Vec::new();
    let mut use_env_file = false;
    if env_file.is_file() {
        match dotenvy::from_path_iter(&env_file).and_then(Iterator::collect) {
            Ok(pairs) => {
                dotenv = pairs;
                use_env_file = true;
            }
            Err(e) => draft.skip(format!(".env (proctor cannot read it: {e})")),
        }
    }
    let mut index = 0u32;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, cmd)) = entry(line) else {
            draft.skip(format!(
                "line {}: {line:?} (not a `name: command` line)",
                n + 1
            ));
            continue;
        };
        let Some(name) = service_name(name) else {
            draft.skip(format!(
                "line {}: {name:?} (not usable as a service name)",
                n + 1
            ));
            continue;
        };
        if draft.services.iter().any(|s| s.name == name) {
            return Err(cx.error(n + 1, format!("process type {name:?} is declared twice")));
        }
        let mut svc = Svc::new(name);
        svc.set("command", Val::str(lit(cmd)));
        svc.set("shell", Val::Bool(true));
        if use_env_file {
            svc.set("env_file", Val::strs([cx.rebase(".env")]));
        }
        let wants_port = cmd.contains("$PORT") || cmd.contains("${PORT}");
        if wants_port && !dotenv.iter().any(|(k, _)| k == "PORT") {
            let port = FOREMAN_PORT + 100 * index;
            svc.comments.push(format!(
                "PORT = {port}: the port foreman would give this process type"
            ));
            svc.set(
                "env",
                Val::Table(vec![("PORT".into(), Val::str(port.to_string()))]),
            );
        }
        if svc.name == "release" {
            svc.comments.push(
                "Heroku's release phase: run it when you deploy, `proctor start release`".into(),
            );
            svc.set("autostart", Val::Bool(false));
            svc.set("restart", Val::str("no"));
        }
        index += 1;
        draft.services.push(svc);
    }
    if draft.services.is_empty() {
        return Err(cx.error(0, "no `name: command` lines: nothing to import"));
    }
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(dir: &std::path::Path) -> Cx {
        Cx {
            path: dir.join("Procfile"),
            src_dir: dir.to_path_buf(),
            out_dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn lines_comments_ports_and_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "# the app\nweb: bundle exec puma -p $PORT\n\nworker:  sidekiq -q a:b\nnot a line\nweb2: ./x --port=${PORT}\n";
        let d = read(&cx(dir.path()), text).expect("read");
        let names: Vec<&str> = d.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web", "worker", "web2"]);
        assert_eq!(d.services[1].keys[0].1, Val::str("sidekiq -q a:b"));
        assert!(d.services[0].keys.contains(&(
            "env".into(),
            Val::Table(vec![("PORT".into(), Val::str("5000"))])
        )));
        // foreman counts every process type, those without $PORT too.
        assert!(d.services[2].keys.contains(&(
            "env".into(),
            Val::Table(vec![("PORT".into(), Val::str("5200"))])
        )));
        assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
        assert!(d.skipped[0].starts_with("line 5:"));
    }

    #[test]
    fn dotenv_becomes_env_file_and_its_port_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".env"), "PORT=8000\nA=\"x y\"\n").expect("write");
        let d = read(&cx(dir.path()), "web: ./serve $PORT\n").expect("read");
        let svc = &d.services[0];
        assert!(svc.has("env_file"));
        assert!(!svc.has("env"));
    }

    #[test]
    fn duplicates_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = read(&cx(dir.path()), "a: x\na: y\n").expect_err("dup");
        assert!(
            e.to_string()
                .ends_with("Procfile:2: process type \"a\" is declared twice"),
            "{e}"
        );
        assert!(read(&cx(dir.path()), "# nothing\n").is_err());
        assert!(looks_like("web: x\n# c\nworker: y"));
        assert!(!looks_like("web: x\n[section]"));
    }
}
