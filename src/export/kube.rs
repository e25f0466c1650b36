//! `proctor export kube`: per service a workload (Deployment, StatefulSet or Job), a
//! Service for its ports, a ConfigMap for its environment and a claim per named volume.
//!
//! The pod itself (container, probes, init containers, limits) is `kube_pod`'s;
//! this file decides which objects a service becomes and how they are named and labelled.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::kube_pod::{self, Pod};
use super::{ordered, target_names, yaml, Export, ExportError, File, Options, Warnings};
use crate::spec::{Autostart, PortMap, RestartPolicy, Schedule, Service, Spec, Storage};

/// The Kubernetes version whose API the objects follow (`apps/v1`, `batch/v1`, `v1`),
/// and whose OpenAPI schema the tests validate them against.
pub const KUBERNETES_VERSION: &str = "1.30";

/// The podman annotation that keeps init containers (see [`Kube::workload`]).
const INIT_TYPE: &str = "io.podman.annotations.init.container.type";

/// Where a StatefulSet's claim is mounted when the service declares no storage path.
const STATE_DIR: &str = "/var/lib/proctor/state";

/// The project as Kubernetes objects.
pub fn kube(spec: &Spec, opts: &Options) -> Result<Export, ExportError> {
    let mut w = Warnings::default();
    let (folded, counts) = super::groups::fold(spec, &mut w);
    let spec = &folded;
    for name in &opts.stateful {
        if spec.service(name).is_none() {
            return Err(ExportError::UnknownService(name.clone()));
        }
    }
    let names = target_names(spec, &opts.name_prefix, &mut w)?;
    let mut objects: Vec<(String, Value)> = Vec::new();
    for s in ordered(spec) {
        let k = Kube {
            spec,
            opts,
            names: &names,
            s,
            name: &names[&s.name],
            replicas: counts.get(&s.name).copied().unwrap_or(1),
        };
        k.objects(&mut objects, &mut w)?;
    }
    let mut out = Export {
        warnings: w.0,
        ..Export::default()
    };
    for (file, obj) in objects {
        let text = yaml::to_string(&obj);
        out.stream.push_str("---\n");
        out.stream.push_str(&text);
        out.files.push(File { name: file, text });
    }
    Ok(out)
}

/// One service being exported, with what every object of it needs.
pub(super) struct Kube<'a> {
    pub spec: &'a Spec,
    pub opts: &'a Options,
    /// Every service's object name.
    pub names: &'a BTreeMap<String, String>,
    pub s: &'a Service,
    /// This service's object name.
    pub name: &'a str,
    /// How many copies run (`replicas`; 1 without).
    pub replicas: u32,
}

