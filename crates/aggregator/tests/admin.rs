//! The admin endpoints (`/live`, `/ready`) and the JSON error shape of every
//! error answer, on a real listener.

mod support;

use slipway_kit::testing::{assert_json_errors_for_unknown_paths_and_methods, assert_ready_only_after_the_first_fetch};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_until_the_first_fetch_succeeds_and_live_is_200_throughout() {
    let fixture = git_fixture::temp(REPO).unwrap();
    // The repo the aggregator reads does not exist yet: every fetch fails until it is created.
    let later = fixture.scratch("later.git");
    let mut c = config(&fixture);
    c.repo.versions_url = later.display().to_string();
    let h = Harness::start_on(fixture, c).await;
    assert_ready_only_after_the_first_fetch(&h.base, || {
        git_fixture::Fixture::from_yaml(REPO).unwrap().build(&later).unwrap();
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_the_json_error_shape_including_404_and_405() {
    let h = Harness::start(REPO).await;
    assert_json_errors_for_unknown_paths_and_methods(&h.base, "/api/nope").await;
    let (status, body) = h.send("GET", "/api/versions", None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method GET is not allowed on /api/versions"))
    );
    let (status, body) = h.send("DELETE", "/api/state", None, None).await;
    assert_eq!(status, 405);
    assert!(body["error"].is_string(), "{body}");
    // A refusal of the API itself keeps its own message.
    let (status, body) = h.send("POST", "/api/versions", None, None).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string(), "{body}");
    h.stop().await;
}
