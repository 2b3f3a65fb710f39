//! Stock `kubectl` against the simulated cluster: apply --server-side, get, delete, api-resources.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
