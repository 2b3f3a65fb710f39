import type {
  CommitAnswer,
  Dora,
  DeployAnswer,
  EnvDiff,
  HistoryEntry,
  LiveView,
  NewPreviewRequest,
  PreviewEnv,
  PromotionPreview,
  RunAnswer,
  State,
  Timeline,
  VerdictAnswer,
} from './types';

/** An error answered by the API (or the network), with the message to show to a person. */
export class ApiError extends Error {
  /** HTTP status; 0 when the aggregator could not be reached. */
  readonly status: number;
  /** The input field the server blamed, if any. */
  readonly field: string | null;
  /** The scope the token lacks (`locks=prod`), on a 403 for a valid token. */
  readonly missingScope: string | null;

  constructor(message: string, status: number, field: string | null = null, missingScope: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.field = field;
    this.missingScope = missingScope;
  }

  /** True when the server refused the token (or there was none); a token that only lacks a scope is kept. */
  get unauthorized(): boolean {
    return this.status === 401 || (this.status === 403 && this.missingScope === null);
  }
}

/** What a lock applies to: a whole env, or one service in it. */
export interface LockTarget {
  env: string;
  service?: string;
}

/** What `/api/history` lists: every filter is optional. */
export interface HistoryQuery {
  env?: string;
  service?: string;
  limit?: number;
  author?: string;
  /** One kind, or several comma-separated. */
  kind?: string;
  /** Free text: every word must appear in the message, author or commit id. */
  q?: string;
}

/** Everything the UI asks of the aggregator. Components get it from context, so tests can fake it. */
export interface Api {
  state(): Promise<State>;
  history(query: HistoryQuery): Promise<HistoryEntry[]>;
  preview(transition: string): Promise<PromotionPreview>;
  /** A version's way through the envs; `null` when no commit brought it into any env. */
  timeline(service: string, version: string): Promise<Timeline | null>;
  /** The four keys of an env over the last `since` (`30d`), optionally for one service. */
  dora(env: string, since: string, service?: string): Promise<Dora>;
  lock(target: LockTarget, reason: string): Promise<CommitAnswer>;
  /** Removes one reason, or every reason when `reason` is undefined. */
  unlock(target: LockTarget, reason?: string): Promise<CommitAnswer>;
  /** Restores the version as of `commit`; `hold` (default true) places a hold on the service in the env. */
  rollback(env: string, service: string, commit: string, hold?: boolean): Promise<CommitAnswer>;
  /** Runs it now; with `overrideReason`, through closed windows (break-glass). */
  runTransition(name: string, overrideReason?: string): Promise<RunAnswer>;
  approveTransition(name: string, reason?: string): Promise<VerdictAnswer>;
  rejectTransition(name: string, reason: string): Promise<VerdictAnswer>;
  /** What runs of a service in an env, read from the cluster by the deployer. */
  live(env: string, service: string): Promise<LiveView>;
  /** Live against desired for the objects of a service in an env. */
  diff(env: string, service: string): Promise<EnvDiff>;
  /** The preview envs. */
  previews(): Promise<PreviewEnv[]>;
  createPreview(req: NewPreviewRequest): Promise<CommitAnswer>;
  /** Sets the preview to expire `ttl` (`3d`, `12h`) from now. */
  extendPreview(name: string, ttl: string): Promise<CommitAnswer>;
  /** Removes its folder and deployers.yaml entry; the deployer then deletes what it applied there. */
  deletePreview(name: string): Promise<CommitAnswer>;
  /** Redeploys the envs now; with `force`, every object is applied again, taking back fields others changed. */
  deploy(envs: string[], force: boolean): Promise<DeployAnswer>;
}

export interface HttpApiOptions {
  /** Prefix of every path, '' for the same origin. */
  base?: string;
  /** The bearer token for writes (read at call time, so a newly entered token is used at once). */
  token: () => string | null;
  fetch?: typeof fetch;
}

/** Encodes a service name for a path: each `/`-separated segment on its own, the slashes kept. */
export function servicePath(service: string): string {
  return service.split('/').map(encodeURIComponent).join('/');
}

export function lockPath(target: LockTarget): string {
  const env = `/api/locks/${encodeURIComponent(target.env)}`;
  return target.service === undefined ? env : `${env}/${servicePath(target.service)}`;
}

