import type { DeployableInEnv, DeployableRow, EnvSummary } from '../api/types';
import { PhaseBadge, StatusBadge } from './Badges';

/**
 * The matrix rows of the files under `<env>/deployable/`: one row per file, with its
 * status in each deployed env. They count in the env's summary like services do.
 */
export function DeployableRows({ deployables, envs }: { deployables: DeployableRow[]; envs: EnvSummary[] }) {
  if (deployables.length === 0) return null;
  return (
    <tbody className="deployables">
      <tr className="group-row">
        <th scope="rowgroup" colSpan={envs.length + 1} className="group-title small">
          Deployables <span className="muted">(files under deployable/)</span>
        </th>
      </tr>
      {deployables.map((row) => (
        <tr key={row.file} data-deployable={row.file}>
          <th scope="row" className="service-name">
            <span title={`deployable/${row.file}`}>{row.file}</span>
          </th>
          {envs.map((env) => {
            const cell = row.envs[env.name];
            return cell ? (
              <DeployableCell key={env.name} env={env.name} cell={cell} />
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
      ))}
    </tbody>
  );
}

function DeployableCell({ env, cell }: { env: string; cell: DeployableInEnv }) {
  const objects = cell.resources ?? [];
  return (
    <td className={`cell${cell.status ? ` cell-${cell.status}` : ''}`} data-env={env}>
      <div className="cell-top small muted">
        {objects.length > 0
          ? objects.map((r) => `${r.kind}/${r.name}`).join(', ')
          : (cell.path ?? 'removed from the repo')}
      </div>
      {!cell.status && !cell.phase && <div className="small muted">not reported by the deployer yet</div>}
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
    </td>
  );
}
