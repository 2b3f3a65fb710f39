//! `slipway-aggregator post-version`, the CI client, against a running aggregator.

mod support;

use support::{Harness, CI_TOKEN, REPO};

async fn post_version(args: &[&str], token: Option<&str>, stdin: &str) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt as _;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway-aggregator"));
    cmd.arg("post-version").args(args).env_remove("SLIPWAY_TOKEN");
    if let Some(t) = token {
        cmd.env("SLIPWAY_TOKEN", t);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ci_client_posts_and_reports_outcomes_through_exit_codes() {
    let h = Harness::start(REPO).await;
    let base = h.base.clone();
    let args = [
        "--url",
        &base,
        "--service",
        "s1",
        "--env",
        "latest",
        "--var",
        "version=5",
        "--var",
        "replicas:=2",
        "--changelog-file",
        "-",
    ];
    let (code, stdout, stderr) = post_version(&args, Some(CI_TOKEN), "Faster checkout\n").await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(h.repo.head().as_deref(), Some(stdout.as_str()));
    assert_eq!(
        h.repo.read("latest/version/s1.yaml").unwrap(),
        "replicas: 2\nversion: '5'\n"
    );
    assert!(h.repo.log()[0].2.contains("\n\nFaster checkout\n"));

    // Again: unchanged, still 0, same commit.
    let (code, again, _) = post_version(&args, Some(CI_TOKEN), "").await;
    assert_eq!((code, again), (0, stdout));

    let (code, _, stderr) = post_version(
        &[
            "--url",
            &base,
            "--service",
            "A",
            "--env",
            "latest",
            "--var",
            "version=1",
        ],
        Some(CI_TOKEN),
        "",
    )
    .await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("service name"), "{stderr}");
    let (code, _, _) = post_version(
        &[
            "--url",
            &base,
            "--service",
            "s1",
            "--env",
            "latest",
            "--var",
            "version=1",
        ],
        None,
        "",
    )
    .await;
    assert_eq!(code, 1, "no token");
    let (code, _, _) = post_version(&["--url", &base, "--service", "s1"], Some(CI_TOKEN), "").await;
    assert_eq!(code, 2, "missing arguments");
    h.stop().await;

    let (code, _, stderr) = post_version(
        &[
            "--url",
            &base,
            "--service",
            "s1",
            "--env",
            "latest",
            "--var",
            "version=1",
            "--retries",
            "0",
        ],
        Some(CI_TOKEN),
        "",
    )
    .await;
    assert_eq!(code, 4, "{stderr}");
}

/// `latest` feeds `dev`, whose base needs `replicas`.
const NEEDS_REPLICAS: &str = r#"
commits:
  - message: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {source: latest, target: dev}
      deployers.yaml: |
        deployers:
          dev: {cluster: main, namespace: dev}
      latest/version/s1.yaml: "version: '1'\nreplicas: 2\n"
      dev/version/s1.yaml: "version: '1'\nreplicas: 2\n"
      dev/base/s1.yaml: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: s1}
        data: {replicas: "${replicas}"}
"#;

#[tokio::test]
async fn ci_client_is_refused_for_a_variable_missing_downstream_unless_forced() {
    let h = Harness::start(NEEDS_REPLICAS).await;
    let base = h.base.clone();
    let args = [
        "--url",
        &base,
        "--service",
        "s1",
        "--env",
        "latest",
        "--var",
        "version=2",
    ];
    let head = h.repo.head();
    let (code, _, stderr) = post_version(&args, Some(CI_TOKEN), "").await;
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("dev/base/s1.yaml line 4 uses variable \"replicas\""),
        "{stderr}"
    );
    assert_eq!(h.repo.head(), head);
    let forced: Vec<&str> = args.iter().copied().chain(["--force"]).collect();
    let (code, stdout, stderr) = post_version(&forced, Some(CI_TOKEN), "").await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(h.repo.head().as_deref(), Some(stdout.as_str()));
    h.stop().await;
}
