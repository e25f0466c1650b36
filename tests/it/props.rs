//! Property tests for the three readers of untrusted input (issue 15): the spec parser, the
//! control protocol decoders and the lock record reader. Whatever the bytes, each gives a
//! value or an error, never a panic, and an error says where the input went wrong.
//!
//! Inputs come two ways: arbitrary bytes, and near-valid documents assembled from the
//! grammar's own pieces, so the properties reach validation and not only the tokenizer.
//! The cargo-fuzz targets in `fuzz/` drive the same readers with coverage guidance.

use std::path::Path;

use proctor::control::proto::{self, Body, Response};
use proctor::lock::{parse_record, OnDisk};
use proctor::spec::Spec;
use proptest::prelude::*;

const SPEC: &str = "/tmp/props/proctor.toml";

/// Every error of a rejected spec names the file and a 1-based line and column inside it.
fn assert_spec_errors_locate(text: &str) {
    let Err(errors) = Spec::parse_str(text, Path::new(SPEC)) else {
        return;
    };
    assert!(
        !errors.0.is_empty(),
        "a rejection without errors for {text:?}"
    );
    let lines = text.split('\n').count();
    for e in &errors.0 {
        assert_eq!(e.file, Path::new(SPEC), "{e}");
        assert!(
            e.line >= 1 && e.col >= 1,
            "error without a position: {e} (for {text:?})"
        );
        assert!(
            e.line <= lines + 1,
            "line {} is past the end ({lines} lines): {e}",
            e.line
        );
        assert!(
            !e.message.trim().is_empty(),
            "an empty message for {text:?}"
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{SPEC}:{}:{}", e.line, e.col)),
            "{shown}"
        );
    }
}

/// Keys a service table knows, and a few it does not.
const SERVICE_KEYS: &[&str] = &[
    "command",
    "shell",
    "env",
    "env_file",
    "cwd",
    "restart",
    "backoff",
    "start_limit",
    "stop_signal",
    "stop_timeout",
    "ready",
    "live",
    "depends_on",
    "autostart",
    "backend",
    "image",
    "ports",
    "volumes",
    "user",
    "storage",
    "memory_max",
    "cpu_max",
    "pids_max",
    "io_weight",
    "restart_on_memory",
    "log",
    "roles",
    "unknown_key",
];

/// Values of every TOML shape, valid for some keys and wrong for others.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("\"sleep 5\"".to_string()),
        Just("[\"sleep\", \"5\"]".to_string()),
        Just("[]".to_string()),
        Just("\"\"".to_string()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("18446744073709551615".to_string()),
        Just("1.5".to_string()),
        Just("\"1s\"".to_string()),
        Just("\"forever\"".to_string()),
        Just("\"always\"".to_string()),
        Just("\"SIGKILL\"".to_string()),
        Just("\"512M\"".to_string()),
        Just("\"50%\"".to_string()),
        Just("\"127.0.0.1:0\"".to_string()),
        Just("\"http://[::1\"".to_string()),
        Just("\"a\\u0000b\"".to_string()),
        Just("\"tmux\"".to_string()),
        Just("\"container\"".to_string()),
        Just("\"ready\"".to_string()),
        Just("\"../../etc/passwd\"".to_string()),
        "\"[ -~]{0,12}\"".prop_map(|s| s.replace('\\', "/")),
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "tcp", "http", "exec", "log", "notify", "interval", "deadline",
                            "initial", "max", "factor", "burst", "status", "failures", "web", "db",
                            "x",
                        ][..]
                    ),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| {
                let fields: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", fields.join(", "))
            }),
        ]
    })
}

