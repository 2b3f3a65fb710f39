import type { Phase, RolloutStatus } from '../api/types';
import { PHASE_LABEL, STATUS_LABEL } from '../model';

/** A rollout status as glyph + word + colour, never colour alone. */
export function StatusBadge({ status, reason }: { status: RolloutStatus | null | undefined; reason?: string }) {
  if (!status) return null;
  const label = STATUS_LABEL[status];
  const title = `Rollout status: ${label.text} (${label.help})${reason ? `: ${reason}` : ''}`;
  return (
    <span className={`badge status status-${status}`} data-status={status} title={title}>
      <span aria-hidden="true">{label.glyph}</span> {label.text}
    </span>
  );
}

/** A deploy phase as a word in an outlined badge, coloured like the status it goes with. */
export function PhaseBadge({ phase }: { phase: Phase | null | undefined }) {
  if (!phase) return null;
  const label = PHASE_LABEL[phase];
  return (
    <span className={`badge phase phase-${phase}`} data-phase={phase} title={`Phase: ${label.text} (${label.help})`}>
      {label.text}
    </span>
  );
}

/**
 * A lock icon that tells its reasons on hover and on keyboard focus (and to screen
 * readers through its label). Clicking it calls `onClick`, e.g. to edit the lock.
 */
export function LockIcon({ what, reasons, onClick }: { what: string; reasons: string[]; onClick?: () => void }) {
  if (reasons.length === 0) return null;
  const text = `${what} locked: ${reasons.join('; ')}`;
  return (
    <span className="lock">
      <button type="button" className="lock-button" aria-label={text} onClick={onClick} data-lock={what}>
        <span aria-hidden="true">🔒</span>
      </button>
      <span className="tip" role="tooltip">
        {text}
      </span>
    </span>
  );
}
