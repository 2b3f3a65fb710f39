import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { State } from '../api/types';
import { deployableInEnv, renderWith, resource, sampleState } from '../testing';
import { Overview } from './Overview';

function withRedis(): State {
  const state = sampleState();
  state.deployables = [
    {
      file: 'redis.yaml',
      envs: {
        dev: deployableInEnv({
          path: 'dev/deployable/redis.yaml',
          status: 'Clean',
          phase: 'Deployed',
          reason: '',
          resources: [
            resource({ api_version: 'apps/v1', kind: 'Deployment', name: 'redis', status: 'Clean' }),
            resource({ api_version: 'v1', kind: 'Service', name: 'redis', status: 'Clean' }),
          ],
        }),
        prod: deployableInEnv({
          path: 'prod/deployable/redis.yaml',
          status: 'Failed',
          phase: 'DeployFailed',
          reason: 'ProgressDeadlineExceeded: redis timed out',
        }),
      },
    },
  ];
  return state;
}

function deployableCell(file: string, env: string): HTMLElement {
  const td = document.querySelector<HTMLElement>(`tr[data-deployable="${file}"] td[data-env="${env}"]`);
  if (!td) throw new Error(`no cell for ${file} in ${env}`);
  return td;
}

describe('DeployableRows', () => {
  it('shows each deployable file as a row with its objects, status and reason per env', () => {
    renderWith(<Overview state={withRedis()} />);
    expect(screen.getByText('Deployables')).toBeTruthy();
    const dev = deployableCell('redis.yaml', 'dev');
    expect(dev.textContent).toContain('Deployment/redis, Service/redis');
    expect(within(dev).getByText('Clean')).toBeTruthy();
    const prod = deployableCell('redis.yaml', 'prod');
    expect(within(prod).getByText('Deploy failed')).toBeTruthy();
    expect(within(prod).getByText('ProgressDeadlineExceeded: redis timed out')).toBeTruthy();
    expect(within(deployableCell('redis.yaml', 'latest')).getByText('not in latest')).toBeTruthy();
  });

  it('shows no deployables section when the repo has none, and follows the filter', () => {
    const { unmount } = renderWith(<Overview state={sampleState()} />);
    expect(screen.queryByText('Deployables')).toBeNull();
    unmount();
    renderWith(<Overview state={withRedis()} initialFilter="web" />);
    expect(document.querySelector('tr[data-deployable="redis.yaml"]')).toBeNull();
  });
});
