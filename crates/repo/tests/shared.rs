//! The shared repo of a service: reads go beside the write path, so a push that
//! is retrying does not hold them up.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slipway_repo::{Author, Change, GitAuth, RepoLocation, ResourceRepo, SharedRepo};

const REPO: &str = r#"
commits:
  - message: initial
    files:
      latest/version/s1.yaml: {version: "1"}
      dev/version/s1.yaml: {version: "1"}
"#;

/// How long a read may take while a push is held in retry.
const READ_BOUND: Duration = Duration::from_millis(100);

fn location(t: &git_fixture::TempRepo) -> RepoLocation {
    RepoLocation {
        url: t.url(),
        checkout_path: t.scratch("checkout"),
        branch: "main".into(),
        auth: GitAuth::default(),
        timeout: slipway_repo::DEFAULT_GIT_TIMEOUT,
        stale_lock_after: slipway_repo::DEFAULT_STALE_LOCK_AFTER,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_answers_while_a_push_is_held_in_retry() {
    let t = Arc::new(git_fixture::temp(REPO).unwrap());
    // The push loop's waits report here and then block until released.
    let (waiting_tx, waiting_rx) = mpsc::channel::<Duration>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let repo = ResourceRepo::open_and_fetch(location(&t))
        .unwrap()
        .with_push_sleeper(move |wait| {
            let _ = waiting_tx.send(wait);
            let _ = release_rx.lock().unwrap().recv();
        });
    let shared = SharedRepo::from_repo(repo).await.unwrap();
    let before = shared.read(|r| r.head()).await.expect("the fixture has a commit");

    let competitor = t.clone();
    let writer = shared.clone();
    let push = tokio::spawn(async move {
        writer
            .with(move |r| {
                let mut first = true;
                r.commit_and_push(&Author::named("ci"), move |_| {
                    // Someone else pushes between our fetch and our push, once: the
                    // first push is rejected and the loop waits to retry.
                    if std::mem::take(&mut first) {
                        competitor
                            .commit("someone else", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
                            .unwrap();
                    }
                    Ok::<_, String>(Some(Change {
                        message: "bump dev".into(),
                        files: [("dev/version/s1.yaml".to_string(), Some(b"version: '2'\n".to_vec()))].into(),
                    }))
                })
            })
            .await
    });
    let first_wait = tokio::task::spawn_blocking(move || waiting_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the rejected push waits to retry");
    assert!(
        first_wait <= Duration::from_millis(10),
        "first backoff is capped at 10 ms: {first_wait:?}"
    );

    let started = Instant::now();
    // Bounded, so a read that waits behind the held push fails instead of hanging.
    let snapshot = tokio::time::timeout(Duration::from_secs(10), shared.read(|r| r.head_snapshot()))
        .await
        .expect("the read waited behind the push")
        .unwrap();
    let took = started.elapsed();
    assert!(took < READ_BOUND, "a read took {took:?} while a push was retrying");
    assert_eq!(
        snapshot.commit,
        before.to_string(),
        "the read sees the last fetched head"
    );
    assert!(
        !push.is_finished(),
        "the push was still held in retry when the read answered"
    );

    release_tx.send(()).unwrap();
    let pushed = push.await.unwrap().unwrap().expect("the retried change is new");
    assert_eq!(t.head().unwrap(), pushed.to_string());
    assert_eq!(
        t.log()[1].2,
        "someone else",
        "the change was rebuilt on the competing commit"
    );
    assert_eq!(
        shared.read(|r| r.head()).await,
        Some(pushed),
        "readers see the pushed commit at once"
    );
}
