//! `POST /api/rollback`: restore a service's version file in an env as it was at
//! an earlier commit, as a new commit.

use slipway_core::merge::parse_vars;
use slipway_core::model::{version_label, version_path};
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
}

/// Parses and checks a body.
pub fn parse_request(body: &[u8]) -> Result<RollbackRequest, Refusal> {
    let map = input::object(body, &["env", "service", "commit"])?;
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
    Ok(RollbackRequest {
        env: env.to_string(),
        service: service.to_string(),
        commit: commit.to_lowercase(),
    })
}

/// The change that restores `old_file` (the version file at `from_commit`, `None` if it had none).
/// `None` when the env already holds exactly that file.
pub fn plan(
    snapshot: &RepoSnapshot,
    req: &RollbackRequest,
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
    let now = match snapshot.version_vars(&req.env, &req.service) {
        Some(Ok(vars)) => format!("was {}", version_label(&vars)),
        Some(Err(_)) => "was an unreadable version file".to_string(),
        None => "the service had no version file".to_string(),
    };
    let subject = format!(
        "Roll back {} in {} to {} (from {short})",
        req.service,
        req.env,
        version_label(&old_vars)
    );
    let body = format!("Restores {path} as of commit {from_commit} ({now}).");
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
        let c = plan(&s, &req(), "abcdef1234", Some(b"version: '41'\n"))
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
        let err = plan(&s, &req(), "abcdef1234", None).unwrap_err();
        assert!(
            matches!(&err, Refusal::NoVersionFileAt { commit, path, .. } if commit == "abcdef1" && path == "dev/version/s1.yaml"),
            "{err:?}"
        );
        assert!(plan(&s, &req(), "abcdef1234", Some(b"version: '42'\n"))
            .unwrap()
            .is_none());
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
