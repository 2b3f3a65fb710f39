//! Preview envs end to end: the three services as processes on a simulated
//! cluster. A preview created from dev with one service overridden is one
//! commit; the deployer creates namespace `preview-<name>` with the objects,
//! `${preview_host}` filled; `GET /api/previews` shows it Clean with its URL;
//! deleting it is one commit after which every object and the namespace are
//! gone. Then a pull request's events: opened → synchronize → closed.

use std::time::Duration;

use anyhow::{bail, Result};
use integration_test::client::{wait_for, Api};
use integration_test::stack::{Stack, StackOptions};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(120);

const INGRESS: &str = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n    - host: \"${preview_host}\"\n      http:\n        paths:\n          - path: \"${preview_path}\"\n            pathType: Prefix\n            backend: {service: {name: web, port: {number: 80}}}\n";

const PULL_REQUESTS: &str = "preview_domain: preview.test\npreviews:\n  from_pull_requests:\n    template: dev\n    services:\n      web: {version: \"pr-${number}-${short_sha}\", image: \"registry.example/web:pr-${number}-${short_sha}\"}\n";

async fn start() -> Result<(tempfile::TempDir, Stack, Api)> {
    let dir = tempfile::Builder::new().prefix("slipway-previews-").tempdir()?;
    let mut opts = StackOptions::new(&dir.path().join("stack"));
    opts.rollout_delay = Duration::from_millis(300);
    opts.poll_interval = Duration::from_millis(500);
    opts.example.envs = vec!["dev".into()];
    opts.example.last_schedule = None;
    opts.example.with_deployable = false;
    opts.aggregator_config = PULL_REQUESTS.to_string();
    let stack = Stack::start(opts).await?;
    // dev's web gets an Ingress at the preview host (dev has its own value).
    let web = stack.repo.read("dev/base/web.yaml").expect("the example has web");
    stack.repo.commit(
        "web: an Ingress",
        &[
            ("dev/base/web.yaml", Some(&format!("{web}{INGRESS}"))),
            (
                "dev/vars.yaml",
                Some("preview_host: dev.example.test\npreview_path: /\n"),
            ),
        ],
    )?;
    let api = Api::new(&stack.aggregator.url, &stack.token);
    Ok((dir, stack, api))
}

/// GET of a cluster path on the simulated cluster: `None` on 404.
async fn cluster_get(stack: &Stack, path: &str) -> Result<Option<Value>> {
    let url = format!("{}{path}", stack.sim.as_ref().expect("a simulated cluster").url());
    let answer = reqwest::get(&url).await?;
    match answer.status().as_u16() {
        404 => Ok(None),
        200 => Ok(Some(answer.json().await?)),
        s => bail!("GET {path} answered {s}"),
    }
}

async fn previews(api: &Api) -> Result<Vec<Value>> {
    let (status, body) = api.call("GET", "/api/previews", None).await?;
    if status != 200 {
        bail!("GET /api/previews answered {status}: {body}");
    }
    Ok(body["previews"].as_array().cloned().unwrap_or_default())
}

/// Waits until the preview `name` is listed Clean, and returns its entry.
async fn wait_listed_clean(api: &Api, name: &str, web_version: &str) -> Result<Value> {
    wait_for(
        WAIT,
        &format!("preview {name} Clean with web {web_version}"),
        || async {
            let list = previews(api).await?;
            let p = list.iter().find(|p| p["name"] == name).cloned();
            Ok(match p {
                Some(p) if p["status"] == "Clean" && p["services"]["web"] == web_version => Ok(p),
                other => Err(format!("{other:?}")),
            })
        },
    )
    .await
}

/// The deployed version of Deployment `web` in `ns` (its `VERSION` env).
async fn web_version_in(stack: &Stack, ns: &str) -> Result<Option<String>> {
    let d = cluster_get(stack, &format!("/apis/apps/v1/namespaces/{ns}/deployments/web")).await?;
    Ok(d.and_then(|d| {
        d["spec"]["template"]["metadata"]["annotations"]["example.com/version"]
            .as_str()
            .map(str::to_string)
    }))
}

