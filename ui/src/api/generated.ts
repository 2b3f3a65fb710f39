// Generated from the Rust types the servers serialize (crates/aggregator/src/ui_types.rs).
// Do not edit: regenerate with
//   SLIPWAY_WRITE_UI_TYPES=1 cargo test -p slipway-aggregator --test ui_types

export type RolloutStatus = "Clean" | "InProgress" | "Outdated" | "Failed";

export type Phase = "Received" | "Deploying" | "Deployed" | "DeployFailed";

export type TransitionResult = "Success" | "Skipped" | "Blocked" | "CheckFailed";

export type PromotionState = "UpToDate" | "Pending" | "AwaitingApproval" | "AwaitingMerge" | "Frozen" | "Blocked";

export type ErrorRecord = { message: string, at: string, };

export type ResourceStatus = { api_version: string, kind: string, name: string, namespace?: string, status: RolloutStatus, 
/**
 * Why, in words: "2 of 3 updated replicas available", "ProgressDeadlineExceeded: ...".
 */
reason: string, };

export type Promotion = { service: string, 
/**
 * Version label before (`None` for a new service in the target).
 */
old: string | null, new: string, };

export type TransitionRun = { at: string, commit: string, promotions: Array<Promotion>, };

export type SkippedService = { service: string, reason: string, };

export type Verdict = { by: string, at: string, reason?: string, };

export type PullRequestState = "open" | "closed" | "merged";

export type PullRequestStatus = { 
/**
 * `github`, `gitlab` or `gitea`.
 */
host: string, 
/**
 * Its number (GitLab: the project-scoped `iid`); `None` before one was opened.
 */
number?: number, 
/**
 * Its page on the host, for people.
 */
url?: string, state?: PullRequestState, 
/**
 * The last call to the host that failed, and why (cleared by the next success).
 */
error?: string, };

export type TransitionStatus = { name: string, source: string, target: string, manual: boolean, schedule?: string, last_run?: string, result?: TransitionResult, reason: string, 
/**
 * Newest first, at most 100.
 */
recent_runs: Array<TransitionRun>, next_scheduled?: string, 
/**
 * Services whose source version differs from the target and that wait to move.
 */
pending: Array<string>, 
/**
 * Services held back by locks, with the lock reasons.
 */
skipped: Array<SkippedService>, 
/**
 * Where the transition stands (`None` before its first evaluation).
 */
state?: PromotionState, 
/**
 * While `Frozen`: when its windows open next (`None`: not in the foreseeable future).
 */
frozen_until?: string, 
/**
 * What a run would promote now if nothing kept it back (empty when up to date).
 */
would_ship: Array<Promotion>, 
/**
 * Every service lock in the target env (holds included), whether or not a change waits for it.
 */
holds: Array<SkippedService>, 
/**
 * `approvals: N` of the transition (0: none needed).
 */
approvals_needed: number, 
/**
 * Who approved the set it would ship now (only approvals that count).
 */
approved_by: Array<string>, 
/**
 * The last rejection of that set.
 */
rejected?: Verdict, 
/**
 * `mode: pull_request` with a `git_host`: the pull/merge request on the host.
 */
pull_request?: PullRequestStatus, };

export type Condition = { type: string, 
/**
 * `True`, `False` or `Unknown`.
 */
status: string, reason?: string, message?: string, last_transition_time?: string, };

export type ContainerView = { name: string, image: string, ready: boolean, restart_count: number, 
/**
 * `running`, `waiting` or `terminated` (`unknown` before the kubelet reports it).
 */
state: string, 
/**
 * Why it waits or ended: `ContainerCreating`, `ImagePullBackOff`, `CrashLoopBackOff`, `Completed`, ...
 */
reason?: string, message?: string, };

export type PodView = { name: string, 
/**
 * `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
 */
phase: string, 
/**
 * The pod's `Ready` condition is `True`.
 */
ready: boolean, 
/**
 * Restarts of all its containers.
 */
restarts: number, node?: string, created?: string, containers: Array<ContainerView>, conditions: Array<Condition>, };

