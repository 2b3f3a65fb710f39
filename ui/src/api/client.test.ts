import { describe, expect, it, vi } from 'vitest';
import { ApiError, httpApi, lockPath } from './client';

function answer(status: number, body: unknown): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

describe('httpApi', () => {
  it('sends writes with the bearer token and a JSON body', async () => {
    const fetch = vi.fn(async () => answer(200, { commit: 'abc' }));
    const api = httpApi({ token: () => 'tok', fetch });
    await expect(api.lock({ env: 'prod', service: 'team-a/api' }, 'incident 4711')).resolves.toEqual({ commit: 'abc' });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/locks/prod/team-a/api');
    expect(init.method).toBe('PUT');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(init.body).toBe('{"reason":"incident 4711"}');
  });

  it('unlocks every reason with a bodiless DELETE', async () => {
    const fetch = vi.fn(async () => answer(200, { commit: 'abc' }));
    await httpApi({ token: () => 'tok', fetch }).unlock({ env: 'dev' });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/locks/dev');
    expect(init.method).toBe('DELETE');
    expect(init.body).toBeUndefined();
  });

  it('refuses a write without a token before calling the server', async () => {
    const fetch = vi.fn();
    await expect(httpApi({ token: () => null, fetch }).rollback('dev', 'web', 'abc')).rejects.toThrow(
      'An API token is needed',
    );
    expect(fetch).not.toHaveBeenCalled();
  });

  it('reads history entries with env, service and limit in the query', async () => {
    const fetch = vi.fn(async () => answer(200, { entries: [{ commit: 'a' }] }));
    const entries = await httpApi({ token: () => null, fetch }).history({ env: 'dev', service: 'team-a/api' });
    expect(entries).toEqual([{ commit: 'a' }]);
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/api/history?env=dev&limit=50&service=team-a%2Fapi');
  });

  it('turns a JSON error into its message, with the status and field', async () => {
    const fetch = vi.fn(async () => answer(422, { error: 'service name "Web" has upper case', field: 'service' }));
    const err = await httpApi({ token: () => 'tok', fetch })
      .rollback('dev', 'Web', 'abc')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe('service name "Web" has upper case (HTTP 422)');
    expect((err as ApiError).field).toBe('service');
  });

  it('sends break-glass runs, approvals and rejections with their reasons', async () => {
    const fetch = vi.fn(async () => answer(200, { result: 'Success' }));
    const api = httpApi({ token: () => 'tok', fetch });
    await api.runTransition('prod', 'incident 4711');
    await api.approveTransition('prod');
    await api.rejectTransition('prod', 'not yet');
    const calls = fetch.mock.calls as unknown as [string, RequestInit][];
    expect(calls.map(([url, init]) => [url, init.method, init.body])).toEqual([
      ['/api/transitions/prod/run', 'POST', JSON.stringify({ override_windows: true, reason: 'incident 4711' })],
      ['/api/transitions/prod/approve', 'POST', undefined],
      ['/api/transitions/prod/reject', 'POST', JSON.stringify({ reason: 'not yet' })],
    ]);
  });

  it('says when the token was refused', async () => {
    const fetch = vi.fn(async () => answer(401, { error: 'unknown token', field: null }));
    const err = (await httpApi({ token: () => 'bad', fetch })
      .runTransition('prod')
      .catch((e: unknown) => e)) as ApiError;
    expect(err.unauthorized).toBe(true);
    expect(err.message).toBe('The token was refused (401): unknown token. Enter a valid API token.');
  });

  it('shows a non-JSON error body as it is', async () => {
    const fetch = vi.fn(async () => new Response('Bad Gateway from proxy', { status: 502 }));
    await expect(httpApi({ token: () => null, fetch }).state()).rejects.toThrow('Bad Gateway from proxy (HTTP 502)');
  });

  it('says when the aggregator cannot be reached', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = (await httpApi({ token: () => null, fetch })
      .state()
      .catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.message).toBe('Could not reach the aggregator (Failed to fetch). Check that it is running.');
  });

  it('keeps the slashes of a service name but encodes its segments', () => {
    expect(lockPath({ env: 'dev', service: 'team-a/api' })).toBe('/api/locks/dev/team-a/api');
    expect(lockPath({ env: 'dev', service: 'a b' })).toBe('/api/locks/dev/a%20b');
  });
});

describe('reads', () => {
  it('send the token when there is one, for aggregators that require it for reads', async () => {
    const fetch = vi.fn(async () => answer(200, { envs: [], services: [] }));
    await httpApi({ token: () => 'tok', fetch }).state();
    await httpApi({ token: () => null, fetch }).state();
    const headers = fetch.mock.calls.map(
      (c) => ((c as unknown as [string, RequestInit])[1].headers as Record<string, string>).Authorization,
    );
    expect(headers).toEqual(['Bearer tok', undefined]);
  });

  it('names the scope a valid token lacks, and does not take the token for a wrong one', async () => {
    const fetch = vi.fn(
      async () =>
        new Response(
          JSON.stringify({
            error: 'token ci lacks scope locks=prod; nothing was changed',
            missing_scope: 'locks=prod',
          }),
          { status: 403 },
        ),
    );
    const err = await httpApi({ token: () => 'tok', fetch })
      .lock({ env: 'prod' }, 'x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const api = err as ApiError;
    expect(api.missingScope).toBe('locks=prod');
    expect(api.unauthorized).toBe(false);
    expect(api.message).toContain('lacks the scope locks=prod');
  });

  it('sends the hold choice of a rollback', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ commit: 'c' }), { status: 201 }));
    await httpApi({ token: () => 'tok', fetch }).rollback('dev', 'web', 'abc', false);
    const init = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(JSON.parse(String(init[1].body))).toEqual({ env: 'dev', service: 'web', commit: 'abc', hold: false });
  });
});
