//! The pod of an exported service: its container, probes, init containers, volumes,
//! limits and placement, with a warning for each setting a pod cannot hold.

use serde_json::{json, Value};

use super::kube::{object, Kube};
use super::{image, seconds, signal_name, ExportError, Warnings};
use crate::spec::{
    Autostart, Backend, Backoff, Condition, LogSettings, PortMap, Probe, ProbeKind, Signal,
    StartLimit, Storage,
};

/// A pod template's `spec`, and the claims its volumes name.
pub(super) struct Pod {
    pub spec: Value,
    pub claims: Vec<String>,
}

pub(super) fn pod(k: &Kube<'_>, w: &mut Warnings) -> Result<Pod, ExportError> {
    let s = k.s;
    let image = image(k.spec, s)?;
    let mut c = json!({"name": k.name, "image": image});
    match &s.backend {
        // A container's command overrides its image's CMD, as the container backend does.
        Backend::Container(_) if !s.command.is_empty() => c["args"] = json!(s.command),
        Backend::Container(_) => {}
        Backend::Process | Backend::Tmux => c["command"] = json!(s.command),
    }
    if matches!(s.backend, Backend::Tmux) {
        w.service(
            &s.name,
            "tmux: runs as the container's process; there is no session to attach to",
        );
    }
    if s.cwd != k.spec.dir {
        c["workingDir"] = json!(s.cwd.display().to_string());
    }
    if !s.env.is_empty() {
        c["envFrom"] = json!([{"configMapRef": {"name": format!("{}-env", k.name)}}]);
    }
    let mut pod = json!({
        "terminationGracePeriodSeconds": seconds(s.stop_timeout),
    });
    let mut claims = Vec::new();
    volumes(k, &mut c, &mut pod, &mut claims, w);
    ports(k, &mut c);
    probes(k, &mut c, w);
    if s.stop_signal != Signal::TERM {
        // The kubelet stops with the image's STOPSIGNAL (TERM); the hook sends the spec's
        // signal first and waits for PID 1 to go, within the grace period.
        let sig = signal_name(s.stop_signal);
        c["lifecycle"] = json!({"preStop": {"exec": {"command": [
            "/bin/sh", "-c",
            format!("kill -s {sig} 1; while kill -0 1 2>/dev/null; do sleep 1; done"),
        ]}}});
        w.service(
            &s.name,
            format!("stop_signal {sig}: sent by a preStop hook that runs /bin/sh in the image"),
        );
    }
    identity(k, &mut c, &mut pod, w);
    placement(k, &mut pod);
    let inits = init_containers(k, image, w);
    if !inits.is_empty() {
        pod["initContainers"] = json!(inits);
    }
    restart_warnings(k, w);
    pod["containers"] = json!([c]);
    Ok(Pod { spec: pod, claims })
}

fn volumes(
    k: &Kube<'_>,
    c: &mut Value,
    pod: &mut Value,
    claims: &mut Vec<String>,
    w: &mut Warnings,
) {
    let s = k.s;
    let mut vols = Vec::new();
    let mut mounts = Vec::new();
    if let Some(dir) = k.state_dir() {
        c["env"] = json!([{"name": "PROCTOR_STATE_DIR", "value": dir}]);
        mounts.push(json!({"name": "state", "mountPath": dir}));
        // A StatefulSet's claim template supplies the volume `state`.
        if !k.state_is_claim() {
            vols.push(json!({"name": "state", "emptyDir": {}}));
        }
        if let Some(Storage::Persistent {
            keep_on_exit: false,
            ..
        }) = &s.storage
        {
            w.service(
                &s.name,
                "storage.keep_on_exit = false: the claim outlives the pod",
            );
        }
    }
    if let Backend::Container(cs) = &s.backend {
        for (i, v) in cs.volumes.iter().enumerate() {
            let mut parts = v.splitn(3, ':');
            let (Some(host), Some(path)) = (parts.next(), parts.next()) else {
                continue;
            };
            let ro = parts
                .next()
                .is_some_and(|o| o.split(',').any(|o| o == "ro"));
            let name = format!("vol-{i}");
            if host.starts_with('/') {
                w.service(
                    &s.name,
                    format!("volume {host}: a hostPath ties the pod to one node's files"),
                );
                vols.push(json!({"name": name, "hostPath": {"path": host}}));
            } else {
                let claim = super::dns_label(&format!("{}-{host}", k.name));
                vols.push(json!({"name": name, "persistentVolumeClaim": {"claimName": claim}}));
                claims.push(claim);
            }
            let mut m = json!({"name": name, "mountPath": path});
            if ro {
                m["readOnly"] = json!(true);
            }
            mounts.push(m);
        }
        if cs.container_name.is_some() {
            w.service(
                &s.name,
                "container_name: pods name their containers themselves",
            );
        }
    }
    if !mounts.is_empty() {
        c["volumeMounts"] = json!(mounts);
    }
    if !vols.is_empty() {
        pod["volumes"] = json!(vols);
    }
}

