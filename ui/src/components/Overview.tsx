import { useEffect, useId, useRef, useState } from 'react';
import type { LockTarget } from '../api/client';
import type { EnvSummary, Phase, RolloutStatus, ServiceInEnv, ServiceRow, State, TransitionStatus } from '../api/types';
import { useNow } from '../context';
import {
  envHref,
  filterDeployables,
  filterServices,
  formatTime,
  overviewHref,
  PHASE_LABEL,
  previewHref,
  serviceHref,
  STATUS_LABEL,
  summarizeTransition,
  transitionsInto,
  type Tone,
} from '../model';
import { LockDialog, RunTransitionDialog, VerdictDialog } from './Actions';
import { LockGlyph, LockIcon, PhaseBadge, StatusBadge } from './Badges';
import { DeployableRows } from './DeployableRows';
import { Notice } from './Messages';
import { PullRequestLink } from './PullRequestLink';

type Open =
  | { kind: 'lock'; target: LockTarget; reasons: string[] }
  | { kind: 'run'; transition: TransitionStatus }
  | { kind: 'approve' | 'reject'; transition: TransitionStatus };

/** The env × service matrix with the promotion strip between the envs. */
export function Overview({ state, initialFilter = '' }: { state: State; initialFilter?: string }) {
  const [filter, setFilterState] = useState(initialFilter);
  const setFilter = (value: string) => {
    setFilterState(value);
    // replaceState: typing is not navigation, and it fires no hashchange.
    window.history.replaceState(null, '', overviewHref(value));
  };
  const [open, setOpen] = useState<Open | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const filterId = useId();
  const filterRef = useRef<HTMLInputElement>(null);

  // "/" jumps to the filter, as in many consoles; not while typing somewhere else.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        filterRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  const services = filterServices(state.services, filter);

  if (state.envs.length === 0) {
    return (
      <section className="empty">
        <h1>No environments yet</h1>
        <p>
          Every top-level folder of the resource repo is an environment. Add one, e.g. <code>latest/version/</code>, and
          commit; it appears here within a poll.
        </p>
      </section>
    );
  }

  return (
    <section aria-labelledby="overview-title">
      <div className="toolbar">
        <h1 id="overview-title">Environments</h1>
        <div className="filter">
          <label htmlFor={filterId}>Filter services</label>
          <input
            id={filterId}
            ref={filterRef}
            type="search"
            aria-keyshortcuts="/"
            value={filter}
            placeholder="name contains…  (press /)"
            onChange={(e) => setFilter(e.target.value)}
          />
        </div>
      </div>
      <RepoErrors errors={state.repo_errors ?? []} />
      <Notice>{notice}</Notice>
      <div className="matrix-scroll">
        <table className="matrix">
          <caption className="sr-only">
            Version, rollout status and phase of each service (rows) in each environment (columns, in promotion order)
          </caption>
          <thead>
            <tr>
              <th scope="col" className="corner">
                Service
              </th>
              {state.envs.map((env) => (
                <EnvHeader
                  key={env.name}
                  env={env}
                  onLock={() => setOpen({ kind: 'lock', target: { env: env.name }, reasons: env.lock_reasons ?? [] })}
                />
              ))}
            </tr>
            <tr className="strip-row">
              <th scope="row" className="corner">
                Promotion
              </th>
              {state.envs.map((env) => (
                <TransitionStrip
                  key={env.name}
                  transitions={transitionsInto(state, env.name)}
                  onRun={(transition) => setOpen({ kind: 'run', transition })}
                  onVerdict={(transition, kind) => setOpen({ kind, transition })}
                />
              ))}
            </tr>
          </thead>
          <tbody>
            {services.map((service) => (
              <ServiceMatrixRow
                key={service.name}
                service={service}
                envs={state.envs}
                onLock={(env, reasons) => setOpen({ kind: 'lock', target: { env, service: service.name }, reasons })}
              />
            ))}
          </tbody>
          <DeployableRows deployables={filterDeployables(state.deployables ?? [], filter)} envs={state.envs} />
        </table>
      </div>
      <Legend />
      {state.services.length === 0 && <NoServices sourceEnv={state.envs[0]?.name ?? 'latest'} />}
      {state.services.length > 0 && services.length === 0 && (
        <p className="empty">
          No service name contains “{filter}”. Clear the filter to see all {state.services.length}.
        </p>
      )}
      {open?.kind === 'lock' && (
        <LockDialog
          target={open.target}
          reasons={open.reasons}
          onClose={(message) => {
            setOpen(null);
            if (message) setNotice(message);
          }}
        />
      )}
      {open?.kind === 'run' && <RunTransitionDialog transition={open.transition} onClose={() => setOpen(null)} />}
      {(open?.kind === 'approve' || open?.kind === 'reject') && (
        <VerdictDialog transition={open.transition} kind={open.kind} onClose={() => setOpen(null)} />
      )}
    </section>
  );
}

