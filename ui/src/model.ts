// Pure functions over the API's data: what the components show, decided without React or the network.

import type {
  DeployableRow,
  Phase,
  PullRequestStatus,
  RolloutStatus,
  ServiceRow,
  State,
  TransitionResult,
  TransitionStatus,
} from './api/types';

/** Words and glyph for each rollout status; the colour comes from CSS, so it is never the only signal. */
export const STATUS_LABEL: Record<RolloutStatus, { text: string; glyph: string; help: string }> = {
  Clean: { text: 'Clean', glyph: '✓', help: 'applied and ready' },
  InProgress: { text: 'In progress', glyph: '◔', help: 'applied, rollout under way' },
  Outdated: { text: 'Outdated', glyph: '↻', help: 'the desired state is not applied yet' },
  Failed: { text: 'Failed', glyph: '✕', help: 'could not be applied, or the rollout failed' },
};

export const PHASE_LABEL: Record<Phase, { text: string; help: string }> = {
  Received: { text: 'Received', help: 'in the repo, not applied yet' },
  Deploying: { text: 'Deploying', help: 'applied, rollout under way' },
  Deployed: { text: 'Deployed', help: 'applied and rolled out cleanly' },
  DeployFailed: { text: 'Deploy failed', help: 'could not be applied, or its rollout failed' },
};

/** Services whose name contains the filter text (case-insensitive; blank keeps all). */
export function filterServices(services: ServiceRow[], filter: string): ServiceRow[] {
  const needle = filter.trim().toLowerCase();
  if (!needle) return services;
  return services.filter((s) => s.name.toLowerCase().includes(needle));
}

/** Deployable files whose path contains the filter text, like {@link filterServices}. */
export function filterDeployables(rows: DeployableRow[], filter: string): DeployableRow[] {
  const needle = filter.trim().toLowerCase();
  if (!needle) return rows;
  return rows.filter((d) => d.file.toLowerCase().includes(needle));
}

/** The transitions that promote into `env` (usually one), in file order. */
export function transitionsInto(state: State, env: string): TransitionStatus[] {
  return (state.transitions ?? []).filter((t) => t.target === env);
}

export type Tone = 'ok' | 'waiting' | 'blocked' | 'failed' | 'idle';

export interface TransitionSummary {
  tone: Tone;
  /** One short line: is it blocked and why, or when does it run next. */
  headline: string;
  /** Further lines: waiting services, services held by locks, the last promotion. */
  details: string[];
}

const RESULT_TONE: Record<TransitionResult, Tone> = {
  Success: 'ok',
  Skipped: 'idle',
  Blocked: 'blocked',
  CheckFailed: 'failed',
};

