//! The plan of one reconcile: desired set × inventory × live objects →
//! what to apply (and why), what to leave, what to prune, what to refuse.
//!
//! ```text
//!  desired ─┐                      ┌─▶ apply  (Create | Change | Drift | TakeOwnership | Adopt), in apply order
//!  inventory├─▶ plan (pure, sync) ─┼─▶ unchanged
//!  live    ─┤                      ├─▶ blocked (someone else's object, an unreadable kind): its unit fails
//!  outside ─┘                      ├─▶ prune  (in inventory, gone from the repo, still labelled), reverse order
//!                                  ├─▶ release (adopted, gone from the repo): labels and ownership removed
//!                                  ├─▶ left alone (with the reason), never deleted
//!                                  └─▶ refused (an emptied env, nothing is deleted)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use slipway_core::Unit;

use crate::diff::{changes, contains, FieldChange};
use crate::inventory::{Inventory, InventoryEntry};
use crate::live::{Live, LiveObject, SharedLive};
use crate::object::{apply_rank, DesiredObject, DesiredSet, ObjectKey};

/// Most field changes listed per object.
const MAX_CHANGES: usize = 10;

/// Why an object is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyReason {
    /// Not in the cluster.
    Create,
    /// The manifest in the repo changed; the fields that differ (empty if it only dropped fields).
    Change(Vec<FieldChange>),
    /// Someone changed fields Slipway manages in the cluster.
    Drift(Vec<FieldChange>),
    /// The object matches, but Slipway's field manager does not own it yet.
    TakeOwnership,
    /// The object exists without the env's labels and adoption is allowed
    /// (`adopt: true` for the env, or the annotation `slipway.dev/adopt: "true"`).
    Adopt,
    /// The object matches; a forced redeploy applies it again (taking back
    /// fields other field managers own).
    Redeploy,
}

/// An object left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    pub key: ObjectKey,
    pub reason: String,
}

/// Options of an env from `deployers.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOptions {
    pub prune: bool,
    pub allow_empty: bool,
    /// Objects that exist without the env's labels are taken over.
    pub adopt: bool,
    /// Adopted objects that left the repo are deleted instead of released.
    pub prune_adopted: bool,
    /// The env's own namespace: never deleted, even if a file once declared it.
    pub namespace: String,
}

/// What the cluster holds beyond the env's labelled objects, as far as the
/// plan needs it.
#[derive(Debug, Clone, Default)]
pub struct Outside {
    /// Desired objects that exist without this env's labels, by key (looked up
    /// by name: the env's caches and lists only see labelled objects).
    pub unlabelled: Live,
    /// Kinds, by `(group, kind)`, that the deployer may not read (403), with
    /// the server's message and the RBAC rule that would allow it.
    pub unavailable: BTreeMap<(String, String), String>,
}

/// What one reconcile will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Indexes into the desired objects, in apply order, with the reason.
    pub apply: Vec<(usize, ApplyReason)>,
    /// Indexes of desired objects that already match.
    pub unchanged: Vec<usize>,
    /// Indexes of desired objects that are not applied, with the reason
    /// (someone else's object, or a kind that could not be read): their units fail.
    pub blocked: Vec<(usize, String)>,
    /// Objects to delete, in delete order (reverse apply order).
    pub prune: Vec<InventoryEntry>,
    /// Adopted objects that left the repo: released (Slipway's labels and
    /// field ownership removed) instead of deleted, in delete order.
    pub release: Vec<InventoryEntry>,
    /// Objects not deleted, with the reason.
    pub left_alone: Vec<LeftAlone>,
    /// Set when the whole env is refused: nothing is applied or deleted.
    pub refused: Option<String>,
    /// The inventory once the plan is carried out (without failed prunes).
    pub inventory: Inventory,
}

impl Plan {
    /// A forced redeploy: every object that matches is applied again as well.
    pub fn force_all(&mut self) {
        let unchanged = std::mem::take(&mut self.unchanged);
        self.apply
            .extend(unchanged.into_iter().map(|i| (i, ApplyReason::Redeploy)));
    }

    /// Whether the plan writes nothing.
    pub fn is_noop(&self) -> bool {
        self.apply.is_empty() && self.prune.is_empty() && self.release.is_empty()
    }

