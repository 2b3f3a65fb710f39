//! The HTTP layer: parses Kubernetes REST paths, counts requests, injects
//! faults, and answers with JSON objects, `Status` errors or watch streams.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::api::{Cluster, ListOptions, PatchType, Target, WriteOptions};
use crate::counters::Counters;
use crate::discovery;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Event, EventKind};
use crate::writes::{Write, Writes};

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// Request counters.
    pub counters: Arc<Counters>,
    /// Resources the client may not use (answered 403).
    pub denied: Arc<crate::access::DenyList>,
    /// Write requests by writer and namespace.
    pub writes: Arc<Writes>,
    /// The request header that names the writer in [`AppState::writes`] (else the field manager).
    pub writer_header: Option<String>,
    /// Ends watch streams when the server stops.
    pub cancel: CancellationToken,
    /// `host:port` the server is reachable at.
    pub address: String,
}

/// The axum router: one fallback handler that parses Kubernetes paths itself.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query parameters.
#[derive(Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or_default()
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (percent_decode(k), percent_decode(v)),
                    None => (percent_decode(p), String::new()),
                })
                .collect(),
        )
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

/// What a resource URL addresses.
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    OpenApiV2,
    OpenApiV3Root,
    OpenApiV3(String),
    Health,
    /// The simulator's own `GET|DELETE /debug/writes` (not a Kubernetes path).
    DebugWrites,
    Resource(ResourcePath),
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match s.as_slice() {
        ["version"] => return Some(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => return Some(Route::Health),
        ["debug", "writes"] => return Some(Route::DebugWrites),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["apis", g] => return Some(Route::Group(g.to_string())),
        ["openapi", "v2"] => return Some(Route::OpenApiV2),
        ["openapi", "v3"] => return Some(Route::OpenApiV3Root),
        ["openapi", "v3", rest @ ..] => return Some(Route::OpenApiV3(rest.join("/"))),
        ["api", "v1"] => return Some(Route::ResourceList(String::new(), "v1".into())),
        ["apis", g, v] => return Some(Route::ResourceList(g.to_string(), v.to_string())),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    let owned = |x: &&str| Some(x.to_string());
    let (namespace, plural, name, subresource) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => match tail {
            [] => (owned(ns), plural.to_string(), None, None),
            [name] => (owned(ns), plural.to_string(), owned(name), None),
            [name, sub] => (owned(ns), plural.to_string(), owned(name), owned(sub)),
            _ => return None,
        },
        [plural] => (None, plural.to_string(), None, None),
        [plural, name] => (None, plural.to_string(), owned(name), None),
        [plural, name, sub] => (None, plural.to_string(), owned(name), owned(sub)),
        _ => return None,
    };
    Some(Route::Resource(ResourcePath {
        group,
        version,
        namespace,
        plural,
        name,
        subresource,
    }))
}

/// The field manager of a non-apply write: `fieldManager`, else the User-Agent up to the first `/`.
fn manager_for(query: &Query, headers: &HeaderMap) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    ua.split('/').next().unwrap_or("unknown").to_string()
}

fn verb_of(method: &Method, rp: &ResourcePath, query: &Query) -> &'static str {
    match (method.as_str(), rp.name.is_some()) {
        ("GET", false) if query.flag("watch") => "watch",
        ("GET", false) => "list",
        ("GET", true) if query.flag("watch") => "watch",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "other",
    }
}

fn counter_resource(route: &Route) -> String {
    match route {
        Route::Resource(rp) => match &rp.subresource {
            Some(s) => format!("{}/{}", rp.plural, s),
            None => rp.plural.clone(),
        },
        Route::OpenApiV2 | Route::OpenApiV3Root | Route::OpenApiV3(_) => "openapi".into(),
        _ => "discovery".into(),
    }
}

