import { useEffect, useId, useState, type ReactNode } from 'react';
import type { Dora, State } from '../api/types';
import { useApi } from '../context';
import { doraHref } from '../model';
import { ErrorMessage, errorText } from './Messages';

export const PERIODS = ['7d', '30d', '90d'] as const;

/** A duration in seconds for people: `45 s`, `12 min`, `3.5 h`, `2.1 days`; `—` without one. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/** A rate 0..1 as a percentage; `—` without promotions. */
export function formatRate(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '—' : `${Math.round(rate * 100)} %`;
}

/** Whether nothing at all was recorded for any env in the period. */
export function noData(keys: Dora[]): boolean {
  return keys.every((k) => k.deploys === 0 && k.promotions === 0 && k.time_to_restore.count === 0);
}

/** One bar per env, scaled to the largest value; envs without a value get no bar and `—`. */
export function BarChart({
  title,
  rows,
  format,
}: {
  title: string;
  rows: { env: string; value: number | null }[];
  format: (v: number | null) => string;
}) {
  const max = Math.max(0, ...rows.map((r) => r.value ?? 0));
  const rowHeight = 22;
  const labelWidth = 70;
  const barWidth = 140;
  return (
    <svg
      className="dora-chart"
      role="img"
      aria-label={`${title}: ${rows.map((r) => `${r.env} ${format(r.value)}`).join(', ')}`}
      width={labelWidth + barWidth + 70}
      height={rows.length * rowHeight}
      viewBox={`0 0 ${labelWidth + barWidth + 70} ${rows.length * rowHeight}`}
    >
      {rows.map((r, i) => {
        const w = max > 0 && r.value ? Math.max(2, (r.value / max) * barWidth) : 0;
        const y = i * rowHeight;
        return (
          <g key={r.env}>
            <text x={0} y={y + 15}>
              {r.env}
            </text>
            <rect className="dora-bar" x={labelWidth} y={y + 4} width={w} height={rowHeight - 8} />
            <text x={labelWidth + w + 6} y={y + 15}>
              {format(r.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/** The DORA four keys per env, from the repo's history and the recorded deploy outcomes. */
export function DoraPage({
  state,
  since,
  service,
  refreshKey,
}: {
  state: State;
  since: string;
  service: string;
  refreshKey: string;
}) {
  const api = useApi();
  const id = useId();
  const [keys, setKeys] = useState<Dora[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Source envs are never deployed: they have no keys.
  const envs = state.envs.filter((e) => e.deployed).map((e) => e.name);
  const envList = envs.join('\n');

  useEffect(() => {
    let alive = true;
    const names = envList ? envList.split('\n') : [];
    Promise.all(names.map((env) => api.dora(env, since, service || undefined))).then(
      (all) => {
        if (!alive) return;
        setKeys(all);
        setError(null);
      },
      (e: unknown) => alive && setError(`Could not load the four keys: ${errorText(e)}`),
    );
    return () => {
      alive = false;
    };
  }, [api, envList, since, service, refreshKey]);

  const go = (s: string, svc: string) => {
    window.location.hash = doraHref(s, svc);
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>DORA four keys</h1>
      <div className="dora-controls small">
        <span id={`${id}-period`}>Period</span>
        <div role="group" aria-labelledby={`${id}-period`}>
          {PERIODS.map((p) => (
            <button key={p} type="button" aria-pressed={p === since} onClick={() => go(p, service)}>
              {p}
            </button>
          ))}
        </div>
        <label htmlFor={`${id}-service`}>Service</label>
        <select id={`${id}-service`} value={service} onChange={(e) => go(since, e.target.value)}>
          <option value="">all services</option>
          {state.services.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
      </div>
      {error && <ErrorMessage>{error}</ErrorMessage>}
      {!keys && !error && <p className="muted">Loading the four keys…</p>}
      {keys && noData(keys) && (
        <p className="empty muted" data-testid="dora-empty">
          No deploys or promotions recorded in the last {since}
          {service ? ` for ${service}` : ''}. Deploys count once the deployer reports them Clean.
        </p>
      )}
      {keys && !noData(keys) && <Keys keys={keys} />}
    </section>
  );
}

function Keys({ keys }: { keys: Dora[] }) {
  return (
    <>
      <div className="dora-keys">
        <Key title="Deployment frequency" note="deploys that reached Clean, per day">
          <BarChart
            title="Deploys per day"
            rows={keys.map((k) => ({ env: k.env, value: k.deploys_per_day }))}
            format={(v) => (v === null ? '—' : v.toFixed(2))}
          />
        </Key>
        <Key title="Lead time for changes" note="origin post → Clean, median">
          <BarChart
            title="Lead time median"
            rows={keys.map((k) => ({ env: k.env, value: k.lead_time.median_seconds }))}
            format={formatSeconds}
          />
        </Key>
        <Key title="Change failure rate" note="promotions that failed or were rolled back">
          <BarChart
            title="Change failure rate"
            rows={keys.map((k) => ({ env: k.env, value: k.change_failure_rate }))}
            format={formatRate}
          />
        </Key>
        <Key title="Time to restore" note="Failed → next Clean, median">
          <BarChart
            title="Time to restore median"
            rows={keys.map((k) => ({ env: k.env, value: k.time_to_restore.median_seconds }))}
            format={formatSeconds}
          />
        </Key>
      </div>
      <table className="dora-table">
        <caption className="sr-only">The four keys per env</caption>
        <thead>
          <tr>
            <th scope="col">Env</th>
            <th scope="col">Deploys</th>
            <th scope="col">Per week</th>
            <th scope="col">Lead time median</th>
            <th scope="col">Lead time p90</th>
            <th scope="col">Change failure rate</th>
            <th scope="col">Time to restore</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.env} data-env={k.env}>
              <th scope="row">{k.env}</th>
              <td data-key="deploys">{k.deploys}</td>
              <td>{k.deploys_per_week.toFixed(1)}</td>
              <td>{formatSeconds(k.lead_time.median_seconds)}</td>
              <td>{formatSeconds(k.lead_time.p90_seconds)}</td>
              <td>
                {formatRate(k.change_failure_rate)}
                {k.promotions > 0 && (
                  <span className="muted small">
                    {' '}
                    ({k.failed_promotions} of {k.promotions})
                  </span>
                )}
              </td>
              <td>{formatSeconds(k.time_to_restore.median_seconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Key({ title, note, children }: { title: string; note: string; children: ReactNode }) {
  return (
    <section className="dora-key" aria-label={title}>
      <h2>{title}</h2>
      <p className="muted small">{note}</p>
      {children}
    </section>
  );
}
