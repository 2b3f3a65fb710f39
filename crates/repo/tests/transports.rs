//! The resource repo over the network transports git hosts offer: smart HTTP
//! with a token, and ssh with a key and a checked host key. Each failure an
//! operator meets (wrong token, wrong key, unknown or changed host key, refused
//! connection, hanging server) is a clear error, nothing is pushed that was not
//! acknowledged, and the next call succeeds once the remote is back. Its own test
//! binary, because libgit2's time-outs are process-wide: every repo here uses `TIMEOUT`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git_fixture::http::HttpRemote;
use git_fixture::ssh::SshRemote;
use slipway_repo::{Author, Change, CommitError, CommitId, GitAuth, GitError, RepoLocation, ResourceRepo};

const TIMEOUT: Duration = Duration::from_secs(2);

const REPO: &str = "commits:\n  - message: initial\n    files:\n      latest/version/s1.yaml: \"version: '1'\\n\"\n";

fn location(url: String, checkout: PathBuf, auth: GitAuth) -> RepoLocation {
    RepoLocation {
        url,
        checkout_path: checkout,
        branch: "main".into(),
        auth,
        timeout: TIMEOUT,
        stale_lock_after: Duration::from_secs(60),
    }
}

fn post(repo: &ResourceRepo, version: &str) -> Result<Option<CommitId>, CommitError<String>> {
    repo.commit_and_push(&Author::named("ci"), |_| {
        Ok(Some(Change {
            message: format!("s1 {version}"),
            files: [(
                "latest/version/s1.yaml".to_string(),
                Some(format!("version: '{version}'\n").into_bytes()),
            )]
            .into(),
        }))
    })
}

fn token_auth(dir: &Path, token: &str) -> GitAuth {
    let file = dir.join(format!("token-{token}"));
    std::fs::write(&file, format!("{token}\n")).unwrap();
    GitAuth {
        token_file: Some(file),
        ..GitAuth::default()
    }
}

fn ssh_auth(dir: &Path, known_hosts: &str, key: PathBuf) -> GitAuth {
    let file = dir.join(format!("known_hosts-{}", known_hosts.len()));
    std::fs::write(&file, known_hosts).unwrap();
    GitAuth {
        ssh_key: Some(key),
        known_hosts: Some(file),
        ..GitAuth::default()
    }
}