/// Logs a write request in [`AppState::writes`]: every attempt, whatever its
/// answer, since a client that should not write must not even try. Lease writes
/// are left out: contending for a Lease is how writers agree on who owns what.
fn record_write(st: &AppState, rp: &ResourcePath, verb: &str, query: &Query, headers: &HeaderMap, body: &[u8]) {
    if !crate::counters::WRITE_VERBS.contains(&verb) || rp.plural == "leases" {
        return;
    }
    let namespace = match (&rp.namespace, rp.plural.as_str(), &rp.name) {
        (Some(ns), _, _) => ns.clone(),
        (None, "namespaces", Some(name)) => name.clone(),
        // A Namespace created by POST is named in its body.
        (None, "namespaces", None) if verb == "create" => {
            match serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
            {
                Some(name) => name,
                None => return,
            }
        }
        _ => return,
    };
    let named = st
        .writer_header
        .as_deref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let writer = match named {
        Some(w) => w.to_string(),
        None => manager_for(query, headers),
    };
    st.writes.record(Write {
        at: chrono::Utc::now(),
        writer,
        namespace,
        verb: verb.to_string(),
        resource: match &rp.subresource {
            Some(sub) => format!("{}/{sub}", rp.plural),
            None => rp.plural.clone(),
        },
        name: rp.name.clone(),
    });
}

/// `GET /debug/writes`: the write log as JSON; `DELETE`: empties it.
fn debug_writes(st: &AppState, method: &Method) -> Response {
    match *method {
        Method::GET => json_response(200, &st.writes.snapshot().to_json()),
        Method::DELETE => {
            st.writes.reset();
            json_response(200, &json!({"writes": [], "dropped": 0, "counts": []}))
        }
        _ => error_response(&ApiError::method_not_allowed()),
    }
}

fn inject_fault(rate: f64) -> Option<ApiError> {
    if rate <= 0.0 || rand::random::<f64>() >= rate {
        return None;
    }
    Some(match rand::random::<u8>() % 3 {
        0 => ApiError::internal("injected fault"),
        1 => ApiError::unavailable(),
        _ => ApiError::too_many_requests(),
    })
}

