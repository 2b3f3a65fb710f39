//! The simulated cluster driven through `kube` clients, as the deployer drives it.

mod common;

use std::time::Duration;

use common::{cluster, eventually, raw};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Discovery, Scope};
use serde_json::{json, Value};
use slipway_simcluster::{SimCluster, SimConfig};

fn deployment(name: &str, image: &str, extra_labels: Value) -> Value {
    let mut labels = json!({"app": name});
    if let (Some(l), Some(e)) = (labels.as_object_mut(), extra_labels.as_object()) {
        l.extend(e.clone());
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 2, "progressDeadlineSeconds": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image,
                                                       "env": [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "true"}]}]}}}
    })
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(name, &PatchParams::apply("slipway"), &Patch::Apply(&ns))
        .await
        .expect("apply namespace");
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

fn managers(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Vec<String> {
    let mut m: Vec<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .map(|e| {
            format!(
                "{}/{}",
                e.manager.clone().unwrap_or_default(),
                e.operation.clone().unwrap_or_default()
            )
        })
        .collect();
    m.sort();
    m
}

#[tokio::test]
async fn server_side_apply_creates_and_identical_reapply_changes_nothing() {
    let sim = cluster().await;
    let client = sim.client().await;
    namespace(&client, "team").await;
    let api: Api<Deployment> = Api::namespaced(client, "team");
    let body = deployment("web", "nginx:1.25", json!({"tier": "frontend"}));
    let pp = PatchParams::apply("slipway").force();
    let created = api.patch("web", &pp, &Patch::Apply(&body)).await.expect("first apply");
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(managers(&created.metadata), ["slipway/Apply"]);
    // Let the controller settle so its status writes do not race the comparison.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = api.get("web").await.expect("get");
    sim.reset_counters();
    let again = api.patch("web", &pp, &Patch::Apply(&body)).await.expect("re-apply");
    assert_eq!(again.metadata.resource_version, before.metadata.resource_version);
    assert_eq!(again.metadata.generation, before.metadata.generation);
    assert_eq!(again.metadata.managed_fields, before.metadata.managed_fields);
    assert_eq!(sim.counters().get("patch", "deployments"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn apply_without_a_field_removes_it() {
    let sim = cluster().await;
    let client = sim.client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let pp = PatchParams::apply("slipway").force();
    api.patch(
        "web",
        &pp,
        &Patch::Apply(&deployment("web", "nginx:1.25", json!({"tier": "frontend"}))),
    )
    .await
    .unwrap();
    let mut smaller = deployment("web", "nginx:1.25", json!({}));
    smaller["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]);
    let d = api
        .patch("web", &pp, &Patch::Apply(&smaller))
        .await
        .expect("apply without tier and DEBUG");
    assert!(!d.metadata.labels.unwrap().contains_key("tier"));
    let env = d.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert_eq!(env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["A"]);
    assert_eq!(d.metadata.generation, Some(2));
    sim.shutdown().await;
}

#[tokio::test]
async fn conflicting_manager_gets_409_without_force_and_wins_with_force() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    let cm =
        |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": data});
    api.patch(
        "shared",
        &PatchParams::apply("owner"),
        &Patch::Apply(&cm(json!({"color": "blue", "size": "10"}))),
    )
    .await
    .unwrap();
    let err = api
        .patch(
            "shared",
            &PatchParams::apply("intruder"),
            &Patch::Apply(&cm(json!({"color": "red"}))),
        )
        .await
        .expect_err("conflict");
    let (code, reason, message) = api_error(err);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(
        message,
        "Apply failed with 1 conflict: conflict with \"owner\": .data.color"
    );
    // Equal values are shared without force.
    let shared = api
        .patch(
            "shared",
            &PatchParams::apply("sharer"),
            &Patch::Apply(&cm(json!({"color": "blue"}))),
        )
        .await
        .expect("same value shares ownership");
    assert_eq!(managers(&shared.metadata), ["owner/Apply", "sharer/Apply"]);
    let forced = api
        .patch(
            "shared",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(&cm(json!({"color": "red"}))),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.data.unwrap()["color"], "red");
    // The owner forces back; managers left with nothing vanish.
    let back = api
        .patch(
            "shared",
            &PatchParams::apply("owner").force(),
            &Patch::Apply(&cm(json!({"color": "blue", "size": "10"}))),
        )
        .await
        .unwrap();
    assert_eq!(managers(&back.metadata), ["owner/Apply"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_merge_patch_without_a_managers_entry_releases_its_fields_to_other_appliers() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    let cm = |color: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "handed-over"}, "data": {"color": color}});
    api.patch("handed-over", &PatchParams::apply("owner"), &Patch::Apply(&cm("blue")))
        .await
        .unwrap();
    let intruder = api
        .patch(
            "handed-over",
            &PatchParams::apply("intruder"),
            &Patch::Apply(&cm("red")),
        )
        .await
        .expect_err("the owner's field conflicts");
    assert_eq!(api_error(intruder).0, 409);

    // The owner hands the object over: a merge patch whose managedFields leave out its entry.
    let live = api.get("handed-over").await.unwrap();
    let others: Vec<_> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.manager.as_deref() != Some("owner"))
        .collect();
    let mut release = json!({"metadata": {"managedFields": others}});
    if others.is_empty() {
        release["metadata"]["managedFields"] = json!([{}]);
    }
    let released = api
        .patch("handed-over", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    assert!(
        managers(&released.metadata).is_empty(),
        "{:?}",
        released.metadata.managed_fields
    );
    assert_eq!(released.data.as_ref().unwrap()["color"], "blue");

    // Nobody owns the field now, so another manager applies it without force.
    let taken = api
        .patch(
            "handed-over",
            &PatchParams::apply("intruder"),
            &Patch::Apply(&cm("red")),
        )
        .await
        .expect("released fields do not conflict");
    assert_eq!(taken.data.unwrap()["color"], "red");
    assert_eq!(managers(&taken.metadata), ["intruder/Apply"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn update_with_stale_resource_version_conflicts() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"v": "1"}})).unwrap();
    let old = api.create(&PostParams::default(), &cm).await.unwrap();
    api.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "2"}})))
        .await
        .unwrap();
    let err = api.replace("c", &PostParams::default(), &old).await.expect_err("stale");
    let (code, reason, message) = api_error(err);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(message.contains("the object has been modified"), "{message}");
    sim.shutdown().await;
}