/** What the promotion strip says about a transition at time `now`. */
export function summarizeTransition(t: TransitionStatus, now: Date): TransitionSummary {
  const pending = t.pending ?? [];
  const skipped = t.skipped ?? [];
  const details: string[] = [];
  let tone: Tone = t.result ? RESULT_TONE[t.result] : 'idle';
  let headline: string;

  const approved = t.approved_by ?? [];
  if (t.state === 'Frozen') {
    tone = 'blocked';
    headline = t.frozen_until ? `Frozen until ${formatTime(t.frozen_until)}` : 'Frozen: no window opens ahead';
    if (t.reason) details.push(t.reason);
  } else if (t.state === 'AwaitingApproval') {
    tone = 'waiting';
    headline = `Awaiting approval: ${approved.length} of ${t.approvals_needed ?? '?'}`;
  } else if (t.state === 'AwaitingMerge') {
    tone = 'waiting';
    headline = 'Awaiting merge of its promotion branch';
  } else if (t.result === 'Blocked') {
    headline = `Blocked: ${t.reason || 'a precondition is not met yet'}`;
  } else if (t.result === 'CheckFailed') {
    headline = `Check failed: ${t.reason || 'no reason given'}`;
  } else if (pending.length > 0 && t.next_scheduled) {
    tone = 'waiting';
    headline = `Next run ${formatRelative(t.next_scheduled, now)} (${formatTime(t.next_scheduled)})`;
  } else if (pending.length > 0 && t.manual) {
    tone = 'waiting';
    headline = 'Waiting for a manual run';
  } else if (pending.length > 0) {
    tone = 'waiting';
    headline = 'Promotion pending';
  } else if (t.manual) {
    headline = 'Manual: runs only when started';
  } else if (!t.result && !t.last_run) {
    // The rules from transitions.yaml, while the transitioner has not reported yet.
    headline = 'Not evaluated yet';
  } else if (t.next_scheduled) {
    headline = `Up to date; next run ${formatRelative(t.next_scheduled, now)}`;
  } else {
    headline = 'Up to date';
  }

  const ships = t.would_ship ?? [];
  if (ships.length > 0) details.push(`Would ship: ${ships.map(describePromotion).join(', ')}`);
  if ((t.approvals_needed ?? 0) > 0 && approved.length > 0) details.push(`Approved by: ${approved.join(', ')}`);
  if (t.rejected) details.push(`Rejected by ${t.rejected.by}: ${t.rejected.reason ?? 'no reason given'}`);
  if (pending.length > 0) details.push(`Waiting: ${pending.join(', ')}`);
  for (const s of skipped) details.push(`Held: ${s.service} (${s.reason})`);
  // Holds on services with no change waiting are shown too: a hold matters before the next version comes.
  for (const h of t.holds ?? []) {
    if (!skipped.some((s) => s.service === h.service))
      details.push(`Hold on ${h.service}: ${h.reason.replace(/^held: /, '')}`);
  }
  const last = t.recent_runs?.[0];
  if (last) {
    const moves = last.promotions.map((p) => `${p.service} ${p.old ?? '∅'} → ${p.new}`).join(', ');
    details.push(`Last promoted ${formatRelative(last.at, now)}${moves ? `: ${moves}` : ''}`);
  }
  if (t.result === 'Skipped' && t.reason && tone === 'idle' && pending.length === 0) details.push(t.reason);
  if (t.schedule) details.push(`Schedule: ${t.schedule}`);
  return { tone, headline, details };
}

/** The link text of a transition's pull request: `Pull request #12 (open)`; GitLab calls it a merge request. */
export function describePullRequest(pr: PullRequestStatus): string {
  const noun = pr.host === 'gitlab' ? 'Merge request' : 'Pull request';
  const number = pr.number !== undefined ? ` #${pr.number}` : '';
  return pr.state ? `${noun}${number} (${pr.state})` : `${noun}${number}`;
}

/** `web 1.2 → 1.3`, `web (new) → 1.3`. */
export function describePromotion(p: { service: string; old?: string | null; new: string }): string {
  return `${p.service} ${p.old ?? '(new)'} → ${p.new}`;
}

/** "3 min ago", "in 2 h": coarse on purpose, the exact time is in the tooltip. */
export function formatRelative(iso: string, now: Date): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now.getTime()) / 1000);
  const abs = Math.abs(seconds);
  let amount: string;
  // The page's clock ticks coarsely and may lag a fresh commit by a few seconds.
  if (seconds > -45 && seconds <= 10) return 'just now';
  if (abs < 45) return 'in a few seconds';
  else if (abs < 60 * 60) amount = `${Math.round(abs / 60)} min`;
  else if (abs < 48 * 3600) amount = `${Math.round(abs / 3600)} h`;
  else amount = `${Math.round(abs / 86400)} days`;
  return seconds >= 0 ? `in ${amount}` : `${amount} ago`;
}

