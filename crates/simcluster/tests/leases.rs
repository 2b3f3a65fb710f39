//! `coordination.k8s.io/v1` Leases, as leader election uses them: discovery,
//! every verb through `kube`, `resourceVersion` conflicts, MicroTime fields,
//! validation, watches, and `kubectl get leases`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::Api;
use serde_json::json;

use common::{cluster, raw};

fn lease(name: &str, holder: &str) -> Lease {
    let t: Timestamp = "2024-05-01T08:00:00.123456Z".parse().unwrap();
    Lease {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(t)),
            renew_time: Some(MicroTime(t)),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    }
}

fn status_of(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason, s.message),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn discovery_lists_leases_in_coordination_v1() {
    let sim = cluster().await;
    let groups = raw(sim.addr(), "GET", "/apis", None, "").await.json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(names.contains(&"coordination.k8s.io"), "{names:?}");
    let list = raw(sim.addr(), "GET", "/apis/coordination.k8s.io/v1", None, "")
        .await
        .json();
    let leases = &list["resources"][0];
    assert_eq!(leases["name"], "leases");
    assert_eq!(leases["kind"], "Lease");
    assert_eq!(leases["namespaced"], true);
    assert_eq!(
        leases["verbs"],
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    );
    assert_eq!(leases["storageVersionHash"], "gqkMMb/YqFM=");
    assert_eq!(list["resources"].as_array().unwrap().len(), 1, "no status subresource");
}

