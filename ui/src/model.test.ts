import { describe, expect, it } from 'vitest';
import type { State, TransitionStatus } from './api/types';
import {
  countFailed,
  describePullRequest,
  envHref,
  filterServices,
  formatRelative,
  formatTime,
  overviewHref,
  pageTitle,
  doraHref,
  historyHref,
  parseRoute,
  serviceHref,
  stalenessReasons,
  summarizeTransition,
  transitionsInto,
} from './model';
import { serviceInEnv, state as fullState, transition as complete } from './testing';

const NOW = new Date('2026-11-22T08:00:00Z');

function transition(over: Partial<TransitionStatus>): TransitionStatus {
  return complete({ name: 'prod', source: 'pp', target: 'prod', ...over });
}

describe('summarizeTransition', () => {
  it('says a frozen transition is frozen until its windows open, and what it would ship', () => {
    const s = summarizeTransition(
      transition({
        result: 'Blocked',
        state: 'Frozen',
        frozen_until: '2026-11-30T09:00:00Z',
        reason: 'frozen: inside deny window "0 0 18 * * Fri" for 2days 16h (Europe/Berlin): weekend freeze',
        pending: ['web'],
        would_ship: [{ service: 'web', old: '1.1.0', new: '1.2.0' }],
      }),
      NOW,
    );
    expect(s.tone).toBe('blocked');
    expect(s.headline).toBe('Frozen until 2026-11-30 09:00 UTC');
    expect(s.details.some((d) => d.includes('weekend freeze'))).toBe(true);
    expect(s.details).toContain('Would ship: web 1.1.0 → 1.2.0');
  });

  it('counts approvals and shows a rejection', () => {
    const s = summarizeTransition(
      transition({
        result: 'Blocked',
        state: 'AwaitingApproval',
        approvals_needed: 2,
        approved_by: ['alice'],
        rejected: { by: 'bob', at: '2026-11-22T07:00:00Z', reason: 'waits for the schema change' },
        would_ship: [{ service: 'web', old: null, new: '1.0.0' }],
      }),
      NOW,
    );
    expect(s.tone).toBe('waiting');
    expect(s.headline).toBe('Awaiting approval: 1 of 2');
    expect(s.details).toContain('Would ship: web (new) → 1.0.0');
    expect(s.details).toContain('Approved by: alice');
    expect(s.details).toContain('Rejected by bob: waits for the schema change');
  });

  it('shows holds in the target even when nothing waits for them', () => {
    const s = summarizeTransition(
      transition({
        result: 'Skipped',
        state: 'UpToDate',
        holds: [{ service: 'api', reason: 'held: rolled back from 2 to 1 by alice' }],
      }),
      NOW,
    );
    expect(s.details).toContain('Hold on api: rolled back from 2 to 1 by alice');
  });

  it('says a pull-request promotion waits for its merge', () => {
    expect(summarizeTransition(transition({ state: 'AwaitingMerge' }), NOW).headline).toBe(
      'Awaiting merge of its promotion branch',
    );
  });

  it('says a blocked transition is blocked, with the reason', () => {
    const s = summarizeTransition(transition({ result: 'Blocked', reason: 'source pp is InProgress' }), NOW);
    expect(s.tone).toBe('blocked');
    expect(s.headline).toBe('Blocked: source pp is InProgress');
  });

  it('says a failed check failed, with the reason', () => {
    const s = summarizeTransition(transition({ result: 'CheckFailed', reason: 'source pp is Failed' }), NOW);
    expect(s.tone).toBe('failed');
    expect(s.headline).toBe('Check failed: source pp is Failed');
  });

  it('tells when a scheduled transition with waiting services runs next', () => {
    const s = summarizeTransition(
      transition({
        result: 'Skipped',
        pending: ['web'],
        next_scheduled: '2026-11-22T09:00:00Z',
        schedule: '0 0 9 * * *',
      }),
      NOW,
    );
    expect(s.tone).toBe('waiting');
    expect(s.headline).toBe('Next run in 1 h (2026-11-22 09:00 UTC)');
    expect(s.details).toContain('Waiting: web');
    expect(s.details).toContain('Schedule: 0 0 9 * * *');
  });

  it('lists services held by locks and the last promotion', () => {
    const s = summarizeTransition(
      transition({
        result: 'Success',
        skipped: [{ service: 'api', reason: 'locked in prod: incident 4711' }],
        recent_runs: [
          { at: '2026-11-22T07:50:00Z', commit: 'abc', promotions: [{ service: 'web', old: '1.0.0', new: '1.1.0' }] },
        ],
      }),
      NOW,
    );
    expect(s.tone).toBe('ok');
    expect(s.headline).toBe('Up to date');
    expect(s.details).toEqual([
      'Held: api (locked in prod: incident 4711)',
      'Last promoted 10 min ago: web 1.0.0 → 1.1.0',
    ]);
  });

  it('does not claim up to date before the transitioner has reported', () => {
    expect(summarizeTransition(transition({}), NOW).headline).toBe('Not evaluated yet');
  });

  it('says a manual transition waits for a person', () => {
    expect(summarizeTransition(transition({ manual: true, pending: ['web'] }), NOW).headline).toBe(
      'Waiting for a manual run',
    );
    expect(summarizeTransition(transition({ manual: true }), NOW).headline).toBe('Manual: runs only when started');
  });
});

