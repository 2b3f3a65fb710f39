//! Wrong JSON types in built-in kinds are refused on every way in (create, replace,
//! server-side apply, patches) with the real server's `Status` shape, and nothing is stored.
//! Each case asserts the fields `conformance.py`'s `expect_error` compares:
//! kind, apiVersion, status, reason, code (and message where the reference wording is known).

mod common;

use common::{cluster, raw, Raw};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// The failure `Status` every error answer is: what the conformance checker's `expect_error` asserts.
fn assert_failure(r: &Raw, code: u16, reason: Option<&str>) -> Value {
    let b = r.json();
    assert_eq!(r.status, code, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        (&b["kind"], &b["apiVersion"], &b["status"], &b["code"]),
        (&json!("Status"), &json!("v1"), &json!("Failure"), &json!(code)),
        "{b}"
    );
    assert_eq!(b["reason"].as_str(), reason, "{b}");
    b
}

fn deployment(replicas: Value, port: Value) -> String {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": port}]}]}}}})
    .to_string()
}

#[tokio::test]
async fn create_with_a_bool_in_configmap_data_is_400_with_the_decoders_message() {
    let sim = cluster().await;
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":true}}"#;
    let r = raw(sim.addr(), "POST", CONFIGMAPS, Some("application/json"), body).await;
    let b = assert_failure(&r, 400, Some("BadRequest"));
    assert_eq!(
        b["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal bool into Go struct field ConfigMap.data of type string"
    );
    assert!(b.get("details").is_none(), "the decoder's 400 has no details: {b}");
    let get = raw(sim.addr(), "GET", &format!("{CONFIGMAPS}/c"), None, "").await;
    assert_eq!(get.status, 404, "nothing was stored");
    sim.shutdown().await;
}

#[tokio::test]
async fn create_refuses_each_wrong_type_naming_the_go_field() {
    let sim = cluster().await;
    let a = sim.addr();
    let before = sim.object_count();
    let cases = [
        (
            CONFIGMAPS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "binaryData": {"b": 5}}),
            "json: cannot unmarshal number into Go struct field ConfigMap.binaryData of type []uint8",
        ),
        (
            "/api/v1/namespaces/default/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"pw": 1234}}),
            "json: cannot unmarshal number into Go struct field Secret.stringData of type string",
        ),
        (
            "/api/v1/namespaces/default/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "hunter2"}}),
            "illegal base64 data at input byte 4",
        ),
        (
            CONFIGMAPS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"replicas": 3}}}),
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
        ),
        (
            CONFIGMAPS,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"on": true}}}),
            "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.annotations of type string",
        ),
        (
            DEPLOYMENTS,
            serde_json::from_str(&deployment(json!("2"), json!(80))).unwrap(),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            DEPLOYMENTS,
            serde_json::from_str(&deployment(json!(true), json!(80))).unwrap(),
            "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32",
        ),
        (
            DEPLOYMENTS,
            serde_json::from_str(&deployment(json!(2), json!("http"))).unwrap(),
            "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
        ),
        (
            DEPLOYMENTS,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"template": {"spec": {"containers": {"name": "web", "image": "nginx"}}}}}),
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container",
        ),
        (
            "/api/v1/namespaces/default/services",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "80"}]}}),
            "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32",
        ),
    ];
    for (path, body, detail) in cases {
        let r = raw(a, "POST", path, Some("application/json"), &body.to_string()).await;
        let b = assert_failure(&r, 400, Some("BadRequest"));
        let kind = body["kind"].as_str().unwrap();
        assert_eq!(
            b["message"],
            format!("{kind} in version \"v1\" cannot be handled as a {kind}: {detail}"),
            "{body}"
        );
    }
    assert_eq!(sim.object_count(), before, "nothing was stored");
    sim.shutdown().await;
}

