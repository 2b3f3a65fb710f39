//! The HTTP side of [`crate::inspect`] and [`crate::pod_logs`]:
//! `GET /envs/{env}/services/{service}/live|logs` and
//! `GET /envs/{env}/deployables/{file}/live|logs` (service names and file paths
//! may contain `/`, so the unit is everything before the last segment).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt as _;

use crate::deployer::Deployer;
use crate::inspect::split_unit_path;
use crate::pod_logs::{LogItem, LogRequest};

fn no_such_endpoint(path: &str) -> Response {
    slipway_kit::admin::error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
}

async fn unit(
    d: &Deployer,
    env: &str,
    unit: &str,
    what: &str,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    match what {
        "live" => match d.live(env, unit).await {
            Ok(view) => Json(view).into_response(),
            Err(e) => e.into_response(),
        },
        "logs" => {
            let stream = match LogRequest::parse(query) {
                Ok(req) => d.pod_log(env, unit, req).await,
                Err(e) => Err(e),
            };
            match stream {
                Ok(stream) => Sse::new(stream.map(|item| {
                    Ok::<Event, Infallible>(match item {
                        LogItem::Line(line) => Event::default().event("line").data(line),
                        LogItem::End(why) => Event::default().event("end").data(why),
                    })
                }))
                .keep_alive(KeepAlive::default())
                .into_response(),
                Err(e) => e.into_response(),
            }
        }
        "diff" => match d.diff(env, Some(unit)).await {
            Ok(diff) => Json(diff).into_response(),
            Err(e) => e.into_response(),
        },
        _ => no_such_endpoint(path),
    }
}

/// `GET /envs/{env}/diff`: live against desired for every object of the env.
pub async fn env_diff(State(d): State<Arc<Deployer>>, Path(env): Path<String>) -> Response {
    match d.diff(&env, None).await {
        Ok(diff) => Json(diff).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /envs/{env}/services/{service}/{live|logs|diff}`.
pub async fn service(
    State(d): State<Arc<Deployer>>,
    Path((env, rest)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/envs/{env}/services/{rest}");
    match split_unit_path(&rest) {
        Some((service, what)) => unit(&d, &env, service, what, &path, &query).await,
        None => no_such_endpoint(&path),
    }
}

/// `GET /envs/{env}/deployables/{file}/{live|logs|diff}` (`file` below `deployable/`, e.g. `redis.yaml`).
pub async fn deployable(
    State(d): State<Arc<Deployer>>,
    Path((env, rest)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let path = format!("/envs/{env}/deployables/{rest}");
    match split_unit_path(&rest) {
        Some((file, what)) => unit(&d, &env, &format!("deployable/{file}"), what, &path, &query).await,
        None => no_such_endpoint(&path),
    }
}
