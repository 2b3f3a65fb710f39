//! Pods of Deployments, as the ReplicaSet controller, the scheduler and the
//! kubelet of a real cluster make them: named `<replicaset>-<5 chars>`, owned by
//! their ReplicaSet, labelled with `pod-template-hash`, bound to one node, with
//! the status and conditions a kubelet writes (ground truth:
//! `04j-pod-broken-image-not-ready.json` of the reference captures), and the
//! Events those components record.
//!
//! ```text
//!   Deployment ──owns──▶ ReplicaSet <name>-<hash> ──owns──▶ Pod <name>-<hash>-<5 chars> × replicas
//!   healthy image:  Pending (ContainerCreating) ──rollout_delay──▶ Running, Ready
//!   failing image:  Pending (ErrImagePull)      ──rollout_delay──▶ Pending (ImagePullBackOff)
//! ```
//!
//! Pods cost writes, and most users of the simulator (benchmarks applying
//! thousands of objects) never look at them. So the kubelet starts the first
//! time anyone reads pods or events: it then creates the pods of every
//! Deployment at once, before that request is answered, and keeps them from
//! then on. Whoever looks sees them as if they had been there all along.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::api::Cluster;
use crate::events::{Occurrence, Regarding, NODE};
use crate::meta::now_rfc3339;

/// What the kubelet needs to know about a ReplicaSet's rollout.
pub struct PodsOf<'a> {
    /// The Deployment (as stored).
    pub deployment: &'a Value,
    /// The ReplicaSet (as stored, with its uid).
    pub replicaset: &'a Value,
    /// The pod template of its Deployment.
    pub template: &'a Value,
    /// Replicas wanted.
    pub replicas: i64,
    /// Some image matches the failure pattern.
    pub broken: bool,
    /// Time since the rollout started.
    pub elapsed: Duration,
    /// The image pull is over (pods of a good image are ready, of a bad one back off).
    pub delay: Duration,
    /// Whether an image matches the failure pattern.
    pub is_broken: &'a dyn Fn(&str) -> bool,
}

/// How far a pod has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// Scheduled, image being pulled.
    Creating,
    /// Running and ready.
    Running,
    /// The pull failed once.
    ErrImagePull,
    /// The kubelet backs off pulling again.
    ImagePullBackOff,
}

impl PodState {
    /// The state of a pod after `elapsed` of its rollout.
    pub fn at(broken: bool, elapsed: Duration, delay: Duration) -> PodState {
        match (broken, elapsed >= delay) {
            (false, false) => PodState::Creating,
            (false, true) => PodState::Running,
            (true, false) => PodState::ErrImagePull,
            (true, true) => PodState::ImagePullBackOff,
        }
    }
}

const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The random-looking 5-character suffix of the `index`th pod of a ReplicaSet.
pub fn pod_suffix(replicaset: &str, index: i64) -> String {
    let mut h = DefaultHasher::new();
    (replicaset, index).hash(&mut h);
    let mut n = h.finish();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn pod_ip(name: &str) -> String {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    let n = h.finish();
    format!("10.244.{}.{}", (n >> 8) % 254 + 1, n % 254 + 1)
}

fn containers(template: &Value) -> Vec<(String, String)> {
    template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            (s("name"), s("image"))
        })
        .collect()
}

