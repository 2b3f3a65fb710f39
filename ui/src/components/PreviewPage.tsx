import { useEffect, useState } from 'react';
import type { RenderedFieldDiff, MovePreview, RenderedObjectDiff, PromotionPreview } from '../api/types';
import { useApi } from '../context';
import { envHref, serviceHref, shortCommit } from '../model';
import { ErrorMessage, errorText } from './Messages';

/** A value as one line of text: strings as they are, anything else as JSON. */
export function showValue(v: unknown): string {
  if (v === null || v === undefined) return '(absent)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function varChanges(m: MovePreview): RenderedFieldDiff[] {
  const before = m.old_vars ?? {};
  const after = m.new_vars ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => ({ path: k, before: before[k] ?? null, after: after[k] ?? null }));
}

function Changes({ fields, label }: { fields: RenderedFieldDiff[]; label: string }) {
  return (
    <table className="field-changes" aria-label={label}>
      <thead>
        <tr>
          <th scope="col">field</th>
          <th scope="col">before</th>
          <th scope="col">after</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((f) => (
          <tr key={f.path}>
            <th scope="row">
              <code>{f.path}</code>
            </th>
            <td className="old">{showValue(f.before)}</td>
            <td className="new">{showValue(f.after)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function objectName(o: RenderedObjectDiff): string {
  return `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
}

/** The field-level diff of an env's rendered manifests, object by object. */
export function DiffList({ objects }: { objects: RenderedObjectDiff[] }) {
  if (objects.length === 0) return <p className="muted">No rendered object changes.</p>;
  return (
    <ul className="object-diffs">
      {objects.map((o) => (
        <li
          key={`${o.kind}/${o.namespace ?? ''}/${o.name}`}
          className={`object-diff change-${o.change}`}
          data-object={objectName(o)}
        >
          <div>
            <span className={`kind change-${o.change}`}>{o.change}</span> <strong>{objectName(o)}</strong>{' '}
            <span className="muted small">from {o.unit}</span>
          </div>
          {o.fields.length > 0 && <Changes fields={o.fields} label={`Changed fields of ${objectName(o)}`} />}
        </li>
      ))}
    </ul>
  );
}

/** "What the next promotion ships": per service old → new vars and changelogs, then the target's diff. */
export function PreviewPage({ transition, refreshKey }: { transition: string; refreshKey: string }) {
  const api = useApi();
  const [preview, setPreview] = useState<PromotionPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    api.preview(transition).then(
      (p) => {
        if (!alive) return;
        setPreview(p);
        setError(null);
      },
      (e: unknown) => alive && setError(`Could not load the preview of ${transition}: ${errorText(e)}`),
    );
    return () => {
      alive = false;
    };
  }, [api, transition, refreshKey]);

  return (
    <section className="preview-page">
      <h1>What the next promotion ships</h1>
      <ErrorMessage>{error}</ErrorMessage>
      {!preview && !error && <p className="muted">Loading the preview…</p>}
      {preview && (
        <>
          <p>
            Transition <strong>{preview.transition}</strong>: <a href={envHref(preview.source)}>{preview.source}</a>{' '}
            <span aria-hidden="true">→</span>
            <span className="sr-only">to</span> <a href={envHref(preview.target)}>{preview.target}</a>, at commit{' '}
            <code title={preview.commit}>{shortCommit(preview.commit)}</code>. Preconditions and schedule decide when it
            runs; this is what it carries.
          </p>
          <p className={preview.moves_anything ? 'preview-summary' : 'preview-summary muted'} role="status">
            {preview.moves_anything
              ? preview.summary
              : `Nothing would move: ${preview.target} has every version of ${preview.source}.`}
          </p>
          {preview.held.length > 0 && (
            <ul className="held small">
              {preview.held.map((h) => (
                <li key={h.service}>
                  {h.service} is held back by a lock: {h.reasons.join('; ')}
                </li>
              ))}
            </ul>
          )}
          {preview.services.map((m) => (
            <section key={m.service} className="preview-service" data-service={m.service}>
              <h2>
                <a href={serviceHref(m.service)}>{m.service}</a>{' '}
                <span className="change">
                  <span className="version old">{m.old ?? 'new'}</span> <span aria-hidden="true">→</span>
                  <span className="sr-only">to</span> <span className="version new">{m.new}</span>
                </span>
              </h2>
              <Changes fields={varChanges(m)} label={`Version variables of ${m.service}`} />
              <h3 className="section-title">Changelogs</h3>
              {m.changelogs.origins.length === 0 && <p className="muted">No changelog found for these versions.</p>}
              {m.changelogs.truncated && <p className="muted small">Older versions are left out.</p>}
              <ol className="origins">
                {m.changelogs.origins.map((o) => (
                  <li key={o.commit} className="origin">
                    <div className="small">
                      <code title={o.commit}>{shortCommit(o.commit)}</code> {o.subject}{' '}
                      <span className="muted">
                        (into {o.env} by {o.author})
                      </span>
                    </div>
                    {o.changelog && <pre className="changelog">{o.changelog}</pre>}
                  </li>
                ))}
              </ol>
            </section>
          ))}
          {preview.moves_anything && (
            <section className="preview-diff">
              <h2>{preview.target} after the promotion</h2>
              <DiffList objects={preview.diff.objects} />
            </section>
          )}
          {preview.diff.problems.length > 0 && (
            <ErrorMessage>
              {preview.diff.problems.map((p) => `${p.unit} cannot be rendered (${p.side}): ${p.error}`).join('\n')}
            </ErrorMessage>
          )}
        </>
      )}
    </section>
  );
}
