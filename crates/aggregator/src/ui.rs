//! The built web UI from `ui_path`, with single-page-app fallback to `index.html`,
//! or a page that says how to build it.

use std::path::PathBuf;

use axum::handler::HandlerWithoutStateExt;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::Router;
use tower_http::services::ServeDir;

const NOT_BUILT: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Slipway: web UI not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The Slipway web UI is not built</h1>
<p>The aggregator serves the UI from its <code>ui_path</code>, which holds no <code>index.html</code>.
Build it with</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>(or start everything with <code>scripts/playground</code>), then reload this page.
The API works meanwhile: <a href="/api/state">/api/state</a>.</p>
</body></html>
"#;

/// Serves files under `ui_path`; any other path gets `index.html` (or the build hint).
pub fn router(ui_path: PathBuf) -> Router {
    let index = ui_path.join("index.html");
    let spa = move || {
        let index = index.clone();
        async move {
            match tokio::fs::read(&index).await {
                Ok(bytes) => Html(bytes).into_response(),
                Err(_) => (StatusCode::OK, Html(NOT_BUILT)).into_response(),
            }
        }
    };
    Router::new().fallback_service(ServeDir::new(ui_path).fallback(spa.into_service()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_files_and_falls_back_to_index_for_app_routes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<div id=root></div>").unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/app.js"), "console.log(1)").unwrap();
        let r = router(dir.path().to_path_buf());
        assert_eq!(
            get(r.clone(), "/assets/app.js").await,
            (StatusCode::OK, "console.log(1)".into())
        );
        assert_eq!(get(r.clone(), "/services/s1").await.1, "<div id=root></div>");
        assert_eq!(get(r, "/").await.1, "<div id=root></div>");
    }

    #[tokio::test]
    async fn missing_build_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_, body) = get(router(dir.path().join("nope")), "/").await;
        assert!(body.contains("npm ci &amp;&amp; npm run build"), "{body}");
        assert!(body.contains("scripts/playground"));
    }
}