/** What the badges and marks mean, folded away until asked for. */
function Legend() {
  return (
    <details className="legend">
      <summary>What the badges mean</summary>
      <dl>
        {(Object.keys(STATUS_LABEL) as RolloutStatus[]).map((s) => (
          <div key={s}>
            <dt>
              <StatusBadge status={s} />
            </dt>
            <dd>status: {STATUS_LABEL[s].help}</dd>
          </div>
        ))}
        {(Object.keys(PHASE_LABEL) as Phase[]).map((p) => (
          <div key={p}>
            <dt>
              <PhaseBadge phase={p} />
            </dt>
            <dd>phase: {PHASE_LABEL[p].help}</dd>
          </div>
        ))}
        <div>
          <dt>
            <LockGlyph />
          </dt>
          <dd>locked: promotions into it are held back (focus or hover for the reasons)</dd>
        </div>
        <div>
          <dt aria-hidden="true">⬆</dt>
          <dd>another version waits in the env it is promoted from</dd>
        </div>
      </dl>
    </details>
  );
}

/** The empty state: how CI (or a person) adds the first service. */
function NoServices({ sourceEnv }: { sourceEnv: string }) {
  const example = [
    `curl -X POST ${window.location.origin}/api/versions \\`,
    `  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\`,
    `  -d '{"service": "web", "env": "${sourceEnv}", "vars": {"version": "1.0.0"}, "changelog": "First release"}'`,
  ].join('\n');
  return (
    <div className="empty">
      <p>
        <strong>No services yet.</strong> Post a version from CI (with a token from the aggregator's{' '}
        <code>api_tokens_file</code>):
      </p>
      <pre className="example">{example}</pre>
      <p>
        or commit <code>{sourceEnv}/version/&lt;service&gt;.yaml</code> (and <code>base/&lt;service&gt;.yaml</code> in
        the deployed envs) to the resource repo.
      </p>
    </div>
  );
}

/** Problems in repo files that are no single service's: they affect locks, deployments or promotions. */
function RepoErrors({ errors }: { errors: string[] }) {
  if (errors.length === 0) return null;
  return (
    <section className="message error" aria-labelledby="repo-errors-title">
      <h2 id="repo-errors-title" className="small-heading">
        <span aria-hidden="true">⚠ </span>Problems in the resource repo
      </h2>
      <ul>
        {errors.map((e) => (
          <li key={e}>{e}</li>
        ))}
      </ul>
      <p className="small">Fix these files with a commit; Slipway reads them again on its next poll.</p>
    </section>
  );
}

function EnvHeader({ env, onLock }: { env: EnvSummary; onLock: () => void }) {
  const reasons = env.lock_reasons ?? [];
  return (
    <th scope="col" className="env-header" data-env={env.name}>
      <div className="env-title">
        <a className="env-name" href={envHref(env.name)}>
          {env.name}
        </a>
        <LockIcon what={`Env ${env.name}`} reasons={reasons} onClick={onLock} />
        <button type="button" className="link small" onClick={onLock} aria-label={`Lock or unlock env ${env.name}`}>
          {reasons.length > 0 ? 'locks…' : 'lock…'}
        </button>
      </div>
      <div className="env-meta">
        {env.deployed ? (
          <>
            <StatusBadge status={env.status} reason={env.reason} />
            <span className="muted small">
              {env.cluster}/{env.namespace}
            </span>
            {env.owner && (
              <span
                className="muted small env-owner"
                title="The deployer replica that holds this env's Lease and applies to it"
              >
                by <code>{env.owner}</code>
              </span>
            )}
          </>
        ) : (
          <span className="muted small">source only, not deployed</span>
        )}
      </div>
      {env.deployed && env.status && env.status !== 'Clean' && env.reason && (
        <div className="env-reason small muted">{env.reason}</div>
      )}
      {env.last_error && (
        <div className="env-error small" title={formatTime(env.last_error.at)}>
          <span aria-hidden="true">⚠ </span>
          {env.last_error.message}
        </div>
      )}
    </th>
  );
}

const TONE_ORDER: Tone[] = ['failed', 'blocked', 'waiting', 'ok', 'idle'];

/** The promotion strip cell of an env: every transition into it (usually one). */
function TransitionStrip({
  transitions,
  onRun,
  onVerdict,
}: {
  transitions: TransitionStatus[];
  onRun: (t: TransitionStatus) => void;
  onVerdict: (t: TransitionStatus, kind: 'approve' | 'reject') => void;
}) {
  const now = useNow();
  if (transitions.length === 0) {
    return (
      <td className="strip strip-none">
        <span className="muted small">no promotion into this env</span>
      </td>
    );
  }
  const summaries = transitions.map((t) => ({ t, summary: summarizeTransition(t, now) }));
  const tone = TONE_ORDER.find((x) => summaries.some((s) => s.summary.tone === x)) ?? 'idle';
  return (
    <td className={`strip tone-${tone}`}>
      {summaries.map(({ t, summary }) => (
        <div key={t.name} className={`strip-one tone-${summary.tone}`} data-transition={t.name}>
          <div className="strip-head">
            <span className="small muted">
              {t.source} <span aria-hidden="true">→</span>
              <span className="sr-only">to</span> {t.target}
            </span>
            <button
              type="button"
              className="link small"
              onClick={() => onRun(t)}
              aria-label={
                t.state === 'Frozen' ? `Run transition ${t.name} through the freeze` : `Run transition ${t.name} now`
              }
            >
              {t.state === 'Frozen' ? 'break glass…' : 'run…'}
            </button>
            {t.state === 'AwaitingApproval' && (
              <>
                <button
                  type="button"
                  className="link small"
                  onClick={() => onVerdict(t, 'approve')}
                  aria-label={`Approve promotion ${t.name}`}
                >
                  approve…
                </button>
                <button
                  type="button"
                  className="link small"
                  onClick={() => onVerdict(t, 'reject')}
                  aria-label={`Reject promotion ${t.name}`}
                >
                  reject…
                </button>
              </>
            )}
            <a href={previewHref(t.name)} className="small" aria-label={`What the next promotion of ${t.name} ships`}>
              next…
            </a>
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
        </div>
      ))}
    </td>
  );
}

function ServiceMatrixRow({
  service,
  envs,
  onLock,
}: {
  service: ServiceRow;
  envs: EnvSummary[];
  onLock: (env: string, reasons: string[]) => void;
}) {
  return (
    <tr data-service={service.name}>
      <th scope="row" className="service-name">
        <a href={serviceHref(service.name)}>{service.name}</a>
      </th>
      {envs.map((env) => {
        const cell = service.envs[env.name];
        return cell ? (
          <ServiceCell
            key={env.name}
            env={env.name}
            deployed={env.deployed}
            service={service.name}
            cell={cell}
            onLock={() => onLock(env.name, cell.lock_reasons ?? [])}
          />
        ) : (
          <td key={env.name} className="cell cell-absent" data-env={env.name}>
            <span aria-hidden="true" className="muted">
              —
            </span>
            <span className="sr-only">not in {env.name}</span>
          </td>
        );
      })}
    </tr>
  );
}

function ServiceCell({
  env,
  deployed,
  service,
  cell,
  onLock,
}: {
  env: string;
  deployed: boolean;
  service: string;
  cell: ServiceInEnv;
  onLock: () => void;
}) {
  const locks = cell.lock_reasons ?? [];
  const version = cell.version || null; // "" when the version file cannot be read
  return (
    <td className={`cell${cell.status ? ` cell-${cell.status}` : ''}`} data-env={env}>
      <div className="cell-top">
        <span
          className="version"
          data-version={version ?? ''}
          title={version ? `version ${version}` : 'no version label'}
        >
          {version ?? '(no version)'}
        </span>
        <LockIcon what={`${service} in ${env}`} reasons={locks} onClick={onLock} />
      </div>
      {deployed && !cell.status && !cell.phase && <div className="small muted">not reported by the deployer yet</div>}
      {(cell.status || cell.phase) && (
        <div className="cell-badges">
          <StatusBadge status={cell.status} reason={cell.reason} />
          <PhaseBadge phase={cell.phase} />
        </div>
      )}
      {cell.error && (
        <div className="cell-error small" title={cell.error}>
          <span aria-hidden="true">⚠ </span>
          {cell.error}
        </div>
      )}
      {!cell.error && cell.reason && cell.status !== 'Clean' && <div className="cell-reason small">{cell.reason}</div>}
      {cell.upstream && cell.upstream.version !== version && (
        <div className="upstream small" data-upstream={cell.upstream.version ?? ''}>
          <span aria-hidden="true">⬆ </span>
          {cell.upstream.version ?? 'removed'} waits in {cell.upstream.env}
        </div>
      )}
    </td>
  );
}