/// 64 hex digits derived from `seed` (image digests, container ids).
fn hex_id(seed: &str) -> String {
    (0u8..4)
        .map(|i| {
            let mut h = DefaultHasher::new();
            (seed, i).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn image_id(image: &str) -> String {
    let repo = image.split(':').next().unwrap_or(image);
    let repo = if repo.contains('/') {
        repo.to_string()
    } else {
        format!("docker.io/library/{repo}")
    };
    format!("{repo}@sha256:{}", hex_id(image))
}

/// A pod's `status` as the kubelet writes it. `since` is when the pod started,
/// `changed` when it reached `state` (condition transition times).
pub fn pod_status(
    name: &str,
    template: &Value,
    state: PodState,
    broken_images: &dyn Fn(&str) -> bool,
    since: &str,
    changed: &str,
) -> Value {
    let conts = containers(template);
    let ready = state == PodState::Running;
    let unready: Vec<&str> = if ready {
        Vec::new()
    } else {
        conts.iter().map(|(n, _)| n.as_str()).collect()
    };
    let readiness = |ty: &str| {
        let mut c = json!({"type": ty, "status": if ready { "True" } else { "False" },
                           "lastProbeTime": null, "lastTransitionTime": changed});
        if !ready {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(format!("containers with unready status: [{}]", unready.join(" ")));
        }
        c
    };
    let statuses: Vec<Value> = conts
        .iter()
        .map(|(cname, image)| {
            let this_broken = broken_images(image);
            let state = match state {
                PodState::Running => json!({"running": {"startedAt": changed}}),
                PodState::Creating => json!({"waiting": {"reason": "ContainerCreating"}}),
                PodState::ErrImagePull | PodState::ImagePullBackOff if !this_broken => {
                    // A pod is as ready as its worst container; the others wait for nothing but still do not start.
                    json!({"waiting": {"reason": "ContainerCreating"}})
                }
                PodState::ErrImagePull => json!({"waiting": {"reason": "ErrImagePull",
                    "message": format!("failed to pull and unpack image \"{image}\": not found")}}),
                PodState::ImagePullBackOff => json!({"waiting": {"reason": "ImagePullBackOff",
                    "message": format!("Back-off pulling image \"{image}\"")}}),
            };
            let mut s = json!({"name": cname, "state": state, "lastState": {}, "ready": ready,
                               "restartCount": 0, "image": image, "imageID": "", "started": ready});
            if ready {
                s["imageID"] = json!(image_id(image));
                s["containerID"] = json!(format!("containerd://{}", hex_id(&format!("{name}/{cname}"))));
            }
            s
        })
        .collect();
    let ip = pod_ip(name);
    json!({
        "phase": if ready { "Running" } else { "Pending" },
        "conditions": [
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": since},
            readiness("Ready"),
            readiness("ContainersReady"),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": since},
        ],
        "hostIP": "10.255.0.1", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": since,
        "containerStatuses": statuses, "qosClass": "BestEffort",
    })
}

/// The spec of a pod from its template, with what the scheduler and admission add.
fn pod_spec(template: &Value) -> Value {
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    let m = spec.as_object_mut().map(std::mem::take).unwrap_or_default();
    let mut m: Map<String, Value> = m;
    m.insert("nodeName".into(), json!(NODE));
    m.entry("serviceAccountName").or_insert(json!("default"));
    let sa = m["serviceAccountName"].clone();
    m.insert("serviceAccount".into(), sa);
    m.entry("schedulerName").or_insert(json!("default-scheduler"));
    m.entry("tolerations").or_insert(json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]));
    m.entry("priority").or_insert(json!(0));
    m.entry("enableServiceLinks").or_insert(json!(true));
    m.entry("preemptionPolicy").or_insert(json!("PreemptLowerPriority"));
    Value::Object(m)
}

impl Cluster {
    /// Whether the kubelet runs (someone has looked at pods or events).
    pub fn kubelet_running(&self) -> bool {
        self.controller_state.lock().unwrap_or_else(|e| e.into_inner()).kubelet
    }

    /// Makes the pods of a ReplicaSet match `pods`; records the Events of what changed.
    pub fn sync_pods(&self, pods: &PodsOf<'_>) {
        let rs = pods.replicaset;
        let (ns, rs_name) = crate::store::object_key(rs);
        let rs_uid = rs.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
        let state = PodState::at(pods.broken, pods.elapsed, pods.delay);
        let rs_ref = Regarding {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            namespace: ns.clone(),
            name: rs_name.clone(),
            uid: rs_uid.to_string(),
        };
        let broken_image = pods.is_broken;
        let mut labels = pods.template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
        if let Some(hash) = rs.pointer("/metadata/labels/pod-template-hash") {
            labels["pod-template-hash"] = hash.clone();
        }
        let existing: Vec<std::sync::Arc<Value>> = {
            let inner = self.lock();
            inner
                .dependents(rs_uid)
                .into_iter()
                .filter(|(resource, _, _)| resource == "/pods")
                .filter_map(|(resource, pns, pname)| inner.get(&resource, &pns, &pname))
                .collect()
        };
        let wanted = pods.replicas.max(0);
        let have = existing.len() as i64;
        if have != wanted {
            let (verb, action) = if have < wanted {
                ("up", "ScaleUp")
            } else {
                ("down", "ScaleDown")
            };
            let mut deployment = Regarding::of(pods.deployment);
            deployment.api_version = "apps/v1".into();
            deployment.kind = "Deployment".into();
            self.record_event(
                &deployment,
                &Occurrence {
                    type_: "Normal",
                    reason: "ScalingReplicaSet",
                    message: format!("Scaled {verb} replica set {rs_name} to {wanted}"),
                    component: "deployment-controller",
                    action,
                },
            );
        }
        for index in 0..wanted {
            let name = format!("{rs_name}-{}", pod_suffix(&rs_name, index));
            let old = existing.iter().find(|p| crate::store::object_key(p).1 == name);
            let old_state = old.map(|p| observed_state(p));
            if old_state == Some(Some(state)) {
                continue;
            }
            let now = now_rfc3339();
            let since = old
                .and_then(|p| p.pointer("/status/startTime"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| now.clone());
            let status = pod_status(&name, pods.template, state, broken_image, &since, &now);
            let mut pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "generateName": format!("{rs_name}-"), "namespace": ns,
                             "uid": old.and_then(|p| p.pointer("/metadata/uid").cloned())
                                      .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string())),
                             "creationTimestamp": old.and_then(|p| p.pointer("/metadata/creationTimestamp").cloned())
                                      .unwrap_or_else(|| json!(now)),
                             "labels": labels,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name,
                                                  "uid": rs_uid, "controller": true, "blockOwnerDeletion": true}]},
                "spec": pod_spec(pods.template),
                "status": status,
            });
            if let Some(o) = old {
                pod["metadata"]["resourceVersion"] =
                    o.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
            }
            self.controller_put("/pods", pod.clone());
            let pod_ref = Regarding::of(&pod);
            if old.is_none() {
                self.record_event(
                    &rs_ref,
                    &Occurrence {
                        type_: "Normal",
                        reason: "SuccessfulCreate",
                        message: format!("Created pod: {name}"),
                        component: "replicaset-controller",
                        action: "Create",
                    },
                );
                self.record_event(
                    &pod_ref,
                    &Occurrence {
                        type_: "Normal",
                        reason: "Scheduled",
                        message: format!("Successfully assigned {ns}/{name} to {NODE}"),
                        component: "default-scheduler",
                        action: "Binding",
                    },
                );
            }
            // A pod first seen late (pods are made when first read) still went
            // through the earlier state, as a real kubelet's events show.
            let earlier = match state {
                PodState::Running => Some(PodState::Creating),
                PodState::ImagePullBackOff => Some(PodState::ErrImagePull),
                PodState::Creating | PodState::ErrImagePull => None,
            };
            if let Some(earlier) = earlier.filter(|e| old_state.flatten() != Some(*e)) {
                self.record_pod_events(&pod_ref, pods.template, earlier, broken_image);
            }
            self.record_pod_events(&pod_ref, pods.template, state, broken_image);
        }
        // Scaled down: the pods past the wanted count go, newest index first.
        for p in &existing {
            let name = crate::store::object_key(p).1;
            let wanted = (0..pods.replicas.max(0)).any(|i| name == format!("{rs_name}-{}", pod_suffix(&rs_name, i)));
            if !wanted {
                self.controller_remove("/pods", &ns, &name);
                self.record_event(
                    &rs_ref,
                    &Occurrence {
                        type_: "Normal",
                        reason: "SuccessfulDelete",
                        message: format!("Deleted pod: {name}"),
                        component: "replicaset-controller",
                        action: "Delete",
                    },
                );
            }
        }
    }

    fn record_pod_events(&self, pod: &Regarding, template: &Value, state: PodState, broken: &dyn Fn(&str) -> bool) {
        let kubelet = |type_: &'static str, reason: &'static str, action: &'static str, message: String| Occurrence {
            type_,
            reason,
            message,
            component: "kubelet",
            action,
        };
        for (cname, image) in containers(template) {
            let events: Vec<Occurrence<'_>> = match state {
                PodState::Creating => vec![kubelet(
                    "Normal",
                    "Pulling",
                    "Pulling",
                    format!("Pulling image \"{image}\""),
                )],
                PodState::Running => vec![
                    kubelet(
                        "Normal",
                        "Pulled",
                        "Pulled",
                        format!("Successfully pulled image \"{image}\""),
                    ),
                    kubelet("Normal", "Created", "Created", format!("Created container {cname}")),
                    kubelet("Normal", "Started", "Started", format!("Started container {cname}")),
                ],
                PodState::ErrImagePull if broken(&image) => vec![
                    kubelet("Normal", "Pulling", "Pulling", format!("Pulling image \"{image}\"")),
                    kubelet(
                        "Warning",
                        "Failed",
                        "Pulling",
                        format!(
                            "Failed to pull image \"{image}\": failed to pull and unpack image \"{image}\": not found"
                        ),
                    ),
                    kubelet("Warning", "Failed", "Pulling", "Error: ErrImagePull".to_string()),
                ],
                PodState::ImagePullBackOff if broken(&image) => vec![
                    kubelet(
                        "Normal",
                        "BackOff",
                        "Pulling",
                        format!("Back-off pulling image \"{image}\""),
                    ),
                    kubelet("Warning", "Failed", "Pulling", "Error: ImagePullBackOff".to_string()),
                ],
                PodState::ErrImagePull | PodState::ImagePullBackOff => Vec::new(),
            };
            for e in &events {
                self.record_event(pod, e);
            }
        }
    }
}

