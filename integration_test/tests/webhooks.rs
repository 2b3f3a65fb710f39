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
    let dir = tempfile::Builder::new()
        .prefix("slipway-e2e-webhook-")
        .tempdir()?
        .keep();
    let dir = tempfile::TempDir::new_in(&dir)?;
    eprintln!("DIR {}", dir.path().display());
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

    // The same version in latest and dev: the transitioner has nothing to promote over it.
    let web = integration_test::example::version_file("web", "1.9.0");
    let pushed = stack.repo.commit(
        "Hand-edited: web 1.9.0 in latest and dev",
        &[
            ("latest/version/web.yaml", Some(web.as_str())),
            ("dev/version/web.yaml", Some(web.as_str())),
        ],
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
    // Within 1 s (typically about 0.2 s: one refresh, one reconcile of dev).
    let asked = std::time::Instant::now();
    wait_for(
        Duration::from_secs(1),
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
    eprintln!(
        "the deployer applied the pushed commit {:?} after the webhook",
        asked.elapsed()
    );
    stack.stop().await;
    Ok(())
}
