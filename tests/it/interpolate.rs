//! Issue 19: `${VAR}` interpolation with compose's rules, `.env` and `[project] env_file`,
//! templates with `extends`, and `validate --print` / `--json`.

use crate::support::{stderr, TestContext};

/// `validate` of `spec`, with `vars` in the environment: (success, stdout, stderr).
fn validate(ctx: &TestContext, args: &[&str], vars: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = ctx.cmd();
    cmd.arg("validate").args(args);
    // What these specs read must come from the test alone, not from the shell that runs it
    // (`NAME` is set in many).
    for k in [
        "NAME", "GREETING", "EMPTY", "UNSET", "SUBDIR", "EXTRA", "MODE", "TOKEN", "B",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run proctor");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

#[test]
fn each_form_is_resolved_from_the_environment_and_dot_env() {
    let ctx = TestContext::new(
        r#"
[project]
env_file = "extra.env"

[service.app]
command = ["sh", "-c", "echo ${GREETING} ${NAME:-world} ${EMPTY:-dflt} ${EMPTY-kept} ${UNSET-unset} ${GREETING:+alt} $$HOME $HOME"]
cwd = "${SUBDIR}"
env = { MODE = "${MODE:?MODE must say which}", FROM_EXTRA = "${EXTRA}" }
"#,
    );
    std::fs::create_dir(ctx.dir.path().join("sub")).expect("mkdir");
    std::fs::write(
        ctx.dir.path().join(".env"),
        "GREETING=hello\nSUBDIR=sub\nEXTRA=dotenv\n",
    )
    .expect("write .env");
    std::fs::write(
        ctx.dir.path().join("extra.env"),
        "EXTRA=extra\nMODE=from-file\n",
    )
    .expect("write extra.env");
    // The process environment wins over both files.
    let (ok, out, err) = validate(&ctx, &["--print"], &[("MODE", "prod"), ("EMPTY", "")]);
    assert!(ok, "{err}");
    assert!(
        out.contains(r#""echo hello world dflt  unset alt $HOME $HOME""#),
        "{out}"
    );
    assert!(out.contains(r#"MODE = "prod""#), "{out}");
    assert!(out.contains(r#"FROM_EXTRA = "extra""#), "{out}");
    assert!(out.contains("cwd = \"sub\""), "{out}");

    // The resolved spec reads back as a valid spec.
    let resolved = ctx.dir.path().join("resolved.toml");
    std::fs::write(&resolved, &out).expect("write");
    let out = ctx.run(&["--file", resolved.to_str().expect("utf-8"), "validate"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_required_variable_that_is_missing_is_an_error_at_its_place() {
    let ctx = TestContext::new(
        "[service.app]\ncommand = [\"run\", \"--token=${TOKEN:?set TOKEN to the API token}\"]\nenv = { A = \"${B\" }\n",
    );
    let (ok, _, err) = validate(&ctx, &[], &[]);
    assert!(!ok);
    assert!(
        err.contains("proctor.toml:2:28: variable TOKEN is not set: set TOKEN to the API token"),
        "{err}"
    );
    assert!(
        err.contains("proctor.toml:3:14: `${` is not closed by `}`"),
        "{err}"
    );

    // The same errors as JSON, in the documented shape.
    let (ok, out, _) = validate(&ctx, &["--json"], &[]);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ok"], false);
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{v}");
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[0]["col"], 28);
    assert!(errors[0]["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("proctor.toml")));

    let (ok, out, err) = validate(&ctx, &["--json"], &[("TOKEN", "t")]);
    assert!(!ok, "{out}{err}");
    std::fs::write(
        ctx.spec_path(),
        "[service.app]\ncommand = [\"run\", \"--token=${TOKEN:?}\"]\n",
    )
    .expect("write");
    let (ok, out, _) = validate(&ctx, &["--json"], &[("TOKEN", "t")]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["services"], serde_json::json!(["app"]));
}

#[test]
fn templates_are_merged_under_the_services_that_extend_them() {
    let ctx = TestContext::new(
        r#"
[template.base]
restart = "always"
env = { LEVEL = "info", REGION = "eu" }

[template.worker]
extends = "base"
command = ["sh", "-c", "exec sleep 100"]
stop_timeout = "2s"

[service.w1]
extends = "worker"
env = { LEVEL = "debug" }

[service.w2]
extends = "worker"
command = ["sleep", "200"]
"#,
    );
    let (ok, out, err) = validate(&ctx, &["--print"], &[]);
    assert!(ok, "{err}");
    let doc: toml::Table = out.parse().expect("toml");
    let w1 = &doc["service"]["w1"];
    assert_eq!(w1["env"]["LEVEL"].as_str(), Some("debug"));
    assert_eq!(w1["env"]["REGION"].as_str(), Some("eu"));
    assert_eq!(w1["restart"].as_str(), Some("always"));
    assert_eq!(w1["stop_timeout"].as_str(), Some("2s"));
    let w2 = &doc["service"]["w2"];
    assert_eq!(w2["command"].as_array().map(Vec::len), Some(2));

    // A mistake in a template is reported where the template says it.
    ctx.write_spec(
        "[template.t]\nrestart = \"sometimes\"\n\n[service.a]\nextends = \"t\"\ncommand = [\"x\"]\n\n[service.b]\nextends = \"tt\"\ncommand = [\"x\"]\n",
    );
    let (ok, _, err) = validate(&ctx, &[], &[]);
    assert!(!ok);
    assert!(err.contains("proctor.toml:2:11:"), "{err}");
    assert!(
        err.contains("proctor.toml:9:11: `extends` names template `tt`, which is not declared"),
        "{err}"
    );
    assert!(err.contains("did you mean `t`?"), "{err}");
}

#[test]
fn a_variable_that_is_not_utf8_does_not_break_reading_the_spec() {
    use std::os::unix::ffi::OsStrExt;
    let ctx = TestContext::new("[service.app]\ncommand = [\"echo\", \"${GREETING:-hi}\"]\n");
    // The environment may hold bytes that are not UTF-8 (a Latin-1 locale's file name);
    // a spec that does not name that variable must read as if it were not there.
    let out = ctx
        .cmd()
        .args(["validate", "--print"])
        .env(
            "PROCTOR_TEST_LATIN1",
            std::ffi::OsStr::from_bytes(b"caf\xe9"),
        )
        .env_remove("GREETING")
        .output()
        .expect("run proctor");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""hi""#));
}
