//! The aggregator when git misbehaves: lock files left in its checkout, a ref
//! locked on the remote, a remote that accepts connections and never answers.
//! Its own test binary: libgit2's time-outs are process-wide, and every
//! aggregator here runs with `git_timeout: 2s`.

mod support;

use std::time::{Duration, Instant};

use git_fixture::http::HttpRemote;
use support::{eventually, Harness, REPO};

const GIT_TIMEOUT: Duration = Duration::from_secs(2);

fn short_git_bounds(c: &mut slipway_aggregator::AggregatorConfig) {
    c.repo.git_timeout = GIT_TIMEOUT;
    c.repo.git_stale_lock_after = Duration::from_secs(1);
}

async fn state_commit(h: &Harness) -> String {
    h.state().await["commit"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_tracking_ref_lock_in_the_checkout_does_not_stop_fetching_after_start() {
    let repo = git_fixture::temp(REPO).unwrap();
    let mut c = support::config(&repo);
    short_git_bounds(&mut c);
    // An earlier run fetched, then was killed while updating the tracking ref.
    let location = c.repo.location();
    drop(slipway_repo::ResourceRepo::open_and_fetch(location).unwrap());
    let lock = c.repo.versions_checkout_path.join("refs/remotes/origin/main.lock");
    std::fs::write(&lock, "").unwrap();
    let head = repo.commit("bump", &[("latest/version/s1.yaml", Some("version: '2'\n"))]);
    let head = head.unwrap();
    let h = Harness::start_on(repo, c).await;
    // The first fetch happens before the API answers.
    assert_eq!(state_commit(&h).await, head);
    assert_eq!(h.state().await["stale"], false);
    assert!(!lock.exists());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_file_appearing_while_running_is_cleared_after_the_bound_and_fetching_resumes() {
    let h = Harness::start_with(REPO, short_git_bounds).await;
    let lock = support::config(&h.repo)
        .repo
        .versions_checkout_path
        .join("refs/remotes/origin/main.lock");
    std::fs::write(&lock, "").unwrap();
    let head = h
        .repo
        .commit("bump", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    eventually("the lock is cleared and the new head fetched", || async {
        state_commit(&h).await == head
    })
    .await;
    assert!(!lock.exists());
    assert_eq!(h.state().await["stale"], false);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lock_on_the_remote_answers_with_the_locked_ref_and_the_fix() {
    let h = Harness::start_with(REPO, short_git_bounds).await;
    let lock = h.repo.path.join("refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let before = h.repo.head();
    let started = Instant::now();
    let (status, body) = h.post_version("s1", "latest", "2").await;
    // Retried within the stuck bound (5 s) in case a concurrent push holds it.
    assert!(started.elapsed() < Duration::from_secs(7), "{:?}", started.elapsed());
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("refs/heads/main"), "{error}");
    assert!(error.contains(&lock.display().to_string()), "{error}");
    assert!(error.contains("delete"), "{error}");
    assert!(!error.contains("others kept pushing"), "{error}");
    assert_eq!(h.repo.head(), before);
    assert_eq!(h.state().await["stale"], false, "the state is still current");
    std::fs::remove_file(&lock).unwrap();
    let (status, body) = h.post_version("s1", "latest", "2").await;
    assert_eq!(status, 201, "{body}");
    h.stop().await;
}

/// Times a read; its answer must be 200.
async fn timed_read(h: &Harness, path: &str) -> Duration {
    let started = Instant::now();
    let (status, body) = h.send("GET", path, None, None).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{path}: {body}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_remote_makes_posts_answer_504_in_time_while_reads_answer_at_once() {
    let repo = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve(&repo.path).unwrap();
    let mut c = support::config(&repo);
    c.repo.versions_url = remote.url();
    short_git_bounds(&mut c);
    let h = Harness::start_on(repo, c).await;
    let before = h.repo.head().unwrap();
    eventually("the first fetch over HTTP", || async {
        state_commit(&h).await == before
    })
    .await;
    // Warm up the reading handle, so the bound below measures waiting, not a first open.
    timed_read(&h, "/api/history?env=latest").await;

    remote.set_hanging(true);
    let started = Instant::now();
    // Several at once: those queued behind a call that timed out do not wait as long again.
    let posts: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (h.http.clone(), h.url("/api/versions"));
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .bearer_auth(support::CI_TOKEN)
                    .json(&serde_json::json!({"service": "s1", "env": "latest", "vars": {"version": "2"}}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body = response.json::<serde_json::Value>().await.unwrap();
                (status, body, started.elapsed())
            })
        })
        .collect();
    // Meanwhile the post (and the poll) hang on the remote; reads do not wait for them.
    eventually("the remote is being waited for", || async {
        remote.held_connections() > 0
    })
    .await;
    for _ in 0..5 {
        let took = timed_read(&h, "/api/state").await;
        assert!(took < Duration::from_millis(100), "/api/state took {took:?}");
        let took = timed_read(&h, "/api/history?env=latest").await;
        assert!(took < Duration::from_millis(100), "/api/history took {took:?}");
    }
    for post in posts {
        let (status, body, took) = post.await.unwrap();
        assert_eq!(status, 504, "{body}");
        assert!(took < GIT_TIMEOUT + Duration::from_secs(5), "the post took {took:?}");
        assert!(body["error"].as_str().unwrap().contains("git_timeout"), "{body}");
    }

    // The timed-out pushes marked the state stale, so its clearing below is a fetch that succeeded.
    assert_eq!(
        h.state().await["stale"],
        true,
        "a push that timed out marks the state stale"
    );
    remote.set_hanging(false);
    eventually("a fetch succeeds again", || async { h.state().await["stale"] == false }).await;
    assert_eq!(
        h.repo.head().unwrap(),
        before,
        "nothing was committed by the timed-out post"
    );
    assert_eq!(h.repo.read("latest/version/s1.yaml").unwrap(), "version: '1'\n");
    let (status, body) = h.post_version("s1", "latest", "2").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.repo.read("latest/version/s1.yaml").unwrap(), "version: '2'\n");
    h.stop().await;
}
