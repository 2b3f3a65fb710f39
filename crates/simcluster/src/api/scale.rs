//! The `/scale` subresource of Deployments, StatefulSets and ReplicaSets.

use serde_json::{json, Map, Value};

use super::body::parse_body;
use super::cluster::{ApiResult, Cluster, PatchType, Target, WriteOptions};
use super::update::Scope;
use crate::merge::json_merge;
use crate::resources::ResourceType;
use crate::status::{ApiError, Cause};

impl Cluster {
    /// GET of the `/scale` subresource.
    pub fn get_scale(&self, t: &Target) -> ApiResult<Value> {
        self.get(t).map(|o| scale_of(&o))
    }

    /// PATCH or (with `ty` None) PUT of the `/scale` subresource: changes `spec.replicas`.
    pub fn write_scale(&self, t: &Target, ty: Option<PatchType>, body: &[u8], opts: &WriteOptions) -> ApiResult<Value> {
        let input = parse_body(body, false)?;
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        let mut scale = scale_of(&old);
        match ty {
            None => scale = input,
            Some(PatchType::Json) => {
                let ops: json_patch::Patch = serde_json::from_value(input)
                    .map_err(|e| ApiError::bad_request(format!("json patch is invalid: {e}")))?;
                json_patch::patch(&mut scale, &ops).map_err(|_| ApiError::invalid_request())?;
            }
            Some(_) => json_merge(&mut scale, &input),
        }
        let Some(replicas) = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .filter(|r| *r >= 0)
        else {
            return Err(ApiError::invalid_kind(
                "Scale",
                "autoscaling",
                t.name(),
                vec![Cause::invalid(
                    "spec.replicas",
                    &go_value_of(scale.pointer("/spec/replicas")),
                    "must be greater than or equal to 0",
                )],
            ));
        };
        let mut new = (*old).clone();
        new["spec"]["replicas"] = json!(replicas);
        let main = Target {
            subresource: None,
            ..t.clone()
        };
        let obj = self.update(&mut inner, &main, &old, new, &opts.manager, Scope::Main, opts.dry_run)?;
        Ok(scale_of(&obj))
    }
}

fn go_value_of(v: Option<&Value>) -> String {
    v.map(crate::validation::go_value).unwrap_or_else(|| "null".into())
}

/// Whether a resource has a `/scale` subresource.
pub fn has_scale(rt: &ResourceType) -> bool {
    rt.group == "apps" && matches!(rt.plural.as_str(), "deployments" | "statefulsets" | "replicasets")
}

/// The autoscaling/v1 Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector: Vec<String> = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let mut meta = Map::new();
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = obj.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.into(), v.clone());
        }
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
           "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
           "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector.join(",")}})
}
