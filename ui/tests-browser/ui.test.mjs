// Browser tests of the web UI against a running aggregator with a simulated cluster
// behind it (started by run.sh). Each test leaves a screenshot in target/ui-screenshots/.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SCREENSHOTS, api, enterToken, freshVersion, openPage, postVersion, startBrowser, system } from './harness.mjs';

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

/** Waits until `selector` matches at least `count` lock commits, and one of them names `reason`. */
async function waitForLockCommits(page, selector, count, reason) {
  await page.waitForFunction(
    ([sel, n, why]) => {
      const locks = [...document.querySelectorAll(sel)].filter((e) => e.dataset.kind === 'lock');
      return locks.length >= n && locks.some((e) => e.textContent.includes(why));
    },
    [selector, count, reason],
  );
}

const cell = (page, service, env) => page.locator(`tr[data-service="${service}"] td[data-env="${env}"]`);
const section = (page, env) => page.locator(`section[data-env="${env}"]`);

test('the overview shows the seeded services with their rollout status and phase', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await page.getByRole('heading', { name: 'Environments' }).waitFor();
  const envs = await page.locator('thead th[data-env]').evaluateAll((ths) => ths.map((th) => th.dataset.env));
  assert.deepEqual(envs, ['latest', 'dev', 'pp', 'prod'], 'envs in promotion order');
  for (const service of ['web', 'api']) {
    await page.getByRole('link', { name: service, exact: true }).waitFor();
  }
  // Every env is seeded with 1.0.0 of a healthy image and nothing has been posted
  // yet (this test runs first): the simulated cluster rolls each one out, so every
  // deployed cell ends Clean and Deployed at 1.0.0.
  for (const env of ['dev', 'pp', 'prod']) {
    for (const service of ['web', 'api']) {
      const at = cell(page, service, env);
      await at.locator('[data-status="Clean"]').waitFor({ timeout: 60_000 });
      await at.locator('[data-phase="Deployed"]').waitFor();
      const status = at.locator('[data-status]');
      assert.equal(await status.getAttribute('data-status'), 'Clean', `${service} in ${env} is Clean`);
      assert.match(await status.innerText(), /\bClean$/, `${service} in ${env} says Clean in words`);
      assert.equal(
        await at.locator('[data-version]').innerText(),
        '1.0.0',
        `${service} in ${env} runs the seeded version`,
      );
    }
  }
  // The source env is not deployed: it shows its version and no rollout status.
  assert.equal(await cell(page, 'web', 'latest').locator('[data-version]').innerText(), '1.0.0');
  assert.equal(await cell(page, 'web', 'latest').locator('[data-status]').count(), 0, 'latest has no rollout status');
  assert.equal(await page.locator('[data-transition]').count(), 3, 'a promotion strip per transition');
  await finish('overview');
});

