import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { Api } from './api/client';

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({ api, children }: { api: Api; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside ApiProvider: wrap the app in <ApiProvider>');
  return api;
}

/** Where the token is kept: for this browser tab's session only, never in localStorage. */
export const TOKEN_KEY = 'slipway.token';

interface TokenState {
  token: string | null;
  setToken: (token: string | null) => void;
}

const TokenContext = createContext<TokenState>({ token: null, setToken: () => undefined });

function readToken(storage: Storage | undefined): string | null {
  try {
    return storage?.getItem(TOKEN_KEY) || null;
  } catch {
    return null; // Storage disabled by the browser: the token lives in memory only.
  }
}

export function TokenProvider({ storage, children }: { storage?: Storage; children: ReactNode }) {
  const [token, setTokenState] = useState<string | null>(() => readToken(storage));
  const setToken = useCallback(
    (next: string | null) => {
      const value = next?.trim() || null;
      try {
        if (value) storage?.setItem(TOKEN_KEY, value);
        else storage?.removeItem(TOKEN_KEY);
      } catch {
        // See readToken.
      }
      setTokenState(value);
    },
    [storage],
  );
  const value = useMemo(() => ({ token, setToken }), [token, setToken]);
  return <TokenContext.Provider value={value}>{children}</TokenContext.Provider>;
}

export function useToken(): TokenState {
  return useContext(TokenContext);
}

const NowContext = createContext<Date | null>(null);

/** Provides the current time, ticking every `tickMs`; tests pass a fixed `now` instead. */
export function NowProvider({ now, tickMs = 30_000, children }: { now?: Date; tickMs?: number; children: ReactNode }) {
  const [ticking, setTicking] = useState(() => new Date());
  useEffect(() => {
    if (now) return undefined;
    const id = setInterval(() => setTicking(new Date()), tickMs);
    return () => clearInterval(id);
  }, [now, tickMs]);
  return <NowContext.Provider value={now ?? ticking}>{children}</NowContext.Provider>;
}

export function useNow(): Date {
  return useContext(NowContext) ?? new Date();
}

const ReloadContext = createContext<() => void>(() => undefined);

/** Lets actions ask for a fresh `/api/state` right after they changed something. */
export const ReloadProvider = ReloadContext.Provider;

export function useReload(): () => void {
  return useContext(ReloadContext);
}
