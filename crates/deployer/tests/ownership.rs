//! Whose objects the deployer touches, against the simulated cluster: objects
//! that exist without the env's labels are left alone unless adoption is
//! allowed, adopted objects are released rather than deleted, and a kind the
//! deployer may not use fails only the units that use it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use serde_json::json;
use slipway_core::status::{DeployerStatus, RolloutStatus};
use slipway_deployer::config::ClusterConfig;
use slipway_deployer::{Deployer, DeployerConfig};
use slipway_simcluster::{SimCluster, SimConfig};

const CONFIG: &str = "dev/deployable/config/app.yaml";
const INGRESS: &str = "dev/deployable/ingress.yaml";

fn service_base(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: app\n          image: \"${{image}}\"\n"
    )
}

fn ingress(name: &str, host: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}}}\nspec:\n  rules:\n    - host: {host}\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend: {{service: {{name: s1, port: {{number: 80}}}}}}\n"
    )
}

/// A repo with env `dev` (with `options` added to its deployers.yaml entry):
/// services s1 and s2, the ConfigMap `app-config`, and `extra` files.
fn repo_yaml(options: &str, extra: &[(&str, String)]) -> String {
    let mut files = vec![
        (
            "deployers.yaml".to_string(),
            format!("deployers:\n  dev: {{cluster: main, namespace: dev{options}}}\n"),
        ),
        (
            CONFIG.to_string(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {level: info}\n".to_string(),
        ),
    ];
    for s in ["s1", "s2"] {
        files.push((format!("dev/base/{s}.yaml"), service_base(s)));
        files.push((
            format!("dev/version/{s}.yaml"),
            format!("version: \"1\"\nimage: reg/{s}:1\n"),
        ));
    }
    files.extend(extra.iter().map(|(p, t)| (p.to_string(), t.clone())));
    fixture(files)
}

/// A fixture repo of one commit with these files.
fn fixture(files: Vec<(String, String)>) -> String {
    let mut yaml = String::from("commits:\n  - message: initial\n    files:\n");
    for (path, text) in files {
        yaml.push_str(&format!("      {path}: {}\n", serde_json::to_string(&text).unwrap()));
    }
    yaml
}

async fn deployer(repo: &git_fixture::TempRepo, sim: &SimCluster, checkout: &str) -> Arc<Deployer> {
    let mut config = DeployerConfig::new(repo.url(), repo.scratch(checkout));
    let path = repo.scratch("main.kubeconfig");
    sim.write_kubeconfig(&path).unwrap();
    config.clusters.insert(
        "main".into(),
        ClusterConfig {
            kubeconfig: Some(path),
            context: None,
            in_cluster: false,
        },
    );
    config.retry_min_delay = Duration::from_millis(5);
    config.retry_max_delay = Duration::from_millis(50);
    config.request_timeout = Duration::from_secs(5);
    Deployer::new(config).await.unwrap()
}

async fn sim() -> SimCluster {
    SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Reconciles until `done` holds for the status (at most 15 s).
async fn reconcile_until(deployer: &Deployer, done: impl Fn(&DeployerStatus) -> bool) -> DeployerStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let _ = deployer.reconcile_all().await;
        let status = deployer.status();
        if done(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached; status: {}",
            serde_json::to_string_pretty(&status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn service_is(status: &DeployerStatus, service: &str, want: RolloutStatus) -> bool {
    status.envs["dev"]
        .services
        .get(service)
        .is_some_and(|s| s.status == want)
}

/// Namespace `dev` with a ConfigMap `app-config` created by hand (no Slipway labels).
async fn someone_elses_config_map(sim: &SimCluster, annotations: serde_json::Value) -> ConfigMap {
    let client = sim.client().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "dev"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "app-config", "labels": {"team": "payments"}, "annotations": annotations},
        "data": {"level": "debug", "owner": "payments"}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client, "dev")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
}

fn labels(cm: &ConfigMap) -> std::collections::BTreeMap<String, String> {
    cm.metadata.labels.clone().unwrap_or_default()
}

#[tokio::test]
async fn an_unlabelled_config_map_with_a_manifests_name_is_not_modified_and_fails_only_its_unit() {
    let sim = sim().await;
    let before = someone_elses_config_map(&sim, json!({})).await;
    let repo = git_fixture::temp(&repo_yaml("", &[])).unwrap();
    let d = deployer(&repo, &sim, "checkout").await;
    let status = reconcile_until(&d, |st| {
        service_is(st, "s1", RolloutStatus::Clean) && service_is(st, "s2", RolloutStatus::Clean)
    })
    .await;

    let cms = Api::<ConfigMap>::namespaced(sim.client().await, "dev");
    let after = cms.get("app-config").await.unwrap();
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version);
    assert_eq!(after.data, before.data);
    assert_eq!(labels(&after), labels(&before));

    let config = &status.envs["dev"].services["deployable/config/app.yaml"];
    assert_eq!(config.status, RolloutStatus::Failed);
    let error = config.error.as_deref().unwrap_or_default();
    for part in [
        "ConfigMap dev/app-config",
        "delete the object",
        "adopt: true for env dev in deployers.yaml",
        "slipway.dev/adopt: \"true\"",
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    assert!(config.reason.contains("app-config"), "{}", config.reason);
    assert_eq!(status.envs["dev"].status, RolloutStatus::Failed);

    // It stays so, without writes, as long as nobody resolves it; `check` says why.
    sim.reset_counters();
    d.reconcile_all().await.unwrap();
    let checks = d.check(Some("dev")).await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    let text = checks[0].to_string();
    assert!(
        text.contains("  ! blocked ConfigMap dev/app-config: already exists without the labels of env dev"),
        "{text}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn with_adopt_true_an_existing_object_is_adopted_and_released_not_deleted_when_its_manifest_leaves() {
    let sim = sim().await;
    someone_elses_config_map(&sim, json!({})).await;
    let repo = git_fixture::temp(&repo_yaml(", adopt: true", &[])).unwrap();
    let d = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&d, |st| st.envs["dev"].status == RolloutStatus::Clean).await;
    let cms = Api::<ConfigMap>::namespaced(sim.client().await, "dev");
    let adopted = cms.get("app-config").await.unwrap();
    assert_eq!(labels(&adopted)["slipway.dev/env"], "dev");
    assert_eq!(labels(&adopted)["app.kubernetes.io/managed-by"], "slipway");
    assert_eq!(adopted.data.as_ref().unwrap()["level"], "info");

    repo.commit("config leaves the repo", &[(CONFIG, None)]).unwrap();
    let run = d.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].released, 1, "{:?}", run["dev"].status);
    assert_eq!(run["dev"].pruned, 0);
    let released = cms.get_opt("app-config").await.unwrap().expect("released, not deleted");
    let released_labels = labels(&released);
    assert!(!released_labels.contains_key("slipway.dev/env"), "{released_labels:?}");
    assert!(!released_labels.contains_key("app.kubernetes.io/managed-by"));
    assert_eq!(released_labels["team"], "payments");
    assert_eq!(released.data.as_ref().unwrap()["level"], "info");
    assert_eq!(released.data.as_ref().unwrap()["owner"], "payments");
    let managers: Vec<_> = released
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|e| e.manager.as_deref())
        .collect();
    assert!(
        !managers.contains(&"slipway"),
        "slipway still manages fields: {managers:?}"
    );
    assert!(!released
        .metadata
        .annotations
        .unwrap_or_default()
        .contains_key("slipway.dev/manifest-hash"));

    // Released for good: out of the inventory, left alone from now on.
    sim.reset_counters();
    let run = d.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].released, 0);
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    sim.shutdown().await;
}

