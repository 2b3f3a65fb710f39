// Takes a screenshot of a page of the UI: node tests-browser/shot.mjs URL OUT.png [WIDTH HEIGHT]
// For looking at the layout by hand; the browser tests take their own screenshots.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, out, width = '1440', height = '900'] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node tests-browser/shot.mjs URL OUT.png [WIDTH HEIGHT]');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'slipway-shot-'));
// Playwright passes the fresh profile as --user-data-dir itself.
const browser = await chromium.launchPersistentContext(profile, {
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
  viewport: { width: Number(width), height: Number(height) },
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(`console error: ${m.text()}`));
  await page.goto(url);
  await page.waitForSelector('main h1');
  await page.waitForTimeout(300);
  await page.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