async fn handle(State(st): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let latency = st.cluster.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let Some(route) = route(parts.uri.path()) else {
        st.counters.record("get", "unknown");
        return page_not_found();
    };
    let query = Query::parse(parts.uri.query());
    let verb = match &route {
        Route::Resource(rp) => verb_of(&parts.method, rp, &query),
        _ => "get",
    };
    st.counters.record(verb, &counter_resource(&route));
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::bad_request("request body too large or unreadable")),
    };
    if let Route::Resource(rp) = &route {
        record_write(&st, rp, verb, &query, &parts.headers, &body);
    }
    if let Some(e) = inject_fault(st.cluster.faults.error_rate()) {
        return error_response(&e);
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Route::DebugWrites = route {
        return debug_writes(&st, &parts.method);
    }
    if parts.method != Method::GET && !matches!(route, Route::Resource(_)) {
        return error_response(&ApiError::method_not_allowed());
    }
    let reg = || st.cluster.lock().registry.clone();
    match route {
        Route::Version => json_response(200, &discovery::version()),
        Route::Health => (StatusCode::OK, "ok").into_response(),
        Route::DebugWrites => debug_writes(&st, &parts.method),
        Route::CoreVersions => json_response(200, &discovery::core_versions(&st.address)),
        Route::Groups => json_response(200, &discovery::groups(&reg())),
        Route::Group(g) => match discovery::group(&reg(), &g) {
            Some(v) => json_response(200, &v),
            None => page_not_found(),
        },
        Route::ResourceList(g, v) => match discovery::resource_list(&reg(), &g, &v) {
            Some(v) => json_response(200, &v),
            None => page_not_found(),
        },
        Route::OpenApiV2 => {
            if accept.contains("protobuf") && !accept.contains("application/json") {
                let mut r = Response::new(Body::from(discovery::openapi_v2_protobuf()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
                );
                r
            } else {
                json_response(200, &discovery::openapi_v2(&reg()))
            }
        }
        Route::OpenApiV3Root => json_response(200, &discovery::openapi_v3_root(&reg())),
        Route::OpenApiV3(p) => match discovery::openapi_v3_doc(&reg(), &p) {
            Some(v) => json_response(200, &v),
            None => page_not_found(),
        },
        Route::Resource(rp) => resource(&st, parts.method, &parts.headers, &accept, &query, rp, verb, body).await,
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    st: &AppState,
    method: Method,
    headers: &HeaderMap,
    accept: &str,
    query: &Query,
    rp: ResourcePath,
    verb: &str,
    body: Bytes,
) -> Response {
    let (served, rt) = {
        let inner = st.cluster.lock();
        (
            inner.registry.serves(&rp.group, &rp.version),
            inner.registry.get(&rp.group, &rp.version, &rp.plural),
        )
    };
    if !served {
        return page_not_found();
    }
    let Some(rt) = rt else {
        return error_response(&ApiError::unknown_resource());
    };
    if rp.namespace.is_some() && !rt.namespaced {
        return error_response(&ApiError::unknown_resource());
    }
    let refused = st.denied.check(
        &rt,
        rp.subresource.as_deref(),
        verb,
        rp.namespace.as_deref(),
        rp.name.as_deref(),
    );
    if let Some(e) = refused {
        return error_response(&e);
    }
    if rt.plural == "pods" || rt.plural == "events" {
        st.cluster.start_kubelet();
    }
    match rp.subresource.as_deref() {
        None => {}
        Some("log") if rt.plural == "pods" && rt.group.is_empty() && verb == "get" => {
            return pod_log(st, &target_of(&rt, &rp), query);
        }
        Some("status") if rt.status_subresource => {}
        Some("finalize") if rt.plural == "namespaces" => {}
        Some("scale") if crate::api::has_scale(&rt) => {
            return scale(st, headers, &target_of(&rt, &rp), verb, &body, query);
        }
        Some(_) => return error_response(&ApiError::unknown_resource()),
    }
    let target = Target {
        rt: rt.clone(),
        namespace: rp.namespace.clone(),
        name: rp.name.clone(),
        subresource: rp.subresource.clone(),
    };
    let opts = WriteOptions {
        manager: manager_for(query, headers),
        field_manager_param: query.get("fieldManager").map(str::to_string),
        force: query.flag("force"),
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
    };
    let list_opts = || -> Result<ListOptions, ApiError> {
        Ok(ListOptions {
            labels: LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
                .map_err(ApiError::bad_request)?,
            fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())
                .map_err(ApiError::bad_request)?,
            limit: query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
            continue_token: query.get("continue").filter(|c| !c.is_empty()).map(str::to_string),
        })
    };
    let wants_table = accept.contains("as=Table");
    let wants_metadata = accept.contains("as=PartialObjectMetadata");
    let c = &st.cluster;
    let result: Result<(u16, Value), ApiError> = match (verb, rp.name.is_some()) {
        ("watch", _) => {
            let mut lo = match list_opts() {
                Ok(l) => l,
                Err(e) => return error_response(&e),
            };
            if let Some(name) = &rp.name {
                lo.fields = match FieldSelector::parse(&format!("metadata.name={name}")) {
                    Ok(f) => f,
                    Err(e) => return error_response(&ApiError::bad_request(e)),
                };
            }
            let rv = query
                .get("resourceVersion")
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v > 0);
            let timeout = query
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(1800);
            let initial_bookmark = query.flag("sendInitialEvents");
            let bookmarks = query.flag("allowWatchBookmarks");
            return watch(
                st,
                &target,
                lo,
                rv,
                Duration::from_secs(timeout),
                initial_bookmark,
                bookmarks,
            );
        }
        ("list", _) => list_opts().map(|lo| {
            let list = c.list(&target, &lo);
            if wants_metadata {
                (200, metadata_list(&list))
            } else if wants_table {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                let rv = list["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (200, crate::table::table(&rt, &items, &rv))
            } else {
                (200, list)
            }
        }),
        ("get", _) => c.get(&target).map(|o| {
            if wants_metadata {
                (200, partial_metadata(&o))
            } else if wants_table {
                let rv = o
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (200, crate::table::table(&rt, std::slice::from_ref(&o), &rv))
            } else {
                (200, o)
            }
        }),
        ("create", false) => decode_object(headers, &body, &rt)
            .and_then(|b| c.create(&target, b, &opts))
            .map(|o| (201, o)),
        ("update", true) => decode_object(headers, &body, &rt)
            .and_then(|b| c.replace(&target, b, &opts))
            .map(|o| (200, o)),
        ("patch", true) => match patch_type(headers) {
            Some(PatchType::Strategic) if rt.is_custom() => Err(ApiError::unsupported_media_type()),
            Some(ty) => c.patch(&target, ty, &body, &opts),
            None => Err(ApiError::unsupported_media_type()),
        },
        ("delete", true) => delete_options(&body, query)
            .and_then(|o| c.delete(&target, &o, opts.dry_run))
            .map(|o| (200, o)),
        ("deletecollection", false) => list_opts()
            .and_then(|lo| delete_options(&body, query).map(|o| (lo, o)))
            .and_then(|(lo, o)| c.delete_collection(&target, &lo, &o, opts.dry_run))
            .map(|o| (200, o)),
        _ => Err(ApiError::method_not_allowed()),
    };
    let _ = method;
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn is_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("protobuf"))
}

