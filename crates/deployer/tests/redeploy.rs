//! `POST /deploy` against the simulated cluster: plain and forced redeploys,
//! fields taken by other field managers, tokens and unknown envs.
//!
//! The deployer's HTTP API is served without its run loop, so that no regular
//! reconcile (started by a watch or a poll) writes between the requests and
//! each answer is the redeploy's alone.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use slipway_core::redeploy::{AppliedAction, DeployAnswer, DeployResult};
use slipway_core::tokens::Tokens;
use slipway_deployer::config::ClusterConfig;
use slipway_deployer::{Deployer, DeployerConfig};
use slipway_simcluster::{SimCluster, SimConfig};

const REPO: &str = r#"
commits:
  - message: initial
    files:
      deployers.yaml: "deployers:\n  dev: {cluster: main, namespace: dev}\n  pp: {cluster: main, namespace: pp}\n"
      dev/deployable/app.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {level: info}\n"
      dev/base/s1.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s1}\ndata: {v: '${version}'}\n"
      dev/version/s1.yaml: "version: '1'\n"
      dev/base/s2.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s2}\ndata: {v: '${version}'}\n"
      dev/version/s2.yaml: "version: '1'\n"
      pp/deployable/app.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {level: warn}\n"
"#;

/// Objects of env dev (three ConfigMaps; the inventory is not one of them).
const DEV_OBJECTS: usize = 3;

struct Setup {
    _repo: git_fixture::TempRepo,
    sim: SimCluster,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Setup {
    async fn stop(self) {
        self.server.abort();
        self.sim.shutdown().await;
    }
}

/// A deployer serving its API (no run loop) with `tokens` (`None`: none configured).
async fn setup(tokens: Option<&str>) -> Setup {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = git_fixture::temp(REPO).unwrap();
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    let kubeconfig = repo.scratch("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    config.clusters.insert(
        "main".into(),
        ClusterConfig {
            kubeconfig: Some(kubeconfig),
            context: None,
            in_cluster: false,
        },
    );
    let tokens = tokens.map(|text| {
        let path = repo.scratch("tokens");
        std::fs::write(&path, text).unwrap();
        Tokens::load(Some(&path), None).unwrap()
    });
    let deployer: Arc<Deployer> = Deployer::new(config).await.unwrap();
    let app = slipway_deployer::http::router(deployer, tokens);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Setup {
        _repo: repo,
        sim,
        url,
        server,
    }
}

async fn post(url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{url}/deploy")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

async fn deploy(s: &Setup, body: Value) -> DeployAnswer {
    let (status, answer) = post(&s.url, Some("s3cr3t"), body).await;
    assert_eq!(status, 200, "{answer}");
    serde_json::from_value(answer).unwrap()
}

/// Writes to namespace `ns` since the log was last emptied.
fn writes_in(sim: &SimCluster, ns: &str) -> usize {
    sim.writes().writes.iter().filter(|w| w.namespace == ns).count()
}

/// The field managers that own `data.level` of a ConfigMap.
fn owners_of_level(cm: &ConfigMap) -> Vec<String> {
    let mut owners: Vec<String> = cm
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:data/f:level").is_some())
        })
        .filter_map(|m| m.manager.clone())
        .collect();
    owners.sort();
    owners
}

#[tokio::test]
async fn a_plain_redeploy_of_a_settled_env_writes_nothing_and_a_forced_one_reapplies_every_object() {
    let s = setup(Some("ci:s3cr3t:deploy\n")).await;
    let first = deploy(&s, json!({"envs": ["dev"]})).await;
    let dev = &first.envs["dev"];
    assert_eq!(dev.result, DeployResult::Applied, "{dev:?}");
    assert_eq!((dev.created, dev.changed, dev.reapplied), (DEV_OBJECTS, 0, 0));
    assert_eq!(first.envs.len(), 1, "only the env asked for: {first:?}");

    s.sim.reset_writes();
    let plain = deploy(&s, json!({"envs": ["dev"], "force": false})).await;
    let dev = &plain.envs["dev"];
    assert_eq!(dev.result, DeployResult::Applied);
    assert_eq!(dev.applied(), 0, "{dev:?}");
    assert_eq!(dev.unchanged, DEV_OBJECTS);
    assert!(dev.objects.is_empty());
    assert_eq!(writes_in(&s.sim, "dev"), 0, "{:?}", s.sim.writes());

    let forced = deploy(&s, json!({"envs": ["dev"], "force": true})).await;
    assert!(forced.force);
    let dev = &forced.envs["dev"];
    assert_eq!(dev.result, DeployResult::Applied);
    assert_eq!(
        (dev.created, dev.changed, dev.reapplied),
        (0, 0, DEV_OBJECTS),
        "{dev:?}"
    );
    assert_eq!(dev.unchanged, 0);
    let objects: Vec<&str> = dev.objects.iter().map(|o| o.object.as_str()).collect();
    assert_eq!(
        objects,
        ["ConfigMap dev/app-config", "ConfigMap dev/s1", "ConfigMap dev/s2"]
    );
    assert!(dev
        .objects
        .iter()
        .all(|o| o.action == AppliedAction::Reapplied && o.error.is_none()));
    // One apply per object, and nothing else (the inventory is unchanged).
    assert_eq!(writes_in(&s.sim, "dev"), DEV_OBJECTS, "{:?}", s.sim.writes());

    // Without envs: every env.
    let all = deploy(&s, json!({})).await;
    assert_eq!(all.envs.keys().collect::<Vec<_>>(), ["dev", "pp"]);
    assert_eq!(all.envs["pp"].created, 1);
    assert_eq!(all.envs["dev"].applied(), 0);
    s.stop().await;
}

