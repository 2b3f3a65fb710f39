import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { fakeApi, renderWith, sampleState, transition } from '../testing';
import { Overview } from './Overview';

function cell(service: string, env: string): HTMLElement {
  const row = document.querySelector<HTMLElement>(`tr[data-service="${service}"]`);
  const td = row?.querySelector<HTMLElement>(`td[data-env="${env}"]`);
  if (!td) throw new Error(`no cell for ${service} in ${env}`);
  return td;
}

describe('Overview', () => {
  it('shows envs as columns in promotion order and services as rows', () => {
    renderWith(<Overview state={sampleState()} />);
    const headers = screen.getAllByRole('columnheader').map((h) => h.getAttribute('data-env'));
    expect(headers).toEqual([null, 'latest', 'dev', 'prod']);
    expect(screen.getByRole('link', { name: 'api' }).getAttribute('href')).toBe('#/services/api');
    expect(screen.getByRole('link', { name: 'web' })).toBeTruthy();
  });

  it('labels version, status and phase with words, not colour alone', () => {
    renderWith(<Overview state={sampleState()} />);
    const c = cell('web', 'dev');
    expect(within(c).getByText('1.0.0')).toBeTruthy();
    expect(within(c).getByText('In progress').closest('[data-status]')?.getAttribute('data-status')).toBe('InProgress');
    expect(within(c).getByText('Deploying')).toBeTruthy();
    expect(within(c).getByText('1 of 2 updated replicas available')).toBeTruthy();
    expect(within(cell('api', 'prod')).getByText('Failed')).toBeTruthy();
    expect(within(cell('api', 'prod')).getByText('Deploy failed')).toBeTruthy();
    expect(within(cell('api', 'latest')).getByText('not in latest')).toBeTruthy();
  });

  it('says why an env is not clean under its name', () => {
    renderWith(<Overview state={sampleState()} />);
    const prod = document.querySelector<HTMLElement>('th[data-env="prod"]');
    expect(prod?.textContent).toContain('1 of 2 services failed');
    expect(within(prod as HTMLElement).getByText('Failed')).toBeTruthy();
  });

  it('gives lock icons their reasons as accessible names and tooltips', () => {
    renderWith(<Overview state={sampleState()} />);
    expect(screen.getByRole('button', { name: 'Env prod locked: release freeze' })).toBeTruthy();
    const serviceLock = within(cell('api', 'prod')).getByRole('button', { name: 'api in prod locked: incident 4711' });
    expect(serviceLock).toBeTruthy();
    expect(within(cell('api', 'prod')).getByRole('tooltip').textContent).toBe('api in prod locked: incident 4711');
  });

  it('says when the deployer has not reported a service in a deployed env yet', () => {
    const state = sampleState();
    const api = state.services[0];
    if (!api?.envs.dev) throw new Error('sample state changed');
    api.envs.dev = { ...api.envs.dev, status: null, phase: null };
    renderWith(<Overview state={state} />);
    expect(within(cell('api', 'dev')).getByText('not reported by the deployer yet')).toBeTruthy();
    expect(within(cell('web', 'latest')).queryByText('not reported by the deployer yet')).toBeNull();
  });

  it('marks a newer version waiting upstream', () => {
    renderWith(<Overview state={sampleState()} />);
    expect(within(cell('web', 'dev')).getByText(/1\.1\.0 waits in latest/)).toBeTruthy();
    expect(within(cell('web', 'latest')).queryByText(/waits in/)).toBeNull();
  });

  it('says per transition whether it is blocked and why', () => {
    renderWith(<Overview state={sampleState()} />);
    const strip = document.querySelector<HTMLElement>('[data-transition="prod"]');
    expect(strip?.textContent).toContain('Blocked: source dev is InProgress');
    expect(strip?.textContent).toContain('Waiting: api');
    expect(document.querySelector('[data-transition="dev"]')?.textContent).toContain('Promotion pending');
  });

  it('filters services by name', async () => {
    renderWith(<Overview state={sampleState()} />);
    await userEvent.type(screen.getByLabelText('Filter services'), 'we');
    expect(screen.queryByRole('link', { name: 'api' })).toBeNull();
    expect(screen.getByRole('link', { name: 'web' })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Filter services'), { target: { value: 'zzz' } });
    expect(screen.getByText(/No service name contains “zzz”/)).toBeTruthy();
  });

  it("lists problems in repo files that are no single service's", () => {
    renderWith(<Overview state={{ ...sampleState(), repo_errors: ['prod/locks.yaml:2: invalid YAML: oops'] }} />);
    const panel = screen.getByRole('region', { name: /Problems in the resource repo/ });
    expect(within(panel).getByText('prod/locks.yaml:2: invalid YAML: oops')).toBeTruthy();
  });

  it('shows a service whose version file cannot be read with its error', () => {
    const state = sampleState();
    const web = state.services[1];
    if (!web?.envs.dev) throw new Error('sample state changed');
    web.envs.dev = { ...web.envs.dev, version: '', error: 'dev/version/web.yaml:3: invalid YAML' };
    renderWith(<Overview state={state} />);
    expect(within(cell('web', 'dev')).getByText('(no version)')).toBeTruthy();
    expect(within(cell('web', 'dev')).getByText('dev/version/web.yaml:3: invalid YAML')).toBeTruthy();
  });

  it('focuses the filter on "/"', async () => {
    renderWith(<Overview state={sampleState()} />);
    await userEvent.keyboard('/');
    expect(document.activeElement).toBe(screen.getByLabelText('Filter services'));
    expect((screen.getByLabelText('Filter services') as HTMLInputElement).value).toBe('');
  });

  it('keeps the filter in the URL and starts from it', async () => {
    renderWith(<Overview state={sampleState()} initialFilter="ap" />);
    expect(screen.queryByRole('link', { name: 'web' })).toBeNull();
    await userEvent.clear(screen.getByLabelText('Filter services'));
    await userEvent.type(screen.getByLabelText('Filter services'), 'web');
    expect(window.location.hash).toBe('#/?filter=web');
  });

  it('tells how to add the first service when there is none', () => {
    renderWith(<Overview state={{ ...sampleState(), services: [] }} />);
    expect(screen.getByText('No services yet.')).toBeTruthy();
    expect(screen.getByText(/\/api\/versions/)).toBeTruthy();
  });

  it('locks an env with a reason, asking for the token once', async () => {
    const api = fakeApi();
    renderWith(<Overview state={sampleState()} />, { api });
    await userEvent.click(screen.getByRole('button', { name: 'Lock or unlock env dev' }));
    const dialog = screen.getByRole('dialog', { name: 'Lock env dev' });
    await userEvent.type(within(dialog).getByLabelText('API token'), 'tok');
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'release freeze');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Lock' }));
    expect(api.lock).toHaveBeenCalledWith({ env: 'dev' }, 'release freeze');
    expect(sessionStorage.getItem('slipway.token')).toBe('tok');
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(screen.getByRole('status').textContent).toContain('Locked env dev: release freeze');
  });

  it('runs a transition by hand and shows the result', async () => {
    const api = fakeApi({
      runTransition: async () => ({
        result: 'Blocked',
        state: 'Blocked',
        reason: 'source dev is InProgress',
        commit: null,
      }),
    });
    renderWith(<Overview state={sampleState()} />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Run transition prod now' }));
    const dialog = screen.getByRole('dialog');
    expect(within(dialog).queryByLabelText('API token')).toBeNull();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Run now' }));
    expect((await within(dialog).findByRole('status')).textContent).toBe('Result: Blocked: source dev is InProgress');
  });
});

describe('promotion control', () => {
  function awaiting() {
    const state = sampleState();
    state.transitions = [
      transition({
        name: 'prod',
        source: 'dev',
        target: 'prod',
        result: 'Blocked',
        state: 'AwaitingApproval',
        reason: 'awaiting approval: 1 of 2 (alice) for api 1.0 → 1.1',
        pending: ['api'],
        would_ship: [{ service: 'api', old: '1.0', new: '1.1' }],
        approvals_needed: 2,
        approved_by: ['alice'],
      }),
    ];
    return state;
  }

  it('approves what a transition would ship, showing it first', async () => {
    const api = fakeApi();
    renderWith(<Overview state={awaiting()} />, { api, token: 'tok' });
    expect(document.querySelector('[data-transition="prod"]')?.textContent).toContain('Awaiting approval: 1 of 2');
    await userEvent.click(screen.getByRole('button', { name: 'Approve promotion prod' }));
    const dialog = screen.getByRole('dialog', { name: 'Approve promotion prod (dev → prod)' });
    expect(within(dialog).getByText('api 1.0 → 1.1')).toBeTruthy();
    expect(dialog.textContent).toContain('Approvals so far: 1 of 2 (alice)');
    await userEvent.type(within(dialog).getByLabelText('Reason (optional)'), 'looks good');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Approve' }));
    expect(api.approveTransition).toHaveBeenCalledWith('prod', 'looks good');
    expect((await within(dialog).findByRole('status')).textContent).toContain('Approved; now AwaitingApproval');
  });

  it('rejects only with a reason', async () => {
    const api = fakeApi();
    renderWith(<Overview state={awaiting()} />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Reject promotion prod' }));
    const dialog = screen.getByRole('dialog', { name: 'Reject promotion prod (dev → prod)' });
    fireEvent.submit(within(dialog).getByRole('button', { name: 'Reject' }).closest('form')!);
    expect((await within(dialog).findByRole('alert')).textContent).toContain('Say what must change');
    expect(api.rejectTransition).not.toHaveBeenCalled();
    await userEvent.type(within(dialog).getByLabelText('Reason'), 'waits for the schema change');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Reject' }));
    expect(api.rejectTransition).toHaveBeenCalledWith('prod', 'waits for the schema change');
  });

  it('breaks the glass of a frozen transition with a reason', async () => {
    const api = fakeApi();
    const state = sampleState();
    state.transitions = [
      transition({
        name: 'prod',
        source: 'dev',
        target: 'prod',
        result: 'Blocked',
        state: 'Frozen',
        frozen_until: '2026-11-30T09:00:00Z',
        reason: 'frozen: inside deny window (UTC): weekend freeze',
        pending: ['api'],
      }),
    ];
    renderWith(<Overview state={state} />, { api, token: 'tok' });
    expect(document.querySelector('[data-transition="prod"]')?.textContent).toContain(
      'Frozen until 2026-11-30 09:00 UTC',
    );
    expect(screen.queryByRole('button', { name: 'Approve promotion prod' })).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Run transition prod through the freeze' }));
    const dialog = screen.getByRole('dialog');
    expect(dialog.textContent).toContain('weekend freeze');
    fireEvent.submit(within(dialog).getByRole('button', { name: 'Run through the freeze' }).closest('form')!);
    expect((await within(dialog).findByRole('alert')).textContent).toContain('cannot wait for its window');
    expect(api.runTransition).not.toHaveBeenCalled();
    await userEvent.type(within(dialog).getByLabelText('Reason for overriding the windows'), 'incident 4711');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Run through the freeze' }));
    expect(api.runTransition).toHaveBeenCalledWith('prod', 'incident 4711');
  });
});

describe('promotion strip', () => {
  it('shows every transition into an env, each with its own verdict', () => {
    const state = sampleState();
    state.transitions = [
      ...(state.transitions ?? []),
      transition({ name: 'hotfix', source: 'latest', target: 'prod', manual: true, pending: ['web'] }),
    ];
    renderWith(<Overview state={state} />);
    expect(document.querySelector('[data-transition="prod"]')?.textContent).toContain('Blocked');
    expect(document.querySelector('[data-transition="hotfix"]')?.textContent).toContain('Waiting for a manual run');
    expect(document.querySelector('[data-transition="hotfix"]')?.closest('td')?.className).toContain('tone-blocked');
  });
});