#[tokio::test]
async fn lease_round_trips_with_micro_times_and_no_generation() {
    let sim = cluster().await;
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let created = api.create(&PostParams::default(), &lease("leader", "a")).await.unwrap();
    assert!(created.metadata.generation.is_none(), "Leases have no generation");
    let text = raw(
        sim.addr(),
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/leader",
        None,
        "",
    )
    .await
    .json();
    assert_eq!(text["spec"]["renewTime"], "2024-05-01T08:00:00.123456Z");
    assert_eq!(text["spec"]["acquireTime"], "2024-05-01T08:00:00.123456Z");
    assert_eq!(text["spec"]["holderIdentity"], "a");
    assert_eq!(text["spec"]["leaseDurationSeconds"], 15);
    assert_eq!(text["spec"]["leaseTransitions"], 0);
    let got = api.get("leader").await.unwrap();
    assert_eq!(got.spec, created.spec);
    assert_eq!(api.list(&ListParams::default()).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn a_stale_update_is_refused_with_409_conflict() {
    let sim = cluster().await;
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let first = api.create(&PostParams::default(), &lease("leader", "a")).await.unwrap();

    // Two contenders read the same version; the first update wins.
    let mut mine = first.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let mine = api.replace("leader", &PostParams::default(), &mine).await.unwrap();
    assert_ne!(mine.metadata.resource_version, first.metadata.resource_version);

    let mut theirs = first.clone();
    theirs.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let (code, reason, message) = status_of(
        api.replace("leader", &PostParams::default(), &theirs)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert_eq!(
        message,
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"leader\": the object has been modified; please apply your changes to the latest version and try again"
    );
    // A patch carrying the stale resourceVersion is refused the same way.
    let stale =
        json!({"metadata": {"resourceVersion": first.metadata.resource_version}, "spec": {"holderIdentity": "c"}});
    let (code, _, _) = status_of(
        api.patch("leader", &PatchParams::default(), &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    assert_eq!(
        api.get("leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("b")
    );
}

#[tokio::test]
async fn patch_apply_and_delete_work_on_leases() {
    let sim = cluster().await;
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let apply = |holder: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 10,
                        "renewTime": "2024-05-01T08:00:00.000001Z"}})
    };
    let created = api
        .patch("leader", &PatchParams::apply("replica-a"), &Patch::Apply(apply("a")))
        .await
        .unwrap();
    assert_eq!(created.spec.as_ref().unwrap().holder_identity.as_deref(), Some("a"));

    // Another manager taking the holder field over needs force, as with any field.
    let (code, reason, _) = status_of(
        api.patch("leader", &PatchParams::apply("replica-b"), &Patch::Apply(apply("b")))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let taken = api
        .patch(
            "leader",
            &PatchParams::apply("replica-b").force(),
            &Patch::Apply(apply("b")),
        )
        .await
        .unwrap();
    assert_eq!(taken.spec.as_ref().unwrap().holder_identity.as_deref(), Some("b"));

    let merged = api
        .patch(
            "leader",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": null, "leaseTransitions": 1}})),
        )
        .await
        .unwrap();
    let spec = merged.spec.unwrap();
    assert_eq!(spec.holder_identity, None);
    assert_eq!(spec.lease_transitions, Some(1));

    api.delete("leader", &DeleteParams::default()).await.unwrap();
    let (code, reason, message) = status_of(api.get("leader").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(message, "leases.coordination.k8s.io \"leader\" not found");
}

#[tokio::test]
async fn watch_reports_acquire_renew_and_delete() {
    let sim = cluster().await;
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &lease("leader", "a")).await.unwrap();
    api.patch(
        "leader",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"renewTime": "2024-05-01T08:00:05.000000Z"}})),
    )
    .await
    .unwrap();
    api.delete("leader", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("watch event in time")
            .unwrap()
            .expect("stream open");
        match event {
            WatchEvent::Added(l) => seen.push(("ADDED", l.spec.unwrap().renew_time)),
            WatchEvent::Modified(l) => seen.push(("MODIFIED", l.spec.unwrap().renew_time)),
            WatchEvent::Deleted(l) => seen.push(("DELETED", l.spec.unwrap().renew_time)),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    let renewed = seen[1].1.clone().unwrap().0;
    assert_eq!(renewed, "2024-05-01T08:00:05Z".parse::<Timestamp>().unwrap());
}

#[tokio::test]
async fn invalid_leases_are_refused_as_the_real_server_does() {
    let sim = cluster().await;
    let path = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    let body = |spec: serde_json::Value| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "x"}, "spec": spec})
            .to_string()
    };

    let r = raw(
        sim.addr(),
        "POST",
        path,
        Some("application/json"),
        &body(json!({"leaseDurationSeconds": 0})),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let s = r.json();
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(s["details"]["causes"][0]["field"], "spec.leaseDurationSeconds");
    assert_eq!(
        s["message"],
        "Lease.coordination.k8s.io \"x\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    );

    let r = raw(
        sim.addr(),
        "POST",
        path,
        Some("application/json"),
        &body(json!({"leaseTransitions": -1})),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // MicroTime needs its six fractional digits, as Go's layout demands.
    let r = raw(
        sim.addr(),
        "POST",
        path,
        Some("application/json"),
        &body(json!({"renewTime": "2024-05-01T08:00:00Z"})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "Lease in version \"v1\" cannot be handled as a Lease: parsing time \"2024-05-01T08:00:00Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
    );
    let r = raw(
        sim.addr(),
        "POST",
        path,
        Some("application/json"),
        &body(json!({"leaseDurationSeconds": "15"})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // An offset is accepted and stored in UTC.
    let r = raw(
        sim.addr(),
        "POST",
        path,
        Some("application/json"),
        &body(json!({"acquireTime": "2024-05-01T10:00:00.000001+02:00"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["spec"]["acquireTime"], "2024-05-01T08:00:00.000001Z");
}

fn kubectl_binary() -> PathBuf {
    std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("kubectl"))
                    .find(|p| p.is_file())
            })
        })
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_leases_shows_the_holder() {
    let sim = cluster().await;
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    api.create(&PostParams::default(), &lease("slipway-transitioner", "transitioner-0"))
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let bin = kubectl_binary();
    assert!(
        bin.is_file(),
        "kubectl not found: install Debian's kubernetes-client package (scripts/test installs it)"
    );
    let out = tokio::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .args(["get", "leases"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "HOLDER", "AGE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["slipway-transitioner", "transitioner-0"]);
}
