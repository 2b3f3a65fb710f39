import { useEffect, useId, useState, type FormEvent } from 'react';
import type { HistoryQuery } from '../api/client';
import type { HistoryEntry, State } from '../api/types';
import { useApi } from '../context';
import { HistoryList } from './History';
import { errorText } from './Messages';

const KINDS = ['version', 'promotion', 'lock', 'rollback', 'other'] as const;

/** Every commit of the repo, filtered on the server by env, service, author, kind of change and text. */
export function HistoryPage({ state, text }: { state: State; text?: string }) {
  const api = useApi();
  const [form, setForm] = useState<HistoryQuery>(text ? { q: text } : {});
  const [query, setQuery] = useState<HistoryQuery>(text ? { q: text } : {});
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const head = state.commit ?? '';

  useEffect(() => {
    let alive = true;
    setEntries(null);
    api.history({ ...query, limit: 100 }).then(
      (list) => {
        if (!alive) return;
        setEntries(list);
        setError(null);
      },
      (e: unknown) => alive && setError(`Could not load the history: ${errorText(e)}`),
    );
    return () => {
      alive = false;
    };
  }, [api, query, head]);

  const set = (key: keyof HistoryQuery) => (value: string) => setForm((f) => ({ ...f, [key]: value || undefined }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ ...form });
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>History</h1>
      <form className="history-filters small" onSubmit={submit} role="search">
        <label htmlFor={`${id}-env`}>Env</label>
        <select id={`${id}-env`} value={form.env ?? ''} onChange={(e) => set('env')(e.target.value)}>
          <option value="">any</option>
          {state.envs.map((e) => (
            <option key={e.name} value={e.name}>
              {e.name}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-service`}>Service</label>
        <select id={`${id}-service`} value={form.service ?? ''} onChange={(e) => set('service')(e.target.value)}>
          <option value="">any</option>
          {state.services.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-author`}>Author</label>
        <input id={`${id}-author`} value={form.author ?? ''} onChange={(e) => set('author')(e.target.value)} />
        <label htmlFor={`${id}-kind`}>Kind</label>
        <select id={`${id}-kind`} value={form.kind ?? ''} onChange={(e) => set('kind')(e.target.value)}>
          <option value="">any</option>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-q`}>Text</label>
        <input id={`${id}-q`} type="search" value={form.q ?? ''} onChange={(e) => set('q')(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <HistoryList entries={entries} error={error} empty="No commit matches." showService headingLevel={2} />
    </section>
  );
}
