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
export function LockIcon({
  what,
  reasons,
  label,
  onClick,
}: {
  what: string;
  reasons: string[];
  /** Visible words next to the icon, where there is room for them. */
  label?: string;
  onClick?: () => void;
}) {
  if (reasons.length === 0) return null;
  const text = `${what} locked: ${reasons.join('; ')}`;
  return (
    <span className="lock">
      <button type="button" className="lock-button" aria-label={text} onClick={onClick} data-lock={what}>
        <LockGlyph />
        {label && <span className="lock-label">{label}</span>}
      </button>
      <span className="tip" role="tooltip">
        {text}
      </span>
    </span>
  );
}

/** A padlock drawn inline, so it looks the same without emoji fonts. */
export function LockGlyph() {
  return (
    <svg className="lock-glyph" width="12" height="14" viewBox="0 0 12 14" aria-hidden="true" focusable="false">
      <path d="M3 6V4a3 3 0 0 1 6 0v2" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <rect x="1" y="6" width="10" height="7.5" rx="1.5" fill="currentColor" />
    </svg>
  );
}