/// A create or replace body: JSON, or the protobuf kubectl sends for built-in kinds.
/// Answers are JSON either way: kubectl accepts `application/json` besides protobuf.
fn decode_object(headers: &HeaderMap, body: &[u8], rt: &crate::resources::ResourceType) -> Result<Value, ApiError> {
    if !is_protobuf(headers) {
        return parse_json(body, &rt.kind);
    }
    if rt.is_custom() {
        // Custom resources have no protobuf form, on real servers either.
        return Err(ApiError::unsupported_body("custom resources have no protobuf encoding"));
    }
    crate::protobuf::decode(body).map_err(|e| match e {
        crate::protobuf::DecodeError::UnknownKind { .. } => ApiError::unsupported_body(&e.to_string()),
        e => ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): {e}",
            rt.kind
        )),
    })
}

fn target_of(rt: &Arc<crate::resources::ResourceType>, rp: &ResourcePath) -> Target {
    Target {
        rt: rt.clone(),
        namespace: rp.namespace.clone(),
        name: rp.name.clone(),
        subresource: rp.subresource.clone(),
    }
}

fn patch_type(headers: &HeaderMap) -> Option<PatchType> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match ctype.split(';').next().unwrap_or_default().trim() {
        "application/merge-patch+json" => Some(PatchType::Merge),
        "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
        "application/json-patch+json" => Some(PatchType::Json),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchType::Apply),
        _ => None,
    }
}

fn scale(st: &AppState, headers: &HeaderMap, t: &Target, verb: &str, body: &[u8], query: &Query) -> Response {
    let opts = WriteOptions {
        manager: manager_for(query, headers),
        field_manager_param: query.get("fieldManager").map(str::to_string),
        force: query.flag("force"),
        dry_run: query.get("dryRun").is_some_and(|v| v == "All"),
    };
    let result = match verb {
        "get" => st.cluster.get_scale(t),
        "update" => st.cluster.write_scale(t, None, body, &opts),
        "patch" => match patch_type(headers) {
            Some(PatchType::Apply) | None => Err(ApiError::unsupported_media_type()),
            ty => st.cluster.write_scale(t, ty, body, &opts),
        },
        _ => Err(ApiError::method_not_allowed()),
    };
    match result {
        Ok(v) => json_response(200, &v),
        Err(e) => error_response(&e),
    }
}

fn parse_json(body: &[u8], kind: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let e = if e.is_eof() { "unexpected end of JSON input".to_string() } else { e.to_string() };
        let snippet: String = String::from_utf8_lossy(body).chars().take(30).collect();
        ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {e} ({snippet} ...)"
        ))
    })
}

fn delete_options(body: &[u8], query: &Query) -> Result<Value, ApiError> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    if let Some(p) = query.get("propagationPolicy") {
        opts["propagationPolicy"] = json!(p);
    }
    Ok(opts)
}

/// Turns a store event into what a filtered watch sees (or nothing).
fn visible(ev: &Event, resource: &str, ns: Option<&str>, lo: &ListOptions) -> Option<(EventKind, Value)> {
    if ev.resource != resource {
        return None;
    }
    let object = ev.object();
    if let Some(ns) = ns {
        if object.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns) {
            return None;
        }
    }
    let matches = |o: &Value| lo.labels.matches(o) && lo.fields.matches(o);
    let now = matches(&object);
    match ev.kind {
        EventKind::Added => now.then_some((EventKind::Added, object)),
        EventKind::Deleted => now.then_some((EventKind::Deleted, object)),
        EventKind::Modified => {
            let before = ev.old().is_some_and(|o| matches(&o));
            match (before, now) {
                (true, true) => Some((EventKind::Modified, object)),
                (false, true) => Some((EventKind::Added, object)),
                (true, false) => Some((EventKind::Deleted, object)),
                (false, false) => None,
            }
        }
    }
}