test('posting a version through the API updates the matrix without a reload', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await cell(page, 'api', 'latest').locator('[data-version]').waitFor();
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const version = freshVersion();
  await postVersion('api', 'latest', version, `api ${version}: posted by the browser test`);
  await cell(page, 'api', 'latest').locator(`[data-version="${version}"]`).waitFor({ timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  await finish('live-update');
});

test('a service lock set and removed from the UI shows in the matrix and in history', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/services/web`);
  await enterToken(page);
  const reason = `browser test ${freshVersion()}`;
  const dev = section(page, 'dev');
  await dev.locator('.history-list, .history p').first().waitFor();
  const locksBefore = await dev.locator('.history-entry[data-kind="lock"]').count();

  await page.getByRole('button', { name: 'Lock or unlock web in dev' }).click();
  const lockDialog = page.getByRole('dialog', { name: 'Lock web in dev' });
  await lockDialog.getByLabel('Reason').fill(reason);
  await lockDialog.getByRole('button', { name: 'Lock', exact: true }).click();
  await page
    .getByRole('status')
    .filter({ hasText: `Locked web in dev: ${reason}` })
    .waitFor();
  await dev.getByRole('button', { name: `web in dev locked: ${reason}` }).waitFor();

  await page.getByRole('button', { name: 'Lock or unlock web in dev' }).click();
  const unlockDialog = page.getByRole('dialog', { name: 'Lock web in dev' });
  await unlockDialog.getByText(reason).waitFor();
  await unlockDialog.getByRole('button', { name: 'Unlock web in dev' }).click();
  await page.getByRole('status').filter({ hasText: 'Unlocked web in dev' }).waitFor();
  await dev.getByRole('button', { name: /web in dev locked/ }).waitFor({ state: 'detached' });

  // Both commits appear in the history of web in dev (promotions may land in between, so count).
  await waitForLockCommits(page, 'section[data-env="dev"] .history-entry', locksBefore + 2, reason);
  await finish('lock-unlock');
});

test('a rollback from the service page restores the earlier version and holds it until released', async () => {
  const first = freshVersion();
  const second = `${first}-b`;
  await postVersion('web', 'latest', first, `web ${first}`);
  await postVersion('web', 'latest', second, `web ${second}`);
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/services/web`);
  await enterToken(page);
  const latest = section(page, 'latest');
  await latest.locator(`.env-section-head [data-version="${second}"]`).waitFor();

  await latest
    .getByRole('button', { name: new RegExp(`^Roll back web in latest to ${first.replace(/\./g, '\\.')} `) })
    .click();
  const dialog = page.getByRole('dialog', { name: 'Roll back web in latest' });
  assert.equal(await dialog.locator('.version.old').innerText(), second);
  assert.equal(await dialog.locator('.version.new').innerText(), first);
  const hold = dialog.getByRole('checkbox', { name: 'Hold web in latest after the rollback' });
  assert.equal(await hold.isChecked(), true, 'a rollback holds by default');
  await dialog.getByText('The rollback places a hold').waitFor();
  await dialog.getByRole('button', { name: `Roll back to ${first}` }).click();
  await page
    .getByRole('status')
    .filter({ hasText: `Rolled back web in latest to ${first}` })
    .waitFor();
  await latest.locator(`.env-section-head [data-version="${first}"]`).waitFor();
  const reason = `rolled back from ${second} to ${first} by playground`;
  const holds = latest.getByRole('group', { name: 'Holds on web in latest' });
  await holds.getByText(`Held: ${reason}`).waitFor();
  let state = await api('GET', '/api/state');
  const web = state.services.find((s) => s.name === 'web').envs.latest;
  assert.equal(web.version, first);
  assert.deepEqual(web.lock_reasons, [reason], 'the hold is a lock');
  assert.deepEqual(web.holds, [reason], 'the state says it is a hold');
  await latest.locator('.history-entry').first().locator('.version.new', { hasText: first }).waitFor();

  // Releasing the hold is an unlock: the hold goes, the restored version stays.
  await holds.getByRole('button', { name: 'Release hold on web in latest' }).click();
  await page.getByRole('status').filter({ hasText: 'Released the hold on web in latest' }).waitFor();
  await holds.waitFor({ state: 'detached' });
  state = await api('GET', '/api/state');
  assert.deepEqual(state.services.find((s) => s.name === 'web').envs.latest.lock_reasons ?? [], []);
  await finish('rollback-hold-release');
});