#[tokio::test]
async fn replace_with_a_wrong_type_is_400_and_keeps_the_object() {
    let sim = cluster().await;
    let a = sim.addr();
    let good = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}"#;
    assert_eq!(
        raw(a, "POST", CONFIGMAPS, Some("application/json"), good).await.status,
        201
    );
    let bad = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":1}}"#;
    let r = raw(a, "PUT", &format!("{CONFIGMAPS}/c"), Some("application/json"), bad).await;
    let b = assert_failure(&r, 400, Some("BadRequest"));
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .ends_with("cannot unmarshal number into Go struct field ConfigMap.data of type string"),
        "{b}"
    );
    let get = raw(a, "GET", &format!("{CONFIGMAPS}/c"), None, "").await;
    assert_eq!(get.json()["data"], json!({"x": "1"}));
    sim.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_of_wrong_types_is_400_naming_every_field() {
    let sim = cluster().await;
    let path = format!("{DEPLOYMENTS}/web?fieldManager=slipway&force=true");
    let r = raw(
        sim.addr(),
        "PATCH",
        &path,
        Some("application/apply-patch+yaml"),
        &deployment(json!("2"), json!("http")),
    )
    .await;
    let b = assert_failure(&r, 400, Some("BadRequest"));
    assert_eq!(
        b["message"],
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  \
         .spec.replicas: expected numeric (int or float), got string\n  \
         .spec.template.spec.containers[name=\"web\"].ports[containerPort=\"http\"].containerPort: expected numeric (int or float), got string"
    );
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    tier: 3\n";
    let r = raw(
        sim.addr(),
        "PATCH",
        &format!("{CONFIGMAPS}/c?fieldManager=slipway"),
        Some("application/apply-patch+yaml"),
        yaml,
    )
    .await;
    let b = assert_failure(&r, 400, Some("BadRequest"));
    assert_eq!(
        b["message"],
        "failed to create typed patch object (default/c; /v1, Kind=ConfigMap): .metadata.labels.tier: expected string, got &value.valueUnstructured{Value:3}"
    );
    let get = raw(sim.addr(), "GET", &format!("{DEPLOYMENTS}/web"), None, "").await;
    assert_eq!(get.status, 404, "nothing was stored");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_kube_client_apply_of_a_wrong_manifest_fails_with_400() {
    // The deployer's path: kube's Patch::Apply of a manifest as parsed from YAML.
    let sim = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, "default");
    let manifest =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"x": true}});
    let err = api
        .patch(
            "settings",
            &PatchParams::apply("slipway").force(),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    assert!(
        status.message.contains(".data.x: expected string"),
        "{}",
        status.message
    );
    assert!(api.get_opt("settings").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_merge_patch_that_makes_a_wrong_type_is_422_on_the_field_patch() {
    let sim = cluster().await;
    let a = sim.addr();
    let good = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1"}}"#;
    assert_eq!(
        raw(a, "POST", CONFIGMAPS, Some("application/json"), good).await.status,
        201
    );
    for ctype in ["application/merge-patch+json", "application/strategic-merge-patch+json"] {
        let r = raw(
            a,
            "PATCH",
            &format!("{CONFIGMAPS}/c"),
            Some(ctype),
            r#"{"data":{"x":2}}"#,
        )
        .await;
        let b = assert_failure(&r, 422, Some("Invalid"));
        let message = b["message"].as_str().unwrap();
        assert!(
            message.starts_with(" \"\" is invalid: patch: Invalid value: \""),
            "{message}"
        );
        assert!(
            message.ends_with("json: cannot unmarshal number into Go struct field ConfigMap.data of type string"),
            "{message}"
        );
        assert_eq!(b["details"]["causes"][0]["field"], "patch");
        assert_eq!(b["details"]["causes"][0]["reason"], "FieldValueInvalid");
    }
    let json_patch = r#"[{"op":"replace","path":"/data/x","value":false}]"#;
    let r = raw(
        a,
        "PATCH",
        &format!("{CONFIGMAPS}/c"),
        Some("application/json-patch+json"),
        json_patch,
    )
    .await;
    assert_failure(&r, 422, Some("Invalid"));
    let get = raw(a, "GET", &format!("{CONFIGMAPS}/c"), None, "").await;
    assert_eq!(get.json()["data"], json!({"x": "1"}), "the object is unchanged");
    sim.shutdown().await;
}
