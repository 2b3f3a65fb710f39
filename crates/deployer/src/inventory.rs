//! The inventory: which objects Slipway applied for an env. Only objects in it
//! are ever pruned. It lives in the cluster, in a ConfigMap in the env's
//! namespace, so that it survives restarts and follows the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slipway_core::Unit;
use thiserror::Error;

use crate::object::{ObjectKey, MANAGED_BY_LABEL, MANAGER};

/// Key of the ConfigMap's data that holds the entries.
const DATA_KEY: &str = "objects.json";

/// Name of the inventory ConfigMap of an env.
pub fn inventory_name(env: &str) -> String {
    format!("slipway-inventory-{env}")
}

/// One applied object and the unit it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    #[serde(flatten)]
    pub key: ObjectKey,
    pub api_version: String,
    pub unit: Unit,
    /// The object existed before Slipway applied it (it was adopted): when it
    /// leaves the repo it is released rather than deleted, unless the env has
    /// `prune_adopted: true`. Absent in inventories stored before adoption
    /// existed, and written only when set, so older deployers read new ones too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

/// The objects applied for an env.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub entries: BTreeMap<ObjectKey, InventoryEntry>,
}

/// The inventory ConfigMap could not be read.
#[derive(Debug, Error)]
#[error("inventory ConfigMap {name} is unreadable ({message}); fix or delete it (nothing is pruned meanwhile)")]
pub struct InventoryError {
    pub name: String,
    pub message: String,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds (or replaces) an entry.
    pub fn insert(&mut self, entry: InventoryEntry) {
        self.entries.insert(entry.key.clone(), entry);
    }

    /// Reads the inventory from its ConfigMap (as JSON).
    pub fn from_config_map(env: &str, cm: &Value) -> Result<Self, InventoryError> {
        let err = |message: String| InventoryError {
            name: inventory_name(env),
            message,
        };
        let Some(text) = cm.pointer(&format!("/data/{}", DATA_KEY.replace('/', "~1"))) else {
            return Ok(Inventory::default());
        };
        let text = text
            .as_str()
            .ok_or_else(|| err(format!("data.{DATA_KEY} is not a string")))?;
        let list: Vec<InventoryEntry> = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        Ok(Inventory {
            entries: list.into_iter().map(|e| (e.key.clone(), e)).collect(),
        })
    }

    /// The ConfigMap manifest that stores this inventory (for server-side apply).
    pub fn to_config_map(&self, env: &str, namespace: &str) -> Value {
        let list: Vec<&InventoryEntry> = self.entries.values().collect();
        let text = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_string());
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": inventory_name(env),
                "namespace": namespace,
                // No env label: the inventory is not one of the env's objects and
                // must never show up as a prune candidate.
                "labels": {MANAGED_BY_LABEL: MANAGER, "slipway.dev/inventory-of": env},
            },
            "data": {DATA_KEY: text},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ENV_LABEL;

    fn entry(name: &str) -> InventoryEntry {
        InventoryEntry {
            key: ObjectKey {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: Some("dev".into()),
                name: name.into(),
            },
            api_version: "apps/v1".into(),
            unit: Unit::Service("team-a/api".into()),
            adopted: false,
        }
    }

    #[test]
    fn inventory_round_trips_through_its_config_map() {
        let mut inv = Inventory::default();
        inv.insert(entry("a"));
        inv.insert(entry("b"));
        let cm = inv.to_config_map("dev", "dev-ns");
        assert_eq!(cm["metadata"]["name"], "slipway-inventory-dev");
        assert_eq!(cm["metadata"]["namespace"], "dev-ns");
        assert!(cm["metadata"]["labels"].get(ENV_LABEL).is_none());
        assert_eq!(Inventory::from_config_map("dev", &cm).unwrap(), inv);
    }

    #[test]
    fn the_adopted_flag_is_stored_only_when_set_and_older_inventories_read_as_not_adopted() {
        let mut inv = Inventory::default();
        inv.insert(entry("plain"));
        inv.insert(InventoryEntry {
            adopted: true,
            ..entry("adopted")
        });
        let cm = inv.to_config_map("dev", "dev");
        let text = cm["data"][DATA_KEY].as_str().unwrap();
        assert_eq!(text.matches("adopted\": true").count(), 1, "{text}");
        assert_eq!(Inventory::from_config_map("dev", &cm).unwrap(), inv);
        // As stored by a deployer without adoption.
        let old = json!({"data": {DATA_KEY: r#"[{"group":"apps","kind":"Deployment","namespace":"dev","name":"a","api_version":"apps/v1","unit":{"type":"service","name":"team-a/api"}}]"#}});
        let read = Inventory::from_config_map("dev", &old);
        let read = read.unwrap();
        assert!(!read.entries.values().next().unwrap().adopted);
    }

    #[test]
    fn a_config_map_without_data_is_an_empty_inventory_and_garbage_is_an_error() {
        assert!(Inventory::from_config_map("dev", &json!({"data": {}}))
            .unwrap()
            .is_empty());
        let err = Inventory::from_config_map("dev", &json!({"data": {DATA_KEY: "not json"}})).unwrap_err();
        assert!(err.to_string().contains("slipway-inventory-dev"));
    }
}
