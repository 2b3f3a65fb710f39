import { useState } from 'react';
import type { LockTarget } from '../api/client';
import type { EnvSummary, State, TransitionStatus } from '../api/types';
import { useNow } from '../context';
import { formatTime, serviceHref, shortCommit, summarizeTransition } from '../model';
import { Holds, LockDialog, RunTransitionDialog } from './Actions';
import { LockIcon, PhaseBadge, StatusBadge } from './Badges';
import { HistoryList, useHistory } from './History';
import { Notice } from './Messages';
import { PullRequestLink } from './PullRequestLink';
import { RedeployDialog } from './RedeployDialog';

type Open =
  | { kind: 'lock'; target: LockTarget; reasons: string[] }
  | { kind: 'run'; transition: TransitionStatus }
  | { kind: 'redeploy' };

/** One env: where it deploys, its locks, the promotions into and out of it, its services and its history. */
export function EnvPage({ state, env: name }: { state: State; env: string }) {
  const env = state.envs.find((e) => e.name === name);
  if (!env) {
    return (
      <section className="empty">
        <h1>Environment {name}</h1>
        <p>
          There is no environment <code>{name}</code> in the resource repo. <a href="#/">Back to the overview</a>.
        </p>
      </section>
    );
  }

  return <KnownEnvPage state={state} env={env} />;
}

function KnownEnvPage({ state, env }: { state: State; env: EnvSummary }) {
  const name = env.name;
  const now = useNow();
  const [open, setOpen] = useState<Open | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { entries, error } = useHistory(name, undefined, state.commit ?? '');
  const locks = env.lock_reasons ?? [];
  const transitions = (state.transitions ?? []).filter((t) => t.source === name || t.target === name);
  const services = state.services.filter((s) => s.envs[name]);
  const close = (message?: string) => {
    setOpen(null);
    if (message) setNotice(message);
  };

  return (
    <section aria-labelledby="env-title">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <a href="#/">Environments</a> <span aria-hidden="true">/</span>
      </nav>
      <div className="env-section-head page-head">
        <h1 id="env-title">{name}</h1>
        <StatusBadge status={env.status} reason={env.reason} />
        <LockIcon
          what={`Env ${name}`}
          reasons={locks}
          label="locked"
          onClick={() => setOpen({ kind: 'lock', target: { env: name }, reasons: locks })}
        />
        <button type="button" onClick={() => setOpen({ kind: 'lock', target: { env: name }, reasons: locks })}>
          {locks.length > 0 ? 'Locks…' : 'Lock…'}
        </button>
        {env.deployed && (
          <button type="button" onClick={() => setOpen({ kind: 'redeploy' })}>
            Redeploy…
          </button>
        )}
      </div>
      <Notice>{notice}</Notice>
      <div className="env-section">
        <p>
          {env.deployed ? (
            <>
              Deployed to namespace <code>{env.namespace}</code> of cluster <code>{env.cluster}</code>, at commit{' '}
              <code title={env.commit ?? undefined}>{shortCommit(env.commit)}</code>.
            </>
          ) : (
            'A source of versions: not deployed.'
          )}
          {env.reason ? ` ${env.reason}` : ''}
        </p>
        {env.last_error && (
          <p className="cell-error">
            ⚠ Last error ({formatTime(env.last_error.at)}): {env.last_error.message}
          </p>
        )}
        {transitions.length > 0 && (
          <>
            <h2 className="section-title">Promotions</h2>
            <ul className="transitions">
              {transitions.map((t) => {
                const summary = summarizeTransition(t, now);
                return (
                  <li key={t.name} className={`strip tone-${summary.tone}`}>
                    <div className="strip-head">
                      <span>
                        <strong>{t.name}</strong>: {t.source} <span aria-hidden="true">→</span>
                        <span className="sr-only">to</span> {t.target}
                      </span>
                      <button type="button" className="small" onClick={() => setOpen({ kind: 'run', transition: t })}>
                        Run {t.name} now…
                      </button>
                    </div>
                    <div className="strip-headline">{summary.headline}</div>
                    <PullRequestLink transition={t} />
                    {summary.details.length > 0 && (
                      <ul className="strip-details small">
                        {summary.details.map((d) => (
                          <li key={d}>{d}</li>
                        ))}
                      </ul>
                    )}
                  </li>
                );
              })}
            </ul>
          </>
        )}
        <h2 className="section-title">Services</h2>
        {services.length === 0 ? (
          <p className="muted">No services in {name} yet.</p>
        ) : (
          <table className="resources">
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Version</th>
                <th scope="col">Status</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {services.map((s) => {
                const cell = s.envs[name];
                return (
                  <tr key={s.name}>
                    <td>
                      <a href={serviceHref(s.name)}>{s.name}</a>{' '}
                      <LockIcon what={`${s.name} in ${name}`} reasons={cell?.lock_reasons ?? []} />
                    </td>
                    <td>
                      <code>{cell?.version || '—'}</code>
                    </td>
                    <td>
                      <StatusBadge status={cell?.status} /> <PhaseBadge phase={cell?.phase} />
                    </td>
                    <td>
                      {cell?.error ?? cell?.reason}
                      <Holds env={name} service={s.name} reasons={cell?.holds ?? []} onReleased={setNotice} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        <HistoryList
          entries={entries}
          error={error}
          empty={`No commits changed ${name} yet.`}
          showService
          headingLevel={2}
        />
      </div>
      {open?.kind === 'lock' && <LockDialog target={open.target} reasons={open.reasons} onClose={close} />}
      {open?.kind === 'run' && <RunTransitionDialog transition={open.transition} onClose={() => setOpen(null)} />}
      {open?.kind === 'redeploy' && <RedeployDialog env={name} onClose={() => setOpen(null)} />}
    </section>
  );
}