    /// The applies in waves, by rank (namespaces and CRDs first, workloads
    /// later): indexes into `desired`'s objects; the objects of one wave may
    /// go out concurrently, a wave starts when the one before it is done.
    pub fn apply_waves(&self, desired: &DesiredSet) -> Vec<Vec<usize>> {
        let mut by_rank: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for (i, _) in &self.apply {
            let o = &desired.objects[*i];
            by_rank
                .entry(apply_rank(&o.key.group, &o.key.kind))
                .or_default()
                .push(*i);
        }
        by_rank.into_values().collect()
    }

    /// The prunes in waves, in reverse apply order (workloads before what
    /// they use): consecutive prunes of one rank form one wave.
    pub fn prune_waves(&self) -> Vec<Vec<&InventoryEntry>> {
        let mut waves: Vec<(u8, Vec<&InventoryEntry>)> = Vec::new();
        for e in &self.prune {
            let rank = apply_rank(&e.key.group, &e.key.kind);
            match waves.last_mut() {
                Some((r, wave)) if *r == rank => wave.push(e),
                _ => waves.push((rank, vec![e])),
            }
        }
        waves.into_iter().map(|(_, wave)| wave).collect()
    }

    /// The inventory to store before anything is applied: the stored one
    /// with every object the plan will have, so that a crash in between
    /// cannot leave objects Slipway created but does not know about.
    pub fn inventory_before(&self, stored: &Inventory) -> Inventory {
        let mut before = stored.clone();
        for e in self.inventory.entries.values() {
            before.insert(e.clone());
        }
        before
    }

    /// The inventory to store once the plan is carried out: the plan's, with
    /// the objects whose prune or release failed still in it (they are tried again).
    pub fn inventory_after<'a>(&self, not_removed: impl IntoIterator<Item = &'a InventoryEntry>) -> Inventory {
        let mut after = self.inventory.clone();
        for e in not_removed {
            after.insert(e.clone());
        }
        after
    }
}

/// Objects an earlier plan found unchanged, with the desired set it was made
/// for and the live copy each was compared with. A later plan takes an object
/// as unchanged without comparing it again when both are the very same (a
/// cached live object is replaced, never modified, when the cluster changes it).
#[derive(Debug, Clone, Default)]
pub struct Verified {
    desired: Option<Arc<DesiredSet>>,
    /// By index into the desired objects.
    live: Vec<Option<SharedLive>>,
}

impl Verified {
    /// What `plan`, made for `desired` and `live`, found unchanged.
    pub fn after(desired: &Arc<DesiredSet>, live: &Live, plan: &Plan) -> Verified {
        let mut verified = vec![None; desired.objects.len()];
        for &i in &plan.unchanged {
            verified[i] = live.get(&desired.objects[i].key).cloned();
        }
        Verified {
            desired: Some(desired.clone()),
            live: verified,
        }
    }

    /// Whether desired object `i` of `desired` was found unchanged against this very `live` copy.
    fn holds(&self, desired: &DesiredSet, i: usize, live: Option<&SharedLive>) -> bool {
        let same_set = self
            .desired
            .as_ref()
            .is_some_and(|d| std::ptr::eq(Arc::as_ptr(d), desired));
        same_set && matches!((self.live.get(i), live), (Some(Some(a)), Some(b)) if Arc::ptr_eq(a, b))
    }
}

/// Computes the plan. `live` holds the env's objects as listed by the env
/// label, `outside` what else the cluster holds of the desired objects.
pub fn plan(
    env: &str,
    desired: &DesiredSet,
    inventory: &Inventory,
    live: &Live,
    outside: &Outside,
    options: PruneOptions,
) -> Plan {
    plan_after(env, desired, inventory, live, outside, options, &Verified::default())
}

/// How a desired object that exists without this env's labels is handled.
enum Foreign {
    /// Slipway created it without the env label (the env's namespace): it is Slipway's.
    Ours,
    /// Adoption is allowed: apply it and record that it pre-existed.
    Adopt,
    /// Left as it is; its unit fails with this reason.
    Blocked(String),
}

fn foreign(env: &str, key: &ObjectKey, obj: &LiveObject, options: &PruneOptions) -> Foreign {
    let own_namespace = key.group.is_empty() && key.kind == "Namespace" && key.name == options.namespace;
    if own_namespace && obj.managed_by_slipway() && obj.env().is_none() {
        return Foreign::Ours;
    }
    if let Some(other) = obj.env().filter(|e| *e != env) {
        return Foreign::Blocked(format!(
            "already exists and belongs to env {other} (label slipway.dev/env: {other}); it is left as it is. \
             Two envs cannot deploy the same object: remove this manifest from one of them"
        ));
    }
    if options.adopt || obj.adoptable() {
        return Foreign::Adopt;
    }
    Foreign::Blocked(format!(
        "already exists without the labels of env {env} (Slipway did not create it), so it is left as it is. \
         To deploy this manifest, delete the object, set adopt: true for env {env} in deployers.yaml, \
         or annotate the object slipway.dev/adopt: \"true\""
    ))
}

