//! Resources the simulated identity may not use: a deny list that tests change
//! at run time, so that a client meets the refusal a real API server's RBAC
//! gives (`403 Forbidden`, for every verb on the resource) without the
//! simulator implementing roles and bindings.

use std::collections::BTreeSet;
use std::sync::RwLock;

use serde_json::{json, Map};

use crate::resources::ResourceType;
use crate::status::ApiError;

/// The user the simulator's kubeconfig names, as the refusals name it.
pub const USER: &str = "simcluster";

/// Denied resources, by `(group, plural)`.
#[derive(Debug, Default)]
pub struct DenyList(RwLock<BTreeSet<(String, String)>>);

impl DenyList {
    /// Every request on `resource` (a plural, e.g. `ingresses`) of `group` (empty for the core group) is refused.
    pub fn deny(&self, group: &str, resource: &str) {
        self.write().insert((group.to_string(), resource.to_string()));
    }

    /// Requests on the resource are allowed again.
    pub fn allow(&self, group: &str, resource: &str) {
        self.write().remove(&(group.to_string(), resource.to_string()));
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<(String, String)>> {
        // The set is valid after any panic that poisoned the lock.
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The refusal of `verb` on the resource of `rt` (a subresource included),
    /// in `namespace` (or at the cluster scope), on the object `name` if one
    /// is named; `None` when the resource is allowed.
    pub fn check(
        &self,
        rt: &ResourceType,
        subresource: Option<&str>,
        verb: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Option<ApiError> {
        let denied = self.0.read().unwrap_or_else(|p| p.into_inner());
        if !denied.contains(&(rt.group.clone(), rt.plural.clone())) {
            return None;
        }
        drop(denied);
        let resource = match subresource {
            Some(sub) => format!("{}/{sub}", rt.plural),
            None => rt.plural.clone(),
        };
        let what = match name {
            Some(n) => format!("{} \"{n}\"", rt.qualified_plural()),
            None => rt.qualified_plural(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let mut details = Map::new();
        if let Some(n) = name {
            details.insert("name".into(), json!(n));
        }
        if !rt.group.is_empty() {
            details.insert("group".into(), json!(rt.group));
        }
        details.insert("kind".into(), json!(rt.plural));
        Some(ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!(
                "{what} is forbidden: User \"{USER}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
                rt.group
            ),
            details: Some(details.into()),
            retry_after: None,
        })
    }
}

/// `RESOURCE[.GROUP]` (as `kubectl` names resources: `ingresses.networking.k8s.io`,
/// `configmaps`) as `(group, resource)`.
pub fn parse_resource(text: &str) -> Result<(String, String), String> {
    let (resource, group) = text.split_once('.').unwrap_or((text, ""));
    let plausible = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    if !plausible(resource) || !(group.is_empty() || plausible(group)) {
        return Err(format!(
            "{text:?} is not RESOURCE[.GROUP] (a lower-case plural, e.g. ingresses.networking.k8s.io or configmaps)"
        ));
    }
    Ok((group.to_string(), resource.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn a_denied_resource_is_refused_like_the_real_rbac_refusal_and_allowed_again() {
        let reg = Registry::default();
        let secrets = reg.get("", "v1", "secrets").unwrap();
        let deny = DenyList::default();
        assert!(deny.check(&secrets, None, "list", Some("ref"), None).is_none());
        deny.deny("", "secrets");
        let e = deny.check(&secrets, None, "list", Some("ref"), None).unwrap();
        // As /work/shared/k8s-reference/03w-error-forbidden-rbac-403.json, for this user.
        let status = e.to_status();
        assert_eq!(status["code"], 403);
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(
            status["message"],
            "secrets is forbidden: User \"simcluster\" cannot list resource \"secrets\" in API group \"\" in the namespace \"ref\""
        );
        assert_eq!(status["details"], json!({"kind": "secrets"}));
        deny.allow("", "secrets");
        assert!(deny.check(&secrets, None, "list", Some("ref"), None).is_none());
    }

    #[test]
    fn refusals_name_the_object_the_verb_the_group_and_the_scope() {
        let reg = Registry::default();
        let ingresses = reg.get("networking.k8s.io", "v1", "ingresses").unwrap();
        let namespaces = reg.get("", "v1", "namespaces").unwrap();
        let deny = DenyList::default();
        deny.deny("networking.k8s.io", "ingresses");
        deny.deny("", "namespaces");
        let e = deny.check(&ingresses, None, "patch", Some("dev"), Some("web")).unwrap();
        assert_eq!(
            e.message,
            "ingresses.networking.k8s.io \"web\" is forbidden: User \"simcluster\" cannot patch resource \"ingresses\" in API group \"networking.k8s.io\" in the namespace \"dev\""
        );
        assert_eq!(
            e.details,
            Some(json!({"name": "web", "group": "networking.k8s.io", "kind": "ingresses"}))
        );
        let e = deny
            .check(&namespaces, Some("status"), "get", None, Some("dev"))
            .unwrap();
        assert!(e
            .message
            .ends_with("cannot get resource \"namespaces/status\" in API group \"\" at the cluster scope"));
    }

    #[test]
    fn resources_parse_as_kubectl_names_them() {
        assert_eq!(
            parse_resource("ingresses.networking.k8s.io").unwrap(),
            ("networking.k8s.io".to_string(), "ingresses".to_string())
        );
        assert_eq!(
            parse_resource("configmaps").unwrap(),
            (String::new(), "configmaps".to_string())
        );
        assert!(parse_resource("Ingress").is_err());
        assert!(parse_resource("").is_err());
    }
}
