//! Stock `kubectl` against the simulated cluster: apply --server-side, get, delete, api-resources,
//! and the imperative commands (create configmap|secret generic|namespace|deployment, scale, label,
//! annotate, delete), each checked in the cluster afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use slipway_simcluster::{SimCluster, SimConfig};

fn kubectl_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECTL") {
        return PathBuf::from(p);
    }
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("kubectl")).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/bin/kubectl")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl not found (looked in $KUBECTL, $PATH and /usr/bin): install Debian's kubernetes-client \
             package (`apt-get install kubernetes-client`); the project's scripts/test installs it"
            )
        })
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .output()
            .await
            .expect("run kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    }
}

fn write_manifests(dir: &Path) {
    std::fs::write(
        dir.join("00-namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubectl-test\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("10-configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frontend-config\n  namespace: kubectl-test\n  labels:\n    team: blue\ndata:\n  greeting: hello\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("20-deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: frontend\n  namespace: kubectl-test\n  labels:\n    team: blue\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: frontend\n  template:\n    metadata:\n      labels:\n        app: frontend\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n        ports:\n        - containerPort: 80\n",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_kubectl_applies_gets_and_deletes() {
    let bin = kubectl_binary();
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(500),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    write_manifests(&manifests);
    let kubeconfig = tmp.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        bin,
        kubeconfig,
        cache: tmp.path().join("cache"),
    };
    let dir = manifests.to_str().unwrap();

    let out = k.ok(&["apply", "--server-side", "-f", dir]).await;
    assert!(out.contains("deployment.apps/frontend serverside-applied"), "{out}");
    assert!(out.contains("configmap/frontend-config serverside-applied"), "{out}");

    // A second apply of the same files changes nothing.
    let rv = |o: &str| serde_json::from_str::<serde_json::Value>(o).unwrap()["metadata"]["resourceVersion"].clone();
    let before = k
        .ok(&[
            "get",
            "configmap",
            "frontend-config",
            "-n",
            "kubectl-test",
            "-o",
            "json",
        ])
        .await;
    k.ok(&["apply", "--server-side", "-f", dir]).await;
    let after = k
        .ok(&[
            "get",
            "configmap",
            "frontend-config",
            "-n",
            "kubectl-test",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(rv(&before), rv(&after));

    let mut available = false;
    for _ in 0..100 {
        let out = k
            .ok(&["get", "deploy", "frontend", "-n", "kubectl-test", "-o", "json"])
            .await;
        let d: serde_json::Value = serde_json::from_str(&out).unwrap();
        if d["status"]["availableReplicas"] == 2 {
            available = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(available, "deployment never reported availableReplicas 2");

    let out = k.ok(&["get", "deploy", "-n", "kubectl-test", "-l", "team=blue"]).await;
    assert!(out.contains("frontend") && out.contains("2/2"), "{out}");
    let (ok, out, err) = k.run(&["get", "deploy", "-n", "kubectl-test", "-l", "team=red"]).await;
    assert!(ok && !out.contains("frontend"), "{out}{err}");
    assert!(err.contains("No resources found"), "{err}");

    let out = k.ok(&["api-resources"]).await;
    for r in [
        "deployments",
        "configmaps",
        "customresourcedefinitions",
        "clusterrolebindings",
    ] {
        assert!(out.contains(r), "api-resources lacks {r}: {out}");
    }

    let out = k.ok(&["delete", "-f", dir]).await;
    assert!(out.contains("deployment.apps \"frontend\" deleted"), "{out}");
    let (_, _, err) = k.run(&["get", "deploy", "frontend", "-n", "kubectl-test"]).await;
    assert!(err.contains("NotFound") || err.contains("not found"), "{err}");
    sim.shutdown().await;
}

/// A cluster and a kubectl pointed at it (kept alive by the returned temp dir).
async fn kubectl_against_a_cluster() -> (SimCluster, Kubectl, tempfile::TempDir) {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        bin: kubectl_binary(),
        kubeconfig,
        cache: tmp.path().join("cache"),
    };
    (sim, k, tmp)
}

fn api<K>(client: &kube::Client) -> kube::Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    kube::Api::namespaced(client.clone(), "default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_configmap_from_literals_stores_the_data() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    let out = k
        .ok(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=color=blue",
            "--from-literal=size=10",
        ])
        .await;
    assert!(out.contains("configmap/settings created"), "{out}");
    let cm: ConfigMap = api(&sim.client().await).get("settings").await.unwrap();
    let data = cm.data.unwrap();
    assert_eq!(
        (
            data.get("color").map(String::as_str),
            data.get("size").map(String::as_str)
        ),
        (Some("blue"), Some("10"))
    );
    let managers: Vec<_> = cm.metadata.managed_fields.unwrap_or_default();
    assert_eq!(managers[0].manager.as_deref(), Some("kubectl-create"));
    assert_eq!(managers[0].operation.as_deref(), Some("Update"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_secret_generic_stores_the_literal_as_data() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    let out = k
        .ok(&["create", "secret", "generic", "db", "--from-literal=password=hunter2"])
        .await;
    assert!(out.contains("secret/db created"), "{out}");
    let s: Secret = api(&sim.client().await).get("db").await.unwrap();
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    let data = s.data.unwrap();
    assert_eq!(data.get("password").map(|b| b.0.as_slice()), Some(&b"hunter2"[..]));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_namespace_makes_an_active_namespace_to_create_in() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    let out = k.ok(&["create", "namespace", "team-a"]).await;
    assert!(out.contains("namespace/team-a created"), "{out}");
    let ns: Namespace = kube::Api::all(sim.client().await).get("team-a").await.unwrap();
    assert_eq!(ns.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    let labels = ns.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("kubernetes.io/metadata.name").map(String::as_str),
        Some("team-a")
    );
    let out = k
        .ok(&["create", "configmap", "inside", "-n", "team-a", "--from-literal=a=b"])
        .await;
    assert!(out.contains("configmap/inside created"), "{out}");
    sim.shutdown().await;
}

async fn create_deployment(k: &Kubectl) {
    let out = k
        .ok(&[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.25",
            "--replicas=2",
            "--port=8080",
        ])
        .await;
    assert!(out.contains("deployment.apps/web created"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_deployment_stores_image_replicas_port_and_rolls_out() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    let deployments: kube::Api<Deployment> = api(&sim.client().await);
    let d = deployments.get("web").await.unwrap();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let selector = spec.selector.match_labels.unwrap_or_default();
    assert_eq!(selector.get("app").map(String::as_str), Some("web"));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.containers.len(), 1);
    assert_eq!(pod.containers[0].name, "nginx");
    assert_eq!(pod.containers[0].image.as_deref(), Some("nginx:1.25"));
    let ports = pod.containers[0].ports.clone().unwrap_or_default();
    assert_eq!(ports[0].container_port, 8080);
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"), "defaults are filled in");
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_changes_the_deployments_replicas() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    let out = k.ok(&["scale", "deployment/web", "--replicas=4"]).await;
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let d: Deployment = api(&sim.client().await).get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(4));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_label_adds_and_removes_a_label() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    k.ok(&["create", "configmap", "settings", "--from-literal=a=b"]).await;
    let out = k.ok(&["label", "configmap", "settings", "tier=front"]).await;
    assert!(out.contains("configmap/settings labeled"), "{out}");
    let configmaps: kube::Api<ConfigMap> = api(&sim.client().await);
    let labels = configmaps
        .get("settings")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    k.ok(&["label", "configmap", "settings", "tier-"]).await;
    let labels = configmaps
        .get("settings")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert!(!labels.contains_key("tier"), "{labels:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_annotate_sets_an_annotation() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    let out = k.ok(&["annotate", "deployment", "web", "owner=team-a"]).await;
    assert!(out.contains("deployment.apps/web annotated"), "{out}");
    let d: Deployment = api(&sim.client().await).get("web").await.unwrap();
    let annotations = d.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("owner").map(String::as_str), Some("team-a"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_removes_the_objects() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    k.ok(&["create", "configmap", "settings", "--from-literal=a=b"]).await;
    let out = k.ok(&["delete", "deployment", "web"]).await;
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    let out = k.ok(&["delete", "configmap/settings"]).await;
    assert!(out.contains("configmap \"settings\" deleted"), "{out}");
    let client = sim.client().await;
    assert!(api::<Deployment>(&client).get_opt("web").await.unwrap().is_none());
    assert!(api::<ConfigMap>(&client).get_opt("settings").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_of_a_wrong_type_fails_with_the_servers_message() {
    let (sim, k, tmp) = kubectl_against_a_cluster().await;
    let file = tmp.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  enabled: true\n",
    )
    .unwrap();
    let (ok, out, err) = k.run(&["apply", "--server-side", "-f", file.to_str().unwrap()]).await;
    assert!(!ok, "apply succeeded: {out}");
    assert!(err.contains(".data.enabled: expected string"), "{err}");
    let (ok, _, err) = k.run(&["create", "-f", file.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(
        err.contains("cannot unmarshal bool into Go struct field ConfigMap.data of type string"),
        "{err}"
    );
    assert!(api::<ConfigMap>(&sim.client().await)
        .get_opt("bad")
        .await
        .unwrap()
        .is_none());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_serviceaccount_role_and_rolebinding_store_rules_and_subjects() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    k.ok(&["create", "serviceaccount", "deployer"]).await;
    k.ok(&[
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods,deployments.apps",
    ])
    .await;
    k.ok(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--serviceaccount=default:deployer",
    ])
    .await;
    let client = sim.client().await;
    assert!(api::<ServiceAccount>(&client)
        .get_opt("deployer")
        .await
        .unwrap()
        .is_some());
    let role: Role = api(&client).get("reader").await.unwrap();
    let rules = role.rules.unwrap_or_default();
    let groups: Vec<_> = rules.iter().map(|r| r.api_groups.clone().unwrap_or_default()).collect();
    assert_eq!(groups, vec![vec![String::new()], vec!["apps".to_string()]]);
    assert_eq!(rules[0].verbs, vec!["get", "list"]);
    let binding: RoleBinding = api(&client).get("reader").await.unwrap();
    assert_eq!(
        (binding.role_ref.kind.as_str(), binding.role_ref.name.as_str()),
        ("Role", "reader")
    );
    let subjects = binding.subjects.unwrap_or_default();
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", "deployer", Some("default"))
    );
    sim.shutdown().await;
}

/// Waits (up to 20 s) until `kubectl args` prints something containing every one of `wanted`.
async fn eventually_prints(k: &Kubectl, args: &[&str], wanted: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out, err) = k.run(args).await;
        if ok && wanted.iter().all(|w| out.contains(w)) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl {args:?} never printed {wanted:?}; last:\n{out}{err}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_pods_shows_the_deployments_pods_owned_by_its_replicaset_and_ready() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]).await;
    let table = eventually_prints(&k, &["get", "pods"], &["1/1", "Running"]).await;
    assert_eq!(table.lines().filter(|l| l.starts_with("web-")).count(), 2, "{table}");
    let pods: serde_json::Value = serde_json::from_str(&k.ok(&["get", "pods", "-o", "json"]).await).unwrap();
    let rs: serde_json::Value = serde_json::from_str(&k.ok(&["get", "rs", "-o", "json"]).await).unwrap();
    let rs = &rs["items"][0];
    let rs_name = rs["metadata"]["name"].as_str().unwrap();
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap();
    assert_eq!(rs_name, format!("web-{hash}"));
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for pod in items {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let suffix = name
            .strip_prefix(&format!("{rs_name}-"))
            .expect("named after its ReplicaSet");
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], hash);
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        let owner = &pod["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["name"], rs_name);
        assert_eq!(owner["uid"], rs["metadata"]["uid"]);
        assert_eq!(owner["controller"], true);
        assert_eq!(pod["status"]["phase"], "Running");
        let ready = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
        assert_eq!(pod["spec"]["nodeName"], "simcluster-node");
    }
    // Scaling down removes pods, and deleting the Deployment removes them all.
    k.ok(&["scale", "deployment/web", "--replicas=1"]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = k.ok(&["get", "pods", "-o", "name"]).await;
        if out.lines().count() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_image_pull_back_off_for_a_broken_image_with_its_events() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    k.ok(&["create", "deployment", "bad", "--image=nginx:broken"]).await;
    let table = eventually_prints(&k, &["get", "pods"], &["0/1", "ImagePullBackOff"]).await;
    assert!(table.contains("bad-"), "{table}");
    let pods: serde_json::Value = serde_json::from_str(&k.ok(&["get", "pods", "-o", "json"]).await).unwrap();
    let waiting = &pods["items"][0]["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting["reason"], "ImagePullBackOff");
    assert_eq!(waiting["message"], "Back-off pulling image \"nginx:broken\"");
    assert_eq!(pods["items"][0]["status"]["phase"], "Pending");
    let events = k.ok(&["get", "events", "--field-selector", "type=Warning"]).await;
    assert!(events.contains("Error: ErrImagePull"), "{events}");
    assert!(events.contains("Error: ImagePullBackOff"), "{events}");
    assert!(!events.contains("Scheduled"), "only warnings: {events}");
    let out = k.run(&["logs", "deployment/bad"]).await;
    assert!(!out.0);
    assert!(
        out.2.contains("is waiting to start: trying and failing to pull image"),
        "{}",
        out.2
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_events_in_both_apis_and_describe_deploy_shows_replicaset_and_scaling() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]).await;
    let core = eventually_prints(
        &k,
        &["get", "events"],
        &["ScalingReplicaSet", "SuccessfulCreate", "Scheduled", "Started"],
    )
    .await;
    assert!(core.contains("deployment/web"), "{core}");
    assert!(core.contains("Scaled up replica set web-"), "{core}");
    let modern: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "events.v1.events.k8s.io", "-o", "json"]).await).unwrap();
    let scaling = modern["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "ScalingReplicaSet")
        .expect("the scaling event in events.k8s.io/v1");
    assert_eq!(scaling["regarding"]["kind"], "Deployment");
    assert_eq!(scaling["reportingController"], "deployment-controller");
    let described = k.ok(&["describe", "deploy", "web"]).await;
    assert!(described.contains("NewReplicaSet:"), "{described}");
    assert!(described.contains("(2/2 replicas created)"), "{described}");
    assert!(described.contains("ScalingReplicaSet"), "{described}");
    assert!(described.contains("Scaled up replica set web-"), "{described}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_tails_exactly_n_lines_and_follows_new_ones() {
    let (sim, k, _tmp) = kubectl_against_a_cluster().await;
    create_deployment(&k).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]).await;
    let pod = eventually_prints(&k, &["get", "pods", "-o", "name"], &["pod/web-"]).await;
    let pod = pod.lines().next().unwrap().to_string();
    // Wait until the container has written more than 3 lines.
    eventually_prints(&k, &["logs", &pod], &["request=4"]).await;
    let tail = k.ok(&["logs", &pod, "--tail=3"]).await;
    assert_eq!(tail.lines().count(), 3, "{tail}");
    assert!(tail.lines().all(|l| l.contains(" INFO web-")), "{tail}");

    let mut follow = tokio::process::Command::new(&k.bin)
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .arg("--cache-dir")
        .arg(&k.cache)
        .args(["logs", "-f", "--tail=1", &pod])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while seen.len() < 4 {
            match lines.next_line().await.unwrap() {
                Some(l) => seen.push(l),
                None => break,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "follow printed only {seen:?}");
    assert_eq!(seen.len(), 4, "{seen:?}");
    let numbers: Vec<u64> = seen
        .iter()
        .map(|l| l.rsplit("request=").next().unwrap().parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive new lines: {numbers:?}"
    );
    follow.kill().await.unwrap();
    sim.shutdown().await;
}
