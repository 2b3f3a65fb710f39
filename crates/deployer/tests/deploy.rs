//! The deployer against the simulated cluster, with repos built by `git_fixture`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use slipway_core::status::{DeployerStatus, Phase, RolloutStatus};
use slipway_deployer::config::ClusterConfig;
use slipway_deployer::{Deployer, DeployerConfig};
use slipway_simcluster::{SimCluster, SimConfig};

const ROLLOUT: Duration = Duration::from_millis(200);

fn sim_config() -> SimConfig {
    SimConfig {
        rollout_delay: ROLLOUT,
        ..SimConfig::default()
    }
}

fn service_base(name_var: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name_var}
spec:
  replicas: 2
  progressDeadlineSeconds: 1
  selector:
    matchLabels: {{app: {name_var}}}
  template:
    metadata:
      labels: {{app: {name_var}}}
    spec:
      containers:
        - name: app
          image: "${{image}}"
---
apiVersion: v1
kind: Service
metadata:
  name: {name_var}
spec:
  selector: {{app: {name_var}}}
  ports:
    - port: 80
"#
    )
}

fn repo_yaml(envs: &[(&str, &str)]) -> String {
    let mut files = BTreeMap::new();
    let mut deployers = String::from("deployers:\n");
    for (env, cluster) in envs {
        deployers.push_str(&format!("  {env}: {{cluster: {cluster}, namespace: {env}}}\n"));
        for s in ["s1", "s2"] {
            files.insert(format!("{env}/base/{s}.yaml"), service_base(s));
            files.insert(
                format!("{env}/version/{s}.yaml"),
                format!("version: \"1\"\nimage: reg/{s}:1\n"),
            );
        }
        files.insert(
            format!("{env}/deployable/config/app.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  level: info\n".to_string(),
        );
    }
    files.insert("deployers.yaml".into(), deployers);
    let mut yaml = String::from("commits:\n  - message: initial\n    files:\n");
    for (path, text) in files {
        yaml.push_str(&format!("      {path}: {}\n", serde_json::to_string(&text).unwrap()));
    }
    yaml
}

struct Setup {
    repo: git_fixture::TempRepo,
    deployer: Arc<Deployer>,
}

fn deployer_config(repo: &git_fixture::TempRepo, clusters: &[(&str, &SimCluster)]) -> DeployerConfig {
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    for (name, sim) in clusters {
        let path = repo.scratch(&format!("{name}.kubeconfig"));
        sim.write_kubeconfig(&path).unwrap();
        config.clusters.insert(
            name.to_string(),
            ClusterConfig {
                kubeconfig: Some(path),
                context: None,
                in_cluster: false,
            },
        );
    }
    config.poll_interval = Duration::from_millis(100);
    config.retry_min_delay = Duration::from_millis(5);
    config.retry_max_delay = Duration::from_millis(50);
    config.api_retries = 6;
    config.request_timeout = Duration::from_secs(5);
    config.crd_wait = Duration::from_secs(5);
    config
}

async fn setup(sim: &SimCluster, yaml: &str) -> Setup {
    let repo = git_fixture::temp(yaml).unwrap();
    let config = deployer_config(&repo, &[("main", sim)]);
    let deployer = Deployer::new(config).await.unwrap();
    Setup { repo, deployer }
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

fn env_is(status: &DeployerStatus, env: &str, want: RolloutStatus) -> bool {
    status.envs.get(env).is_some_and(|e| e.status == want)
}

#[tokio::test]
async fn fresh_deploy_labels_objects_and_reaches_clean_with_deployed_phases() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    let first = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(first["dev"].applied, 5, "{:?}", first["dev"].status);
    assert_ne!(first["dev"].status.status, RolloutStatus::Failed);

    let client = sim.client().await;
    let d = Api::<Deployment>::namespaced(client.clone(), "dev")
        .get("s1")
        .await
        .unwrap();
    let labels = d.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "slipway");
    assert_eq!(labels["slipway.dev/env"], "dev");
    assert_eq!(labels["slipway.dev/service"], "s1");
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "dev")
        .get("app-config")
        .await
        .unwrap();
    let cm_labels = cm.metadata.labels.unwrap();
    assert_eq!(cm_labels["slipway.dev/env"], "dev");
    assert!(!cm_labels.contains_key("slipway.dev/service"));
    Api::<Service>::namespaced(client, "dev").get("s2").await.unwrap();

    let status = reconcile_until(&s.deployer, |st| env_is(st, "dev", RolloutStatus::Clean)).await;
    let dev = &status.envs["dev"];
    assert_eq!(dev.commit, s.repo.head());
    assert!(dev.clean_since.is_some());
    assert_eq!(dev.services["s1"].phase, Phase::Deployed);
    assert_eq!(dev.services["s1"].version.as_deref(), Some("1"));
    assert_eq!(dev.services["deployable/config/app.yaml"].kind, "deployable");
    assert_eq!(dev.services["s2"].resources.len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn version_bump_writes_only_that_service_and_an_unchanged_repo_writes_nothing() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    reconcile_until(&s.deployer, |st| env_is(st, "dev", RolloutStatus::Clean)).await;

    sim.reset_counters();
    let run = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    assert_eq!(run["dev"].applied, 0);

    s.repo
        .commit(
            "s1 to 2",
            &[("dev/version/s1.yaml", Some("version: \"2\"\nimage: reg/s1:2\n"))],
        )
        .unwrap();
    sim.reset_counters();
    let run = s.deployer.reconcile_all().await.unwrap();
    let counts = sim.counters();
    assert_eq!(counts.writes(), 1, "{counts:?}");
    assert_eq!(counts.get("patch", "deployments"), 1, "{counts:?}");
    assert_eq!(run["dev"].applied, 1);
    let d = Api::<Deployment>::namespaced(sim.client().await, "dev")
        .get("s1")
        .await
        .unwrap();
    let image = d.spec.unwrap().template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("reg/s1:2"));
    let status = reconcile_until(&s.deployer, |st| env_is(st, "dev", RolloutStatus::Clean)).await;
    assert_eq!(status.envs["dev"].services["s1"].version.as_deref(), Some("2"));
    sim.shutdown().await;
}