test('a changelog containing <script> is shown as text and never runs', async () => {
  const version = freshVersion();
  const changelog = `Fix <script>window.__xss = 1</script> and <img src="x" onerror="window.__xss = 2"> ${version}`;
  await postVersion('api', 'latest', version, changelog);
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/services/api`);
  const entry = section(page, 'latest').locator('pre.changelog', { hasText: version }).first();
  await entry.waitFor();
  assert.ok((await entry.innerText()).includes('<script>window.__xss = 1</script>'), 'the markup is shown as text');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected code ran');
  assert.equal(await section(page, 'latest').locator('pre.changelog img, pre.changelog script').count(), 0);
  await finish('changelog-as-text');
});

/** Waits until every version posted so far has reached pp, so the pp transition has nothing to do. */
async function waitUntilPpHasEveryVersionOfDev() {
  const deadline = Date.now() + 60_000;
  let last;
  for (;;) {
    const state = await api('GET', '/api/state');
    const pp = state.transitions.find((t) => t.name === 'pp');
    last = state.services.map(
      (s) => `${s.name}: ${s.envs.latest?.version} ${s.envs.dev?.version} ${s.envs.pp?.version}`,
    );
    const settled = state.services.every(
      (s) => s.envs.latest?.version === s.envs.dev?.version && s.envs.dev?.version === s.envs.pp?.version,
    );
    if (settled && pp?.pending?.length === 0) return;
    if (Date.now() > deadline) throw new Error(`versions (latest dev pp) never settled: ${last.join('; ')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('a transition started from the promotion strip shows what the transitioner answered', async () => {
  // The versions posted by the tests before have moved on by themselves: a run
  // now finds nothing to promote.
  await waitUntilPpHasEveryVersionOfDev();
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await enterToken(page);
  await page.getByRole('button', { name: 'Run transition pp now' }).click();
  const dialog = page.getByRole('dialog', { name: 'Run transition pp (dev → pp)' });
  await dialog.getByRole('button', { name: 'Run now' }).click();
  const result = await dialog.getByRole('status').innerText();
  assert.equal(result, 'Result: Skipped: nothing to promote: pp has every version of dev');
  await finish('run-transition');
});

test('an env locked and unlocked with the keyboard alone, from the overview, shows both in its history', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await enterToken(page);
  const reason = `keyboard ${freshVersion()}`;
  const before = await api('GET', '/api/history?env=pp&limit=50');
  const locksBefore = before.entries.filter((e) => e.kind === 'lock').length;
  await page.getByRole('button', { name: 'Lock or unlock env pp' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Lock env pp' });
  await dialog.waitFor();
  // The reason field has the focus: type and submit with Enter.
  await page.keyboard.type(reason);
  await page.keyboard.press('Enter');
  const lock = page.getByRole('button', { name: `Env pp locked: ${reason}` });
  await lock.waitFor();
  // The reason shows on keyboard focus, not only on hover.
  await lock.focus();
  assert.ok(await page.getByRole('tooltip').filter({ hasText: reason }).isVisible());
  await page.keyboard.press('Enter');
  const again = page.getByRole('dialog', { name: 'Lock env pp' });
  await again.getByRole('button', { name: 'Unlock env pp' }).focus();
  await page.keyboard.press('Enter');
  await lock.waitFor({ state: 'detached' });
  // The env page lists both commits in the env's history.
  await page.getByRole('link', { name: 'pp', exact: true }).first().click();
  await page.getByRole('heading', { level: 1, name: 'pp' }).waitFor();
  await waitForLockCommits(page, '.history-entry', locksBefore + 2, reason);
  await finish('keyboard-env-lock');
});

test('a banner says the data may be stale while live updates are cut off, and goes when they return', async () => {
  const { page, finish } = await openPage(browser.context);
  // Refuse the event stream: EventSource fails and keeps retrying by itself.
  await page.route('**/api/events', (route) => route.abort('connectionrefused'));
  await page.goto(system.uiUrl);
  const banner = page.getByTestId('stale-banner');
  await banner.filter({ hasText: 'Live updates are disconnected' }).waitFor();
  assert.ok(await page.getByRole('link', { name: 'web', exact: true }).isVisible(), 'the last state stays visible');
  await page.screenshot({ path: `${SCREENSHOTS}/stale-banner.png`, fullPage: true });
  await page.unroute('**/api/events');
  await banner.waitFor({ state: 'detached', timeout: 30_000 });
  await finish('stale-banner-gone', { expected: /api\/events|ERR_CONNECTION_REFUSED|net::ERR_FAILED/ });
});
