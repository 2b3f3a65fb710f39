import { useEffect, useRef, useState } from 'react';
import { servicePath } from '../api/client';
import type { PodView } from '../api/types';
import { useToken } from '../context';
import { browserEventSource, type EventSourceFactory, type EventSourceLike } from '../live';

/** Lines kept on screen; older ones scroll away. */
export const MAX_LINES = 1000;

/** The URL of a pod's log stream through the aggregator. */
export function logUrl(
  env: string,
  service: string,
  opts: { pod: string; container: string; tail: number; follow: boolean; token: string | null },
): string {
  const q = new URLSearchParams({ pod: opts.pod, tail: String(opts.tail), follow: String(opts.follow) });
  if (opts.container) q.set('container', opts.container);
  // EventSource sends no headers: the token goes in the query, as for /api/events.
  if (opts.token) q.set('access_token', opts.token);
  return `/api/envs/${encodeURIComponent(env)}/services/${servicePath(service)}/logs?${q.toString()}`;
}

/**
 * A pod's log, streamed from the deployer through the aggregator: choose the pod
 * and container, how many lines from before, and whether to follow new ones.
 */
export function LogPanel({
  env,
  service,
  pods,
  openEvents = browserEventSource,
}: {
  env: string;
  service: string;
  pods: PodView[];
  openEvents?: EventSourceFactory;
}) {
  const { token } = useToken();
  const [pod, setPod] = useState(pods[0]?.name ?? '');
  const current = pods.find((p) => p.name === pod) ?? pods[0];
  const [container, setContainer] = useState(current?.containers[0]?.name ?? '');
  const [follow, setFollow] = useState(true);
  const [tail, setTail] = useState(100);
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<string>('');
  const [running, setRunning] = useState(false);
  const source = useRef<EventSourceLike | null>(null);

  const stop = () => {
    source.current?.close();
    source.current = null;
    setRunning(false);
  };
  useEffect(() => () => source.current?.close(), []);

  const start = () => {
    stop();
    const podName = current?.name;
    if (!podName) return;
    const containers = current?.containers ?? [];
    const chosen = containers.some((c) => c.name === container) ? container : (containers[0]?.name ?? '');
    setLines([]);
    setStatus('connecting…');
    setRunning(true);
    const es = openEvents(logUrl(env, service, { pod: podName, container: chosen, tail, follow, token }));
    source.current = es;
    es.onopen = () => setStatus(follow ? 'following' : 'reading');
    es.addEventListener('line', (ev) => {
      const line = String(ev.data);
      setLines((old) => (old.length >= MAX_LINES ? [...old.slice(old.length - MAX_LINES + 1), line] : [...old, line]));
    });
    es.addEventListener('end', (ev) => {
      setStatus(`ended: ${String(ev.data)}`);
      es.close();
      if (source.current === es) source.current = null;
      setRunning(false);
    });
    es.onerror = () => {
      // The server refused (a 4xx) or the connection broke; EventSource would retry by itself.
      setStatus('the log stream failed (the pod may not be running yet); start it again');
      es.close();
      if (source.current === es) source.current = null;
      setRunning(false);
    };
  };

  if (pods.length === 0) return <p className="muted small">No pods, so no logs.</p>;
  const id = `log-${env}`;
  return (
    <div className="log-panel" data-logs={env}>
      <div className="log-controls small">
        <label htmlFor={`${id}-pod`}>Pod</label>
        <select
          id={`${id}-pod`}
          value={current?.name ?? ''}
          onChange={(e) => {
            setPod(e.target.value);
            const next = pods.find((p) => p.name === e.target.value);
            setContainer(next?.containers[0]?.name ?? '');
          }}
        >
          {pods.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-container`}>Container</label>
        <select id={`${id}-container`} value={container} onChange={(e) => setContainer(e.target.value)}>
          {(current?.containers ?? []).map((c) => (
            <option key={c.name} value={c.name}>
              {c.name}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-tail`}>Last lines</label>
        <input
          id={`${id}-tail`}
          type="number"
          min={0}
          max={10000}
          value={tail}
          onChange={(e) => setTail(Math.max(0, Math.min(10000, Number(e.target.value) || 0)))}
        />
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        {running ? (
          <button type="button" onClick={stop}>
            Stop
          </button>
        ) : (
          <button type="button" onClick={start}>
            Show log
          </button>
        )}
        <span className="muted log-status" aria-live="polite">
          {status}
        </span>
      </div>
      {lines.length > 0 && (
        <pre className="log-lines" aria-label={`Log of ${current?.name ?? ''}`}>
          {lines.join('\n')}
        </pre>
      )}
    </div>
  );
}
