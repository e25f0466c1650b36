//! `proctor export`: a project rendered for another engine (issue 21).
//!
//! [`kube`] writes Kubernetes objects, [`compose`] a compose file and [`systemd`] one unit
//! per service. Each is a pure function of the [`Spec`]: the same spec gives the same bytes
//! (services in dependency order, then declaration order; keys sorted), so an export can be
//! committed and its diffs reviewed. What a target cannot express is never dropped
//! silently: it becomes a [`Warning`] the CLI prints on stderr.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::spec::{Backend, Service, Spec};

pub mod compose;
mod groups;
pub mod kube;
mod kube_pod;
pub mod systemd;
mod yaml;

/// What the exporters are asked for beyond the spec.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Kubernetes namespace written on every object (`--namespace`).
    pub namespace: Option<String>,
    /// Prefix of every object's, unit's or compose service's name (`--name-prefix`).
    pub name_prefix: String,
    /// Services exported as a StatefulSet although they declare no persistent storage
    /// (`--stateful NAME`).
    pub stateful: Vec<String>,
}

/// One file an export produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// File name, without a directory (`web.deployment.yaml`, `shop-web.service`).
    pub name: String,
    /// Its content.
    pub text: String,
}

/// Something of the spec the target cannot express, or expresses only in part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The service it concerns; `None` for the project.
    pub service: Option<String>,
    /// What is lost or changed, and what was done instead.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(s) => write!(f, "service `{s}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The result of an export: files, the same content as one stream, and the warnings.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// One file per object (kube), per unit (systemd), or the one compose file.
    pub files: Vec<File>,
    /// Every file's content in order, as one text for stdout.
    pub stream: String,
    /// What could not be expressed, in service order.
    pub warnings: Vec<Warning>,
}

/// Why an export could not be made at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A process or tmux service has no image to run in.
    #[error("service `{service}` has no image to run in: set `image` on it, or `[export] image` for the project")]
    NoImage {
        /// The service.
        service: String,
    },
    /// Two services get the same name on the target once made valid there.
    #[error("services `{a}` and `{b}` both become `{name}` on the target")]
    NameClash {
        /// One service.
        a: String,
        /// The other.
        b: String,
        /// The name both become.
        name: String,
    },
    /// `--stateful` names a service the spec does not declare.
    #[error("--stateful names `{0}`, which is not a service of the project")]
    UnknownService(String),
}

/// Collects warnings for one service at a time.
#[derive(Debug, Default)]
pub(crate) struct Warnings(pub(crate) Vec<Warning>);

impl Warnings {
    /// Records that `service` loses or changes something.
    pub(crate) fn service(&mut self, service: &str, message: impl Into<String>) {
        self.0.push(Warning {
            service: Some(service.to_string()),
            message: message.into(),
        });
    }
}

/// Services with every dependency before its dependents, otherwise in declaration order:
/// engines that start objects in file order (`podman kube play`, systemd's first start)
/// then meet a dependency before what waits for it.
pub(crate) fn ordered(spec: &Spec) -> Vec<&Service> {
    let mut out: Vec<&Service> = Vec::with_capacity(spec.services.len());
    while out.len() < spec.services.len() {
        let before = out.len();
        for s in &spec.services {
            let placed = |n: &str| out.iter().any(|o| o.name == n);
            if !placed(&s.name) && s.depends_on.iter().all(|d| placed(&d.name)) {
                out.push(s);
            }
        }
        // A cycle (refused by validation, but a spec built in code may hold one): keep the
        // rest in declaration order rather than loop.
        if out.len() == before {
            for s in &spec.services {
                if !out.iter().any(|o| o.name == s.name) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// `s` as a DNS-1123 label (lowercase letters, digits, `-`; at most 63), as Kubernetes
/// object names and compose service names want.
pub(crate) fn dns_label(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let mut out: String = trimmed.chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "x".into()
    } else {
        out
    }
}

/// Every service's name on the target: `prefix + name` made a DNS label, warning when it
/// changes and refusing two services that would share one.
pub(crate) fn target_names(
    spec: &Spec,
    prefix: &str,
    w: &mut Warnings,
) -> Result<BTreeMap<String, String>, ExportError> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for s in &spec.services {
        let wanted = format!("{prefix}{}", s.name);
        let name = dns_label(&wanted);
        if name != wanted {
            w.service(
                &s.name,
                format!("named `{name}`: names allow only a-z, 0-9 and `-`"),
            );
        }
        if let Some((other, _)) = names.iter().find(|(_, n)| **n == name) {
            return Err(ExportError::NameClash {
                a: other.clone(),
                b: s.name.clone(),
                name,
            });
        }
        names.insert(s.name.clone(), name);
    }
    Ok(names)
}

/// The image a service runs in once exported: a container's own, else its `image`, else
/// the project's `[export] image`.
pub(crate) fn image<'a>(spec: &'a Spec, s: &'a Service) -> Result<&'a str, ExportError> {
    match &s.backend {
        Backend::Container(c) => Ok(&c.image),
        _ => s
            .export
            .image
            .as_deref()
            .or(spec.export.image.as_deref())
            .ok_or_else(|| ExportError::NoImage {
                service: s.name.clone(),
            }),
    }
}

/// Whole seconds, rounded up (engines count probe and stop times in seconds).
pub(crate) fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The signal's name without `SIG` (`TERM`), as `kill -s` and systemd take it.
pub(crate) fn signal_name(sig: crate::spec::Signal) -> String {
    crate::sys::child::signal_name(sig.as_raw())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dns_labels() {
        assert_eq!(super::dns_label("Web_1.api"), "web-1-api");
        assert_eq!(super::dns_label("-x-"), "x");
        assert_eq!(super::dns_label(&"a".repeat(70)).len(), 63);
    }
}