export type LiveObject = { api_version: string, kind: string, name: string, namespace?: string, 
/**
 * The deployer's rollout status of it (objects Slipway applied), else `None`.
 */
status?: RolloutStatus, reason: string, 
/**
 * The object is not in the cluster (deleted by hand, or not applied yet).
 */
missing: boolean, 
/**
 * `ready/desired` replicas of a workload or ReplicaSet (`2/2`).
 */
replicas?: string, conditions: Array<Condition>, 
/**
 * Objects it owns: a Deployment's ReplicaSets.
 */
children: Array<LiveObject>, 
/**
 * Pods it owns directly: a ReplicaSet's, StatefulSet's, DaemonSet's or Job's.
 */
pods: Array<PodView>, };

export type EventView = { 
/**
 * `Normal` or `Warning`.
 */
type: string, reason: string, message: string, 
/**
 * `Kind/name` of the object it is about.
 */
object: string, time?: string, count: number, };

export type LiveView = { env: string, 
/**
 * The service, or `deployable/<file>`.
 */
unit: string, cluster: string, namespace: string, observed_at: string, objects: Array<LiveObject>, 
/**
 * Events of the objects, their ReplicaSets and Pods, newest first (at most 50).
 */
events: Array<EventView>, };

export type DiffState = "in_sync" | "missing" | "changed" | "drifted" | "unowned" | "blocked" | "extra";

export type FieldDiff = { 
/**
 * `spec.replicas`, `spec.template.spec.containers[0].image`.
 */
path: string, 
/**
 * The value in the cluster (JSON text), `None` when the field is absent there.
 */
live: string | null, 
/**
 * The value in the repo (JSON text).
 */
desired: string, };

export type ObjectDiff = { 
/**
 * The service, or `deployable/<file>`.
 */
unit: string, api_version: string, kind: string, name: string, namespace?: string, state: DiffState, 
/**
 * The fields that differ (`changed`, `drifted`).
 */
fields: Array<FieldDiff>, 
/**
 * Why, for `blocked`, `unowned` and `extra`.
 */
reason?: string, };

export type EnvDiff = { env: string, cluster: string, namespace: string, 
/**
 * The commit whose desired state is compared.
 */
commit: string, observed_at: string, 
/**
 * Why the whole env would be refused (then nothing is applied).
 */
refused?: string, objects: Array<ObjectDiff>, 
/**
 * Units whose files are broken, with the message.
 */
failed: Array<[string, string]>, };

export type EnvSummary = { name: string, deployed: boolean, cluster: string | null, namespace: string | null, status: RolloutStatus | null, commit: string | null, reason: string, lock_reasons: Array<string>, last_error: ErrorRecord | null, 
/**
 * The deployer replica that applies to the env, when the envs are sharded
 * over several (`null` otherwise, or while no replica holds it).
 */
owner: string | null, };

export type Upstream = { env: string, version: string, };

export type ServiceInEnv = { version: string, vars: Record<string, string | number | boolean | null>, status: RolloutStatus | null, phase: Phase | null, reason: string, resources: Array<ResourceStatus>, error: string | null, lock_reasons: Array<string>, 
/**
 * The lock reasons that are holds placed by rollbacks (released by unlocking).
 */
holds: Array<string>, upstream: Upstream | null, };

export type ServiceRow = { name: string, envs: { [key in string]: ServiceInEnv }, };

export type DeployableInEnv = { 
/**
 * The repo path of the file in this env (`dev/deployable/redis.yaml`); `None`
 * when only the deployer still reports it (the file was removed since).
 */
path: string | null, status: RolloutStatus | null, phase: Phase | null, reason: string, resources: Array<ResourceStatus>, error: string | null, };

export type DeployableRow = { 
/**
 * Path below `<env>/deployable/`, e.g. `redis.yaml` or `rbac/roles.yaml`.
 */
file: string, envs: { [key in string]: DeployableInEnv }, };

export type State = { commit: string, updated_at: string, stale: boolean, stale_reasons: Array<string>, 
/**
 * Problems in repo files that are not one service's (locks, deployers.yaml, transitions.yaml).
 */
repo_errors: Array<string>, envs: Array<EnvSummary>, services: Array<ServiceRow>, 
/**
 * The files under `<env>/deployable/` of the deployed envs, by path below `deployable/`.
 */
deployables: Array<DeployableRow>, transitions: Array<TransitionStatus>, 
/**
 * The transitioner replica that commits promotions, when its replicas
 * elect a leader (`null` otherwise, or while none leads).
 */
transitioner_leader: string | null, };

