// Browser check of "Redeploy…" on the env page: a forced redeploy of dev
// through the aggregator and the deployer, against the playground started by run.sh.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { enterToken, openPage, startBrowser, system } from './harness.mjs';

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

test('the env page redeploys dev with force and shows every object re-applied', async () => {
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/envs/dev`);
  await page.getByRole('heading', { level: 1, name: 'dev' }).waitFor();
  await enterToken(page);
  await page.getByRole('button', { name: 'Redeploy…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Redeploy dev' });
  await dialog.getByLabel('force (take back fields other managers changed)').check();
  await dialog.getByRole('button', { name: 'Redeploy dev with force' }).click();
  const result = dialog.getByRole('status');
  await result.waitFor({ timeout: 60_000 });
  const text = await result.innerText();
  assert.match(text, /Redeployed with force/);
  const counts = text.match(/dev: (\d+) created, (\d+) changed, (\d+) re-applied, (\d+) unchanged/);
  assert.ok(counts, text);
  const [created, changed, reapplied, unchanged] = counts.slice(1).map(Number);
  assert.ok(created + changed + reapplied > 0, text);
  assert.equal(unchanged, 0, 'a forced redeploy writes every object');
  // Every object of dev, web's Deployment among them, each applied again.
  assert.equal(reapplied, created + changed + reapplied, text);
  assert.match(text, /reapplied Deployment\.apps [a-z-]+\/web\n/);
  await finish('redeploy');
});
