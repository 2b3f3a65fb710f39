import { useEffect, useId, useState, type FormEvent } from 'react';
import type { NewPreviewRequest, PreviewEnv, State } from '../api/types';
import { useApi, useNow } from '../context';
import { formatRelative, formatTime, shortCommit } from '../model';
import { useAction } from './Actions';
import { StatusBadge } from './Badges';
import { Dialog, DialogButtons } from './Dialog';
import { ErrorMessage, Notice, errorText } from './Messages';

/** What every preview env's name starts with. */
export const PREVIEW_PREFIX = 'preview-';

/** Deployed envs that can be a preview's template (previews themselves are not offered). */
export function templateEnvs(state: State): string[] {
  return state.envs.filter((e) => e.deployed && !e.name.startsWith(PREVIEW_PREFIX)).map((e) => e.name);
}

/** The services with a version in `env`. */
export function servicesOf(state: State, env: string): string[] {
  return state.services.filter((s) => s.envs[env]?.version).map((s) => s.name);
}

/** The body of `POST /api/previews` from the form; `service` empty: the template as it is. */
export function previewRequest(form: {
  name: string;
  from: string;
  service: string;
  version: string;
  image: string;
  ttl: string;
  source: string;
}): NewPreviewRequest {
  const req: NewPreviewRequest = { name: form.name.trim(), from: form.from };
  if (form.service) {
    const vars: Record<string, string> = {};
    if (form.version.trim()) vars.version = form.version.trim();
    if (form.image.trim()) vars.image = form.image.trim();
    if (Object.keys(vars).length > 0) req.services = { [form.service]: vars };
  }
  if (form.ttl.trim()) req.ttl = form.ttl.trim();
  if (form.source.trim()) req.source = form.source.trim();
  return req;
}

