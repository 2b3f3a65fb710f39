//! The resource repo through git: reading at commits, history, and commit-and-push.

use std::sync::Arc;

use slipway_repo::CommitId;
use slipway_repo::{Author, Change, GitAuth, RepoLocation, ResourceRepo};

fn open(t: &git_fixture::TempRepo, name: &str) -> ResourceRepo {
    ResourceRepo::open_and_fetch(RepoLocation {
        url: t.url(),
        checkout_path: t.scratch(name),
        branch: "main".into(),
        auth: GitAuth::default(),
        timeout: slipway_repo::DEFAULT_GIT_TIMEOUT,
        stale_lock_after: slipway_repo::DEFAULT_STALE_LOCK_AFTER,
    })
    .unwrap()
}

const REPO: &str = r#"
commits:
  - message: initial
    name: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {source: latest, target: dev
      deployers.yaml: |
        deployers:
          dev: {cluster: main, namespace: dev}
      latest/version/s1.yaml: {version: "1"}
      dev/version/s1.yaml: {version: "1"}
      dev/base/s1.yaml: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: s1}
        data: {v: "${version}"}
      dev/locks.yaml: |
        env_lock:
          reasons: ["freeze"
  - message: bump s1 to 2
    name: bump
    files:
      latest/version/s1.yaml: {version: "2"}
"#;

#[test]
fn malformed_transitions_and_locks_report_path_and_line() {
    let t = git_fixture::temp(REPO).unwrap();
    let repo = open(&t, "checkout");
    let snap = repo.head_snapshot().unwrap();
    let err = snap.transitions().unwrap_err();
    assert_eq!(err.path, "transitions.yaml");
    assert!(err.line.is_some_and(|l| l >= 2), "{err}");
    let err = snap.locks("dev").unwrap_err();
    assert_eq!(err.path, "dev/locks.yaml");
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn source_env_with_only_versions_is_not_deployed() {
    let t = git_fixture::temp(REPO).unwrap();
    let repo = open(&t, "checkout");
    let snap = repo.head_snapshot().unwrap();
    assert_eq!(snap.envs(), vec!["dev", "latest"]);
    assert!(snap.env_files("latest").is_source_only());
    assert!(!snap.env_files("dev").is_source_only());
    assert!(snap.deployers().unwrap().deployers.contains_key("dev"));
    assert!(!snap.deployers().unwrap().deployers.contains_key("latest"));
}

#[test]
fn reads_files_at_any_commit_and_lists_history() {
    let t = git_fixture::temp(REPO).unwrap();
    let repo = open(&t, "checkout");
    let initial = t.named("initial").unwrap().parse::<CommitId>().unwrap();
    let head = repo.head().unwrap();
    assert_eq!(head.to_string(), t.named("bump").unwrap());
    assert_eq!(
        repo.read_file(initial, "latest/version/s1.yaml").unwrap().unwrap(),
        b"version: '1'\n"
    );
    assert_eq!(
        repo.read_file(head, "latest/version/s1.yaml").unwrap().unwrap(),
        b"version: '2'\n"
    );
    assert_eq!(repo.read_file(head, "nope.yaml").unwrap(), None);
    let hist = repo.history(head, "latest/version/s1.yaml", 10).unwrap();
    assert_eq!(
        hist.iter().map(|c| c.message.as_str()).collect::<Vec<_>>(),
        ["bump s1 to 2", "initial"]
    );
    assert_eq!(repo.history(head, "dev", 10).unwrap().len(), 1);
    assert!(repo.is_ancestor(initial, head).unwrap());
    assert!(!repo.is_ancestor(head, initial).unwrap());
}

#[test]
fn commit_and_push_sees_a_fresh_head_and_skips_empty_changes() {
    let t = git_fixture::temp(REPO).unwrap();
    let repo = open(&t, "checkout");
    // Someone else pushes after our fetch: the change must be built on their commit.
    t.commit("human edit", &[("dev/version/s1.yaml", Some("version: '9'\n"))])
        .unwrap();
    let author = Author::named("ci");
    let pushed = repo
        .commit_and_push(&author, |snap| {
            assert_eq!(snap.text("dev/version/s1.yaml").unwrap(), Some("version: '9'\n"));
            Ok::<_, String>(Some(Change {
                message: "add s2".into(),
                files: [("dev/version/s2.yaml".to_string(), Some(b"version: '1'\n".to_vec()))].into(),
            }))
        })
        .unwrap()
        .unwrap();
    assert_eq!(t.head().unwrap(), pushed.to_string());
    assert_eq!(t.log()[1].2, "human edit");
    assert_eq!(t.log()[0].1, "ci");
    // Writing what is already there makes no commit.
    let again = repo
        .commit_and_push(&author, |_| {
            Ok::<_, String>(Some(Change {
                message: "same".into(),
                files: [("dev/version/s2.yaml".to_string(), Some(b"version: '1'\n".to_vec()))].into(),
            }))
        })
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(t.log().len(), 4);
}

#[test]
fn concurrent_writers_lose_no_commit() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 25;
    let t = Arc::new(git_fixture::temp("commits:\n  - message: initial\n    files: {README.md: hi}\n").unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|w| {
            let t = t.clone();
            std::thread::spawn(move || {
                let repo = open(&t, &format!("writer-{w}"));
                let author = Author::named(&format!("writer-{w}"));
                for i in 0..PER_THREAD {
                    let path = format!("files/w{w}/f{i}.yaml");
                    repo.commit_and_push(&author, |_| {
                        Ok::<_, String>(Some(Change {
                            message: format!("writer {w} file {i}"),
                            files: [(path.clone(), Some(format!("n: {i}\n").into_bytes()))].into(),
                        }))
                    })
                    .unwrap()
                    .expect("every change is new");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let paths = t.paths();
    assert_eq!(
        paths.iter().filter(|p| p.starts_with("files/")).count(),
        THREADS * PER_THREAD
    );
    assert_eq!(t.log().len(), THREADS * PER_THREAD + 1);
}

#[test]
fn log_lists_every_commit_newest_first_up_to_the_limit() {
    let t = git_fixture::temp(REPO).unwrap();
    let repo = open(&t, "checkout");
    let head = repo.head().unwrap();
    let all = repo.log(head, 10).unwrap();
    assert_eq!(all.first().map(|c| c.id.as_str()), t.named("bump"));
    assert_eq!(all.last().map(|c| c.id.as_str()), t.named("initial"));
    assert_eq!(repo.log(head, 1).unwrap().len(), 1);
}

#[test]
fn snapshots_copy_untouched_folders_and_read_changed_ones_afresh() {
    let t = git_fixture::temp(REPO).unwrap();
    let c = t
        .commit(
            "dev changes, a new env, latest untouched",
            &[
                ("dev/version/s1.yaml", Some("version: '3'\n")),
                ("dev/locks.yaml", None),
                ("pp/version/s1.yaml", Some("version: '1'\n")),
            ],
        )
        .unwrap();
    let repo = open(&t, "checkout");
    let initial = t.named("initial").unwrap().parse::<CommitId>().unwrap();
    let bump = t.named("bump").unwrap().parse::<CommitId>().unwrap();
    let head = c.parse::<CommitId>().unwrap();
    // In the order a service meets them: every snapshot after the first starts from the one before.
    let seen: Vec<_> = [initial, bump, head, initial]
        .iter()
        .map(|c| repo.snapshot(*c).unwrap())
        .collect();
    for (snap, commit) in seen.iter().zip([initial, bump, head, initial]) {
        // A repo opened afresh has no snapshot to copy from.
        let fresh = open(&t, &format!("fresh-{commit}")).snapshot(commit).unwrap();
        assert_eq!(snap.files, fresh.files, "at {commit}");
    }
    assert_eq!(seen[2].text("dev/version/s1.yaml").unwrap(), Some("version: '3'\n"));
    assert_eq!(seen[2].text("dev/locks.yaml").unwrap(), None);
    assert_eq!(seen[2].text("latest/version/s1.yaml").unwrap(), Some("version: '2'\n"));
    assert!(seen[3].text("dev/locks.yaml").unwrap().is_some());
    // Untouched files are shared with the snapshot before, not copied.
    let shared = |a: usize, b: usize, path: &str| Arc::ptr_eq(&seen[a].files[path], &seen[b].files[path]);
    assert!(shared(1, 2, "latest/version/s1.yaml"));
    assert!(!shared(1, 2, "dev/version/s1.yaml"));
}

#[test]
fn a_group_commit_is_one_commit_per_item_on_the_one_before_and_refusals_skip_only_their_item() {
    use slipway_repo::{BatchItem, Committed};
    let t = git_fixture::temp(REPO).unwrap();
    let repo = open(&t, "checkout");
    let before = t.head().unwrap();
    type Plan = Box<dyn FnMut(&slipway_core::RepoSnapshot) -> Result<Option<Change>, String>>;
    let write = |version: &'static str| -> Plan {
        Box::new(move |snap: &slipway_core::RepoSnapshot| {
            // Each item sees the item before it.
            let current = snap.version_vars("latest", "s1").and_then(Result::ok);
            let previous = current.map(|v| format!("{:?}", v["version"])).unwrap_or_default();
            Ok(Some(Change {
                message: format!("s1 {version} after {previous}"),
                files: [(
                    "latest/version/s1.yaml".to_string(),
                    Some(format!("version: '{version}'\n").into_bytes()),
                )]
                .into(),
            }))
        })
    };
    let refuse: Plan = Box::new(|_| Err("locked".to_string()));
    let same: Plan = Box::new(|_| Ok(None));
    let mut items: Vec<BatchItem<Plan>> = vec![write("3"), refuse, write("4"), same]
        .into_iter()
        .enumerate()
        .map(|(i, make_change)| BatchItem {
            author: Author::named(&format!("ci-{i}")),
            make_change,
        })
        .collect();
    let outcomes = repo.commit_and_push_all(&mut items).unwrap();
    assert_eq!(outcomes.len(), 4);
    let Ok(Committed::Made(first)) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(outcomes[1], Err("locked".to_string()));
    let Ok(Committed::Made(second)) = &outcomes[2] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(
        outcomes[3],
        Ok(Committed::Unchanged {
            head: second.to_string()
        })
    );
    assert_eq!(t.head(), Some(second.to_string()));
    let log = t.log();
    assert_eq!(log[0].0, second.to_string());
    assert_eq!(log[1].0, first.to_string());
    assert_eq!(log[2].0, before);
    assert!(log[0].2.contains("s1 4 after String(\"3\")"), "{:?}", log[0]);
    assert_eq!((log[0].1.as_str(), log[1].1.as_str()), ("ci-2", "ci-0"));
}
