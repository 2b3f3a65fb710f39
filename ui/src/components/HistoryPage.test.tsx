import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { fakeApi, renderWith, sampleHistory, sampleState } from '../testing';
import { HistoryPage } from './HistoryPage';

describe('HistoryPage', () => {
  it('asks the server with the chosen filters and links commits to the git host', async () => {
    const entries = sampleHistory().map((e) => ({ ...e, commit_url: `https://git.example/c/${e.commit}` }));
    const history = vi.fn(async () => entries);
    renderWith(<HistoryPage state={sampleState()} />, { api: fakeApi({ history }) });
    await screen.findByText('promotion');
    expect(history).toHaveBeenLastCalledWith({ limit: 100 });
    fireEvent.change(screen.getByLabelText('Env'), { target: { value: 'prod' } });
    fireEvent.change(screen.getByLabelText('Service'), { target: { value: 'api' } });
    fireEvent.change(screen.getByLabelText('Author'), { target: { value: 'ci' } });
    fireEvent.change(screen.getByLabelText('Kind'), { target: { value: 'version' } });
    fireEvent.change(screen.getByLabelText('Text'), { target: { value: 'fix' } });
    fireEvent.click(screen.getByRole('button', { name: 'Search' }));
    await waitFor(() =>
      expect(history).toHaveBeenLastCalledWith({
        env: 'prod',
        service: 'api',
        author: 'ci',
        kind: 'version',
        q: 'fix',
        limit: 100,
      }),
    );
    const link = await screen.findAllByTitle(/on the git host$/);
    expect(link[0]?.getAttribute('href')).toBe('https://git.example/c/bbbb000000000000000000000000000000000000');
  });
});
