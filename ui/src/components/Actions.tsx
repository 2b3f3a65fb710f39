import { useId, useState, type FormEvent } from 'react';
import { ApiError, type LockTarget } from '../api/client';
import type { HistoryEntry, RunAnswer, TransitionStatus, VerdictAnswer } from '../api/types';
import { useApi, useReload, useToken } from '../context';
import { describePromotion, formatTime, shortCommit } from '../model';
import { LockGlyph } from './Badges';
import { Dialog, DialogButtons } from './Dialog';
import { ErrorMessage, Notice, errorText } from './Messages';

/**
 * Runs one write action: asks for the token first when none is kept, shows the
 * API's error when it fails (and forgets a refused token so it can be entered again).
 */
export function useAction() {
  const { token, setToken } = useToken();
  const reload = useReload();
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const fieldId = useId();

  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    setError(null);
    if (!token) {
      if (!typed.trim()) {
        setError('Enter your API token first.');
        return undefined;
      }
      setToken(typed);
    }
    setBusy(true);
    try {
      const result = await action();
      reload();
      return result;
    } catch (e) {
      if (e instanceof ApiError && e.unauthorized) setToken(null);
      setError(errorText(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }

  const tokenField = token ? null : (
    <div className="field">
      <label htmlFor={fieldId}>API token</label>
      <input
        id={fieldId}
        type="password"
        autoComplete="off"
        value={typed}
        onChange={(e) => setTyped(e.target.value)}
        aria-describedby={`${fieldId}-help`}
      />
      <p className="help" id={`${fieldId}-help`}>
        Needed for changes; kept in this browser tab until you close it.
      </p>
    </div>
  );

  return { run, busy, error, tokenField };
}

function lockTitle(target: LockTarget): string {
  return target.service === undefined ? `env ${target.env}` : `${target.service} in ${target.env}`;
}

/** Lock with a new reason, or remove reasons, of an env or of a service in an env. */
export function LockDialog({
  target,
  reasons,
  onClose,
}: {
  target: LockTarget;
  reasons: string[];
  onClose: (message?: string) => void;
}) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const [reason, setReason] = useState('');
  const reasonId = useId();
  const what = lockTitle(target);

  async function lock(e: FormEvent) {
    e.preventDefault();
    if (!reason.trim()) return;
    const answer = await run(() => api.lock(target, reason.trim()));
    if (answer) onClose(`Locked ${what}: ${reason.trim()} (commit ${shortCommit(answer.commit)})`);
  }

  async function unlock(one?: string) {
    const answer = await run(() => api.unlock(target, one));
    if (answer)
      onClose(
        `${one ? `Removed lock reason "${one}" from` : 'Unlocked'} ${what} (commit ${shortCommit(answer.commit)})`,
      );
  }

  return (
    <Dialog title={`Lock ${what}`} onClose={() => onClose()}>
      {tokenField}
      {reasons.length > 0 ? (
        <section aria-label="Current lock reasons">
          <p>
            <LockGlyph /> Locked, for these reasons:
          </p>
          <ul className="reasons">
            {reasons.map((r) => (
              <li key={r}>
                <span>{r}</span>
                <button type="button" disabled={busy} onClick={() => void unlock(r)} aria-label={`Remove reason ${r}`}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
          <button type="button" className="danger" disabled={busy} onClick={() => void unlock()}>
            Unlock {what}
          </button>
        </section>
      ) : (
        <p>
          Not locked. A lock stops promotions into {target.service === undefined ? 'this env' : 'this service here'}{' '}
          until every reason is removed.
        </p>
      )}
      <form onSubmit={(e) => void lock(e)}>
        <div className="field">
          <label htmlFor={reasonId}>{reasons.length > 0 ? 'Add a reason' : 'Reason'}</label>
          <input
            id={reasonId}
            value={reason}
            required
            placeholder="release freeze, incident 4711, …"
            onChange={(e) => setReason(e.target.value)}
          />
        </div>
        <DialogButtons error={error} onCancel={() => onClose()}>
          <button type="submit" className="primary" disabled={busy || !reason.trim()}>
            Lock
          </button>
        </DialogButtons>
      </form>
    </Dialog>
  );
}

/** Confirms a rollback, showing the version now and the version it restores. */
export function RollbackDialog({
  env,
  service,
  current,
  entry,
  onClose,
}: {
  env: string;
  service: string;
  current: string | null;
  entry: HistoryEntry;
  onClose: (message?: string) => void;
}) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const [hold, setHold] = useState(true);
  const holdId = useId();

  async function confirm(e: FormEvent) {
    e.preventDefault();
    const answer = await run(() => api.rollback(env, service, entry.commit, hold));
    if (answer) {
      const held = hold ? `; ${service} is held in ${env} until you release the hold` : '';
      onClose(
        `Rolled back ${service} in ${env} to ${entry.new ?? shortCommit(entry.commit)} (commit ${shortCommit(answer.commit)})${held}`,
      );
    }
  }

  return (
    <Dialog title={`Roll back ${service} in ${env}`} onClose={() => onClose()}>
      <form onSubmit={(e) => void confirm(e)}>
        <dl className="change rollback-change" aria-label="Version change">
          <div>
            <dt>Now</dt>
            <dd className="version old">{current ?? 'none'}</dd>
          </div>
          <div aria-hidden="true" className="arrow">
            →
          </div>
          <div>
            <dt>After the rollback</dt>
            <dd className="version new">{entry.new ?? 'none'}</dd>
          </div>
        </dl>
        <p className="help">
          Restores the version file of {service} in {env} as of commit <code>{shortCommit(entry.commit)}</code> (
          {entry.author}, {formatTime(entry.time)}), as a new commit. Promotions out of {env} follow as usual.
        </p>
        <div className="field checkbox">
          <input id={holdId} type="checkbox" checked={hold} onChange={(e) => setHold(e.target.checked)} />
          <label htmlFor={holdId}>
            Hold {service} in {env} after the rollback
          </label>
        </div>
        <p className="help" id={`${holdId}-help`}>
          {hold
            ? `The rollback places a hold: a lock on ${service} in ${env} saying it was rolled back, in the same commit, so no promotion replaces the restored version. Release the hold (unlock) to let promotions in again.`
            : `Without a hold, the next promotion into ${env} may replace the restored version at once.`}
        </p>
        {tokenField}
        <DialogButtons error={error} onCancel={() => onClose()}>
          <button type="submit" className="danger" disabled={busy}>
            Roll back to {entry.new ?? shortCommit(entry.commit)}
          </button>
        </DialogButtons>
      </form>
    </Dialog>
  );
}

/**
 * The holds on a service in an env, each with its reason and a "Release hold"
 * action (an unlock of that reason); errors (a missing scope, say) show next to it.
 */
export function Holds({
  env,
  service,
  reasons,
  onReleased,
}: {
  env: string;
  service: string;
  reasons: string[];
  onReleased: (message: string) => void;
}) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  if (reasons.length === 0) return null;

  async function release(reason: string) {
    const answer = await run(() => api.unlock({ env, service }, reason));
    if (answer) onReleased(`Released the hold on ${service} in ${env} (commit ${shortCommit(answer.commit)})`);
  }

  return (
    <div className="holds" role="group" aria-label={`Holds on ${service} in ${env}`}>
      {reasons.map((r) => (
        <p key={r} className="hold">
          <LockGlyph /> <strong>Held:</strong> {r}.{' '}
          <button
            type="button"
            disabled={busy}
            onClick={() => void release(r)}
            aria-label={`Release hold on ${service} in ${env}`}
          >
            Release hold
          </button>
        </p>
      ))}
      {error && tokenField}
      <ErrorMessage>{error}</ErrorMessage>
    </div>
  );
}

/**
 * Starts a transition by hand and shows what the transitioner answered. While its
 * windows keep it frozen, the run needs a reason and is recorded as a break-glass override.
 */
export function RunTransitionDialog({ transition, onClose }: { transition: TransitionStatus; onClose: () => void }) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const [answer, setAnswer] = useState<RunAnswer | null>(null);
  const [reason, setReason] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const reasonId = useId();
  const pending = transition.pending ?? [];
  const frozen = transition.state === 'Frozen';

  async function start(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    if (frozen && !reason.trim()) {
      setLocalError('Say why this promotion cannot wait for its window.');
      return;
    }
    const result = await run(() =>
      frozen ? api.runTransition(transition.name, reason.trim()) : api.runTransition(transition.name),
    );
    if (result) setAnswer(result);
  }

  return (
    <Dialog title={`Run transition ${transition.name} (${transition.source} → ${transition.target})`} onClose={onClose}>
      <form onSubmit={(e) => void start(e)}>
        <p>
          {pending.length > 0
            ? `Promotes what waits in ${transition.source}: ${pending.join(', ')}.`
            : `Nothing is known to wait in ${transition.source}; the run checks again.`}{' '}
          Preconditions, approvals and locks still apply; the schedule is ignored.
        </p>
        {frozen && (
          <>
            <p className="warning">
              Frozen
              {transition.frozen_until ? ` until ${formatTime(transition.frozen_until)}` : ''}: {transition.reason}.
              Running it now overrides the windows (break-glass); the commit records you and your reason.
            </p>
            <div className="field">
              <label htmlFor={reasonId}>Reason for overriding the windows</label>
              <textarea id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} required />
            </div>
          </>
        )}
        {tokenField}
        <ErrorMessage>{localError ?? error}</ErrorMessage>
        {answer && (
          <Notice>
            Result: <strong>{answer.result}</strong>
            {answer.reason ? `: ${answer.reason}` : ''}
            {answer.commit ? ` (commit ${shortCommit(answer.commit)})` : ''}
          </Notice>
        )}
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {answer ? 'Close' : 'Cancel'}
          </button>
          {!answer && (
            <button type="submit" className="primary" disabled={busy}>
              {frozen ? 'Run through the freeze' : 'Run now'}
            </button>
          )}
        </div>
      </form>
    </Dialog>
  );
}

