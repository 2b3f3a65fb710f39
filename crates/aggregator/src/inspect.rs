//! What runs, as the deployer sees it through its own cluster access:
//! `GET /api/envs/{env}/services/{service}/live|logs` and
//! `GET /api/envs/{env}/deployables/{file}/live|logs`, forwarded to the
//! deployer's `/envs/...` endpoints with the query, answered with the
//! deployer's status and body (JSON; for logs, the Server-Sent Events stream as
//! it comes, closed towards the deployer when the client goes away). Reads:
//! open, or with a token when `read_requires_token` is set (for `EventSource`,
//! which sends no headers, also as `?access_token=`).

use std::sync::Arc;

use std::collections::BTreeMap;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_core::names::validate_env_name;

use crate::app::App;
use crate::error::ApiError;
use crate::http::{counted, reader, ApiResult};

/// The last segments the deployer answers under a unit's path.
const ENDPOINTS: &[&str] = &["live", "logs", "diff"];

/// The deployer path for `/api/envs/{env}/{group}/{rest}`, after checking the names.
fn deployer_path(env: &str, group: &str, rest: &str, query: Option<&str>) -> Result<String, ApiError> {
    validate_env_name(env).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let Some((unit, what)) = rest.trim_end_matches('/').rsplit_once('/') else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: /api/envs/{env}/{group}/{rest}"),
        ));
    };
    if unit.is_empty() || !ENDPOINTS.contains(&what) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: /api/envs/{env}/{group}/{rest}"),
        ));
    }
    if group == "services" {
        slipway_core::names::validate_service_name(unit)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    } else if unit.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid deployable file {unit:?}: a path below deployable/, without empty, '.' or '..' segments"),
        ));
    }
    let mut path = format!("/envs/{env}/{group}/{unit}/{what}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        path.push('?');
        path.push_str(q);
    }
    Ok(path)
}

async fn forward(app: &App, path: &str, streaming: bool) -> ApiResult {
    let Some(deployer) = &app.deployer else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no deployer_url configured: the live view comes from the deployer",
        ));
    };
    let unreachable = |e: reqwest::Error| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "deployer unreachable at {}: {}",
                deployer.url(path),
                slipway_kit::peer::error_chain(&e)
            ),
        )
    };
    let request = if streaming {
        deployer.get_streaming(path)
    } else {
        deployer.get(path)
    };
    let answer = request.send().await.map_err(unreachable)?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    if streaming && status.is_success() {
        // Chunk by chunk as the deployer sends them; dropping the body (the client
        // went away) drops the answer, which closes the deployer's stream.
        let chunks = futures::stream::unfold(answer, |mut answer| async move {
            match answer.chunk().await {
                Ok(Some(bytes)) => Some((Ok::<_, reqwest::Error>(bytes), answer)),
                Ok(None) => None,
                Err(e) => Some((Err(e), answer)),
            }
        });
        let mut response = Response::new(axum::body::Body::from_stream(chunks));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(response);
    }
    let body = answer.bytes().await.map_err(unreachable)?;
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// The query without `access_token` (the caller's token goes no further).
fn without_access_token(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.starts_with("access_token="))
        .collect::<Vec<_>>()
        .join("&")
}

async fn unit(
    app: Arc<App>,
    mut headers: HeaderMap,
    params: BTreeMap<String, String>,
    env: String,
    group: &str,
    rest: String,
    query: Option<String>,
) -> Response {
    // EventSource cannot send headers: the token may come as `?access_token=`, as for /api/events.
    if let Some(token) = params.get("access_token") {
        if !headers.contains_key(header::AUTHORIZATION) {
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                headers.insert(header::AUTHORIZATION, value);
            }
        }
    }
    let result = async {
        reader(&app, &headers)?;
        let query = query.map(|q| without_access_token(&q));
        let path = deployer_path(&env, group, &rest, query.as_deref())?;
        forward(&app, &path, path.contains("/logs")).await
    }
    .await;
    counted(&app, result)
}

/// `GET /api/envs/{env}/diff`: the deployer's diff of the whole env.
pub async fn env_diff(State(app): State<Arc<App>>, headers: HeaderMap, Path(env): Path<String>) -> Response {
    let result = async {
        reader(&app, &headers)?;
        validate_env_name(&env).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        forward(&app, &format!("/envs/{env}/diff"), false).await
    }
    .await;
    counted(&app, result)
}

/// `GET /api/envs/{env}/services/{service}/live|logs|diff`.
pub async fn service(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((env, rest)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
    RawQuery(query): RawQuery,
) -> Response {
    unit(app, headers, params, env, "services", rest, query).await
}

/// `GET /api/envs/{env}/deployables/{file}/live|logs|diff`.
pub async fn deployable(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((env, rest)): Path<(String, String)>,
    Query(params): Query<BTreeMap<String, String>>,
    RawQuery(query): RawQuery,
) -> Response {
    unit(app, headers, params, env, "deployables", rest, query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_paths_map_to_the_deployer_and_bad_names_are_refused() {
        assert_eq!(
            deployer_path("dev", "services", "team-a/api/live", None).unwrap(),
            "/envs/dev/services/team-a/api/live"
        );
        assert_eq!(
            deployer_path("dev", "deployables", "cache/redis.yaml/live", Some("x=1")).unwrap(),
            "/envs/dev/deployables/cache/redis.yaml/live?x=1"
        );
        assert_eq!(
            deployer_path("dev", "services", "web/other", None).unwrap_err().status,
            404
        );
        assert_eq!(
            deployer_path("dev", "services", "Web/live", None).unwrap_err().status,
            400
        );
        assert_eq!(
            deployer_path("Dev", "services", "web/live", None).unwrap_err().status,
            400
        );
        assert_eq!(
            deployer_path("dev", "deployables", "../x.yaml/live", None)
                .unwrap_err()
                .status,
            400
        );
    }
}
