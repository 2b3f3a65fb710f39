//! Request bodies: JSON, or YAML where apply allows it.

use serde_json::Value;

use super::cluster::ApiResult;
use crate::status::ApiError;

pub(super) fn parse_body(bytes: &[u8], yaml_ok: bool) -> ApiResult<Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if yaml_ok => serde_yaml::from_slice::<Value>(bytes)
            .map_err(|ye| ApiError::bad_request(format!("error decoding YAML: {ye} (JSON: {e})"))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: couldn't get version/kind; json parse error: {e}"
        ))),
    }
}