impl Kube<'_> {
    /// The labels every object of the service carries; the first two select its pods.
    fn labels(&self) -> Value {
        json!({
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/part-of": self.spec.project.name,
            "app.kubernetes.io/managed-by": "proctor",
        })
    }

    fn selector(&self) -> Value {
        json!({
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/part-of": self.spec.project.name,
        })
    }

    pub(super) fn metadata(&self, name: &str) -> Value {
        let mut m = json!({"name": name, "labels": self.labels()});
        if let Some(ns) = &self.opts.namespace {
            m["namespace"] = json!(ns);
        }
        m
    }

    fn objects(&self, out: &mut Vec<(String, Value)>, w: &mut Warnings) -> Result<(), ExportError> {
        let file = |kind: &str, name: &str| format!("{name}.{}.yaml", kind.to_ascii_lowercase());
        let mut pod = kube_pod::pod(self, w)?;
        if !self.s.env.is_empty() {
            let cm = format!("{}-env", self.name);
            out.push((
                file("ConfigMap", &cm),
                json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": self.metadata(&cm),
                    "data": self.s.env,
                }),
            ));
        }
        for claim in &pod.claims {
            out.push((file("PersistentVolumeClaim", claim), self.claim(claim)));
        }
        let stateful = self.stateful();
        if let Some(svc) = self.service_object(stateful, w) {
            out.push((file("Service", self.name), svc));
        }
        let (kind, workload) = self.workload(&mut pod, stateful, w);
        out.push((file(kind, self.name), workload));
        Ok(())
    }

    fn stateful(&self) -> bool {
        self.opts.stateful.contains(&self.s.name)
            || matches!(self.s.storage, Some(Storage::Persistent { .. }))
    }

    fn claim(&self, name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": self.metadata(name),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        })
    }

    /// A Service for the ports; a StatefulSet without ports still gets a headless one, as
    /// its `serviceName` must name a Service.
    fn service_object(&self, stateful: bool, w: &mut Warnings) -> Option<Value> {
        let mut ports = Vec::new();
        for p in self.s.ports() {
            let Some(m) = PortMap::parse(p) else {
                w.service(
                    &self.s.name,
                    format!("port {p:?} is not HOST:CONTAINER: left out"),
                );
                continue;
            };
            let proto = if m.udp { "UDP" } else { "TCP" };
            ports.push(json!({
                "name": format!("{}-{}", proto.to_ascii_lowercase(), m.container),
                "port": m.container,
                "targetPort": m.container,
                "protocol": proto,
            }));
        }
        let spec = if !ports.is_empty() {
            json!({"selector": self.selector(), "ports": ports})
        } else if stateful {
            json!({"selector": self.selector(), "clusterIP": "None"})
        } else {
            return None;
        };
        Some(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(self.name),
            "spec": spec,
        }))
    }

    fn workload(&self, pod: &mut Pod, stateful: bool, w: &mut Warnings) -> (&'static str, Value) {
        let start = !matches!(self.s.autostart, Autostart::Always(false));
        let mut meta = json!({"labels": self.labels()});
        if pod.spec.get("initContainers").is_some() {
            // Podman removes a finished init container by default and, in 4.3, can race
            // that removal against the container's exit; kept, they also rerun at each
            // pod start, as the kubelet's do. Podman 4.3 reads the workload's annotations,
            // later ones the template's; other engines ignore the annotation.
            meta["annotations"] = json!({INIT_TYPE: "always"});
        }
        let mut metadata = self.metadata(self.name);
        if let Some(a) = meta.get("annotations") {
            metadata["annotations"] = a.clone();
        }
        if let Some(sch) = &self.s.schedule {
            return ("CronJob", self.cron_job(sch, pod, meta, metadata, start, w));
        }
        if self.s.restart == RestartPolicy::No {
            pod.spec["restartPolicy"] = json!("Never");
            let mut spec = json!({
                "backoffLimit": 0,
                "template": {"metadata": meta, "spec": pod.spec},
            });
            if !start {
                spec["suspend"] = json!(true);
            }
            if self.replicas > 1 {
                spec["completions"] = json!(self.replicas);
                spec["parallelism"] = json!(self.replicas);
            }
            let job = json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": metadata,
                "spec": spec,
            });
            return ("Job", job);
        }
        pod.spec["restartPolicy"] = json!("Always");
        let mut spec = json!({
            "replicas": if start { self.replicas } else { 0 },
            "selector": {"matchLabels": self.selector()},
            "template": {"metadata": meta, "spec": pod.spec},
        });
        let kind = if stateful {
            spec["serviceName"] = json!(self.name);
            spec["volumeClaimTemplates"] = json!([{
                "metadata": {"name": "state"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }]);
            "StatefulSet"
        } else {
            "Deployment"
        };
        let obj = json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": metadata,
            "spec": spec,
        });
        (kind, obj)
    }

    /// `schedule` → a CronJob whose runs are Jobs of the service's pod.
    fn cron_job(
        &self,
        sch: &Schedule,
        pod: &mut Pod,
        meta: Value,
        metadata: Value,
        start: bool,
        w: &mut Warnings,
    ) -> Value {
        let name = &self.s.name;
        let fields: Vec<&str> = sch.expr.split_whitespace().collect();
        let expr = if fields.len() == 6 {
            w.service(
                name,
                "schedule: a CronJob has no seconds field; the first one is dropped",
            );
            fields[1..].join(" ")
        } else {
            sch.expr.clone()
        };
        w.service(
            name,
            "schedule: runs in the cluster's time zone, not this machine's local time",
        );
        if sch.overlap {
            w.service(
                name,
                "overlap = true: a run due while one is going is skipped, not queued",
            );
        }
        // restart = "on-failure" retries a failed run in place (the Job's default backoff
        // limit, 6); "no" gives up at once.
        let once = self.s.restart == RestartPolicy::No;
        pod.spec["restartPolicy"] = json!(if once { "Never" } else { "OnFailure" });
        let mut job = json!({"template": {"metadata": meta, "spec": pod.spec}});
        if once {
            job["backoffLimit"] = json!(0);
        }
        let mut spec = json!({
            "schedule": expr,
            // One run at a time, as proctor runs a scheduled service.
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": job},
        });
        if !start {
            spec["suspend"] = json!(true);
        }
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": metadata,
            "spec": spec,
        })
    }

    /// Where the service's state directory is mounted, if it has one.
    pub(super) fn state_dir(&self) -> Option<String> {
        match &self.s.storage {
            Some(Storage::Persistent { path, .. }) => Some(path.display().to_string()),
            Some(Storage::Sandboxed) => Some(STATE_DIR.to_string()),
            None if self.stateful() => Some(STATE_DIR.to_string()),
            None => None,
        }
    }

    /// Whether the state directory is the StatefulSet's claim (else an emptyDir).
    pub(super) fn state_is_claim(&self) -> bool {
        self.stateful()
    }
}

/// `Map` of `pairs`, for objects built key by key.
pub(super) fn object(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}
