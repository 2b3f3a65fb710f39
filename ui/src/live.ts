import { useCallback, useEffect, useRef, useState } from 'react';
import type { Api } from './api/client';
import type { State } from './api/types';

/** The part of EventSource the UI uses, so tests can drive it by hand. */
export interface EventSourceLike {
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

export const browserEventSource: EventSourceFactory = (url) => new EventSource(url);

export type Connection = 'connecting' | 'open' | 'closed';

export interface LiveState {
  state: State | null;
  /** The last failure to load `/api/state`, cleared by the next success. */
  loadError: string | null;
  connection: Connection;
  loadedAt: Date | null;
  /** Loads `/api/state` now (after an action, say); calls made meanwhile are coalesced. */
  reload: () => void;
}

/**
 * Keeps `/api/state` current: loads it once, then again on every `state` event from
 * `/api/events` and whenever the event stream (re)connects, since events may have
 * been missed while it was down. EventSource reconnects by itself.
 */
export function useLiveState(api: Api, openEvents: EventSourceFactory): LiveState {
  const [state, setState] = useState<State | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [loadedAt, setLoadedAt] = useState<Date | null>(null);
  const inFlight = useRef(false);
  const again = useRef(false);
  const alive = useRef(true);

  const reload = useCallback(() => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    void (async () => {
      try {
        do {
          again.current = false;
          try {
            const next = await api.state();
            if (!alive.current) return;
            setState(next);
            setLoadError(null);
            setLoadedAt(new Date());
          } catch (e) {
            if (!alive.current) return;
            setLoadError(`Could not load the state: ${e instanceof Error ? e.message : String(e)}`);
          }
        } while (again.current);
      } finally {
        inFlight.current = false;
      }
    })();
  }, [api]);

  useEffect(() => {
    alive.current = true;
    reload();
    const events = openEvents('/api/events');
    events.onopen = () => {
      setConnection('open');
      reload();
    };
    events.onerror = () => setConnection('closed');
    events.addEventListener('state', () => reload());
    return () => {
      alive.current = false;
      events.close();
    };
  }, [openEvents, reload]);

  return { state, loadError, connection, loadedAt, reload };
}
