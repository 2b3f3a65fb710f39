//! `coordination.k8s.io/v1` Lease: what the real server does beyond the generic
//! verbs. Its `acquireTime` and `renewTime` are `metav1.MicroTime`, which the
//! server decodes with the layout `2006-01-02T15:04:05.000000Z07:00` (exactly six
//! fractional digits, `Z` or an offset) and writes back in UTC; its spec is
//! validated as `ValidateLeaseSpec` does.
//!
//! ```text
//!  Lease ─ spec ─ holderIdentity        who holds it
//!               ├ leaseDurationSeconds  how long a renewal is good for (> 0)
//!               ├ acquireTime           MicroTime of the current holder's acquisition
//!               ├ renewTime             MicroTime of its last renewal
//!               └ leaseTransitions      how often the holder changed (>= 0)
//! ```

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::resources::ResourceType;
use crate::status::{ApiError, Cause};

/// The Go layout of `metav1.MicroTime`, as error messages quote it.
const LAYOUT: &str = "2006-01-02T15:04:05.000000Z07:00";

const MICRO_TIME_FIELDS: [&str; 2] = ["acquireTime", "renewTime"];

fn is_lease(rt: &ResourceType) -> bool {
    !rt.is_custom() && rt.group == "coordination.k8s.io" && rt.plural == "leases"
}

/// Parses a MicroTime the way Go's `time.Parse` does with [`LAYOUT`], or says
/// which part it could not parse (Go's wording: `cannot parse "Z" as ".000000"`).
fn parse_micro_time(s: &str) -> Result<DateTime<Utc>, String> {
    let fail = |rest: &str, part: &str| {
        Err(format!(
            "parsing time {s:?} as {LAYOUT:?}: cannot parse {rest:?} as {part:?}"
        ))
    };
    let Some(head) = s.get(..19) else {
        return fail(s, "2006");
    };
    if NaiveDateTime::parse_from_str(head, "%Y-%m-%dT%H:%M:%S").is_err() {
        return fail(s, "2006");
    }
    let rest = &s[19..];
    let fraction_ok =
        rest.len() >= 7 && rest.as_bytes()[0] == b'.' && rest.as_bytes()[1..7].iter().all(u8::is_ascii_digit);
    if !fraction_ok {
        return fail(rest, ".000000");
    }
    let zone = &rest[7..];
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone
                .bytes()
                .enumerate()
                .all(|(i, c)| matches!(i, 0 | 3) || c.is_ascii_digit()));
    if !zone_ok {
        return fail(zone, "Z07:00");
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("parsing time {s:?}: {e}"))
}

/// Refuses a Lease whose MicroTime fields the real server's decoder cannot read
/// (400 BadRequest, the decoder's message); other kinds pass.
pub fn check_times(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    if !is_lease(rt) {
        return Ok(());
    }
    for field in MICRO_TIME_FIELDS {
        if let Some(s) = obj.pointer(&format!("/spec/{field}")).and_then(Value::as_str) {
            parse_micro_time(s).map_err(|e| {
                ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
                    kind = rt.kind,
                    version = rt.version
                ))
            })?;
        }
    }
    Ok(())
}

/// Writes a Lease's MicroTime fields in UTC with six fractional digits, as the
/// server stores them (`2024-05-01T10:00:00.000000+02:00` → `...08:00:00.000000Z`).
pub fn normalize(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in MICRO_TIME_FIELDS {
        if let Some(Value::String(s)) = spec.get_mut(field) {
            if let Ok(t) = parse_micro_time(s) {
                *s = t.to_rfc3339_opts(SecondsFormat::Micros, true);
            }
        }
    }
}

/// `ValidateLeaseSpec`: a duration, when set, is positive; transitions are not negative.
pub fn validate(obj: &Value, causes: &mut Vec<Cause>) {
    let int = |field: &str| obj.pointer(&format!("/spec/{field}")).and_then(Value::as_i64);
    if let Some(d) = int("leaseDurationSeconds").filter(|d| *d <= 0) {
        causes.push(Cause::invalid(
            "spec.leaseDurationSeconds",
            &d.to_string(),
            "must be greater than 0",
        ));
    }
    if let Some(n) = int("leaseTransitions").filter(|n| *n < 0) {
        causes.push(Cause::invalid(
            "spec.leaseTransitions",
            &n.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn micro_time_needs_six_fractional_digits() {
        assert!(parse_micro_time("2024-05-01T10:00:00.123456Z").is_ok());
        assert_eq!(
            parse_micro_time("2024-05-01T10:00:00Z").unwrap_err(),
            r#"parsing time "2024-05-01T10:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000""#
        );
        assert!(parse_micro_time("2024-05-01T10:00:00.123Z").is_err());
        assert!(parse_micro_time("yesterday")
            .unwrap_err()
            .ends_with(r#"cannot parse "yesterday" as "2006""#));
        assert!(parse_micro_time("2024-05-01T10:00:00.123456")
            .unwrap_err()
            .ends_with(r#"cannot parse "" as "Z07:00""#));
    }

    #[test]
    fn micro_times_are_stored_in_utc() {
        let mut lease = json!({"spec": {"renewTime": "2024-05-01T10:00:00.000001+02:00", "acquireTime": "2024-05-01T08:00:00.500000Z"}});
        normalize(&mut lease);
        assert_eq!(lease["spec"]["renewTime"], "2024-05-01T08:00:00.000001Z");
        assert_eq!(lease["spec"]["acquireTime"], "2024-05-01T08:00:00.500000Z");
    }

    #[test]
    fn duration_must_be_positive_and_transitions_not_negative() {
        let mut causes = Vec::new();
        validate(
            &json!({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}),
            &mut causes,
        );
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.leaseDurationSeconds", "spec.leaseTransitions"]);
        let mut causes = Vec::new();
        validate(
            &json!({"spec": {"leaseDurationSeconds": 15, "leaseTransitions": 0}}),
            &mut causes,
        );
        assert!(causes.is_empty());
    }
}
