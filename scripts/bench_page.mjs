// The in-browser part of `npm run bench`: the built page (dist/) in headless Chromium on the
// CPU backend (WebAssembly), timed the way a person meets it. For the default model: the
// first heatmap after opening the page, and a 64-token prompt's trace; for SmolLM2 (when
// `npm run models` fetched it): picking it to its first heatmap, a 16-token prompt's trace,
// one "Generate next token" step, typing one more word, and the wasm matmul's GFLOP/s. The
// Train stage's training steps/s and tokens/s on its Induction recipe.
// Times of runs are the engine's own (the page's status line, from performance.now() in
// the worker); times to a heatmap are wall-clock from the browser. Median of REPEAT.
//   node scripts/bench_page.mjs [--repeat 5]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';
import { launch, openPage, waitReady, waitIdle, typePrompt } from '../tests/browser/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repeat = process.argv.includes('--repeat') ? Number(process.argv[process.argv.indexOf('--repeat') + 1]) : 5;
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const words = (n, seed) => Array.from({ length: n }, (_, i) => ['the', 'king', 'of', 'a', 'fair', 'night', 'and', 'my', 'lord'][(i * 7 + seed) % 9]).join(' ');

/** Multiply-adds ×2 of one run of t tokens (as `llm-xray bench` counts them). */
function flops(c, t) {
  const qw = c.n_head * c.head_dim;
  const qkv = qw + 2 * c.n_kv_head * c.head_dim;
  const mlp = c.gated_mlp ? 3 : 2;
  const perLayer = 2 * t * (c.n_embd * qkv + qw * c.n_embd + mlp * c.n_embd * c.n_inner) + 4 * t * ((t + 1) / 2) * qw;
  return c.n_layer * perLayer + 2 * t * c.n_embd * c.vocab_size;
}

/** The engine's time for the last run, from the status line ("… in 12.3 ms on the CPU"). */
async function runMs(page) {
  const m = (await page.textContent('#prompt-status')).match(/in ([\d.]+) ms/);
  return m ? Number(m[1]) : NaN;
}

/** Runs fresh prompts of about `n` words (each starting with a different word, so no
 * prefix is reused); returns the median engine time and token count. */
async function traceMs(page, n, label) {
  const out = [];
  for (let r = 0; r < repeat; r++) {
    await typePrompt(page, `${['Then', 'When', 'Now', 'Yet', 'So', 'And', 'But'][r % 7]} ${words(n - 1, r)}`);
    out.push({ ms: await runMs(page), n: await page.locator('#chips .chip').count() });
  }
  const ms = median(out.map((x) => x.ms));
  const tokens = median(out.map((x) => x.n));
  console.log(`page ${label}: a ${tokens}-token prompt traced in ${ms.toFixed(1)} ms (median of ${out.length}, every part the page keeps recorded)`);
  return { ms, n: tokens };
}

