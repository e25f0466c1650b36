//! Checks that span services: dependency names and cycles, declared roles.

use std::collections::HashMap;

use super::service::Positions;
use super::values::{did_you_mean, Ctx};
use super::{Project, Service};

/// Every `depends_on` entry names a declared service other than itself, and there is no cycle.
pub(super) fn dependencies(ctx: &mut Ctx<'_>, services: &[Service], pos: &Positions) {
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut bad = false;
    for (svc, dep, span) in &pos.deps {
        if svc == dep {
            ctx.error(span.clone(), format!("service `{svc}` depends on itself"));
            bad = true;
        } else if !names.contains(&dep.as_str()) {
            let help = did_you_mean(dep, &names)
                .map(|n| format!("did you mean `{n}`?"))
                .or_else(|| Some(format!("declared services: {}", names.join(", "))));
            ctx.error_help(
                span.clone(),
                format!("service `{svc}` depends on `{dep}`, which is not declared"),
                help,
            );
            bad = true;
        }
    }
    if bad {
        return;
    }
    if let Some(cycle) = find_cycle(services) {
        let first = &cycle[0];
        let span = pos
            .deps
            .iter()
            .find(|(s, d, _)| s == first && Some(d) == cycle.get(1))
            .map_or(0..0, |(_, _, span)| span.clone());
        ctx.error_help(
            span,
            format!("dependency cycle: {}", cycle.join(" -> ")),
            Some("remove one of these `depends_on` entries"),
        );
    }
}

/// The first cycle found, as names with the first repeated at the end.
fn find_cycle(services: &[Service]) -> Option<Vec<String>> {
    let index: HashMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; services.len()];
    let mut path: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        services: &[Service],
        index: &HashMap<&str, usize>,
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[i] = 1;
        path.push(i);
        for d in &services[i].depends_on {
            let Some(&j) = index.get(d.name.as_str()) else {
                continue;
            };
            if mark[j] == 1 {
                let start = path.iter().position(|&p| p == j).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if mark[j] == 0 {
                if let Some(c) = visit(j, services, index, mark, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark[i] = 2;
        None
    }
    for i in 0..services.len() {
        if mark[i] == 0 {
            if let Some(c) = visit(i, services, &index, &mut mark, &mut path) {
                return Some(c.into_iter().map(|i| services[i].name.clone()).collect());
            }
        }
    }
    None
}

/// Every role a service's `autostart` names is declared in `[project] roles`.
pub(super) fn roles(ctx: &mut Ctx<'_>, project: &Project, pos: &Positions) {
    let declared: Vec<&str> = project.roles.iter().map(String::as_str).collect();
    for (svc, role, span) in &pos.roles {
        if declared.contains(&role.as_str()) {
            continue;
        }
        let help = if declared.is_empty() {
            Some(format!("declare it: [project] roles = [{role:?}]"))
        } else {
            did_you_mean(role, &declared)
                .map(|r| format!("did you mean {r:?}?"))
                .or_else(|| Some(format!("declared roles: {}", declared.join(", "))))
        };
        ctx.error_help(
            span.clone(),
            format!("service `{svc}` names role {role:?}, which is not declared"),
            help,
        );
    }
}