#[tokio::test]
async fn dynamic_objects_work_through_discovery() {
    let sim = cluster().await;
    let client = sim.client().await;
    let discovery = Discovery::new(client.clone()).run().await.expect("discovery");
    let (ar, caps) = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(ar, _)| ar.kind == "Deployment")
        .expect("deployments are discoverable");
    assert_eq!(caps.scope, Scope::Namespaced);
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let obj: DynamicObject = serde_json::from_value(deployment("dyn", "nginx:1.25", json!({}))).unwrap();
    let created = api
        .patch("dyn", &PatchParams::apply("slipway"), &Patch::Apply(&obj))
        .await
        .expect("apply");
    assert_eq!(created.metadata.name.as_deref(), Some("dyn"));
    assert_eq!(api.list(&ListParams::default()).await.unwrap().items.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn label_selectors_filter_lists() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    for (name, labels) in [
        ("a", json!({"tier": "web", "env": "prod"})),
        ("b", json!({"tier": "db", "env": "prod"})),
        ("c", json!({"tier": "cache"})),
    ] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let names = |sel: &'static str| {
        let api = api.clone();
        async move {
            let mut n: Vec<String> = api
                .list(&ListParams::default().labels(sel))
                .await
                .unwrap()
                .items
                .into_iter()
                .filter_map(|c| c.metadata.name)
                .collect();
            n.retain(|x| x.len() == 1);
            n.sort();
            n.join(",")
        }
    };
    assert_eq!(names("tier=web").await, "a");
    assert_eq!(names("tier!=web").await, "b,c");
    assert_eq!(names("tier in (web,db)").await, "a,b");
    assert_eq!(names("tier notin (web,db)").await, "c");
    assert_eq!(names("env").await, "a,b");
    assert_eq!(names("!env").await, "c");
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_are_kubernetes_status_objects() {
    let sim = cluster().await;
    let a = sim.addr();
    let r = raw(a, "GET", "/apis/apps/v1/namespaces/default/deployments/nope", None, "").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );
    assert_eq!(r.json()["message"], "deployments.apps \"nope\" not found");
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}"#;
    assert_eq!(
        raw(
            a,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some("application/json"),
            cm
        )
        .await
        .status,
        201
    );
    let dup = raw(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        cm,
    )
    .await;
    assert_eq!(
        (dup.status, dup.json()["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    let bad = raw(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        "{\"apiVersion\":",
    )
    .await;
    assert_eq!((bad.status, bad.json()["reason"].as_str()), (400, Some("BadRequest")));
    let noname = raw(
        a,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        Some("application/json"),
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{}}"#,
    )
    .await;
    assert_eq!(
        (noname.status, noname.json()["reason"].as_str()),
        (422, Some("Invalid"))
    );
    assert_eq!(noname.json()["details"]["causes"][0]["field"], "metadata.name");
    let text = raw(
        a,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/dup",
        Some("text/plain"),
        "{}",
    )
    .await;
    assert_eq!(
        (text.status, text.json()["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let post_obj = raw(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps/dup",
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(
        (post_obj.status, post_obj.json()["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let group = raw(a, "GET", "/apis/nosuch.example.com/v1/things", None, "").await;
    assert_eq!(group.status, 404);
    assert!(group
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    assert_eq!(group.body.trim(), "404 page not found");
    let missing_ns = raw(
        a,
        "POST",
        "/api/v1/namespaces/nowhere/configmaps",
        Some("application/json"),
        cm,
    )
    .await;
    assert_eq!(
        (missing_ns.status, missing_ns.json()["message"].as_str()),
        (404, Some("namespaces \"nowhere\" not found"))
    );
    let bad_label = raw(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        r#"{"metadata":{"name":"l","labels":{"bad key":"x"}}}"#,
    )
    .await;
    assert_eq!(bad_label.status, 422);
    let no_fm = raw(
        a,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        Some("application/apply-patch+yaml"),
        cm,
    )
    .await;
    assert_eq!(
        (no_fm.status, no_fm.json()["details"]["kind"].as_str()),
        (422, Some("PatchOptions"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn crd_adds_its_kind_to_discovery_and_custom_resources_apply() {
    let sim = cluster().await;
    let client = sim.client().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}}}}}]}});
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("slipway"),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply CRD");
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, _) = discovery
        .resolve_gvk(&kube::core::GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("Widget discovered");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3, "unknown": true}}))
    .unwrap();
    let created = widgets
        .patch("w1", &PatchParams::apply("slipway"), &Patch::Apply(&w))
        .await
        .expect("apply Widget");
    assert_eq!(created.data["spec"], json!({"size": 3}));
    let bad: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w2"}, "spec": {"size": 0}}))
    .unwrap();
    let (code, _, _) = api_error(
        widgets
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("schema violation"),
    );
    assert_eq!(code, 422);
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .expect("delete CRD");
    let gone = eventually(Duration::from_secs(5), || async {
        raw(sim.addr(), "GET", "/apis/example.com/v1", None, "").await.status == 404
    })
    .await;
    assert!(gone, "discovery still serves example.com/v1 after the CRD was deleted");
    sim.shutdown().await;
}

