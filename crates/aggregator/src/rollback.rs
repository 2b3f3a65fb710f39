//! `POST /api/rollback`: restore a service's version file in an env as it was at
//! an earlier commit, as a new commit. By default the same commit places a hold
//! (a service lock saying what happened), so that no promotion undoes the rollback
//! until someone releases it by unlocking.

use slipway_core::locks::{hold_reason, LockTarget};
use slipway_core::merge::parse_vars;
use slipway_core::model::{locks_path, version_label, version_path};
use slipway_core::RepoSnapshot;
use slipway_repo::Change;

use crate::input;
use crate::message;
use crate::refusal::{EnvGiven, Refusal};

/// A checked `POST /api/rollback` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRequest {
    pub env: String,
    pub service: String,
    /// A full or abbreviated commit id.
    pub commit: String,
    /// Whether to place a hold on the service in the env (default true).
    pub hold: bool,
}

/// Parses and checks a body.
pub fn parse_request(body: &[u8]) -> Result<RollbackRequest, Refusal> {
    let map = input::object(body, &["env", "service", "commit", "hold"])?;
    let env = input::required_str(&map, "env")?;
    input::env_name(env, "env")?;
    let service = input::required_str(&map, "service")?;
    input::service_name(service, "service")?;
    let commit = input::required_str(&map, "commit")?;
    if commit.len() < 4 || commit.len() > 64 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Refusal::NotACommitId {
            commit: commit.to_string(),
        });
    }
    let hold = input::optional_bool(&map, "hold", true)?;
    Ok(RollbackRequest {
        env: env.to_string(),
        service: service.to_string(),
        commit: commit.to_lowercase(),
        hold,
    })
}

