import { formatTime } from '../model';

/** A clear, announced banner whenever what is on screen may be out of date. */
export function StaleBanner({ reasons, loadedAt }: { reasons: string[]; loadedAt: Date | null }) {
  if (reasons.length === 0) return null;
  return (
    <div className="banner stale" role="alert" data-testid="stale-banner">
      <strong>
        <span aria-hidden="true">⚠ </span>Data may be out of date
        {loadedAt ? ` (last loaded ${formatTime(loadedAt.toISOString(), { seconds: true })})` : ''}.
      </strong>
      <ul>
        {reasons.map((r) => (
          <li key={r}>{r}</li>
        ))}
      </ul>
    </div>
  );
}
