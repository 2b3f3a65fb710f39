// Browser tests of promotion control: approving and rejecting a promotion that
// waits for approval, and breaking the glass of a frozen one. They change the
// playground's transitions.yaml (pp → prod) with plain git, and put it back after.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { api, enterToken, freshVersion, openPage, postVersion, startBrowser, system } from './harness.mjs';

const repoUrl = process.env.SLIPWAY_REPO;
if (!repoUrl) throw new Error('SLIPWAY_REPO is not set: run the browser tests through tests-browser/run.sh');

let browser;
let clone;
let original;

function git(...args) {
  return execFileSync('git', ['-c', 'user.name=ops', '-c', 'user.email=ops@example.com', ...args], {
    cwd: clone,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Commits transitions.yaml as `text` and pushes it, rebasing over the services' commits. */
function pushTransitions(text, message) {
  for (let attempt = 0; ; attempt++) {
    git('fetch', '--quiet', 'origin');
    git('reset', '--quiet', '--hard', 'origin/main');
    writeFileSync(join(clone, 'transitions.yaml'), text);
    git('commit', '--quiet', '-am', message);
    try {
      git('push', '--quiet', 'origin', 'HEAD:main');
      return;
    } catch (e) {
      if (attempt >= 20) throw e;
    }
  }
}

/** The playground's rules with the pp → prod transition's schedule replaced by `lines`. */
function prodRule(lines) {
  const schedule = /^ {4}schedule: .*\n/m;
  assert.match(original, schedule, 'the playground schedules pp → prod');
  return original.replace(schedule, lines);
}

async function waitForState(what, check) {
  const deadline = Date.now() + 60_000;
  let last;
  for (;;) {
    last = await api('GET', '/api/state');
    const found = check(last);
    if (found) return found;
    if (Date.now() > deadline) {
      const prod = (last.transitions ?? []).find((t) => t.name === 'prod');
      throw new Error(`never ${what}; prod: ${JSON.stringify(prod)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const prodOf = (state) => (state.transitions ?? []).find((t) => t.name === 'prod');
const versionIn = (state, service, env) => state.services.find((s) => s.name === service)?.envs?.[env]?.version;

/** The commit message that promoted web `version` into prod. */
async function promotionOf(version) {
  const history = await api('GET', '/api/history?env=prod&service=web&limit=20');
  const entry = history.entries.find(
    (e) => e.message.includes('Slipway-Action: promotion') && e.message.includes(`→ ${version}`),
  );
  assert.ok(entry, `the promotion of web ${version} is in the history: ${JSON.stringify(history.entries)}`);
  return entry.message;
}

/** Posts a fresh version of web and waits until prod would ship it, in `promotionState`. */
async function webWaitsForProd(promotionState) {
  const version = freshVersion();
  await postVersion('web', 'latest', version, `browser test ${version}`);
  // pp must also have finished rolling out: prod's rule needs its source clean,
  // and a run asked for before that would be blocked on it, not on this test's rule.
  await waitForState(`web ${version} waiting for prod as ${promotionState}, pp clean`, (s) => {
    const prod = prodOf(s);
    const pp = s.envs.find((e) => e.name === 'pp');
    return (
      prod?.state === promotionState &&
      prod.would_ship?.some((p) => p.service === 'web' && p.new === version) &&
      pp?.status === 'Clean'
    );
  });
  return version;
}

before(async () => {
  browser = await startBrowser();
  clone = mkdtempSync(join(tmpdir(), 'slipway-ui-repo-'));
  execFileSync('git', ['clone', '--quiet', repoUrl, clone]);
  original = readFileSync(join(clone, 'transitions.yaml'), 'utf8');
});

after(async () => {
  if (original) pushTransitions(original, 'Browser tests: back to the playground rules');
  await browser?.close();
  rmSync(clone, { recursive: true, force: true });
});

test('a promotion awaiting approval is approved from the strip, seeing what it ships, and then promoted', async () => {
  pushTransitions(prodRule('    approvals: 1\n'), 'Browser tests: prod needs one approval');
  const version = await webWaitsForProd('AwaitingApproval');
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await enterToken(page);
  const strip = page.locator('[data-transition="prod"]');
  await strip.getByText('Awaiting approval: 0 of 1').waitFor();
  await page.getByRole('button', { name: 'Approve promotion prod' }).click();
  const dialog = page.getByRole('dialog', { name: 'Approve promotion prod (pp → prod)' });
  assert.match(await dialog.innerText(), new RegExp(`web \\S+ → ${version.replaceAll('.', '\\.')}`));
  await dialog.getByLabel('Reason (optional)').fill('looks good');
  await dialog.getByRole('button', { name: 'Approve', exact: true }).click();
  await dialog.getByRole('status').waitFor();
  await waitForState(`web ${version} in prod`, (s) => versionIn(s, 'web', 'prod') === version);
  assert.match(await promotionOf(version), /Approved-by: /);
  await finish('approve-promotion');
});

test('a rejection asks for a reason, keeps the promotion waiting and shows why', async () => {
  const version = await webWaitsForProd('AwaitingApproval');
  const before = await api('GET', '/api/state');
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await enterToken(page);
  await page.getByRole('button', { name: 'Reject promotion prod' }).click();
  const dialog = page.getByRole('dialog', { name: 'Reject promotion prod (pp → prod)' });
  await dialog.getByRole('button', { name: 'Reject', exact: true }).click();
  // The browser's own check of the required field keeps the form from being sent.
  assert.equal(await dialog.getByRole('status').count(), 0);
  await dialog.getByLabel('Reason', { exact: true }).fill('waits for the schema change');
  await dialog.getByRole('button', { name: 'Reject', exact: true }).click();
  await dialog.getByRole('status').waitFor();
  await dialog.locator('.buttons').getByRole('button', { name: 'Close' }).click();
  await page
    .locator('[data-transition="prod"]')
    .getByText(/Rejected by \S+: waits for the schema change/)
    .waitFor();
  const after = await api('GET', '/api/state');
  assert.equal(prodOf(after).state, 'AwaitingApproval');
  assert.equal(versionIn(after, 'web', 'prod'), versionIn(before, 'web', 'prod'), `web ${version} is not in prod`);
  await finish('reject-promotion');
});

test('a frozen promotion is run through the freeze with a reason, recorded in its commit', async () => {
  // A deny window that began at the top of this hour and lasts two.
  const hour = new Date().getUTCHours();
  pushTransitions(
    prodRule(`    windows: [{deny: "0 0 ${hour} * * *", duration: 2h, reason: "browser test freeze"}]\n`),
    'Browser tests: prod frozen',
  );
  const version = await webWaitsForProd('Frozen');
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await enterToken(page);
  await page
    .locator('[data-transition="prod"]')
    .getByText(/^Frozen until /)
    .waitFor();
  await page.getByRole('button', { name: 'Run transition prod through the freeze' }).click();
  const dialog = page.getByRole('dialog', { name: 'Run transition prod (pp → prod)' });
  assert.match(await dialog.innerText(), /browser test freeze/);
  await dialog.getByLabel('Reason for overriding the windows').fill('incident 4711 hotfix');
  await dialog.getByRole('button', { name: 'Run through the freeze' }).click();
  assert.match(await dialog.getByRole('status').innerText(), /^Result: Success/);
  await waitForState(`web ${version} in prod`, (s) => versionIn(s, 'web', 'prod') === version);
  assert.match(await promotionOf(version), /Slipway-Override-Reason: incident 4711 hotfix/);
  await finish('break-glass');
});
