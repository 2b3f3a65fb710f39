//! The git layer under faults: lock files left by killed processes (in the
//! checkout and on the remote), and remotes that accept connections and never
//! answer. Its own test binary, because libgit2's time-outs are process-wide: every
//! repo here uses `TIMEOUT`.

use std::time::{Duration, Instant};

use git_fixture::http::HttpRemote;
use slipway_repo::{Author, Change, CommitError, CommitId, GitAuth, GitError, RepoLocation, ResourceRepo};

const TIMEOUT: Duration = Duration::from_secs(2);
/// How long the push loop retries while the remote branch does not move.
const STUCK_BOUND: Duration = Duration::from_secs(5);

const REPO: &str = "commits:\n  - message: initial\n    files:\n      latest/version/s1.yaml: \"version: '1'\\n\"\n";

fn location(url: String, checkout: std::path::PathBuf) -> RepoLocation {
    RepoLocation {
        url,
        checkout_path: checkout,
        branch: "main".into(),
        auth: GitAuth::default(),
        timeout: TIMEOUT,
        stale_lock_after: Duration::from_secs(1),
    }
}

fn change(version: &str) -> Change {
    Change {
        message: format!("s1 {version}"),
        files: [(
            "latest/version/s1.yaml".to_string(),
            Some(format!("version: '{version}'\n").into_bytes()),
        )]
        .into(),
    }
}

fn post(repo: &ResourceRepo, version: &str) -> Result<Option<CommitId>, CommitError<String>> {
    repo.commit_and_push(&Author::named("ci"), |_| Ok(Some(change(version))))
}

/// Retries `f` until it succeeds or `limit` passes; the last result either way.
fn eventually<T, E>(limit: Duration, mut f: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let start = Instant::now();
    loop {
        let result = f();
        if result.is_ok() || start.elapsed() > limit {
            return result;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn lock_files_left_in_the_checkout_are_removed_at_open() {
    let t = git_fixture::temp(REPO).unwrap();
    let checkout = t.scratch("checkout");
    ResourceRepo::open_and_fetch(location(t.url(), checkout.clone())).unwrap();
    t.commit("bump", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    for lock in [
        "refs/remotes/origin/main.lock",
        "packed-refs.lock",
        "index.lock",
        "shallow.lock",
    ] {
        std::fs::write(checkout.join(lock), "").unwrap();
    }
    let repo = ResourceRepo::open(location(t.url(), checkout.clone())).unwrap();
    let head = repo.fetch().unwrap();
    assert_eq!(head.map(|h| h.to_string()), t.head());
    assert!(!checkout.join("refs/remotes/origin/main.lock").exists());
    assert!(!checkout.join("index.lock").exists());
}

#[test]
fn a_lock_file_appearing_while_running_is_removed_after_the_bound_and_fetching_resumes() {
    let t = git_fixture::temp(REPO).unwrap();
    let checkout = t.scratch("checkout");
    let repo = ResourceRepo::open_and_fetch(location(t.url(), checkout.clone())).unwrap();
    t.commit("bump", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    let lock = checkout.join("refs/remotes/origin/main.lock");
    std::fs::write(&lock, "").unwrap();
    let err = repo
        .fetch()
        .expect_err("a fresh lock may belong to a live operation: left alone");
    assert!(err.to_string().contains("lock"), "{err}");
    assert!(lock.exists());
    let head = eventually(Duration::from_secs(10), || repo.fetch()).unwrap();
    assert_eq!(head.map(|h| h.to_string()), t.head());
    assert!(!lock.exists());
}

#[test]
fn a_stale_lock_on_a_local_remote_is_reported_with_the_ref_and_the_fix() {
    let t = git_fixture::temp(REPO).unwrap();
    let repo = ResourceRepo::open_and_fetch(location(t.url(), t.scratch("checkout"))).unwrap();
    let lock = t.path.join("refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let before = t.head();
    let started = Instant::now();
    let err = post(&repo, "2").unwrap_err();
    assert!(
        started.elapsed() < STUCK_BOUND + Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let CommitError::Git(err @ GitError::RemoteLocked { .. }) = err else {
        panic!("expected a lock error, got {err}")
    };
    let text = err.to_string();
    assert!(text.contains("refs/heads/main"), "{text}");
    assert!(text.contains(&lock.display().to_string()), "{text}");
    assert!(text.contains("delete"), "{text}");
    assert!(!text.contains("others kept pushing"), "{text}");
    assert_eq!(t.head(), before, "nothing was committed");
    assert!(lock.exists(), "a lock on the remote is never removed by Slipway");
}

#[test]
fn fetch_and_push_work_over_smart_http() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve(&t.path).unwrap();
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"))).unwrap();
    let pushed = post(&repo, "2").unwrap().unwrap();
    assert_eq!(t.head(), Some(pushed.to_string()));
    assert_eq!(t.read("latest/version/s1.yaml").unwrap(), "version: '2'\n");
}

#[test]
fn a_stale_lock_on_an_http_remote_is_reported_with_the_ref_and_the_fix() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve(&t.path).unwrap();
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"))).unwrap();
    std::fs::write(t.path.join("refs/heads/main.lock"), "").unwrap();
    let before = t.head();
    let started = Instant::now();
    let err = post(&repo, "2").unwrap_err();
    assert!(
        started.elapsed() < STUCK_BOUND + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let CommitError::Git(err @ GitError::RemoteLocked { .. }) = err else {
        panic!("expected a lock error, got {err}")
    };
    let text = err.to_string();
    assert!(text.contains("refs/heads/main.lock"), "{text}");
    assert!(text.contains(&remote.url()), "{text}");
    assert!(text.contains("delete"), "{text}");
    assert_eq!(t.head(), before, "nothing was committed");
}

#[test]
fn a_remote_that_accepts_and_never_answers_times_out_within_git_timeout() {
    // Accepts connections (the kernel does, from the backlog) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.git", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let repo = ResourceRepo::open(location(url.clone(), dir.path().join("checkout"))).unwrap();
    let started = Instant::now();
    let err = repo.fetch().unwrap_err();
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    let started = Instant::now();
    let err = post(&repo, "2").unwrap_err();
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, CommitError::Git(GitError::Timeout { .. })), "{err}");
    drop(listener);
}

#[test]
fn a_push_to_a_hanging_remote_times_out_and_nothing_arrives_when_it_comes_back() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve(&t.path).unwrap();
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"))).unwrap();
    let before = t.head();
    remote.set_hanging(true);
    let started = Instant::now();
    let err = post(&repo, "2").unwrap_err();
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, CommitError::Git(GitError::Timeout { .. })), "{err}");
    assert!(remote.held_connections() > 0, "the remote was reached");
    remote.set_hanging(false);
    assert_eq!(repo.fetch().unwrap().map(|h| h.to_string()), before);
    assert_eq!(t.head(), before, "the timed-out write did not arrive later");
}
