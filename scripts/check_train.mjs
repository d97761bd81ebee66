// The in-tab training check, measured (not asserted): the built page (dist/) in
// headless Chromium on the CPU backend, `?stage=train`, the Induction task chosen in the
// "Task" combobox with the recipe's settings (src/train/recipe.rs), Start pressed, and the
// role="status" line read after each progress message until it names an induction score
// ≥ 0.5 in layer 2 or later. Prints the seconds from the press, the step, the head, the
// loss fall, and the in-tab steps/s and tokens/s; saves a screenshot at that moment.
//   node scripts/check_train.mjs [--limit 300]     (npm run check:train; builds nothing)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';
import { launch, openPage, waitReady } from '../tests/browser/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const limit = process.argv.includes('--limit') ? Number(process.argv[process.argv.indexOf('--limit') + 1]) : 300;
const STATUS = /^step (\d+) · loss (\d+\.\d+) · induction (\d\.\d+) \(layer (\d+), head (\d+)\)/;

const { server, url } = await startServer({ root: path.join(root, 'dist') });
const browser = await launch({ webgpu: false });
const page = await openPage(browser, `${url}?stage=train`);
await waitReady(page, 120000);
await page.waitForFunction(() => /learned parameters/.test(document.getElementById('train-count')?.textContent || ''));
await page.getByRole('combobox', { name: 'Task' }).selectOption({ label: 'Induction (random tokens with repeats)' });
await page.getByRole('button', { name: 'Start', exact: true }).click();
const started = Date.now();
let seen = 0;
let first = null;
let hit = null;
let last = null;
while ((Date.now() - started) / 1e3 < limit) {
  // The next progress message (data-progress counts them), or a stop.
  await page.waitForFunction(
    (seen) => {
      const s = document.querySelector('section.train');
      return Number(s.dataset.progress) > seen || s.dataset.status === 'failed';
    },
    seen,
    { timeout: limit * 1000 },
  );
  const st = await page.$eval('section.train', (s) => ({ progress: Number(s.dataset.progress), status: s.dataset.status }));
  if (st.status === 'failed') throw new Error(`training stopped: ${await page.textContent('#train-message')}`);
  seen = st.progress;
  const m = STATUS.exec(await page.textContent('#train-status'));
  if (!m) continue;
  last = { s: (Date.now() - started) / 1e3, step: Number(m[1]), loss: Number(m[2]), induction: Number(m[3]), layer: Number(m[4]), head: Number(m[5]) };
  if (!first) first = last;
  if (last.induction >= 0.5 && last.layer >= 2) {
    hit = last;
    break;
  }
}
const speed = await page.textContent('#train-speed');
const settings = await page.$$eval('.train-form input', (xs) => xs.map((x) => `${x.id.replace('train-', '')} ${x.value}`).join(', '));
fs.mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
await page.screenshot({ path: path.join(root, 'test-artifacts', 'check-train.png') });
await page.getByRole('button', { name: 'Pause', exact: true }).click();
console.log(`in-tab training (${settings}; headless Chromium, CPU): ${speed}`);
if (hit) {
  console.log(
    `check:train: induction ${hit.induction.toFixed(2)} (layer ${hit.layer}, head ${hit.head}) at step ${hit.step}, ${hit.s.toFixed(1)} s after Start; ` +
      `loss ${first.loss.toFixed(2)} (step ${first.step}) → ${hit.loss.toFixed(2)} (${(100 * (1 - hit.loss / first.loss)).toFixed(0)}% lower)`,
  );
} else {
  console.log(`check:train: no induction ≥ 0.5 in layer ≥ 2 within ${limit} s; last: ${JSON.stringify(last)}; first: ${JSON.stringify(first)}`);
}
await browser.close();
server.close();
process.exit(hit ? 0 : 1);
