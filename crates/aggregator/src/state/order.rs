//! The order envs are shown in: the promotion chain of `transitions.yaml` first,
//! so a service's row reads from where versions arrive to where they end up.

use std::collections::BTreeSet;

/// Envs in promotion order: sources before targets (first seen in `transitions.yaml`
/// first), then the others by name.
pub fn env_order(all: &BTreeSet<String>, edges: &[(String, String)]) -> Vec<String> {
    let mut in_chain: Vec<String> = Vec::new();
    for (s, t) in edges {
        for e in [s, t] {
            if !in_chain.contains(e) {
                in_chain.push(e.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut remaining = in_chain.clone();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|e| !edges.iter().any(|(s, t)| t == e && s != e && remaining.contains(s)));
        // A cycle has no ready env: take the first remaining one to break it.
        let i = ready.unwrap_or(0);
        out.push(remaining.remove(i));
    }
    out.extend(all.iter().filter(|e| !in_chain.contains(e)).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn edges(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(s, t)| (s.to_string(), t.to_string())).collect()
    }

    #[test]
    fn sources_come_before_targets_whatever_order_the_file_lists_them_in() {
        let all = names(&["dev", "pp", "prod"]);
        assert_eq!(
            env_order(&all, &edges(&[("pp", "prod"), ("dev", "pp")])),
            ["dev", "pp", "prod"]
        );
    }

    #[test]
    fn envs_outside_the_chain_follow_by_name() {
        let all = names(&["zeta", "dev", "alpha", "prod"]);
        assert_eq!(
            env_order(&all, &edges(&[("dev", "prod")])),
            ["dev", "prod", "alpha", "zeta"]
        );
    }

    #[test]
    fn a_cycle_still_lists_every_env_once() {
        let all = names(&["a", "b", "c"]);
        let order = env_order(&all, &edges(&[("a", "b"), ("b", "a"), ("b", "c")]));
        assert_eq!(order.len(), 3, "{order:?}");
        assert_eq!(names(&order.iter().map(String::as_str).collect::<Vec<_>>()), all);
        let pos = |e: &str| order.iter().position(|x| x == e).unwrap();
        assert!(pos("b") < pos("c"), "{order:?}");
    }
}
