// The JSON the servers answer, as documented in docs/http-api.md.
//
// The types come from the Rust types the servers serialize: see generated.ts
// (never edited by hand; ui/README.md says how to regenerate it). A field
// marked `?` may be left out of the JSON; `| null` is sent as null.

export type {
  CommitAnswer,
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
  Phase,
  PodView,
  Promotion,
  PromotionState,
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
