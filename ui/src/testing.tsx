// Helpers for component tests: a fake API that records calls, sample state, and providers.
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { vi } from 'vitest';
import type { Api } from './api/client';
import type {
  DeployableInEnv,
  Dora,
  EnvDeployed,
  EnvDiff,
  EnvSummary,
  HistoryEntry,
  LiveObject,
  LiveView,
  PreviewEnv,
  ResourceStatus,
  ServiceInEnv,
  State,
  TransitionStatus,
} from './api/types';
import { ApiProvider, NowProvider, TOKEN_KEY, TokenProvider } from './context';

export const NOW = new Date('2026-11-22T08:00:00Z');

// Complete values of the generated types from the fields a test cares about; the
// rest is what the servers send when there is nothing to say.

export function envSummary(over: Partial<EnvSummary> & Pick<EnvSummary, 'name'>): EnvSummary {
  return {
    deployed: false,
    cluster: null,
    namespace: null,
    status: null,
    commit: null,
    reason: '',
    lock_reasons: [],
    last_error: null,
    owner: null,
    ...over,
  };
}

export function serviceInEnv(over: Partial<ServiceInEnv>): ServiceInEnv {
  return {
    version: '',
    vars: {},
    status: null,
    phase: null,
    reason: '',
    resources: [],
    error: null,
    lock_reasons: [],
    holds: [],
    upstream: null,
    ...over,
  };
}

export function deployableInEnv(over: Partial<DeployableInEnv>): DeployableInEnv {
  return { path: null, status: null, phase: null, reason: '', resources: [], error: null, ...over };
}

export function resource(
  over: Partial<ResourceStatus> & Pick<ResourceStatus, 'api_version' | 'kind' | 'name' | 'status'>,
): ResourceStatus {
  return { reason: '', ...over };
}

export function transition(
  over: Partial<TransitionStatus> & Pick<TransitionStatus, 'name' | 'source' | 'target'>,
): TransitionStatus {
  return {
    manual: false,
    reason: '',
    recent_runs: [],
    pending: [],
    skipped: [],
    would_ship: [],
    holds: [],
    approvals_needed: 0,
    approved_by: [],
    ...over,
  };
}

export function liveObject(over: Partial<LiveObject> & Pick<LiveObject, 'api_version' | 'kind' | 'name'>): LiveObject {
  return { reason: '', missing: false, conditions: [], children: [], pods: [], ...over };
}

export function state(over: Partial<State>): State {
  return {
    commit: 'c0ffee0000000000000000000000000000000000',
    updated_at: '2026-11-22T07:59:00Z',
    stale: false,
    stale_reasons: [],
    repo_errors: [],
    envs: [],
    services: [],
    deployables: [],
    transitions: [],
    transitioner_leader: null,
    ...over,
  };
}

export function sampleState(): State {
  return state({
    envs: [
      envSummary({ name: 'latest' }),
      envSummary({ name: 'dev', deployed: true, cluster: 'main', namespace: 'dev', status: 'Clean' }),
      envSummary({
        name: 'prod',
        deployed: true,
        cluster: 'main',
        namespace: 'prod',
        status: 'Failed',
        reason: '1 of 2 services failed',
        lock_reasons: ['release freeze'],
      }),
    ],
    services: [
      {
        name: 'api',
        envs: {
          dev: serviceInEnv({ version: '2.0.0', vars: { version: '2.0.0' }, status: 'Clean', phase: 'Deployed' }),
          prod: serviceInEnv({
            version: '1.9.0',
            vars: { version: '1.9.0', replicas: 3 },
            status: 'Failed',
            phase: 'DeployFailed',
            reason: 'ProgressDeadlineExceeded: api timed out',
            resources: [
              {
                api_version: 'apps/v1',
                kind: 'Deployment',
                name: 'api',
                namespace: 'prod',
                status: 'Failed',
                reason: 'ProgressDeadlineExceeded: api timed out',
              },
            ],
            lock_reasons: ['incident 4711'],
            upstream: { env: 'dev', version: '2.0.0' },
          }),
        },
      },
      {
        name: 'web',
        envs: {
          latest: serviceInEnv({ version: '1.1.0', vars: { version: '1.1.0' } }),
          dev: serviceInEnv({
            version: '1.0.0',
            vars: { version: '1.0.0', image: 'reg/web:1.0.0' },
            status: 'InProgress',
            phase: 'Deploying',
            reason: '1 of 2 updated replicas available',
            upstream: { env: 'latest', version: '1.1.0' },
          }),
        },
      },
    ],
    transitions: [
      transition({ name: 'dev', source: 'latest', target: 'dev', result: 'Success', pending: ['web'] }),
      transition({
        name: 'prod',
        source: 'dev',
        target: 'prod',
        schedule: '0 0 9 * * Mon-Fri',
        result: 'Blocked',
        reason: 'source dev is InProgress',
        pending: ['api'],
        next_scheduled: '2026-11-22T09:00:00Z',
      }),
    ],
  });
}

