//! Reads: get and list (selectors, pagination with continue tokens).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::cluster::{ApiResult, Cluster, ListOptions, Target};
use crate::status::ApiError;

impl Cluster {
    /// GET of one object.
    pub fn get(&self, t: &Target) -> ApiResult<Value> {
        let inner = self.lock();
        inner
            .get(&t.rt.key(), t.ns(), t.name())
            .map(|o| (*o).clone())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))
    }

    /// LIST with selectors and pagination.
    pub fn list(&self, t: &Target, opts: &ListOptions) -> Value {
        let inner = self.lock();
        let all = inner.list_where(&t.rt.key(), t.namespace.as_deref(), |(ns, name), labels| {
            opts.labels.matches_labels(labels) && opts.fields.matches_key(ns, name)
        });
        let mut rv = inner.rv;
        let mut all = all;
        if opts.fields.needs_object() {
            all.retain(|o| opts.fields.matches(o));
        }
        // Parsing is done; the lock is not needed to shape the answer.
        drop(inner);
        let mut items: Vec<Arc<Value>> = all;
        if let Some(tok) = &opts.continue_token {
            let (list_rv, after) = decode_continue(tok);
            items.retain(|o| crate::store::object_key(o) > after);
            // Every page of a list answers with the version of its first page, as a
            // real server's paginated list does: a client that watches from there
            // sees every change made while it read the later pages (pages are read
            // from the current objects, so some events may come twice, never none).
            rv = list_rv.unwrap_or(rv);
        }
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if opts.limit > 0 && items.len() > opts.limit {
            let rest = items.len() - opts.limit;
            items.truncate(opts.limit);
            let last = crate::store::object_key(&items[items.len() - 1]);
            metadata["continue"] = json!(encode_continue(rv, &last));
            metadata["remainingItemCount"] = json!(rest);
        }
        let custom = t.rt.is_custom();
        let items: Vec<Value> = items
            .into_iter()
            .map(|o| {
                // Each Arc was just created by the store, so this normally moves instead of cloning.
                let mut v = Arc::try_unwrap(o).unwrap_or_else(|shared| (*shared).clone());
                if !custom {
                    if let Some(m) = v.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                }
                v
            })
            .collect();
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(), "metadata": metadata, "items": items})
    }

    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.lock().len()
    }

    /// One object, parsed.
    pub fn lookup(&self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().get(resource, ns, name)
    }
}

/// Continue tokens are opaque to clients; URL-safe base64 keeps them intact in a
/// query string. A token holds the list's version and the key of the last object sent.
fn encode_continue(rv: u64, key: &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{rv}\u{0}{}\u{0}{}", key.0, key.1))
}

/// The list's version and the key a continue token resumes after; a token that
/// does not decode resumes from the start, at the current version.
fn decode_continue(tok: &str) -> (Option<u64>, (String, String)) {
    let bytes = URL_SAFE_NO_PAD.decode(tok).unwrap_or_default();
    let s = String::from_utf8_lossy(&bytes);
    let mut parts = s.splitn(3, '\u{0}');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(rv), Some(ns), Some(name)) => (rv.parse().ok(), (ns.to_string(), name.to_string())),
        _ => (None, (String::new(), String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_carry_the_lists_version_and_the_last_key() {
        let k = ("ns".to_string(), "name-1".to_string());
        assert_eq!(decode_continue(&encode_continue(42, &k)), (Some(42), k));
        assert_eq!(decode_continue("not a token"), (None, (String::new(), String::new())));
    }
}
