//! The manifests under `deploy/` (installing Slipway in a real cluster) are valid:
//! the stock kubectl applies them server-side to a simulated cluster.

use std::path::Path;

use integration_test::process::run_kubectl as kubectl;
use slipway_simcluster::{SimCluster, SimConfig};

#[tokio::test(flavor = "multi_thread")]
async fn deploy_manifests_apply_server_side_and_create_every_object() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let deploy = deploy.to_str().unwrap();

    let (ok, out) = kubectl(&kubeconfig, &["apply", "--server-side", "-f", deploy]);
    assert!(ok, "kubectl apply failed:\n{out}");

    for (kind, name, ns) in [
        ("namespace", "slipway", None),
        ("serviceaccount", "slipway-deployer", Some("slipway")),
        ("clusterrole", "slipway-deployer", None),
        ("clusterrolebinding", "slipway-deployer", None),
        ("rolebinding", "slipway-deployer", Some("dev")),
        ("configmap", "slipway-config", Some("slipway")),
        ("secret", "slipway-api-tokens", Some("slipway")),
        ("secret", "slipway-transitioner-tokens", Some("slipway")),
        ("networkpolicy", "default-deny-ingress", Some("slipway")),
        ("networkpolicy", "slipway-aggregator", Some("slipway")),
        ("networkpolicy", "slipway-transitioner", Some("slipway")),
        ("networkpolicy", "slipway-deployer", Some("slipway")),
        ("deployment", "slipway-deployer", Some("slipway")),
        ("deployment", "slipway-transitioner", Some("slipway")),
        ("deployment", "slipway-aggregator", Some("slipway")),
        ("service", "slipway-aggregator", Some("slipway")),
        ("serviceaccount", "slipway-transitioner", Some("slipway")),
        ("role", "slipway-leases", Some("slipway")),
        ("rolebinding", "slipway-transitioner-leases", Some("slipway")),
        ("poddisruptionbudget", "slipway-transitioner", Some("slipway")),
        ("poddisruptionbudget", "slipway-aggregator", Some("slipway")),
        ("poddisruptionbudget", "slipway-deployer", Some("slipway")),
        ("role", "slipway-deployer-leases", Some("slipway")),
        ("rolebinding", "slipway-deployer-leases", Some("slipway")),
    ] {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let (ok, out) = kubectl(&kubeconfig, &args);
        assert!(ok, "{kind}/{name} missing:\n{out}");
        let obj: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(obj["metadata"]["name"], name);
    }
    // The config the Deployments mount parses as the services' own config files.
    let (_, out) = kubectl(
        &kubeconfig,
        &["get", "configmap", "slipway-config", "-n", "slipway", "-o", "json"],
    );
    let cm: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["deployer.yaml", "transitioner.yaml", "aggregator.yaml"] {
        let text = cm["data"][key].as_str().unwrap();
        let parsed: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        assert!(parsed["versions_url"].is_string(), "{key}");
    }
    // The transitioner takes runs only with the token the aggregator sends: both read one Secret key.
    let config = |key: &str| serde_yaml::from_str::<serde_yaml::Value>(cm["data"][key].as_str().unwrap()).unwrap();
    let file_name = |v: &serde_yaml::Value| {
        let path = v.as_str().unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default().to_string()
    };
    let tokens = config("transitioner.yaml")["api_tokens_file"].clone();
    let peer = config("aggregator.yaml")["peer_token_file"].clone();
    assert_eq!(file_name(&tokens), "transitioner-tokens");
    assert_eq!(file_name(&peer), "transitioner-tokens");
    // Only the aggregator's pods (and the other transitioner replica, passing runs on to the leader) may reach the transitioner.
    let (_, out) = kubectl(
        &kubeconfig,
        &[
            "get",
            "networkpolicy",
            "slipway-transitioner",
            "-n",
            "slipway",
            "-o",
            "json",
        ],
    );
    let policy: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        policy["spec"]["ingress"][0]["from"],
        serde_json::json!([
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "slipway-aggregator"}}},
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "slipway-transitioner"}}}
        ])
    );
    high_availability(&kubeconfig, &config("transitioner.yaml"));
    deployer_shards(&kubeconfig, &config("deployer.yaml"));

    // Applying again changes nothing.
    let (ok, out) = kubectl(&kubeconfig, &["apply", "--server-side", "-f", deploy]);
    assert!(ok, "{out}");
    assert!(!out.contains("created"), "{out}");
    sim.shutdown().await;
}

fn get_json(kubeconfig: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-n", "slipway", "-o", "json"]);
    let (ok, out) = kubectl(kubeconfig, &all);
    assert!(ok, "kubectl {all:?}:\n{out}");
    serde_json::from_str(&out).unwrap()
}

