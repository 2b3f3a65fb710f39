import { useId, useState, type FormEvent } from 'react';
import { useToken } from '../context';
import { shortCommit } from '../model';

/** Top bar: product name, repo head, and the API token (entered once per browser session). */
export function Header({
  commit,
  transitionerLeader,
}: {
  commit: string | null | undefined;
  /** The transitioner replica that commits promotions, when its replicas elect a leader. */
  transitionerLeader?: string | null;
}) {
  return (
    <header className="topbar">
      <a href="#/" className="brand">
        Slipway
      </a>
      <a href="#/history" className="small">
        History
      </a>
      <a href="#/previews" className="small">
        Previews
      </a>
      <a href="#/dora" className="small">
        DORA
      </a>
      <span className="muted small" title={commit ?? undefined}>
        repo at <code>{shortCommit(commit)}</code>
      </span>
      {transitionerLeader && (
        <span
          className="muted small"
          data-testid="transitioner-leader"
          title="The transitioner replica that holds the Lease and commits promotions"
        >
          promotions by <code>{transitionerLeader}</code>
        </span>
      )}
      <TokenControl />
    </header>
  );
}

function TokenControl() {
  const { token, setToken } = useToken();
  const [typed, setTyped] = useState('');
  const id = useId();

  if (token) {
    return (
      <div className="token">
        <span className="small">Token set for this session</span>
        <button type="button" className="small" onClick={() => setToken(null)}>
          Forget token
        </button>
      </div>
    );
  }

  function save(e: FormEvent) {
    e.preventDefault();
    if (typed.trim()) setToken(typed);
    setTyped('');
  }

  return (
    <form className="token" onSubmit={save}>
      <label htmlFor={id} className="small">
        API token
      </label>
      <input
        id={id}
        type="password"
        autoComplete="off"
        value={typed}
        onChange={(e) => setTyped(e.target.value)}
        placeholder="for locks, runs, rollbacks"
      />
      <button type="submit" className="small" disabled={!typed.trim()}>
        Use token
      </button>
    </form>
  );
}
