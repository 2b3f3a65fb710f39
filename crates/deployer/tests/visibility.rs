//! What the deployer shows of what runs: the live view of a service and of a
//! deployable file, against the simulated cluster, over the real HTTP API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use slipway_deployer::config::ClusterConfig;
use slipway_deployer::DeployerConfig;
use slipway_kit::Drain;
use slipway_simcluster::{SimCluster, SimConfig};

fn base(name: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 30
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: "${{image}}"
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports:
    - port: 80
"#
    )
}

fn repo_yaml() -> String {
    let mut files = BTreeMap::new();
    files.insert(
        "deployers.yaml".to_string(),
        "deployers:\n  dev: {cluster: sim, namespace: dev}\n".to_string(),
    );
    files.insert("dev/base/web.yaml".into(), base("web", 2));
    files.insert(
        "dev/version/web.yaml".into(),
        "version: \"1\"\nimage: reg/web:1\n".into(),
    );
    files.insert("dev/base/bad.yaml".into(), base("bad", 1));
    files.insert(
        "dev/version/bad.yaml".into(),
        "version: \"1\"\nimage: reg/bad:broken\n".into(),
    );
    files.insert(
        "dev/deployable/cache/redis.yaml".into(),
        base("redis", 1).replace("${image}", "redis:7"),
    );
    let mut yaml = String::from("commits:\n  - message: initial\n    files:\n");
    for (path, text) in files {
        yaml.push_str(&format!("      {path}: {}\n", serde_json::to_string(&text).unwrap()));
    }
    yaml
}

