//! The HTTP side of [`crate::inspect`]: `GET /envs/{env}/services/{service}/live`
//! and `GET /envs/{env}/deployables/{file}/live` (service names and file paths
//! may contain `/`, so the unit is everything before the last segment).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::deployer::Deployer;
use crate::inspect::split_unit_path;

fn no_such_endpoint(path: &str) -> Response {
    slipway_kit::admin::error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
}

async fn unit(d: &Deployer, env: &str, unit: &str, what: &str, path: &str) -> Response {
    match what {
        "live" => match d.live(env, unit).await {
            Ok(view) => Json(view).into_response(),
            Err(e) => e.into_response(),
        },
        _ => no_such_endpoint(path),
    }
}

/// `GET /envs/{env}/services/{service}/{live}`.
pub async fn service(State(d): State<Arc<Deployer>>, Path((env, rest)): Path<(String, String)>) -> Response {
    let path = format!("/envs/{env}/services/{rest}");
    match split_unit_path(&rest) {
        Some((service, what)) => unit(&d, &env, service, what, &path).await,
        None => no_such_endpoint(&path),
    }
}

/// `GET /envs/{env}/deployables/{file}/{live}` (`file` below `deployable/`, e.g. `redis.yaml`).
pub async fn deployable(State(d): State<Arc<Deployer>>, Path((env, rest)): Path<(String, String)>) -> Response {
    let path = format!("/envs/{env}/deployables/{rest}");
    match split_unit_path(&rest) {
        Some((file, what)) => unit(&d, &env, &format!("deployable/{file}"), what, &path).await,
        None => no_such_endpoint(&path),
    }
}
