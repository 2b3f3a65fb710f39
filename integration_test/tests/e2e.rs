//! End-to-end: the three services as real processes against a simulated cluster.
//! The journey (post → dev → pp with SourceClean, a broken version stops, a lock
//! holds) runs with the resource repo as a local path, over smart HTTP with a
//! token and over ssh with a key and a checked host key.

use std::time::Duration;

use anyhow::Result;
use integration_test::client::{service_env, wait_for, Api};
use integration_test::stack::{Stack, StackOptions, Transport};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

async fn start(schedule: Option<&str>) -> Result<(tempfile::TempDir, Stack, Api)> {
    start_over(schedule, Transport::Local).await
}

async fn start_over(schedule: Option<&str>, transport: Transport) -> Result<(tempfile::TempDir, Stack, Api)> {
    let dir = tempfile::Builder::new().prefix("slipway-e2e-").tempdir()?;
    let mut opts = StackOptions::new(&dir.path().join("stack"));
    opts.rollout_delay = Duration::from_millis(300);
    opts.poll_interval = Duration::from_millis(500);
    opts.transport = transport;
    opts.example.progress_deadline_secs = 3;
    opts.example.last_schedule = schedule.map(str::to_string);
    let stack = Stack::start(opts).await?;
    let api = Api::new(&stack.aggregator.url, &stack.token);
    Ok((dir, stack, api))
}

fn version_of(state: &Value, service: &str, env: &str) -> Option<String> {
    service_env(state, service, env)?["version"]
        .as_str()
        .map(str::to_string)
}

fn status_of(state: &Value, service: &str, env: &str) -> String {
    service_env(state, service, env)
        .map(|s| format!("{}/{}", s["status"], s["phase"]))
        .unwrap_or_default()
}

/// Waits until `service` in `env` runs `version` with status `Clean`.
async fn wait_clean(api: &Api, service: &str, env: &str, version: &str) -> Result<()> {
    wait_for(WAIT, &format!("{service} {version} Clean in {env}"), || async {
        let state = api.state().await?;
        let s = service_env(&state, service, env).cloned().unwrap_or_default();
        if s["version"] == version && s["status"] == "Clean" {
            Ok(Ok(()))
        } else {
            Ok(Err(format!("version {} status {}", s["version"], s["status"])))
        }
    })
    .await
}