function CreatePreviewDialog({ state, onClose }: { state: State; onClose: (message?: string) => void }) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const templates = templateEnvs(state);
  const [form, setForm] = useState({
    name: '',
    from: templates[0] ?? '',
    service: '',
    version: '',
    image: '',
    ttl: '3d',
    source: '',
  });
  const id = useId();
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value, ...(key === 'from' ? { service: '' } : {}) }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    const req = previewRequest(form);
    if (!req.name || !req.from) return;
    const answer = await run(() => api.createPreview(req));
    if (answer) onClose(`Created preview ${req.name} from ${req.from} (commit ${shortCommit(answer.commit)})`);
  }

  return (
    <Dialog title="New preview" onClose={() => onClose()}>
      <form onSubmit={(e) => void submit(e)}>
        {tokenField}
        <div className="field">
          <label htmlFor={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            value={form.name}
            onChange={set('name')}
            placeholder="pr-42"
            aria-describedby={`${id}-name-help`}
            required
          />
          <p className="help" id={`${id}-name-help`}>
            Lower-case letters, digits and '-'; the env and namespace become {PREVIEW_PREFIX}
            {form.name.trim() || '<name>'}.
          </p>
        </div>
        <div className="field">
          <label htmlFor={`${id}-from`}>From env</label>
          <select id={`${id}-from`} value={form.from} onChange={set('from')}>
            {templates.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-service`}>Service to override</label>
          <select id={`${id}-service`} value={form.service} onChange={set('service')}>
            <option value="">(none: as in {form.from || 'the template'})</option>
            {servicesOf(state, form.from).map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        {form.service && (
          <>
            <div className="field">
              <label htmlFor={`${id}-version`}>Version</label>
              <input id={`${id}-version`} value={form.version} onChange={set('version')} placeholder="pr-42" />
            </div>
            <div className="field">
              <label htmlFor={`${id}-image`}>Image (optional)</label>
              <input id={`${id}-image`} value={form.image} onChange={set('image')} placeholder="registry/web:pr-42" />
            </div>
          </>
        )}
        <div className="field">
          <label htmlFor={`${id}-ttl`}>Time to live</label>
          <input id={`${id}-ttl`} value={form.ttl} onChange={set('ttl')} aria-describedby={`${id}-ttl-help`} />
          <p className="help" id={`${id}-ttl-help`}>
            e.g. 3d, 12h; it is removed by a commit when it expires.
          </p>
        </div>
        <div className="field">
          <label htmlFor={`${id}-source`}>Source (optional)</label>
          <input
            id={`${id}-source`}
            value={form.source}
            onChange={set('source')}
            placeholder="branch or pull request URL"
          />
        </div>
        <DialogButtons error={error} onCancel={() => onClose()}>
          <button type="submit" className="primary" disabled={busy || !form.name.trim() || !form.from}>
            Create preview
          </button>
        </DialogButtons>
      </form>
    </Dialog>
  );
}

function ExtendPreviewDialog({ preview, onClose }: { preview: PreviewEnv; onClose: (message?: string) => void }) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();
  const [ttl, setTtl] = useState('3d');
  const id = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!ttl.trim()) return;
    const answer = await run(() => api.extendPreview(preview.name, ttl.trim()));
    if (answer)
      onClose(`Preview ${preview.name} now expires ${ttl.trim()} from now (commit ${shortCommit(answer.commit)})`);
  }

  return (
    <Dialog title={`Extend preview ${preview.name}`} onClose={() => onClose()}>
      <form onSubmit={(e) => void submit(e)}>
        {tokenField}
        <p>
          Expires now: <time dateTime={preview.expires}>{formatTime(preview.expires)}</time>
        </p>
        <div className="field">
          <label htmlFor={id}>Expire this long from now</label>
          <input id={id} value={ttl} onChange={(e) => setTtl(e.target.value)} />
        </div>
        <DialogButtons error={error} onCancel={() => onClose()}>
          <button type="submit" className="primary" disabled={busy || !ttl.trim()}>
            Extend
          </button>
        </DialogButtons>
      </form>
    </Dialog>
  );
}

function DeletePreviewDialog({ preview, onClose }: { preview: PreviewEnv; onClose: (message?: string) => void }) {
  const api = useApi();
  const { run, busy, error, tokenField } = useAction();

  async function remove() {
    const answer = await run(() => api.deletePreview(preview.name));
    if (answer) onClose(`Deleted preview ${preview.name} (commit ${shortCommit(answer.commit)})`);
  }

  return (
    <Dialog title={`Delete preview ${preview.name}`} onClose={() => onClose()}>
      {tokenField}
      <p>
        This removes the folder {preview.env}/ and its entry in deployers.yaml in one commit. The deployer then deletes
        every object it applied in namespace {preview.namespace}, and the namespace if Slipway created it.
      </p>
      <DialogButtons error={error} onCancel={() => onClose()}>
        <button type="button" className="danger" disabled={busy} onClick={() => void remove()}>
          Delete preview {preview.name}
        </button>
      </DialogButtons>
    </Dialog>
  );
}

type Open = { kind: 'create' } | { kind: 'extend' | 'delete'; preview: PreviewEnv } | null;

/** The preview envs: URL, status, services, source and expiry; create, extend and delete. */
export function PreviewsPage({ state }: { state: State }) {
  const api = useApi();
  const now = useNow();
  const [previews, setPreviews] = useState<PreviewEnv[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Open>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // The deployer's status is part of the state: a new state reloads the list too.
  const refreshKey = `${state.commit ?? ''}/${state.updated_at}`;

  useEffect(() => {
    let alive = true;
    api.previews().then(
      (p) => {
        if (!alive) return;
        setPreviews(p);
        setError(null);
      },
      (e: unknown) => alive && setError(errorText(e)),
    );
    return () => {
      alive = false;
    };
  }, [api, refreshKey]);

  const close = (message?: string) => {
    setOpen(null);
    if (message) setNotice(message);
  };

  return (
    <section aria-labelledby="previews-title">
      <div className="page-title">
        <h1 id="previews-title">Preview environments</h1>
        <button type="button" className="primary" onClick={() => setOpen({ kind: 'create' })}>
          New preview…
        </button>
      </div>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {previews === null && !error && <p className="muted">Loading previews…</p>}
      {previews !== null && previews.length === 0 && (
        <p className="muted">No previews. Create one from a deployed env, or open a pull request.</p>
      )}
      {previews !== null && previews.length > 0 && (
        <table className="previews">
          <thead>
            <tr>
              <th scope="col">preview</th>
              <th scope="col">URL</th>
              <th scope="col">status</th>
              <th scope="col">services</th>
              <th scope="col">source</th>
              <th scope="col">expires</th>
              <th scope="col">
                <span className="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {previews.map((p) => (
              <tr key={p.env} data-preview={p.name}>
                <th scope="row">
                  {p.name}
                  <div className="muted small">
                    {p.cluster}/{p.namespace}
                  </div>
                </th>
                <td>
                  {p.url ? (
                    <a href={p.url} target="_blank" rel="noreferrer">
                      {p.url}
                    </a>
                  ) : (
                    <span className="muted">no preview_domain</span>
                  )}
                </td>
                <td>
                  {p.status ? (
                    <StatusBadge status={p.status} reason={p.reason} />
                  ) : (
                    <span className="muted">not deployed yet</span>
                  )}
                </td>
                <td>
                  <ul className="plain">
                    {Object.entries(p.services).map(([s, v]) => (
                      <li key={s}>
                        {s} <code>{v}</code>
                      </li>
                    ))}
                  </ul>
                </td>
                <td>{p.source ?? <span className="muted">—</span>}</td>
                <td>
                  <time dateTime={p.expires} title={formatTime(p.expires)}>
                    {p.expired ? 'expired, being removed' : formatRelative(p.expires, now)}
                  </time>
                </td>
                <td className="actions">
                  <button type="button" className="small" onClick={() => setOpen({ kind: 'extend', preview: p })}>
                    Extend…
                  </button>{' '}
                  <button
                    type="button"
                    className="small danger"
                    onClick={() => setOpen({ kind: 'delete', preview: p })}
                  >
                    Delete…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open?.kind === 'create' && <CreatePreviewDialog state={state} onClose={close} />}
      {open?.kind === 'extend' && <ExtendPreviewDialog preview={open.preview} onClose={close} />}
      {open?.kind === 'delete' && <DeletePreviewDialog preview={open.preview} onClose={close} />}
    </section>
  );
}
