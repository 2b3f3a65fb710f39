//! ssh with the keys of an ssh agent: no `git.ssh_key` in the config, the agent
//! of `SSH_AUTH_SOCK` answers for the key. Its own test binary because it sets
//! `SSH_AUTH_SOCK` for the whole process.

use std::time::Duration;

use git_fixture::ssh::{SshAgent, SshRemote};
use slipway_repo::{Author, Change, GitAuth, GitError, RepoLocation, ResourceRepo};

const REPO: &str = "commits:\n  - message: initial\n    files:\n      latest/version/s1.yaml: \"version: '1'\\n\"\n";

fn open(remote: &SshRemote, t: &git_fixture::TempRepo, checkout: &str) -> Result<ResourceRepo, GitError> {
    let known_hosts = t.scratch("known_hosts");
    std::fs::write(&known_hosts, remote.known_hosts_line()).unwrap();
    ResourceRepo::open_and_fetch(RepoLocation {
        url: remote.url(),
        checkout_path: t.scratch(checkout),
        branch: "main".into(),
        auth: GitAuth {
            known_hosts: Some(known_hosts),
            ..GitAuth::default()
        },
        timeout: Duration::from_secs(5),
        stale_lock_after: Duration::from_secs(60),
    })
}

#[test]
fn fetch_and_push_over_ssh_with_the_key_in_the_agent_and_a_clear_refusal_without_it() {
    let t = git_fixture::temp(REPO).unwrap();
    let remote = SshRemote::serve(&t.path).unwrap();
    let agent = SshAgent::start().unwrap();
    // The only test of this binary: nothing else reads the environment meanwhile.
    std::env::set_var("SSH_AUTH_SOCK", agent.socket());

    // An agent without the authorized key: refused, saying it tried the agent.
    agent.add(&remote.unauthorized_key()).unwrap();
    let err = open(&remote, &t, "refused")
        .err()
        .expect("the agent has no authorized key");
    match &err {
        GitError::Refused { reason, .. } => assert!(reason.contains("ssh agent"), "{err}"),
        other => panic!("expected a refusal, got {other}"),
    }

    agent.add(&remote.client_key()).unwrap();
    let repo = open(&remote, &t, "checkout").unwrap();
    let pushed = repo
        .commit_and_push(&Author::named("ci"), |_| {
            Ok::<_, String>(Some(Change {
                message: "s1 2".into(),
                files: [("latest/version/s1.yaml".to_string(), Some(b"version: '2'\n".to_vec()))].into(),
            }))
        })
        .unwrap()
        .unwrap();
    assert_eq!(t.head(), Some(pushed.to_string()));
    assert_eq!(t.read("latest/version/s1.yaml").unwrap(), "version: '2'\n");
}
