// Browser checks of what the UI shows of what runs: deployable files in the matrix,
// and the live view of a service (Deployment → ReplicaSet → ready Pods, Events),
// against the playground started by run.sh.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage, startBrowser, system } from './harness.mjs';

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

test('the redis deployable is a row of the matrix with its status in every deployed env', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(system.uiUrl);
  await page.getByRole('heading', { name: 'Environments' }).waitFor();
  const row = page.locator('tr[data-deployable="redis.yaml"]');
  for (const env of ['dev', 'pp', 'prod']) {
    await row.locator(`td[data-env="${env}"] [data-status="Clean"]`).waitFor({ timeout: 60_000 });
  }
  assert.match(await row.locator('td[data-env="dev"]').innerText(), /Deployment\/redis/);
  await finish('deployables');
});

test('the service page shows the live tree of web in dev with two ready pods, and keeps it current', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/services/web`);
  const live = page.locator('[data-live="dev"]');
  const replicaset = live.locator('[data-kind="Deployment"] [data-kind="ReplicaSet"]');
  await page.waitForFunction(
    () => {
      const pods = document.querySelectorAll('[data-live="dev"] [data-kind="ReplicaSet"] tr[data-pod]');
      return (
        pods.length === 2 &&
        [...pods].every((p) => p.textContent.includes('Running') && !p.textContent.includes('not ready'))
      );
    },
    null,
    { timeout: 60_000 },
  );
  assert.match(await replicaset.getAttribute('data-name'), /^web-/);
  assert.match(await live.innerText(), /Recent events/);
  assert.match(await live.innerText(), /Scaled up replica set web-/);
  // It is read again while open: the time it was read moves on without a reload.
  const readAt = async () => (await live.locator('.live-body > p.muted').first().innerText()).trim();
  const first = await readAt();
  await page.waitForFunction(
    (before) => document.querySelector('[data-live="dev"] .live-body > p.muted')?.textContent.trim() !== before,
    first,
    { timeout: 15_000 },
  );
  await finish('live-view');
});
