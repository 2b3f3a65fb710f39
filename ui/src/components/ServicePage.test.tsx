import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import type { HistoryEntry } from '../api/types';
import { fakeApi, renderWith, sampleHistory, sampleState } from '../testing';
import { ServicePage } from './ServicePage';

function section(env: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`section[data-env="${env}"]`);
  if (!el) throw new Error(`no section for ${env}`);
  return el;
}

const historyOfProd = async ({ env }: { env: string }): Promise<HistoryEntry[]> =>
  env === 'prod' ? sampleHistory() : [];

describe('ServicePage', () => {
  it('shows the timeline of the version in the first env that has the service', async () => {
    const api = fakeApi({
      timeline: vi.fn(async (service: string, version: string) => ({
        service,
        version,
        origin: null,
        envs: [
          { env: 'dev', events: [{ event: 'promoted' as const, at: '2026-11-22T07:00:00Z', commit: 'a'.repeat(40) }] },
        ],
      })),
    });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api });
    await screen.findByRole('list', { name: 'Timeline of api 2.0.0 in dev' });
    expect(api.timeline).toHaveBeenCalledWith('api', '2.0.0');
    expect(
      within(screen.getByLabelText('Version'))
        .getAllByRole('option')
        .map((o) => o.textContent),
    ).toEqual(['2.0.0', '1.9.0']);
  });

  it('shows per env the version vars, resources with status and reason, and locks', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { api: fakeApi({ history: historyOfProd }) });
    const prod = section('prod');
    expect(within(prod).getByRole('heading', { name: 'prod' })).toBeTruthy();
    expect(within(prod).getByRole('rowheader', { name: 'replicas' })).toBeTruthy();
    expect(within(prod).getByText('3')).toBeTruthy();
    const resources = prod.querySelector('table.resources');
    expect(resources?.textContent).toContain('Deployment');
    expect(resources?.textContent).toContain('ProgressDeadlineExceeded: api timed out');
    expect(within(prod).getByRole('button', { name: 'api in prod locked: incident 4711' })).toBeTruthy();
    expect(within(prod).getByRole('button', { name: 'Env prod locked: release freeze' })).toBeTruthy();
    expect(screen.getByText('Not in latest (no version file there).')).toBeTruthy();
    await within(prod).findByText('transitioner', { exact: false });
  });

  it('says why a version waiting upstream has not moved yet', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { api: fakeApi({ history: historyOfProd }) });
    const prod = section('prod');
    expect(within(prod).getByText(/2\.0\.0 waits in dev/).textContent).toContain(': Blocked: source dev is InProgress');
    await within(prod).findByText('transitioner', { exact: false });
  });

  it('renders changelogs as text, never as HTML', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { api: fakeApi({ history: historyOfProd }) });
    const changelog = await screen.findByText('Fixes <script>alert("x")</script> & <b>bold</b>');
    expect(changelog.tagName).toBe('PRE');
    expect(document.querySelector('script')).toBeNull();
    expect(document.querySelector('pre b')).toBeNull();
  });

  it('shows history entries with author, old → new version and kind', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { api: fakeApi({ history: historyOfProd }) });
    const entries = await within(section('prod')).findAllByRole('listitem');
    expect(entries).toHaveLength(2);
    expect(entries[0]?.getAttribute('data-kind')).toBe('promotion');
    expect(entries[0]?.querySelector('.old')?.textContent).toBe('1.8.0');
    expect(entries[0]?.querySelector('.new')?.textContent).toBe('1.9.0');
    expect(entries[0]?.textContent).toContain('by transitioner, 1 h ago (2026-11-22 07:00 UTC)');
  });

  it('rolls back after a confirmation that shows the old and the new version', async () => {
    const api = fakeApi({ history: historyOfProd });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api, token: 'tok' });
    await userEvent.click(await screen.findByRole('button', { name: /Roll back api in prod to 1\.8\.0/ }));
    const dialog = screen.getByRole('dialog', { name: 'Roll back api in prod' });
    const change = within(dialog).getByLabelText('Version change');
    expect(change.querySelector('.old')?.textContent).toBe('1.9.0');
    expect(change.querySelector('.new')?.textContent).toBe('1.8.0');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Roll back to 1.8.0' }));
    expect(api.rollback).toHaveBeenCalledWith('prod', 'api', 'aaaa000000000000000000000000000000000000', true);
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(screen.getByRole('status').textContent).toContain('Rolled back api in prod to 1.8.0');
    expect(screen.getByRole('status').textContent).toContain('api is held in prod until you release the hold');
  });

  it('says that a rollback places a hold and lets the user roll back without one', async () => {
    const api = fakeApi({ history: historyOfProd });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api, token: 'tok' });
    await userEvent.click(await screen.findByRole('button', { name: /Roll back api in prod to 1\.8\.0/ }));
    const dialog = screen.getByRole('dialog', { name: 'Roll back api in prod' });
    const hold = within(dialog).getByRole('checkbox', { name: 'Hold api in prod after the rollback' });
    expect((hold as HTMLInputElement).checked).toBe(true);
    expect(dialog.textContent).toContain('The rollback places a hold');
    await userEvent.click(hold);
    expect(dialog.textContent).toContain('the next promotion into prod may replace the restored version');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Roll back to 1.8.0' }));
    expect(api.rollback).toHaveBeenCalledWith('prod', 'api', 'aaaa000000000000000000000000000000000000', false);
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(screen.getByRole('status').textContent).not.toContain('held');
  });

  it('shows a hold with its reason and releases it by unlocking that reason', async () => {
    const state = sampleState();
    const dev = state.services[0]?.envs.dev;
    if (dev) {
      dev.lock_reasons = ['rolled back from 2.1.0 to 2.0.0 by alice'];
      dev.holds = ['rolled back from 2.1.0 to 2.0.0 by alice'];
    }
    const api = fakeApi({ history: historyOfProd });
    renderWith(<ServicePage state={state} service="api" />, { api, token: 'tok' });
    const holds = within(section('dev')).getByRole('group', { name: 'Holds on api in dev' });
    expect(holds.textContent).toContain('Held: rolled back from 2.1.0 to 2.0.0 by alice');
    expect(within(section('prod')).queryByRole('group', { name: /Holds/ })).toBeNull();
    await userEvent.click(within(holds).getByRole('button', { name: 'Release hold on api in dev' }));
    expect(api.unlock).toHaveBeenCalledWith({ env: 'dev', service: 'api' }, 'rolled back from 2.1.0 to 2.0.0 by alice');
    expect((await screen.findByRole('status')).textContent).toContain('Released the hold on api in dev');
  });

  it('shows a token without the scope to release a hold as an error and keeps the token', async () => {
    const state = sampleState();
    const dev = state.services[0]?.envs.dev;
    if (dev) {
      dev.lock_reasons = ['rolled back from 2.1.0 to 2.0.0 by alice'];
      dev.holds = ['rolled back from 2.1.0 to 2.0.0 by alice'];
    }
    const api = fakeApi({
      history: historyOfProd,
      unlock: async () => {
        throw new ApiError('Your token may not do this: it lacks the scope locks=dev (...).', 403, null, 'locks=dev');
      },
    });
    renderWith(<ServicePage state={state} service="api" />, { api, token: 'ci-token' });
    const holds = within(section('dev')).getByRole('group', { name: 'Holds on api in dev' });
    await userEvent.click(within(holds).getByRole('button', { name: 'Release hold on api in dev' }));
    expect((await within(holds).findByRole('alert')).textContent).toContain('lacks the scope locks=dev');
    expect(sessionStorage.getItem('slipway.token')).toBe('ci-token');
  });

  it('shows a lock on a service the repo does not know as the error the API gave', async () => {
    const api = fakeApi({
      history: historyOfProd,
      lock: async () => {
        throw new ApiError('unknown service "api" in dev: known are web (HTTP 404)', 404);
      },
    });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Lock or unlock api in dev' }));
    const dialog = screen.getByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'incident');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Lock' }));
    expect((await within(dialog).findByRole('alert')).textContent).toContain('known are web (HTTP 404)');
  });

  it('offers no rollback to the version that runs now', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { api: fakeApi({ history: historyOfProd }) });
    await screen.findByRole('button', { name: /to 1\.8\.0/ });
    expect(screen.queryByRole('button', { name: /to 1\.9\.0/ })).toBeNull();
  });

  it('shows a refused token as an error and asks for the token again', async () => {
    const api = fakeApi({
      history: historyOfProd,
      rollback: async () => {
        throw new ApiError('The token was refused (401): unknown token. Enter a valid API token.', 401);
      },
    });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api, token: 'wrong' });
    await userEvent.click(await screen.findByRole('button', { name: /Roll back api in prod to 1\.8\.0/ }));
    const dialog = screen.getByRole('dialog');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Roll back to 1.8.0' }));
    expect((await within(dialog).findByRole('alert')).textContent).toContain('The token was refused (401)');
    expect(within(dialog).getByLabelText('API token')).toBeTruthy();
    expect(sessionStorage.getItem('slipway.token')).toBeNull();
  });

  it('unlocks a service from its lock dialog', async () => {
    const api = fakeApi({ history: historyOfProd });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Lock or unlock api in prod' }));
    const dialog = screen.getByRole('dialog', { name: 'Lock api in prod' });
    expect(within(dialog).getByText('incident 4711')).toBeTruthy();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Unlock api in prod' }));
    expect(api.unlock).toHaveBeenCalledWith({ env: 'prod', service: 'api' }, undefined);
  });

  it('closes a dialog with Escape and returns focus', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { api: fakeApi({ history: historyOfProd }) });
    const opener = screen.getByRole('button', { name: 'Lock or unlock api in dev' });
    await userEvent.click(opener);
    expect(screen.getByRole('dialog')).toBeTruthy();
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
  });

  it('shows a history that fails to load as an error', async () => {
    const api = fakeApi({
      history: async () => {
        throw new ApiError('unknown env (HTTP 404)', 404);
      },
    });
    renderWith(<ServicePage state={sampleState()} service="api" />, { api });
    const alerts = await screen.findAllByRole('alert');
    expect(alerts[0]?.textContent).toContain('Could not load the history of api in dev: unknown env (HTTP 404)');
  });

  it('says when the service does not exist', () => {
    renderWith(<ServicePage state={sampleState()} service="nope" />);
    expect(screen.getByText(/There is no service/)).toBeTruthy();
  });
});

describe('dialog focus', () => {
  it('puts the focus on the reason field even when lock reasons come first', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Lock or unlock api in prod' }));
    expect(document.activeElement).toBe(screen.getByLabelText('Add a reason'));
  });

  it('keeps Tab inside the dialog', async () => {
    renderWith(<ServicePage state={sampleState()} service="api" />, { token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Lock or unlock api in dev' }));
    const dialog = screen.getByRole('dialog');
    for (let i = 0; i < 6; i++) {
      await userEvent.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
  });
});
