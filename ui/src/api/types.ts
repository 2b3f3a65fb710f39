// The JSON the servers answer, as documented in docs/http-api.md.
//
// The types come from the Rust types the servers serialize: see generated.ts
// (never edited by hand; ui/README.md says how to regenerate it). A field
// marked `?` may be left out of the JSON; `| null` is sent as null.

export type {
  AppliedObject,
  CommitAnswer,
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

import type { HistoryEntry, Origin, RolloutStatus, ServiceInEnv } from './generated';

// UI-only helpers, derived from the generated types.

/** The kinds of change history tells apart. */
export type HistoryKind = HistoryEntry['kind'];

/** One value of a service's variables. */
export type Scalar = ServiceInEnv['vars'][string];

// Not generated yet: the promotion preview and the env-to-env diff (their Rust
// types in slipway-core's `preview` and `env_diff` do not derive the
// declarations yet).

/** One field that differs between two renderings; `null` where absent. */
export interface RenderedFieldDiff {
  path: string;
  before: unknown;
  after: unknown;
}

/** One object that differs between two renderings of an env's manifests. */
export interface RenderedObjectDiff {
  unit: string;
  api_version: string;
  kind: string;
  namespace?: string | null;
  name: string;
  change: 'added' | 'removed' | 'changed';
  fields: RenderedFieldDiff[];
}

/** The field-level difference of two renderings (`GET /api/diff`, a preview's `diff`). */
export interface RenderedDiff {
  objects: RenderedObjectDiff[];
  problems: { side: 'before' | 'after'; unit: string; error: string }[];
}

export interface MovePreview {
  service: string;
  old?: string | null;
  new: string;
  old_vars?: Record<string, unknown> | null;
  new_vars?: Record<string, unknown> | null;
  changelogs: { origins: Origin[]; truncated: boolean };
}

/** `GET /api/transitions/{name}/preview`: what the next promotion ships. */
export interface PromotionPreview {
  transition: string;
  source: string;
  target: string;
  commit: string;
  moves_anything: boolean;
  summary: string;
  services: MovePreview[];
  held: { service: string; reasons: string[] }[];
  diff: RenderedDiff;
}

// Preview envs (`GET /api/previews`), hand-written until slipway-core's
// `previews` types derive their declarations.

/** One preview env: what the repo says (deployers.yaml, its folder) and the deployer's status. */
export interface PreviewEnv {
  /** The short name (`pr-42`). */
  name: string;
  /** Its env and namespace (`preview-pr-42`). */
  env: string;
  cluster: string;
  namespace: string;
  /** `https://<preview_host><preview_path>`, when the aggregator has a `preview_domain`. */
  url: string | null;
  expires: string;
  source: string | null;
  /** Service → version label. */
  services: Record<string, string>;
  /** `null` until the deployer reports the env. */
  status: RolloutStatus | null;
  reason: string;
  deployed_commit: string | null;
  expired: boolean;
}

/** `POST /api/previews`. */
export interface NewPreviewRequest {
  name: string;
  from: string;
  services?: Record<string, Record<string, string>>;
  ttl?: string;
  source?: string;
}
