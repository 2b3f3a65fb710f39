import { useId, useState, type FormEvent } from 'react';
import type { DeployAnswer, EnvDeployed } from '../api/types';
import { useApi } from '../context';
import { shortCommit } from '../model';
import { useAction } from './Actions';
import { Dialog, DialogButtons } from './Dialog';
import { Notice } from './Messages';

/** One line of what a redeploy did in an env. */
export function describeDeployed(env: string, e: EnvDeployed): string {
  if (e.result === 'not_held') return `${env}: not deployed: ${e.error ?? 'held by another deployer replica'}`;
  const counts = `${e.created} created, ${e.changed} changed, ${e.reapplied} re-applied, ${e.unchanged} unchanged, ${e.pruned} pruned`;
  const at = e.commit ? ` at ${shortCommit(e.commit)}` : '';
  const failed = e.result === 'failed' ? `; ${e.failed} failed${e.error ? `: ${e.error}` : ''}` : '';
  return `${env}: ${counts}${at}${failed}`;
}

/**
 * Redeploys an env now, after a confirmation. With force, every object is applied
 * again (server-side apply with force), so fields other field managers changed come back.
 */
export function RedeployDialog({ env, onClose }: { env: string; onClose: () => void }) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const [force, setForce] = useState(false);
  const [answer, setAnswer] = useState<DeployAnswer | null>(null);
  const forceId = useId();

  async function start(e: FormEvent) {
    e.preventDefault();
    const result = await run(() => api.deploy([env], force));
    if (result) setAnswer(result);
  }

  return (
    <Dialog title={`Redeploy ${env}`} onClose={onClose}>
      <form onSubmit={(e) => void start(e)}>
        <p>
          Reconciles {env} with the resource repo now. Without force, only objects that differ from the repo are
          written; with force, every object of {env} is applied again.
        </p>
        <div className="field checkbox">
          <input
            id={forceId}
            type="checkbox"
            checked={force}
            disabled={answer !== null}
            onChange={(e) => setForce(e.target.checked)}
          />
          <label htmlFor={forceId}>force (take back fields other managers changed)</label>
        </div>
        {tokenField}
        {answer && (
          <Notice>
            <span>Redeployed{answer.force ? ' with force' : ''}:</span>
            <ul className="small">
              {Object.entries(answer.envs).map(([name, e]) => (
                <li key={name}>
                  {describeDeployed(name, e)}
                  {e.objects.length > 0 && (
                    <ul>
                      {e.objects.map((o) => (
                        <li key={o.object}>
                          {o.action} {o.object}
                          {o.error ? `: ${o.error}` : ''}
                        </li>
                      ))}
                    </ul>
                  )}
                </li>
              ))}
            </ul>
          </Notice>
        )}
        <DialogButtons error={error} onCancel={onClose}>
          {!answer && (
            <button type="submit" className="primary" disabled={busy}>
              {force ? `Redeploy ${env} with force` : `Redeploy ${env}`}
            </button>
          )}
        </DialogButtons>
      </form>
    </Dialog>
  );
}
