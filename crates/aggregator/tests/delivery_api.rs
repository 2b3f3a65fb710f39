//! `GET /api/timeline` and `GET /api/dora` over HTTP: answers, refusals, gauges.

mod support;

use support::*;

#[tokio::test]
async fn timeline_and_dora_answer_and_refuse_bad_queries() {
    let h = Harness::start(REPO).await;
    let (status, posted) = h.post_version("s1", "latest", "2").await;
    assert_eq!(status, 201, "{posted}");
    let commit = posted["commit"].as_str().unwrap().to_string();

    let (status, tl) = h.send("GET", "/api/timeline?service=s1&version=2", None, None).await;
    assert_eq!(status, 200, "{tl}");
    assert_eq!(tl["origin"]["commit"], commit.as_str());
    assert_eq!(tl["envs"][0]["env"], "latest");
    assert_eq!(tl["envs"][0]["events"][0]["event"], "posted");
    let (status, by_commit) = h
        .send("GET", &format!("/api/timeline?commit={commit}"), None, None)
        .await;
    assert_eq!((status, &by_commit), (200, &tl));
    assert_eq!(
        h.send("GET", "/api/timeline?service=s1&version=9", None, None).await.0,
        404
    );
    assert_eq!(h.send("GET", "/api/timeline?service=s1", None, None).await.0, 400);
    assert_eq!(
        h.send("GET", "/api/timeline?service=S1&version=2", None, None).await.0,
        400
    );

    let (status, dora) = h.send("GET", "/api/dora?env=dev&since=7d", None, None).await;
    assert_eq!(status, 200, "{dora}");
    assert_eq!((dora["env"].as_str(), dora["deploys"].as_u64()), (Some("dev"), Some(0)));
    assert_eq!(dora["change_failure_rate"], serde_json::Value::Null);
    let (status, body) = h.send("GET", "/api/dora?env=dev&since=soon", None, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("30d"), "{body}");
    assert_eq!(h.send("GET", "/api/dora", None, None).await.0, 400);
    assert_eq!(h.send("GET", "/api/dora?env=nope", None, None).await.0, 404);
    assert_eq!(h.send("GET", "/api/dora?env=dev&x=1", None, None).await.0, 400);

    let metrics = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("slipway_aggregator_dora{env=\"dev\",key=\"deploys_per_day\"} 0"),
        "{metrics}"
    );
    h.stop().await;
}
