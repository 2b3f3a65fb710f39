// The JSON the servers answer, as documented in docs/http-api.md.
//
// The types come from the Rust types the servers serialize: see generated.ts
// (never edited by hand; ui/README.md says how to regenerate it). A field
// marked `?` may be left out of the JSON; `| null` is sent as null.

export type {
  AppliedObject,
  CommitAnswer,
  Dora,
  EnvDiffAnswer,
  EnvTimeline,
  Held,
  Lineage,
  Move,
  MovePreview,
  ObjectChange,
  PreviewEntry,
  PreviewEnv,
  PromotionPreview,
  RenderedDiff,
  RenderedFieldDiff,
  RenderedObjectDiff,
  RenderProblem,
  Spread,
  Timeline,
  TimelineEvent,
  DeployAnswer,
  EnvDeployed,
  Condition,
  ContainerView,
  DeployableInEnv,
  DeployableRow,
  DiffState,
  EnvDiff,
  EnvSummary,
  ErrorRecord,
  EventView,
  FieldDiff,
  HistoryEntry,
  LiveObject,
  LiveView,
  ObjectDiff,
  Origin,
  Phase,
  PodView,
  Promotion,
  PromotionState,
  PullRequestState,
  PullRequestStatus,
  ResourceStatus,
  RolloutStatus,
  RunAnswer,
  ServiceInEnv,
  ServiceRow,
  SkippedService,
  State,
  TransitionResult,
  TransitionRun,
  TransitionStatus,
  Upstream,
  Verdict,
  VerdictAnswer,
} from './generated';

import type { HistoryEntry, ServiceInEnv } from './generated';

// UI-only helpers, derived from the generated types.

/** The kinds of change history tells apart. */
export type HistoryKind = HistoryEntry['kind'];

/** One value of a service's variables. */
export type Scalar = ServiceInEnv['vars'][string];

// Requests are not generated: the aggregator reads their JSON field by field.

/** `POST /api/previews`. */
export interface NewPreviewRequest {
  name: string;
  from: string;
  services?: Record<string, Record<string, string>>;
  ttl?: string;
  source?: string;
}