/// Like [`plan`], without comparing again the objects `verified` holds.
pub fn plan_after(
    env: &str,
    desired: &DesiredSet,
    inventory: &Inventory,
    live: &Live,
    outside: &Outside,
    options: PruneOptions,
    verified: &Verified,
) -> Plan {
    let mut plan = Plan::default();
    let desired_keys = desired.keys();
    if desired.objects.is_empty() && desired.failed.is_empty() && !inventory.is_empty() && !options.allow_empty {
        plan.refused = Some(format!(
            "refusing to deploy env {env}: its desired set is empty but {} objects were applied before; \
             if the env really should be emptied, set allow_empty: true for it in deployers.yaml",
            inventory.entries.len()
        ));
        plan.inventory = inventory.clone();
        return plan;
    }

    // Built in one go (sorting runs that are mostly in order) rather than by 1,000 inserts.
    let mut entries = Vec::with_capacity(desired.objects.len());
    for (i, obj) in desired.objects.iter().enumerate() {
        let before = inventory.entries.get(&obj.key);
        if let Some(message) = outside.unavailable.get(&(obj.key.group.clone(), obj.key.kind.clone())) {
            plan.blocked.push((i, message.clone()));
            entries.extend(before.cloned());
            continue;
        }
        let found = live.get(&obj.key).or_else(|| outside.unlabelled.get(&obj.key));
        let (reason, adopted) = match found {
            Some(current) if current.belongs_to(env) => {
                let reason = if verified.holds(desired, i, Some(current)) {
                    None
                } else {
                    decide(obj, Some(&**current))
                };
                (reason, before.is_some_and(|e| e.adopted))
            }
            Some(other) => match foreign(env, &obj.key, other, &options) {
                Foreign::Ours => (decide(obj, Some(&**other)), false),
                Foreign::Adopt => (Some(ApplyReason::Adopt), true),
                Foreign::Blocked(message) => {
                    plan.blocked.push((i, message));
                    entries.extend(before.cloned());
                    continue;
                }
            },
            None => (Some(ApplyReason::Create), false),
        };
        match reason {
            Some(reason) => plan.apply.push((i, reason)),
            None => plan.unchanged.push(i),
        }
        entries.push(InventoryEntry {
            key: obj.key.clone(),
            api_version: obj.api_version.clone(),
            unit: obj.unit.clone(),
            adopted,
        });
    }
    plan.inventory.entries = entries.into_iter().map(|e| (e.key.clone(), e)).collect();

    // Units whose files are broken keep what they deployed before.
    let failed_units: BTreeSet<&Unit> = desired.failed.keys().collect();
    let mut prune = Vec::new();
    let mut release = Vec::new();
    for entry in inventory.entries.values() {
        if desired_keys.contains(&entry.key) {
            continue;
        }
        if failed_units.contains(&entry.unit) {
            plan.inventory.insert(entry.clone());
            continue;
        }
        if let Some(message) = outside
            .unavailable
            .get(&(entry.key.group.clone(), entry.key.kind.clone()))
        {
            // Not listed, so not known to be gone or still ours: kept for a later reconcile.
            plan.inventory.insert(entry.clone());
            plan.left_alone.push(LeftAlone {
                key: entry.key.clone(),
                reason: format!("no longer in the repo; not pruned because its kind could not be read: {message}"),
            });
            continue;
        }
        if !options.prune {
            plan.inventory.insert(entry.clone());
            plan.left_alone.push(LeftAlone {
                key: entry.key.clone(),
                reason: "no longer in the repo; not pruned because prune is false for this env".into(),
            });
            continue;
        }
        if entry.key.group.is_empty() && entry.key.kind == "Namespace" && entry.key.name == options.namespace {
            plan.left_alone.push(LeftAlone {
                key: entry.key.clone(),
                reason: "the env's own namespace is never pruned".into(),
            });
            continue;
        }
        match live.get(&entry.key) {
            Some(obj) if obj.belongs_to(env) => {
                if entry.adopted && !options.prune_adopted {
                    release.push(entry.clone());
                } else {
                    prune.push(entry.clone());
                }
            }
            // Gone already, or no longer ours: forget it.
            _ => {}
        }
    }
    prune.sort_by_key(|e| std::cmp::Reverse(apply_rank(&e.key.group, &e.key.kind)));
    release.sort_by_key(|e| std::cmp::Reverse(apply_rank(&e.key.group, &e.key.kind)));
    plan.prune = prune;
    plan.release = release;

    // Objects labelled for this env that Slipway never applied are reported, never deleted.
    for key in live.keys() {
        if !desired_keys.contains(key) && !inventory.entries.contains_key(key) {
            plan.left_alone.push(LeftAlone {
                key: key.clone(),
                reason: format!("carries the labels of env {env} but is not in its inventory: not applied by Slipway"),
            });
        }
    }
    plan
}