/** An RFC 3339 time as `2026-11-22 09:00 UTC`: operators compare it with logs, which are in UTC. */
export function formatTime(iso: string, { seconds = false } = {}): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t
    .toISOString()
    .slice(0, seconds ? 19 : 16)
    .replace('T', ' ')} UTC`;
}

export function shortCommit(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 8) : '—';
}

/** How the current view is addressed in the URL hash. */
export type Route =
  | { page: 'overview'; filter: string }
  | { page: 'service'; service: string }
  | { page: 'env'; env: string }
  | { page: 'history'; text: string }
  | { page: 'dora'; since: string; service: string }
  | { page: 'previews' }
  | { page: 'preview'; transition: string }
  | { page: 'not-found'; hash: string };

/** `#/` is the overview, `#/services/<name>` a service (names may contain `/`), `#/envs/<name>` an env. */
export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?', 2);
  if (path === '' || path === '/') return { page: 'overview', filter: new URLSearchParams(query).get('filter') ?? '' };
  if (path === '/history') return { page: 'history', text: new URLSearchParams(query).get('q') ?? '' };
  if (path === '/dora') {
    const q = new URLSearchParams(query);
    return { page: 'dora', since: q.get('since') ?? '30d', service: q.get('service') ?? '' };
  }
  if (path === '/previews') return { page: 'previews' };
  const env = /^\/envs\/([^/]+)$/.exec(path);
  if (env && env[1]) {
    try {
      return { page: 'env', env: decodeURIComponent(env[1]) };
    } catch {
      return { page: 'not-found', hash };
    }
  }
  const preview = /^\/transitions\/([^/]+)\/preview$/.exec(path);
  if (preview && preview[1]) {
    try {
      return { page: 'preview', transition: decodeURIComponent(preview[1]) };
    } catch {
      return { page: 'not-found', hash };
    }
  }
  const m = /^\/services\/(.+)$/.exec(path);
  if (m && m[1]) {
    try {
      return { page: 'service', service: m[1].split('/').map(decodeURIComponent).join('/') };
    } catch {
      return { page: 'not-found', hash };
    }
  }
  return { page: 'not-found', hash };
}

/** The overview, with the service filter kept in the URL so a filtered view can be bookmarked and shared. */
export function overviewHref(filter: string): string {
  const f = filter.trim();
  return f ? `#/?${new URLSearchParams({ filter: f }).toString()}` : '#/';
}

/** The history page searching for `text` (a commit id finds that commit). */
export function historyHref(text: string): string {
  return `#/history?${new URLSearchParams({ q: text }).toString()}`;
}

/** The DORA page for a period (`7d`, `30d`, `90d`) and optionally one service. */
export function doraHref(since: string, service: string): string {
  const q = new URLSearchParams({ since });
  if (service) q.set('service', service);
  return `#/dora?${q.toString()}`;
}

export function envHref(env: string): string {
  return `#/envs/${encodeURIComponent(env)}`;
}

/** The page "What the next promotion ships" of a transition. */
export function previewHref(transition: string): string {
  return `#/transitions/${encodeURIComponent(transition)}/preview`;
}

export function serviceHref(service: string): string {
  return `#/services/${service.split('/').map(encodeURIComponent).join('/')}`;
}

/** Why the data on screen may be out of date, in words; empty when it is live and fresh. */
export function stalenessReasons(opts: {
  connected: boolean;
  state: State | null;
  loadError: string | null;
}): string[] {
  const reasons: string[] = [];
  if (!opts.connected) reasons.push('Live updates are disconnected; reconnecting.');
  if (opts.loadError) reasons.push(opts.loadError);
  if (opts.state?.stale) {
    const why = opts.state.stale_reasons ?? [];
    reasons.push(
      why.length ? `The aggregator reports stale data: ${why.join('; ')}.` : 'The aggregator reports stale data.',
    );
  }
  return reasons;
}

/** Scalar variable values as text, for the vars table. */
export function varText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** How many service-env cells are `Failed`: put in the tab title so a failure shows from another tab. */
export function countFailed(state: State | null): number {
  if (!state) return 0;
  let n = 0;
  for (const s of state.services) for (const cell of Object.values(s.envs)) if (cell.status === 'Failed') n++;
  return n;
}

/** The document title for a route. */
export function pageTitle(route: Route, failed: number): string {
  const page =
    route.page === 'service'
      ? `${route.service} · `
      : route.page === 'env'
        ? `${route.env} · `
        : route.page === 'preview'
          ? `next ${route.transition} promotion · `
          : route.page === 'previews'
            ? 'previews · '
            : route.page === 'dora'
              ? 'DORA keys · '
              : '';
  return `${failed > 0 ? `(${failed} failed) ` : ''}${page}Slipway`;
}
