//! Names of services and environments, validated wherever they enter (SPEC section 2).
//!
//! A service is the path of its version file under `<env>/version/` without `.yaml`
//! (`s1`, `team-a/api`). Because the name becomes a Kubernetes label value, `/` is
//! written as `.` there; segments hold no dots, so the mapping is reversible.

use thiserror::Error;

/// Longest service name: it must fit a label value.
pub const MAX_SERVICE_NAME: usize = 63;
/// Longest environment name: a DNS label.
pub const MAX_ENV_NAME: usize = 63;

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("{what} name is empty")]
    Empty { what: &'static str },
    #[error("{what} name {name:?} is {len} characters long; at most {max} are allowed")]
    TooLong {
        what: &'static str,
        name: String,
        len: usize,
        max: usize,
    },
    #[error(
        "{what} name {name:?} is invalid: segment {segment:?} must be lower-case letters, digits and '-', starting and ending with a letter or digit"
    )]
    BadSegment {
        what: &'static str,
        name: String,
        segment: String,
    },
}

fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => ok_char(first) && ok_char(last) && bytes.iter().all(|c| ok_char(c) || *c == b'-'),
        _ => false,
    }
}

/// Checks a service name: `/`-separated DNS-label segments, at most 63 characters in all.
pub fn validate_service_name(name: &str) -> Result<(), NameError> {
    const WHAT: &str = "service";
    if name.is_empty() {
        return Err(NameError::Empty { what: WHAT });
    }
    if name.len() > MAX_SERVICE_NAME {
        return Err(NameError::TooLong {
            what: WHAT,
            name: truncate_for_message(name),
            len: name.len(),
            max: MAX_SERVICE_NAME,
        });
    }
    for segment in name.split('/') {
        if !is_dns_label(segment) {
            return Err(NameError::BadSegment {
                what: WHAT,
                name: name.to_string(),
                segment: segment.to_string(),
            });
        }
    }
    Ok(())
}

/// Checks an environment name: one DNS label of at most 63 characters.
pub fn validate_env_name(name: &str) -> Result<(), NameError> {
    const WHAT: &str = "environment";
    if name.is_empty() {
        return Err(NameError::Empty { what: WHAT });
    }
    if name.len() > MAX_ENV_NAME {
        return Err(NameError::TooLong {
            what: WHAT,
            name: truncate_for_message(name),
            len: name.len(),
            max: MAX_ENV_NAME,
        });
    }
    if !is_dns_label(name) {
        return Err(NameError::BadSegment {
            what: WHAT,
            name: name.to_string(),
            segment: name.to_string(),
        });
    }
    Ok(())
}

fn truncate_for_message(name: &str) -> String {
    if name.len() <= 80 {
        return name.to_string();
    }
    let cut = (0..=80).rev().find(|i| name.is_char_boundary(*i)).unwrap_or(0);
    format!("{}...", &name[..cut])
}

/// The label value for a service name (`team-a/api` → `team-a.api`).
pub fn service_label_value(service: &str) -> String {
    service.replace('/', ".")
}

/// The service name for a label value written by [`service_label_value`].
pub fn service_from_label_value(value: &str) -> String {
    value.replace('.', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_service_names() {
        assert_eq!(validate_service_name("team-a/api"), Ok(()));
        assert_eq!(validate_service_name("s1"), Ok(()));
        assert_eq!(validate_service_name("a/b/c-9"), Ok(()));
    }

    #[test]
    fn rejects_path_tricks_and_bad_case() {
        for bad in [
            "..", "/abs", "a//b", "UPPER", "", "a/", "-a", "a-", "a.b", "a b", "a/../b",
        ] {
            assert!(validate_service_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn rejects_names_longer_than_a_label_value() {
        let long = "a".repeat(254);
        let err = validate_service_name(&long).unwrap_err();
        assert!(matches!(err, NameError::TooLong { len: 254, .. }));
        assert!(validate_service_name(&"a".repeat(64)).is_err());
        assert!(validate_service_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn env_names_are_dns_labels() {
        assert!(validate_env_name("prod-eu").is_ok());
        for bad in ["", "Prod", "a/b", "-x", ".git", &"a".repeat(64)] {
            assert!(validate_env_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn label_value_round_trips() {
        let v = service_label_value("team-a/api");
        assert_eq!(v, "team-a.api");
        assert_eq!(service_from_label_value(&v), "team-a/api");
    }
}
