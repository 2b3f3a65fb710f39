//! `slipway-transitioner preview NAME`: what the next promotion of a transition
//! ships, as text for people (or the JSON of `GET /api/transitions/{name}/preview`).
//!
//! ```text
//! latest → dev: web 1 → 2
//!
//! web: 1 → 2
//!   vars: image: web:1 → web:2
//!   changelog:
//!     3f2a9c1d0e web 2 in latest
//!       Faster start-up
//!
//! dev after the promotion:
//!   changed Deployment web
//!     spec.template.spec.containers[0].image: web:1 → web:2
//! ```

use slipway_core::env_diff::ObjectChange;
use slipway_core::merge::Vars;
use slipway_core::preview::PromotionPreview;

/// A value on one line: strings as they are, anything else as JSON.
fn value<T: serde::Serialize>(v: Option<&T>) -> String {
    match v.map(serde_json::to_value) {
        None => "(absent)".to_string(),
        Some(Ok(serde_json::Value::String(s))) => s,
        Some(Ok(other)) => other.to_string(),
        Some(Err(_)) => "(not representable)".to_string(),
    }
}

fn var_changes(old: Option<&Vars>, new: Option<&Vars>) -> Vec<String> {
    let empty = Vars::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| format!("{k}: {} → {}", value(old.get(k)), value(new.get(k))))
        .collect()
}

/// The preview as text.
pub fn render(p: &PromotionPreview) -> String {
    let mut out = format!("{}\n", p.summary);
    for held in &p.held {
        out.push_str(&format!(
            "  held back {}: locked ({})\n",
            held.service,
            held.reasons.join("; ")
        ));
    }
    for s in &p.services {
        let m = &s.change;
        out.push_str(&format!(
            "\n{}: {} → {}\n",
            m.service,
            m.old.as_deref().unwrap_or("(new)"),
            m.new
        ));
        for change in var_changes(m.old_vars.as_ref(), m.new_vars.as_ref()) {
            out.push_str(&format!("  vars: {change}\n"));
        }
        if !s.changelogs.origins.is_empty() {
            out.push_str("  changelog:\n");
            if s.changelogs.truncated {
                out.push_str("    (older versions left out)\n");
            }
        }
        for o in &s.changelogs.origins {
            out.push_str(&format!("    {} {}\n", &o.commit[..o.commit.len().min(10)], o.subject));
            for line in o.changelog.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    if p.moves_anything || !p.diff.is_empty() {
        out.push_str(&format!("\n{} after the promotion:\n", p.target));
        if p.diff.objects.is_empty() {
            out.push_str("  no rendered object changes\n");
        }
        for o in &p.diff.objects {
            let what = match o.change {
                ObjectChange::Added => "added",
                ObjectChange::Removed => "removed",
                ObjectChange::Changed => "changed",
            };
            let ns = o.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
            out.push_str(&format!("  {what} {} {ns}{} (from {})\n", o.kind, o.name, o.unit));
            for f in &o.fields {
                out.push_str(&format!(
                    "    {}: {} → {}\n",
                    f.path,
                    value(f.before.as_ref()),
                    value(f.after.as_ref())
                ));
            }
        }
        for problem in &p.diff.problems {
            out.push_str(&format!(
                "  cannot render {} ({}): {}\n",
                problem.unit, problem.side, problem.error
            ));
        }
    }
    out
}
