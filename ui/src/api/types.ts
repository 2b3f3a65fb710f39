// The JSON the aggregator answers, as documented in docs/http-api.md.
// Fields the servers may leave out are optional; the UI reads them through `?? default`.

export type RolloutStatus = 'Clean' | 'InProgress' | 'Outdated' | 'Failed';
export type Phase = 'Received' | 'Deploying' | 'Deployed' | 'DeployFailed';
export type TransitionResult = 'Success' | 'Skipped' | 'Blocked' | 'CheckFailed';
export type Scalar = string | number | boolean | null;

export interface ErrorRecord {
  message: string;
  at: string;
}

export interface ResourceStatus {
  api_version: string;
  kind: string;
  name: string;
  namespace?: string | null;
  status: RolloutStatus;
  reason?: string;
}

export interface EnvSummary {
  name: string;
  deployed: boolean;
  cluster?: string | null;
  namespace?: string | null;
  status?: RolloutStatus | null;
  commit?: string | null;
  reason?: string;
  lock_reasons?: string[];
  last_error?: ErrorRecord | null;
}

export interface Upstream {
  env: string;
  version: string | null;
}

export interface ServiceInEnv {
  /** `""` when the version file cannot be read (then `error` says why). */
  version?: string | null;
  vars?: Record<string, Scalar>;
  status?: RolloutStatus | null;
  phase?: Phase | null;
  reason?: string;
  resources?: ResourceStatus[];
  error?: string | null;
  lock_reasons?: string[];
  upstream?: Upstream | null;
}

export interface ServiceRow {
  name: string;
  envs: Record<string, ServiceInEnv>;
}

export interface Promotion {
  service: string;
  old?: string | null;
  new: string;
}

export interface TransitionRun {
  at: string;
  commit: string;
  promotions: Promotion[];
}

export interface SkippedService {
  service: string;
  reason: string;
}

export interface TransitionStatus {
  name: string;
  source: string;
  target: string;
  manual?: boolean;
  schedule?: string | null;
  last_run?: string | null;
  result?: TransitionResult | null;
  reason?: string;
  recent_runs?: TransitionRun[];
  next_scheduled?: string | null;
  pending?: string[];
  skipped?: SkippedService[];
}

export interface State {
  commit?: string | null;
  updated_at?: string | null;
  stale?: boolean;
  stale_reasons?: string[];
  /** Problems in repo files that are no single service's (locks.yaml, deployers.yaml, transitions.yaml). */
  repo_errors?: string[];
  envs: EnvSummary[];
  services: ServiceRow[];
  transitions?: TransitionStatus[];
}

export type HistoryKind = 'version' | 'promotion' | 'rollback' | 'lock' | 'other';

export interface HistoryEntry {
  commit: string;
  author: string;
  time: string;
  message: string;
  changelog?: string | null;
  env?: string | null;
  service?: string | null;
  old?: string | null;
  new?: string | null;
  kind: HistoryKind;
  /** The original changelogs this commit brought: for a promotion, those of every version it carried, oldest first. */
  changelogs?: Origin[];
}

/** Where a version came from: the commit that brought it into the first env of its chain. */
export interface Origin {
  service: string;
  env: string;
  commit: string;
  author: string;
  /** Seconds since the epoch. */
  time: number;
  subject: string;
  changelog: string;
}

export interface CommitAnswer {
  commit: string;
  unchanged?: boolean;
}

export interface RunAnswer {
  result: TransitionResult;
  reason?: string;
  commit?: string | null;
}

/** One field that differs between two renderings; `null` where absent. */
export interface FieldDiff {
  path: string;
  before: unknown;
  after: unknown;
}

export interface ObjectDiff {
  unit: string;
  api_version: string;
  kind: string;
  namespace?: string | null;
  name: string;
  change: 'added' | 'removed' | 'changed';
  fields: FieldDiff[];
}

export interface EnvDiff {
  objects: ObjectDiff[];
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
  diff: EnvDiff;
}