#[tokio::test]
async fn removed_files_are_pruned_and_objects_slipway_never_applied_are_left_alone() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    s.deployer.reconcile_all().await.unwrap();
    let client = sim.client().await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "dev");
    // Someone else's object, even with the env's labels: not in the inventory.
    let stranger: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "stranger", "labels": {"slipway.dev/env": "dev", "app.kubernetes.io/managed-by": "slipway"}},
        "data": {"owner": "someone else"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &stranger).await.unwrap();

    s.repo
        .commit(
            "drop config and s2",
            &[
                ("dev/deployable/config/app.yaml", None),
                ("dev/base/s2.yaml", None),
                ("dev/version/s2.yaml", None),
            ],
        )
        .unwrap();
    let run = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].pruned, 3, "{:?}", run["dev"].status);
    assert!(cms.get_opt("app-config").await.unwrap().is_none());
    assert!(Api::<Deployment>::namespaced(client.clone(), "dev")
        .get_opt("s2")
        .await
        .unwrap()
        .is_none());
    assert!(cms.get_opt("stranger").await.unwrap().is_some());
    assert!(Api::<Deployment>::namespaced(client, "dev")
        .get_opt("s1")
        .await
        .unwrap()
        .is_some());
    assert!(!run["dev"].status.services.contains_key("s2"));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_env_whose_desired_set_suddenly_empties_is_refused_and_nothing_is_deleted() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    s.deployer.reconcile_all().await.unwrap();
    let deletes: Vec<(&str, Option<&str>)> = [
        "dev/deployable/config/app.yaml",
        "dev/base/s1.yaml",
        "dev/version/s1.yaml",
        "dev/base/s2.yaml",
        "dev/version/s2.yaml",
    ]
    .iter()
    .map(|p| (*p, None))
    .collect();
    s.repo.commit("oops", &deletes).unwrap();
    sim.reset_counters();
    let run = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0);
    assert_eq!(run["dev"].status.status, RolloutStatus::Failed);
    assert!(run["dev"].status.reason.contains("allow_empty"));
    assert!(!run["dev"].ok());
    sim.shutdown().await;
}

#[tokio::test]
async fn drift_by_another_field_manager_is_restored_on_the_next_reconcile() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    s.deployer.reconcile_all().await.unwrap();
    let cms = Api::<ConfigMap>::namespaced(sim.client().await, "dev");
    cms.patch(
        "app-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"level": "debug"}})),
    )
    .await
    .unwrap();
    // The reconciles read the watch-fed caches: the change may take the watch a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let run = loop {
        sim.reset_counters();
        let run = s.deployer.reconcile_all().await.unwrap();
        if run["dev"].applied > 0 || tokio::time::Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run["dev"].applied, 1);
    assert_eq!(sim.counters().writes(), 1);
    let cm = cms.get("app-config").await.unwrap();
    assert_eq!(cm.data.unwrap()["level"], "info");
    sim.shutdown().await;
}