#[tokio::test]
async fn with_prune_adopted_an_adopted_object_is_deleted_when_its_manifest_leaves() {
    let sim = sim().await;
    someone_elses_config_map(&sim, json!({})).await;
    let repo = git_fixture::temp(&repo_yaml(", adopt: true, prune_adopted: true", &[])).unwrap();
    let d = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&d, |st| st.envs["dev"].status == RolloutStatus::Clean).await;
    repo.commit("config leaves the repo", &[(CONFIG, None)]).unwrap();
    let run = d.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].pruned, 1, "{:?}", run["dev"].status);
    assert_eq!(run["dev"].released, 0);
    let cms = Api::<ConfigMap>::namespaced(sim.client().await, "dev");
    assert!(cms.get_opt("app-config").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_adopt_annotation_on_the_live_object_allows_adoption_without_adopt_for_the_env() {
    let sim = sim().await;
    someone_elses_config_map(&sim, json!({"slipway.dev/adopt": "true"})).await;
    let repo = git_fixture::temp(&repo_yaml("", &[])).unwrap();
    let d = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&d, |st| st.envs["dev"].status == RolloutStatus::Clean).await;
    let cms = Api::<ConfigMap>::namespaced(sim.client().await, "dev");
    let adopted = cms.get("app-config").await.unwrap();
    assert_eq!(labels(&adopted)["slipway.dev/env"], "dev");
    assert_eq!(adopted.data.as_ref().unwrap()["level"], "info");

    // Adopted by the annotation, so released too (prune_adopted is false).
    repo.commit("config leaves the repo", &[(CONFIG, None)]).unwrap();
    let run = d.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].released, 1, "{:?}", run["dev"].status);
    let released = cms.get("app-config").await.unwrap();
    assert!(!labels(&released).contains_key("slipway.dev/env"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_kind_the_deployer_may_not_use_fails_only_its_units_nothing_of_it_is_pruned_and_it_is_applied_once_allowed() {
    let sim = sim().await;
    let extra = [
        (INGRESS, ingress("web", "web.example.com")),
        ("dev/deployable/old-ingress.yaml", ingress("old", "old.example.com")),
    ];
    let repo = git_fixture::temp(&repo_yaml("", &extra)).unwrap();
    let first = deployer(&repo, &sim, "first").await;
    reconcile_until(&first, |st| st.envs["dev"].status == RolloutStatus::Clean).await;
    drop(first);

    // A deployer whose identity may not use Ingresses, after a commit that
    // changes s1 and one Ingress and drops the other.
    sim.deny("networking.k8s.io", "ingresses");
    repo.commit(
        "s1 to 2, new host, old ingress gone",
        &[
            ("dev/version/s1.yaml", Some("version: \"2\"\nimage: reg/s1:2\n")),
            (INGRESS, Some(&ingress("web", "www.example.com"))),
            ("dev/deployable/old-ingress.yaml", None),
        ],
    )
    .unwrap();
    let d = deployer(&repo, &sim, "second").await;
    sim.reset_counters();
    let status = reconcile_until(&d, |st| {
        service_is(st, "s1", RolloutStatus::Clean) && st.envs["dev"].services["s1"].version.as_deref() == Some("2")
    })
    .await;
    let dev = &status.envs["dev"];
    assert_eq!(dev.services["s2"].status, RolloutStatus::Clean);
    assert_eq!(dev.services["deployable/config/app.yaml"].status, RolloutStatus::Clean);
    let web = &dev.services["deployable/ingress.yaml"];
    assert_eq!(web.status, RolloutStatus::Failed);
    let error = web.error.as_deref().unwrap_or_default();
    for part in [
        "Ingress.networking.k8s.io dev/web",
        "403 Forbidden",
        "cannot list resource \"ingresses\" in API group \"networking.k8s.io\" in the namespace \"dev\"",
        "the deployer's role needs: apiGroups [\"networking.k8s.io\"], resources [\"ingresses\"], verbs [\"get\",\"list\",\"watch\",\"create\",\"patch\",\"delete\"]",
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    assert_eq!(dev.status, RolloutStatus::Failed);
    let counts = sim.counters();
    assert_eq!(counts.get("delete", "ingresses"), 0, "{counts:?}");
    assert_eq!(counts.get("patch", "ingresses"), 0, "{counts:?}");
    assert_eq!(counts.get("patch", "deployments"), 1, "{counts:?}");

    // Allowed again: the next reconcile applies the change and prunes the dropped one.
    sim.allow("networking.k8s.io", "ingresses");
    let status = reconcile_until(&d, |st| st.envs["dev"].status == RolloutStatus::Clean).await;
    assert!(!status.envs["dev"].services.contains_key("deployable/old-ingress.yaml"));
    let ingresses = Api::<Ingress>::namespaced(sim.client().await, "dev");
    assert!(ingresses.get_opt("old").await.unwrap().is_none());
    let web = ingresses.get("web").await.unwrap();
    let host = web.spec.unwrap().rules.unwrap()[0].host.clone();
    assert_eq!(host.as_deref(), Some("www.example.com"));
    sim.shutdown().await;
}

#[tokio::test]
async fn objects_missing_from_the_env_are_looked_up_by_name_once_per_kind_and_a_settled_env_reads_nothing_more() {
    let sim = sim().await;
    let client = sim.client().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "dev"}})).unwrap();
    Api::<Namespace>::all(client)
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let repo = git_fixture::temp(&repo_yaml("", &[])).unwrap();
    let d = deployer(&repo, &sim, "checkout").await;
    sim.reset_counters();
    let run = d.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].applied, 3, "{:?}", run["dev"].status);
    let counts = sim.counters();
    // Two Deployments: one list of the kind, no GET per object; one ConfigMap: one GET
    // (and the GET of the inventory).
    assert_eq!(counts.get("get", "deployments"), 0, "{counts:?}");
    assert_eq!(counts.get("get", "configmaps"), 2, "{counts:?}");

    reconcile_until(&d, |st| st.envs["dev"].status == RolloutStatus::Clean).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while d.cached_objects("dev").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the caches never listed the env"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.reset_counters();
    d.reconcile_all().await.unwrap();
    let counts = sim.counters();
    assert_eq!(counts.writes(), 0, "{counts:?}");
    assert_eq!(counts.verb("list"), 0, "{counts:?}");
    assert_eq!(
        counts.verb("get"),
        2,
        "only the namespace and the inventory: {counts:?}"
    );
    sim.shutdown().await;
}

