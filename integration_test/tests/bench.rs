//! The benchmark's `--real-cluster` mode, run against a simulated cluster in a
//! process of its own (to the bench, a cluster like any other): it measures
//! (1)-(3) and (7), counts writes from the deployer's metrics, and deletes the
//! namespaces it made.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use integration_test::process::{bin_dir, run_kubectl};
use serde_json::Value;

#[test]
fn real_cluster_mode_measures_sync_noop_bump_and_kubectl_then_deletes_its_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut cluster = Command::new(bin_dir().join("slipway-simcluster"))
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .args(["--rollout-delay", "100ms"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulated cluster starts");
    // It prints its URL once it serves (and the kubeconfig is written).
    let mut url = String::new();
    BufReader::new(cluster.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let out = Command::new(bin_dir().join("bench"))
        .arg("--real-cluster")
        .arg(&kubeconfig)
        .args(["--services", "3", "--envs", "2", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["objects"], 12);
    let results = report["results"].as_array().unwrap();
    let value = |prefix: &str| -> String {
        results
            .iter()
            .find(|r| r["measure"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no measure {prefix} in {results:?}"))["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Every object applied once; nothing on a no-op; only the bumped Deployment.
    assert!(value("1.").ends_with(", 12 objects written"), "{}", value("1."));
    assert!(value("2.").ends_with(", 0 objects written"), "{}", value("2."));
    assert!(value("3.").starts_with("1 objects written"), "{}", value("3."));
    assert!(value("7.").contains("Slipway / kubectl ="), "{}", value("7."));
    // The end-to-end, API and memory measures need the simulated cluster of the bench's own.
    for absent in ["4.", "5.", "6."] {
        assert!(
            !results
                .iter()
                .any(|r| r["measure"].as_str().unwrap().starts_with(absent)),
            "{results:?}"
        );
    }
    // Its namespaces had a name of their own and are gone (or going).
    assert!(stderr.contains("deleting namespaces slipway-bench-"), "{stderr}");
    let (ok, left) = run_kubectl(
        &kubeconfig,
        &[
            "get",
            "namespaces",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
        ],
    );
    assert!(ok, "{left}");
    for line in left.lines().filter(|l| l.starts_with("slipway-bench-")) {
        assert!(line.ends_with(" Terminating"), "{left}");
    }
    cluster.kill().unwrap();
    cluster.wait().unwrap();
}

#[test]
fn scale_scenario_reports_sync_noop_bump_memory_and_failover_rows() {
    let out = Command::new(bin_dir().join("bench"))
        .args([
            "--scenario",
            "scale",
            "--services",
            "3",
            "--envs",
            "2",
            "--deployers",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["objects"], 12);
    let results = report["results"].as_array().unwrap();
    let value = |prefix: &str| -> String {
        results
            .iter()
            .find(|r| r["measure"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no measure {prefix} in {results:?}"))["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // At least every object's apply; then nothing; then the bumped Deployment.
    let first: u64 = value("S1.")
        .rsplit(", ")
        .next()
        .and_then(|w| w.strip_suffix(" API writes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(first >= 12, "{}", value("S1."));
    assert!(value("S2.").ends_with(", 0 API writes"), "{}", value("S2."));
    assert!(value("S3.").ends_with(", 1 API writes"), "{}", value("S3."));
    assert!(value("S4.").contains("deployer-0-0"), "{}", value("S4."));
    assert!(value("S5.").starts_with("n/a (one replica"), "{}", value("S5."));
}