fn ports(k: &Kube<'_>, c: &mut Value) {
    let mut out = Vec::new();
    for p in k.s.ports() {
        // Service::validate refuses these on process services; a container's odd forms
        // (ranges) are reported once, by the Service object.
        let Some(m) = PortMap::parse(p) else { continue };
        let mut port = json!({"containerPort": m.container});
        if let Some(h) = m.host {
            // So `podman kube play` publishes it, as `ports` does for proctor.
            port["hostPort"] = json!(h);
        }
        if let Some(ip) = m.host_ip {
            port["hostIP"] = json!(ip);
        }
        if m.udp {
            port["protocol"] = json!("UDP");
        }
        out.push(port);
    }
    if !out.is_empty() {
        c["ports"] = json!(out);
    }
}

/// The handler of a probe (`tcpSocket`, `httpGet`, `exec`), or why there is none.
fn handler(kind: &ProbeKind) -> Result<(Value, Option<String>), String> {
    match kind {
        ProbeKind::Tcp(addr) => {
            let (host, port) = addr.rsplit_once(':').ok_or("no port")?;
            let port: u16 = port.parse().map_err(|_| format!("bad port in {addr:?}"))?;
            Ok((json!({"tcpSocket": {"port": port}}), local_note(host)))
        }
        ProbeKind::Http { url, status } => {
            let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
            let (authority, path) = rest
                .find('/')
                .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    p.parse::<u16>()
                        .map_err(|_| format!("bad port in {url:?}"))?,
                ),
                None => (authority, 80),
            };
            let codes = (!status.is_empty()).then(|| {
                format!("the kubelet accepts any status from 200 to 399, not only {status:?}")
            });
            let note = match (local_note(host), codes) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            Ok((
                json!({"httpGet": {"path": path, "port": port, "scheme": "HTTP"}}),
                note,
            ))
        }
        ProbeKind::Exec(argv) => Ok((json!({"exec": {"command": argv}}), None)),
        ProbeKind::Unix(p) => Err(format!(
            "unix socket {}: the kubelet cannot connect to one",
            p.display()
        )),
        ProbeKind::Log(_) => Err("log: the kubelet cannot watch a container's output".into()),
        ProbeKind::Notify => Err("notify: a pod has no NOTIFY_SOCKET".into()),
    }
}

fn local_note(host: &str) -> Option<String> {
    // The kubelet probes the pod's address, which a service bound to all of them (or
    // reached at loopback by proctor) answers on too.
    let local =
        matches!(host, "localhost" | "0.0.0.0" | "[::1]" | "[::]") || host.starts_with("127.");
    (!local).then(|| format!("host {host}: the kubelet probes the pod's own address"))
}

