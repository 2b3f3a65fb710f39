//! The deployer's watches against the simulated cluster: after 410 Gone the
//! watcher lists again and the index forgets what was deleted meanwhile;
//! after a dropped stream the caches follow the cluster again, resuming the
//! watch from the last version seen (no new list).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use slipway_deployer::cluster::{Cluster, RetryPolicy};
use slipway_deployer::watch::{Change, EnvWatches, Feed, KindIndex, Shapes};
use slipway_simcluster::{SimCluster, SimConfig};

const SELECTOR: &str = "slipway.dev/env=dev";

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Creates ConfigMap `name` in `dev`, labelled for env `dev` when `labelled`.
async fn create_config_map(client: &kube::Client, name: &str, labelled: bool) {
    let labels = if labelled {
        json!({"slipway.dev/env": "dev"})
    } else {
        json!({})
    };
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "dev")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
}

async fn delete_config_map(client: &kube::Client, name: &str) {
    Api::<ConfigMap>::namespaced(client.clone(), "dev")
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

fn names(index: &KindIndex) -> Option<Vec<String>> {
    index
        .objects()
        .map(|objects| objects.into_iter().map(|(k, _)| k.name).collect())
}

#[tokio::test]
async fn after_410_gone_the_watcher_lists_again_and_the_index_forgets_objects_deleted_meanwhile() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let client = sim.client().await;
    create_namespace(&client, "dev").await;
    for name in ["a", "b"] {
        create_config_map(&client, name, true).await;
    }
    create_config_map(&client, "noise", false).await;

    let kind = Cluster::config_map_kind();
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), "dev", &kind.resource);
    let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default().labels(SELECTOR)));
    let shapes = Shapes::default();
    let (mut index, mut feed) = (KindIndex::default(), Feed::default());
    let mut next = async || {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the watcher answers")
            .expect("the watcher never ends");
        Change::of(event, &kind, &shapes).expect("a projectable event")
    };
    // The first list.
    while !index.synced() {
        let change = next().await;
        feed.apply(&mut index, change);
    }
    assert_eq!(names(&index), Some(vec!["a".to_string(), "b".to_string()]));

    // Not polled meanwhile, the watcher has not started its watch from the
    // list's version yet; by the time it does, the cluster's event history
    // no longer reaches back that far, and `a` was deleted in between.
    delete_config_map(&client, "a").await;
    let noise = Api::<ConfigMap>::namespaced(client.clone(), "dev");
    for i in 0..1100 {
        noise
            .patch(
                "noise",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"k": i.to_string()}})),
            )
            .await
            .unwrap();
    }

    let gone = next().await;
    assert!(
        matches!(&gone, Change::Failed { lists_again: true, error } if error.contains("too old resource version")),
        "{gone:?}"
    );
    feed.apply(&mut index, gone);
    assert_eq!(names(&index), None, "out of step until the new list is complete");
    while !index.synced() {
        let change = next().await;
        feed.apply(&mut index, change);
    }
    assert_eq!(names(&index), Some(vec!["b".to_string()]));
    sim.shutdown().await;
}

#[tokio::test]
async fn after_a_dropped_stream_the_caches_resume_the_watch_and_follow_the_cluster_again() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let client = sim.client().await;
    create_namespace(&client, "dev").await;
    create_config_map(&client, "a", true).await;
    let retry = RetryPolicy {
        attempts: 2,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let cluster = Arc::new(Cluster::new("sim", client.clone(), retry));
    let changed = Arc::new(tokio::sync::Notify::new());
    let watches = EnvWatches::new(cluster, "dev", SELECTOR, changed);
    let kind = Cluster::config_map_kind();
    let cached = || {
        watches
            .objects(&kind)
            .map(|objects| objects.into_iter().map(|(k, _)| k.name).collect::<Vec<_>>())
    };
    let wait_for = async |want: &[&str]| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while cached().as_deref() != Some(&want.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the caches hold {:?}, not {want:?}",
                cached()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait_for(&["a"]).await;

    // The server goes away (the watch connection with it) and comes back.
    sim.stop_serving().await;
    sim.resume_serving().await.unwrap();
    sim.reset_counters();
    create_config_map(&client, "b", true).await;
    delete_config_map(&client, "a").await;
    wait_for(&["b"]).await;
    assert_eq!(
        sim.counters().verb("list"),
        0,
        "resumed from the last version, not listed again: {:?}",
        sim.counters()
    );
    sim.shutdown().await;
}
