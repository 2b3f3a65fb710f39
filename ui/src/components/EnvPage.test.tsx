import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { fakeApi, renderWith, sampleHistory, sampleState } from '../testing';
import { EnvPage } from './EnvPage';

describe('EnvPage', () => {
  it('shows where the env deploys, its lock, promotions, services and whole history', async () => {
    const api = fakeApi({ history: vi.fn(async () => sampleHistory()) });
    renderWith(<EnvPage state={sampleState()} env="prod" />, { api });
    expect(screen.getByRole('heading', { level: 1, name: 'prod' })).toBeTruthy();
    expect(screen.getByText(/Deployed to namespace/).textContent).toContain('1 of 2 services failed');
    expect(screen.getByRole('button', { name: 'Env prod locked: release freeze' })).toBeTruthy();
    expect(screen.getByText('Blocked: source dev is InProgress')).toBeTruthy();
    const services = screen.getByRole('table');
    expect(within(services).getByRole('link', { name: 'api' })).toBeTruthy();
    expect(within(services).queryByRole('link', { name: 'web' })).toBeNull();
    await screen.findByText('Fixes <script>alert("x")</script> & <b>bold</b>');
    expect(api.history).toHaveBeenCalledWith({ env: 'prod', service: undefined, limit: 50 });
    expect(screen.getAllByRole('link', { name: 'api' }).length).toBeGreaterThan(1); // history names the service
    expect(screen.queryByRole('button', { name: /Roll back/ })).toBeNull();
  });

  it('starts a transition out of or into the env', async () => {
    const api = fakeApi();
    renderWith(<EnvPage state={sampleState()} env="dev" />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Run prod now…' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Run now' }));
    expect(api.runTransition).toHaveBeenCalledWith('prod');
    await screen.findByText('No commits changed dev yet.');
  });

  it('lists the holds of its services with a release action', async () => {
    const state = sampleState();
    const web = state.services[1]?.envs.dev;
    if (web) {
      web.lock_reasons = ['incident 4711', 'rolled back from 1.1.0 to 1.0.0 by alice'];
      web.holds = ['rolled back from 1.1.0 to 1.0.0 by alice'];
    }
    const api = fakeApi();
    renderWith(<EnvPage state={state} env="dev" />, { api, token: 'tok' });
    const holds = screen.getByRole('group', { name: 'Holds on web in dev' });
    expect(holds.textContent).toContain('Held: rolled back from 1.1.0 to 1.0.0 by alice');
    expect(holds.textContent).not.toContain('incident 4711');
    expect(screen.queryByRole('group', { name: 'Holds on api in dev' })).toBeNull();
    await userEvent.click(within(holds).getByRole('button', { name: 'Release hold on web in dev' }));
    expect(api.unlock).toHaveBeenCalledWith({ env: 'dev', service: 'web' }, 'rolled back from 1.1.0 to 1.0.0 by alice');
    expect((await screen.findByRole('status')).textContent).toContain('Released the hold on web in dev');
  });

  it('says when the env does not exist', () => {
    renderWith(<EnvPage state={sampleState()} env="qa" />);
    expect(screen.getByText(/There is no environment/)).toBeTruthy();
  });
});
