//! `replicas = N` services, which the spec expands into `NAME.0` … `NAME.(N-1)`, folded
//! back into one service per group: a cluster or compose runs N alike copies of one
//! definition, and a dependency on any replica is one on the group.

use std::collections::BTreeMap;

use super::Warnings;
use crate::spec::{Dependency, Spec};

/// `spec` with each replica group as one service named after the group (its first
/// replica's settings), and each group's replica count.
pub(crate) fn fold(spec: &Spec, w: &mut Warnings) -> (Spec, BTreeMap<String, u32>) {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut member_of: BTreeMap<&str, &str> = BTreeMap::new();
    for s in &spec.services {
        if let Some(r) = &s.replica {
            member_of.insert(&s.name, &r.group);
            let n = counts.entry(r.group.clone()).or_insert(0);
            *n += 1;
        }
    }
    let mut out = spec.clone();
    out.services.clear();
    for s in &spec.services {
        let mut s = s.clone();
        if let Some(r) = s.replica.take() {
            if out.services.iter().any(|o| o.name == r.group) {
                continue;
            }
            s.name.clone_from(&r.group);
            s.env.remove("PROCTOR_INSTANCE");
            s.env
                .insert("PROCTOR_REPLICAS".into(), counts[&r.group].to_string());
            let mut lost = "PROCTOR_INSTANCE is not set: the copies are alike".to_string();
            if s.env.contains_key("PORT") {
                lost.push_str("; each gets the first replica's PORT");
            }
            w.service(&r.group, format!("replicas = {}: {lost}", counts[&r.group]));
        }
        let mut deps: Vec<Dependency> = Vec::new();
        for d in s.depends_on {
            let name = member_of
                .get(d.name.as_str())
                .map_or(d.name.clone(), |g| (*g).to_string());
            if !deps.iter().any(|x| x.name == name) {
                deps.push(Dependency { name, ..d });
            }
        }
        s.depends_on = deps;
        out.services.push(s);
    }
    (out, counts)
}
