//! `ui/src/api/generated.ts` is what the Rust types generate: the UI reads the
//! JSON the servers really send.

use std::path::{Path, PathBuf};

use slipway_aggregator::ui_types::{declaration, generated_file, GENERATED_PATH};

const REGENERATE: &str = "SLIPWAY_WRITE_UI_TYPES=1 cargo test -p slipway-aggregator --test ui_types";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Ok when the committed text is the generated one, else the message to show.
fn compare(path: &str, committed: Option<&str>, generated: &str) -> Result<(), String> {
    match committed {
        None => Err(format!("{path} is missing; generate it with `{REGENERATE}`")),
        Some(c) if c == generated => Ok(()),
        Some(c) => {
            let line = c
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| c.lines().count().min(generated.lines().count()))
                + 1;
            Err(format!(
                "{path} has drifted from the Rust types (first difference at line {line}); \
                 regenerate it with `{REGENERATE}` and commit it"
            ))
        }
    }
}

#[test]
fn committed_ui_types_match_the_rust_types() {
    let generated = generated_file();
    let file = repo_root().join(GENERATED_PATH);
    if std::env::var_os("SLIPWAY_WRITE_UI_TYPES").is_some() {
        std::fs::write(&file, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&file).ok();
    if let Err(message) = compare(GENERATED_PATH, committed.as_deref(), &generated) {
        panic!("{message}");
    }
}

#[test]
fn a_changed_type_is_reported_as_drift() {
    let generated = generated_file();
    // A field the server no longer sends, as if a Rust field had been removed.
    let changed = generated.replacen("stale_reasons: Array<string>, ", "", 1);
    assert_ne!(changed, generated, "the state declares stale_reasons");
    let err = compare(GENERATED_PATH, Some(&changed), &generated).unwrap_err();
    assert!(err.contains(GENERATED_PATH), "{err}");
    assert!(err.contains(REGENERATE), "{err}");
    let err = compare(GENERATED_PATH, None, &generated).unwrap_err();
    assert!(err.contains("missing"), "{err}");
    assert_eq!(compare(GENERATED_PATH, Some(&generated), &generated), Ok(()));
}

#[test]
fn a_changed_rust_field_changes_the_declaration() {
    #[derive(serde::Serialize, ts_rs::TS)]
    #[ts(rename = "Sample")]
    struct Before {
        name: String,
    }
    #[derive(serde::Serialize, ts_rs::TS)]
    #[ts(rename = "Sample")]
    struct After {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        note: Option<String>,
    }
    let before = declaration::<Before>();
    let after = declaration::<After>();
    assert_ne!(before, after);
    assert!(after.contains("note?: string"), "{after}");
}

#[test]
fn declarations_follow_the_serde_attributes() {
    let generated = generated_file();
    // `#[serde(rename = "type")]`, and empty strings left out of the JSON.
    let condition = declaration::<slipway_core::live::Condition>();
    assert!(condition.contains("type: string"), "{condition}");
    assert!(condition.contains("reason?: string"), "{condition}");
    // `#[serde(rename_all = "snake_case")]` on an enum of unit variants.
    let diff_state = declaration::<slipway_core::live::DiffState>();
    assert!(diff_state.contains("\"in_sync\""), "{diff_state}");
    // Options that are always sent are nullable, those skipped when none are optional.
    let status = declaration::<slipway_core::status::TransitionStatus>();
    assert!(status.contains("state?: PromotionState"), "{status}");
    let env = declaration::<slipway_aggregator::state::EnvView>();
    assert!(env.contains("cluster: string | null"), "{env}");
    // The names the UI uses.
    for name in ["export type State = ", "export type EnvSummary = ", "export type ServiceInEnv = "] {
        assert!(generated.contains(name), "{name} in\n{generated}");
    }
    // Counts are numbers in the browser, not bigint.
    assert!(!generated.contains("bigint"), "{generated}");
}
