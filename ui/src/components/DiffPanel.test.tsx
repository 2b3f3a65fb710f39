import { fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { fakeApi, renderWith } from '../testing';
import { DiffPanel } from './DiffPanel';

describe('DiffPanel', () => {
  it('shows objects in sync and the drifted fields with live and desired values', async () => {
    const api = fakeApi();
    renderWith(<DiffPanel env="dev" service="web" />, { api });
    const drifted = await screen.findByText('changed in the cluster');
    const item = drifted.closest('li') as HTMLElement;
    expect(item.getAttribute('data-object')).toBe('Deployment/web');
    const row = within(item).getByText('spec.replicas').closest('tr') as HTMLElement;
    expect([...row.querySelectorAll('td')].map((td) => td.textContent)).toEqual(['spec.replicas', '5', '2']);
    expect(document.querySelector('[data-object="Service/web"]')?.textContent).toContain('in sync');
    expect(api.diff).toHaveBeenCalledWith('dev', 'web');
    fireEvent.click(screen.getByRole('button', { name: 'Compare again' }));
    await screen.findByText('changed in the cluster');
    expect(api.diff).toHaveBeenCalledTimes(2);
  });
});