export type Origin = { service: string, 
/**
 * The env the version entered first.
 */
env: string, commit: string, author: string, 
/**
 * Seconds since the epoch.
 */
time: number, 
/**
 * The first line of the origin commit's message.
 */
subject: string, 
/**
 * The rest of its message without `Key: value` trailers (the changelog).
 */
changelog: string, };

export type HistoryEntry = { commit: string, author: string, time: string, message: string, changelog: string, env: string | null, service: string | null, old: string | null, new: string | null, kind: "version" | "promotion" | "rollback" | "lock" | "other", 
/**
 * The commit on the git host, when `commit_url_template` is configured.
 */
commit_url?: string, 
/**
 * The original changelogs this commit brought (see [`slipway_core::lineage`]):
 * for a promotion, the origin of every version it carried, oldest first; for
 * a commit that changed a version itself, that commit.
 */
changelogs: Array<Origin>, };

export type ObjectChange = "added" | "removed" | "changed";

export type RenderedFieldDiff = { 
/**
 * `spec.template.spec.containers[0].image`, `data.LOG_LEVEL`.
 */
path: string, before: unknown, after: unknown, };

export type RenderedObjectDiff = { 
/**
 * The service or deployable file it comes from (the side that has it, `after` first).
 */
unit: string, api_version: string, kind: string, namespace: string | null, name: string, change: ObjectChange, 
/**
 * For a changed object, every field that differs (empty for added and removed ones).
 */
fields: Array<RenderedFieldDiff>, };

export type RenderProblem = { 
/**
 * `before` or `after`.
 */
side: "before" | "after", unit: string, error: string, };

export type RenderedDiff = { 
/**
 * Sorted by kind, namespace and name.
 */
objects: Array<RenderedObjectDiff>, problems: Array<RenderProblem>, };

export type Lineage = { 
/**
 * Oldest first.
 */
origins: Array<Origin>, 
/**
 * Older versions were left out (the walk is capped).
 */
truncated: boolean, };

export type Move = { service: string, 
/**
 * Version labels before and after (`None`: new in the target).
 */
old: string | null, new: string, old_vars: Record<string, string | number | boolean | null> | null, new_vars: Record<string, string | number | boolean | null> | null, };

export type Held = { service: string, reasons: Array<string>, };

export type MovePreview = { changelogs: Lineage, service: string, 
/**
 * Version labels before and after (`None`: new in the target).
 */
old: string | null, new: string, old_vars: Record<string, string | number | boolean | null> | null, new_vars: Record<string, string | number | boolean | null> | null, };

export type PromotionPreview = { transition: string, source: string, target: string, 
/**
 * The repo commit the preview was computed on.
 */
commit: string, 
/**
 * Whether any service would move.
 */
moves_anything: boolean, 
/**
 * One line for people: what would move, or that nothing would.
 */
summary: string, services: Array<MovePreview>, held: Array<Held>, 
/**
 * The target env's rendered manifests before and after.
 */
diff: RenderedDiff, };

export type EnvDiffAnswer = { from: string, to: string, commit: string, 
/**
 * Whether the two envs render the same objects.
 */
same: boolean, 
/**
 * Sorted by kind, namespace and name.
 */
objects: Array<RenderedObjectDiff>, problems: Array<RenderProblem>, };

export type TimelineEvent = { 
/**
 * `posted`, `promoted`, `rolled_back_to`, `changed` (a commit by hand),
 * `clean`, `failed`, or `rolled_back` (a rollback replaced it).
 */
event: "posted" | "promoted" | "rolled_back_to" | "changed" | "clean" | "failed" | "rolled_back", at: string, commit: string, };

export type EnvTimeline = { env: string, 
/**
 * Oldest first.
 */
events: Array<TimelineEvent>, };

export type Timeline = { service: string, version: string, 
/**
 * The commit that brought the version in first, and when.
 */
origin: TimelineEvent | null, 
/**
 * The envs in the order the version reached them.
 */
envs: Array<EnvTimeline>, };