#[tokio::test]
async fn broken_image_fails_its_service_with_progress_deadline_exceeded_and_others_stay_clean() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    s.repo
        .commit(
            "broken s2",
            &[("dev/version/s2.yaml", Some("version: \"2\"\nimage: reg/s2:broken\n"))],
        )
        .unwrap();
    let status = reconcile_until(&s.deployer, |st| {
        st.envs
            .get("dev")
            .is_some_and(|e| e.services.get("s2").is_some_and(|s| s.status == RolloutStatus::Failed))
            && st.envs["dev"].services["s1"].status == RolloutStatus::Clean
    })
    .await;
    let dev = &status.envs["dev"];
    assert_eq!(dev.status, RolloutStatus::Failed);
    assert_eq!(dev.services["s2"].phase, Phase::DeployFailed);
    assert!(
        dev.services["s2"].reason.contains("ProgressDeadlineExceeded"),
        "{}",
        dev.services["s2"].reason
    );
    assert_eq!(dev.services["s1"].phase, Phase::Deployed);
    assert_eq!(dev.services["deployable/config/app.yaml"].status, RolloutStatus::Clean);
    assert!(dev.clean_since.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_yaml_fails_that_service_with_path_and_line_and_the_rest_is_deployed() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    s.repo
        .commit(
            "bad s2",
            &[(
                "dev/base/s2.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [s2\n"),
            )],
        )
        .unwrap();
    let run = s.deployer.reconcile_all().await.unwrap();
    let dev = &run["dev"].status;
    let s2 = &dev.services["s2"];
    assert_eq!(s2.phase, Phase::DeployFailed);
    let error = s2.error.as_deref().unwrap();
    assert!(error.starts_with("dev/base/s2.yaml:"), "{error}");
    assert!(
        error.split(':').nth(1).unwrap().parse::<usize>().is_ok(),
        "no line in {error}"
    );
    assert!(!run["dev"].ok());
    let client = sim.client().await;
    assert!(Api::<Deployment>::namespaced(client.clone(), "dev")
        .get_opt("s1")
        .await
        .unwrap()
        .is_some());
    assert!(Api::<ConfigMap>::namespaced(client, "dev")
        .get_opt("app-config")
        .await
        .unwrap()
        .is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn converges_to_clean_despite_api_errors_and_reports_them_meanwhile() {
    let sim = SimCluster::start(SimConfig {
        error_rate: 0.3,
        ..sim_config()
    })
    .await
    .unwrap();
    let repo = git_fixture::temp(&repo_yaml(&[("dev", "main")])).unwrap();
    let mut config = deployer_config(&repo, &[("main", &sim)]);
    // Few attempts per request, so that some reconciles do fail and say why.
    config.api_retries = 2;
    let shutdown = slipway_kit::Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    let url = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let mut saw_error = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: DeployerStatus = http
            .get(format!("{url}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(dev) = status.envs.get("dev") {
            saw_error |= dev.last_error.is_some();
            if saw_error && dev.status == RolloutStatus::Clean {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "never converged: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health: serde_json::Value = http
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let refresh = http.post(format!("{url}/refresh")).send().await.unwrap();
    assert_eq!(refresh.status(), 202);
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("slipway_deployer_reconcile_duration_seconds"),
        "{metrics}"
    );
    // The reconciles that reported an error counted it, under the reason of the failure.
    let failed: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("slipway_deployer_failed_operations_total{env=\"dev\",reason=\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(failed >= 1.0, "no failure counted for dev: {metrics}");
    shutdown.begin();
    running.task.await.unwrap().unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stopped_cluster_leaves_the_other_env_reconciling() {
    let a = SimCluster::start(sim_config()).await.unwrap();
    let b = SimCluster::start(sim_config()).await.unwrap();
    let repo = git_fixture::temp(&repo_yaml(&[("dev", "one"), ("prod", "two")])).unwrap();
    let deployer = Deployer::new(deployer_config(&repo, &[("one", &a), ("two", &b)]))
        .await
        .unwrap();
    reconcile_until(&deployer, |st| {
        env_is(st, "dev", RolloutStatus::Clean) && env_is(st, "prod", RolloutStatus::Clean)
    })
    .await;
    assert!(Api::<Deployment>::namespaced(b.client().await, "prod")
        .get_opt("s1")
        .await
        .unwrap()
        .is_some());
    assert!(Api::<Deployment>::namespaced(a.client().await, "prod")
        .get_opt("s1")
        .await
        .unwrap()
        .is_none());

    b.stop_serving().await;
    repo.commit(
        "bump both",
        &[
            ("dev/version/s1.yaml", Some("version: \"3\"\nimage: reg/s1:3\n")),
            ("prod/version/s1.yaml", Some("version: \"3\"\nimage: reg/s1:3\n")),
        ],
    )
    .unwrap();
    let runs = deployer.reconcile_all().await.unwrap();
    assert_eq!(runs["dev"].applied, 1);
    let prod = &runs["prod"].status;
    assert_eq!(prod.status, RolloutStatus::Failed);
    assert!(
        prod.last_error.as_ref().unwrap().message.contains("unreachable"),
        "{prod:?}"
    );
    assert_ne!(prod.commit, repo.head());
    let status = reconcile_until(&deployer, |st| env_is(st, "dev", RolloutStatus::Clean)).await;
    assert_eq!(status.envs["dev"].commit, repo.head());

    b.resume_serving().await.unwrap();
    let status = reconcile_until(&deployer, |st| env_is(st, "prod", RolloutStatus::Clean)).await;
    assert_eq!(status.envs["prod"].commit, repo.head());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn check_prints_creates_changes_and_prunes_without_writing() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    let fresh = s.deployer.check(Some("dev")).await.unwrap();
    assert_eq!(fresh[0].create.len(), 6, "{}", fresh[0]); // the namespace and 5 objects
    s.deployer.reconcile_all().await.unwrap();
    s.repo
        .commit(
            "prepared change",
            &[
                ("dev/version/s1.yaml", Some("version: \"2\"\nimage: reg/s1:2\n")),
                ("dev/deployable/config/app.yaml", None),
                (
                    "dev/deployable/extra.yaml",
                    Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n"),
                ),
            ],
        )
        .unwrap();
    sim.reset_counters();
    let checks = s.deployer.check(None).await.unwrap();
    assert_eq!(sim.counters().writes(), 0);
    let dev = &checks[0];
    let text = dev.to_string();
    assert_eq!(dev.create, ["ConfigMap dev/extra"], "{text}");
    assert_eq!(dev.change.len(), 1, "{text}");
    assert_eq!(dev.change[0].0, "Deployment.apps dev/s1");
    assert!(
        dev.change[0]
            .1
            .iter()
            .any(|l| l.contains("spec.template.spec.containers[0].image: \"reg/s1:1\" → \"reg/s1:2\"")),
        "{text}"
    );
    assert_eq!(dev.prune, ["ConfigMap dev/app-config"], "{text}");
    assert!(text.contains("+ create ConfigMap dev/extra"), "{text}");
    assert!(text.contains("- prune  ConfigMap dev/app-config"), "{text}");
    sim.shutdown().await;
}

#[tokio::test]
async fn custom_resources_wait_for_their_crd_and_cluster_scoped_objects_have_no_namespace() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let yaml = r#"
commits:
  - message: crd
    files:
      deployers.yaml: "deployers:\n  dev: {cluster: main, namespace: dev}\n"
      dev/deployable/widgets.yaml: |
        apiVersion: example.com/v1
        kind: Widget
        metadata: {name: w1}
        spec: {size: 3}
        ---
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          scope: Namespaced
          names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec:
                      type: object
                      properties:
                        size: {type: integer}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: widget-reader}
        rules: [{apiGroups: [example.com], resources: [widgets], verbs: [get]}]
"#;
    let s = setup(&sim, yaml).await;
    let run = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].applied, 3, "{:#?}", run["dev"].status);
    assert!(run["dev"].ok(), "{:#?}", run["dev"].status);
    let client = sim.client().await;
    let ar = kube::discovery::ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let w = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), "dev", &ar)
        .get("w1")
        .await
        .unwrap();
    assert_eq!(w.data["spec"]["size"], 3);
    let role = Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(client)
        .get("widget-reader")
        .await
        .unwrap();
    assert_eq!(role.metadata.labels.unwrap()["slipway.dev/env"], "dev");
    sim.reset_counters();
    s.deployer.reconcile_all().await.unwrap();
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    sim.shutdown().await;
}