/// A spec assembled from sections, keys and values, some of them wrong.
fn near_valid_spec() -> impl Strategy<Value = String> {
    let service = (
        prop::sample::select(&["web", "db", "worker", "bad name", "a.b", "", "web"][..]),
        prop::collection::vec((prop::sample::select(SERVICE_KEYS), value()), 0..6),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(name, keys, command)| {
            // Most services get a good command, so the other keys' checks are reached.
            let mut s = format!("[service.{name:?}]\n");
            if command {
                s.push_str("command = [\"sleep\", \"5\"]\n");
            }
            for (k, v) in keys {
                if !(command && k == "command") {
                    s.push_str(&format!("{k} = {v}\n"));
                }
            }
            s
        });
    let project = prop::collection::vec(
        (
            prop::sample::select(
                &[
                    "name",
                    "roles",
                    "state_dir",
                    "env_file",
                    "stop_timeout",
                    "nope",
                ][..],
            ),
            value(),
        ),
        0..3,
    )
    .prop_map(|keys| {
        let mut s = String::from("[project]\n");
        for (k, v) in keys {
            s.push_str(&format!("{k} = {v}\n"));
        }
        s
    });
    (
        prop::option::of(project),
        prop::collection::vec(service, 0..4),
    )
        .prop_map(|(p, services)| {
            let mut text = p.unwrap_or_default();
            text.push_str(&services.concat());
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn spec_parser_locates_every_error_in_arbitrary_text(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_spec_errors_locate(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn spec_parser_locates_every_error_in_near_valid_specs(text in near_valid_spec()) {
        assert_spec_errors_locate(&text);
    }

    #[test]
    fn spec_parser_survives_a_valid_spec_cut_anywhere(cut in 0usize..400, flip in any::<(usize, u8)>()) {
        let valid = include_str!("../../examples/demo/proctor.toml");
        let mut bytes = valid.as_bytes()[..cut.min(valid.len())].to_vec();
        if !bytes.is_empty() {
            let at = flip.0 % bytes.len();
            bytes[at] = flip.1;
        }
        assert_spec_errors_locate(&String::from_utf8_lossy(&bytes));
    }
}

/// A rejected request is answered with a code and a message that says what was wrong.
fn assert_request_decodes_or_explains(line: &[u8]) {
    if let Err(response) = proto::decode_request(line) {
        match &response.body {
            Body::Error(e) => {
                assert!(
                    !e.message.trim().is_empty(),
                    "an empty message for {line:?}"
                );
                assert!(!e.code.as_str().is_empty());
            }
            other => panic!("a rejection that is not an error: {other:?}"),
        }
        // The rejection itself must go back on the wire as one JSON line.
        let wire = proto::encode(&*response);
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Response = serde_json::from_slice(&wire).expect("the error response decodes");
        assert_eq!(back.id, response.id);
    }
}

/// Request lines of the protocol's shape with fields of the wrong types and values.
fn near_valid_request() -> impl Strategy<Value = Vec<u8>> {
    let json = prop_oneof![
        Just(serde_json::json!(null)),
        Just(serde_json::json!(1)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1u64 << 63)),
        Just(serde_json::json!("web")),
        Just(serde_json::json!(["web", "db"])),
        Just(serde_json::json!([1, 2])),
        Just(serde_json::json!({})),
        Just(serde_json::json!({"timeout_ms": 5})),
        Just(serde_json::json!(true)),
        Just(serde_json::json!(1.5)),
    ];
    let cmd = prop::sample::select(
        &[
            "status", "up", "start", "stop", "restart", "wait", "down", "follow", "events", "run",
            "rm", "reload", "signal", "hello", "nope", "",
        ][..],
    );
    let field = prop::sample::select(
        &[
            "names",
            "services",
            "signal",
            "timeout_ms",
            "role",
            "lines",
            "follow",
            "service",
            "all",
            "x",
        ][..],
    );
    (
        prop::option::of(json.clone()),
        prop::option::of(json.clone()),
        prop::option::of(cmd),
        prop::collection::vec((field, json), 0..4),
    )
        .prop_map(|(v, id, cmd, fields)| {
            let mut obj = serde_json::Map::new();
            if let Some(v) = v {
                obj.insert("v".into(), v);
            }
            if let Some(id) = id {
                obj.insert("id".into(), id);
            }
            if let Some(cmd) = cmd {
                obj.insert("cmd".into(), cmd.into());
            }
            for (k, val) in fields {
                obj.insert(k.into(), val);
            }
            serde_json::to_vec(&obj).expect("a map serializes")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn control_decoder_answers_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_request_decodes_or_explains(&bytes);
    }

    #[test]
    fn control_decoder_answers_near_valid_requests(line in near_valid_request(), v1 in any::<bool>()) {
        let mut line = line;
        if v1 {
            // The version the supervisor speaks, so decoding reaches the command itself.
            let mut value: serde_json::Value = serde_json::from_slice(&line).expect("built above");
            value["v"] = proto::VERSION.into();
            line = serde_json::to_vec(&value).expect("a map serializes");
        }
        assert_request_decodes_or_explains(&line);
    }

    #[test]
    fn control_client_reads_arbitrary_responses_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // The client's reader: a value or a serde error naming line and column.
        if let Err(e) = serde_json::from_slice::<Response>(&bytes) {
            prop_assert!(e.to_string().contains("line "), "{e}");
        }
    }
}

/// A lock file's bytes read as absent, released, held or corrupt; corruption says where.
fn assert_record_reads(bytes: &[u8]) {
    if let OnDisk::Corrupt(why) = parse_record(bytes) {
        assert!(
            why.contains("line ") && why.contains("column "),
            "corruption without a position: {why}"
        );
    }
}

fn record_json() -> impl Strategy<Value = String> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        "[a-z0-9.-]{0,20}",
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(schema, pid, pgid, start, host, sup_start)| {
            let mut v = serde_json::json!({
                "schema_version": schema, "pid": pid, "pgid": pgid, "start_time": start,
                "hostname": host, "started_at": "2026-12-02T01:00:00Z", "supervisor_pid": pid,
            });
            if let Some(s) = sup_start {
                v["supervisor_start_time"] = s.into();
            }
            v.to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lock_reader_reads_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_record_reads(&bytes);
    }

    #[test]
    fn lock_reader_reads_a_whole_record_back(json in record_json()) {
        prop_assert!(matches!(parse_record(json.as_bytes()), OnDisk::Held(_)), "{json}");
    }

    #[test]
    fn lock_reader_reads_a_torn_record(json in record_json(), cut in any::<prop::sample::Index>(), flip in prop::option::of((any::<prop::sample::Index>(), any::<u8>()))) {
        let mut bytes = json.into_bytes();
        bytes.truncate(cut.index(bytes.len() + 1));
        if let (Some((at, b)), false) = (flip, bytes.is_empty()) {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        assert_record_reads(&bytes);
    }
}