export function sampleHistory(): HistoryEntry[] {
  return [
    {
      commit: 'bbbb000000000000000000000000000000000000',
      author: 'transitioner',
      time: '2026-11-22T07:00:00Z',
      message: 'promote dev -> prod',
      changelog: 'api 1.8.0 → 1.9.0',
      env: 'prod',
      service: 'api',
      old: '1.8.0',
      new: '1.9.0',
      kind: 'promotion',
      changelogs: [],
    },
    {
      commit: 'aaaa000000000000000000000000000000000000',
      author: 'ci',
      time: '2026-11-21T07:00:00Z',
      message: 'api 1.8.0',
      changelog: 'Fixes <script>alert("x")</script> & <b>bold</b>',
      env: 'prod',
      service: 'api',
      old: null,
      new: '1.8.0',
      kind: 'version',
      changelogs: [],
    },
  ];
}

/** A live view: a Deployment with one ReplicaSet of two ready pods, or (for `bad`) one pod in ImagePullBackOff. */
export function sampleLive(env: string, service: string): LiveView {
  const broken = service === 'bad';
  const rs = `${service}-5d4f8c7b9x`;
  const pod = (suffix: string) => ({
    name: `${rs}-${suffix}`,
    phase: broken ? 'Pending' : 'Running',
    ready: !broken,
    restarts: 0,
    node: 'node-1',
    containers: [
      broken
        ? {
            name: 'app',
            image: 'reg/bad:broken',
            ready: false,
            restart_count: 0,
            state: 'waiting',
            reason: 'ImagePullBackOff',
            message: 'Back-off pulling image "reg/bad:broken"',
          }
        : { name: 'app', image: `reg/${service}:1`, ready: true, restart_count: 0, state: 'running' },
    ],
    conditions: [{ type: 'Ready', status: broken ? 'False' : 'True' }],
  });
  return {
    env,
    unit: service,
    cluster: 'main',
    namespace: env,
    observed_at: '2026-11-22T07:59:30Z',
    objects: [
      liveObject({
        api_version: 'apps/v1',
        kind: 'Deployment',
        name: service,
        namespace: env,
        status: broken ? 'InProgress' : 'Clean',
        reason: broken ? '0 of 1 updated replicas available' : '',
        replicas: broken ? '0/1' : '2/2',
        conditions: [
          {
            type: 'Available',
            status: broken ? 'False' : 'True',
            reason: broken ? 'MinimumReplicasUnavailable' : 'MinimumReplicasAvailable',
          },
        ],
        children: [
          liveObject({
            api_version: 'apps/v1',
            kind: 'ReplicaSet',
            name: rs,
            replicas: broken ? '0/1' : '2/2',
            pods: broken ? [pod('abcde')] : [pod('abcde'), pod('fghjk')],
          }),
        ],
      }),
      liveObject({ api_version: 'v1', kind: 'Service', name: service, namespace: env, status: 'Clean' }),
    ],
    events: broken
      ? [
          {
            type: 'Warning',
            reason: 'Failed',
            message: 'Error: ImagePullBackOff',
            object: `Pod/${rs}-abcde`,
            time: '2026-11-22T07:59:00Z',
            count: 3,
          },
        ]
      : [
          {
            type: 'Normal',
            reason: 'ScalingReplicaSet',
            message: `Scaled up replica set ${rs} to 2`,
            object: `Deployment/${service}`,
            time: '2026-11-22T07:58:00Z',
            count: 1,
          },
        ],
  };
}

/** A diff: the Deployment drifted (replicas 5 in the cluster, 2 in the repo), the Service in sync. */
export function sampleDiff(env: string, service: string): EnvDiff {
  return {
    env,
    cluster: 'main',
    namespace: env,
    commit: 'c0ffee0000000000000000000000000000000000',
    observed_at: '2026-11-22T07:59:30Z',
    objects: [
      {
        unit: service,
        api_version: 'apps/v1',
        kind: 'Deployment',
        name: service,
        namespace: env,
        state: 'drifted',
        fields: [{ path: 'spec.replicas', live: '5', desired: '2' }],
      },
      {
        unit: service,
        api_version: 'v1',
        kind: 'Service',
        name: service,
        namespace: env,
        state: 'in_sync',
        fields: [],
      },
    ],
    failed: [],
  };
}

