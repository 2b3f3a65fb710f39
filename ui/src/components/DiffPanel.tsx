import { useEffect, useState } from 'react';
import type { DiffState, EnvDiff } from '../api/types';
import { useApi } from '../context';
import { formatTime } from '../model';

const STATE_TEXT: Record<DiffState, string> = {
  in_sync: 'in sync',
  missing: 'not in the cluster yet',
  changed: 'changed in the repo',
  drifted: 'changed in the cluster',
  unowned: 'in sync, not owned by Slipway yet',
  blocked: 'not applied',
  extra: 'no longer in the repo',
};

/**
 * Live against desired for the objects of a service in an env: "in sync", or the
 * fields Slipway manages that differ, with the live and the desired value.
 * Read when opened, and again with "Compare again".
 */
export function DiffPanel({ env, service }: { env: string; service: string }) {
  const api = useApi();
  const [diff, setDiff] = useState<EnvDiff | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [round, setRound] = useState(0);

  useEffect(() => {
    let stopped = false;
    api.diff(env, service).then(
      (d) => {
        if (stopped) return;
        setDiff(d);
        setError(null);
      },
      (e: unknown) => {
        if (!stopped) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      stopped = true;
    };
  }, [api, env, service, round]);

  return (
    <div className="diff-panel" data-diff={env}>
      {error && <p className="message error small">No diff: {error}</p>}
      {diff && (
        <>
          <p className="muted small">
            Repo at {diff.commit.slice(0, 8)} against the cluster, {formatTime(diff.observed_at, { seconds: true })}{' '}
            <button type="button" className="link small" onClick={() => setRound((r) => r + 1)}>
              Compare again
            </button>
          </p>
          {diff.refused && <p className="cell-error small">{diff.refused}</p>}
          <ul className="diff-objects">
            {diff.objects.map((o) => (
              <li key={`${o.api_version}/${o.kind}/${o.name}`} data-object={`${o.kind}/${o.name}`} data-state={o.state}>
                <span className="kind">{o.kind}</span> <strong>{o.name}</strong>:{' '}
                <span className={o.state === 'in_sync' ? 'in-sync' : 'out-of-sync'}>{STATE_TEXT[o.state]}</span>
                {o.reason && <span className="muted small"> — {o.reason}</span>}
                {(o.fields ?? []).length > 0 && (
                  <table className="diff-fields small">
                    <thead>
                      <tr>
                        <th scope="col">Field</th>
                        <th scope="col">Live</th>
                        <th scope="col">Desired</th>
                      </tr>
                    </thead>
                    <tbody>
                      {(o.fields ?? []).map((f) => (
                        <tr key={f.path}>
                          <td>
                            <code>{f.path}</code>
                          </td>
                          <td>
                            <code>{f.live ?? '(absent)'}</code>
                          </td>
                          <td>
                            <code>{f.desired}</code>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