#[tokio::test]
async fn reconciles_read_the_watch_fed_caches_which_see_changes_made_by_others() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let s = setup(&sim, &repo_yaml(&[("dev", "main")])).await;
    s.deployer.reconcile_all().await.unwrap();
    let cached = |name: &'static str| {
        let deployer = s.deployer.clone();
        move || {
            deployer
                .cached_objects("dev")
                .map(|keys| keys.iter().any(|k| k.kind == "ConfigMap" && k.name == name))
        }
    };
    wait_until(Duration::from_secs(10), "the caches listed the env", || {
        cached("app-config")() == Some(true)
    })
    .await;
    let cms = Api::<ConfigMap>::namespaced(sim.client().await, "dev");
    cms.delete("app-config", &Default::default()).await.unwrap();
    wait_until(Duration::from_secs(10), "the watch saw the delete", || {
        cached("app-config")() == Some(false)
    })
    .await;
    s.repo
        .commit(
            "s1 to 2",
            &[("dev/version/s1.yaml", Some("version: \"2\"\nimage: reg/s1:2\n"))],
        )
        .unwrap();
    sim.reset_counters();
    // The new version and the object deleted by hand, in one reconcile without a list.
    let run = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].applied, 2);
    assert_eq!(sim.counters().verb("list"), 0, "{:?}", sim.counters());
    assert!(cms.get_opt("app-config").await.unwrap().is_some());
    // Nothing left to do: no writes and no lists.
    sim.reset_counters();
    let run = s.deployer.reconcile_all().await.unwrap();
    assert_eq!(run["dev"].applied, 0);
    assert_eq!(sim.counters().writes(), 0, "{:?}", sim.counters());
    assert_eq!(sim.counters().verb("list"), 0, "{:?}", sim.counters());
    sim.shutdown().await;
}