const PREVIEW_DEPLOYERS: &str = "deployers:\n  dev: {cluster: main, namespace: dev}\n  preview-pr-1: {cluster: main, namespace: preview-pr-1, allow_empty: true, preview: {expires: \"2030-01-01T00:00:00Z\", source: \"pull request #1\"}}\n";

/// `dev` and the preview env `preview-pr-1` made from it (s1, s2, `app-config`
/// and an Ingress whose host is the preview's).
fn preview_repo() -> git_fixture::TempRepo {
    let mut files = vec![("deployers.yaml".to_string(), PREVIEW_DEPLOYERS.to_string())];
    for env in ["dev", "preview-pr-1"] {
        for s in ["s1", "s2"] {
            files.push((format!("{env}/base/{s}.yaml"), service_base(s)));
            files.push((
                format!("{env}/version/{s}.yaml"),
                format!("version: \"1\"\nimage: reg/{s}:1\n"),
            ));
        }
        files.push((format!("{env}/base/web.yaml"), ingress("web", "\"${preview_host}\"")));
        files.push((format!("{env}/version/web.yaml"), "version: \"1\"\n".to_string()));
    }
    files.push((
        "dev/vars.yaml".to_string(),
        "preview_host: dev.example.com\n".to_string(),
    ));
    files.push((
        "preview-pr-1/vars.yaml".to_string(),
        "preview_host: pr-1.preview.example.com\npreview_name: pr-1\n".to_string(),
    ));
    git_fixture::temp(&fixture(files)).unwrap()
}