fn refused_reason(err: &GitError) -> &str {
    match err {
        GitError::Refused { reason, .. } => reason,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn fetch_push_and_history_over_smart_http_with_a_token() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve_with_token(&t.path, "s3cret").unwrap();
    let auth = token_auth(&t.path, "s3cret");
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"), auth)).unwrap();
    let pushed = post(&repo, "2").unwrap().unwrap();
    assert_eq!(t.head(), Some(pushed.to_string()));
    let other = t
        .commit("by hand", &[("latest/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    assert_eq!(repo.fetch().unwrap().map(|c| c.to_string()), Some(other));
    let history = repo
        .history(repo.head().unwrap(), "latest/version/s1.yaml", 10)
        .unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
}

#[test]
fn a_wrong_or_missing_token_is_refused_naming_where_it_came_from_and_pushes_nothing() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve_with_token(&t.path, "s3cret").unwrap();
    let auth = token_auth(&t.path, "wrong");
    let file = auth.token_file.clone().unwrap();
    let repo = ResourceRepo::open(location(remote.url(), t.scratch("checkout"), auth)).unwrap();
    let err = repo.fetch().unwrap_err();
    let reason = refused_reason(&err);
    assert!(reason.contains("refused the token"), "{err}");
    assert!(reason.contains(&file.display().to_string()), "{err}");
    let before = t.head();
    let CommitError::Git(err) = post(&repo, "2").unwrap_err() else {
        panic!()
    };
    assert!(refused_reason(&err).contains("refused the token"), "{err}");
    assert_eq!(t.head(), before);

    let none = GitAuth {
        token_env: Some("SLIPWAY_TEST_UNSET_TOKEN".into()),
        ..GitAuth::default()
    };
    let repo = ResourceRepo::open(location(remote.url(), t.scratch("checkout2"), none)).unwrap();
    let err = repo.fetch().unwrap_err();
    assert!(refused_reason(&err).contains("$SLIPWAY_TEST_UNSET_TOKEN"), "{err}");
}

#[test]
fn fetch_push_and_history_over_ssh_with_a_known_host_key() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = SshRemote::serve(&t.path).unwrap();
    let auth = ssh_auth(&t.path, &remote.known_hosts_line(), remote.client_key());
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"), auth)).unwrap();
    let pushed = post(&repo, "2").unwrap().unwrap();
    assert_eq!(t.head(), Some(pushed.to_string()));
    assert_eq!(t.read("latest/version/s1.yaml").unwrap(), "version: '2'\n");
    let other = t
        .commit("by hand", &[("latest/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    assert_eq!(repo.fetch().unwrap().map(|c| c.to_string()), Some(other));
    let history = repo
        .history(repo.head().unwrap(), "latest/version/s1.yaml", 10)
        .unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
}

#[test]
fn an_unauthorized_ssh_key_is_refused_naming_the_key() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = SshRemote::serve(&t.path).unwrap();
    let key = remote.unauthorized_key();
    let auth = ssh_auth(&t.path, &remote.known_hosts_line(), key.clone());
    let repo = ResourceRepo::open(location(remote.url(), t.scratch("checkout"), auth)).unwrap();
    let err = repo.fetch().unwrap_err();
    let reason = refused_reason(&err);
    assert!(reason.contains("ssh authentication"), "{err}");
    assert!(reason.contains(&key.display().to_string()), "{err}");
}

#[test]
fn an_unknown_or_changed_host_key_is_refused_and_nothing_is_pushed() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = SshRemote::serve(&t.path).unwrap();
    let before = t.head();

    let unknown = ssh_auth(&t.path, "", remote.client_key());
    let repo = ResourceRepo::open(location(remote.url(), t.scratch("unknown"), unknown)).unwrap();
    let err = repo.fetch().unwrap_err();
    let reason = refused_reason(&err);
    assert!(reason.contains("is unknown"), "{err}");
    assert!(
        reason.contains(&format!("ssh-keyscan -p {} 127.0.0.1", remote.port())),
        "{err}"
    );

    let changed = ssh_auth(&t.path, &remote.wrong_known_hosts_line(), remote.client_key());
    let repo = ResourceRepo::open(location(remote.url(), t.scratch("changed"), changed)).unwrap();
    let err = repo.fetch().unwrap_err();
    assert!(refused_reason(&err).contains("CHANGED"), "{err}");
    let CommitError::Git(err) = post(&repo, "2").unwrap_err() else {
        panic!()
    };
    assert!(refused_reason(&err).contains("CHANGED"), "{err}");
    assert_eq!(t.head(), before, "nothing was pushed");

    let unchecked = GitAuth {
        host_key_check: false,
        ..ssh_auth(&t.path, "", remote.client_key())
    };
    let repo = ResourceRepo::open(location(remote.url(), t.scratch("unchecked"), unchecked)).unwrap();
    assert_eq!(repo.fetch().unwrap().map(|c| c.to_string()), before);
}

#[test]
fn a_refused_connection_is_an_error_and_the_next_fetch_after_the_remote_is_back_succeeds() {
    let t = git_fixture::temp(REPO).unwrap();
    let mut http = HttpRemote::serve(&t.path).unwrap();
    let mut ssh = SshRemote::serve(&t.path).unwrap();
    let ssh_auth = ssh_auth(&t.path, &ssh.known_hosts_line(), ssh.client_key());
    let over_http = ResourceRepo::open_and_fetch(location(http.url(), t.scratch("http"), GitAuth::default())).unwrap();
    let over_ssh = ResourceRepo::open_and_fetch(location(ssh.url(), t.scratch("ssh"), ssh_auth)).unwrap();
    http.stop();
    ssh.stop();
    let before = t.head();
    for repo in [&over_http, &over_ssh] {
        let err = repo.fetch().unwrap_err();
        let text = err.to_string();
        assert!(text.contains(repo.url()), "{text}");
        assert!(text.to_lowercase().contains("connect"), "{text}");
        assert!(post(repo, "2").is_err());
    }
    assert_eq!(t.head(), before, "nothing was pushed");
    http.start().unwrap();
    ssh.start().unwrap();
    for repo in [&over_http, &over_ssh] {
        assert_eq!(repo.fetch().unwrap().map(|c| c.to_string()), before);
    }
    post(&over_ssh, "2").unwrap().unwrap();
    post(&over_http, "3").unwrap().unwrap();
    assert_eq!(t.read("latest/version/s1.yaml").unwrap(), "version: '3'\n");
}

#[test]
fn a_hanging_ssh_server_times_out_within_git_timeout_and_recovers() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = SshRemote::serve(&t.path).unwrap();
    let auth = ssh_auth(&t.path, &remote.known_hosts_line(), remote.client_key());
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"), auth)).unwrap();
    remote.set_hanging(true);
    let started = Instant::now();
    let err = repo.fetch().unwrap_err();
    let waited = started.elapsed();
    remote.set_hanging(false);
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("git_timeout"), "{err}");
    // The bound the services promise: an answer within git_timeout + 5 s.
    assert!(waited < TIMEOUT + Duration::from_secs(5), "waited {waited:?}: {err}");
    let before = t.head();
    assert_eq!(t.head(), before);
    assert_eq!(repo.fetch().unwrap().map(|c| c.to_string()), before);
}

fn tls_auth(dir: &Path, token: &str, ca_file: PathBuf) -> GitAuth {
    GitAuth {
        ca_file: Some(ca_file),
        ..token_auth(dir, token)
    }
}

#[test]
fn fetch_push_and_history_over_https_with_a_private_ca() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve_tls_with_token(&t.path, "s3cret").unwrap();
    assert!(remote.url().starts_with("https://127.0.0.1:"), "{}", remote.url());
    let auth = tls_auth(&t.path, "s3cret", remote.ca_file().unwrap());
    let repo = ResourceRepo::open_and_fetch(location(remote.url(), t.scratch("checkout"), auth)).unwrap();
    let pushed = post(&repo, "2").unwrap().unwrap();
    assert_eq!(t.head(), Some(pushed.to_string()));
    let other = t
        .commit("by hand", &[("latest/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    assert_eq!(repo.fetch().unwrap().map(|c| c.to_string()), Some(other));
    let history = repo
        .history(repo.head().unwrap(), "latest/version/s1.yaml", 10)
        .unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
}

#[test]
fn an_https_host_signed_by_an_unknown_ca_is_refused_naming_ca_file_and_nothing_is_pushed() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve_tls_with_token(&t.path, "s3cret").unwrap();
    let other = remote.other_ca_file().unwrap();
    let repo = ResourceRepo::open(location(
        remote.url(),
        t.scratch("checkout"),
        tls_auth(&t.path, "s3cret", other.clone()),
    ))
    .unwrap();
    let err = repo.fetch().unwrap_err();
    let reason = refused_reason(&err);
    assert!(reason.contains("TLS certificate is not trusted"), "{err}");
    assert!(reason.contains(&other.display().to_string()), "{err}");
    let before = t.head();
    let CommitError::Git(err) = post(&repo, "2").unwrap_err() else {
        panic!()
    };
    assert!(refused_reason(&err).contains("not trusted"), "{err}");
    assert_eq!(t.head(), before);
    assert_eq!(remote.served_requests(), 0, "nothing reached git");
}

#[test]
fn a_missing_or_empty_ca_file_is_a_clear_error_at_open() {
    let t = git_fixture::temp(REPO).unwrap();
    let missing = t.scratch("no-such-ca.pem");
    let err = ResourceRepo::open(location(
        "https://127.0.0.1:1/r.git".into(),
        t.scratch("checkout"),
        tls_auth(&t.path, "x", missing.clone()),
    ))
    .err()
    .expect("a missing ca_file");
    assert!(refused_reason(&err).contains("cannot read git.ca_file"), "{err}");
    let empty = t.scratch("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = ResourceRepo::open(location(
        "https://127.0.0.1:1/r.git".into(),
        t.scratch("checkout2"),
        tls_auth(&t.path, "x", empty),
    ))
    .err()
    .expect("a ca_file without certificates");
    assert!(refused_reason(&err).contains("holds no PEM certificate"), "{err}");
}
