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
    for name in [
        "export type State = ",
        "export type EnvSummary = ",
        "export type ServiceInEnv = ",
    ] {
        assert!(generated.contains(name), "{name} in\n{generated}");
    }
    // Counts are numbers in the browser, not bigint.
    assert!(!generated.contains("bigint"), "{generated}");
}

/// The fields of a declared object type: name and whether it is optional (`?`).
fn declared_fields(decl: &str) -> Vec<(String, bool)> {
    let mut text = decl.to_string();
    while let Some(start) = text.find("/**") {
        let end = text[start..].find("*/").map(|e| start + e + 2).expect("closed comment");
        text.replace_range(start..end, "");
    }
    let body = &text[text.find("= {").expect("an object type") + 3..];
    let (mut depth, mut fields, mut segment) = (0, Vec::new(), String::new());
    for c in body.chars() {
        match c {
            '{' | '[' | '<' | '(' => depth += 1,
            '}' | ']' | '>' | ')' if depth == 0 => break,
            '}' | ']' | '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                let name = segment.split(':').next().unwrap().trim().to_string();
                if !name.is_empty() {
                    let optional = name.ends_with('?');
                    fields.push((name.trim_end_matches('?').to_string(), optional));
                }
                segment.clear();
                continue;
            }
            _ => {}
        }
        segment.push(c);
    }
    fields
}

/// Every key of the JSON is declared, and every field declared without `?` is in
/// the JSON of `minimal` (a value with nothing optional set).
fn sent_as_declared<T: serde::Serialize + ts_rs::TS>(minimal: &T, full: &T) {
    let decl = declaration::<T>();
    let fields = declared_fields(&decl);
    let keys = |v: &T| -> Vec<String> {
        match serde_json::to_value(v).unwrap() {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    };
    for key in keys(full) {
        assert!(
            fields.iter().any(|(n, _)| *n == key),
            "{key} is sent but not declared in {decl}"
        );
    }
    let sent = keys(minimal);
    for (name, optional) in &fields {
        assert!(
            *optional || sent.contains(name),
            "{name} is declared as always sent but left out: {decl}"
        );
    }
}

#[test]
fn the_json_has_the_declared_fields() {
    use chrono::{DateTime, Utc};
    use slipway_core::approvals::Verdict;
    use slipway_core::live::{Condition, DiffState, EnvDiff, FieldDiff, LiveObject, ObjectDiff};
    use slipway_core::status::{
        PromotionState, PullRequestState, PullRequestStatus, ResourceStatus, RolloutStatus, RunAnswer, TransitionStatus,
    };

    let at = DateTime::<Utc>::UNIX_EPOCH;
    let text = || "x".to_string();
    sent_as_declared(
        &TransitionStatus::default(),
        &TransitionStatus {
            schedule: Some(text()),
            last_run: Some(at),
            next_scheduled: Some(at),
            state: Some(PromotionState::Pending),
            frozen_until: Some(at),
            rejected: Some(Verdict {
                by: text(),
                at,
                reason: Some(text()),
            }),
            pull_request: Some(PullRequestStatus::default()),
            ..Default::default()
        },
    );
    sent_as_declared(
        &PullRequestStatus::default(),
        &PullRequestStatus {
            host: text(),
            number: Some(7),
            url: Some(text()),
            state: Some(PullRequestState::Merged),
            error: Some(text()),
        },
    );
    let condition = Condition {
        type_: text(),
        status: text(),
        reason: String::new(),
        message: String::new(),
        last_transition_time: None,
    };
    sent_as_declared(
        &condition,
        &Condition {
            reason: text(),
            message: text(),
            last_transition_time: Some(text()),
            ..condition.clone()
        },
    );
    let object = LiveObject {
        api_version: text(),
        kind: text(),
        name: text(),
        namespace: None,
        status: None,
        reason: String::new(),
        missing: false,
        replicas: None,
        conditions: vec![],
        children: vec![],
        pods: vec![],
    };
    sent_as_declared(
        &object,
        &LiveObject {
            namespace: Some(text()),
            status: Some(RolloutStatus::Clean),
            replicas: Some(text()),
            ..object.clone()
        },
    );
    let diff = ObjectDiff {
        unit: text(),
        api_version: text(),
        kind: text(),
        name: text(),
        namespace: None,
        state: DiffState::InSync,
        fields: vec![],
        reason: String::new(),
    };
    sent_as_declared(
        &diff,
        &ObjectDiff {
            namespace: Some(text()),
            reason: text(),
            fields: vec![FieldDiff {
                path: text(),
                live: None,
                desired: text(),
            }],
            ..diff.clone()
        },
    );
    let env_diff = EnvDiff {
        env: text(),
        cluster: text(),
        namespace: text(),
        commit: text(),
        observed_at: at,
        refused: None,
        objects: vec![],
        failed: vec![],
    };
    sent_as_declared(
        &env_diff,
        &EnvDiff {
            refused: Some(text()),
            ..env_diff.clone()
        },
    );
    let resource = ResourceStatus {
        api_version: text(),
        kind: text(),
        name: text(),
        namespace: None,
        status: RolloutStatus::Failed,
        reason: String::new(),
    };
    sent_as_declared(
        &resource,
        &ResourceStatus {
            namespace: Some(text()),
            ..resource.clone()
        },
    );
    let run = RunAnswer {
        result: slipway_core::status::TransitionResult::Skipped,
        state: PromotionState::UpToDate,
        reason: String::new(),
        commit: None,
    };
    sent_as_declared(&run, &run);
    let written = slipway_aggregator::http::CommitAnswer {
        commit: text(),
        unchanged: false,
    };
    sent_as_declared(
        &written,
        &slipway_aggregator::http::CommitAnswer {
            unchanged: true,
            ..written.clone()
        },
    );
}

#[test]
fn the_field_check_sees_a_missing_ts_attribute() {
    // As if `skip_serializing_if` had been added without `ts(optional)`.
    #[derive(serde::Serialize, ts_rs::TS)]
    struct Sample {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }
    let minimal = Sample {
        name: "a".into(),
        note: None,
    };
    let full = Sample {
        name: "a".into(),
        note: Some("b".into()),
    };
    let caught = std::panic::catch_unwind(|| sent_as_declared(&minimal, &full)).unwrap_err();
    let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("note is declared as always sent"), "{message}");
}