struct Running {
    _repo: git_fixture::TempRepo,
    sim: SimCluster,
    base: String,
    shutdown: Drain,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Running {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let repo = git_fixture::temp(&repo_yaml()).unwrap();
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    let kubeconfig = repo.scratch("sim.kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    config.clusters.insert(
        "sim".into(),
        ClusterConfig {
            kubeconfig: Some(kubeconfig),
            context: None,
            in_cluster: false,
        },
    );
    config.poll_interval = Duration::from_millis(200);
    let shutdown = Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    Running {
        _repo: repo,
        sim,
        base: format!("http://{}", running.addr),
        shutdown,
        task: running.task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.begin();
        self.task.await.unwrap().unwrap();
        self.sim.shutdown().await;
    }
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `url` until `check` accepts the answer (20 s at most).
async fn wait_for(url: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(url).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {what}; last {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The object of `kind` in a view.
fn object<'a>(view: &'a Value, kind: &str) -> &'a Value {
    view["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == kind))
        .unwrap_or(&Value::Null)
}

fn pods(view: &Value) -> Vec<Value> {
    object(view, "Deployment")["children"][0]["pods"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_service_shows_deployment_replicaset_and_two_ready_pods_with_their_events() {
    let r = start().await;
    let url = format!("{}/envs/dev/services/web/live", r.base);
    let view = wait_for(&url, "two ready pods of a Clean Deployment", |v| {
        let p = pods(v);
        p.len() == 2 && p.iter().all(|p| p["ready"] == true) && object(v, "Deployment")["status"] == "Clean"
    })
    .await;
    assert_eq!(
        (view["env"].as_str(), view["unit"].as_str()),
        (Some("dev"), Some("web"))
    );
    let d = object(&view, "Deployment");
    assert_eq!(d["name"], "web");
    assert_eq!(d["status"], "Clean");
    assert!(d["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Available"));
    let rs = &d["children"][0];
    assert_eq!(rs["kind"], "ReplicaSet");
    assert!(rs["name"].as_str().unwrap().starts_with("web-"));
    assert_eq!(rs["replicas"], "2/2");
    for p in pods(&view) {
        assert!(p["name"].as_str().unwrap().starts_with(rs["name"].as_str().unwrap()));
        assert_eq!(p["phase"], "Running");
        assert_eq!(p["restarts"], 0);
        assert_eq!(p["containers"][0]["state"], "running");
    }
    let svc = object(&view, "Service");
    assert_eq!(
        (svc["name"].as_str(), svc["missing"].as_bool()),
        (Some("web"), Some(false))
    );
    let events = view["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["reason"] == "ScalingReplicaSet" && e["object"] == "Deployment/web"));
    assert!(events.iter().any(|e| e["reason"] == "Started"));
    assert!(
        events.iter().all(|e| !e["object"].as_str().unwrap().contains("bad")),
        "only the service's own events: {events:?}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_service_shows_the_pods_image_pull_back_off_and_the_event() {
    let r = start().await;
    let url = format!("{}/envs/dev/services/bad/live", r.base);
    let view = wait_for(&url, "ImagePullBackOff", |v| {
        pods(v)
            .first()
            .is_some_and(|p| p["containers"][0]["reason"] == "ImagePullBackOff")
    })
    .await;
    let pod = &pods(&view)[0];
    assert_eq!(pod["ready"], false);
    assert_eq!(pod["phase"], "Pending");
    assert_eq!(pod["containers"][0]["state"], "waiting");
    assert_eq!(
        pod["containers"][0]["message"],
        "Back-off pulling image \"reg/bad:broken\""
    );
    let events = view["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "Warning" && e["message"] == "Error: ImagePullBackOff"),
        "{events:?}"
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployable_file_has_a_live_view_and_unknown_units_are_404() {
    let r = start().await;
    let url = format!("{}/envs/dev/deployables/cache/redis.yaml/live", r.base);
    let view = wait_for(&url, "redis pod ready", |v| {
        pods(v).first().is_some_and(|p| p["ready"] == true)
    })
    .await;
    assert_eq!(view["unit"], "deployable/cache/redis.yaml");
    assert_eq!(object(&view, "Deployment")["name"], "redis");
    let (status, body) = get(&format!("{}/envs/dev/services/nope/live", r.base)).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nope is not deployed in env dev"),
        "{body}"
    );
    let (status, body) = get(&format!("{}/envs/prod/services/web/live", r.base)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("env prod"), "{body}");
    let (status, _) = get(&format!("{}/envs/dev/services/web/nothing", r.base)).await;
    assert_eq!(status, 404);
    r.stop().await;
}

/// The `line` events of an SSE body.
fn sse_lines(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut event = "";
    for l in body.lines() {
        if let Some(e) = l.strip_prefix("event: ") {
            event = if e == "line" { "line" } else { "other" };
        } else if let Some(d) = l.strip_prefix("data: ") {
            if event == "line" {
                out.push(d.to_string());
            }
        }
    }
    out
}

/// `slipway_deployer_log_streams` as `/metrics` says it.
async fn open_log_streams(base: &str) -> i64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("slipway_deployer_log_streams "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_exactly_n_lines_follow_new_ones_and_close_when_the_client_goes() {
    let r = start().await;
    let live = format!("{}/envs/dev/services/web/live", r.base);
    let view = wait_for(&live, "two ready pods", |v| {
        let p = pods(v);
        p.len() == 2 && p.iter().all(|p| p["ready"] == true)
    })
    .await;
    let pod = pods(&view)[1]["name"].as_str().unwrap().to_string();
    // Enough lines written for a tail of 5 to be a true tail.
    tokio::time::sleep(Duration::from_millis(1800)).await;

    let url = format!("{}/envs/dev/services/web/logs?pod={pod}&tail=5", r.base);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = response.text().await.unwrap();
    let lines = sse_lines(&body);
    assert_eq!(lines.len(), 5, "{body}");
    assert!(lines.iter().all(|l| l.contains(&pod)), "{lines:?}");
    assert!(body.contains("event: end\ndata: end of the log"), "{body}");

    // Follow: new lines arrive as they are written.
    assert_eq!(open_log_streams(&r.base).await, 0);
    let url = format!("{}/envs/dev/services/web/logs?pod={pod}&tail=1&follow=true", r.base);
    let mut response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    let mut gaps = Vec::new();
    let mut last = tokio::time::Instant::now();
    while sse_lines(&seen).len() < 4 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("a followed log sends its next line within 5 s")
            .unwrap()
            .expect("the stream stays open");
        let before = sse_lines(&seen).len();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if sse_lines(&seen).len() > before {
            gaps.push(last.elapsed());
            last = tokio::time::Instant::now();
        }
    }
    assert!(
        gaps[1..].iter().all(|g| *g < Duration::from_secs(1)),
        "each new line within 1 s: {gaps:?}"
    );
    assert_eq!(open_log_streams(&r.base).await, 1);
    // The client goes away: the stream is closed.
    drop(response);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while open_log_streams(&r.base).await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the stream stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A pod that is not the service's, and a waiting container, are refused.
    let (status, body) = get(&format!("{}/envs/dev/services/web/logs?pod=other-1", r.base)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not one of web's"), "{body}");
    let bad = wait_for(&format!("{}/envs/dev/services/bad/live", r.base), "a bad pod", |v| {
        !pods(v).is_empty()
    })
    .await;
    let bad_pod = pods(&bad)[0]["name"].as_str().unwrap().to_string();
    let (status, body) = get(&format!("{}/envs/dev/services/bad/logs?pod={bad_pod}", r.base)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("waiting to start"), "{body}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_another_manager_scales_the_diff_shows_live_5_desired_2_until_the_next_reconcile() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, Patch, PatchParams};

    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = git_fixture::temp(&repo_yaml()).unwrap();
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    let kubeconfig = repo.scratch("sim.kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    config.clusters.insert(
        "sim".into(),
        ClusterConfig {
            kubeconfig: Some(kubeconfig),
            context: None,
            in_cluster: false,
        },
    );
    // No loop runs: each reconcile is one `deploy`, so nothing restores the field in between.
    let d = slipway_deployer::Deployer::new(config).await.unwrap();
    d.deploy("dev").await.unwrap();
    let web = |diff: &slipway_core::live::EnvDiff| {
        diff.objects
            .iter()
            .find(|o| o.kind == "Deployment" && o.name == "web")
            .cloned()
            .expect("the web Deployment is in the diff")
    };
    let diff = d.diff("dev", None).await.unwrap();
    assert!(
        diff.objects
            .iter()
            .all(|o| o.state == slipway_core::live::DiffState::InSync),
        "{diff:?}"
    );
    assert!(diff.objects.iter().any(|o| o.unit == "deployable/cache/redis.yaml"));

    let deployments: Api<Deployment> = Api::namespaced(sim.client().await, "dev");
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("autoscaler".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    let only_web = d.diff("dev", Some("web")).await.unwrap();
    assert!(only_web.objects.iter().all(|o| o.unit == "web"), "{only_web:?}");
    let drifted = web(&only_web);
    assert_eq!(drifted.state, slipway_core::live::DiffState::Drifted);
    let replicas = drifted
        .fields
        .iter()
        .find(|f| f.path == "spec.replicas")
        .expect("spec.replicas differs");
    assert_eq!((replicas.live.as_deref(), replicas.desired.as_str()), (Some("5"), "2"));

    // The next reconcile that has seen the change (through the deployer's watch,
    // which may lag a moment behind the patch) restores it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let restored = loop {
        d.deploy("dev").await.unwrap();
        let now = web(&d.diff("dev", Some("web")).await.unwrap());
        if now.state == slipway_core::live::DiffState::InSync || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(restored.state, slipway_core::live::DiffState::InSync, "{restored:?}");
    assert!(matches!(
        d.diff("dev", Some("nope")).await,
        Err(slipway_deployer::inspect::InspectError::UnknownUnit { .. })
    ));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_of_an_env_and_of_a_service_are_served_over_http() {
    let r = start().await;
    let env = wait_for(&format!("{}/envs/dev/diff", r.base), "every object in sync", |v| {
        v["objects"]
            .as_array()
            .is_some_and(|o| !o.is_empty() && o.iter().all(|o| o["state"] == "in_sync"))
    })
    .await;
    assert_eq!(env["env"], "dev");
    let (status, web) = get(&format!("{}/envs/dev/services/web/diff", r.base)).await;
    assert_eq!(status, 200, "{web}");
    let units: Vec<&str> = web["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["web", "web"], "the Deployment and the Service of web");
    let (status, _) = get(&format!("{}/envs/prod/diff", r.base)).await;
    assert_eq!(status, 404);
    r.stop().await;
}
