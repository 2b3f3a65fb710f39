// The JSON the aggregator answers, as documented in docs/http-api.md.
// Fields the servers may leave out are optional; the UI reads them through `?? default`.

export type RolloutStatus = 'Clean' | 'InProgress' | 'Outdated' | 'Failed';
export type Phase = 'Received' | 'Deploying' | 'Deployed' | 'DeployFailed';
export type TransitionResult = 'Success' | 'Skipped' | 'Blocked' | 'CheckFailed';
/** Where a transition stands, as the transitioner says it. */
export type PromotionState = 'UpToDate' | 'Pending' | 'AwaitingApproval' | 'AwaitingMerge' | 'Frozen' | 'Blocked';
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
  /** The lock reasons placed by rollbacks: holds, released by unlocking. */
  holds?: string[];
  upstream?: Upstream | null;
}

export interface ServiceRow {
  name: string;
  envs: Record<string, ServiceInEnv>;
}

/** One file under `<env>/deployable/` in one deployed env. */
export interface DeployableInEnv {
  /** The repo path (`dev/deployable/redis.yaml`); null when only the deployer still reports it. */
  path?: string | null;
  status?: RolloutStatus | null;
  phase?: Phase | null;
  reason?: string;
  resources?: ResourceStatus[];
  error?: string | null;
}

/** One `deployable/` file, by its path below `deployable/`, across envs. */
export interface DeployableRow {
  file: string;
  envs: Record<string, DeployableInEnv>;
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
  state?: PromotionState | null;
  /** While Frozen: when its windows open next. */
  frozen_until?: string | null;
  /** What a run would promote now if nothing kept it back. */
  would_ship?: Promotion[];
  /** Every service lock in the target env (`held: <reasons>`). */
  holds?: SkippedService[];
  approvals_needed?: number;
  approved_by?: string[];
  rejected?: Verdict | null;
}

/** One person's approval or rejection. */
export interface Verdict {
  by: string;
  at: string;
  reason?: string | null;
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
  /** The files under `<env>/deployable/` of the deployed envs. */
  deployables?: DeployableRow[];
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
  /** The commit on the git host, when the aggregator has `commit_url_template`. */
  commit_url?: string | null;
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
  state?: PromotionState;
  reason?: string;
  commit?: string | null;
}

export interface VerdictAnswer {
  commit?: string | null;
  state?: PromotionState;
  reason?: string;
  approved_by?: string[];
}

/** One condition of an object's status, as the cluster reports it. */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  last_transition_time?: string | null;
}

export interface ContainerView {
  name: string;
  image: string;
  ready: boolean;
  restart_count: number;
  /** `running`, `waiting`, `terminated` or `unknown`. */
  state: string;
  reason?: string;
  message?: string;
}

export interface PodView {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  node?: string | null;
  created?: string | null;
  containers: ContainerView[];
  conditions: Condition[];
}

export interface LiveObject {
  api_version: string;
  kind: string;
  name: string;
  namespace?: string | null;
  status?: RolloutStatus | null;
  reason?: string;
  missing?: boolean;
  replicas?: string | null;
  conditions?: Condition[];
  children?: LiveObject[];
  pods?: PodView[];
}

export interface EventView {
  type: string;
  reason: string;
  message: string;
  object: string;
  time?: string | null;
  count: number;
}

/** The deployer's live view of a service (or deployable file) in one env. */
export interface LiveView {
  env: string;
  unit: string;
  cluster: string;
  namespace: string;
  observed_at: string;
  objects: LiveObject[];
  events: EventView[];
}

export type DiffState = 'in_sync' | 'missing' | 'changed' | 'drifted' | 'unowned' | 'blocked' | 'extra';

export interface FieldDiff {
  path: string;
  /** JSON text; null when the field is absent in the cluster. */
  live?: string | null;
  desired: string;
}

export interface ObjectDiff {
  unit: string;
  api_version: string;
  kind: string;
  name: string;
  namespace?: string | null;
  state: DiffState;
  fields?: FieldDiff[];
  reason?: string;
}

/** Live against desired for the fields Slipway manages, per object. */
export interface EnvDiff {
  env: string;
  cluster: string;
  namespace: string;
  commit: string;
  observed_at: string;
  refused?: string | null;
  objects: ObjectDiff[];
  failed?: [string, string][];
}

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
