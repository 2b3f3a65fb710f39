// Browser test of a `mode: pull_request` transition's card: the link to its pull
// request on the git host and the host's error. The playground has no git host, so
// the answers of GET /api/state are given a `pull_request` on the way to the page
// (the shape the transitioner's /status reports; its own tests cover the host).
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

/** Answers GET /api/state with `pull_request` set on the transition into prod. */
async function withPullRequest(page, pullRequest) {
  await page.route('**/api/state', async (route) => {
    const headers = { ...route.request().headers() };
    // A fresh body every time: a 304 would have nothing to add the field to.
    delete headers['if-none-match'];
    const response = await route.fetch({ headers });
    const state = await response.json();
    for (const t of state.transitions ?? []) {
      if (t.target === 'prod') t.pull_request = pullRequest;
    }
    await route.fulfill({ response, json: state, headers: { ...response.headers(), etag: '' } });
  });
}

test('the card of a pull-request transition links its pull request with its state', async () => {
  const { page, finish } = await openPage(browser.context);
  const url = 'https://git.example.com/acme/resources/pulls/12';
  await withPullRequest(page, { host: 'gitea', number: 12, url, state: 'open' });
  await page.goto(system.uiUrl);
  const strip = page.locator('[data-transition="prod"]');
  const link = strip.getByRole('link', { name: 'Pull request #12 (open)' });
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), url);
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.equal(await page.locator('[data-pull-request]').count(), 1, 'only the transition with a request shows one');
  await finish('pull-request-link');
});

test('a merge request that failed on the host says what the host answered', async () => {
  const { page, finish } = await openPage(browser.context);
  await withPullRequest(page, {
    host: 'gitlab',
    number: 3,
    url: 'https://gitlab.example.com/acme/resources/-/merge_requests/3',
    state: 'merged',
    error:
      'gitlab API answered 401 to GET https://gitlab.example.com/api/v4/projects/acme%2Fresources/merge_requests/3: 401 Unauthorized',
  });
  await page.goto(system.uiUrl);
  const strip = page.locator('[data-transition="prod"]');
  await strip.getByRole('link', { name: 'Merge request #3 (merged)' }).waitFor();
  await strip.getByText(/Git host: gitlab API answered 401/).waitFor();
  await finish('pull-request-error');
});