/// The change that restores `old_file` (the version file at `from_commit`, `None` if it had none),
/// with the hold when asked; `author` is named in the hold. `None` when the env already
/// holds exactly that file.
pub fn plan(
    snapshot: &RepoSnapshot,
    req: &RollbackRequest,
    author: &str,
    from_commit: &str,
    old_file: Option<&[u8]>,
) -> Result<Option<Change>, Refusal> {
    input::known_env(snapshot, &req.env, EnvGiven::Body)?;
    let path = version_path(&req.env, &req.service);
    let short = &from_commit[..from_commit.len().min(7)];
    let Some(old_file) = old_file else {
        return Err(Refusal::NoVersionFileAt {
            commit: short.to_string(),
            path,
            env: req.env.clone(),
            service: req.service.clone(),
        });
    };
    let old_text = std::str::from_utf8(old_file).map_err(|_| Refusal::NotUtf8At {
        path: path.clone(),
        commit: short.to_string(),
    })?;
    let old_vars = parse_vars(&path, old_text).map_err(|e| Refusal::UnrestorableAt {
        path: path.clone(),
        commit: short.to_string(),
        reason: e.to_string(),
    })?;
    if snapshot.files.get(&path).map(|c| &c[..]) == Some(old_file) {
        return Ok(None);
    }
    // The version being replaced: for the message, and for the hold's reason.
    let (current, now) = match snapshot.version_vars(&req.env, &req.service) {
        Some(Ok(vars)) => {
            let label = version_label(&vars);
            (Some(label.clone()), format!("was {label}"))
        }
        Some(Err(_)) => (
            Some("(unreadable)".to_string()),
            "was an unreadable version file".to_string(),
        ),
        None => (None, "the service had no version file".to_string()),
    };
    let restored = version_label(&old_vars);
    let subject = format!("Roll back {} in {} to {restored} (from {short})", req.service, req.env);
    let mut body = format!("Restores {path} as of commit {from_commit} ({now}).");
    let mut locks_file = None;
    if req.hold {
        let mut locks = snapshot.locks(&req.env).map_err(|e| Refusal::LocksUnrewritable {
            env: req.env.clone(),
            reason: e.to_string(),
        })?;
        let reason = hold_reason(current.as_deref(), &restored, author);
        locks.add_reason(&LockTarget::Service(req.service.clone()), &reason);
        body.push_str(&format!(
            "\n\nHolds {} in {}: no promotion changes it until the hold is released (DELETE /api/locks/{}/{}).",
            req.service, req.env, req.env, req.service
        ));
        locks_file = Some(locks.to_yaml().into_bytes());
    }
    let mut change = Change {
        message: message::compose(
            &subject,
            &body,
            &[
                (message::ACTION, "rollback"),
                (message::ENV, &req.env),
                (message::SERVICE, &req.service),
            ],
        ),
        ..Change::default()
    };
    change.files.insert(path, Some(old_file.to_vec()));
    if let Some(locks) = locks_file {
        change.files.insert(locks_path(&req.env), Some(locks));
    }
    Ok(Some(change))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c0", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    fn req() -> RollbackRequest {
        parse_request(br#"{"env": "dev", "service": "s1", "commit": "ABCDEF1234"}"#).unwrap()
    }

    #[test]
    fn restores_the_old_file_with_a_readable_message() {
        let s = snap(&[("dev/version/s1.yaml", "version: '42'\n")]);
        let c = plan(&s, &req(), "alice", "abcdef1234", Some(b"version: '41'\n"))
            .unwrap()
            .unwrap();
        assert!(
            c.message.starts_with("Roll back s1 in dev to 41 (from abcdef1)\n\nRestores dev/version/s1.yaml as of commit abcdef1234 (was 42)."),
            "{}",
            c.message
        );
        assert!(c.message.contains("Slipway-Action: rollback"));
        assert_eq!(c.files["dev/version/s1.yaml"].as_deref(), Some(&b"version: '41'\n"[..]));
    }

    #[test]
    fn a_commit_without_the_file_conflicts_and_the_same_file_is_no_change() {
        let s = snap(&[("dev/version/s1.yaml", "version: '42'\n")]);
        let err = plan(&s, &req(), "alice", "abcdef1234", None).unwrap_err();
        assert!(
            matches!(&err, Refusal::NoVersionFileAt { commit, path, .. } if commit == "abcdef1" && path == "dev/version/s1.yaml"),
            "{err:?}"
        );
        assert!(plan(&s, &req(), "alice", "abcdef1234", Some(b"version: '42'\n"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_rollback_holds_the_service_in_the_same_commit_unless_asked_not_to() {
        let s = snap(&[
            ("dev/version/s1.yaml", "version: 1.3.0\n"),
            ("dev/locks.yaml", "resource_locks:\n  s2: {reasons: [incident]}\n"),
        ]);
        let c = plan(&s, &req(), "alice", "abcdef1234", Some(b"version: 1.1.0\n"))
            .unwrap()
            .unwrap();
        let locks = slipway_core::locks::Locks::parse(
            "dev/locks.yaml",
            std::str::from_utf8(c.files["dev/locks.yaml"].as_deref().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            locks.service_reasons("s1"),
            ["rolled back from 1.3.0 to 1.1.0 by alice"]
        );
        assert_eq!(locks.service_reasons("s2"), ["incident"], "other locks are kept");
        assert!(c.message.contains("Holds s1 in dev"), "{}", c.message);
        assert!(c.files.contains_key("dev/version/s1.yaml"));

        let no_hold =
            parse_request(br#"{"env": "dev", "service": "s1", "commit": "abcdef1234", "hold": false}"#).unwrap();
        let c = plan(&s, &no_hold, "alice", "abcdef1234", Some(b"version: 1.1.0\n"))
            .unwrap()
            .unwrap();
        assert!(!c.files.contains_key("dev/locks.yaml"), "{:?}", c.files.keys());
        assert_eq!(
            parse_request(br#"{"env": "dev", "service": "s1", "commit": "abcdef1234", "hold": "no"}"#).unwrap_err(),
            Refusal::NotABool { field: "hold".into() }
        );
    }

    #[test]
    fn commit_ids_must_be_hex() {
        let err = parse_request(br#"{"env": "dev", "service": "s1", "commit": "HEAD~1"}"#).unwrap_err();
        assert_eq!(
            err,
            Refusal::NotACommitId {
                commit: "HEAD~1".into()
            }
        );
    }
}
