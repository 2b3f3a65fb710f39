//! The HTTP API on a real listener (docs/http-api.md, "Transitioner").

mod support;

use std::time::Duration;

use serde_json::Value;
use slipway_core::status::{PromotionState, TransitionResult, TransitionerStatus};
use slipway_kit::Drain;
use slipway_transitioner::{start, Config, ManualClock};
use support::*;

#[tokio::test]
async fn api_serves_health_status_refresh_manual_runs_and_metrics() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  prod: {source: dev, target: prod, manual: true}\n"
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#,
    );
    let mut config = with_tokens(Config::new(repo.url(), repo.scratch("checkout")), &repo);
    // Long enough that only /refresh makes the second run happen.
    config.poll_interval = Duration::from_secs(3600);
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, serde_json::json!({"status": "ok"}));

    // The first poll runs at start.
    let status = wait_for(&http, &base, |s| {
        s.transitions.len() == 2 && s.transitions.iter().all(|t| t.result.is_some())
    })
    .await;
    assert_eq!(status.transitions[0].name, "dev");
    assert_eq!(status.transitions[1].result, Some(TransitionResult::Skipped));
    assert!(status.transitions[1].manual);

    // A new version and POST /refresh: promoted without waiting for the poll interval.
    repo.commit("s1 2", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    let refresh = http.post(format!("{base}/refresh")).send().await.unwrap();
    assert_eq!(refresh.status(), 202);
    let status = wait_for(&http, &base, |s| !s.transitions[0].recent_runs.is_empty()).await;
    assert_eq!(status.transitions[0].recent_runs[0].promotions[0].new, "2");
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");

    // The manual transition runs on request.
    let run = http
        .post(format!("{base}/transitions/prod/run"))
        .bearer_auth(AGGREGATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200);
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["result"], "Success");
    assert_eq!(run["commit"].as_str(), repo.head().as_deref());
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    // Again: nothing left to promote.
    let run: Value = http
        .post(format!("{base}/transitions/prod/run"))
        .bearer_auth(AGGREGATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["result"], "Skipped");
    assert_eq!(run["commit"], Value::Null);

    let missing = http
        .post(format!("{base}/transitions/nope/run"))
        .bearer_auth(AGGREGATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert!(missing["error"].as_str().unwrap().contains("nope"), "{missing}");
    assert_eq!(missing["field"], "name");

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("slipway_transitioner_runs_total{transition=\"dev\",result=\"Success\"} 1"),
        "{metrics}"
    );

    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

const AGGREGATOR_TOKEN: &str = "aggregator-secret";

/// `config` taking runs from the aggregator's token only.
fn with_tokens(mut config: Config, repo: &TempRepo) -> Config {
    let file = repo.scratch("transitioner-tokens");
    std::fs::write(&file, format!("aggregator:{AGGREGATOR_TOKEN}\n")).unwrap();
    config.api_tokens_file = Some(file);
    config
}

const MANUAL_PROD: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: dev, target: prod, manual: true}\n"
      dev/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#;

