//! `PUT`/`DELETE /api/locks/{env}[/{service}]`: lock changes as commits that
//! rewrite `<env>/locks.yaml`.

use slipway_core::locks::{LockTarget, Locks};
use slipway_core::model::locks_path;
use slipway_core::RepoSnapshot;
use slipway_repo::Change;

use crate::input;
use crate::message;
use crate::refusal::{EnvGiven, Refusal};

/// What to do to a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOp {
    /// Add a reason (idempotent).
    Lock(String),
    /// Remove one reason, or every reason with `None`.
    Unlock(Option<String>),
}

/// The lock change a request asks for: `lock` with a reason from its body, or an
/// unlock of one reason (`{"reason"}`) or of all (no body, or no reason).
pub fn parse_op(lock: bool, body: Option<&[u8]>) -> Result<LockOp, Refusal> {
    let reason = match body {
        None => None,
        Some(bytes) => {
            let map = input::object(bytes, &["reason"])?;
            input::optional_str(&map, "reason")?.map(str::to_string)
        }
    };
    if lock {
        let reason = reason.ok_or(Refusal::NoReason)?;
        Ok(LockOp::Lock(input::lock_reason(&reason)?))
    } else {
        Ok(LockOp::Unlock(reason.as_deref().map(input::lock_reason).transpose()?))
    }
}

/// `env` or `env/service`, as messages show it.
pub fn target_label(env: &str, target: &LockTarget) -> String {
    match target {
        LockTarget::Env => env.to_string(),
        LockTarget::Service(s) => format!("{env}/{s}"),
    }
}

/// Every service the repo knows: those with a version or base file in some env.
pub fn known_services(snapshot: &RepoSnapshot) -> Vec<String> {
    let mut known = std::collections::BTreeSet::new();
    for env in snapshot.envs() {
        known.extend(snapshot.env_files(&env).services());
    }
    known.into_iter().collect()
}

/// A service may be locked in an env once the repo knows it anywhere (so a lock
/// can wait in prod for a service's first promotion), and one that still has a
/// lock entry in the env may always be unlocked.
fn known_service(snapshot: &RepoSnapshot, env: &str, service: &str, locks: &Locks) -> Result<(), Refusal> {
    let known = known_services(snapshot);
    if known.iter().any(|s| s == service) || locks.resource_locks.contains_key(service) {
        return Ok(());
    }
    Err(Refusal::UnknownService {
        env: env.to_string(),
        service: service.to_string(),
        known,
    })
}

