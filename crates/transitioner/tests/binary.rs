//! The `slipway-transitioner` binary: config file, the "listening on" line, SIGTERM.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[tokio::test]
async fn serve_reads_its_config_promotes_and_stops_on_sigterm() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '2'\n"
"#,
    );
    let more = "api_bind: 127.0.0.1:0\npoll_interval: 50ms\n";
    let config = repo.service_config("transitioner.yaml", &repo.url(), more).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-transitioner"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("slipway-transitioner listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let health = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let promoted = wait_until("the promotion of s1 into dev", Duration::from_secs(10), || async {
        repo.read("dev/version/s1.yaml")
            .ok_or_else(|| "no dev/version/s1.yaml".to_string())
    })
    .await;
    assert_eq!(promoted, "version: '2'\n");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exits cleanly on SIGTERM: {status}");
}

#[test]
fn unknown_config_keys_are_refused_with_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t.yaml");
    std::fs::write(
        &config,
        "versions_url: x\nversions_checkout_path: y\npoll_intervall: 1s\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway-transitioner"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t.yaml:3") && err.contains("poll_intervall"), "{err}");
}

#[test]
fn check_prints_what_would_happen_and_writes_nothing() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  prod: {source: dev, target: prod, manual: true}\n"
      latest/version/s1.yaml: "version: '2'\n"
      dev/version/s1.yaml: "version: '1'\n"
      dev/locks.yaml: "resource_locks:\n  s2: {reasons: [incident 4711]}\n"
      latest/version/s2.yaml: "version: '7'\n"
"#,
    );
    let head = repo.head();
    let config = repo.scratch("transitioner.yaml");
    std::fs::write(
        &config,
        format!(
            "versions_url: {}\nversions_checkout_path: {}\n",
            repo.url(),
            repo.scratch("checkout").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway-transitioner"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dev: Success (would commit): promoted s1 1 → 2"),
        "{text}"
    );
    assert!(text.contains("  held back s2: locked in dev: incident 4711"), "{text}");
    assert!(text.contains("prod: Skipped: manual"), "{text}");
    assert_eq!(repo.head(), head, "check writes nothing");
}

#[test]
fn a_git_host_without_its_token_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t.yaml");
    std::fs::write(
        &config,
        format!(
            "versions_url: {}\nversions_checkout_path: {}\ngit_host: {{kind: github, repo: acme/res, token_env: SLIPWAY_TEST_NO_SUCH_TOKEN}}\n",
            dir.path().join("none.git").display(),
            dir.path().join("checkout").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway-transitioner"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("SLIPWAY_TEST_NO_SUCH_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("git_host") && err.contains("SLIPWAY_TEST_NO_SUCH_TOKEN"),
        "{err}"
    );
}