fn event_line(kind: EventKind, obj: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind.as_str(), "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

struct WatchState {
    pending: VecDeque<Bytes>,
    rx: broadcast::Receiver<Arc<Event>>,
    deadline: tokio::time::Instant,
    cancel: CancellationToken,
    resource: String,
    namespace: Option<String>,
    lo: ListOptions,
    /// Every this often a BOOKMARK with the latest resourceVersion (`allowWatchBookmarks=true`).
    bookmarks: Option<Duration>,
    next_bookmark: tokio::time::Instant,
    last_rv: u64,
    kind: String,
    api_version: String,
}

/// How often watches that allow bookmarks get one (the real server sends about one a minute).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);

fn bookmark_line(kind: &str, api_version: &str, rv: u64) -> Bytes {
    let obj = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": rv.to_string()}});
    let mut line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// `PartialObjectMetadata` of an object (`Accept: ...;as=PartialObjectMetadata`).
fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// `PartialObjectMetadataList` of a list.
fn metadata_list(list: &Value) -> Value {
    let items: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(partial_metadata)
        .collect();
    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list["metadata"].clone(), "items": items})
}

/// Watch: replay from `rv` or send the current objects as ADDED (then, for
/// `sendInitialEvents=true`, the BOOKMARK that ends the initial events), then live events.
fn watch(
    st: &AppState,
    t: &Target,
    lo: ListOptions,
    rv: Option<u64>,
    timeout: Duration,
    initial_bookmark: bool,
    bookmarks: bool,
) -> Response {
    let resource = t.rt.key();
    let (pending, rx, start_rv) = {
        let inner = st.cluster.lock();
        let rx = st.cluster.subscribe();
        let mut pending = VecDeque::new();
        match rv {
            Some(rv) => match inner.events_since(&resource, rv) {
                Some(evs) => {
                    for ev in evs {
                        if let Some((k, o)) = visible(&ev, &resource, t.namespace.as_deref(), &lo) {
                            pending.push_back(event_line(k, &o));
                        }
                    }
                }
                None => {
                    let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": format!("too old resource version: {rv} ({})", inner.rv), "reason": "Expired", "code": 410});
                    // The real server ends the watch after this event; the client lists again.
                    let mut r = Response::new(Body::from(event_line_error(&gone)));
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    return r;
                }
            },
            None => {
                let objects = inner.list_where(&resource, t.namespace.as_deref(), |(ns, name), labels| {
                    lo.labels.matches_labels(labels) && lo.fields.matches_key(ns, name)
                });
                for o in objects.into_iter().filter(|o| lo.fields.matches(o)) {
                    pending.push_back(event_line(EventKind::Added, &o));
                }
                if initial_bookmark {
                    let bookmark = json!({"kind": t.rt.kind, "apiVersion": t.rt.api_version(), "metadata": {
                        "resourceVersion": inner.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                    let mut line =
                        serde_json::to_vec(&json!({"type": "BOOKMARK", "object": bookmark})).unwrap_or_default();
                    line.push(b'\n');
                    pending.push_back(Bytes::from(line));
                }
            }
        }
        (pending, rx, inner.rv)
    };
    let state = WatchState {
        pending,
        rx,
        deadline: tokio::time::Instant::now() + timeout,
        cancel: st.cancel.clone(),
        resource,
        namespace: t.namespace.clone(),
        lo,
        bookmarks: bookmarks.then_some(BOOKMARK_INTERVAL),
        next_bookmark: tokio::time::Instant::now() + BOOKMARK_INTERVAL,
        last_rv: start_rv,
        kind: t.rt.kind.clone(),
        api_version: t.rt.api_version(),
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(b) = s.pending.pop_front() {
                return Some((Ok::<Bytes, std::io::Error>(b), s));
            }
            tokio::select! {
                _ = s.cancel.cancelled() => return None,
                _ = tokio::time::sleep_until(s.deadline) => return None,
                _ = tokio::time::sleep_until(s.next_bookmark), if s.bookmarks.is_some() => {
                    s.next_bookmark += s.bookmarks.unwrap_or(BOOKMARK_INTERVAL);
                    s.pending.push_back(bookmark_line(&s.kind, &s.api_version, s.last_rv));
                }
                ev = s.rx.recv() => match ev {
                    Ok(ev) => {
                        s.last_rv = s.last_rv.max(ev.rv);
                        if let Some((k, o)) = visible(&ev, &s.resource, s.namespace.as_deref(), &s.lo) {
                            s.pending.push_back(event_line(k, &o));
                        }
                    }
                    // A watcher that fell behind is ended; clients re-list and watch again.
                    Err(_) => return None,
                },
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `GET pods/{name}/log`: the container's synthetic lines (see `logs.rs`); with
/// `follow=true` the stream stays open and sends each new line as it is written,
/// until the pod goes, the server stops or the client hangs up.
fn pod_log(st: &AppState, t: &Target, query: &Query) -> Response {
    let pod = match st.cluster.get(t) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let opts = crate::logs::LogOptions {
        container: query.get("container").filter(|c| !c.is_empty()).map(str::to_string),
        tail_lines: query.get("tailLines").and_then(|n| n.parse().ok()),
        follow: query.flag("follow"),
        timestamps: query.flag("timestamps"),
        limit_bytes: query.get("limitBytes").and_then(|n| n.parse().ok()),
        since_seconds: query.get("sinceSeconds").and_then(|n| n.parse().ok()),
    };
    let source = match crate::logs::source(&pod, opts.container.as_deref()) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let now = chrono::Utc::now();
    let first = source.first_line(&opts, now);
    let written = source.written_by(now);
    struct Follow {
        source: crate::logs::LogSource,
        next: u64,
        written: u64,
        sent: usize,
        opts: crate::logs::LogOptions,
        cluster: Arc<crate::api::Cluster>,
        target: Target,
        cancel: tokio_util::sync::CancellationToken,
    }
    let state = Follow {
        source,
        next: first,
        written,
        sent: 0,
        opts,
        cluster: st.cluster.clone(),
        target: t.clone(),
        cancel: st.cancel.clone(),
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.opts.limit_bytes.is_some_and(|limit| s.sent >= limit) {
            return None;
        }
        if s.next >= s.written {
            if !s.opts.follow {
                return None;
            }
            let at = s.source.time_of(s.next);
            let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = s.cancel.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
            // The log ends with its container: a pod that is gone, or was replaced, writes no more.
            let same = s.cluster.get(&s.target).ok().and_then(|p| {
                crate::logs::source(&p, Some(&s.source.container))
                    .ok()
                    .map(|n| n.started == s.source.started)
            });
            if same != Some(true) {
                return None;
            }
            s.written = s.source.written_by(chrono::Utc::now());
        }
        let mut line = s.source.line(s.next, s.opts.timestamps).into_bytes();
        if let Some(limit) = s.opts.limit_bytes {
            line.truncate(limit - s.sent);
        }
        s.sent += line.len();
        s.next += 1;
        Some((Ok::<Bytes, std::io::Error>(Bytes::from(line)), s))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn event_line_error(status: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": status})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_resources() {
        let Some(Route::Resource(rp)) = route("/apis/apps/v1/namespaces/ns/deployments/web/status") else {
            panic!()
        };
        assert_eq!(
            (rp.group.as_str(), rp.namespace.as_deref(), rp.plural.as_str()),
            ("apps", Some("ns"), "deployments")
        );
        assert_eq!(
            (rp.name.as_deref(), rp.subresource.as_deref()),
            (Some("web"), Some("status"))
        );
        let Some(Route::Resource(rp)) = route("/api/v1/namespaces/ns") else {
            panic!()
        };
        assert_eq!(
            (rp.plural.as_str(), rp.name.as_deref(), rp.namespace),
            ("namespaces", Some("ns"), None)
        );
        let Some(Route::Resource(rp)) = route("/api/v1/namespaces/ns/status") else {
            panic!()
        };
        assert_eq!(
            (rp.plural.as_str(), rp.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        assert!(route("/nosuchpath").is_none());
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = Query::parse(Some("labelSelector=team%3Dblue%2Ctier+in+(a)&watch=1"));
        assert_eq!(q.get("labelSelector"), Some("team=blue,tier in (a)"));
        assert!(q.flag("watch"));
    }
}