/// The change to `<env>/locks.yaml`; `None` when the lock already is as asked.
pub fn plan(snapshot: &RepoSnapshot, env: &str, target: &LockTarget, op: &LockOp) -> Result<Option<Change>, Refusal> {
    input::known_env(snapshot, env, EnvGiven::Path)?;
    let path = locks_path(env);
    let mut locks = snapshot.locks(env).map_err(|e| Refusal::LocksUnrewritable {
        env: env.to_string(),
        reason: e.to_string(),
    })?;
    if let LockTarget::Service(service) = target {
        known_service(snapshot, env, service, &locks)?;
    }
    let label = target_label(env, target);
    let current = match target {
        LockTarget::Env => locks.env_reasons().to_vec(),
        LockTarget::Service(s) => locks.service_reasons(s).to_vec(),
    };
    let subject = match op {
        LockOp::Lock(reason) => {
            if !locks.add_reason(target, reason) {
                return Ok(None);
            }
            format!("Lock {label}: {reason}")
        }
        LockOp::Unlock(Some(reason)) => {
            if !locks.remove_reason(target, Some(reason)) {
                return Err(Refusal::ReasonNotHeld {
                    target: label,
                    reason: reason.clone(),
                    held: current,
                });
            }
            format!("Unlock {label}: {reason}")
        }
        LockOp::Unlock(None) => {
            if !locks.remove_reason(target, None) {
                return Ok(None);
            }
            format!("Unlock {label} (all reasons: {})", current.join("; "))
        }
    };
    let mut trailers = vec![(message::ACTION, "lock"), (message::ENV, env)];
    if let LockTarget::Service(s) = target {
        trailers.push((message::SERVICE, s.as_str()));
    }
    let mut change = Change {
        message: message::compose(&subject, "", &trailers),
        ..Change::default()
    };
    let empty = locks.env_lock.is_none() && locks.resource_locks.is_empty();
    let content = (!empty).then(|| locks.to_yaml().into_bytes());
    change.files.insert(path, content);
    Ok(Some(change))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c0", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    #[test]
    fn locking_writes_the_file_and_says_why_in_the_subject() {
        let s = snap(&[("dev/version/s1.yaml", "version: '1'\n")]);
        let c = plan(
            &s,
            "dev",
            &LockTarget::Service("s1".into()),
            &LockOp::Lock("incident 4711".into()),
        )
        .unwrap()
        .unwrap();
        assert!(
            c.message
                .starts_with("Lock dev/s1: incident 4711\n\nSlipway-Action: lock\n"),
            "{}",
            c.message
        );
        let text = String::from_utf8(c.files["dev/locks.yaml"].clone().unwrap()).unwrap();
        let locks = slipway_core::locks::Locks::parse("x", &text).unwrap();
        assert!(locks.service_locked("s1"));
    }

    #[test]
    fn same_reason_twice_is_no_change_and_unknown_reason_conflicts() {
        let s = snap(&[
            ("dev/locks.yaml", "env_lock: {reasons: [freeze]}\n"),
            ("dev/version/s1.yaml", "version: '1'\n"),
        ]);
        assert!(plan(&s, "dev", &LockTarget::Env, &LockOp::Lock("freeze".into()))
            .unwrap()
            .is_none());
        let err = plan(&s, "dev", &LockTarget::Env, &LockOp::Unlock(Some("other".into()))).unwrap_err();
        assert_eq!(
            err,
            Refusal::ReasonNotHeld {
                target: "dev".into(),
                reason: "other".into(),
                held: vec!["freeze".into()],
            }
        );
        assert_eq!(
            err.to_string(),
            "dev is not locked with reason \"other\"; its reasons are [\"freeze\"]. Nothing was changed"
        );
        assert!(
            plan(&s, "dev", &LockTarget::Service("s1".into()), &LockOp::Unlock(None))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn removing_the_last_reason_deletes_the_file() {
        let s = snap(&[("dev/locks.yaml", "env_lock: {reasons: [freeze, audit]}\n")]);
        let c = plan(&s, "dev", &LockTarget::Env, &LockOp::Unlock(None))
            .unwrap()
            .unwrap();
        assert_eq!(c.files["dev/locks.yaml"], None);
        assert!(
            c.message.starts_with("Unlock dev (all reasons: freeze; audit)"),
            "{}",
            c.message
        );
        let c = plan(&s, "dev", &LockTarget::Env, &LockOp::Unlock(Some("audit".into())))
            .unwrap()
            .unwrap();
        assert!(c.files["dev/locks.yaml"].is_some());
    }

    #[test]
    fn a_lock_needs_a_reason_and_an_unlock_without_one_takes_them_all() {
        assert_eq!(parse_op(true, None), Err(Refusal::NoReason));
        assert_eq!(parse_op(true, Some(b"{}")), Err(Refusal::NoReason));
        assert_eq!(
            parse_op(true, Some(br#"{"reason": " freeze "}"#)),
            Ok(LockOp::Lock("freeze".into()))
        );
        assert_eq!(parse_op(false, None), Ok(LockOp::Unlock(None)));
        assert_eq!(
            parse_op(false, Some(br#"{"reason": "freeze"}"#)),
            Ok(LockOp::Unlock(Some("freeze".into())))
        );
        assert_eq!(parse_op(false, Some(br#"{"reason": " "}"#)), Err(Refusal::EmptyReason));
    }

    #[test]
    fn unknown_service_is_refused_naming_the_known_ones_but_a_stale_lock_can_go() {
        let s = snap(&[
            ("dev/version/s1.yaml", "version: '1'\n"),
            ("latest/version/s2.yaml", "version: '1'\n"),
            ("dev/locks.yaml", "resource_locks:\n  gone: {reasons: [old]}\n"),
        ]);
        let lock = |service: &str| {
            plan(
                &s,
                "dev",
                &LockTarget::Service(service.into()),
                &LockOp::Lock("x".into()),
            )
        };
        let err = lock("nosuch").unwrap_err();
        assert_eq!(
            err,
            Refusal::UnknownService {
                env: "dev".into(),
                service: "nosuch".into(),
                known: vec!["s1".into(), "s2".into()],
            }
        );
        assert!(err.to_string().contains("known are s1, s2"), "{err}");
        assert!(lock("s2").unwrap().is_some(), "known in latest: may wait in dev");
        let unlock = plan(&s, "dev", &LockTarget::Service("gone".into()), &LockOp::Unlock(None));
        assert!(
            unlock.unwrap().is_some(),
            "a lock left on a removed service can be released"
        );
    }

    #[test]
    fn unknown_env_is_not_found() {
        let s = snap(&[("dev/version/s1.yaml", "version: '1'\n")]);
        let err = plan(&s, "prod", &LockTarget::Env, &LockOp::Lock("x".into())).unwrap_err();
        assert!(
            matches!(&err, Refusal::UnknownEnv { env, given: EnvGiven::Path, .. } if env == "prod"),
            "{err:?}"
        );
    }
}