/// The commit that removes the preview: its folder and its deployers.yaml entry.
fn remove_preview(repo: &git_fixture::TempRepo) {
    let mut change: Vec<(String, Option<&str>)> = repo
        .paths()
        .into_iter()
        .filter(|p| p.starts_with("preview-pr-1/"))
        .map(|p| (p, None))
        .collect();
    change.push((
        "deployers.yaml".to_string(),
        Some("deployers:\n  dev: {cluster: main, namespace: dev}\n"),
    ));
    let change: Vec<(&str, Option<&str>)> = change.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    repo.commit("Remove preview pr-1", &change).unwrap();
}

async fn names_in(sim: &SimCluster, ns: &str) -> Vec<String> {
    let cms = Api::<ConfigMap>::namespaced(sim.client().await, ns);
    let mut names: Vec<String> = cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        // Every namespace has this one, from the cluster.
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    let ingresses = Api::<Ingress>::namespaced(sim.client().await, ns);
    names.extend(
        ingresses
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|i| i.metadata.name),
    );
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(sim.client().await, ns);
    names.extend(
        deployments
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name),
    );
    names.sort();
    names
}

fn both_clean(st: &DeployerStatus) -> bool {
    ["dev", "preview-pr-1"]
        .iter()
        .all(|e| st.envs.get(*e).is_some_and(|e| e.status == RolloutStatus::Clean))
}