#[tokio::test]
async fn fields_taken_by_other_field_managers_come_back_and_only_force_takes_back_their_ownership() {
    let s = setup(Some("ci:s3cr3t:deploy\n")).await;
    deploy(&s, json!({"envs": ["dev"]})).await;
    let cms = Api::<ConfigMap>::namespaced(s.sim.client().await, "dev");
    let intruder = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
                          "data": {"level": "debug"}});

    // Another manager takes data.level with a conflicting value (apply with force).
    cms.patch(
        "app-config",
        &PatchParams::apply("intruder").force(),
        &Patch::Apply(&intruder),
    )
    .await
    .unwrap();
    let cm = cms.get("app-config").await.unwrap();
    assert_eq!(owners_of_level(&cm), ["intruder"]);
    // A plain redeploy restores it too once the deployer's watch has seen the
    // change (it reads the watch-fed caches, which may lag by an instant): the
    // value differs from the repo (drift), and every apply of Slipway forces conflicts.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let cm = loop {
        let plain = deploy(&s, json!({"envs": ["dev"]})).await;
        let dev = &plain.envs["dev"];
        assert_eq!(dev.reapplied, 0, "{dev:?}");
        if dev.changed == 1 {
            assert_eq!(dev.objects[0].object, "ConfigMap dev/app-config");
            break cms.get("app-config").await.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the drift was never seen: {dev:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(cm.data.as_ref().unwrap()["level"], "info");
    assert_eq!(owners_of_level(&cm), ["slipway"]);

    // Now the field is taken without a visible difference: the intruder takes
    // it, then someone edits it back to the repo's value (an update, which owns
    // what it changes). Slipway no longer owns data.level, and a plain redeploy
    // sees nothing to do.
    cms.patch(
        "app-config",
        &PatchParams::apply("intruder").force(),
        &Patch::Apply(&intruder),
    )
    .await
    .unwrap();
    let edit = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    cms.patch("app-config", &edit, &Patch::Merge(json!({"data": {"level": "info"}})))
        .await
        .unwrap();
    let cm = cms.get("app-config").await.unwrap();
    assert_eq!(cm.data.as_ref().unwrap()["level"], "info");
    assert!(
        !owners_of_level(&cm).contains(&"slipway".to_string()),
        "{:?}",
        owners_of_level(&cm)
    );
    let plain = deploy(&s, json!({"envs": ["dev"]})).await;
    assert_eq!(plain.envs["dev"].applied(), 0, "{:?}", plain.envs["dev"]);
    let cm = cms.get("app-config").await.unwrap();
    assert!(!owners_of_level(&cm).contains(&"slipway".to_string()));

    // A forced redeploy applies it again and owns the field once more.
    let forced = deploy(&s, json!({"envs": ["dev"], "force": true})).await;
    assert_eq!(forced.envs["dev"].reapplied, DEV_OBJECTS);
    let cm = cms.get("app-config").await.unwrap();
    assert!(
        owners_of_level(&cm).contains(&"slipway".to_string()),
        "{:?}",
        owners_of_level(&cm)
    );
    s.stop().await;
}

#[tokio::test]
async fn redeploys_need_a_token_with_the_deploy_scope_for_every_env_and_known_envs() {
    let s = setup(Some("ci:s3cr3t:deploy\nui:readonly:read\npp-only:pp1:deploy=pp\n")).await;
    let (status, body) = post(&s.url, None, json!({"envs": ["dev"]})).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Authorization: Bearer"),
        "{body}"
    );
    let (status, body) = post(&s.url, Some("wrong"), json!({"envs": ["dev"]})).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(&s.url, Some("readonly"), json!({"envs": ["dev"]})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["missing_scope"], "deploy=dev", "{body}");
    let (status, body) = post(&s.url, Some("pp1"), json!({"envs": ["pp", "dev"]})).await;
    assert_eq!(status, 403, "{body}");
    // Without envs, every env: a token for some envs only is not enough.
    let (status, _) = post(&s.url, Some("pp1"), json!({})).await;
    assert_eq!(status, 403);
    let (status, body) = post(&s.url, Some("pp1"), json!({"envs": ["pp"]})).await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = post(&s.url, Some("s3cr3t"), json!({"envs": ["dev", "nope"]})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["unknown"], json!(["nope"]));
    assert_eq!(body["known"], json!(["dev", "pp"]));
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("env nope is not in deployers.yaml; its envs are: dev, pp"));
    let (status, body) = post(&s.url, Some("s3cr3t"), json!({"namespaces": ["dev"]})).await;
    assert_eq!(status, 400, "{body}");
    // Nothing was applied to dev by the refused requests.
    assert_eq!(writes_in(&s.sim, "dev"), 0);
    s.stop().await;
}

#[tokio::test]
async fn without_configured_tokens_every_redeploy_is_refused() {
    let s = setup(None).await;
    let (status, body) = post(&s.url, Some("anything"), json!({"envs": ["dev"]})).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("api_tokens_file"), "{body}");
    assert_eq!(writes_in(&s.sim, "dev"), 0);
    s.stop().await;
}
