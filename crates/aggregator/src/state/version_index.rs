//! Parsed version files of a snapshot, by env and service, reused while a file's
//! bytes stay the same: both the view and the encoder read them, and parsing
//! thousands of files on every change would dominate the cost of a state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use slipway_core::merge::{parse_vars, Vars};
use slipway_core::RepoSnapshot;

/// A parsed version file, or why it cannot be read.
pub type ParsedVars = Arc<Result<Vars, String>>;

/// Parsed version files by env and service.
pub type VersionIndex = BTreeMap<String, BTreeMap<String, ParsedVars>>;

/// Parses version files, reusing the result for files whose bytes did not change.
#[derive(Debug, Default)]
pub struct VersionCache {
    entries: HashMap<String, (Vec<u8>, ParsedVars)>,
}

impl VersionCache {
    /// Every version file of the snapshot, parsed.
    pub fn index(&mut self, snapshot: &RepoSnapshot) -> VersionIndex {
        let mut out = VersionIndex::new();
        let mut old = std::mem::take(&mut self.entries);
        for env in snapshot.envs() {
            let files = snapshot.env_files(&env);
            let mut services = BTreeMap::new();
            for (service, path) in files.versions {
                let bytes = snapshot.files.get(&path).map(|c| &c[..]).unwrap_or_default();
                let entry = match old.remove(&path) {
                    Some(entry) if entry.0 == bytes => entry,
                    _ => {
                        let parsed = std::str::from_utf8(bytes)
                            .map_err(|_| format!("{path}: not UTF-8 text"))
                            .and_then(|text| parse_vars(&path, text).map_err(|e| e.to_string()));
                        (bytes.to_vec(), Arc::new(parsed))
                    }
                };
                services.insert(service, entry.1.clone());
                self.entries.insert(path, entry);
            }
            if !services.is_empty() {
                out.insert(env, services);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixture::snap;

    #[test]
    fn version_cache_reuses_unchanged_files() {
        let s = snap();
        let mut cache = VersionCache::default();
        let a = cache.index(&s);
        let b = cache.index(&s);
        assert!(Arc::ptr_eq(&a["dev"]["s1"], &b["dev"]["s1"]));
    }
}
