import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emptyDora, fakeApi, renderWith, sampleState } from '../testing';
import { DoraPage, formatRate, formatSeconds, noData } from './DoraPage';

afterEach(() => {
  window.location.hash = '';
});

describe('DoraPage', () => {
  it('asks for each deployed env and shows the four keys as figures and charts', async () => {
    const api = fakeApi({
      dora: vi.fn(async (env: string) =>
        env === 'dev'
          ? emptyDora(env, {
              deploys: 6,
              deploys_per_day: 0.2,
              deploys_per_week: 1.4,
              lead_time: { count: 6, median_seconds: 300, p90_seconds: 7200 },
              promotions: 4,
              failed_promotions: 1,
              change_failure_rate: 0.25,
              time_to_restore: { count: 1, median_seconds: 1800, p90_seconds: 1800 },
            })
          : emptyDora(env),
      ),
    });
    renderWith(<DoraPage state={sampleState()} since="30d" service="" refreshKey="h" />, { api });
    const dev = await screen.findByRole('row', { name: /^dev/ });
    // latest is a source env: it is not deployed, so it has no keys.
    expect(api.dora.mock.calls).toEqual([
      ['dev', '30d', undefined],
      ['prod', '30d', undefined],
    ]);
    expect(
      within(dev)
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ).toEqual(['6', '1.4', '5 min', '2.0 h', '25 % (1 of 4)', '30 min']);
    const prod = screen.getByRole('row', { name: /^prod/ });
    expect(
      within(prod)
        .getAllByRole('cell')
        .map((c) => c.textContent),
    ).toEqual(['0', '0.0', '—', '—', '—', '—']);
    screen.getByRole('img', { name: 'Deploys per day: dev 0.20, prod 0.00' });
    screen.getByRole('img', { name: 'Lead time median: dev 5 min, prod —' });
    screen.getByRole('img', { name: 'Change failure rate: dev 25 %, prod —' });
    screen.getByRole('img', { name: 'Time to restore median: dev 30 min, prod —' });
    expect(screen.getByRole('button', { name: '30d' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('says so when nothing was recorded in the period', async () => {
    const api = fakeApi();
    renderWith(<DoraPage state={sampleState()} since="7d" service="api" refreshKey="h" />, { api });
    await screen.findByText(/No deploys or promotions recorded in the last 7d for api\./);
    expect(api.dora).toHaveBeenCalledWith('dev', '7d', 'api');
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('puts the chosen period and service into the URL', async () => {
    renderWith(<DoraPage state={sampleState()} since="30d" service="" refreshKey="h" />);
    await screen.findByTestId('dora-empty');
    await userEvent.click(screen.getByRole('button', { name: '90d' }));
    expect(window.location.hash).toBe('#/dora?since=90d');
    await userEvent.selectOptions(screen.getByLabelText('Service'), 'api');
    expect(window.location.hash).toBe('#/dora?since=30d&service=api');
  });

  it('shows the error of a failed request', async () => {
    const api = fakeApi({
      dora: vi.fn(async () => {
        throw new Error('boom');
      }),
    });
    renderWith(<DoraPage state={sampleState()} since="30d" service="" refreshKey="h" />, { api });
    await screen.findByText(/Could not load the four keys: .*boom/);
  });

  it('formats durations and rates for people', () => {
    expect(formatSeconds(null)).toBe('—');
    expect(formatSeconds(45)).toBe('45 s');
    expect(formatSeconds(600)).toBe('10 min');
    expect(formatSeconds(5400)).toBe('1.5 h');
    expect(formatSeconds(3 * 86400)).toBe('3.0 days');
    expect(formatRate(null)).toBe('—');
    expect(formatRate(1 / 3)).toBe('33 %');
    expect(noData([emptyDora('dev')])).toBe(true);
    expect(noData([emptyDora('dev'), emptyDora('pp', { promotions: 1 })])).toBe(false);
  });
});
