import { act, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiError } from './api/client';
import { App } from './App';
import type { EventSourceLike } from './live';
import { fakeApi, renderWith, sampleState } from './testing';

/** An EventSource the test drives by hand. */
class FakeEvents implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (ev: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {
    this.closed = true;
  }
  async open() {
    this.readyState = 1;
    await act(async () => void this.onopen?.(new Event('open')));
  }
  /** `refused`: the server answered with an error, and EventSource gives up. */
  async fail({ refused = false } = {}) {
    this.readyState = refused ? 2 : 0;
    await act(async () => void this.onerror?.(new Event('error')));
  }
  async emit(type: string, data: unknown) {
    await act(async () => {
      for (const l of this.listeners.get(type) ?? []) l(new MessageEvent(type, { data: JSON.stringify(data) }));
    });
  }
}

// Timers far in the future unless a test is about them, so no load lands after a test ends.
function setup(api = fakeApi(), live = { retryMs: 60_000, pollMs: 60_000 }) {
  const streams: FakeEvents[] = [];
  const openEvents = (url: string) => {
    const s = new FakeEvents(url);
    streams.push(s);
    return s;
  };
  const { unmount } = renderWith(<App openEvents={openEvents} live={live} />, { api });
  const stream = () => {
    const s = streams[streams.length - 1];
    if (!s) throw new Error('no event stream opened');
    return s;
  };
  return { api, stream, streams, unmount };
}

function versionIn(service: string, env: string): string | null | undefined {
  return document.querySelector(`tr[data-service="${service}"] td[data-env="${env}"] [data-version]`)?.textContent;
}

describe('App', () => {
  it('subscribes to /api/events and reloads the state on each state event, without a page reload', async () => {
    const state = sampleState();
    const api = fakeApi({ state: async () => structuredClone(state) });
    const { stream } = setup(api);
    await screen.findByRole('link', { name: 'web' });
    expect(stream().url).toBe('/api/events');
    await stream().open();
    expect(versionIn('web', 'latest')).toBe('1.1.0');

    const web = state.services[1];
    if (!web?.envs.latest) throw new Error('sample state changed');
    web.envs.latest.version = '1.2.0';
    await stream().emit('state', { commit: 'abc', cause: 'repo' });
    await waitFor(() => expect(versionIn('web', 'latest')).toBe('1.2.0'));
  });

  it('shows a stale banner while the event stream is disconnected, and hides it on reconnect', async () => {
    const { stream } = setup();
    await screen.findByRole('link', { name: 'web' });
    await stream().open();
    expect(screen.queryByTestId('stale-banner')).toBeNull();
    await stream().fail();
    expect(screen.getByTestId('stale-banner').textContent).toContain('Live updates are disconnected');
    await stream().open();
    expect(screen.queryByTestId('stale-banner')).toBeNull();
  });

  it('opens a new stream when the server refused one, and polls the state meanwhile', async () => {
    const { api, stream, streams } = setup(fakeApi(), { retryMs: 20, pollMs: 30 });
    await screen.findByRole('link', { name: 'web' });
    await stream().open();
    const loadsBefore = api.state.mock.calls.length;
    await stream().fail({ refused: true });
    expect(streams[0]?.closed).toBe(true);
    await waitFor(() => expect(streams).toHaveLength(2));
    await waitFor(() => expect(api.state.mock.calls.length).toBeGreaterThan(loadsBefore + 1));
    await stream().open();
    expect(screen.queryByTestId('stale-banner')).toBeNull();
    await act(() => new Promise((r) => setTimeout(r, 50))); // let a load under way finish
    const loadsAfter = api.state.mock.calls.length;
    await act(() => new Promise((r) => setTimeout(r, 150))); // five poll intervals
    expect(api.state.mock.calls.length).toBe(loadsAfter); // polling stopped once live again
  });

  it('shows a stale banner with the reasons when the aggregator reports stale data', async () => {
    const api = fakeApi({
      state: async () => ({
        ...sampleState(),
        stale: true,
        stale_reasons: ['deployer unreachable: connection refused'],
      }),
    });
    setup(api);
    const banner = await screen.findByTestId('stale-banner');
    expect(banner.textContent).toContain('deployer unreachable: connection refused');
  });

  it('names the transitioner leader and the deployer replica of each env when they run replicated', async () => {
    const base = sampleState();
    const api = fakeApi({
      state: async () => ({
        ...base,
        transitioner_leader: 'slipway-transitioner-7d9f-abcde',
        envs: base.envs.map((e) => (e.name === 'dev' ? { ...e, owner: 'slipway-deployer-5c8b-x2k4q' } : e)),
      }),
    });
    setup(api);
    const leader = await screen.findByTestId('transitioner-leader');
    expect(leader.textContent).toBe('promotions by slipway-transitioner-7d9f-abcde');
    const dev = document.querySelector('th[data-env="dev"]') as HTMLElement;
    expect(within(dev).getByText('slipway-deployer-5c8b-x2k4q')).toBeTruthy();
    const prod = document.querySelector('th[data-env="prod"]') as HTMLElement;
    expect(prod.querySelector('.env-owner')).toBeNull();
  });

  it('names no leader when the services run alone', async () => {
    setup();
    await screen.findAllByText('dev');
    expect(screen.queryByTestId('transitioner-leader')).toBeNull();
    expect(document.querySelector('.env-owner')).toBeNull();
  });

  it('shows an error when the state cannot be loaded at all', async () => {
    const api = fakeApi({
      state: async () => {
        throw new ApiError('Could not reach the aggregator (Failed to fetch). Check that it is running.', 0);
      },
    });
    setup(api);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Could not load the state: Could not reach the aggregator');
  });

  it('keeps showing the last state, under a banner, when a reload fails', async () => {
    let fail = false;
    const api = fakeApi({
      state: async () => {
        if (fail) throw new ApiError('boom (HTTP 500)', 500);
        return sampleState();
      },
    });
    const { stream } = setup(api);
    await screen.findByRole('link', { name: 'web' });
    fail = true;
    await stream().emit('state', {});
    const banner = await screen.findByTestId('stale-banner');
    expect(within(banner).getByText('Could not load the state: boom (HTTP 500)')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'web' })).toBeTruthy();
  });

  it('routes to the service page from the hash', async () => {
    window.location.hash = '#/services/web';
    setup();
    expect(await screen.findByRole('heading', { level: 1, name: 'web' })).toBeTruthy();
    act(() => {
      window.location.hash = '#/';
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    expect(await screen.findByRole('heading', { level: 1, name: 'Environments' })).toBeTruthy();
  });

  it('closes the event stream when unmounted', async () => {
    const { stream, unmount } = setup();
    await screen.findByRole('link', { name: 'web' });
    const s = stream();
    unmount();
    expect(s.closed).toBe(true);
  });
});
