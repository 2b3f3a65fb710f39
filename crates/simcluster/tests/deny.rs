//! The deny list: a resource the simulated identity may not use answers every
//! verb with the 403 a real API server's RBAC gives, and only that resource.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const INGRESSES: &str = "/apis/networking.k8s.io/v1/namespaces/default/ingresses";

#[tokio::test]
async fn a_denied_resource_answers_every_verb_with_the_rbac_refusal_until_it_is_allowed_again() {
    let sim = common::cluster().await;
    let addr = sim.addr();
    sim.deny("networking.k8s.io", "ingresses");
    let named = format!("{INGRESSES}/web");
    let apply = format!("{named}?fieldManager=test");
    let body = r#"{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"web"}}"#;
    let requests = [
        ("GET", INGRESSES.to_string(), None, "", "list", None),
        ("GET", format!("{INGRESSES}?watch=true"), None, "", "watch", None),
        ("GET", named.clone(), None, "", "get", Some("web")),
        (
            "POST",
            INGRESSES.to_string(),
            Some("application/json"),
            body,
            "create",
            None,
        ),
        (
            "PATCH",
            apply,
            Some("application/apply-patch+yaml"),
            body,
            "patch",
            Some("web"),
        ),
        ("DELETE", named.clone(), None, "", "delete", Some("web")),
    ];
    for (method, path, ctype, body, verb, name) in requests {
        let r = common::raw(addr, method, &path, ctype, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        let status = r.json();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(status["code"], 403);
        let object = match name {
            Some(n) => format!("ingresses.networking.k8s.io \"{n}\""),
            None => "ingresses.networking.k8s.io".to_string(),
        };
        assert_eq!(
            status["message"],
            format!("{object} is forbidden: User \"simcluster\" cannot {verb} resource \"ingresses\" in API group \"networking.k8s.io\" in the namespace \"default\""),
        );
        assert_eq!(status["details"]["kind"], "ingresses");
        assert_eq!(status["details"]["group"], "networking.k8s.io");
    }
    // Other resources, and discovery, are not affected.
    let cms = common::raw(addr, "GET", "/api/v1/namespaces/default/configmaps", None, "").await;
    assert_eq!(cms.status, 200);
    let group = common::raw(addr, "GET", "/apis/networking.k8s.io/v1", None, "").await;
    assert!(group.body.contains("\"ingresses\""), "{}", group.body);

    sim.allow("networking.k8s.io", "ingresses");
    assert_eq!(common::raw(addr, "GET", INGRESSES, None, "").await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_deny_flag_refuses_a_resource_from_the_start_and_rejects_what_is_not_a_resource() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-simcluster"))
        .args(["--bind", "127.0.0.1:0", "--deny", "ingresses.networking.k8s.io"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slipway-simcluster");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().trim_start_matches("http://").parse().unwrap();
    let r = common::raw(addr, "GET", INGRESSES, None, "").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 403, "{}", r.body);

    let out = Command::new(env!("CARGO_BIN_EXE_slipway-simcluster"))
        .args(["--deny", "Ingress"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RESOURCE[.GROUP]"));
}
