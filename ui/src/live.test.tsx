import { act, renderHook, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { State } from './api/types';
import { useLiveState, type EventSourceLike } from './live';
import { fakeApi, sampleState } from './testing';

function manualEvents() {
  const listeners: (() => void)[] = [];
  const stream: EventSourceLike = {
    readyState: 1,
    onopen: null,
    onerror: null,
    addEventListener: (_type, l) => listeners.push(() => l(new MessageEvent('state'))),
    close: vi.fn(),
  };
  return { stream, emit: () => listeners.forEach((l) => l()) };
}

describe('useLiveState', () => {
  it('coalesces events that arrive while a load is under way into one more load', async () => {
    const pending: ((s: State) => void)[] = [];
    const api = fakeApi({ state: vi.fn(() => new Promise<State>((resolve) => pending.push(resolve))) });
    const { stream, emit } = manualEvents();
    const open = () => stream;
    const { result } = renderHook(() => useLiveState(api, open));
    expect(api.state).toHaveBeenCalledTimes(1);
    act(() => {
      emit();
      emit();
      emit();
    });
    expect(api.state).toHaveBeenCalledTimes(1);
    await act(async () => pending[0]?.(sampleState()));
    await waitFor(() => expect(api.state).toHaveBeenCalledTimes(2));
    await act(async () => pending[1]?.({ ...sampleState(), commit: 'newer' }));
    await waitFor(() => expect(result.current.state?.commit).toBe('newer'));
    expect(api.state).toHaveBeenCalledTimes(2);
  });
});
