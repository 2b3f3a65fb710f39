//! `approvals: N`: verdicts through the API, committed to `<target>/approvals.yaml`.

mod support;

use serde_json::{json, Value};
use slipway_core::status::PromotionState;
use slipway_kit::Drain;
use slipway_transitioner::{start, Config, ManualClock, Running};
use support::*;

const TOKEN: &str = "aggregator-secret";

/// `s1 2` was posted to latest by carol and promoted to pp by the transitioner.
const TWO_APPROVALS: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  pp: {source: latest, target: pp, manual: true}\n  prod: {source: pp, target: prod, approvals: 2}\n"
      latest/version/s1.yaml: "version: '1'\n"
      pp/version/s1.yaml: "version: '1'\n"
      prod/version/s1.yaml: "version: '1'\n"
  - message: s1 2
    author: carol
    files:
      latest/version/s1.yaml: "version: '2'\n"
  - message: "Promote latest → pp: s1 1 → 2\n\ns1: 1 → 2\n\nSlipway-Action: promotion\nSlipway-Transition: pp\nSlipway-Env: pp\n"
    author: slipway-transitioner
    files:
      pp/version/s1.yaml: "version: '2'\n"
"#;

struct Api {
    running: Running,
    shutdown: Drain,
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn start(repo: &TempRepo) -> Self {
        let mut config = Config::new(repo.url(), repo.scratch("checkout"));
        let file = repo.scratch("tokens");
        std::fs::write(&file, format!("aggregator:{TOKEN}\n")).unwrap();
        config.api_tokens_file = Some(file);
        let shutdown = Drain::new();
        let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-30T10:00:00Z")));
        let running = start(&config, clock, shutdown.clone()).await.unwrap();
        let base = format!("http://{}", running.addr);
        Api {
            running,
            shutdown,
            http: reqwest::Client::new(),
            base,
        }
    }

    /// `POST /transitions/prod/{verdict}` as `who`, passed on as the aggregator does.
    async fn verdict(&self, verdict: &str, who: &str, reason: Option<&str>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/transitions/prod/{verdict}", self.base))
            .bearer_auth(TOKEN)
            .json(&json!({"author": who, "reason": reason}))
            .send()
            .await
            .unwrap();
        let code = response.status().as_u16();
        (code, response.json().await.unwrap_or(Value::Null))
    }

    /// The status of prod (`None` before the first poll).
    async fn try_prod(&self) -> Option<slipway_core::status::TransitionStatus> {
        let status: slipway_core::status::TransitionerStatus = self
            .http
            .get(format!("{}/status", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status.transitions.into_iter().find(|t| t.name == "prod")
    }

    async fn prod(&self) -> slipway_core::status::TransitionStatus {
        self.try_prod().await.expect("the status lists prod")
    }

    async fn stop(self) {
        self.shutdown.begin();
        self.running.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn promoted_only_after_two_distinct_approvers_with_them_as_trailers() {
    let repo = repo(TWO_APPROVALS);
    let api = Api::start(&repo).await;
    let prod = wait_until("the first poll", std::time::Duration::from_secs(10), || async {
        let prod = api.try_prod().await;
        prod.clone().filter(|p| p.state.is_some()).ok_or(format!("{prod:?}"))
    })
    .await;
    assert_eq!(prod.state, Some(PromotionState::AwaitingApproval));
    assert_eq!(prod.approvals_needed, 2);
    assert_eq!(prod.would_ship[0].new, "2");

    let (code, answer) = api.verdict("approve", "alice", Some("looks good")).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["approved_by"], json!(["alice"]));
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    assert_eq!(api.prod().await.state, Some(PromotionState::AwaitingApproval));
    let (_, author, message) = repo.log().remove(0);
    assert_eq!(author, "alice");
    assert!(message.starts_with("Approve promotion prod: s1 1 → 2"), "{message}");
    assert!(repo.read("prod/approvals.yaml").unwrap().contains("by: alice"));

    // The same person twice is one approval.
    let (code, answer) = api.verdict("approve", "alice", None).await;
    assert_eq!((code, answer["commit"].clone()), (200, Value::Null), "{answer}");
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");

    let (code, answer) = api.verdict("approve", "bob", None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    let (_, author, message) = repo.log().remove(0);
    assert_eq!(author, "slipway-transitioner");
    assert!(message.contains("Approved-by: alice\nApproved-by: bob"), "{message}");
    assert!(
        !repo.read("prod/approvals.yaml").unwrap().contains("alice"),
        "the approvals are used up by the promotion"
    );
    assert_eq!(api.prod().await.state, Some(PromotionState::UpToDate));
    api.stop().await;
}

#[tokio::test]
async fn a_new_version_after_one_approval_needs_two_fresh_approvals() {
    let repo = repo(TWO_APPROVALS);
    let api = Api::start(&repo).await;
    assert_eq!(api.verdict("approve", "alice", None).await.0, 200);
    repo.commit("s1 3 by hand", &[("pp/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    // Bob's approval is for the new set only: one of two.
    let (code, answer) = api.verdict("approve", "bob", None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["approved_by"], json!(["bob"]));
    assert_eq!(answer["state"], "AwaitingApproval");
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    assert_eq!(api.verdict("approve", "alice", None).await.0, 200);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '3'\n");
    api.stop().await;
}

#[tokio::test]
async fn the_person_who_posted_a_version_may_not_approve_its_promotion() {
    let repo = repo(TWO_APPROVALS);
    let api = Api::start(&repo).await;
    let head = repo.head();
    let (code, answer) = api.verdict("approve", "carol", None).await;
    assert_eq!(code, 403, "{answer}");
    let why = answer["error"].as_str().unwrap();
    assert!(why.contains("carol posted s1 2"), "{why}");
    assert!(why.contains("four eyes"), "{why}");
    assert_eq!(repo.head(), head, "nothing committed");
    api.stop().await;
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_keeps_it_pending_with_the_reason_shown() {
    let repo = repo(TWO_APPROVALS);
    let api = Api::start(&repo).await;
    assert_eq!(api.verdict("approve", "alice", None).await.0, 200);
    let (code, answer) = api.verdict("reject", "bob", None).await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(answer["field"], "reason");

    let (code, answer) = api.verdict("reject", "bob", Some("waits for the schema change")).await;
    assert_eq!(code, 200, "{answer}");
    let prod = api.prod().await;
    assert_eq!(prod.state, Some(PromotionState::AwaitingApproval));
    assert!(prod.approved_by.is_empty(), "the rejection voids alice's approval");
    assert_eq!(prod.rejected.as_ref().unwrap().by, "bob");
    assert!(
        prod.reason.contains("rejected by bob: waits for the schema change"),
        "{}",
        prod.reason
    );
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    api.stop().await;
}

#[tokio::test]
async fn verdicts_on_a_transition_without_approvals_are_refused() {
    let repo = repo(TWO_APPROVALS);
    let api = Api::start(&repo).await;
    let response = api
        .http
        .post(format!("{}/transitions/pp/approve", api.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let unauthenticated = api
        .http
        .post(format!("{}/transitions/prod/approve", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    api.stop().await;
}