/** A preview env as `GET /api/previews` lists it. */
export function previewEnv(over: Partial<PreviewEnv> & Pick<PreviewEnv, 'name'>): PreviewEnv {
  return {
    env: `preview-${over.name}`,
    cluster: 'main',
    namespace: `preview-${over.name}`,
    url: `https://${over.name}.preview.example.com/`,
    expires: '2026-11-25T08:00:00Z',
    source: null,
    services: {},
    status: null,
    reason: '',
    deployed_commit: null,
    expired: false,
    ...over,
  };
}

/** What a redeploy of `env` answers: two objects, re-applied when forced, else unchanged. */
export function deployedEnv(env: string, force: boolean): EnvDeployed {
  return {
    result: 'applied',
    commit: 'c0ffee0000',
    status: 'Clean',
    created: 0,
    changed: 0,
    reapplied: force ? 2 : 0,
    unchanged: force ? 0 : 2,
    pruned: 0,
    failed: 0,
    objects: force
      ? [
          { object: `ConfigMap ${env}/app`, action: 'reapplied' },
          { object: `Deployment.apps ${env}/web`, action: 'reapplied' },
        ]
      : [],
  };
}

/** An Api whose every method is a vi.fn(); pass overrides for the answers a test needs. */
export function fakeApi(over: Partial<Api> = {}): { [K in keyof Api]: ReturnType<typeof vi.fn> & Api[K] } {
  const api: Api = {
    state: vi.fn(async () => sampleState()),
    history: vi.fn(async () => [] as HistoryEntry[]),
    timeline: vi.fn(async () => null),
    dora: vi.fn(async (env: string) => emptyDora(env)),
    preview: vi.fn(async () => {
      throw new Error('no preview in this test');
    }),
    lock: vi.fn(async () => ({ commit: 'l0ck000000' })),
    unlock: vi.fn(async () => ({ commit: 'un10ck0000' })),
    rollback: vi.fn(async () => ({ commit: 'r0llback00' })),
    runTransition: vi.fn(async () => ({
      result: 'Success' as const,
      state: 'UpToDate' as const,
      reason: '',
      commit: 'run0000000',
    })),
    approveTransition: vi.fn(async () => ({
      commit: 'appr000000',
      state: 'AwaitingApproval' as const,
      reason: '',
      would_ship: [],
      approved_by: ['tok'],
      rejected: null,
    })),
    rejectTransition: vi.fn(async () => ({
      commit: 'rej0000000',
      state: 'AwaitingApproval' as const,
      reason: '',
      would_ship: [],
      approved_by: [],
      rejected: null,
    })),
    live: vi.fn(async (env: string, service: string) => sampleLive(env, service)),
    diff: vi.fn(async (env: string, service: string) => sampleDiff(env, service)),
    previews: vi.fn(async () => [] as PreviewEnv[]),
    createPreview: vi.fn(async () => ({ commit: 'prev1ew000' })),
    extendPreview: vi.fn(async () => ({ commit: 'ext3nd0000' })),
    deletePreview: vi.fn(async () => ({ commit: 'de1ete0000' })),
    deploy: vi.fn(async (envs: string[], force: boolean) => ({
      force,
      envs: Object.fromEntries(envs.map((env) => [env, deployedEnv(env, force)])),
    })),
    ...over,
  };
  return api as never;
}

export function renderWith(ui: ReactElement, { api = fakeApi(), token }: { api?: Api; token?: string } = {}) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  return render(
    <ApiProvider api={api}>
      <TokenProvider storage={sessionStorage}>
        <NowProvider now={NOW}>{ui}</NowProvider>
      </TokenProvider>
    </ApiProvider>,
  );
}

/** The four keys of an env with nothing recorded. */
export function emptyDora(env: string, over: Partial<Dora> = {}): Dora {
  const none = { count: 0, median_seconds: null, p90_seconds: null };
  return {
    env,
    service: null,
    since: '2026-01-01T00:00:00Z',
    until: '2026-01-31T00:00:00Z',
    deploys: 0,
    deploys_per_day: 0,
    deploys_per_week: 0,
    lead_time: none,
    promotions: 0,
    failed_promotions: 0,
    change_failure_rate: null,
    time_to_restore: none,
    ...over,
  };
}
