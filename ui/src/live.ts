import { useCallback, useEffect, useRef, useState } from 'react';
import type { Api } from './api/client';
import type { State } from './api/types';

/** The part of EventSource the UI uses, so tests can drive it by hand. */
export interface EventSourceLike {
  /** 0 connecting, 1 open, 2 closed for good (the server refused the stream). */
  readonly readyState: number;
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
 * `api` and `openEvents` must be stable (created once), or the stream is reopened on every render.
 */
export interface LiveOptions {
  /** Wait before opening a new stream after the server refused one (EventSource gives up then). */
  retryMs?: number;
  /** While the stream is down, reload the state this often so it does not fall far behind. */
  pollMs?: number;
}

const CLOSED = 2;

export function useLiveState(
  api: Api,
  openEvents: EventSourceFactory,
  { retryMs = 5_000, pollMs = 15_000 }: LiveOptions = {},
): LiveState {
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
    let events: EventSourceLike | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    const stopPolling = () => {
      clearInterval(poll);
      poll = undefined;
    };
    const connect = () => {
      const stream = openEvents('/api/events');
      events = stream;
      stream.onopen = () => {
        setConnection('open');
        stopPolling();
        reload(); // Events may have been missed while the stream was down.
      };
      stream.onerror = () => {
        setConnection('closed');
        poll ??= setInterval(reload, pollMs);
        // EventSource reconnects by itself, except after an HTTP error answer: then it is our turn.
        if (stream.readyState === CLOSED) {
          stream.close();
          retry = setTimeout(connect, retryMs);
        }
      };
      stream.addEventListener('state', () => reload());
    };
    reload();
    connect();
    return () => {
      alive.current = false;
      events?.close();
      clearTimeout(retry);
      stopPolling();
    };
  }, [openEvents, reload, retryMs, pollMs]);

  return { state, loadError, connection, loadedAt, reload };
}