const { server, url } = await startServer({ root: path.join(root, 'dist') });
const browser = await launch({ webgpu: false });
try {
  // Default model: opening the page to the first heatmap.
  // Timed in the page from its navigation start (performance.now()): what a person waits
  // after pressing Enter on the URL, without the test browser's own set-up.
  const first = [];
  for (let r = 0; r < repeat; r++) {
    const page = await openPage(browser, url);
    const h = await page.waitForFunction(() => document.querySelector('.model-map canvas') && performance.now(), null, { timeout: 60000, polling: 'raf' });
    first.push(await h.jsonValue());
    await page.context().close();
  }
  console.log(`page default model: first heatmap ${median(first).toFixed(0)} ms after opening the page (median of ${repeat}, from navigation start)`);
  const page = await openPage(browser, url);
  await waitReady(page);
  const cfg = { n_layer: 4, n_head: 4, n_kv_head: 4, head_dim: 32, n_embd: 128, n_inner: 512, vocab_size: 4096, gated_mlp: false };
  const d = await traceMs(page, 64, 'default model');
  console.log(`page default model: ${(flops(cfg, d.n) / d.ms / 1e6).toFixed(1)} GFLOP/s (wasm, every part recorded)`);
  await page.context().close();

  // Training in the tab: the Train stage's Induction recipe, Start, then the stage's own
  // figures once 20 s of steps have passed (its speed line: the last chunk's steps/s and
  // tokens/s, measured with performance.now() in the worker).
  {
    const page = await openPage(browser, `${url}?stage=train`);
    await waitReady(page);
    await page.waitForFunction(() => /learned parameters/.test(document.getElementById('train-count')?.textContent || ''));
    await page.getByRole('combobox', { name: 'Task' }).selectOption('induction');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.waitForFunction(() => /(\d+\.\d) s of training/.exec(document.getElementById('train-speed').textContent)?.[1] >= 20, null, { timeout: 120000 });
    const settings = await page.$$eval('.train-form input', (xs) => xs.map((x) => `${x.id.replace('train-', '')} ${x.value}`).join(', '));
    const speed = (await page.textContent('#train-speed')).split(' · ').slice(0, 2).join(', ');
    console.log(`page training (Induction recipe: ${settings}): ${speed}`);
    await page.context().close();
  }

  const smol = path.join(root, 'dist/www/models/smollm2-135m-instruct/model.gguf');
  if (!fs.existsSync(smol)) {
    console.log('page SmolLM2: not fetched (run `npm run models`, then `npm run build`); skipped');
  } else {
    const page = await openPage(browser, url);
    await waitReady(page);
    const picker = page.getByRole('combobox', { name: 'Checkpoint' });
    const t0 = Date.now();
    await picker.selectOption(await picker.locator('option', { hasText: 'SmolLM2' }).getAttribute('value'));
    await page.waitForSelector('#chips .chip', { timeout: 120000 });
    await page.waitForSelector('.model-map canvas', { timeout: 120000 });
    console.log(`page SmolLM2: picked to first heatmap ${Date.now() - t0} ms`);
    const s = await traceMs(page, 16, 'SmolLM2');
    const c = { n_layer: 30, n_head: 9, n_kv_head: 3, head_dim: 64, n_embd: 576, n_inner: 1536, vocab_size: 49152, gated_mlp: true };
    console.log(`page SmolLM2: ${(flops(c, s.n) / s.ms / 1e6).toFixed(1)} GFLOP/s (wasm, every part the page keeps recorded)`);
    await page.getByRole('navigation', { name: 'Pipeline' }).getByRole('button', { name: 'Next token', exact: true }).click();
    await waitIdle(page);
    const steps = [];
    for (let r = 0; r < repeat; r++) {
      const n = await page.locator('#chips .chip').count();
      await page.click('#generate');
      await page.waitForFunction((n) => document.querySelectorAll('#chips .chip').length === n + 1 && document.getElementById('stage').getAttribute('aria-busy') === 'false', n, { timeout: 60000 });
      steps.push(await runMs(page));
    }
    console.log(`page SmolLM2: "Generate next token" (one KV-cache step) ${median(steps).toFixed(1)} ms (median of ${repeat})`);
    const box = page.getByRole('textbox', { name: 'Prompt', exact: true });
    await typePrompt(page, words(16, 0));
    await box.press('End');
    await box.pressSequentially(' king');
    await page.waitForFunction(() => /reused from the cache/.test(document.getElementById('prompt-status').textContent), null, { timeout: 30000 });
    await waitIdle(page);
    console.log(`page SmolLM2: typing one more word: ${(await page.textContent('#prompt-status')).replace(/^.*last run: /, '')}`);
    const mem = await page.textContent('#wasm-memory');
    console.log(`page SmolLM2: tab memory (wasm, high-water) ${mem}`);
    await page.context().close();
  }
} finally {
  await browser.close();
  server.close();
}
