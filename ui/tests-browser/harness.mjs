// What every browser test needs: Debian's Chromium through playwright-core with a fresh
// profile, a page that fails the test on any console error, the running system's
// URLs and token from the environment, and a screenshot per test.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
/** Screenshots go to the repo root's target/, next to the other build output. */
export const SCREENSHOTS = process.env.SLIPWAY_SCREENSHOTS ?? join(here, '..', '..', 'target', 'ui-screenshots');

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through tests-browser/run.sh`);
  return value;
}

export const system = {
  uiUrl: required('SLIPWAY_UI_URL'),
  apiUrl: required('SLIPWAY_API_URL'),
  token: required('SLIPWAY_TOKEN'),
};

/** Starts Chromium with a fresh profile; call `close()` when done. */
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
  // Playwright passes the fresh profile to Chromium as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1440, height: 900 },
  });
  context.setDefaultTimeout(20_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens a page that records console errors and uncaught exceptions. `finish(name)`
 * saves the screenshot and fails the test if any error was logged.
 */
export async function openPage(context) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return {
    page,
    /** `expected` matches errors the test provoked on purpose (e.g. a request it made fail). */
    async finish(name, { expected } = {}) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
      await page.close();
      const unexpected = expected ? errors.filter((e) => !expected.test(e)) : errors;
      assert.deepEqual(unexpected, [], 'the browser console must stay free of errors');
    },
  };
}

/** Calls the aggregator's API directly, the way CI would. */
export async function api(method, path, body) {
  const res = await fetch(system.apiUrl + path, {
    method,
    headers: { Authorization: `Bearer ${system.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** Posts a new version of a service, keeping its other vars (so its base still merges). */
export async function postVersion(service, env, version, changelog) {
  const state = await api('GET', '/api/state');
  const current = state.services.find((s) => s.name === service)?.envs?.[env];
  const vars = { ...(current?.vars ?? {}) };
  const old = current?.version;
  for (const [k, v] of Object.entries(vars)) {
    if (typeof v === 'string' && old && v.includes(old)) vars[k] = v.split(old).join(version);
  }
  vars.version = version;
  return api('POST', '/api/versions', { service, env, vars, changelog });
}

/** A version no earlier run used, so tests can run again against the same system. */
export function freshVersion() {
  return `1.${Math.floor(Date.now() / 1000) % 100000}.${Math.floor(Math.random() * 1000)}`;
}

/** Stores the token in session storage the way the header's token form does, by typing it. */
export async function enterToken(page) {
  const field = page.getByLabel('API token', { exact: true }).first();
  await field.fill(system.token);
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.getByText('Token set for this session').waitFor();
}