/**
 * Approves or rejects exactly what a transition would ship now. A rejection needs a
 * reason; an approval may have one.
 */
export function VerdictDialog({
  transition,
  kind,
  onClose,
}: {
  transition: TransitionStatus;
  kind: 'approve' | 'reject';
  onClose: () => void;
}) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const [answer, setAnswer] = useState<VerdictAnswer | null>(null);
  const [reason, setReason] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const reasonId = useId();
  const ships = transition.would_ship ?? [];
  const approved = transition.approved_by ?? [];
  const verb = kind === 'approve' ? 'Approve' : 'Reject';

  async function submit(e: FormEvent) {
    e.preventDefault();
    setLocalError(null);
    if (kind === 'reject' && !reason.trim()) {
      setLocalError('Say what must change before it may ship.');
      return;
    }
    const result = await run(() =>
      kind === 'approve'
        ? api.approveTransition(transition.name, reason.trim() || undefined)
        : api.rejectTransition(transition.name, reason.trim()),
    );
    if (result) setAnswer(result);
  }

  return (
    <Dialog
      title={`${verb} promotion ${transition.name} (${transition.source} → ${transition.target})`}
      onClose={onClose}
    >
      <form onSubmit={(e) => void submit(e)}>
        <p>{ships.length > 0 ? 'It would ship:' : 'Nothing is known to wait; the transitioner checks again.'}</p>
        {ships.length > 0 && (
          <ul className="ships">
            {ships.map((p) => (
              <li key={p.service}>{describePromotion(p)}</li>
            ))}
          </ul>
        )}
        <p className="small muted">
          Approvals so far: {approved.length} of {transition.approvals_needed ?? '?'}
          {approved.length > 0 ? ` (${approved.join(', ')})` : ''}. A new version in {transition.source} needs fresh
          approvals.
        </p>
        <div className="field">
          <label htmlFor={reasonId}>{kind === 'approve' ? 'Reason (optional)' : 'Reason'}</label>
          <textarea
            id={reasonId}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            required={kind === 'reject'}
          />
        </div>
        {tokenField}
        <ErrorMessage>{localError ?? error}</ErrorMessage>
        {answer && (
          <Notice>
            {kind === 'approve' ? 'Approved' : 'Rejected'}
            {answer.state ? `; now ${answer.state}` : ''}
            {answer.reason ? `: ${answer.reason}` : ''}
          </Notice>
        )}
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {answer ? 'Close' : 'Cancel'}
          </button>
          {!answer && (
            <button type="submit" className="primary" disabled={busy}>
              {verb}
            </button>
          )}
        </div>
      </form>
    </Dialog>
  );
}
