// Browser tests of the promotion insight pages against the playground: the preview
// of a pending promotion, a version's timeline on the service page and the DORA page.
// Each test posts its own version, so they assume nothing about other test files.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, freshVersion, openPage, postVersion, startBrowser, system } from './harness.mjs';

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

/** Polls `check` (an async function answering a value or undefined) until it answers. */
async function until(what, check, timeoutMs = 180_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until `service` runs `version` Clean in each of `envs` (the aggregator's view). */
async function waitClean(service, version, envs) {
  await until(`${service} ${version} Clean in ${envs.join(', ')}`, async () => {
    const state = await api('GET', '/api/state');
    const row = state.services.find((s) => s.name === service);
    const ok = envs.every((e) => row?.envs?.[e]?.version === version && row.envs[e].status === 'Clean');
    return ok ? true : undefined;
  });
}

/** Posts a fresh version of web to latest and waits until dev and pp run it Clean. */
async function shipToPp() {
  const version = freshVersion();
  await postVersion('web', 'latest', version, `web ${version}: insight check`);
  await waitClean('web', version, ['dev', 'pp']);
  return version;
}

test('the preview page lists the moving service and its changed fields, and says when nothing would move', async () => {
  const { page, finish } = await openPage(browser.context);
  // prod promotes on a schedule: if it takes the version before the page is read,
  // post another one (the next schedule is minutes away).
  let checked = false;
  for (let attempt = 0; attempt < 3 && !checked; attempt++) {
    const version = await shipToPp();
    await page.goto(`${system.uiUrl}#/transitions/prod/preview`);
    const summary = page.getByRole('status');
    await summary.waitFor({ timeout: 60_000 });
    const moving = page.locator('section.preview-service[data-service="web"]');
    if ((await moving.count()) === 0) continue;
    const newVersion = await moving.locator('.version.new').innerText();
    if (newVersion !== version) continue;
    assert.match(await summary.innerText(), new RegExp(`web .* → ${version.replace(/\./g, '\\.')}`));
    assert.match(await moving.innerText(), new RegExp(`web ${version.replace(/\./g, '\\.')}: insight check`));
    // The rendered Deployment of web in prod changes its image.
    const deployment = page.locator(
      'li.object-diff[data-object="Deployment web"], li.object-diff[data-object$="/web"]',
    );
    await deployment.first().waitFor();
    const fields = page.getByRole('table', { name: /^Changed fields of Deployment .*web$/ });
    assert.match(await fields.innerText(), /spec\.template\.spec\.containers\[0\]\.image/);
    assert.match(await fields.innerText(), new RegExp(version.replace(/\./g, '\\.')));
    checked = true;
  }
  assert.ok(checked, 'the prod preview showed the pending version of web');

  // dev has every version of latest once the post was promoted (nothing else posts meanwhile).
  await page.goto(`${system.uiUrl}#/transitions/dev/preview`);
  await page.getByText('Nothing would move: dev has every version of latest.').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('section.preview-service').count(), 0, 'no service moves');
  await finish('insight-preview');
});

test("the service page's timeline shows the version posted, promoted and Clean", async () => {
  const version = await shipToPp();
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/services/web`);
  // The default version is the one in the first env (latest), the one just posted.
  const select = page.getByLabel('Version', { exact: true });
  await select.waitFor();
  assert.equal(await select.inputValue(), version);
  const track = (env) => page.getByRole('list', { name: `Timeline of web ${version} in ${env}` });
  await track('latest').locator('[data-event="posted"]').waitFor({ timeout: 30_000 });
  for (const env of ['dev', 'pp']) {
    // Clean is recorded by the aggregator when it sees the deployer report it: wait for it.
    await until(`Clean of ${version} in ${env} on the timeline`, async () => {
      await page.reload();
      await track(env).waitFor({ timeout: 30_000 });
      return (await track(env).locator('[data-event="clean"]').count()) > 0 ? true : undefined;
    });
    const promoted = track(env).locator('[data-event="promoted"] a');
    assert.equal(await promoted.count(), 1, `one promotion into ${env}`);
    const label = await promoted.getAttribute('aria-label');
    assert.match(label, new RegExp(`^promoted into ${env} at .* UTC, commit [0-9a-f]{8}$`));
    assert.match(await promoted.getAttribute('href'), /^#\/history\?q=[0-9a-f]{40}$/);
  }
  await finish('insight-timeline');
});

test('the DORA page shows at least one deploy in dev', async () => {
  await shipToPp();
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await page.getByRole('link', { name: 'DORA', exact: true }).click();
  await page.getByRole('heading', { name: 'DORA four keys' }).waitFor();
  const deploys = page.locator('tr[data-env="dev"] td[data-key="deploys"]');
  // The deploy counts once its Clean note is written.
  await until('a deploy counted in dev', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'DORA four keys' }).waitFor();
    await page.locator('table.dora-table, [data-testid="dora-empty"]').first().waitFor({ timeout: 30_000 });
    if ((await deploys.count()) === 0) return undefined;
    return Number(await deploys.innerText()) >= 1 ? true : undefined;
  });
  assert.ok(Number(await deploys.innerText()) >= 1);
  await page.getByRole('img', { name: /^Deploys per day: / }).waitFor();
  // The period selector narrows the question: the URL says 7d and the button is pressed.
  await page.getByRole('button', { name: '7d' }).click();
  await page.getByRole('button', { name: '7d', pressed: true }).waitFor();
  assert.match(page.url(), /#\/dora\?since=7d$/);
  await finish('insight-dora');
});
