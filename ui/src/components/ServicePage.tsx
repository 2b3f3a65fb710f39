import { useState } from 'react';
import type { LockTarget } from '../api/client';
import type { EnvSummary, HistoryEntry, ServiceInEnv, State, TransitionStatus } from '../api/types';
import { useNow } from '../context';
import { envHref, summarizeTransition, transitionsInto, varText } from '../model';
import { Holds, LockDialog, RollbackDialog } from './Actions';
import { LockIcon, PhaseBadge, StatusBadge } from './Badges';
import { HistoryList, useHistory } from './History';
import { LivePanel } from './LivePanel';
import { Notice } from './Messages';
import { VersionTimeline, versionChoices } from './VersionTimeline';

type Open =
  | { kind: 'lock'; target: LockTarget; reasons: string[] }
  | { kind: 'rollback'; env: string; current: string | null; entry: HistoryEntry };

/** One service across its envs: version vars, resources, locks and history with rollback. */
export function ServicePage({ state, service }: { state: State; service: string }) {
  const [open, setOpen] = useState<Open | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const row = state.services.find((s) => s.name === service);

  if (!row) {
    return (
      <section className="empty">
        <h1>Service {service}</h1>
        <p>
          There is no service <code>{service}</code> in any environment. Check the name, or post a first version of it
          to <code>/api/versions</code>. <a href="#/">Back to the overview</a>.
        </p>
      </section>
    );
  }

  const close = (message?: string) => {
    setOpen(null);
    if (message) setNotice(message);
  };

  return (
    <section aria-labelledby="service-title">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <a href="#/">Environments</a> <span aria-hidden="true">/</span>
      </nav>
      <h1 id="service-title">{service}</h1>
      <Notice>{notice}</Notice>
      <VersionTimeline
        service={service}
        versions={versionChoices(state.envs.map((e) => row.envs[e.name]?.version))}
        refreshKey={state.commit ?? ''}
      />
      {state.envs.map((env) => {
        const cell = row.envs[env.name];
        return cell ? (
          <EnvSection
            key={env.name}
            env={env}
            service={service}
            cell={cell}
            stateCommit={state.commit ?? ''}
            transitions={transitionsInto(state, env.name)}
            onLock={() =>
              setOpen({ kind: 'lock', target: { env: env.name, service }, reasons: cell.lock_reasons ?? [] })
            }
            onRollback={(entry) => setOpen({ kind: 'rollback', env: env.name, current: cell.version || null, entry })}
            onNotice={setNotice}
          />
        ) : (
          <section key={env.name} className="env-section absent" aria-label={`${service} in ${env.name}`}>
            <h2>{env.name}</h2>
            <p className="muted">Not in {env.name} (no version file there).</p>
          </section>
        );
      })}
      {open?.kind === 'lock' && <LockDialog target={open.target} reasons={open.reasons} onClose={close} />}
      {open?.kind === 'rollback' && (
        <RollbackDialog env={open.env} service={service} current={open.current} entry={open.entry} onClose={close} />
      )}
    </section>
  );
}

function EnvSection({
  env,
  service,
  cell,
  stateCommit,
  transitions,
  onLock,
  onRollback,
  onNotice,
}: {
  env: EnvSummary;
  service: string;
  cell: ServiceInEnv;
  stateCommit: string;
  transitions: TransitionStatus[];
  onLock: () => void;
  onRollback: (entry: HistoryEntry) => void;
  onNotice: (message: string) => void;
}) {
  const vars = Object.entries(cell.vars ?? {});
  const resources = cell.resources ?? [];
  const locks = cell.lock_reasons ?? [];
  const envLocks = env.lock_reasons ?? [];
  const headingId = `env-${env.name}`;
  const now = useNow();
  return (
    <section className="env-section" aria-labelledby={headingId} data-env={env.name}>
      <div className="env-section-head">
        <h2 id={headingId}>
          <a href={envHref(env.name)}>{env.name}</a>
        </h2>
        <span className="version" data-version={cell.version ?? ''}>
          {cell.version || '(no version)'}
        </span>
        <StatusBadge status={cell.status} reason={cell.reason} />
        <PhaseBadge phase={cell.phase} />
        <LockIcon what={`Env ${env.name}`} reasons={envLocks} label="env locked" />
        <LockIcon what={`${service} in ${env.name}`} reasons={locks} label="locked" onClick={onLock} />
        <button type="button" onClick={onLock} aria-label={`Lock or unlock ${service} in ${env.name}`}>
          {locks.length > 0 ? 'Locks…' : 'Lock…'}
        </button>
      </div>
      <Holds env={env.name} service={service} reasons={cell.holds ?? []} onReleased={onNotice} />
      {cell.reason && <p className="reason">{cell.reason}</p>}
      {cell.error && <p className="cell-error">⚠ {cell.error}</p>}
      {cell.upstream && cell.upstream.version !== cell.version && (
        <p className="upstream">
          <span aria-hidden="true">⬆ </span>
          {cell.upstream.version ?? 'removed'} waits in {cell.upstream.env}
          {promotionNote(transitions, service, now)}
        </p>
      )}
      <div className="env-grid">
        <div>
          <h3>Version variables</h3>
          {vars.length === 0 ? (
            <p className="muted">No variables.</p>
          ) : (
            <table className="vars">
              <tbody>
                {vars.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>
                      <code>{varText(v)}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>Resources</h3>
          {!env.deployed ? (
            <p className="muted">{env.name} is a source of versions and is not deployed.</p>
          ) : resources.length === 0 ? (
            <p className="muted">No resources reported by the deployer yet.</p>
          ) : (
            <table className="resources">
              <thead>
                <tr>
                  <th scope="col">Kind</th>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Reason</th>
                </tr>
              </thead>
              <tbody>
                {resources.map((r) => (
                  <tr key={`${r.api_version}/${r.kind}/${r.namespace ?? ''}/${r.name}`}>
                    <td>{r.kind}</td>
                    <td>
                      {r.namespace ? <span className="muted">{r.namespace}/</span> : null}
                      {r.name}
                    </td>
                    <td>
                      <StatusBadge status={r.status} />
                    </td>
                    <td>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
      {env.deployed && <LivePanel env={env.name} service={service} />}
      <History
        env={env.name}
        service={service}
        current={cell.version || null}
        refreshKey={stateCommit}
        onRollback={onRollback}
      />
    </section>
  );
}

/** Why a waiting version has not moved yet: held by a lock, or what the transition says. */
function promotionNote(transitions: TransitionStatus[], service: string, now: Date): string {
  for (const t of transitions) {
    const held = (t.skipped ?? []).find((s) => s.service === service);
    if (held) return `: held (${held.reason})`;
    if ((t.pending ?? []).includes(service)) return `: ${summarizeTransition(t, now).headline}`;
  }
  return '';
}

/** The commits that changed this service (or its locks) in this env. */
function History({
  env,
  service,
  current,
  refreshKey,
  onRollback,
}: {
  env: string;
  service: string;
  current: string | null;
  refreshKey: string;
  onRollback: (entry: HistoryEntry) => void;
}) {
  const { entries, error } = useHistory(env, service, refreshKey);
  return (
    <HistoryList
      entries={entries}
      error={error}
      empty={`No commits changed ${service} in ${env} yet.`}
      rollback={{ env, service, current, onRollback }}
    />
  );
}
