//! The `slipway-deployer` binary: `check` and `deploy` against the simulated cluster.

use std::process::Command;
use std::time::Duration;

use slipway_simcluster::{SimCluster, SimConfig};

const REPO: &str = r#"
commits:
  - message: initial
    files:
      deployers.yaml: "deployers:\n  dev: {cluster: main, namespace: dev}\n"
      dev/deployable/app.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {level: info}\n"
      dev/base/s1.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s1}\ndata: {v: '${version}'}\n"
      dev/version/s1.yaml: "version: '1'\n"
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slipway-deployer"))
}

fn write_config(repo: &git_fixture::TempRepo, sim: &SimCluster) -> std::path::PathBuf {
    let kubeconfig = repo.scratch("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let more = format!(
        "retry_min_delay: 5ms\nretry_max_delay: 20ms\nclusters:\n  main: {{kubeconfig: {}, context: simcluster}}\n",
        kubeconfig.display()
    );
    repo.service_config("deployer.yaml", &repo.url(), &more).unwrap()
}

async fn run(cmd: &mut Command) -> std::process::Output {
    let mut cmd = std::mem::replace(cmd, Command::new("true"));
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// `slipway-deployer deploy --local --config CONFIG --env ENV`: one reconcile, no server.
async fn deploy_local(config: &std::path::Path, env: &str) -> std::process::Output {
    run(bin()
        .args(["deploy", "--local", "--env", env])
        .arg("--config")
        .arg(config))
    .await
}

#[tokio::test]
async fn check_then_deploy_then_deploy_fails_on_a_broken_service() {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let repo = git_fixture::temp(REPO).unwrap();
    let config = write_config(&repo, &sim);

    let out = run(bin().arg("check").arg("--config").arg(&config).args(["--env", "dev"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("+ create Namespace dev"), "{text}");
    assert!(text.contains("+ create ConfigMap dev/app"), "{text}");
    assert!(text.contains("+ create ConfigMap dev/s1"), "{text}");
    assert_eq!(sim.counters().writes(), 0);

    let out = deploy_local(&config, "dev").await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["status"], "Clean");
    assert_eq!(status["services"]["s1"]["phase"], "Deployed");

    repo.commit("break s1", &[("dev/base/s1.yaml", Some("kind: [\n"))])
        .unwrap();
    let out = deploy_local(&config, "dev").await;
    assert_eq!(out.status.code(), Some(1));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["services"]["s1"]["phase"], "DeployFailed");
    assert!(status["services"]["s1"]["error"]
        .as_str()
        .unwrap()
        .starts_with("dev/base/s1.yaml:"));

    let out = deploy_local(&config, "nope").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("env nope is not in deployers.yaml"));
    sim.shutdown().await;
}

#[test]
fn help_documents_every_flag_and_bad_config_keys_are_rejected() {
    let out = bin().args(["deploy", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        [
            "--config",
            "--env",
            "--force",
            "--url",
            "--token-file",
            "--local",
            "SLIPWAY_DEPLOY_TOKEN"
        ]
        .iter()
        .all(|flag| help.contains(flag))
            && help.contains("The env to redeploy"),
        "{help}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "versions_url: x\nversions_checkout_path: y\npoll_intervall: 1s\n",
    )
    .unwrap();
    let out = bin().arg("check").arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("poll_intervall"));
}

#[tokio::test]
async fn check_exit_code_is_3_for_changes_4_for_failures_and_0_when_up_to_date() {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let repo = git_fixture::temp(REPO).unwrap();
    let config = write_config(&repo, &sim);
    let check = |exit_code: bool| {
        let mut cmd = bin();
        cmd.arg("check").arg("--config").arg(&config);
        if exit_code {
            cmd.arg("--exit-code");
        }
        cmd
    };
    let explain = |out: &std::process::Output| {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let out = run(&mut check(true)).await;
    assert_eq!(out.status.code(), Some(3), "a first sync creates: {}", explain(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("+ create ConfigMap dev/s1"));
    let out = run(&mut check(false)).await;
    assert_eq!(out.status.code(), Some(0), "without --exit-code: {}", explain(&out));

    let out = deploy_local(&config, "dev").await;
    assert!(out.status.success(), "{}", explain(&out));
    let out = run(&mut check(true)).await;
    assert_eq!(out.status.code(), Some(0), "just deployed: {}", explain(&out));

    repo.commit("s1 2", &[("dev/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    let out = run(&mut check(true)).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "a new version changes s1: {}",
        explain(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("~ change ConfigMap dev/s1"));

    // A broken service outweighs the change still pending for it.
    repo.commit("break s1", &[("dev/base/s1.yaml", Some("kind: [\n"))])
        .unwrap();
    let out = run(&mut check(true)).await;
    assert_eq!(out.status.code(), Some(4), "s1 would fail: {}", explain(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("! failed s1"));
    let out = run(&mut check(false)).await;
    assert_eq!(out.status.code(), Some(0), "without --exit-code: {}", explain(&out));

    let help = bin().args(["check", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--exit-code") && help.contains("3 something would be created") && help.contains("4 a service"),
        "{help}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_asks_the_running_deployer_and_prints_what_was_applied_per_env() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = git_fixture::temp(REPO).unwrap();
    let kubeconfig = repo.scratch("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let tokens = repo.scratch("tokens");
    std::fs::write(&tokens, "ci:s3cr3t:deploy\n").unwrap();
    let token = repo.scratch("token");
    std::fs::write(&token, "s3cr3t\n").unwrap();
    let mut config = slipway_deployer::DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    config.api_tokens_file = Some(tokens);
    config.poll_interval = Duration::from_secs(3600);
    config.clusters.insert(
        "main".into(),
        slipway_deployer::config::ClusterConfig {
            kubeconfig: Some(kubeconfig),
            context: None,
            in_cluster: false,
        },
    );
    let drain = slipway_kit::Drain::new();
    let running = slipway_deployer::start(config, drain.clone()).await.unwrap();
    let url = format!("http://{}", running.addr);

    let out = run(bin()
        .args(["deploy", "--env", "dev", "--force", "--url", &url])
        .arg("--token-file")
        .arg(&token))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("dev: "), "{text}");
    assert!(text.contains(" ConfigMap dev/app\n"), "{text}");
    assert!(text.contains(" ConfigMap dev/s1\n"), "{text}");

    let out = run(bin()
        .args(["deploy", "--env", "dev", "--url", &url])
        .env_remove("SLIPWAY_DEPLOY_TOKEN"))
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--token-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(bin()
        .args(["deploy", "--env", "nope", "--url", &url])
        .env("SLIPWAY_DEPLOY_TOKEN", "s3cr3t"))
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("404") && err.contains("env nope is not in deployers.yaml; its envs are: dev"),
        "{err}"
    );
    drain.begin();
    let _ = running.task.await;
    sim.shutdown().await;
}
