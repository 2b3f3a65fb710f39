import { useEffect, useState } from 'react';
import type { HistoryEntry, Origin } from '../api/types';
import { useApi, useNow } from '../context';
import { formatRelative, formatTime, serviceHref, shortCommit } from '../model';
import { ErrorMessage, errorText } from './Messages';

/** Loads `/api/history` for an env (and service), again whenever `refreshKey` (the repo head) changes. */
export function useHistory(env: string, service: string | undefined, refreshKey: string) {
  const api = useApi();
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    const what = service === undefined ? env : `${service} in ${env}`;
    api.history({ env, service, limit: 50 }).then(
      (list) => {
        if (!alive) return;
        setEntries(list);
        setError(null);
      },
      (e: unknown) => alive && setError(`Could not load the history of ${what}: ${errorText(e)}`),
    );
    return () => {
      alive = false;
    };
  }, [api, env, service, refreshKey]);

  return { entries, error };
}

export interface RollbackOffer {
  env: string;
  service: string;
  /** The version now; no rollback is offered to it. */
  current: string | null;
  onRollback: (entry: HistoryEntry) => void;
}

/** Commits newest first: kind, old → new, author, time, commit and the changelog as plain text. */
export function HistoryList({
  entries,
  error,
  empty,
  showService = false,
  rollback,
  headingLevel = 3,
}: {
  entries: HistoryEntry[] | null;
  error: string | null;
  empty: string;
  showService?: boolean;
  rollback?: RollbackOffer;
  /** 2 where the list sits right under the page's h1, 3 inside an env section. */
  headingLevel?: 2 | 3;
}) {
  const Heading = headingLevel === 2 ? 'h2' : 'h3';
  const now = useNow();
  return (
    <div className="history">
      <Heading className="section-title">History</Heading>
      <ErrorMessage>{error}</ErrorMessage>
      {entries === null && !error && <p className="muted">Loading history…</p>}
      {entries?.length === 0 && <p className="muted">{empty}</p>}
      {entries && entries.length > 0 && (
        <ol className="history-list">
          {entries.map((entry) => {
            // Hand-made commits (`other`) may change the version too; lock commits never do.
            const versionChange = entry.kind !== 'lock' && Boolean(entry.old || entry.new);
            const canRollBack = rollback && versionChange && entry.new && entry.new !== rollback.current;
            return (
              <li key={entry.commit} className={`history-entry kind-${entry.kind}`} data-kind={entry.kind}>
                <div className="history-head">
                  <span className={`kind kind-${entry.kind}`}>{entry.kind}</span>
                  {showService && entry.service && (
                    <a href={serviceHref(entry.service)} className="history-service">
                      {entry.service}
                    </a>
                  )}
                  {versionChange && (
                    <span className="change">
                      <span className="version old">{entry.old ?? 'none'}</span> <span aria-hidden="true">→</span>
                      <span className="sr-only">to</span> <span className="version new">{entry.new ?? 'none'}</span>
                    </span>
                  )}
                  <span className="muted small">
                    by {entry.author},{' '}
                    <time dateTime={entry.time}>
                      {formatRelative(entry.time, now)} ({formatTime(entry.time)})
                    </time>
                    ,{' '}
                    {entry.commit_url ? (
                      <a href={entry.commit_url} title={`${entry.commit} on the git host`} rel="noreferrer">
                        <code>{shortCommit(entry.commit)}</code>
                      </a>
                    ) : (
                      <code title={entry.commit}>{shortCommit(entry.commit)}</code>
                    )}
                  </span>
                  {canRollBack && (
                    <button
                      type="button"
                      className="small"
                      onClick={() => rollback.onRollback(entry)}
                      aria-label={`Roll back ${rollback.service} in ${rollback.env} to ${entry.new ?? ''} from commit ${shortCommit(entry.commit)}`}
                    >
                      Roll back to {entry.new}
                    </button>
                  )}
                </div>
                <Changelogs entry={entry} />
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}

/** Lines of changelog shown before "Show all". */
export const COLLAPSED_LINES = 12;

/**
 * The original changelogs of an entry (a promotion's: those of every version it carried),
 * each under its origin commit; else the message's own changelog. Never clipped: a long
 * text shows its first lines and a button that expands it.
 */
function Changelogs({ entry }: { entry: HistoryEntry }) {
  const origins = entry.changelogs ?? [];
  // A CI post or plain commit is its own origin: its text is shown once, as before.
  const own = origins.length === 1 && origins[0]?.commit === entry.commit;
  if (origins.length === 0 || own) {
    return <ExpandableText text={entry.changelog?.trim() || firstLine(entry.message)} />;
  }
  return (
    <ol className="origins" aria-label="Changelogs carried">
      {origins.map((o: Origin) => (
        <li key={`${o.service}-${o.commit}`} className="origin">
          <div className="origin-head small">
            {origins.some((x) => x.service !== o.service) && <strong>{o.service} </strong>}
            <code title={o.commit}>{shortCommit(o.commit)}</code> {o.subject}{' '}
            <span className="muted">
              (into {o.env} by {o.author})
            </span>
          </div>
          {o.changelog.trim() && <ExpandableText text={o.changelog.trim()} />}
        </li>
      ))}
    </ol>
  );
}

function ExpandableText({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  const lines = text.split('\n');
  const long = lines.length > COLLAPSED_LINES;
  const shown = long && !open ? lines.slice(0, COLLAPSED_LINES).join('\n') : text;
  return (
    <>
      {/* Changelogs come from CI and people: rendered as text, never as HTML. */}
      <pre className="changelog">{shown}</pre>
      {long && (
        <button type="button" className="small link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Show less' : `Show all ${lines.length} lines`}
        </button>
      )}
    </>
  );
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? '';
}