/// Replicas, leader election, disruption budgets, anti-affinity and the Lease RBAC.
fn high_availability(kubeconfig: &Path, transitioner_config: &serde_yaml::Value) {
    use serde_json::json;
    let deployment = |name: &str| get_json(kubeconfig, &["deployment", name]);
    let (deployer, transitioner, aggregator) = (
        deployment("slipway-deployer"),
        deployment("slipway-transitioner"),
        deployment("slipway-aggregator"),
    );
    assert_eq!(deployer["spec"]["replicas"], 3);
    assert_eq!(transitioner["spec"]["replicas"], 2);
    assert_eq!(aggregator["spec"]["replicas"], 3);

    for (name, d) in [
        ("slipway-deployer", &deployer),
        ("slipway-transitioner", &transitioner),
        ("slipway-aggregator", &aggregator),
    ] {
        let pod = &d["spec"]["template"]["spec"];
        let term = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname", "{name}");
        assert_eq!(term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"], name);
        let container = &pod["containers"][0];
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready", "{name}");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/live", "{name}");
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0, "{name}");
    }

    // The replica's identity is its pod name, from the downward API.
    let env = &transitioner["spec"]["template"]["spec"]["containers"][0]["env"];
    let from_field = |var: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == var)
            .map(|e| e["valueFrom"]["fieldRef"]["fieldPath"].clone())
    };
    assert_eq!(from_field("POD_NAME"), Some(json!("metadata.name")));
    assert_eq!(from_field("POD_NAMESPACE"), Some(json!("metadata.namespace")));
    assert_eq!(from_field("POD_IP"), Some(json!("status.podIP")));

    // Leader election is on, with timings that can work, on a Lease the RBAC grants.
    let election: slipway_kit::lease::LeaseSettings =
        serde_yaml::from_value(transitioner_config["leader_election"].clone()).expect("leader_election parses");
    election.validate().unwrap();
    assert!(election.in_cluster);
    assert_eq!(election.namespace.as_deref(), Some("slipway"));
    let role = get_json(kubeconfig, &["role", "slipway-leases"]);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                "verbs": ["get", "list", "watch", "create", "update", "patch"]}])
    );
    let binding = get_json(kubeconfig, &["rolebinding", "slipway-transitioner-leases"]);
    assert_eq!(binding["roleRef"]["name"], "slipway-leases");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "slipway-transitioner", "namespace": "slipway"}])
    );
    let account = get_json(kubeconfig, &["serviceaccount", "slipway-transitioner"]);
    assert_ne!(
        account["automountServiceAccountToken"], false,
        "the transitioner needs its token for the Lease"
    );
    assert_eq!(
        transitioner["spec"]["template"]["spec"]["serviceAccountName"],
        "slipway-transitioner"
    );

    // Disruption budgets: one transitioner and two aggregators stay up.
    let pdb = |name: &str| get_json(kubeconfig, &["poddisruptionbudget", name]);
    let (t, a) = (pdb("slipway-transitioner"), pdb("slipway-aggregator"));
    assert_eq!(t["spec"]["minAvailable"], 1);
    assert_eq!(a["spec"]["maxUnavailable"], 1);
    assert_eq!(
        t["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "slipway-transitioner"
    );
    assert_eq!(
        a["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "slipway-aggregator"
    );
}

/// The deployers share the environments through Leases: sharding on with timings
/// that work, the pod's identity from the downward API, RBAC for the Leases, a
/// disruption budget, and the replicas may reach each other's `/status`.
fn deployer_shards(kubeconfig: &Path, deployer_config: &serde_yaml::Value) {
    use serde_json::json;
    let sharding: slipway_kit::lease::LeaseSettings =
        serde_yaml::from_value(deployer_config["sharding"].clone()).expect("sharding is on and parses");
    sharding.validate().unwrap();
    assert_eq!(sharding.lease_name.as_deref(), Some("slipway-deployer"));
    assert!(sharding.in_cluster);
    assert_eq!(sharding.namespace.as_deref(), Some("slipway"));
    let deployer = get_json(kubeconfig, &["deployment", "slipway-deployer"]);
    let env = &deployer["spec"]["template"]["spec"]["containers"][0]["env"];
    for (var, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_IP", "status.podIP"),
    ] {
        let found = env.as_array().unwrap().iter().find(|e| e["name"] == var);
        assert_eq!(
            found.map(|e| e["valueFrom"]["fieldRef"]["fieldPath"].clone()),
            Some(json!(field)),
            "{var}"
        );
    }
    let role = get_json(kubeconfig, &["role", "slipway-deployer-leases"]);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}])
    );
    let binding = get_json(kubeconfig, &["rolebinding", "slipway-deployer-leases"]);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "slipway-deployer", "namespace": "slipway"}])
    );
    let pdb = get_json(kubeconfig, &["poddisruptionbudget", "slipway-deployer"]);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let policy = get_json(kubeconfig, &["networkpolicy", "slipway-deployer"]);
    let from = policy["spec"]["ingress"][0]["from"].as_array().unwrap().clone();
    assert!(
        from.contains(&json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "slipway-deployer"}}})),
        "{from:?}"
    );
}
