import type { TransitionStatus } from '../api/types';
import { describePullRequest } from '../model';

/** The pull/merge request of a `mode: pull_request` transition on its git host, and the host's last error. */
export function PullRequestLink({ transition }: { transition: TransitionStatus }) {
  const pr = transition.pull_request;
  if (!pr) return null;
  const text = describePullRequest(pr);
  return (
    <div className="strip-pr small" data-pull-request={pr.state ?? 'unknown'}>
      {pr.url ? (
        <a href={pr.url} target="_blank" rel="noreferrer">
          {text}
        </a>
      ) : (
        pr.number !== undefined && <span>{text}</span>
      )}
      {pr.error && <span className="pr-error"> Git host: {pr.error}</span>}
    </div>
  );
}