/// Status and JSON answer of `POST /transitions/prod/run`.
async fn run_prod(http: &reqwest::Client, base: &str, token: Option<&str>, body: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = http.post(format!("{base}/transitions/prod/run"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((content_type, body)) = body {
        req = req.header("content-type", content_type).body(body.to_string());
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn run_on_request_needs_a_known_token_and_commits_as_the_acting_person() {
    let repo = repo(MANUAL_PROD);
    let config = with_tokens(Config::new(repo.url(), repo.scratch("checkout")), &repo);
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let head = repo.head();

    for (what, token) in [("no token", None), ("wrong token", Some("guess"))] {
        let (status, answer) = run_prod(&http, &base, token, None).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("token"), "{what}: {answer}");
        assert_eq!(repo.head(), head, "{what}: nothing promoted");
    }
    let (status, answer) = run_prod(&http, &base, Some(AGGREGATOR_TOKEN), Some(("text/plain", "{}"))).await;
    assert_eq!(status, 415, "{answer}");
    let (status, answer) = run_prod(
        &http,
        &base,
        Some(AGGREGATOR_TOKEN),
        Some(("application/json", r#"{"author": "a\u0000b"}"#)),
    )
    .await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("author")), "{answer}");
    assert_eq!(repo.head(), head, "refused bodies promote nothing");

    // The aggregator names the person who asked: the promotion is theirs.
    let (status, answer) = run_prod(
        &http,
        &base,
        Some(AGGREGATOR_TOKEN),
        Some(("application/json; charset=utf-8", r#"{"author": "alice"}"#)),
    )
    .await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("Success")), "{answer}");
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    let (id, author, _) = repo.log().into_iter().next().unwrap();
    assert_eq!(
        (Some(id), author.as_str()),
        (answer["commit"].as_str().map(str::to_string), "alice")
    );

    // Without a name, the commit is the token's.
    repo.commit("dev 3", &[("dev/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    let (status, answer) = run_prod(&http, &base, Some(AGGREGATOR_TOKEN), None).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("Success")), "{answer}");
    assert_eq!(repo.log()[0].1, "aggregator");

    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_configured_tokens_runs_on_request_are_refused_but_polls_go_on() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '2'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#,
    );
    let config = Config::new(repo.url(), repo.scratch("checkout"));
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    wait_for(&http, &base, |s| {
        !s.transitions.is_empty() && !s.transitions[0].recent_runs.is_empty()
    })
    .await;
    assert_eq!(
        repo.read("dev/version/s1.yaml").unwrap(),
        "version: '2'\n",
        "the poll promoted"
    );
    let response = http
        .post(format!("{base}/transitions/dev/run"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("api_tokens_file"),
        "{answer}"
    );
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn refresh_burst_is_acted_on_once_now_and_once_after_the_interval() {
    let repo = repo(MANUAL_PROD);
    let mut config = Config::new(repo.url(), repo.scratch("checkout"));
    config.poll_interval = Duration::from_secs(3600);
    let shutdown = Drain::new();
    // The clock stands still, so the whole burst falls into one interval however slow the machine.
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    wait_for(&http, &base, |s| {
        s.transitions.iter().all(|t| t.result.is_some()) && !s.transitions.is_empty()
    })
    .await;
    let runs = || async {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with("slipway_transitioner_runs_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    assert_eq!(runs().await, 1, "the run at start");

    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..10).map(|_| http.post(format!("{base}/refresh")).send())).await;
    let burst_took = started.elapsed();
    let mut scheduled = 0;
    let mut coalesced = 0;
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status().as_u16(), 202);
        let body: Value = answer.json().await.unwrap();
        match body["status"].as_str() {
            Some("scheduled") => scheduled += 1,
            Some("coalesced") => coalesced += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((scheduled, coalesced), (1, 9));
    // One run for the nudge acted on at once, one for the nine merged into a deferred one.
    wait_until("the run of the deferred nudge", Duration::from_secs(10), || async {
        match runs().await {
            n if n >= 3 => Ok(()),
            n => Err(format!("{n} runs")),
        }
    })
    .await;
    if burst_took < slipway_core::refresh::MIN_INTERVAL {
        assert_eq!(runs().await, 3);
    } else {
        // A machine so slow that the deferred nudge fired mid-burst merges the rest into one more.
        assert!(runs().await >= 3);
    }

    // A push: the next nudge is still held to the interval (nothing new was fetched since
    // the last one acted on), but once a fetch has brought it, pushes in quick succession
    // are each looked at at once.
    let c1 = repo
        .commit("dev 3", &[("dev/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    let nudge = || async {
        let answer: Value = http
            .post(format!("{base}/refresh"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["status"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(nudge().await, "coalesced");
    wait_for(&http, &base, |s| s.repo_commit.as_deref() == Some(c1.as_str())).await;
    let c2 = repo
        .commit("dev 4", &[("dev/version/s1.yaml", Some("version: '4'\n"))])
        .unwrap();
    assert_eq!(nudge().await, "scheduled");
    wait_for(&http, &base, |s| s.repo_commit.as_deref() == Some(c2.as_str())).await;
    assert_eq!(nudge().await, "scheduled", "that fetch brought c2");
    assert_eq!(nudge().await, "coalesced", "this one brought nothing new");
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn deny_window_open_now_freezes_until_its_end_and_an_override_with_a_reason_promotes() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod:\n    source: pp\n    target: prod\n    windows:\n      - {deny: \"0 0 18 * * Fri\", duration: 64h, timezone: Europe/Berlin, reason: weekend freeze}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#,
    );
    let config = with_tokens(Config::new(repo.url(), repo.scratch("checkout")), &repo);
    let shutdown = Drain::new();
    // Saturday noon in Berlin; the freeze began Friday 18:00 (17:00 UTC) and lasts 64 hours.
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-28T11:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let setup = repo.head().unwrap();

    let status = wait_for(&http, &base, |s| s.transitions.iter().any(|t| t.result.is_some())).await;
    let prod = &status.transitions[0];
    assert_eq!(prod.state, Some(PromotionState::Frozen));
    assert_eq!(prod.frozen_until, Some(at("2026-11-30T09:00:00Z")));
    assert!(prod.reason.contains("weekend freeze"), "{}", prod.reason);
    assert_eq!(prod.would_ship[0].new, "2");
    assert_eq!(repo.head().unwrap(), setup, "nothing committed while frozen");

    // A plain run is frozen too, and says how to break the glass.
    let (code, answer) = run_prod(&http, &base, Some(AGGREGATOR_TOKEN), None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["state"], "Frozen");
    assert!(
        answer["reason"].as_str().unwrap().contains("override_windows"),
        "{answer}"
    );
    // An override needs a reason.
    let (code, answer) = run_prod(
        &http,
        &base,
        Some(AGGREGATOR_TOKEN),
        Some(("application/json", r#"{"override_windows": true}"#)),
    )
    .await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(answer["field"], "reason");
    assert_eq!(repo.head().unwrap(), setup);

    let (code, answer) = run_prod(
        &http,
        &base,
        Some(AGGREGATOR_TOKEN),
        Some((
            "application/json",
            r#"{"override_windows": true, "reason": "incident 4711 hotfix", "author": "alice"}"#,
        )),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["result"], "Success");
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    let (_, author, message) = repo.log().remove(0);
    assert_eq!(author, "alice");
    assert!(
        message.contains("Windows overridden by alice: incident 4711 hotfix"),
        "{message}"
    );
    assert!(
        message.contains("Slipway-Override-Reason: incident 4711 hotfix"),
        "{message}"
    );
    assert!(message.contains("weekend freeze"), "{message}");

    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_hold_in_the_target_shows_in_the_status_while_the_schedule_is_not_due() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod, schedule: \"0 0 9 * * *\"}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
      prod/locks.yaml: "resource_locks:\n  s1: {reasons: [rolled back from 2 to 1 by alice]}\n"
"#,
    );
    let config = with_tokens(Config::new(repo.url(), repo.scratch("checkout")), &repo);
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T08:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    let status = wait_for(&http, &base, |s| s.transitions.iter().any(|t| t.result.is_some())).await;
    let prod = &status.transitions[0];
    assert_eq!(prod.holds.len(), 1, "{prod:?}");
    assert_eq!(prod.holds[0].service, "s1");
    assert_eq!(prod.holds[0].reason, "held: rolled back from 2 to 1 by alice");
    assert_eq!(prod.state, Some(PromotionState::Pending));

    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    done: impl Fn(&TransitionerStatus) -> bool,
) -> TransitionerStatus {
    wait_until("the expected transitioner status", Duration::from_secs(10), || async {
        let status: TransitionerStatus = http
            .get(format!("{base}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&status) {
            Ok(status)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_run_needs_the_run_scope_for_the_transitions_target() {
    let repo = repo(MANUAL_PROD);
    let mut config = Config::new(repo.url(), repo.scratch("checkout"));
    let file = repo.scratch("scoped-tokens");
    std::fs::write(&file, "ci:ci-token:run=dev,versions\nops:ops-token:run=prod\n").unwrap();
    config.api_tokens_file = Some(file);
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    // The scope is checked against the transition's target as last read from the repo.
    wait_until(
        "the transitioner has read transitions.yaml",
        Duration::from_secs(10),
        || async {
            let response = http
                .get(format!("{base}/status"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status: TransitionerStatus = response.json().await.map_err(|e| e.to_string())?;
            let names: Vec<&str> = status.transitions.iter().map(|t| t.name.as_str()).collect();
            if names.contains(&"prod") {
                Ok(())
            } else {
                Err(format!("transitions {names:?}"))
            }
        },
    )
    .await;
    let head = repo.head();
    let (status, answer) = run_prod(&http, &base, Some("ci-token"), None).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["missing_scope"], "run=prod", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("token ci lacks scope run=prod"),
        "{answer}"
    );
    assert_eq!(repo.head(), head, "nothing promoted");
    let (status, answer) = run_prod(&http, &base, Some("ops-token"), None).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("Success")), "{answer}");
    assert_eq!(repo.log()[0].1, "ops");
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}