/// The state a stored pod was last written in (None: not one the kubelet wrote).
fn observed_state(pod: &Value) -> Option<PodState> {
    let statuses = pod.pointer("/status/containerStatuses")?.as_array()?;
    let reasons: Vec<&str> = statuses
        .iter()
        .filter_map(|s| {
            if s.pointer("/state/running").is_some() {
                Some("Running")
            } else {
                s.pointer("/state/waiting/reason").and_then(Value::as_str)
            }
        })
        .collect();
    if reasons.contains(&"ImagePullBackOff") {
        Some(PodState::ImagePullBackOff)
    } else if reasons.contains(&"ErrImagePull") {
        Some(PodState::ErrImagePull)
    } else if !reasons.is_empty() && reasons.iter().all(|r| *r == "Running") {
        Some(PodState::Running)
    } else if reasons.contains(&"ContainerCreating") {
        Some(PodState::Creating)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}})
    }

    #[test]
    fn pod_names_get_a_stable_five_character_suffix_per_index() {
        let a = pod_suffix("web-5d4f8c7b9x", 0);
        assert_eq!(a.len(), 5);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(a, pod_suffix("web-5d4f8c7b9x", 0));
        assert_ne!(a, pod_suffix("web-5d4f8c7b9x", 1));
    }

    #[test]
    fn a_failing_image_waits_with_err_image_pull_then_image_pull_back_off_like_the_reference() {
        let broken = |i: &str| i.ends_with(":broken");
        let s = pod_status(
            "p",
            &template("nginx:broken"),
            PodState::ImagePullBackOff,
            &broken,
            "t0",
            "t1",
        );
        assert_eq!(s["phase"], "Pending");
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Initialized", "Ready", "ContainersReady", "PodScheduled"]);
        assert_eq!(s["conditions"][1]["reason"], "ContainersNotReady");
        assert_eq!(s["conditions"][1]["message"], "containers with unready status: [app]");
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["waiting"]["reason"], "ImagePullBackOff");
        assert_eq!(
            c["state"]["waiting"]["message"],
            "Back-off pulling image \"nginx:broken\""
        );
        assert_eq!(c["ready"], false);
        assert_eq!(c["started"], false);
        assert_eq!(c["imageID"], "");
        let s = pod_status(
            "p",
            &template("nginx:broken"),
            PodState::ErrImagePull,
            &broken,
            "t0",
            "t0",
        );
        assert_eq!(s["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull");
        assert_eq!(
            PodState::at(true, Duration::ZERO, Duration::from_secs(1)),
            PodState::ErrImagePull
        );
        assert_eq!(
            PodState::at(true, Duration::from_secs(1), Duration::from_secs(1)),
            PodState::ImagePullBackOff
        );
    }

    #[test]
    fn a_ready_pod_runs_with_every_condition_true() {
        let s = pod_status("p", &template("nginx:1"), PodState::Running, &|_| false, "t0", "t1");
        assert_eq!(s["phase"], "Running");
        assert!(s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "True"));
        assert!(s["conditions"][1].get("reason").is_none());
        let c = &s["containerStatuses"][0];
        assert_eq!(c["state"]["running"]["startedAt"], "t1");
        assert_eq!(c["ready"], true);
        assert!(c["imageID"]
            .as_str()
            .unwrap()
            .starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(observed_state(&json!({"status": s})), Some(PodState::Running));
    }
}