/** Turns a failed answer into the sentence shown to the user. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    // The body is gone; the status line is all we have.
  }
  let message = text.trim();
  let field: string | null = null;
  let missingScope: string | null = null;
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object' && 'error' in body && typeof body.error === 'string') {
      message = body.error;
      if ('field' in body && typeof body.field === 'string') field = body.field;
      if ('missing_scope' in body && typeof body.missing_scope === 'string') missingScope = body.missing_scope;
    }
  } catch {
    // Not JSON (a proxy's error page, say): show its text as it is.
  }
  if (!message) message = res.statusText || 'no details given';
  if (res.status === 403 && missingScope !== null) {
    message = `Your token may not do this: it lacks the scope ${missingScope} (${message}). Use a token that has it.`;
    return new ApiError(message, res.status, field, missingScope);
  }
  if (res.status === 401 || res.status === 403) {
    message = `The token was refused (${res.status}): ${message}. Enter a valid API token.`;
  } else {
    message = `${message} (HTTP ${res.status})`;
  }
  return new ApiError(message, res.status, field);
}

export function httpApi(options: HttpApiOptions): Api {
  const base = options.base ?? '';
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  /** `write` calls need the token; reads send it when there is one (for `read_requires_token: true`). */
  async function call<T>(method: string, path: string, body?: unknown, write = false): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = options.token();
    if (write && !token) throw new ApiError('An API token is needed for this. Enter it first.', 401);
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await doFetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new ApiError(`Could not reach the aggregator (${why}). Check that it is running.`, 0);
    }
    if (!res.ok) throw await errorFromResponse(res);
    try {
      return (await res.json()) as T;
    } catch {
      throw new ApiError(`The aggregator answered ${method} ${path} with something that is not JSON.`, res.status);
    }
  }

  return {
    state: () => call<State>('GET', '/api/state'),
    async history({ env, service, limit = 50, author, kind, q: text }) {
      const q = new URLSearchParams();
      if (env) q.set('env', env);
      q.set('limit', String(limit));
      if (service !== undefined) q.set('service', service);
      if (author) q.set('author', author);
      if (kind) q.set('kind', kind);
      if (text) q.set('q', text);
      const answer = await call<{ entries?: HistoryEntry[] }>('GET', `/api/history?${q.toString()}`);
      return answer.entries ?? [];
    },
    preview: (name) => call<PromotionPreview>('GET', `/api/transitions/${encodeURIComponent(name)}/preview`),
    async timeline(service, version) {
      const q = new URLSearchParams({ service, version });
      try {
        return await call<Timeline>('GET', `/api/timeline?${q.toString()}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    dora(env, since, service) {
      const q = new URLSearchParams({ env, since });
      if (service) q.set('service', service);
      return call<Dora>('GET', `/api/dora?${q.toString()}`);
    },
    lock: (target, reason) => call<CommitAnswer>('PUT', lockPath(target), { reason }, true),
    unlock: (target, reason) =>
      call<CommitAnswer>('DELETE', lockPath(target), reason === undefined ? undefined : { reason }, true),
    deploy: (envs, force) => call<DeployAnswer>('POST', '/api/deploy', { envs, force }, true),
    rollback: (env, service, commit, hold = true) =>
      call<CommitAnswer>('POST', '/api/rollback', { env, service, commit, hold }, true),
    runTransition: (name, overrideReason) =>
      call<RunAnswer>(
        'POST',
        `/api/transitions/${encodeURIComponent(name)}/run`,
        overrideReason === undefined ? undefined : { override_windows: true, reason: overrideReason },
        true,
      ),
    approveTransition: (name, reason) =>
      call<VerdictAnswer>(
        'POST',
        `/api/transitions/${encodeURIComponent(name)}/approve`,
        reason ? { reason } : undefined,
        true,
      ),
    rejectTransition: (name, reason) =>
      call<VerdictAnswer>('POST', `/api/transitions/${encodeURIComponent(name)}/reject`, { reason }, true),
    live: (env, service) =>
      call<LiveView>('GET', `/api/envs/${encodeURIComponent(env)}/services/${servicePath(service)}/live`),
    diff: (env, service) =>
      call<EnvDiff>('GET', `/api/envs/${encodeURIComponent(env)}/services/${servicePath(service)}/diff`),
    async previews() {
      const answer = await call<{ previews?: PreviewEnv[] }>('GET', '/api/previews');
      return answer.previews ?? [];
    },
    createPreview: (req) => call<CommitAnswer>('POST', '/api/previews', req, true),
    extendPreview: (name, ttl) =>
      call<CommitAnswer>('PATCH', `/api/previews/${encodeURIComponent(name)}`, { ttl }, true),
    deletePreview: (name) => call<CommitAnswer>('DELETE', `/api/previews/${encodeURIComponent(name)}`, undefined, true),
  };
}