export type Spread = { count: number, 
/**
 * Seconds; `None` without samples.
 */
median_seconds: number | null, p90_seconds: number | null, };

export type Dora = { env: string, service: string | null, since: string, until: string, 
/**
 * Deploys that reached `Clean` in the period.
 */
deploys: number, deploys_per_day: number, deploys_per_week: number, 
/**
 * From a version's origin to `Clean` in this env.
 */
lead_time: Spread, 
/**
 * Promotions into the env in the period.
 */
promotions: number, 
/**
 * Of those, the ones that ended `Failed` or were rolled back.
 */
failed_promotions: number, 
/**
 * `failed_promotions / promotions`; `None` without promotions.
 */
change_failure_rate: number | null, 
/**
 * From a deploy's `Failed` to the next `Clean` of that service in the env.
 */
time_to_restore: Spread, };

export type PreviewEntry = { 
/**
 * The short name (`pr-42`).
 */
name: string, 
/**
 * Its env and namespace (`preview-pr-42`).
 */
env: string, cluster: string, namespace: string, 
/**
 * `https://<preview_host><preview_path>`, when it has a host.
 */
url: string | null, expires: string, source: string | null, 
/**
 * Service → version label.
 */
services: { [key in string]: string }, };

export type PreviewEnv = { 
/**
 * The deployer's rollout status of the env; none before it reported one.
 */
status: RolloutStatus | null, reason: string, 
/**
 * The commit the deployer reconciled it to.
 */
deployed_commit: string | null, expired: boolean, 
/**
 * The short name (`pr-42`).
 */
name: string, 
/**
 * Its env and namespace (`preview-pr-42`).
 */
env: string, cluster: string, namespace: string, 
/**
 * `https://<preview_host><preview_path>`, when it has a host.
 */
url: string | null, expires: string, source: string | null, 
/**
 * Service → version label.
 */
services: { [key in string]: string }, };

export type CommitAnswer = { 
/**
 * The new commit, or the current one when nothing changed.
 */
commit: string, 
/**
 * The repo already said so: nothing was committed.
 */
unchanged?: boolean, };

export type RunAnswer = { result: TransitionResult, state: PromotionState, reason: string, 
/**
 * The promotion commit, `None` when nothing was committed.
 */
commit: string | null, };

export type VerdictAnswer = { 
/**
 * The commit recording the verdict, `None` when nothing new was recorded.
 */
commit: string | null, state: PromotionState | null, reason: string, would_ship: Array<Promotion>, approved_by: Array<string>, rejected: Verdict | null, };

export type DeployRequest = { 
/**
 * The envs to redeploy; none: every env (of the replica asked).
 */
envs?: Array<string>, 
/**
 * Re-apply every object, even unchanged ones, taking back fields other managers own.
 */
force: boolean, };

export type DeployResult = "applied" | "failed" | "not_held";

export type AppliedAction = "created" | "changed" | "reapplied";

export type AppliedObject = { 
/**
 * `Kind namespace/name` (`Kind name` for cluster-scoped objects).
 */
object: string, action: AppliedAction, 
/**
 * Why the apply failed; none when it succeeded.
 */
error?: string, };

export type EnvDeployed = { result: DeployResult, 
/**
 * The repo commit deployed (none when not held here).
 */
commit: string | null, 
/**
 * The env's rollout status after the reconcile.
 */
status: RolloutStatus | null, 
/**
 * Objects created, changed, and re-applied although unchanged (forced).
 */
created: number, changed: number, reapplied: number, 
/**
 * Objects that matched the repo and were not written.
 */
unchanged: number, pruned: number, 
/**
 * Failed applies, prunes and env-level errors.
 */
failed: number, 
/**
 * Every object applied, in order of kind and name.
 */
objects: Array<AppliedObject>, 
/**
 * What went wrong, or why this replica did not deploy it.
 */
error?: string, 
/**
 * With sharding on: the replica that holds the env, when another one does.
 */
owner?: string, 
/**
 * Where that replica answers.
 */
owner_address?: string, };

export type DeployAnswer = { force: boolean, envs: { [key in string]: EnvDeployed }, };
