//! `GET /api/transitions/{name}/preview` and `GET /api/diff`: what the next
//! promotion ships (moves, changelogs, the target's rendered field changes).

mod support;

use serde_json::Value;
use support::*;

const BASE: &str = r#"
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - {name: web, image: "${image}"}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: web-config}
        data: ${config}
"#;

fn repo_yaml() -> String {
    format!(
        r#"
commits:
  - message: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {{source: latest, target: dev}}
          pp: {{source: dev, target: pp}}
      latest/version/web.yaml: "{{version: '1', image: 'web:1', config: {{LOG_LEVEL: info}}}}\n"
      dev/version/web.yaml: "{{version: '1', image: 'web:1', config: {{LOG_LEVEL: info}}}}\n"
      pp/version/web.yaml: "{{version: '1', image: 'web:1', config: {{LOG_LEVEL: info}}}}\n"
      dev/base/web.yaml: |{BASE}
      pp/base/web.yaml: |{BASE}
      pp/deployable/quota.yaml: "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: pp}}\n"
"#
    )
}

const V2: &str = "{version: '2', image: 'web:2', config: {LOG_LEVEL: info, FEATURE_X: 'on'}}\n";

fn promotion(source: &str, target: &str, name: &str) -> String {
    format!("Promote {source} → {target}: web 1 → 2\n\nweb: 1 → 2\n\nSlipway-Action: promotion\nSlipway-Transition: {name}\nSlipway-Env: {target}\n")
}

/// `(kind, name, change, [field paths])` of a diff.
fn objects(diff: &Value) -> Vec<(String, String, String, Vec<String>)> {
    diff["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("objects in {diff}"))
        .iter()
        .map(|o| {
            let fields = o["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_string());
            (
                o["kind"].as_str().unwrap().to_string(),
                o["name"].as_str().unwrap().to_string(),
                o["change"].as_str().unwrap().to_string(),
                fields.collect(),
            )
        })
        .collect()
}

async fn at_head(h: &Harness) {
    eventually("the new head is fetched", || async {
        h.state().await["commit"].as_str() == h.repo.head().as_deref()
    })
    .await;
}

#[tokio::test]
async fn preview_lists_exactly_the_changed_fields_and_the_changelogs_then_nothing_after_the_promotion() {
    let h = Harness::start(&repo_yaml()).await;
    let origin = h
        .repo
        .commit(
            "web 2 in latest\n\nNew image and the FEATURE_X flag\n",
            &[("latest/version/web.yaml", Some(V2))],
        )
        .unwrap();
    h.repo
        .commit(
            &promotion("latest", "dev", "dev"),
            &[("dev/version/web.yaml", Some(V2))],
        )
        .unwrap();
    at_head(&h).await;

    let (status, preview) = h.send("GET", "/api/transitions/pp/preview", None, None).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["moves_anything"], true);
    assert_eq!(
        (preview["source"].as_str(), preview["target"].as_str()),
        (Some("dev"), Some("pp"))
    );
    let services = preview["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{preview}");
    let web = &services[0];
    assert_eq!(
        (web["service"].as_str(), web["old"].as_str(), web["new"].as_str()),
        (Some("web"), Some("1"), Some("2"))
    );
    assert_eq!(web["new_vars"]["image"], "web:2");
    assert_eq!(web["old_vars"]["image"], "web:1");
    let origins = web["changelogs"]["origins"].as_array().unwrap();
    assert_eq!(origins.len(), 1, "{web}");
    assert_eq!(origins[0]["commit"], origin.as_str());
    assert_eq!(origins[0]["env"], "latest");
    assert_eq!(origins[0]["changelog"], "New image and the FEATURE_X flag");

    // Exactly the two field changes, on the right objects; the deployable is unchanged.
    let diff = &preview["diff"];
    assert_eq!(
        objects(diff),
        vec![
            (
                "ConfigMap".into(),
                "web-config".into(),
                "changed".into(),
                vec!["data.FEATURE_X".into()]
            ),
            (
                "Deployment".into(),
                "web".into(),
                "changed".into(),
                vec!["spec.template.spec.containers[0].image".into()]
            ),
        ]
    );
    let fields = |i: usize| diff["objects"][i]["fields"][0].clone();
    assert_eq!(
        (fields(0)["before"].clone(), fields(0)["after"].clone()),
        (Value::Null, Value::from("on"))
    );
    assert_eq!(
        (fields(1)["before"].clone(), fields(1)["after"].clone()),
        (Value::from("web:1"), Value::from("web:2"))
    );

    // The same difference between the envs themselves.
    let (status, env_diff) = h.send("GET", "/api/diff?from=pp&to=dev", None, None).await;
    assert_eq!(status, 200, "{env_diff}");
    assert_eq!(env_diff["same"], false);
    let between = objects(&env_diff);
    assert!(
        between.contains(&("ResourceQuota".into(), "pp".into(), "removed".into(), vec![])),
        "{env_diff}"
    );
    assert_eq!(between.len(), 3, "the two changes and pp's own deployable: {env_diff}");

    h.repo
        .commit(&promotion("dev", "pp", "pp"), &[("pp/version/web.yaml", Some(V2))])
        .unwrap();
    at_head(&h).await;
    let (_, preview) = h.send("GET", "/api/transitions/pp/preview", None, None).await;
    assert_eq!(preview["moves_anything"], false, "{preview}");
    assert!(
        preview["summary"].as_str().unwrap().starts_with("nothing would move"),
        "{preview}"
    );
    assert_eq!(preview["services"], Value::Array(vec![]));
    assert_eq!(preview["diff"]["objects"], Value::Array(vec![]));
    h.stop().await;
}

#[tokio::test]
async fn preview_and_diff_refuse_unknown_names_with_json_errors() {
    let h = Harness::start(&repo_yaml()).await;
    let (status, body) = h.send("GET", "/api/transitions/nope/preview", None, None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("dev, pp"), "{body}");
    assert_eq!(h.send("GET", "/api/transitions/b%20d/preview", None, None).await.0, 400);
    let (status, body) = h.send("GET", "/api/diff?from=dev", None, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("to"), "{body}");
    assert_eq!(h.send("GET", "/api/diff?from=dev&to=nope", None, None).await.0, 404);
    assert_eq!(h.send("GET", "/api/diff?from=dev&to=pp&x=1", None, None).await.0, 400);
    let (status, same) = h.send("GET", "/api/diff?from=dev&to=dev", None, None).await;
    assert_eq!((status, same["same"].clone()), (200, Value::Bool(true)));
    h.stop().await;
}
