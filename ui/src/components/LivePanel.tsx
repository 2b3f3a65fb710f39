import { useEffect, useState } from 'react';
import { ApiError } from '../api/client';
import type { Condition, LiveObject, LiveView, PodView } from '../api/types';
import { useApi } from '../context';
import { formatTime } from '../model';
import { StatusBadge } from './Badges';
import { DiffPanel } from './DiffPanel';
import { LogPanel } from './LogPanel';

/** How often an open live view is read again. */
export const LIVE_POLL_MS = 3000;

/**
 * What runs of a service in an env, as the deployer reads it from the cluster:
 * the objects, a Deployment's ReplicaSets and Pods, and the recent Events. Read
 * while the panel is open, and again every few seconds.
 */
export function LivePanel({ env, service }: { env: string; service: string }) {
  const [open, setOpen] = useState(true);
  return (
    <details
      className="live-panel"
      open={open}
      onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
      data-live={env}
    >
      <summary>
        <h3 className="inline-heading">Live in the cluster</h3>
      </summary>
      {open && <LiveBody env={env} service={service} />}
    </details>
  );
}

function LiveBody({ env, service }: { env: string; service: string }) {
  const api = useApi();
  const [view, setView] = useState<LiveView | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const v = await api.live(env, service);
        if (stopped) return;
        setView(v);
        setError(null);
      } catch (e) {
        if (stopped) return;
        setError(e instanceof ApiError || e instanceof Error ? e.message : String(e));
      }
      if (!stopped) timer = setTimeout(() => void load(), LIVE_POLL_MS);
    };
    void load();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [api, env, service]);

  if (!view && !error) return <p className="muted small">Reading from the cluster…</p>;
  return (
    <div className="live-body">
      {error && (
        <p className="message error small" aria-live="polite">
          {view ? 'Could not refresh the live view (showing the last one): ' : 'No live view: '}
          {error}
        </p>
      )}
      {view && (
        <>
          <p className="muted small">
            {view.cluster}/{view.namespace}, read {formatTime(view.observed_at, { seconds: true })}
          </p>
          <div className="live-tree">
            {view.objects.map((o) => (
              <ObjectNode key={`${o.api_version}/${o.kind}/${o.name}`} obj={o} />
            ))}
          </div>
          <Events view={view} />
          <details className="diff">
            <summary className="small-heading">Live against the repo</summary>
            <DiffPanel env={env} service={service} />
          </details>
          <details className="logs">
            <summary className="small-heading">Logs</summary>
            <LogPanel env={env} service={service} pods={podsOf(view)} />
          </details>
        </>
      )}
    </div>
  );
}

/** Every pod of the view, in tree order. */
function podsOf(view: LiveView): PodView[] {
  return view.objects.flatMap((o) => [...(o.pods ?? []), ...(o.children ?? []).flatMap((c) => c.pods ?? [])]);
}

function ObjectNode({ obj }: { obj: LiveObject }) {
  const children = obj.children ?? [];
  const pods = obj.pods ?? [];
  return (
    <div className="live-object" data-kind={obj.kind} data-name={obj.name}>
      <div className="live-object-head">
        <span className="kind">{obj.kind}</span> <strong>{obj.name}</strong>
        {obj.replicas && <span className="replicas small"> {obj.replicas} ready</span>}{' '}
        {obj.status && <StatusBadge status={obj.status} reason={obj.reason} />}
        {obj.missing && <span className="cell-error small"> not in the cluster</span>}
      </div>
      {obj.reason && obj.status !== 'Clean' && <div className="small">{obj.reason}</div>}
      <Conditions conditions={obj.conditions ?? []} />
      {pods.length > 0 && <Pods pods={pods} />}
      {children.length > 0 && (
        <div className="live-tree">
          {children.map((c) => (
            <ObjectNode key={`${c.kind}/${c.name}`} obj={c} />
          ))}
        </div>
      )}
    </div>
  );
}

function Conditions({ conditions }: { conditions: Condition[] }) {
  if (conditions.length === 0) return null;
  return (
    <div className="conditions small">
      {conditions.map((c) => (
        <span key={c.type} className={c.status === 'True' ? 'cond-true' : 'cond-false'} title={c.message ?? ''}>
          {c.type}={c.status}
          {c.reason ? ` (${c.reason})` : ''}
        </span>
      ))}
    </div>
  );
}

function Pods({ pods }: { pods: PodView[] }) {
  return (
    <table className="pods small">
      <thead>
        <tr>
          <th scope="col">Pod</th>
          <th scope="col">Phase</th>
          <th scope="col">Ready</th>
          <th scope="col">Restarts</th>
          <th scope="col">Containers</th>
        </tr>
      </thead>
      <tbody>
        {pods.map((p) => (
          <tr key={p.name} data-pod={p.name}>
            <td>{p.name}</td>
            <td>{p.phase}</td>
            <td>{p.ready ? 'ready' : 'not ready'}</td>
            <td>{p.restarts}</td>
            <td>
              {p.containers.map((c) => (
                <div key={c.name} data-container={c.name}>
                  {c.name}: {c.state}
                  {c.reason ? <strong className="container-reason"> {c.reason}</strong> : null}
                  {c.message ? <span className="muted"> — {c.message}</span> : null}
                </div>
              ))}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Events({ view }: { view: LiveView }) {
  if (view.events.length === 0) return <p className="muted small">No recent events.</p>;
  return (
    <table className="events small">
      <caption className="small-heading">Recent events</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Type</th>
          <th scope="col">Reason</th>
          <th scope="col">Object</th>
          <th scope="col">Message</th>
        </tr>
      </thead>
      <tbody>
        {view.events.map((e, i) => (
          <tr key={`${e.time ?? ''}-${i}`} className={e.type === 'Warning' ? 'event-warning' : undefined}>
            <td>{e.time ? formatTime(e.time, { seconds: true }) : ''}</td>
            <td>{e.type}</td>
            <td>{e.reason}</td>
            <td>{e.object}</td>
            <td>
              {e.message}
              {e.count > 1 ? ` (×${e.count})` : ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
