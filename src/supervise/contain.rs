//! Containment: how a supervisor owns every process its services start, however they fork.
//!
//! - **cgroup** (when the supervisor can write a cgroup subtree: as root, or under systemd's
//!   delegation): the project gets `proctor.<name>.<id>` under the supervisor's own cgroup;
//!   the supervisor moves itself into its `supervisor` leaf (a cgroup with children holds
//!   no process) and each native service runs in its own `svc.<name>` leaf, placed there
//!   before it execs. A stop signals every process of the leaf, kills them all with
//!   `cgroup.kill` after the grace period, and the service is gone when `cgroup.events`
//!   says `populated 0`.
//! - **subreaper** (elsewhere): the supervisor is a child subreaper, so an orphan of a
//!   service's processes (`setsid`, a double fork) is re-parented to it; it reaps each
//!   that exits, and a stop reaches each still running by the service name it carries in
//!   its environment (`PROCTOR_SERVICE`).
//! - **process-group**: the group only; chosen for a supervisor that does not own its
//!   process (a [`crate::Daemon`] on a thread of its host), whose cgroup and subreaper
//!   setting belong to the host.
//!
//! tmux panes are the tmux server's children and containers the runtime's: they keep their
//! process-group (and runtime) containment.

use std::path::PathBuf;

use crate::backend::Hold;
use crate::spec::{Backend, Containment, Project, Service};
use crate::state::Paths;
use crate::sys::cgroup;

/// The containment a supervisor runs with.
#[derive(Debug)]
pub(crate) enum Contain {
    /// A cgroup subtree of the project's.
    Cgroup {
        /// The project's cgroup (`…/proctor.<name>.<id>`).
        project: PathBuf,
        /// Where the supervisor was before it moved into its leaf.
        home: PathBuf,
    },
    /// A child subreaper.
    Subreaper,
    /// Process groups only.
    Group,
}

/// Why the containment the spec asks for is not available.
#[derive(Debug, thiserror::Error)]
#[error("containment = \"cgroup\", but {why}\nhint: run the supervisor as root, or under systemd with Delegate=yes (the unit `proctor install` writes asks for it), or set [project] containment = \"auto\"")]
pub struct ContainError {
    why: String,
}

