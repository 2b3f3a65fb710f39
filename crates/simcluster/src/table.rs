//! `meta.k8s.io/v1` Table output for `kubectl get` (Name, a few kind-specific columns, Age).

use serde_json::{json, Value};

use crate::resources::ResourceType;

fn column(name: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": "string", "format": format, "description": description, "priority": 0})
}

fn age(obj: &Value) -> String {
    let created = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(created) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn int(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Extra columns and their cells for a kind.
fn kind_columns(rt: &ResourceType) -> Vec<Value> {
    match rt.kind.as_str() {
        "Deployment" => vec![
            column("Ready", "", "Number of the pod with ready state"),
            column(
                "Up-to-date",
                "",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            column(
                "Available",
                "",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
        ],
        "Namespace" => vec![column("Status", "", "The status of the namespace")],
        "Pod" => vec![
            column(
                "Ready",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            column("Status", "", "The aggregate status of the containers in this pod."),
            column(
                "Restarts",
                "",
                "The number of times the containers in this pod have been restarted.",
            ),
        ],
        "ReplicaSet" => vec![
            column("Desired", "", "Number of desired pods."),
            column("Current", "", "Number of actual replicas."),
            column("Ready", "", "Number of ready replicas."),
        ],
        "Event" => vec![
            column("Type", "", "Type of this event (Normal, Warning)."),
            column(
                "Reason",
                "",
                "Short, machine understandable string that gives the reason for the transition.",
            ),
            column("Object", "", "The object this event is about."),
            column(
                "Message",
                "",
                "A human-readable description of the status of this operation.",
            ),
        ],
        "ConfigMap" | "Secret" => vec![column("Data", "", "Number of entries")],
        "Lease" => vec![column(
            "Holder",
            "",
            "holderIdentity contains the identity of the holder of a current lease.",
        )],
        _ => Vec::new(),
    }
}

fn kind_cells(rt: &ResourceType, obj: &Value) -> Vec<Value> {
    match rt.kind.as_str() {
        "Deployment" => vec![
            json!(format!(
                "{}/{}",
                int(obj, "/status/readyReplicas"),
                int(obj, "/spec/replicas")
            )),
            json!(int(obj, "/status/updatedReplicas")),
            json!(int(obj, "/status/availableReplicas")),
        ],
        "Pod" => {
            let statuses = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses.iter().filter(|s| s["ready"] == json!(true)).count();
            let restarts: i64 = statuses.iter().filter_map(|s| s["restartCount"].as_i64()).sum();
            // kubectl shows a waiting container's reason instead of the phase.
            let waiting = statuses
                .iter()
                .find_map(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str));
            let phase = obj
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending");
            vec![
                json!(format!("{ready}/{total}")),
                json!(waiting.unwrap_or(phase)),
                json!(restarts),
            ]
        }
        "ReplicaSet" => vec![
            json!(int(obj, "/spec/replicas")),
            json!(int(obj, "/status/replicas")),
            json!(int(obj, "/status/readyReplicas")),
        ],
        "Event" => {
            let (regarding, message) = if obj.get("regarding").is_some() {
                ("/regarding", "/note")
            } else {
                ("/involvedObject", "/message")
            };
            let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            vec![
                json!(s("/type")),
                json!(s("/reason")),
                json!(format!(
                    "{}/{}",
                    s(&format!("{regarding}/kind")).to_lowercase(),
                    s(&format!("{regarding}/name"))
                )),
                json!(s(message)),
            ]
        }
        "Namespace" => vec![json!(obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Active"))],
        "ConfigMap" | "Secret" => {
            let n = ["data", "binaryData"]
                .iter()
                .filter_map(|k| obj.get(*k))
                .filter_map(Value::as_object)
                .map(|m| m.len())
                .sum::<usize>();
            vec![json!(n)]
        }
        "Lease" => vec![json!(obj
            .pointer("/spec/holderIdentity")
            .and_then(Value::as_str)
            .unwrap_or_default())],
        _ => Vec::new(),
    }
}

/// A Table of `objects` (a list, or one object from a GET).
pub fn table(rt: &ResourceType, objects: &[Value], resource_version: &str) -> Value {
    let mut columns = vec![column("Name", "name", "Name must be unique within a namespace.")];
    columns.extend(kind_columns(rt));
    columns.push(column(
        "Age",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    ));
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            cells.extend(kind_cells(rt, o));
            cells.push(json!(age(o)));
            let meta = o.get("metadata").cloned().unwrap_or(json!({}));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
           "columnDefinitions": columns, "rows": rows})
}
