// Browser check of the previews page against the playground started by run.sh:
// create a preview from dev with web overridden and a time to live, see it listed
// with its URL, status, services and expiry, extend it, delete it. The preview's
// name is new on every run, so the test needs no other file to run before it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, enterToken, freshVersion, openPage, startBrowser, system } from './harness.mjs';

const DAY = 24 * 3600 * 1000;

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

/** Milliseconds from now until the time shown in the row's expiry cell. */
async function expiresIn(row) {
  const iso = await row.locator('time').getAttribute('datetime');
  return Date.parse(iso) - Date.now();
}

/** Waits until `check()` holds (polls; the list reloads on every state change). */
async function until(what, check, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a preview is created from dev, listed with URL, status and expiry, extended and deleted', async () => {
  const name = `b${Date.now().toString(36)}`;
  const version = freshVersion();
  const { page, finish } = await openPage(browser.context);
  await page.goto(`${system.uiUrl}#/previews`);
  await page.getByRole('heading', { level: 1, name: 'Preview environments' }).waitFor();
  await enterToken(page);

  await page.getByRole('button', { name: 'New preview…' }).click();
  const create = page.getByRole('dialog', { name: 'New preview' });
  await create.getByLabel('Name').fill(name);
  await create.getByLabel('From env').selectOption('dev');
  await create.getByLabel('Service to override').selectOption('web');
  await create.getByLabel('Version').fill(version);
  await create.getByLabel('Image (optional)').fill(`registry.example/web:${version}`);
  await create.getByLabel('Time to live').fill('2d');
  await create.getByRole('button', { name: 'Create preview' }).click();
  await page.getByText(`Created preview ${name} from dev`).waitFor();
  await create.waitFor({ state: 'detached' });

  const row = page.locator(`tr[data-preview="${name}"]`);
  await row.waitFor();
  const url = `https://${name}.preview.localhost/`;
  assert.equal(await row.getByRole('link', { name: url }).getAttribute('href'), url);
  await row.getByText(`preview-${name}`).first().waitFor();
  await row
    .getByRole('listitem')
    .filter({ hasText: `web ${version}` })
    .waitFor();
  // The deployer deploys it into namespace preview-<name>: the row turns Clean.
  await row.locator('[data-status="Clean"]').waitFor({ timeout: 90_000 });
  const left = await expiresIn(row);
  assert.ok(left > 1.9 * DAY && left <= 2 * DAY, `expires in 2 days, not ${left} ms`);
  assert.match(await row.locator('time').innerText(), /^in (47 h|48 h|2 days)$/);

  // The API sees the same.
  const listed = (await api('GET', '/api/previews')).previews.find((p) => p.name === name);
  assert.equal(listed.url, url);
  assert.equal(listed.services.web, version);
  assert.equal(listed.status, 'Clean');

  await row.getByRole('button', { name: 'Extend…' }).click();
  const extend = page.getByRole('dialog', { name: `Extend preview ${name}` });
  await extend.getByLabel('Expire this long from now').fill('5d');
  await extend.getByRole('button', { name: 'Extend' }).click();
  await page.getByText(`Preview ${name} now expires 5d from now`).waitFor();
  await until('the new expiry listed', async () => (await expiresIn(row)) > 4.9 * DAY);
  assert.match(await row.locator('time').innerText(), /^in 5 days$/);

  await row.getByRole('button', { name: 'Delete…' }).click();
  const remove = page.getByRole('dialog', { name: `Delete preview ${name}` });
  await remove.getByText(`namespace preview-${name}`).waitFor();
  await remove.getByRole('button', { name: `Delete preview ${name}` }).click();
  await page.getByText(`Deleted preview ${name}`).waitFor();
  await row.waitFor({ state: 'detached' });
  const after = (await api('GET', '/api/previews')).previews.map((p) => p.name);
  assert.ok(!after.includes(name), `${name} is gone from the API too: ${after}`);
  await finish('previews');
});
