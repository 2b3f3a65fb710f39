import { act, fireEvent, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { EventSourceLike } from '../live';
import { renderWith, sampleLive } from '../testing';
import { LogPanel, logUrl } from './LogPanel';

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (ev: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {
    this.closed = true;
  }
  emit(type: string, data: string) {
    for (const l of this.listeners.get(type) ?? []) l(new MessageEvent(type, { data }));
  }
}

const pods = () => {
  const d = sampleLive('dev', 'web').objects[0];
  return d?.children?.[0]?.pods ?? [];
};

describe('LogPanel', () => {
  it('builds the stream URL with pod, container, tail, follow and the token', () => {
    expect(logUrl('dev', 'team-a/api', { pod: 'p1', container: 'app', tail: 5, follow: true, token: 't k' })).toBe(
      '/api/envs/dev/services/team-a/api/logs?pod=p1&tail=5&follow=true&container=app&access_token=t+k',
    );
  });

  it('streams the chosen pod’s lines, follows, and closes the stream on stop', () => {
    const opened: FakeSource[] = [];
    renderWith(
      <LogPanel
        env="dev"
        service="web"
        pods={pods()}
        openEvents={(url) => {
          const s = new FakeSource(url);
          opened.push(s);
          return s;
        }}
      />,
    );
    fireEvent.change(screen.getByLabelText('Pod'), { target: { value: 'web-5d4f8c7b9x-fghjk' } });
    fireEvent.change(screen.getByLabelText('Last lines'), { target: { value: '20' } });
    fireEvent.click(screen.getByRole('button', { name: 'Show log' }));
    expect(opened).toHaveLength(1);
    const source = opened[0] as FakeSource;
    expect(source.url).toContain('pod=web-5d4f8c7b9x-fghjk');
    expect(source.url).toContain('tail=20&follow=true&container=app');
    act(() => {
      source.onopen?.(new Event('open'));
      source.emit('line', 'first line');
      source.emit('line', 'second line');
    });
    expect(screen.getByLabelText('Log of web-5d4f8c7b9x-fghjk').textContent).toBe('first line\nsecond line');
    expect(document.querySelector('.log-status')?.textContent).toBe('following');
    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(source.closed).toBe(true);
  });

  it('says why a stream ended', () => {
    let source: FakeSource | null = null;
    renderWith(
      <LogPanel
        env="dev"
        service="web"
        pods={pods()}
        openEvents={(url) => {
          source = new FakeSource(url);
          return source;
        }}
      />,
    );
    fireEvent.click(screen.getByRole('checkbox', { name: 'Follow' }));
    fireEvent.click(screen.getByRole('button', { name: 'Show log' }));
    act(() => (source as unknown as FakeSource).emit('end', 'end of the log'));
    expect(document.querySelector('.log-status')?.textContent).toBe('ended: end of the log');
    expect(screen.getByRole('button', { name: 'Show log' })).toBeTruthy();
  });
});