async fn wait_for_deployment(api: &Api<Deployment>, name: &str, pred: impl Fn(&Deployment) -> bool) -> Deployment {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = api.get(name).await.expect("get deployment");
        if pred(&d) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached; status: {:?}",
            d.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn condition(d: &Deployment, ty: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == ty)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

#[tokio::test]
async fn good_image_rollout_becomes_available_after_the_delay() {
    let sim = cluster().await;
    let api: Api<Deployment> = Api::namespaced(sim.client().await, "default");
    let start = std::time::Instant::now();
    api.patch(
        "web",
        &PatchParams::apply("slipway"),
        &Patch::Apply(&deployment("web", "nginx:1.25", json!({}))),
    )
    .await
    .unwrap();
    let d = wait_for_deployment(&api, "web", |d| {
        d.status.as_ref().and_then(|s| s.available_replicas) == Some(2)
    })
    .await;
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "became available before the rollout delay"
    );
    assert_eq!(
        condition(&d, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
    let status = d.status.unwrap();
    assert_eq!(
        (status.observed_generation, status.unavailable_replicas),
        (Some(1), None)
    );
    let mf = d.metadata.managed_fields.unwrap();
    assert!(
        mf.iter()
            .any(|e| e.manager.as_deref() == Some("kube-controller-manager")
                && e.subresource.as_deref() == Some("status"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn broken_image_rollout_ends_in_progress_deadline_exceeded_and_recovers() {
    let sim = cluster().await;
    let api: Api<Deployment> = Api::namespaced(sim.client().await, "default");
    let pp = PatchParams::apply("slipway").force();
    api.patch(
        "bad",
        &pp,
        &Patch::Apply(&deployment("bad", "registry/app:broken", json!({}))),
    )
    .await
    .unwrap();
    let d = wait_for_deployment(&api, "bad", |d| {
        condition(d, "Progressing").is_some_and(|c| c.0 == "False")
    })
    .await;
    assert_eq!(condition(&d, "Progressing").unwrap().1, "ProgressDeadlineExceeded");
    assert_eq!(
        condition(&d, "Available"),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );
    assert_eq!(d.status.as_ref().unwrap().unavailable_replicas, Some(2));
    assert_eq!(d.status.as_ref().unwrap().available_replicas, None);
    // Fixing the image recovers.
    api.patch(
        "bad",
        &pp,
        &Patch::Apply(&deployment("bad", "registry/app:1.0", json!({}))),
    )
    .await
    .unwrap();
    wait_for_deployment(&api, "bad", |d| {
        condition(d, "Progressing").is_some_and(|c| c.1 == "NewReplicaSetAvailable")
            && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn fault_injection_answers_5xx_and_429_until_lowered() {
    let sim = cluster().await;
    sim.set_error_rate(1.0);
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = raw(sim.addr(), "GET", "/api/v1/namespaces/default/configmaps", None, "").await;
        assert_eq!(r.json()["kind"], "Status");
        if r.status == 429 {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
        codes.insert(r.status);
    }
    assert_eq!(codes.into_iter().collect::<Vec<_>>(), [429, 500, 503]);
    sim.set_error_rate(0.0);
    sim.set_latency(Duration::from_millis(200));
    let t = std::time::Instant::now();
    assert_eq!(
        raw(sim.addr(), "GET", "/api/v1/namespaces/default/configmaps", None, "")
            .await
            .status,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    sim.shutdown().await;
}

#[tokio::test]
async fn counters_count_requests_by_verb_and_resource() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    sim.reset_counters();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    api.patch("c", &PatchParams::apply("slipway"), &Patch::Apply(&cm))
        .await
        .unwrap();
    api.get("c").await.unwrap();
    api.list(&ListParams::default()).await.unwrap();
    api.delete("c", &DeleteParams::default()).await.unwrap();
    let c = sim.counters();
    assert_eq!(c.get("patch", "configmaps"), 1);
    assert_eq!(c.get("get", "configmaps"), 1);
    assert_eq!(c.get("list", "configmaps"), 1);
    assert_eq!(c.get("delete", "configmaps"), 1);
    assert_eq!(c.writes(), 2);
    assert_eq!(c.total(), 4);
    sim.reset_counters();
    assert_eq!(sim.counters().total(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_streams_initial_and_deleted_events() {
    let sim = cluster().await;
    let a = sim.addr();
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w","labels":{"demo":"watch"}}}"#;
    raw(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/json"),
        cm,
    )
    .await;
    let watch = tokio::spawn(async move {
        raw(
            a,
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&labelSelector=demo%3Dwatch&timeoutSeconds=1",
            None,
            "",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    raw(a, "DELETE", "/api/v1/namespaces/default/configmaps/w", None, "").await;
    let r = watch.await.unwrap();
    let types: Vec<String> = r
        .body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["ADDED", "DELETED"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn namespace_deletion_terminates_then_removes_everything() {
    let sim = cluster().await;
    let client = sim.client().await;
    namespace(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    assert!(
        cms.get("kube-root-ca.crt").await.is_ok(),
        "new namespaces get kube-root-ca.crt"
    );
    let nss: Api<Namespace> = Api::all(client);
    nss.delete("doomed", &DeleteParams::default()).await.unwrap();
    let gone = eventually(Duration::from_secs(5), || async {
        nss.get_opt("doomed").await.unwrap().is_none()
    })
    .await;
    assert!(gone);
    assert!(cms.list(&ListParams::default()).await.unwrap().items.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn stopped_cluster_refuses_connections_and_resumes_on_the_same_port() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let addr = sim.addr();
    sim.stop_serving().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port still open after stop_serving"
    );
    sim.resume_serving().await.expect("resume");
    assert_eq!(raw(addr, "GET", "/version", None, "").await.status, 200);
    sim.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port still open after shutdown"
    );
}

#[tokio::test]
async fn kubeconfig_points_at_the_cluster() {
    let sim = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("server: {}", sim.url())) && text.contains("current-context: simcluster"));
    let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    assert_eq!(client.apiserver_version().await.unwrap().major, "1");
    sim.shutdown().await;
}

#[tokio::test]
async fn scale_subresource_changes_replicas() {
    let sim = cluster().await;
    let api: Api<Deployment> = Api::namespaced(sim.client().await, "default");
    api.patch(
        "web",
        &PatchParams::apply("slipway"),
        &Patch::Apply(&deployment("web", "nginx:1.25", json!({}))),
    )
    .await
    .unwrap();
    let scale = api.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    api.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .expect("patch scale");
    assert_eq!(api.get("web").await.unwrap().spec.unwrap().replicas, Some(4));
    sim.shutdown().await;
}

#[tokio::test]
async fn metadata_only_lists_and_kube_watches_work() {
    use futures::{StreamExt, TryStreamExt};
    use kube::api::{WatchEvent, WatchParams};
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "m", "labels": {"x": "y"}}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let metas = api
        .list_metadata(&ListParams::default().labels("x=y"))
        .await
        .expect("metadata list");
    assert_eq!(metas.items.len(), 1);
    assert_eq!(api.get_metadata("m").await.unwrap().metadata.name.as_deref(), Some("m"));

    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().labels("x=y").timeout(2), &rv)
        .await
        .expect("watch");
    let mut stream = stream.boxed();
    api.patch("m", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": "1"}})))
        .await
        .unwrap();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Modified(c)) => assert_eq!(c.data.unwrap()["a"], "1"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    api.delete("m", &DeleteParams::default()).await.unwrap();
    assert!(matches!(stream.try_next().await.unwrap(), Some(WatchEvent::Deleted(_))));
    sim.shutdown().await;
}

/// One manifest of every common kind, as the deployer would apply them.
fn every_kind() -> Vec<Value> {
    let pod = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "ports": [{"containerPort": 8080}]}]}});
    let job_pod = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}});
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "every", "labels": {"team": "a"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "every"}, "data": {"a": "1"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "every"}, "stringData": {"password": "x"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "every"},
               "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "every"}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "pvc", "namespace": "every"},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "every"},
               "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": pod}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sts", "namespace": "every"},
               "spec": {"serviceName": "svc", "selector": {"matchLabels": {"app": "x"}}, "template": pod}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds", "namespace": "every"},
               "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": pod}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job", "namespace": "every"}, "spec": {"template": job_pod}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "namespace": "every"},
               "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": job_pod}}}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing", "namespace": "every"},
               "spec": {"rules": [{"host": "x.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "svc", "port": {"number": 80}}}}]}}]}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "every"},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "every"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
               "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "every"}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "every-cr"},
               "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "every-crb"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "every-cr"},
               "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "every"}]}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "gizmos.example.com"},
               "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gizmos", "kind": "Gizmo"},
                        "versions": [{"name": "v1", "served": true, "storage": true,
                                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}),
    ]
}

#[tokio::test]
async fn reapplying_every_common_kind_changes_nothing_and_counts_no_other_writes() {
    let sim = cluster().await;
    let client = sim.client().await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let apply_all = |client: kube::Client| {
        let discovery = &discovery;
        async move {
            let mut versions = Vec::new();
            for obj in every_kind() {
                let (av, kind) = (obj["apiVersion"].as_str().unwrap(), obj["kind"].as_str().unwrap());
                let (group, version) = av.split_once('/').unwrap_or(("", av));
                let (ar, caps) = discovery
                    .resolve_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind))
                    .expect(kind);
                let api: Api<DynamicObject> = match (caps.scope, obj["metadata"]["namespace"].as_str()) {
                    (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
                    _ => Api::all_with(client.clone(), &ar),
                };
                let name = obj["metadata"]["name"].as_str().unwrap();
                let o: DynamicObject = serde_json::from_value(obj.clone()).unwrap();
                let applied = api
                    .patch(name, &PatchParams::apply("slipway").force(), &Patch::Apply(&o))
                    .await
                    .expect(kind);
                versions.push((kind.to_string(), applied.metadata.resource_version.unwrap()));
            }
            versions
        }
    };
    apply_all(client.clone()).await;
    // Let the controllers settle (rollouts, Job completion, CRD establishment).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let settled = apply_all(client.clone()).await;
    sim.reset_counters();
    let again = apply_all(client).await;
    assert_eq!(
        settled, again,
        "a re-apply of unchanged manifests changed resourceVersions"
    );
    let c = sim.counters();
    assert_eq!(
        c.writes(),
        every_kind().len() as u64,
        "only the apply requests themselves"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_from_a_resource_version_too_old_ends_with_410_expired() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "busy"}, "data": {"n": "0"}})).unwrap();
    let first = api.create(&PostParams::default(), &cm).await.unwrap();
    let old_rv = first.metadata.resource_version.unwrap();
    for i in 1..=1100 {
        api.patch(
            "busy",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    let path = format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={old_rv}&timeoutSeconds=5");
    let started = std::time::Instant::now();
    let r = raw(sim.addr(), "GET", &path, None, "").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the expired watch was not ended"
    );
    let ev: Value = serde_json::from_str(r.body.lines().next().unwrap()).unwrap();
    assert_eq!(
        (ev["type"].as_str(), ev["object"]["code"].as_u64()),
        (Some("ERROR"), Some(410))
    );
    assert_eq!(r.body.lines().count(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_page_of_a_list_answers_with_the_version_of_its_first_page() {
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    for name in ["a", "b", "c"] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let first = api.list(&ListParams::default().limit(1)).await.unwrap();
    let list_rv = first.metadata.resource_version.clone().unwrap();
    // A change to an object already read, while the later pages are read: a
    // watch from the list's version must still see it.
    let changed: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "v"}})).unwrap();
    api.replace("a", &PostParams::default(), &changed).await.unwrap();
    let mut token = first.metadata.continue_.clone();
    let mut pages = 1;
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = api
            .list(&ListParams::default().limit(1).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version.as_deref(), Some(list_rv.as_str()));
        token = page.metadata.continue_.clone();
        pages += 1;
    }
    assert!(pages >= 3, "{pages} pages");
}
