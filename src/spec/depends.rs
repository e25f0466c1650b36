//! The checks that span services: every dependency is declared, none is the service
//! itself, and there is no cycle.

use std::collections::HashMap;

use super::validate::Invalid;
use super::values::did_you_mean;
use super::Service;

/// Every `depends_on` entry names a declared service other than itself, and there is no
/// cycle; each problem comes with the index of the service whose entry is wrong.
pub(super) fn check(services: &[Service]) -> Vec<(usize, Invalid)> {
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut out = Vec::new();
    for (i, svc) in services.iter().enumerate() {
        for (j, dep) in svc.depends_on.iter().enumerate() {
            let (svc, dep) = (&svc.name, &dep.name);
            let problem = if svc == dep {
                Invalid::new(format!("service `{svc}` depends on itself"))
            } else if !names.contains(&dep.as_str()) {
                let help = did_you_mean(dep, &names).map_or_else(
                    || format!("declared services: {}", names.join(", ")),
                    |n| format!("did you mean `{n}`?"),
                );
                Invalid::new(format!(
                    "service `{svc}` depends on `{dep}`, which is not declared"
                ))
                .help(help)
            } else {
                continue;
            };
            out.push((i, problem.at_entry("depends_on", j)));
        }
    }
    // A cycle through an undeclared name is not one: report those names first.
    if !out.is_empty() {
        return out;
    }
    if let Some(cycle @ [first, next, ..]) = find_cycle(services).as_deref() {
        let (first, next) = (*first, &services[*next].name);
        let entry = services[first]
            .depends_on
            .iter()
            .position(|d| &d.name == next)
            .unwrap_or(0);
        let names: Vec<&str> = cycle.iter().map(|&i| services[i].name.as_str()).collect();
        let problem = Invalid::new(format!("dependency cycle: {}", names.join(" -> ")))
            .help("remove one of these `depends_on` entries")
            .at_entry("depends_on", entry);
        out.push((first, problem));
    }
    out
}

/// The first cycle found, as service indices with the first repeated at the end.
fn find_cycle(services: &[Service]) -> Option<Vec<usize>> {
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
                return Some(c);
            }
        }
    }
    None
}
