//! A git host's push webhook, end to end: with every service polling once an
//! hour, a signed push webhook to the aggregator makes the deployer apply the
//! pushed commit at once; a forged one changes nothing.

use std::time::Duration;

use anyhow::Result;
use integration_test::client::wait_for;
use integration_test::stack::{Stack, StackOptions};
use serde_json::Value;

const SECRET: &str = "e2e-webhook-secret";

/// The hex HMAC-SHA256 of `body`, as GitHub signs it.
fn github_signature(body: &str, secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

async fn dev_commit(http: &reqwest::Client, deployer: &str) -> Result<Option<String>> {
    let status: Value = http.get(format!("{deployer}/status")).send().await?.json().await?;
    Ok(status["envs"]["dev"]["commit"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_push_webhook_makes_the_deployer_apply_the_new_commit_at_once() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("slipway-e2e-webhook-").tempdir()?;
    let secret_file = dir.path().join("github-secret");
    std::fs::write(&secret_file, SECRET)?;
    let mut opts = StackOptions::new(&dir.path().join("stack"));
    opts.rollout_delay = Duration::from_millis(300);
    opts.poll_interval = Duration::from_secs(3600);
    opts.aggregator_config = format!("webhooks:\n  github: {{secret_file: {}}}\n", secret_file.display());
    let stack = Stack::start(opts).await?;
    let http = reqwest::Client::new();
    let initial = stack.repo.head();
    wait_for(Duration::from_secs(60), "dev reconciled at start", || async {
        let commit = dev_commit(&http, &stack.deployer.url).await?;
        Ok(if commit == initial {
            Ok(())
        } else {
            Err(format!("{commit:?}"))
        })
    })
    .await?;

    let pushed = stack.repo.commit(
        "Hand-edited: web 1.9.0 in dev",
        &[(
            "dev/version/web.yaml",
            Some(integration_test::example::version_file("web", "1.9.0").as_str()),
        )],
    )?;
    let body = serde_json::json!({"ref": "refs/heads/main", "repository": {"clone_url": stack.repo.url()}}).to_string();
    let deliver = |signature: String| {
        http.post(format!("{}/api/webhooks/github", stack.aggregator.url))
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .body(body.clone())
            .send()
    };

    let forged = deliver(github_signature(&body, "not-the-secret")).await?;
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(
        dev_commit(&http, &stack.deployer.url).await?,
        initial,
        "nothing refreshed"
    );

    let signed = deliver(github_signature(&body, SECRET)).await?;
    assert_eq!(signed.status().as_u16(), 202);
    // The target is 1 s; the deadline leaves room for a loaded test machine.
    wait_for(
        Duration::from_secs(2),
        "the deployer applied the pushed commit",
        || async {
            let commit = dev_commit(&http, &stack.deployer.url).await?;
            Ok(if commit.as_deref() == Some(pushed.as_str()) {
                Ok(())
            } else {
                Err(format!("{commit:?}"))
            })
        },
    )
    .await?;
    stack.stop().await;
    Ok(())
}
