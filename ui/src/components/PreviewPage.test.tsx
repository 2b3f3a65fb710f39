import { screen, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { PromotionPreview } from '../api/types';
import { fakeApi, renderWith } from '../testing';
import { PreviewPage } from './PreviewPage';

function preview(over: Partial<PromotionPreview> = {}): PromotionPreview {
  return {
    transition: 'pp',
    source: 'dev',
    target: 'pp',
    commit: 'abcdef0123456789abcdef0123456789abcdef01',
    moves_anything: true,
    summary: 'dev → pp: web 1 → 2',
    services: [
      {
        service: 'web',
        old: '1',
        new: '2',
        old_vars: { version: '1', image: 'web:1' },
        new_vars: { version: '2', image: 'web:2' },
        changelogs: {
          origins: [
            {
              service: 'web',
              env: 'latest',
              commit: '2222000000000000000000000000000000000000',
              author: 'ci',
              time: 0,
              subject: 'web 2 in latest',
              changelog: 'Faster start-up',
            },
          ],
          truncated: false,
        },
      },
    ],
    held: [{ service: 'api', reasons: ['incident 4711'] }],
    diff: {
      objects: [
        {
          unit: 'web',
          api_version: 'apps/v1',
          kind: 'Deployment',
          namespace: null,
          name: 'web',
          change: 'changed',
          fields: [{ path: 'spec.template.spec.containers[0].image', before: 'web:1', after: 'web:2' }],
        },
        {
          unit: 'deployable/q.yaml',
          api_version: 'v1',
          kind: 'ResourceQuota',
          namespace: null,
          name: 'q',
          change: 'added',
          fields: [],
        },
      ],
      problems: [],
    },
    ...over,
  };
}

describe('PreviewPage', () => {
  it('shows per service the vars that change, the changelogs, locks holding back and the field diff', async () => {
    const api = fakeApi({ preview: vi.fn(async () => preview()) });
    renderWith(<PreviewPage transition="pp" refreshKey="h1" />, { api });
    const vars = await screen.findByRole('table', { name: 'Version variables of web' });
    const rows = within(vars).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.textContent)).toEqual(['imageweb:1web:2', 'version12']);
    expect(screen.getByText('Faster start-up').tagName).toBe('PRE');
    expect(screen.getByText(/api is held back by a lock: incident 4711/)).toBeTruthy();
    const fields = screen.getByRole('table', { name: 'Changed fields of Deployment web' });
    expect(within(fields).getByText('spec.template.spec.containers[0].image')).toBeTruthy();
    expect(document.querySelector('[data-object="ResourceQuota q"]')?.textContent).toContain('added');
    expect(api.preview).toHaveBeenCalledWith('pp');
  });

  it('says so when nothing would move', async () => {
    const api = fakeApi({
      preview: async () =>
        preview({
          moves_anything: false,
          summary: 'nothing would move',
          services: [],
          held: [],
          diff: { objects: [], problems: [] },
        }),
    });
    renderWith(<PreviewPage transition="pp" refreshKey="h1" />, { api });
    expect((await screen.findByRole('status')).textContent).toBe('Nothing would move: pp has every version of dev.');
    expect(screen.queryByRole('table')).toBeNull();
  });
});
