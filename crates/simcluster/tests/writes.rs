//! The write log: writes by (writer header, namespace) with their times, through
//! `kube` clients that name themselves in a header, served at `/debug/writes`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use slipway_simcluster::{SimCluster, SimConfig};

use common::raw;

const HEADER: &str = "x-slipway-replica";

async fn named_client(sim: &SimCluster, writer: &str) -> kube::Client {
    let mut config = kube::Config::new(sim.url().parse().unwrap());
    config.default_namespace = "default".into();
    config.headers.push((HEADER.parse().unwrap(), writer.parse().unwrap()));
    kube::Client::try_from(config).unwrap()
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn writes_are_logged_by_writer_header_and_namespace_and_overlaps_found() {
    let sim = SimCluster::start(SimConfig {
        writer_header: Some(HEADER.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let a = named_client(&sim, "replica-a").await;
    let b = named_client(&sim, "replica-b").await;
    // A creates the namespace and writes in it; B takes over; A writes again.
    Api::<Namespace>::all(a.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "dev"}})).unwrap(),
        )
        .await
        .unwrap();
    let in_dev = |c: &kube::Client| Api::<ConfigMap>::namespaced(c.clone(), "dev");
    let apply = PatchParams::apply("slipway-deployer");
    in_dev(&a)
        .patch("one", &apply, &Patch::Apply(config_map("one")))
        .await
        .unwrap();
    in_dev(&b)
        .patch("one", &apply, &Patch::Apply(config_map("one")))
        .await
        .unwrap();
    // Reads and Lease writes are not logged.
    in_dev(&b).get("one").await.unwrap();
    let lease: Lease =
        serde_json::from_value(json!({"metadata": {"name": "dev"}, "spec": {"holderIdentity": "replica-b"}})).unwrap();
    Api::<Lease>::namespaced(b.clone(), "dev")
        .create(&PostParams::default(), &lease)
        .await
        .unwrap();
    let handover = sim.writes();
    assert_eq!(
        handover.counts(),
        BTreeMap::from([
            (("replica-a".into(), "dev".into()), 2),
            (("replica-b".into(), "dev".into()), 1),
        ])
    );
    assert_eq!(handover.overlaps(&BTreeMap::new()), []);
    let ns_write = &handover.writes[0];
    assert_eq!(
        (
            ns_write.verb.as_str(),
            ns_write.resource.as_str(),
            ns_write.name.as_deref()
        ),
        ("create", "namespaces", None)
    );

    in_dev(&a).delete("one", &DeleteParams::default()).await.unwrap();
    let log = sim.writes();
    let found = log.overlaps(&BTreeMap::new());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].first.as_str(), found[0].second.as_str()),
        ("replica-a", "replica-b")
    );
    // Had B ended before A's delete, it would have been a handover back.
    let b_ended = BTreeMap::from([(
        "replica-b".to_string(),
        log.writes[2].at + chrono::Duration::microseconds(1),
    )]);
    assert_eq!(log.overlaps(&b_ended), []);

    // The same log over HTTP, and emptied by DELETE.
    let served = raw(sim.addr(), "GET", "/debug/writes", None, "").await;
    assert_eq!(served.status, 200, "{}", served.body);
    let body = served.json();
    assert_eq!(body["writes"].as_array().map(Vec::len), Some(4));
    assert_eq!(body["writes"][3]["writer"], "replica-a");
    assert_eq!(body["writes"][3]["verb"], "delete");
    assert_eq!(body["writes"][3]["name"], "one");
    assert_eq!(
        body["counts"][0],
        json!({"writer": "replica-a", "namespace": "dev", "writes": 3})
    );
    assert_eq!(raw(sim.addr(), "DELETE", "/debug/writes", None, "").await.status, 200);
    assert!(sim.writes().writes.is_empty());
    assert_eq!(raw(sim.addr(), "POST", "/debug/writes", None, "").await.status, 405);
    sim.shutdown().await;
}

#[tokio::test]
async fn without_a_writer_header_writes_are_logged_by_field_manager() {
    let sim = common::cluster().await;
    let client = sim.client().await;
    Api::<ConfigMap>::namespaced(client, "default")
        .patch("x", &PatchParams::apply("some-manager"), &Patch::Apply(config_map("x")))
        .await
        .unwrap();
    let log = sim.writes();
    assert_eq!(log.writes.len(), 1);
    assert_eq!(
        (log.writes[0].writer.as_str(), log.writes[0].namespace.as_str()),
        ("some-manager", "default")
    );
    assert!(log.writes[0].at <= chrono::Utc::now() && log.writes[0].at > chrono::Utc::now() - Duration::from_secs(60));
    sim.shutdown().await;
}
