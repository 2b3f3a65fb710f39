import { useEffect, useId, useState } from 'react';
import type { Timeline, TimelineEvent } from '../api/types';
import { useApi } from '../context';
import { formatTime, historyHref, shortCommit } from '../model';
import { errorText } from './Messages';

/** What an event means, for labels: `promoted` → "promoted into pp". */
export function eventLabel(event: TimelineEvent['event'], env: string): string {
  switch (event) {
    case 'posted':
      return `posted to ${env}`;
    case 'promoted':
      return `promoted into ${env}`;
    case 'rolled_back_to':
      return `rolled back to in ${env}`;
    case 'changed':
      return `changed by hand in ${env}`;
    case 'clean':
      return `Clean in ${env}`;
    case 'failed':
      return `Failed in ${env}`;
    case 'rolled_back':
      return `rolled back in ${env}`;
  }
}

/**
 * Where each event sits on a shared time axis, as a fraction 0..1 of the span
 * from the earliest to the latest event of the whole timeline (0 for all when
 * they share one instant).
 */
export function positions(timeline: Timeline): (at: string) => number {
  const times = [
    ...(timeline.origin ? [timeline.origin.at] : []),
    ...timeline.envs.flatMap((e) => e.events.map((ev) => ev.at)),
  ].map((t) => Date.parse(t));
  const min = Math.min(...times);
  const span = Math.max(...times) - min;
  return (at) => (span > 0 ? (Date.parse(at) - min) / span : 0);
}

/** The versions to choose from: each env's current version, first env first, without repeats. */
export function versionChoices(versions: (string | null | undefined)[]): string[] {
  const out: string[] = [];
  for (const v of versions) if (v && !out.includes(v)) out.push(v);
  return out;
}

/** A horizontal timeline per env of one version: posted, promoted (commit), Clean/Failed, rolled back. */
export function VersionTimeline({
  service,
  versions,
  refreshKey,
}: {
  service: string;
  /** The versions to offer, the default first (the version in the first env). */
  versions: string[];
  refreshKey: string;
}) {
  const api = useApi();
  const id = useId();
  const [version, setVersion] = useState(versions[0] ?? '');
  const [timeline, setTimeline] = useState<Timeline | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!version) return;
    let alive = true;
    api.timeline(service, version).then(
      (t) => {
        if (!alive) return;
        setTimeline(t);
        setError(null);
      },
      (e: unknown) => alive && setError(`Could not load the timeline: ${errorText(e)}`),
    );
    return () => {
      alive = false;
    };
  }, [api, service, version, refreshKey]);

  if (versions.length === 0) return null;
  const at = timeline ? positions(timeline) : null;
  return (
    <section className="timeline" aria-labelledby={`${id}-title`}>
      <div className="timeline-head">
        <h2 id={`${id}-title`}>Version timeline</h2>
        <label htmlFor={`${id}-version`} className="small">
          Version
        </label>
        <select id={`${id}-version`} value={version} onChange={(e) => setVersion(e.target.value)}>
          {versions.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      </div>
      {error && <p className="cell-error">⚠ {error}</p>}
      {timeline === undefined && !error && <p className="muted">Loading the timeline…</p>}
      {timeline === null && (
        <p className="muted">
          No commit brought version {version} of {service} into any env.
        </p>
      )}
      {timeline && at && (
        <>
          {timeline.origin && (
            <p className="small">
              Posted {formatTime(timeline.origin.at, { seconds: true })} in commit{' '}
              <CommitLink commit={timeline.origin.commit} />
            </p>
          )}
          {timeline.envs.map((env) => (
            <div key={env.env} className="timeline-row" data-env={env.env}>
              <span className="timeline-env">{env.env}</span>
              <ol className="timeline-track" aria-label={`Timeline of ${service} ${timeline.version} in ${env.env}`}>
                {env.events.map((ev, i) => {
                  const label = `${eventLabel(ev.event, env.env)} at ${formatTime(ev.at, { seconds: true })}, commit ${shortCommit(ev.commit)}`;
                  return (
                    <li
                      key={`${ev.event}-${ev.at}-${i}`}
                      className={`timeline-point event-${ev.event}`}
                      data-event={ev.event}
                      style={{ left: `${(at(ev.at) * 100).toFixed(2)}%` }}
                    >
                      <a href={historyHref(ev.commit)} aria-label={label} title={label}>
                        <span className="timeline-dot" aria-hidden="true" />
                        <span className="timeline-text">{ev.event.replace(/_/g, ' ')}</span>
                      </a>
                    </li>
                  );
                })}
              </ol>
            </div>
          ))}
        </>
      )}
    </section>
  );
}

function CommitLink({ commit }: { commit: string }) {
  return (
    <a href={historyHref(commit)} title={commit}>
      <code>{shortCommit(commit)}</code>
    </a>
  );
}
