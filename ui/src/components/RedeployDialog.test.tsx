import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { deployedEnv, fakeApi, renderWith, sampleState } from '../testing';
import { EnvPage } from './EnvPage';
import { describeDeployed } from './RedeployDialog';

describe('RedeployDialog', () => {
  it('redeploys the env with force after the confirmation and shows what was applied', async () => {
    const api = fakeApi();
    renderWith(<EnvPage state={sampleState()} env="dev" />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Redeploy…' }));
    const dialog = within(screen.getByRole('dialog', { name: 'Redeploy dev' }));
    expect(api.deploy).not.toHaveBeenCalled();
    await userEvent.click(dialog.getByLabelText('force (take back fields other managers changed)'));
    await userEvent.click(dialog.getByRole('button', { name: 'Redeploy dev with force' }));
    expect(api.deploy).toHaveBeenCalledWith(['dev'], true);
    const result = await dialog.findByRole('status');
    expect(result.textContent).toContain('Redeployed with force');
    expect(result.textContent).toContain('dev: 0 created, 0 changed, 2 re-applied, 0 unchanged, 0 pruned');
    expect(result.textContent).toContain('reapplied Deployment.apps dev/web');
    expect(dialog.queryByRole('button', { name: /^Redeploy dev/ })).toBeNull();
  });

  it('redeploys without force by default and shows a refusal', async () => {
    const api = fakeApi({
      deploy: vi.fn(async () => {
        throw new ApiError('this API token lacks the scope deploy=dev', 403);
      }),
    });
    renderWith(<EnvPage state={sampleState()} env="dev" />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'Redeploy…' }));
    const dialog = within(screen.getByRole('dialog', { name: 'Redeploy dev' }));
    await userEvent.click(dialog.getByRole('button', { name: 'Redeploy dev' }));
    expect(api.deploy).toHaveBeenCalledWith(['dev'], false);
    expect((await dialog.findByRole('alert')).textContent).toContain('deploy=dev');
  });

  it('describes an env held by another replica and a failed one', () => {
    expect(
      describeDeployed('pp', {
        ...deployedEnv('pp', false),
        result: 'not_held',
        error: 'env pp is applied by replica b',
      }),
    ).toBe('pp: not deployed: env pp is applied by replica b');
    expect(describeDeployed('pp', { ...deployedEnv('pp', false), result: 'failed', failed: 1, error: 'boom' })).toBe(
      'pp: 0 created, 0 changed, 0 re-applied, 2 unchanged, 0 pruned at c0ffee00; 1 failed: boom',
    );
  });
});
