import { screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/client';
import { fakeApi, renderWith, sampleLive } from '../testing';
import { LivePanel } from './LivePanel';

describe('LivePanel', () => {
  it('shows the Deployment, its ReplicaSet and two ready pods with the events', async () => {
    const api = fakeApi();
    renderWith(<LivePanel env="dev" service="web" />, { api });
    await screen.findByText('Recent events');
    expect(api.live).toHaveBeenCalledWith('dev', 'web');
    const deployment = document.querySelector<HTMLElement>('[data-kind="Deployment"]');
    expect(deployment?.textContent).toContain('2/2 ready');
    const rs = deployment?.querySelector<HTMLElement>('[data-kind="ReplicaSet"]');
    expect(rs?.getAttribute('data-name')).toBe('web-5d4f8c7b9x');
    const pods = rs?.querySelectorAll('tr[data-pod]') ?? [];
    expect(pods.length).toBe(2);
    for (const p of pods) expect(p.textContent).toContain('Running');
    expect(screen.getByText('Scaled up replica set web-5d4f8c7b9x to 2')).toBeTruthy();
  });

  it("shows a broken pod's ImagePullBackOff reason and the warning event", async () => {
    renderWith(<LivePanel env="dev" service="bad" />);
    const reason = await screen.findByText('ImagePullBackOff');
    const row = reason.closest('tr');
    expect(row?.textContent).toContain('not ready');
    expect(row?.textContent).toContain('Back-off pulling image "reg/bad:broken"');
    const events = screen.getByText('Recent events').closest('table') as HTMLElement;
    expect(within(events).getByText('Error: ImagePullBackOff (×3)')).toBeTruthy();
  });

  it('reads the view again while open, and says why when it cannot', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const live = vi
        .fn()
        .mockResolvedValueOnce(sampleLive('dev', 'web'))
        .mockRejectedValue(new ApiError('deployer unreachable (HTTP 502)', 502));
      renderWith(<LivePanel env="dev" service="web" />, { api: fakeApi({ live }) });
      await screen.findByText('Recent events');
      await vi.advanceTimersByTimeAsync(3100);
      await waitFor(() => expect(live).toHaveBeenCalledTimes(2));
      expect(await screen.findByText(/Could not refresh the live view/)).toBeTruthy();
      expect(screen.getByText('Recent events'), 'the last view stays').toBeTruthy();
    } finally {
      vi.useRealTimers();
    }
  });
});