#[tokio::test]
async fn a_removed_preview_env_loses_every_object_and_the_namespace_slipway_created_for_it() {
    let sim = sim().await;
    let repo = preview_repo();
    let d = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&d, both_clean).await;
    let namespaces = Api::<Namespace>::all(sim.client().await);
    let ns = namespaces.get("preview-pr-1").await.unwrap();
    let ns_labels = ns.metadata.labels.unwrap_or_default();
    assert_eq!(ns_labels["app.kubernetes.io/managed-by"], "slipway");
    assert_eq!(ns_labels["slipway.dev/env"], "preview-pr-1");
    let ingress = Api::<Ingress>::namespaced(sim.client().await, "preview-pr-1")
        .get("web")
        .await
        .unwrap();
    let host = ingress.spec.unwrap().rules.unwrap()[0].host.clone();
    assert_eq!(host.as_deref(), Some("pr-1.preview.example.com"));
    let dev_before = names_in(&sim, "dev").await;

    remove_preview(&repo);
    d.reconcile_all().await.unwrap();
    // Deleting a namespace takes the cluster a moment (Terminating, then gone).
    let ns = namespaces.get_opt("preview-pr-1").await.unwrap();
    assert!(
        ns.as_ref().is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
        "the namespace is being deleted: {ns:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while namespaces.get_opt("preview-pr-1").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the namespace is gone in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(names_in(&sim, "preview-pr-1").await.is_empty());
    assert_eq!(names_in(&sim, "dev").await, dev_before, "dev is untouched");
    assert!(!d.status().envs.contains_key("preview-pr-1"));
    // Nothing is left to do.
    sim.reset_counters();
    d.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_same_named_namespace_slipway_did_not_create_is_never_deleted() {
    let sim = sim().await;
    let client = sim.client().await;
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "preview-pr-1", "labels": {"team": "web"}}})).unwrap();
    let namespaces = Api::<Namespace>::all(client.clone());
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let theirs: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "theirs"}, "data": {"k": "v"}})).unwrap();
    Api::<ConfigMap>::namespaced(client, "preview-pr-1")
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let repo = preview_repo();
    let d = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&d, both_clean).await;

    remove_preview(&repo);
    d.reconcile_all().await.unwrap();
    assert!(
        namespaces.get_opt("preview-pr-1").await.unwrap().is_some(),
        "not Slipway's: kept"
    );
    assert_eq!(
        names_in(&sim, "preview-pr-1").await,
        ["theirs"],
        "Slipway's objects and inventory are gone, theirs stays"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_ordinary_env_removed_from_deployers_yaml_loses_no_object() {
    let sim = sim().await;
    let repo = git_fixture::temp(&repo_yaml("", &[])).unwrap();
    let d = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&d, |st| {
        st.envs.get("dev").is_some_and(|e| e.status == RolloutStatus::Clean)
    })
    .await;
    let before = names_in(&sim, "dev").await;
    assert!(before.contains(&"app-config".to_string()), "{before:?}");

    repo.commit(
        "dev is no longer deployed",
        &[("deployers.yaml", Some("deployers: {}\n"))],
    )
    .unwrap();
    sim.reset_counters();
    d.reconcile_all().await.unwrap();
    d.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    assert_eq!(names_in(&sim, "dev").await, before);
    let namespaces = Api::<Namespace>::all(sim.client().await);
    assert!(namespaces.get_opt("dev").await.unwrap().is_some());
    assert!(!d.status().envs.contains_key("dev"), "no longer reported");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_preview_removed_while_no_deployer_ran_is_torn_down_by_the_next_deployer() {
    let sim = sim().await;
    let repo = preview_repo();
    let first = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&first, both_clean).await;
    let namespaces = Api::<Namespace>::all(sim.client().await);
    let labels = namespaces
        .get("preview-pr-1")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(labels["slipway.dev/preview"], "true");
    let dev_labels = namespaces.get("dev").await.unwrap().metadata.labels.unwrap_or_default();
    assert!(!dev_labels.contains_key("slipway.dev/preview"), "{dev_labels:?}");
    let dev_before = names_in(&sim, "dev").await;
    drop(first);

    // Removed while no deployer runs; the next one starts from a fresh checkout.
    remove_preview(&repo);
    let next = deployer(&repo, &sim, "checkout-next").await;
    next.reconcile_all().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while namespaces.get_opt("preview-pr-1").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the namespace is gone in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(names_in(&sim, "preview-pr-1").await.is_empty());
    assert_eq!(names_in(&sim, "dev").await, dev_before, "dev is untouched");
    assert!(!next.status().envs.contains_key("preview-pr-1"));
    sim.reset_counters();
    next.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    sim.shutdown().await;
}

#[tokio::test]
async fn an_ordinary_env_removed_while_no_deployer_ran_loses_no_object() {
    let sim = sim().await;
    let repo = git_fixture::temp(&repo_yaml("", &[])).unwrap();
    let first = deployer(&repo, &sim, "checkout").await;
    reconcile_until(&first, |st| {
        st.envs.get("dev").is_some_and(|e| e.status == RolloutStatus::Clean)
    })
    .await;
    let before = names_in(&sim, "dev").await;
    drop(first);

    repo.commit(
        "dev is no longer deployed",
        &[("deployers.yaml", Some("deployers: {}\n"))],
    )
    .unwrap();
    sim.reset_counters();
    let next = deployer(&repo, &sim, "checkout-next").await;
    next.reconcile_all().await.unwrap();
    next.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    assert_eq!(names_in(&sim, "dev").await, before);
    let namespaces = Api::<Namespace>::all(sim.client().await);
    assert!(namespaces.get_opt("dev").await.unwrap().is_some());
    sim.shutdown().await;
}
