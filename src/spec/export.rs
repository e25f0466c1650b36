//! The settings only `proctor export` reads: the `[export]` table, and the `image` and
//! `ports` a process or tmux service may declare (issue 21).
//!
//! A process service runs no image and publishes nothing, but a cluster needs both: the
//! image its argv runs in, and the ports it listens on. Declaring them beside the service
//! keeps the export a function of the spec alone.

use super::validate::Invalid;
use super::values::{Ctx, Value};
use super::{Backend, Service};

/// The `[export]` table: project-wide defaults for `proctor export`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSettings {
    /// The image process and tmux services run in when they name none themselves.
    pub image: Option<String>,
}

/// What a process or tmux service declares for export only (a container service keeps
/// both in its [`super::ContainerSettings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceExport {
    /// `image`: the image the service's argv runs in once exported.
    pub image: Option<String>,
    /// `ports = ["HOST:CONTAINER"]`: what the service listens on; documentation here,
    /// published ports once exported.
    pub ports: Vec<String>,
}

/// One `ports` entry: `[IP:]HOST:CONTAINER[/PROTO]` or `CONTAINER[/PROTO]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// The host address the port is published on, if restricted to one.
    pub host_ip: Option<String>,
    /// The host port; `None` publishes nothing on the host.
    pub host: Option<u16>,
    /// The port the service listens on.
    pub container: u16,
    /// `tcp` or `udp`.
    pub udp: bool,
}

impl PortMap {
    /// Parses one `ports` entry; `None` when it is not of a form above.
    pub fn parse(s: &str) -> Option<PortMap> {
        let (rest, udp) = match s.rsplit_once('/') {
            Some((r, "tcp")) => (r, false),
            Some((r, "udp")) => (r, true),
            Some(_) => return None,
            None => (s, false),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n != 0);
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let (host_ip, host, container) = match parts.as_slice() {
            [c] => (None, None, port(c)?),
            [c, h] => (None, Some(port(h)?), port(c)?),
            [c, h, ip] if !ip.is_empty() => (Some((*ip).to_string()), Some(port(h)?), port(c)?),
            _ => return None,
        };
        Some(PortMap {
            host_ip,
            host,
            container,
            udp,
        })
    }
}

impl Service {
    /// The ports the service publishes (container) or declares it listens on (others).
    pub fn ports(&self) -> &[String] {
        match &self.backend {
            Backend::Container(c) => &c.ports,
            _ => &self.export.ports,
        }
    }
}

/// Reads `[export]`.
pub(super) fn settings(ctx: &mut Ctx<'_>, v: &Value<'_>) -> ExportSettings {
    let mut e = ExportSettings::default();
    let Some(t) = ctx.table("export", v) else {
        return e;
    };
    ctx.check_keys(t, &["image"], "[export]");
    if let Some(v) = t.get("image") {
        e.image = ctx.nonempty("image", v);
    }
    e
}

/// Reads a process or tmux service's `image` and `ports`.
pub(super) fn service(ctx: &mut Ctx<'_>, table: &toml::de::DeTable<'_>) -> ServiceExport {
    let mut e = ServiceExport::default();
    if let Some(v) = table.get("image") {
        e.image = ctx.string("image", v);
    }
    if let Some(v) = table.get("ports") {
        e.ports = ctx.strings("ports", v).unwrap_or_default();
    }
    e
}

/// The rules on a process or tmux service's export settings.
pub(super) fn check(s: &Service, out: &mut Vec<Invalid>) {
    if matches!(s.backend, Backend::Container(_)) {
        return;
    }
    if s.export.image.as_ref().is_some_and(|i| i.trim().is_empty()) {
        out.push(Invalid::new("`image` must not be empty").at(&["image"]));
    }
    for p in &s.export.ports {
        if PortMap::parse(p).is_none() {
            out.push(
                Invalid::new(format!(
                    "port {p:?} must be \"HOST:CONTAINER\", \"IP:HOST:CONTAINER\" or \"CONTAINER\""
                ))
                .help("ports are numbers from 1 to 65535, optionally followed by /tcp or /udp")
                .at(&["ports"]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PortMap;

    #[test]
    fn port_forms() {
        let p = PortMap::parse("8080:80").expect("two ports");
        assert_eq!((p.host, p.container, p.udp), (Some(8080), 80, false));
        let p = PortMap::parse("127.0.0.1:53:53/udp").expect("with ip");
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert!(p.udp);
        assert_eq!(PortMap::parse("9000").map(|p| p.host), Some(None));
        for bad in ["", "x:80", "80:0", "80:80/sctp", ":80:80", "70000"] {
            assert!(PortMap::parse(bad).is_none(), "{bad}");
        }
    }
}
