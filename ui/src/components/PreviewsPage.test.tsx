import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { envSummary, fakeApi, previewEnv, renderWith, sampleState } from '../testing';
import { PreviewsPage, previewRequest, templateEnvs } from './PreviewsPage';

const pr42 = previewEnv({
  name: 'pr-42',
  status: 'Clean',
  services: { web: 'pr-42', api: '2.0.0' },
  source: 'https://git.example.com/shop/pull/42',
  expires: '2026-11-25T08:00:00Z',
});

describe('PreviewsPage', () => {
  it('lists each preview with its URL, status, services, source and expiry', async () => {
    const api = fakeApi({ previews: vi.fn(async () => [pr42, previewEnv({ name: 'old', expired: true, url: null })]) });
    renderWith(<PreviewsPage state={sampleState()} />, { api });
    await screen.findByRole('table');
    const row = document.querySelector<HTMLElement>('tr[data-preview="pr-42"]');
    if (!row) throw new Error('no row');
    const cells = within(row);
    expect(cells.getByRole('link', { name: 'https://pr-42.preview.example.com/' }).getAttribute('href')).toBe(
      'https://pr-42.preview.example.com/',
    );
    expect(cells.getByText('Clean')).toBeTruthy();
    expect(row.textContent).toContain('web pr-42');
    expect(row.textContent).toContain('https://git.example.com/shop/pull/42');
    expect(cells.getByText('in 3 days').getAttribute('title')).toBe('2026-11-25 08:00 UTC');
    const old = document.querySelector('tr[data-preview="old"]');
    expect(old?.textContent).toContain('expired, being removed');
    expect(old?.textContent).toContain('no preview_domain');
    expect(old?.textContent).toContain('not deployed yet');
  });

  it('creates a preview from a deployed env with one service overridden', async () => {
    const api = fakeApi();
    renderWith(<PreviewsPage state={sampleState()} />, { api, token: 'tok' });
    await screen.findByText(/No previews/);
    await userEvent.click(screen.getByRole('button', { name: 'New preview…' }));
    const dialog = within(screen.getByRole('dialog', { name: 'New preview' }));
    await userEvent.type(dialog.getByLabelText('Name'), 'pr-7');
    expect(dialog.getByText(/namespace become preview-pr-7/)).toBeTruthy();
    await userEvent.selectOptions(dialog.getByLabelText('Service to override'), 'web');
    await userEvent.type(dialog.getByLabelText('Version'), 'pr-7');
    await userEvent.clear(dialog.getByLabelText('Time to live'));
    await userEvent.type(dialog.getByLabelText('Time to live'), '1d');
    await userEvent.click(dialog.getByRole('button', { name: 'Create preview' }));
    expect(api.createPreview).toHaveBeenCalledWith({
      name: 'pr-7',
      from: 'dev',
      services: { web: { version: 'pr-7' } },
      ttl: '1d',
    });
    expect((await screen.findByRole('status')).textContent).toContain('Created preview pr-7 from dev');
  });

  it('shows why a create was refused and keeps the dialog open', async () => {
    const api = fakeApi({
      createPreview: vi.fn(async () => {
        throw new ApiError('preview-pr-42 already exists (HTTP 409)', 409);
      }),
    });
    renderWith(<PreviewsPage state={sampleState()} />, { api, token: 'tok' });
    await userEvent.click(screen.getByRole('button', { name: 'New preview…' }));
    const dialog = within(screen.getByRole('dialog'));
    await userEvent.type(dialog.getByLabelText('Name'), 'pr-42');
    await userEvent.click(dialog.getByRole('button', { name: 'Create preview' }));
    expect((await dialog.findByRole('alert')).textContent).toContain('already exists (HTTP 409)');
  });

  it('extends and deletes a preview after confirmation', async () => {
    const api = fakeApi({ previews: vi.fn(async () => [pr42]) });
    renderWith(<PreviewsPage state={sampleState()} />, { api, token: 'tok' });
    await userEvent.click(await screen.findByRole('button', { name: 'Extend…' }));
    const extend = within(screen.getByRole('dialog', { name: 'Extend preview pr-42' }));
    await userEvent.clear(extend.getByLabelText('Expire this long from now'));
    await userEvent.type(extend.getByLabelText('Expire this long from now'), '7d');
    await userEvent.click(extend.getByRole('button', { name: 'Extend' }));
    expect(api.extendPreview).toHaveBeenCalledWith('pr-42', '7d');

    await userEvent.click(screen.getByRole('button', { name: 'Delete…' }));
    const del = within(screen.getByRole('dialog', { name: 'Delete preview pr-42' }));
    expect(api.deletePreview).not.toHaveBeenCalled();
    await userEvent.click(del.getByRole('button', { name: 'Delete preview pr-42' }));
    expect(api.deletePreview).toHaveBeenCalledWith('pr-42');
    expect((await screen.findByRole('status')).textContent).toContain('Deleted preview pr-42');
  });
});

describe('preview helpers', () => {
  it('offers deployed envs that are not previews as templates', () => {
    const state = sampleState();
    state.envs.push(envSummary({ name: 'preview-pr-1', deployed: true }));
    expect(templateEnvs(state)).toEqual(['dev', 'prod']);
  });

  it('sends only what the form says', () => {
    const form = { name: ' pr-1 ', from: 'dev', service: '', version: 'x', image: '', ttl: '', source: '' };
    expect(previewRequest(form)).toEqual({ name: 'pr-1', from: 'dev' });
    expect(previewRequest({ ...form, service: 'web', image: 'reg/web:1', source: 'b' })).toEqual({
      name: 'pr-1',
      from: 'dev',
      services: { web: { version: 'x', image: 'reg/web:1' } },
      source: 'b',
    });
  });
});
