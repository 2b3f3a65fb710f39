import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Timeline } from '../api/types';
import { fakeApi, renderWith } from '../testing';
import { VersionTimeline, positions, versionChoices } from './VersionTimeline';

const c = (n: number) => String(n).repeat(40);

function timeline(version = '2.0.0'): Timeline {
  return {
    service: 'web',
    version,
    origin: { event: 'posted', at: '2026-11-22T08:00:00Z', commit: c(1) },
    envs: [
      { env: 'latest', events: [{ event: 'posted', at: '2026-11-22T08:00:00Z', commit: c(1) }] },
      {
        env: 'dev',
        events: [
          { event: 'promoted', at: '2026-11-22T08:01:00Z', commit: c(2) },
          { event: 'clean', at: '2026-11-22T08:02:00Z', commit: c(2) },
        ],
      },
      {
        env: 'prod',
        events: [
          { event: 'promoted', at: '2026-11-22T08:03:00Z', commit: c(3) },
          { event: 'failed', at: '2026-11-22T08:04:00Z', commit: c(3) },
          { event: 'rolled_back', at: '2026-11-22T08:04:00Z', commit: c(4) },
        ],
      },
    ],
  };
}

describe('VersionTimeline', () => {
  it('draws per env the events of the default version, each labelled with its time and commit link', async () => {
    const api = fakeApi({ timeline: vi.fn(async () => timeline()) });
    renderWith(<VersionTimeline service="web" versions={['2.0.0', '1.0.0']} refreshKey="h" />, { api });
    const dev = await screen.findByRole('list', { name: 'Timeline of web 2.0.0 in dev' });
    expect(api.timeline).toHaveBeenCalledWith('web', '2.0.0');
    const promoted = within(dev).getByRole('link', {
      name: `promoted into dev at 2026-11-22 08:01:00 UTC, commit ${c(2).slice(0, 8)}`,
    });
    expect(promoted.getAttribute('href')).toBe(`#/history?q=${c(2)}`);
    within(dev).getByRole('link', { name: /^Clean in dev at 2026-11-22 08:02:00 UTC/ });
    const prod = screen.getByRole('list', { name: 'Timeline of web 2.0.0 in prod' });
    within(prod).getByRole('link', { name: /^Failed in prod at/ });
    within(prod).getByRole('link', { name: /^rolled back in prod at 2026-11-22 08:04:00 UTC, commit 44444444$/ });
    expect(screen.getByText(/Posted 2026-11-22 08:00:00 UTC in commit/)).toBeTruthy();
    // Placed on one time axis from the post (0 %) to the last event (100 %).
    const left = (list: HTMLElement, event: string) =>
      (list.querySelector(`[data-event="${event}"]`) as HTMLElement).style.left;
    expect(left(screen.getByRole('list', { name: /in latest$/ }), 'posted')).toBe('0%');
    expect(left(dev, 'promoted')).toBe('25%');
    expect(left(prod, 'failed')).toBe('100%');
  });

  it('loads another version when one is chosen, and says when no commit brought it', async () => {
    const api = fakeApi({
      timeline: vi.fn(async (_s: string, v: string) => (v === '2.0.0' ? timeline() : null)),
    });
    renderWith(<VersionTimeline service="web" versions={['2.0.0', '1.0.0']} refreshKey="h" />, { api });
    await screen.findByRole('list', { name: 'Timeline of web 2.0.0 in dev' });
    await userEvent.selectOptions(screen.getByLabelText('Version'), '1.0.0');
    await screen.findByText('No commit brought version 1.0.0 of web into any env.');
    expect(api.timeline).toHaveBeenLastCalledWith('web', '1.0.0');
    expect(screen.queryByRole('list', { name: /Timeline of web/ })).toBeNull();
  });

  it('shows the error of a failed request', async () => {
    const api = fakeApi({
      timeline: vi.fn(async () => {
        throw new Error('aggregator unreachable');
      }),
    });
    renderWith(<VersionTimeline service="web" versions={['2.0.0']} refreshKey="h" />, { api });
    await screen.findByText(/Could not load the timeline: .*aggregator unreachable/);
  });

  it('offers each env version once, first env first, and places one instant at the start', () => {
    expect(versionChoices(['2.0.0', null, '1.0.0', '2.0.0', undefined, ''])).toEqual(['2.0.0', '1.0.0']);
    const single: Timeline = {
      service: 'web',
      version: '1',
      origin: null,
      envs: [{ env: 'dev', events: [{ event: 'changed', at: '2026-11-22T08:00:00Z', commit: c(5) }] }],
    };
    expect(positions(single)('2026-11-22T08:00:00Z')).toBe(0);
  });
});