describe('formatting', () => {
  it('formats relative times coarsely in both directions', () => {
    expect(formatRelative('2026-11-22T07:59:50Z', NOW)).toBe('just now');
    expect(formatRelative('2026-11-22T08:00:05Z', NOW)).toBe('just now');
    expect(formatRelative('2026-11-22T08:00:30Z', NOW)).toBe('in a few seconds');
    expect(formatRelative('2026-11-22T07:30:00Z', NOW)).toBe('30 min ago');
    expect(formatRelative('2026-11-22T11:00:00Z', NOW)).toBe('in 3 h');
    expect(formatRelative('2026-11-19T08:00:00Z', NOW)).toBe('3 days ago');
    expect(formatRelative('not a time', NOW)).toBe('not a time');
  });

  it('formats absolute times in UTC', () => {
    expect(formatTime('2026-11-22T10:15:30+01:00')).toBe('2026-11-22 09:15 UTC');
    expect(formatTime('2026-11-22T10:15:30+01:00', { seconds: true })).toBe('2026-11-22 09:15:30 UTC');
  });
});

describe('title', () => {
  it('names the page and counts failed services first', () => {
    const state = fullState({
      services: [
        {
          name: 'web',
          envs: { dev: serviceInEnv({ status: 'Failed' }), prod: serviceInEnv({ status: 'Clean' }) },
        },
      ],
    });
    expect(countFailed(state)).toBe(1);
    expect(pageTitle({ page: 'service', service: 'web' }, countFailed(state))).toBe('(1 failed) web · Slipway');
    expect(pageTitle({ page: 'overview', filter: '' }, 0)).toBe('Slipway');
  });
});

describe('routes', () => {
  it('reads the overview and service pages from the hash, including services with slashes', () => {
    expect(parseRoute('')).toEqual({ page: 'overview', filter: '' });
    expect(parseRoute('#/')).toEqual({ page: 'overview', filter: '' });
    expect(parseRoute(overviewHref(' team-a/ '))).toEqual({ page: 'overview', filter: 'team-a/' });
    expect(overviewHref('')).toBe('#/');
    expect(parseRoute('#/services/web')).toEqual({ page: 'service', service: 'web' });
    expect(parseRoute(serviceHref('team-a/api'))).toEqual({ page: 'service', service: 'team-a/api' });
    expect(parseRoute('#/envs/prod')).toEqual({ page: 'env', env: 'prod' });
    expect(parseRoute(envHref('pp'))).toEqual({ page: 'env', env: 'pp' });
    expect(parseRoute('#/nope')).toEqual({ page: 'not-found', hash: '#/nope' });
  });

  it('reads the DORA page with its period and service, and history with its search text', () => {
    expect(parseRoute('#/dora')).toEqual({ page: 'dora', since: '30d', service: '' });
    expect(parseRoute(doraHref('7d', 'team-a/api'))).toEqual({ page: 'dora', since: '7d', service: 'team-a/api' });
    expect(doraHref('90d', '')).toBe('#/dora?since=90d');
    expect(parseRoute('#/history')).toEqual({ page: 'history', text: '' });
    expect(parseRoute(historyHref('abc123'))).toEqual({ page: 'history', text: 'abc123' });
    expect(pageTitle({ page: 'dora', since: '30d', service: '' }, 0)).toBe('DORA keys · Slipway');
  });
});

describe('overview data', () => {
  const state: State = fullState({
    services: [
      { name: 'web', envs: {} },
      { name: 'api', envs: {} },
      { name: 'team-a/worker', envs: {} },
    ],
    transitions: [transition({ name: 'dev', source: 'latest', target: 'dev' })],
  });

  it('filters services by a case-insensitive part of the name', () => {
    expect(filterServices(state.services, ' WE ').map((s) => s.name)).toEqual(['web']);
    expect(filterServices(state.services, 'a').map((s) => s.name)).toEqual(['api', 'team-a/worker']);
    expect(filterServices(state.services, '')).toHaveLength(3);
  });

  it('finds the transitions into an env', () => {
    expect(transitionsInto(state, 'dev').map((t) => t.name)).toEqual(['dev']);
    expect(transitionsInto(state, 'latest')).toEqual([]);
  });

  it('explains every reason the data may be stale', () => {
    expect(stalenessReasons({ connected: true, state: { ...state, stale: false }, loadError: null })).toEqual([]);
    expect(
      stalenessReasons({
        connected: false,
        state: { ...state, stale: true, stale_reasons: ['deployer unreachable: connection refused'] },
        loadError: 'Could not load the state: boom',
      }),
    ).toEqual([
      'Live updates are disconnected; reconnecting.',
      'Could not load the state: boom',
      'The aggregator reports stale data: deployer unreachable: connection refused.',
    ]);
  });
});

describe('describePullRequest', () => {
  it('names the request as its host does, with number and state', () => {
    expect(describePullRequest({ host: 'github', number: 4, state: 'closed' })).toBe('Pull request #4 (closed)');
    expect(describePullRequest({ host: 'gitlab', number: 4, state: 'open' })).toBe('Merge request #4 (open)');
    expect(describePullRequest({ host: 'gitea' })).toBe('Pull request');
  });
});