impl Contain {
    /// Sets up what `project` asks for; a supervisor that does not own its process
    /// (`owns_process` false) always uses process groups.
    pub(crate) fn set_up(
        project: &Project,
        paths: &Paths,
        owns_process: bool,
    ) -> Result<Self, ContainError> {
        if !owns_process || project.containment == Containment::ProcessGroup {
            return Ok(Contain::Group);
        }
        if project.containment != Containment::Subreaper {
            match set_up_cgroup(&project.name, paths) {
                Ok(c) => return Ok(c),
                Err(why) if project.containment == Containment::Cgroup => {
                    return Err(ContainError { why });
                }
                Err(why) => tracing::info!("no cgroup ({why}); using a subreaper"),
            }
        }
        match rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            Ok(()) => Ok(Contain::Subreaper),
            Err(e) => {
                tracing::warn!("cannot become a child subreaper ({e}); using process groups");
                Ok(Contain::Group)
            }
        }
    }

    /// How the process backend keeps hold of `svc`'s processes, with its cgroup limits
    /// written; an error says why a limit the spec sets cannot be applied.
    pub(crate) fn hold(&self, svc: &Service) -> Result<Hold, String> {
        let limits = limits(svc);
        if svc.backend != Backend::Process {
            return match limits.first() {
                Some(l) => Err(format!(
                    "`{}` applies to process services only (a tmux pane or a container is not in proctor's cgroup)",
                    l.key
                )),
                None => Ok(Hold::Group),
            };
        }
        match self {
            Contain::Cgroup { project, home } => {
                let leaf = leaf(project, &svc.name);
                let fresh = match cgroup::create(&leaf) {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        if let Some(l) = limits.first() {
                            return Err(format!("`{}` needs the cgroup {}: {e}", l.key, leaf.display()));
                        }
                        tracing::warn!(service = %svc.name, "cannot create {}: {e}; this run is held by its process group", leaf.display());
                        return Ok(Hold::Group);
                    }
                };
                for l in &limits {
                    ensure_controller(home, project, &leaf, l)?;
                    cgroup::set(&leaf, l.file, &l.value)
                        .map_err(|e| format!("cannot set {} of {}: {e}", l.file, leaf.display()))?;
                }
                // A limit the spec dropped (a reload) must not outlive it in the leaf; a leaf
                // made just now has none.
                for (file, default) in DEFAULTS.iter().filter(|_| !fresh) {
                    if !limits.iter().any(|l| l.file == *file) && leaf.join(file).exists() {
                        let _ = cgroup::set(&leaf, file, default);
                    }
                }
                Ok(Hold::Cgroup(leaf))
            }
            Contain::Subreaper | Contain::Group => match limits.first() {
                Some(l) => Err(format!(
                    "`{}` needs a cgroup, but this supervisor contains its services with {}\nhint: run the supervisor as root, or under systemd with Delegate=yes (the unit `proctor install` writes asks for it)",
                    l.key,
                    if matches!(self, Contain::Subreaper) { "a subreaper" } else { "process groups" }
                )),
                None => Ok(match self {
                    Contain::Subreaper => Hold::Subreaper(svc.name.clone()),
                    _ => Hold::Group,
                }),
            },
        }
    }

    /// The containment `svc` runs with, as `status` shows it.
    pub(crate) fn name(&self, svc: &Service) -> &'static str {
        match (&svc.backend, self) {
            (Backend::Container(_), _) => "container",
            (Backend::Tmux, _) | (_, Contain::Group) => "process-group",
            (_, Contain::Cgroup { .. }) => "cgroup",
            (_, Contain::Subreaper) => "subreaper",
        }
    }

    /// Whether the services' leaves account memory (`memory.current`): the project's cgroup
    /// hands the memory controller down. One read, so a status call asks once.
    pub(crate) fn memory_in_leaves(&self) -> bool {
        let Contain::Cgroup { project, .. } = self else {
            return false;
        };
        std::fs::read_to_string(project.join("cgroup.subtree_control"))
            .is_ok_and(|t| t.split_whitespace().any(|c| c == "memory"))
    }

    /// `memory.current` of `svc`'s cgroup leaf, if it has a leaf (the file exists only
    /// where the leaf accounts memory).
    pub(crate) fn memory_file(&self, svc: &Service) -> Option<PathBuf> {
        match self {
            Contain::Cgroup { project, .. } if self.name(svc) == "cgroup" => {
                Some(leaf(project, &svc.name).join("memory.current"))
            }
            _ => None,
        }
    }

    /// The leaves of a dead supervisor that still hold processes (escaped from their
    /// groups): killed before anything starts, then awaited.
    pub(crate) async fn clear_leftovers(&self, services: &[Service]) {
        let Contain::Cgroup { project, .. } = self else {
            return;
        };
        for svc in services {
            let dir = leaf(project, &svc.name);
            if !cgroup::populated(&dir) {
                continue;
            }
            tracing::warn!(service = %svc.name, "killing what a dead supervisor left in {}", dir.display());
            let _ = cgroup::kill_all(&dir);
            if let Ok(events) = cgroup::open_events(&dir).and_then(cgroup::EventsFd::new) {
                let _ = events.emptied(&dir).await;
            }
            // Made anew at its service's start: a killed leaf takes no cloned child.
            let _ = cgroup::remove(&dir);
        }
    }

    /// Removes the project's empty cgroups when the supervisor is done.
    pub(crate) fn tear_down(&self, services: &[Service]) {
        let Contain::Cgroup { project, home } = self else {
            return;
        };
        for svc in services {
            let _ = cgroup::remove(&leaf(project, &svc.name));
        }
        // Out of our leaf, so it and the project's cgroup can go too.
        if cgroup::move_into(home, 0).is_ok() {
            let _ = cgroup::remove(&project.join("supervisor"));
            let _ = cgroup::remove(project);
        }
    }
}

