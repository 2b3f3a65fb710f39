//! The TypeScript declarations of the JSON the UI reads, generated from the
//! Rust types the servers serialize (built with the `ts` feature).
//!
//! `ui/src/api/generated.ts` is this module's output, committed; the test
//! `ui_types` fails when it no longer matches. Regenerate it with
//! `SLIPWAY_WRITE_UI_TYPES=1 cargo test -p slipway-aggregator --test ui_types`.

use slipway_core::approvals::Verdict;
use slipway_core::delivery::{Dora, EnvTimeline, Spread, Timeline, TimelineEvent};
use slipway_core::env_diff::{
    EnvDiff as RenderedDiff, FieldDiff as RenderedFieldDiff, ObjectChange, ObjectDiff as RenderedObjectDiff,
    RenderProblem,
};
use slipway_core::lineage::{Lineage, Origin};
use slipway_core::live::{
    Condition, ContainerView, DiffState, EnvDiff, EventView, FieldDiff, LiveObject, LiveView, ObjectDiff, PodView,
};
use slipway_core::preview::{Held, Move, MovePreview, PromotionPreview};
use slipway_core::previews::PreviewEntry;
use slipway_core::redeploy::{AppliedAction, AppliedObject, DeployAnswer, DeployRequest, DeployResult, EnvDeployed};
use slipway_core::status::{
    ErrorRecord, Phase, Promotion, PromotionState, PullRequestState, PullRequestStatus, ResourceStatus, RolloutStatus,
    RunAnswer, SkippedService, TransitionResult, TransitionRun, TransitionStatus, VerdictAnswer,
};
use ts_rs::{Config, TS};

use crate::history::HistoryEntry;
use crate::http::CommitAnswer;
use crate::preview::EnvDiffAnswer;
use crate::previews::PreviewView;
use crate::state::deployables::{DeployableEnvView, DeployableView};
use crate::state::view::{EnvView, ServiceEnvView, ServiceView, StateView, Upstream};

/// The path of the generated file, relative to the repository root.
pub const GENERATED_PATH: &str = "ui/src/api/generated.ts";

/// The declaration of one type, exported, with the settings the UI relies on.
pub fn declaration<T: TS + ?Sized>() -> String {
    // JSON numbers are read as `number` in the browser, whatever their Rust width.
    let cfg = Config::new().with_large_int("number");
    format!("export {}\n", T::decl(&cfg))
}

/// The whole generated file: every type behind a JSON answer the UI reads.
pub fn generated_file() -> String {
    let decls = [
        // crates/core: status of deployers and transitioners.
        declaration::<RolloutStatus>(),
        declaration::<Phase>(),
        declaration::<TransitionResult>(),
        declaration::<PromotionState>(),
        declaration::<ErrorRecord>(),
        declaration::<ResourceStatus>(),
        declaration::<Promotion>(),
        declaration::<TransitionRun>(),
        declaration::<SkippedService>(),
        declaration::<Verdict>(),
        declaration::<PullRequestState>(),
        declaration::<PullRequestStatus>(),
        declaration::<TransitionStatus>(),
        // crates/core: live views and diffs from the deployer.
        declaration::<Condition>(),
        declaration::<ContainerView>(),
        declaration::<PodView>(),
        declaration::<LiveObject>(),
        declaration::<EventView>(),
        declaration::<LiveView>(),
        declaration::<DiffState>(),
        declaration::<FieldDiff>(),
        declaration::<ObjectDiff>(),
        declaration::<EnvDiff>(),
        // crates/aggregator: `GET /api/state` and `GET /api/history`.
        declaration::<EnvView>(),
        declaration::<Upstream>(),
        declaration::<ServiceEnvView<'static>>(),
        declaration::<ServiceView<'static>>(),
        declaration::<DeployableEnvView<'static>>(),
        declaration::<DeployableView<'static>>(),
        declaration::<StateView<'static>>(),
        declaration::<Origin>(),
        declaration::<HistoryEntry>(),
        // `GET /api/transitions/{name}/preview` and `GET /api/diff`: rendered differences.
        declaration::<ObjectChange>(),
        declaration::<RenderedFieldDiff>(),
        declaration::<RenderedObjectDiff>(),
        declaration::<RenderProblem>(),
        declaration::<RenderedDiff>(),
        declaration::<Lineage>(),
        declaration::<Move>(),
        declaration::<Held>(),
        declaration::<MovePreview>(),
        declaration::<PromotionPreview>(),
        declaration::<EnvDiffAnswer>(),
        // `GET /api/timeline` and `GET /api/dora`.
        declaration::<TimelineEvent>(),
        declaration::<EnvTimeline>(),
        declaration::<Timeline>(),
        declaration::<Spread>(),
        declaration::<Dora>(),
        // `GET /api/previews`.
        declaration::<PreviewEntry>(),
        declaration::<PreviewView>(),
        // Answers to writes.
        declaration::<CommitAnswer>(),
        declaration::<RunAnswer>(),
        declaration::<VerdictAnswer>(),
        // `POST /api/deploy`.
        declaration::<DeployRequest>(),
        declaration::<DeployResult>(),
        declaration::<AppliedAction>(),
        declaration::<AppliedObject>(),
        declaration::<EnvDeployed>(),
        declaration::<DeployAnswer>(),
    ];
    let mut out = String::from(
        "// Generated from the Rust types the servers serialize (crates/aggregator/src/ui_types.rs).\n\
         // Do not edit: regenerate with\n\
         //   SLIPWAY_WRITE_UI_TYPES=1 cargo test -p slipway-aggregator --test ui_types\n",
    );
    for d in decls {
        out.push('\n');
        out.push_str(&d);
    }
    out
}