fn probes(k: &Kube<'_>, c: &mut Value, w: &mut Warnings) {
    let name = &k.s.name;
    let timing = |key: &str, p: &Probe, w: &mut Warnings| {
        let (mut v, note) = match handler(&p.kind) {
            Ok(h) => h,
            Err(why) => {
                w.service(name, format!("{key} probe left out: {why}"));
                return None;
            }
        };
        if let Some(n) = note {
            w.service(name, format!("{key} probe: {n}"));
        }
        for (what, d) in [("interval", p.interval), ("timeout", p.timeout)] {
            if d.subsec_nanos() > 0 {
                w.service(name, format!("{key}.{what} rounds up to {}s", seconds(d)));
            }
        }
        v["periodSeconds"] = json!(seconds(p.interval).max(1));
        v["timeoutSeconds"] = json!(seconds(p.timeout).max(1));
        Some(v)
    };
    if let Some(p) = &k.s.ready {
        if let Some(v) = timing("ready", p, w) {
            c["readinessProbe"] = v.clone();
            // `deadline`: give up on readiness after this long → a startup probe whose
            // failures add up to it; the kubelet then restarts the container.
            let mut startup = v;
            let period = seconds(p.interval).max(1);
            startup["failureThreshold"] = json!(seconds(p.deadline).div_ceil(period).max(1));
            if !p.initial_delay.is_zero() {
                startup["initialDelaySeconds"] = json!(seconds(p.initial_delay));
            }
            c["startupProbe"] = startup;
        }
    }
    if let Some(p) = &k.s.live {
        if let Some(mut v) = timing("live", p, w) {
            v["failureThreshold"] = json!(p.failures.max(1));
            if !p.initial_delay.is_zero() {
                v["initialDelaySeconds"] = json!(seconds(p.initial_delay));
            }
            c["livenessProbe"] = v;
        }
        if p.watchdog.is_some() {
            w.service(name, "live.watchdog: a pod has no watchdog");
        }
    }
}

/// `depends_on` as init containers that wait until the dependency's Service accepts a
/// connection: a Service routes only to ready pods, so that is `condition = "ready"`.
fn init_containers(k: &Kube<'_>, image: &str, w: &mut Warnings) -> Vec<Value> {
    let mut out = Vec::new();
    for d in &k.s.depends_on {
        let Some(dep) = k.spec.service(&d.name) else {
            continue;
        };
        let target = &k.names[&dep.name];
        if d.condition == Condition::Completed {
            w.service(
                &k.s.name,
                format!(
                    "depends_on {} = completed: a pod cannot wait for a Job; not enforced",
                    d.name
                ),
            );
            continue;
        }
        let Some(port) = dep
            .ports()
            .iter()
            .find_map(|p| PortMap::parse(p))
            .filter(|p| !p.udp)
        else {
            w.service(
                &k.s.name,
                format!(
                    "depends_on {}: it declares no tcp `ports` to wait on; not enforced",
                    d.name
                ),
            );
            continue;
        };
        if d.condition == Condition::Started {
            w.service(
                &k.s.name,
                format!(
                    "depends_on {} = started: waits for it to be ready (its Service answers)",
                    d.name
                ),
            );
        }
        out.push(json!({
            "name": format!("wait-{target}"),
            "image": image,
            "command": [
                "/bin/sh", "-c",
                format!("until nc -w 1 {target} {} </dev/null >/dev/null 2>&1; do sleep 1; done", port.container),
            ],
        }));
    }
    out
}

