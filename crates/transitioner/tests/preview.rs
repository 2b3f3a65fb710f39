//! `slipway-transitioner preview NAME`: the next promotion's moves, changelogs
//! and rendered field changes, written as text; nothing is committed.

mod support;

use slipway_transitioner::Config;
use support::*;

#[tokio::test]
async fn preview_prints_moves_changelogs_and_field_changes_and_writes_nothing() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/web.yaml: "image: web:1\n"
      dev/version/web.yaml: "image: web:1\n"
      dev/base/web.yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {image: '${image}'}\n"
  - message: "web 2 in latest\n\nFaster start-up\n\nSlipway-Action: version\n"
    files:
      latest/version/web.yaml: "image: web:2\n"
"#,
    );
    let head = repo.head();
    let config = Config::new(repo.url(), repo.scratch("checkout"));
    let mut out = Vec::new();
    slipway_transitioner::preview(config.clone(), "dev", false, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("latest → dev: web web:1 → web:2\n"), "{text}");
    assert!(text.contains("  vars: image: web:1 → web:2\n"), "{text}");
    assert!(text.contains(" web 2 in latest\n      Faster start-up\n"), "{text}");
    assert!(
        text.contains("  changed ConfigMap web (from web)\n    data.image: web:1 → web:2\n"),
        "{text}"
    );
    assert_eq!(repo.head(), head, "a preview commits nothing");

    let mut out = Vec::new();
    let err = slipway_transitioner::preview(config, "prod", true, &mut out)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no transition named \"prod\""), "{err}");
}