/// Runs a journey once per transport, as three tests named after it.
macro_rules! over_each_transport {
    ($journey:ident: $local:ident, $http:ident, $ssh:ident) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $local() -> Result<()> {
            $journey(Transport::Local).await
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $http() -> Result<()> {
            $journey(Transport::SmartHttp).await
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $ssh() -> Result<()> {
            $journey(Transport::Ssh).await
        }
    };
}

over_each_transport!(moves_through_dev_pp_and_prod:
    posted_version_moves_through_dev_pp_and_prod_at_schedule,
    posted_version_moves_through_dev_pp_and_prod_over_smart_http,
    posted_version_moves_through_dev_pp_and_prod_over_ssh);

async fn moves_through_dev_pp_and_prod(transport: Transport) -> Result<()> {
    let (_dir, stack, api) = start_over(Some("*/5 * * * * *"), transport).await?;
    wait_clean(&api, "web", "pp", "1.0.0").await?;
    let (code, body) = api.post_version("latest", "web", "1.1.0", "Faster start-up").await?;
    assert_eq!(code, 201, "{body}");
    wait_clean(&api, "web", "dev", "1.1.0").await?;
    wait_clean(&api, "web", "pp", "1.1.0").await?;
    wait_clean(&api, "web", "prod", "1.1.0").await?;
    // The promotion into prod came from the transitioner, through its schedule.
    let log = stack.repo.log();
    let prod = log
        .iter()
        .find(|(_, _, m)| m.starts_with("Promote pp → prod"))
        .expect("a promotion commit into prod");
    assert!(prod.2.contains("1.0.0 → 1.1.0"), "{}", prod.2);
    assert!(prod.2.contains("Faster start-up"), "changelog carried: {}", prod.2);
    stack.stop().await;
    Ok(())
}

over_each_transport!(broken_version_stops:
    broken_version_stops_at_dev_and_the_fix_goes_through,
    broken_version_stops_at_dev_over_smart_http,
    broken_version_stops_at_dev_over_ssh);

async fn broken_version_stops(transport: Transport) -> Result<()> {
    let (_dir, stack, api) = start_over(None, transport).await?;
    wait_clean(&api, "api", "pp", "1.0.0").await?;
    // The image tag `:broken` never becomes ready.
    let (code, _) = api
        .post_vars(
            "latest",
            "api",
            serde_json::json!({"version": "2.0.0", "image": "registry.example/api:broken", "replicas": 2}),
            "Broken build",
        )
        .await?;
    assert_eq!(code, 201);
    wait_for(WAIT, "api Failed in dev", || async {
        let state = api.state().await?;
        let s = service_env(&state, "api", "dev").cloned().unwrap_or_default();
        if s["version"] == "2.0.0" && s["status"] == "Failed" {
            Ok(Ok(()))
        } else {
            Ok(Err(status_of(&state, "api", "dev")))
        }
    })
    .await?;
    // The dev → pp transition reports the failure (once the transitioner has
    // seen the deployer's status); pp keeps 1.0.0.
    wait_for(WAIT, "the pp transition CheckFailed", || async {
        let state = api.state().await?;
        let pp = state["transitions"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "pp"))
            .cloned()
            .unwrap_or_default();
        Ok(if pp["result"] == "CheckFailed" {
            Ok(())
        } else {
            Err(pp.to_string())
        })
    })
    .await?;
    let state = api.state().await?;
    assert_eq!(version_of(&state, "api", "pp").as_deref(), Some("1.0.0"));
    let (code, _) = api.post_version("latest", "api", "2.0.1", "Fix the image").await?;
    assert_eq!(code, 201);
    wait_clean(&api, "api", "pp", "2.0.1").await?;
    // No promotion into pp ever carried the broken version (subject lines only:
    // bodies quote the source's changelogs).
    let subjects: Vec<String> = stack
        .repo
        .log()
        .into_iter()
        .map(|(_, _, m)| m.lines().next().unwrap_or_default().to_string())
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("Promote dev → pp") && s.contains("→ 2.0.1")),
        "{subjects:?}"
    );
    assert!(
        !subjects
            .iter()
            .any(|s| s.starts_with("Promote dev → pp") && s.contains("→ 2.0.0")),
        "{subjects:?}"
    );
    stack.stop().await;
    Ok(())
}

over_each_transport!(lock_holds:
    locked_service_is_held_back_while_others_move,
    locked_service_is_held_back_over_smart_http,
    locked_service_is_held_back_over_ssh);