async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn serve_reports_clean_soon_after_a_rollout_ends_without_waiting_for_the_next_poll() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let repo = git_fixture::temp(&repo_yaml(&[("dev", "main")])).unwrap();
    let mut config = deployer_config(&repo, &[("main", &sim)]);
    config.api_bind = "127.0.0.1:0".into();
    // Only the first poll happens during this test: Clean must come from the rollout checks.
    config.poll_interval = Duration::from_secs(3600);
    config.rollout_check_interval = Duration::from_millis(100);
    let shutdown = slipway_kit::Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut seen_in_progress = false;
    loop {
        let status = running.deployer.status();
        seen_in_progress |= env_is(&status, "dev", RolloutStatus::InProgress);
        if env_is(&status, "dev", RolloutStatus::Clean) {
            assert_eq!(status.envs["dev"].commit, repo.head());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never Clean: {}",
            serde_json::to_string_pretty(&status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_in_progress, "the rollout was observed in progress first");
    shutdown.begin();
    running.task.await.unwrap().unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_during_a_reconcile_lets_it_finish_and_starts_no_other() {
    let sim = SimCluster::start(sim_config()).await.unwrap();
    let repo = git_fixture::temp(&repo_yaml(&[("dev", "main")])).unwrap();
    let mut config = deployer_config(&repo, &[("main", &sim)]);
    config.api_bind = "127.0.0.1:0".into();
    // Every request is slow, so the first reconcile is still applying when the signal comes.
    sim.set_latency(Duration::from_millis(100));
    let shutdown = slipway_kit::Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    wait_until(Duration::from_secs(15), "the first object is applied", || {
        sim.counters().writes() > 0
    })
    .await;
    shutdown.begin();
    running.task.await.unwrap().unwrap();
    // Every object of the env was applied, and the reconcile reported what it did.
    let status = running.deployer.status();
    let dev = &status.envs["dev"];
    assert_eq!(dev.commit, repo.head(), "{dev:?}");
    sim.set_latency(Duration::ZERO);
    let client = sim.client().await;
    for s in ["s1", "s2"] {
        Api::<Deployment>::namespaced(client.clone(), "dev")
            .get(s)
            .await
            .unwrap();
        Api::<Service>::namespaced(client.clone(), "dev").get(s).await.unwrap();
    }
    Api::<ConfigMap>::namespaced(client, "dev")
        .get("app-config")
        .await
        .unwrap();
    // Nothing reconciles after the process let go.
    let writes = sim.counters().writes();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.counters().writes(), writes);
    sim.shutdown().await;
}