/// Whether (and why) a desired object must be applied, given the live one.
pub fn decide(desired: &DesiredObject, live: Option<&LiveObject>) -> Option<ApplyReason> {
    let Some(live) = live else {
        return Some(ApplyReason::Create);
    };
    let body = desired.body();
    let fields = live.manifest_fields();
    if live.hash() != desired.hash() {
        return Some(ApplyReason::Change(changes(&fields, &body, MAX_CHANGES)));
    }
    if !contains(&fields, &body) {
        return Some(ApplyReason::Drift(changes(&fields, &body, MAX_CHANGES)));
    }
    if !live.applied_by_slipway() {
        return Some(ApplyReason::TakeOwnership);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{desired_set, EnvTarget, Scope};
    use serde_json::{json, Value};
    use slipway_core::RepoSnapshot;

    fn opts() -> PruneOptions {
        PruneOptions {
            prune: true,
            allow_empty: false,
            adopt: false,
            prune_adopted: false,
            namespace: "dev".into(),
        }
    }

    fn desired(files: &[(&str, &str)]) -> DesiredSet {
        let snap = RepoSnapshot::from_files("c", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())));
        let target = EnvTarget {
            env: "dev".into(),
            namespace: "dev".into(),
        };
        desired_set(&target, &snap.render_env("dev"), &|_: &str, _: &str| {
            Some(Scope::Namespaced)
        })
    }

    /// The live object as the server would return it after Slipway applied `obj`.
    fn applied(obj: &DesiredObject) -> Value {
        let mut live = obj.body();
        live["metadata"]["managedFields"] = json!([{"manager": "slipway", "operation": "Apply"}]);
        live["metadata"]["resourceVersion"] = json!("7");
        live["status"] = json!({"observedGeneration": 1});
        live
    }

    fn cm(name: &str, value: &str) -> String {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: \"{value}\"}}\n")
    }

    fn inventory_of(set: &DesiredSet) -> Inventory {
        let mut inv = Inventory::default();
        for o in &set.objects {
            inv.insert(InventoryEntry {
                key: o.key.clone(),
                api_version: o.api_version.clone(),
                unit: o.unit.clone(),
                adopted: false,
            });
        }
        inv
    }

    fn live_of(set: &DesiredSet) -> Live {
        set.objects.iter().map(|o| (o.key.clone(), edited(o, |_| {}))).collect()
    }

    /// The live copy of `obj` after Slipway applied it and `edit` changed it.
    fn edited(obj: &DesiredObject, edit: impl FnOnce(&mut Value)) -> SharedLive {
        let mut live = applied(obj);
        edit(&mut live);
        Arc::new(LiveObject::new(&live, Some(&obj.body())))
    }

    /// Replaces the live copy of every object of `set` by an edited one.
    fn edit_all(live: &mut Live, set: &DesiredSet, edit: impl Fn(&mut Value)) {
        for o in &set.objects {
            live.insert(o.key.clone(), edited(o, &edit));
        }
    }

    #[test]
    fn fresh_env_creates_everything_in_apply_order() {
        let set = desired(&[
            (
                "dev/deployable/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
            ),
            ("dev/deployable/c.yaml", &cm("c", "1")),
        ]);
        let p = plan(
            "dev",
            &set,
            &Inventory::default(),
            &Live::new(),
            &Outside::default(),
            opts(),
        );
        let kinds: Vec<&str> = p.apply.iter().map(|(i, _)| set.objects[*i].key.kind.as_str()).collect();
        assert_eq!(kinds, ["ConfigMap", "Deployment"]);
        assert!(p.apply.iter().all(|(_, r)| *r == ApplyReason::Create));
        assert_eq!(p.inventory.entries.len(), 2);
    }

    #[test]
    fn applies_go_in_waves_by_rank_and_prunes_in_reverse_waves() {
        let deployment = |n: &str| format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {n}}}\n");
        let set = desired(&[
            ("dev/deployable/d1.yaml", &deployment("d1")),
            ("dev/deployable/c1.yaml", &cm("c1", "1")),
            ("dev/deployable/d2.yaml", &deployment("d2")),
            ("dev/deployable/c2.yaml", &cm("c2", "1")),
        ]);
        let p = plan(
            "dev",
            &set,
            &Inventory::default(),
            &Live::new(),
            &Outside::default(),
            opts(),
        );
        let waves: Vec<Vec<&str>> = p
            .apply_waves(&set)
            .iter()
            .map(|wave| wave.iter().map(|i| set.objects[*i].key.name.as_str()).collect())
            .collect();
        assert_eq!(waves.len(), 2, "{waves:?}");
        let mut first = waves[0].clone();
        first.sort();
        let mut second = waves[1].clone();
        second.sort();
        assert_eq!((first, second), (vec!["c1", "c2"], vec!["d1", "d2"]));

        // Everything left the repo: the Deployments go first, then the ConfigMaps.
        let everything_gone = PruneOptions {
            allow_empty: true,
            ..opts()
        };
        let p = plan(
            "dev",
            &DesiredSet::default(),
            &inventory_of(&set),
            &live_of(&set),
            &Outside::default(),
            everything_gone,
        );
        let waves: Vec<Vec<&str>> = p
            .prune_waves()
            .iter()
            .map(|wave| wave.iter().map(|e| e.key.kind.as_str()).collect())
            .collect();
        assert_eq!(
            waves,
            [vec!["Deployment", "Deployment"], vec!["ConfigMap", "ConfigMap"]]
        );
    }

    #[test]
    fn the_inventory_records_new_objects_before_applying_and_keeps_failed_prunes_after() {
        let old = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]);
        let new = desired(&[
            ("dev/deployable/b.yaml", &cm("b", "1")),
            ("dev/deployable/c.yaml", &cm("c", "1")),
        ]);
        let stored = inventory_of(&old);
        let p = plan("dev", &new, &stored, &live_of(&old), &Outside::default(), opts());
        let names = |inv: &Inventory| inv.entries.keys().map(|k| k.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&p.inventory_before(&stored)),
            ["a", "b", "c"],
            "a is still there until pruned"
        );
        assert_eq!(p.prune.len(), 1);
        assert_eq!(names(&p.inventory_after([])), ["b", "c"]);
        assert_eq!(
            names(&p.inventory_after(&p.prune)),
            ["a", "b", "c"],
            "a failed prune is kept"
        );
    }

    #[test]
    fn unchanged_repo_and_cluster_plan_no_writes() {
        let set = desired(&[("dev/deployable/c.yaml", &cm("c", "1"))]);
        let p = plan(
            "dev",
            &set,
            &inventory_of(&set),
            &live_of(&set),
            &Outside::default(),
            opts(),
        );
        assert!(p.is_noop());
        assert_eq!(p.unchanged, [0]);
        assert_eq!(p.inventory, inventory_of(&set));
    }

    #[test]
    fn changed_manifest_applies_only_that_object_with_its_field_diff() {
        let old = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]);
        let new = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "2")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]);
        let p = plan(
            "dev",
            &new,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            opts(),
        );
        assert_eq!(p.apply.len(), 1);
        let (i, reason) = &p.apply[0];
        assert_eq!(new.objects[*i].key.name, "a");
        let ApplyReason::Change(fields) = reason else {
            panic!("{reason:?}")
        };
        assert!(fields.iter().any(|f| f.path == "data.k"), "{fields:?}");
    }

    #[test]
    fn dropping_a_field_from_the_manifest_is_a_change() {
        let old = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let new = desired(&[(
            "dev/deployable/a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )]);
        let p = plan(
            "dev",
            &new,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            opts(),
        );
        assert!(matches!(p.apply[0].1, ApplyReason::Change(_)));
    }

    #[test]
    fn objects_verified_unchanged_are_not_compared_again_until_their_live_copy_or_the_set_changes() {
        let set = Arc::new(desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]));
        let mut live = live_of(&set);
        // Drifted in the cluster, but recorded as verified (as if compared before the drift):
        // the plan trusts the record while the live copy is the very same.
        let a = set.objects.iter().position(|o| o.key.name == "a").unwrap();
        live.insert(
            set.objects[a].key.clone(),
            edited(&set.objects[a], |o| o["data"]["k"] = json!("edited")),
        );
        let all_unchanged = Plan {
            unchanged: (0..set.objects.len()).collect(),
            ..Plan::default()
        };
        let verified = Verified::after(&set, &live, &all_unchanged);
        let inv = inventory_of(&set);
        let p = plan_after("dev", &set, &inv, &live, &Outside::default(), opts(), &verified);
        assert!(p.apply.is_empty(), "{:?}", p.apply);
        // A new live copy (a watch event) is compared again.
        let key = set.objects[a].key.clone();
        let copy = Arc::new((*live[&key]).clone());
        live.insert(key.clone(), copy);
        let p = plan_after("dev", &set, &inv, &live, &Outside::default(), opts(), &verified);
        assert!(
            matches!(p.apply.as_slice(), [(i, ApplyReason::Drift(_))] if *i == a),
            "{:?}",
            p.apply
        );
        // So is everything under another desired set (a new commit).
        let verified = Verified::after(&set, &live, &all_unchanged);
        let other = Arc::new((*set).clone());
        let p = plan_after("dev", &other, &inv, &live, &Outside::default(), opts(), &verified);
        assert_eq!(p.apply.len(), 1, "{:?}", p.apply);
    }

    #[test]
    fn drift_by_another_manager_is_taken_back() {
        let set = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let mut live = live_of(&set);
        edit_all(&mut live, &set, |o| o["data"]["k"] = json!("edited"));
        let p = plan("dev", &set, &inventory_of(&set), &live, &Outside::default(), opts());
        let ApplyReason::Drift(fields) = &p.apply[0].1 else {
            panic!()
        };
        assert_eq!(fields[0].to_string(), "data.k: \"edited\" → \"1\"");
    }

    #[test]
    fn matching_object_not_owned_by_slipway_is_applied_to_take_ownership() {
        let set = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let mut live = live_of(&set);
        edit_all(&mut live, &set, |o| {
            o["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Update"}])
        });
        let p = plan("dev", &set, &inventory_of(&set), &live, &Outside::default(), opts());
        assert_eq!(p.apply[0].1, ApplyReason::TakeOwnership);
    }

    #[test]
    fn prunes_only_inventoried_objects_that_still_carry_the_env_label_in_reverse_order() {
        let old = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            (
                "dev/deployable/w.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\n",
            ),
            ("dev/deployable/relabelled.yaml", &cm("relabelled", "1")),
        ]);
        let new = desired(&[("dev/deployable/keep.yaml", &cm("keep", "1"))]);
        let mut live = live_of(&old);
        // Someone took this one over: it lost the env label.
        let relabelled = old.objects.iter().find(|o| o.key.name == "relabelled").unwrap();
        live.insert(
            relabelled.key.clone(),
            edited(relabelled, |o| {
                o["metadata"]["labels"]["slipway.dev/env"] = json!("other")
            }),
        );
        // Someone else's object with our labels, never applied by Slipway.
        let stranger = desired(&[("dev/deployable/s.yaml", &cm("stranger", "1"))]);
        live.extend(live_of(&stranger));

        let p = plan("dev", &new, &inventory_of(&old), &live, &Outside::default(), opts());
        let pruned: Vec<&str> = p.prune.iter().map(|e| e.key.name.as_str()).collect();
        assert_eq!(pruned, ["w", "a"]);
        assert!(p
            .left_alone
            .iter()
            .any(|l| l.key.name == "stranger" && l.reason.contains("not in its inventory")));
        assert_eq!(p.inventory.entries.len(), 1);
    }

    #[test]
    fn the_envs_own_namespace_is_never_pruned() {
        let old = desired(&[
            (
                "dev/deployable/ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n",
            ),
            ("dev/deployable/a.yaml", &cm("a", "1")),
        ]);
        let new = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let p = plan(
            "dev",
            &new,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            opts(),
        );
        assert!(p.prune.is_empty());
        assert!(p.left_alone[0].reason.contains("own namespace"));
    }

    #[test]
    fn prune_false_keeps_objects_and_their_inventory() {
        let old = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]);
        let new = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let opts = PruneOptions { prune: false, ..opts() };
        let p = plan(
            "dev",
            &new,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            opts,
        );
        assert!(p.prune.is_empty());
        assert_eq!(p.left_alone.len(), 1);
        assert_eq!(p.inventory.entries.len(), 2);
    }

    #[test]
    fn a_broken_service_keeps_its_objects() {
        let old = desired(&[
            ("dev/base/s1.yaml", &cm("s1", "${v}")),
            ("dev/version/s1.yaml", "v: '1'\n"),
            ("dev/deployable/a.yaml", &cm("a", "1")),
        ]);
        let new = desired(&[
            ("dev/base/s1.yaml", &cm("s1", "${undefined}")),
            ("dev/version/s1.yaml", "v: '1'\n"),
            ("dev/deployable/a.yaml", &cm("a", "1")),
        ]);
        assert!(new.failed.contains_key(&Unit::Service("s1".into())));
        let p = plan(
            "dev",
            &new,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            opts(),
        );
        assert!(p.prune.is_empty());
        assert_eq!(p.inventory.entries.len(), 2);
    }

    #[test]
    fn an_env_that_suddenly_becomes_empty_is_refused_unless_allowed() {
        let old = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let empty = desired(&[]);
        let p = plan(
            "dev",
            &empty,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            opts(),
        );
        assert!(p.refused.as_deref().unwrap().contains("allow_empty"));
        assert!(p.is_noop());
        assert_eq!(p.inventory, inventory_of(&old));
        let allowed = PruneOptions {
            allow_empty: true,
            ..opts()
        };
        let p = plan(
            "dev",
            &empty,
            &inventory_of(&old),
            &live_of(&old),
            &Outside::default(),
            allowed,
        );
        assert!(p.refused.is_none());
        assert_eq!(p.prune.len(), 1);
    }

    /// `obj` as someone else created it: no Slipway labels, another field manager.
    fn unlabelled(obj: &DesiredObject, edit: impl FnOnce(&mut Value)) -> Outside {
        let mut live = obj.body();
        live["metadata"]["labels"] = json!({"team": "payments"});
        live["metadata"]["annotations"] = json!({});
        live["metadata"]["managedFields"] = json!([{"manager": "kubectl-create", "operation": "Update"}]);
        live["data"] = json!({"k": "theirs"});
        edit(&mut live);
        Outside {
            unlabelled: [(obj.key.clone(), Arc::new(LiveObject::new(&live, Some(&obj.body()))))].into(),
            ..Outside::default()
        }
    }

    #[test]
    fn an_unlabelled_object_with_a_manifests_name_is_not_applied_and_the_reason_says_how_to_resolve_it() {
        let set = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]);
        let a = set.objects.iter().position(|o| o.key.name == "a").unwrap();
        let outside = unlabelled(&set.objects[a], |_| {});
        let p = plan("dev", &set, &Inventory::default(), &Live::new(), &outside, opts());
        let applied: Vec<&str> = p.apply.iter().map(|(i, _)| set.objects[*i].key.name.as_str()).collect();
        assert_eq!(applied, ["b"]);
        let [(i, why)] = p.blocked.as_slice() else {
            panic!("{:?}", p.blocked)
        };
        assert_eq!(*i, a);
        for fix in [
            "delete the object",
            "adopt: true for env dev in deployers.yaml",
            "slipway.dev/adopt: \"true\"",
        ] {
            assert!(why.contains(fix), "{why}");
        }
        // Not Slipway's: not recorded, so never pruned.
        assert!(!p.inventory.entries.contains_key(&set.objects[a].key));
        assert_eq!(p.inventory.entries.len(), 1);
    }

    #[test]
    fn adopt_true_or_the_owners_annotation_adopts_and_records_that_the_object_pre_existed() {
        let set = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let key = &set.objects[0].key;
        let by_env = PruneOptions { adopt: true, ..opts() };
        let p = plan(
            "dev",
            &set,
            &Inventory::default(),
            &Live::new(),
            &unlabelled(&set.objects[0], |_| {}),
            by_env,
        );
        assert_eq!(p.apply, [(0, ApplyReason::Adopt)]);
        assert!(p.inventory.entries[key].adopted);

        let annotated = unlabelled(&set.objects[0], |o| {
            o["metadata"]["annotations"]["slipway.dev/adopt"] = json!("true")
        });
        let p = plan("dev", &set, &Inventory::default(), &Live::new(), &annotated, opts());
        assert_eq!(p.apply, [(0, ApplyReason::Adopt)]);
        assert!(p.blocked.is_empty());

        // Once adopted (labelled), it is Slipway's like any other and stays marked as adopted.
        let mut inv = inventory_of(&set);
        inv.entries.get_mut(key).unwrap().adopted = true;
        let p = plan("dev", &set, &inv, &live_of(&set), &Outside::default(), opts());
        assert!(p.is_noop());
        assert!(p.inventory.entries[key].adopted);
    }

    #[test]
    fn an_adopted_object_that_left_the_repo_is_released_unless_prune_adopted_is_set() {
        let old = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            ("dev/deployable/b.yaml", &cm("b", "1")),
        ]);
        let new = desired(&[]);
        let mut inv = inventory_of(&old);
        let a = old.objects.iter().find(|o| o.key.name == "a").unwrap();
        inv.entries.get_mut(&a.key).unwrap().adopted = true;
        let allowed = PruneOptions {
            allow_empty: true,
            ..opts()
        };
        let p = plan("dev", &new, &inv, &live_of(&old), &Outside::default(), allowed.clone());
        let names = |entries: &[InventoryEntry]| entries.iter().map(|e| e.key.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&p.release), ["a"]);
        assert_eq!(names(&p.prune), ["b"]);
        assert!(!p.is_noop());
        assert!(p.inventory.is_empty());

        let deleting = PruneOptions {
            prune_adopted: true,
            ..allowed
        };
        let p = plan("dev", &new, &inv, &live_of(&old), &Outside::default(), deleting);
        assert!(p.release.is_empty());
        assert_eq!(names(&p.prune), ["a", "b"]);
    }

    #[test]
    fn an_object_labelled_for_another_env_is_never_adopted() {
        let set = desired(&[("dev/deployable/a.yaml", &cm("a", "1"))]);
        let outside = unlabelled(&set.objects[0], |o| {
            o["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "slipway", "slipway.dev/env": "prod"})
        });
        let adopting = PruneOptions { adopt: true, ..opts() };
        let p = plan("dev", &set, &Inventory::default(), &Live::new(), &outside, adopting);
        assert!(p.apply.is_empty());
        assert!(p.blocked[0].1.contains("belongs to env prod"), "{:?}", p.blocked);
    }

    #[test]
    fn the_envs_namespace_created_by_slipway_without_the_env_label_is_taken_over_without_adoption() {
        let set = desired(&[(
            "dev/deployable/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n",
        )]);
        let outside = unlabelled(&set.objects[0], |o| {
            o["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "slipway"})
        });
        let p = plan("dev", &set, &Inventory::default(), &Live::new(), &outside, opts());
        assert!(p.blocked.is_empty(), "{:?}", p.blocked);
        assert!(
            matches!(p.apply.as_slice(), [(0, ApplyReason::Change(_))]),
            "{:?}",
            p.apply
        );
        assert!(!p.inventory.entries[&set.objects[0].key].adopted);
    }

    #[test]
    fn a_kind_that_could_not_be_read_blocks_only_its_objects_and_none_of_it_is_pruned() {
        let old = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "1")),
            (
                "dev/deployable/np.yaml",
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}}\n",
            ),
            (
                "dev/deployable/gone.yaml",
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: gone}\nspec: {podSelector: {}}\n",
            ),
        ]);
        let new = desired(&[
            ("dev/deployable/a.yaml", &cm("a", "2")),
            (
                "dev/deployable/np.yaml",
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}}\n",
            ),
        ]);
        let mut live = live_of(&old);
        live.retain(|k, _| k.kind != "NetworkPolicy");
        let outside = Outside {
            unavailable: [(
                ("networking.k8s.io".to_string(), "NetworkPolicy".to_string()),
                "403 Forbidden: no".to_string(),
            )]
            .into(),
            ..Outside::default()
        };
        let p = plan("dev", &new, &inventory_of(&old), &live, &outside, opts());
        let applied: Vec<&str> = p.apply.iter().map(|(i, _)| new.objects[*i].key.name.as_str()).collect();
        assert_eq!(applied, ["a"]);
        assert_eq!(p.blocked.len(), 1);
        assert_eq!(new.objects[p.blocked[0].0].key.name, "np");
        assert!(p.prune.is_empty(), "{:?}", p.prune);
        // Both stay recorded: the next reconcile that can read the kind decides.
        assert_eq!(p.inventory.entries.len(), 3);
        assert!(p
            .left_alone
            .iter()
            .any(|l| l.key.name == "gone" && l.reason.contains("403")));
    }
}