#[test]
fn the_insight_answers_have_the_declared_fields() {
    use chrono::{DateTime, Utc};
    use slipway_aggregator::preview::EnvDiffAnswer;
    use slipway_aggregator::previews::PreviewView;
    use slipway_core::delivery::{dora, timeline, EnvTimeline, Record, TimelineEvent};
    use slipway_core::env_diff::{EnvDiff, FieldDiff, ObjectChange, ObjectDiff, RenderProblem};
    use slipway_core::lineage::{Lineage, Origin};
    use slipway_core::preview::{Held, Move, MovePreview, PromotionPreview};
    use slipway_core::previews::PreviewEntry;
    use slipway_core::status::RolloutStatus;

    let at = DateTime::<Utc>::UNIX_EPOCH;
    let text = || "x".to_string();
    let field = FieldDiff {
        path: text(),
        before: None,
        after: Some(serde_yaml::Value::from(1)),
    };
    sent_as_declared(&field, &field);
    let object = ObjectDiff {
        unit: text(),
        api_version: text(),
        kind: text(),
        namespace: None,
        name: text(),
        change: ObjectChange::Changed,
        fields: vec![field],
    };
    sent_as_declared(
        &object,
        &ObjectDiff {
            namespace: Some(text()),
            ..object.clone()
        },
    );
    let problem = RenderProblem {
        side: "after",
        unit: text(),
        error: text(),
    };
    sent_as_declared(&problem, &problem);
    let diff = EnvDiff {
        objects: vec![object],
        problems: vec![problem],
    };
    sent_as_declared(&EnvDiff::default(), &diff);
    let answer = EnvDiffAnswer {
        from: text(),
        to: text(),
        commit: text(),
        same: false,
        diff: diff.clone(),
    };
    sent_as_declared(&answer, &answer);

    let origin = Origin {
        service: text(),
        env: text(),
        commit: text(),
        author: text(),
        time: 0,
        subject: text(),
        changelog: text(),
    };
    let lineage = Lineage {
        origins: vec![origin],
        truncated: true,
    };
    sent_as_declared(&Lineage::default(), &lineage);
    let change = Move {
        service: text(),
        old: None,
        new: text(),
        old_vars: None,
        new_vars: None,
        old_content: None,
        new_content: vec![],
    };
    let vars = || Some([(text(), serde_yaml::Value::from("1"))].into_iter().collect());
    let full_move = Move {
        old: Some(text()),
        old_vars: vars(),
        new_vars: vars(),
        old_content: Some(vec![1]),
        ..change.clone()
    };
    sent_as_declared(&change, &full_move);
    let moving = MovePreview {
        change: full_move,
        changelogs: lineage,
    };
    sent_as_declared(&moving, &moving);
    let held = Held {
        service: text(),
        reasons: vec![text()],
    };
    sent_as_declared(&held, &held);
    let preview = PromotionPreview {
        transition: text(),
        source: text(),
        target: text(),
        commit: text(),
        moves_anything: false,
        summary: text(),
        services: vec![],
        held: vec![],
        diff: EnvDiff::default(),
    };
    sent_as_declared(
        &preview,
        &PromotionPreview {
            moves_anything: true,
            services: vec![moving],
            held: vec![held],
            diff,
            ..preview.clone()
        },
    );

    let record = Record::default();
    let event = TimelineEvent {
        event: "clean",
        at,
        commit: text(),
    };
    sent_as_declared(&event, &event);
    let env = EnvTimeline {
        env: text(),
        events: vec![event.clone()],
    };
    sent_as_declared(&env, &env);
    let empty = timeline(&record, "web", "1");
    let mut full = empty.clone();
    full.origin = Some(event);
    full.envs = vec![env];
    sent_as_declared(&empty, &full);
    let keys = dora(&record, "dev", None, at, at);
    let mut full = keys.clone();
    full.service = Some(text());
    full.change_failure_rate = Some(0.5);
    full.lead_time.median_seconds = Some(1.0);
    full.lead_time.p90_seconds = Some(2.0);
    sent_as_declared(&keys.lead_time, &full.lead_time);
    sent_as_declared(&keys, &full);

    let entry = PreviewEntry {
        name: text(),
        env: text(),
        cluster: text(),
        namespace: text(),
        url: None,
        expires: at,
        source: None,
        services: Default::default(),
    };
    let view = PreviewView {
        entry: entry.clone(),
        status: None,
        reason: String::new(),
        deployed_commit: None,
        expired: false,
    };
    sent_as_declared(
        &view,
        &PreviewView {
            entry: PreviewEntry {
                url: Some(text()),
                source: Some(text()),
                ..entry.clone()
            },
            status: Some(RolloutStatus::Clean),
            deployed_commit: Some(text()),
            ..view.clone()
        },
    );
    sent_as_declared(&entry, &entry);
}