async fn lock_holds(transport: Transport) -> Result<()> {
    let (_dir, stack, api) = start_over(None, transport).await?;
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    let (code, body) = api
        .call(
            "PUT",
            "/api/locks/dev/web",
            Some(serde_json::json!({"reason": "incident 4711"})),
        )
        .await?;
    assert_eq!(code, 200, "{body}");
    api.post_version("latest", "web", "1.2.0", "held back").await?;
    api.post_version("latest", "api", "1.2.0", "moves").await?;
    wait_clean(&api, "api", "dev", "1.2.0").await?;
    let state = api.state().await?;
    assert_eq!(version_of(&state, "web", "dev").as_deref(), Some("1.0.0"));
    let (code, _) = api
        .call(
            "DELETE",
            "/api/locks/dev/web",
            Some(serde_json::json!({"reason": "incident 4711"})),
        )
        .await?;
    assert_eq!(code, 200);
    wait_clean(&api, "web", "dev", "1.2.0").await?;
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_an_earlier_version() -> Result<()> {
    let (_dir, stack, api) = start(None).await?;
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    let first = stack.repo.head().unwrap_or_default();
    api.post_version("latest", "web", "1.3.0", "new").await?;
    wait_clean(&api, "web", "dev", "1.3.0").await?;
    // Hold dev still so the rollback is not promoted over again.
    api.call(
        "PUT",
        "/api/locks/dev",
        Some(serde_json::json!({"reason": "rollback test"})),
    )
    .await?;
    let (code, body) = api
        .call(
            "POST",
            "/api/rollback",
            Some(serde_json::json!({"env": "dev", "service": "web", "commit": first})),
        )
        .await?;
    assert_eq!(code, 201, "{body}");
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_in_an_auto_promoted_env_holds_until_released() -> Result<()> {
    let (_dir, stack, api) = start(None).await?;
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    let first = stack.repo.head().unwrap_or_default();
    api.post_version("latest", "web", "1.3.0", "new").await?;
    wait_clean(&api, "web", "dev", "1.3.0").await?;
    // latest → dev promotes on its own; only the hold keeps the rollback in place.
    let (code, body) = api
        .call(
            "POST",
            "/api/rollback",
            Some(serde_json::json!({"env": "dev", "service": "web", "commit": first})),
        )
        .await?;
    assert_eq!(code, 201, "{body}");
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    let state = api.state().await?;
    assert_eq!(
        service_env(&state, "web", "dev").map(|s| s["lock_reasons"].clone()),
        Some(serde_json::json!(["rolled back from 1.3.0 to 1.0.0 by playground"]))
    );
    // Once the transitioner has seen the hold, nothing moves web in dev for 10 s.
    wait_for(WAIT, "the dev transition holds web back", || async {
        let state = api.state().await?;
        let dev = state["transitions"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "dev"))
            .cloned()
            .unwrap_or_default();
        let held = dev["skipped"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["service"] == "web"));
        Ok(if held { Ok(()) } else { Err(dev.to_string()) })
    })
    .await?;
    let watched_until = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < watched_until {
        let state = api.state().await?;
        assert_eq!(version_of(&state, "web", "dev").as_deref(), Some("1.0.0"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (code, body) = api.call("DELETE", "/api/locks/dev/web", None).await?;
    assert_eq!(code, 200, "{body}");
    wait_clean(&api, "web", "dev", "1.3.0").await?;
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn services_killed_mid_flow_converge_without_losing_commits() -> Result<()> {
    let (_dir, mut stack, api) = start(None).await?;
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    let mut answered = Vec::new();
    for (i, victim) in ["deployer", "transitioner", "aggregator"].into_iter().enumerate() {
        let version = format!("1.5.{i}");
        let (code, body) = api.post_version("latest", "web", &version, "during restarts").await?;
        assert_eq!(code, 201, "{body}");
        answered.push(body["commit"].as_str().unwrap_or_default().to_string());
        let process = match victim {
            "deployer" => &mut stack.deployer,
            "transitioner" => &mut stack.transitioner,
            _ => &mut stack.aggregator,
        };
        process.kill();
        process.restart()?;
    }
    wait_clean(&api, "web", "pp", "1.5.2").await?;
    let log: Vec<String> = stack.repo.log().into_iter().map(|(id, _, _)| id).collect();
    for commit in answered {
        assert!(log.contains(&commit), "commit {commit} answered 201 is in the repo");
    }
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn human_commit_to_the_repo_is_picked_up() -> Result<()> {
    let (_dir, stack, api) = start(None).await?;
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    stack.repo.commit(
        "Hand-edited: web 1.9.0 in latest",
        &[(
            "latest/version/web.yaml",
            Some(integration_test::example::version_file("web", "1.9.0").as_str()),
        )],
    )?;
    wait_clean(&api, "web", "dev", "1.9.0").await?;
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn run_transition_from_the_aggregator_promotes_as_the_acting_person() -> Result<()> {
    // Due once a year: only a run on request promotes into prod during the test.
    let (_dir, stack, api) = start(Some("0 0 0 1 1 *")).await?;
    let (code, body) = api.post_version("latest", "web", "1.5.0", "Run on request").await?;
    assert_eq!(code, 201, "{body}");
    wait_clean(&api, "web", "pp", "1.5.0").await?;

    // The transitioner takes no run without the aggregator's token.
    let unauthenticated = reqwest::Client::new()
        .post(format!("{}/transitions/prod/run", stack.transitioner.url))
        .send()
        .await?;
    assert_eq!(unauthenticated.status().as_u16(), 401);

    // Through the aggregator, as the UI asks: the promotion is committed by the caller's token name.
    let (code, body) = api.call("POST", "/api/transitions/prod/run", None).await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["result"], "Success", "{body}");
    let commit = body["commit"].as_str().unwrap_or_default().to_string();
    let log = stack.repo.log();
    let (_, author, message) = log
        .iter()
        .find(|(id, _, _)| *id == commit)
        .expect("the run's commit is on the branch");
    assert_eq!(author, "playground", "{message}");
    assert!(message.starts_with("Promote pp → prod"), "{message}");
    wait_clean(&api, "web", "prod", "1.5.0").await?;
    stack.stop().await;
    Ok(())
}

/// Runs an outage test once per network transport.
macro_rules! over_each_remote {
    ($test:ident: $http:ident, $ssh:ident) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $http() -> Result<()> {
            $test(Transport::SmartHttp).await
        }

        #[tokio::test(flavor = "multi_thread")]
        async fn $ssh() -> Result<()> {
            $test(Transport::Ssh).await
        }
    };
}

over_each_remote!(remote_outage_is_reported_and_recovered:
    an_unreachable_smart_http_remote_is_reported_by_every_service_and_they_recover,
    an_unreachable_ssh_remote_is_reported_by_every_service_and_they_recover);

/// Every place a service reports the repo's state, as one text: the deployer's
/// and transitioner's `/status`, the aggregator's `/api/state`.
async fn reports(stack: &Stack, api: &Api) -> Result<String> {
    let client = reqwest::Client::new();
    let mut all = String::new();
    for url in [&stack.deployer.url, &stack.transitioner.url] {
        let status: Value = client.get(format!("{url}/status")).send().await?.json().await?;
        all.push_str(&status.to_string());
        all.push('\n');
    }
    all.push_str(&api.state().await?.to_string());
    Ok(all)
}

/// Whether a commit carrying `changelog` is on the branch.
fn posted(stack: &Stack, changelog: &str) -> bool {
    stack
        .repo
        .log()
        .iter()
        .any(|(_, _, message)| message.contains(changelog))
}

/// The remote refuses connections, then hangs: each service reports it within
/// `git_timeout` + 5 s, a post is answered with an error and nothing is pushed,
/// and everything works again within a poll once the remote is back.
async fn remote_outage_is_reported_and_recovered(transport: Transport) -> Result<()> {
    let git_timeout = Duration::from_secs(3);
    let dir = tempfile::Builder::new().prefix("slipway-e2e-").tempdir()?;
    let mut opts = StackOptions::new(&dir.path().join("stack"));
    opts.rollout_delay = Duration::from_millis(300);
    opts.poll_interval = Duration::from_millis(500);
    opts.transport = transport;
    opts.git_timeout = Some(git_timeout);
    let mut stack = Stack::start(opts).await?;
    let api = Api::new(&stack.aggregator.url, &stack.token);
    wait_clean(&api, "web", "dev", "1.0.0").await?;
    let reported = git_timeout + Duration::from_secs(5);
    let recovered = Duration::from_millis(500) + Duration::from_secs(5);

    let server = stack.server.as_mut().expect("a network transport");
    server.stop();
    let (code, body) = api.post_version("latest", "web", "1.7.0", "while down").await?;
    assert!(code >= 500, "{code} {body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("connect")), "{body}");
    wait_for(reported, "every service reports the refused connection", || async {
        let text = reports(&stack, &api).await?;
        let count = text.matches("onnect").count();
        Ok(if text.lines().all(|l| l.contains("onnect")) {
            Ok(())
        } else {
            Err(format!("{count}: {text}"))
        })
    })
    .await?;
    assert!(!posted(&stack, "while down"), "nothing was pushed");

    let server = stack.server.as_mut().expect("a network transport");
    server.start()?;
    wait_for(recovered, "every service works again", || async {
        let text = reports(&stack, &api).await?;
        Ok(if text.contains("onnect") { Err(text) } else { Ok(()) })
    })
    .await?;

    let server = stack.server.as_ref().expect("a network transport");
    server.set_hanging(true);
    let (code, body) = api.post_version("latest", "web", "1.7.1", "while hanging").await?;
    assert!(code >= 500, "{code} {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("git_timeout")),
        "{body}"
    );
    wait_for(reported, "every service reports the hanging remote", || async {
        let text = reports(&stack, &api).await?;
        Ok(if text.lines().all(|l| l.contains("git_timeout")) {
            Ok(())
        } else {
            Err(text)
        })
    })
    .await?;
    server.set_hanging(false);
    assert!(!posted(&stack, "while hanging"), "nothing was pushed");

    let (code, body) = api.post_version("latest", "web", "1.7.2", "back").await?;
    assert_eq!(code, 201, "{body}");
    wait_clean(&api, "web", "dev", "1.7.2").await?;
    stack.stop().await;
    Ok(())
}
