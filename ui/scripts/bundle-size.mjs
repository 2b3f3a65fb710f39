// Prints the gzipped size of every file in dist/assets and fails when the total is above the budget.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 300 * 1024;
const dir = new URL('../dist/assets/', import.meta.url).pathname;

let files;
try {
  files = readdirSync(dir).sort();
} catch (e) {
  console.error(`bundle-size: cannot read ${dir} (${e.message}); run vite build first`);
  process.exit(1);
}

let total = 0;
console.log('gzipped size of dist/assets:');
for (const name of files) {
  const raw = readFileSync(join(dir, name));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(
    `  ${name.padEnd(40)} ${(raw.length / 1024).toFixed(1).padStart(8)} KB raw ${(gz / 1024).toFixed(1).padStart(8)} KB gzipped`,
  );
}
const verdict = total <= BUDGET_BYTES ? 'ok' : 'OVER BUDGET';
console.log(
  `  ${'total'.padEnd(40)} ${''.padStart(15)} ${(total / 1024).toFixed(1).padStart(8)} KB gzipped (budget ${BUDGET_BYTES / 1024} KB: ${verdict})`,
);
if (total > BUDGET_BYTES) process.exit(1);
