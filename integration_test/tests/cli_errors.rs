//! A command-line error of any Slipway binary is one clear line on stderr, also
//! with `RUST_BACKTRACE=1` in the environment (which makes anyhow's Debug
//! output, the one an error returned from `main` gets, carry a backtrace).

use std::path::PathBuf;
use std::process::Command;

use integration_test::process::bin_dir;

/// A service binary of the workspace, next to this test's executable.
fn service(name: &str) -> Command {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build --workspace --bins`",
        path.display()
    );
    Command::new(path)
}

/// Runs `cmd` as a person with `RUST_BACKTRACE=1` would, and checks that it fails
/// with exactly one line on stderr: `error: ` and a message containing `expected`.
fn assert_one_line_error(what: &str, mut cmd: Command, expected: &str) {
    let out = cmd
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what} exits 1; stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what} prints one line on stderr, not:\n{stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(expected),
        "{what}: {:?} should be `error: …{expected}…`",
        lines[0]
    );
    assert!(!stderr.contains("Stack backtrace"), "{what}: {stderr}");
}

#[test]
fn a_missing_config_file_is_one_line_on_stderr_from_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let missing: PathBuf = dir.path().join("missing.yaml");
    let expected = format!("cannot read config file {}", missing.display());
    for (name, args) in [
        ("slipway-deployer", &["serve"][..]),
        ("slipway-deployer", &["check", "--exit-code"][..]),
        ("slipway-deployer", &["deploy", "--env", "dev"][..]),
        ("slipway-transitioner", &["serve"][..]),
        ("slipway-transitioner", &["check"][..]),
        ("slipway-aggregator", &["serve"][..]),
    ] {
        let mut cmd = service(name);
        cmd.args(args).arg("--config").arg(&missing);
        assert_one_line_error(&format!("{name} {}", args.join(" ")), cmd, &expected);
    }
}

#[test]
fn a_taken_port_is_one_line_on_stderr_from_the_simulated_cluster() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = service("slipway-simcluster");
    cmd.args(["--bind", &addr]);
    assert_one_line_error("slipway-simcluster", cmd, "starting the simulated cluster");
}

#[test]
fn playground_and_bench_errors_are_one_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder\n").unwrap();
    let mut playground = Command::new(env!("CARGO_BIN_EXE_playground"));
    playground.arg("--dir").arg(&file);
    assert_one_line_error("playground", playground, &format!("cannot clear {}", file.display()));

    let missing = dir.path().join("kubeconfig");
    let mut bench = Command::new(env!("CARGO_BIN_EXE_bench"));
    bench.arg("--real-cluster").arg(&missing);
    assert_one_line_error(
        "bench",
        bench,
        &format!("--real-cluster: no kubeconfig at {}", missing.display()),
    );
}