fn identity(k: &Kube<'_>, c: &mut Value, pod: &mut Value, w: &mut Warnings) {
    let (s, id) = (k.s, &k.s.identity);
    let numeric = |what: &str, v: &Option<String>, w: &mut Warnings| -> Option<u64> {
        let v = v.as_ref()?;
        let n = v.parse::<u64>().ok();
        if n.is_none() {
            w.service(
                &s.name,
                format!("{what} {v:?}: a pod takes numeric ids only; left out"),
            );
        }
        n
    };
    let mut sc = Vec::new();
    if let Some(u) = numeric("user", &id.user, w) {
        sc.push(("runAsUser", json!(u)));
    }
    if let Some(g) = numeric("group", &id.group, w) {
        sc.push(("runAsGroup", json!(g)));
    }
    if !sc.is_empty() {
        c["securityContext"] = object(sc);
    }
    let groups: Vec<u64> = id
        .supplementary_groups
        .iter()
        .filter_map(|g| numeric("supplementary group", &Some(g.clone()), w))
        .collect();
    if !groups.is_empty() {
        pod["securityContext"] = json!({"supplementalGroups": groups});
    }
    let mut limits = Vec::new();
    if let Some(m) = id.memory_max {
        limits.push(("memory", json!(m.to_string())));
    }
    if let Some(pct) = id.cpu_max {
        limits.push(("cpu", json!(format!("{}m", u64::from(pct) * 10))));
    }
    if !limits.is_empty() {
        c["resources"] = json!({"limits": object(limits)});
    }
    let lost = [
        ("umask", id.umask.is_some()),
        ("nice", id.nice.is_some()),
        ("rlimits", !id.rlimits.is_empty()),
        ("pids_max", id.pids_max.is_some()),
        ("io_weight", id.io_weight.is_some()),
        ("restart_on_memory", id.restart_on_memory.is_some()),
    ];
    for (key, set) in lost {
        if set {
            w.service(
                &s.name,
                format!("{key}: a pod spec has no such setting; left out"),
            );
        }
    }
}

/// `autostart = ["role"]` → the pod runs only on nodes labelled `proctor/role-ROLE=true`
/// (any of them, when several).
fn placement(k: &Kube<'_>, pod: &mut Value) {
    let Autostart::Roles(roles) = &k.s.autostart else {
        return;
    };
    let label = |r: &str| format!("proctor/role-{r}");
    match roles.as_slice() {
        [] => {}
        [one] => pod["nodeSelector"] = json!({label(one): "true"}),
        many => {
            let terms: Vec<Value> = many
                .iter()
                .map(|r| json!({"matchExpressions": [{"key": label(r), "operator": "In", "values": ["true"]}]}))
                .collect();
            pod["affinity"] = json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }});
        }
    }
}

fn restart_warnings(k: &Kube<'_>, w: &mut Warnings) {
    let s = k.s;
    if s.restart == crate::spec::RestartPolicy::OnFailure && s.schedule.is_none() {
        w.service(
            &s.name,
            "restart = on-failure: a Deployment restarts its pod after any exit",
        );
    }
    if s.backoff != Backoff::default() || s.start_limit != StartLimit::default() {
        w.service(
            &s.name,
            "backoff, start_limit: the kubelet's own crash backoff applies (10s doubling to 5m)",
        );
    }
    if s.logs != LogSettings::default() {
        w.service(&s.name, "logs: the kubelet rotates container logs itself");
    }
    if !s.reload_on.is_empty() || s.reload_signal.is_some() {
        w.service(
            &s.name,
            "reload_on, reload_signal: nothing watches files in a pod; left out",
        );
    }
    if s.watch.is_some() {
        w.service(&s.name, "watch: nothing watches files in a pod; left out");
    }
}

#[cfg(test)]
mod tests {
    use super::handler;
    use crate::spec::ProbeKind;

    #[test]
    fn probe_handlers() {
        let http = ProbeKind::Http {
            url: "http://db:8080/health?x=1".into(),
            status: vec![204],
        };
        let (v, note) = handler(&http).expect("http");
        assert_eq!(v["httpGet"]["port"], 8080);
        assert_eq!(v["httpGet"]["path"], "/health?x=1");
        let note = note.expect("a note");
        assert!(note.contains("host db") && note.contains("[204]"), "{note}");
        let (v, note) = handler(&ProbeKind::Tcp("0.0.0.0:53".into())).expect("tcp");
        assert_eq!((v["tcpSocket"]["port"].as_u64(), note), (Some(53), None));
        let (v, _) = handler(&ProbeKind::Http {
            url: "http://localhost".into(),
            status: vec![],
        })
        .expect("no port");
        assert_eq!(
            (v["httpGet"]["port"].as_u64(), v["httpGet"]["path"].as_str()),
            (Some(80), Some("/"))
        );
        assert!(handler(&ProbeKind::Notify).is_err());
    }
}