fn leaf(project: &std::path::Path, service: &str) -> PathBuf {
    project.join(format!("svc.{service}"))
}

/// Creates the project's cgroup under ours and moves the supervisor into its leaf.
fn set_up_cgroup(name: &str, paths: &Paths) -> Result<Contain, String> {
    let home = cgroup::own_cgroup().ok_or("no cgroup2 hierarchy is mounted")?;
    // One per state directory: two projects of one name elsewhere do not meet.
    let id = paths
        .root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    let project = home.join(format!("proctor.{name}.{:08x}", id as u32));
    let own = project.join("supervisor");
    cgroup::create(&project)
        .and_then(|_| cgroup::create(&own))
        .map_err(|e| format!("{} is not writable: {e}", home.display()))?;
    cgroup::move_into(&own, 0).map_err(|e| format!("cannot move into {}: {e}", own.display()))?;
    Ok(Contain::Cgroup { project, home })
}

/// A cgroup limit a service's spec sets.
struct Limit {
    key: &'static str,
    controller: &'static str,
    file: &'static str,
    value: String,
}

/// What each limit file holds when nothing is set.
const DEFAULTS: &[(&str, &str)] = &[
    ("memory.max", "max"),
    ("cpu.max", "max"),
    ("pids.max", "max"),
    ("io.weight", "default 100"),
];

fn limits(svc: &Service) -> Vec<Limit> {
    let id = &svc.identity;
    let mut out = Vec::new();
    let mut add = |key, controller, file, value: Option<String>| {
        if let Some(value) = value {
            out.push(Limit {
                key,
                controller,
                file,
                value,
            });
        }
    };
    add(
        "memory_max",
        "memory",
        "memory.max",
        id.memory_max.map(|b| b.to_string()),
    );
    // A percentage of one CPU: the quota per 100 ms period.
    add(
        "cpu_max",
        "cpu",
        "cpu.max",
        id.cpu_max
            .map(|p| format!("{} 100000", u64::from(p) * 1000)),
    );
    add(
        "pids_max",
        "pids",
        "pids.max",
        id.pids_max.map(|n| n.to_string()),
    );
    add(
        "io_weight",
        "io",
        "io.weight",
        id.io_weight.map(|w| format!("default {w}")),
    );
    out
}

/// Makes `l`'s controller available in `leaf`, handing it down from `home` through
/// `project` where the hierarchy allows; else says which controller and how to delegate it.
fn ensure_controller(
    home: &std::path::Path,
    project: &std::path::Path,
    leaf: &std::path::Path,
    l: &Limit,
) -> Result<(), String> {
    let has = |dir: &std::path::Path| cgroup::controllers(dir).iter().any(|c| c == l.controller);
    if has(leaf) {
        return Ok(());
    }
    if has(home) {
        let _ = cgroup::enable(home, l.controller);
        let _ = cgroup::enable(project, l.controller);
    }
    if has(leaf) {
        return Ok(());
    }
    let mount = cgroup::mount_point().unwrap_or_default();
    let hint = match home.parent().filter(|p| p.starts_with(&mount) && *p != home) {
        _ if home == mount => format!(
            "this hierarchy ({}) offers no `{}` controller: it is bound to a cgroup v1 hierarchy or disabled (boot with systemd.unified_cgroup_hierarchy=1)",
            mount.display(),
            l.controller
        ),
        Some(parent) => format!(
            "as root: echo +{c} > {p}/cgroup.subtree_control, or under systemd Delegate=yes (or Delegate={c}) in the unit that runs proctor",
            c = l.controller,
            p = parent.display()
        ),
        None => format!("delegate `{}` to {}", l.controller, home.display()),
    };
    Err(format!(
        "`{key}` needs the cgroup `{c}` controller, which is not enabled for {home}; hint: {hint}",
        key = l.key,
        c = l.controller,
        home = home.display(),
    ))
}
