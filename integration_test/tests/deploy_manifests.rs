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
    // Only the aggregator's pods may reach the transitioner.
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
        serde_json::json!([{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "slipway-aggregator"}}}])
    );
    // Applying again changes nothing.
    let (ok, out) = kubectl(&kubeconfig, &["apply", "--server-side", "-f", deploy]);
    assert!(ok, "{out}");
    assert!(!out.contains("created"), "{out}");
    sim.shutdown().await;
}