/// Waits until namespace `ns` and every object of the preview in it are gone.
async fn wait_gone(stack: &Stack, ns: &str) -> Result<()> {
    wait_for(WAIT, &format!("namespace {ns} gone"), || async {
        let n = cluster_get(stack, &format!("/api/v1/namespaces/{ns}")).await?;
        Ok(match n {
            None => Ok(()),
            Some(n) => Err(format!("still there: {}", n["metadata"])),
        })
    })
    .await?;
    for path in [
        format!("/apis/apps/v1/namespaces/{ns}/deployments"),
        format!("/api/v1/namespaces/{ns}/services"),
        format!("/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"),
        format!("/api/v1/namespaces/{ns}/configmaps"),
    ] {
        let items = cluster_get(stack, &path).await?.map(|l| l["items"].clone());
        let names: Vec<&Value> = items
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|o| &o["metadata"]["name"]).collect())
            .unwrap_or_default();
        // A cluster's own kube-root-ca.crt ConfigMap goes with the namespace too.
        assert!(names.is_empty(), "{path} still lists {names:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_from_dev_is_deployed_at_its_host_and_torn_down_on_delete() -> Result<()> {
    let (_dir, stack, api) = start().await?;
    wait_for(WAIT, "dev's web Ingress applied", || async {
        let i = cluster_get(
            &stack,
            "/apis/networking.k8s.io/v1/namespaces/slipway-dev/ingresses/web",
        )
        .await?;
        Ok(i.map(|_| ()).ok_or_else(|| "not yet".to_string()))
    })
    .await?;
    let commits = stack.repo.log().len();

    let (status, body) = api
        .call(
            "POST",
            "/api/previews",
            Some(json!({"name": "feat", "from": "dev", "ttl": "1d",
                        "services": {"web": {"version": "2.0.0", "image": "registry.example/web:2.0.0"}}})),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let log = stack.repo.log();
    assert_eq!(log.len(), commits + 1, "one commit: {log:?}");
    assert_eq!(log[0].0, body["commit"].as_str().unwrap());

    let listed = wait_listed_clean(&api, "feat", "2.0.0").await?;
    assert_eq!(listed["url"], "https://feat.preview.test/");
    assert_eq!(listed["env"], "preview-feat");
    assert_eq!(listed["services"]["api"], "1.0.0", "not overridden: dev's");
    let ns = cluster_get(&stack, "/api/v1/namespaces/preview-feat")
        .await?
        .expect("its namespace");
    assert_eq!(ns["metadata"]["labels"]["app.kubernetes.io/managed-by"], "slipway");
    assert_eq!(ns["metadata"]["labels"]["slipway.dev/env"], "preview-feat");
    let ingress = cluster_get(
        &stack,
        "/apis/networking.k8s.io/v1/namespaces/preview-feat/ingresses/web",
    )
    .await?
    .expect("the Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "feat.preview.test");
    let dev_ingress = cluster_get(
        &stack,
        "/apis/networking.k8s.io/v1/namespaces/slipway-dev/ingresses/web",
    )
    .await?
    .unwrap();
    assert_eq!(
        dev_ingress["spec"]["rules"][0]["host"], "dev.example.test",
        "dev keeps its own"
    );
    assert_eq!(web_version_in(&stack, "preview-feat").await?.as_deref(), Some("2.0.0"));
    assert_eq!(web_version_in(&stack, "slipway-dev").await?.as_deref(), Some("1.0.0"));
    assert!(
        cluster_get(&stack, "/apis/apps/v1/namespaces/preview-feat/deployments/api")
            .await?
            .is_some()
    );

    let commits = stack.repo.log().len();
    let (status, body) = api.call("DELETE", "/api/previews/feat", None).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stack.repo.log().len(), commits + 1, "one commit");
    assert!(stack.repo.read("preview-feat/vars.yaml").is_none());
    wait_gone(&stack, "preview-feat").await?;
    assert!(previews(&api).await?.is_empty());
    assert_eq!(
        web_version_in(&stack, "slipway-dev").await?.as_deref(),
        Some("1.0.0"),
        "dev untouched"
    );
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_request_events_open_update_and_close_a_preview_end_to_end() -> Result<()> {
    let (_dir, stack, api) = start().await?;
    let event = |action: &str, sha: &str| {
        json!({"action": action, "number": 7, "branch": "feature-x", "head_sha": sha,
               "url": "https://git.example.test/shop/pull/7"})
    };
    let (status, body) = api
        .call("POST", "/api/previews/events", Some(event("opened", "aaaaaaa111")))
        .await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["action"], "created");
    let listed = wait_listed_clean(&api, "pr-7", "pr-7-aaaaaaa").await?;
    assert_eq!(listed["url"], "https://pr-7.preview.test/");
    assert_eq!(listed["source"], "https://git.example.test/shop/pull/7");
    assert_eq!(
        web_version_in(&stack, "preview-pr-7").await?.as_deref(),
        Some("pr-7-aaaaaaa")
    );

    let (status, body) = api
        .call("POST", "/api/previews/events", Some(event("synchronize", "bbbbbbb222")))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "updated");
    wait_listed_clean(&api, "pr-7", "pr-7-bbbbbbb").await?;
    wait_for(WAIT, "the new version deployed", || async {
        let v = web_version_in(&stack, "preview-pr-7").await?;
        Ok((v.as_deref() == Some("pr-7-bbbbbbb"))
            .then_some(())
            .ok_or(format!("{v:?}")))
    })
    .await?;

    let (status, body) = api
        .call("POST", "/api/previews/events", Some(event("closed", "bbbbbbb222")))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "removed");
    wait_gone(&stack, "preview-pr-7").await?;
    assert!(previews(&api).await?.is_empty());
    stack.stop().await;
    Ok(())
}
