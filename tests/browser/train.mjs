// The Train stage in the tab (www/views/train.js, the worker's training loop): a small
// model trained a few dozen steps whose loss falls, paused, opened in the Attention view
// (which shows what the CLI computes from the downloaded folder), downloaded as a zip of a
// Hugging Face folder; bad settings refused with their numbers. Waits on the stage's
// data-progress / data-status (set after each progress message), never on delays.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { openPage, waitReady, waitIdle, readCell, valueOf, download, gotoStage, assert } from './harness.mjs';
import { attentions } from './cli.mjs';

const STATUS = /^step (\d+) · loss (\d+\.\d+) · induction (\d\.\d+) \(layer (\d+), head (\d+)\)/;

/** Opens ?stage=train and waits until the form holds the recipe's settings. */
async function openTrain(browser, url, opts) {
  const page = await openPage(browser, `${url}?stage=train`, opts);
  await waitReady(page);
  await page.waitForFunction(() => document.getElementById('train-count') && /learned parameters/.test(document.getElementById('train-count').textContent));
  return page;
}

/** Waits until the stage has drawn a progress message past `step` (or the run stopped). */
async function waitStep(page, step, timeout = 120000) {
  await page.waitForFunction(
    (step) => {
      const s = document.querySelector('section.train');
      return s && (Number(s.dataset.step) >= step || s.dataset.status === 'failed');
    },
    step,
    { timeout },
  );
  const status = await page.textContent('#train-status');
  const failed = await page.$eval('section.train', (s) => s.dataset.status === 'failed');
  assert(!failed, `training stopped: ${await page.textContent('#train-message')}`);
  return status;
}

/** Sets a hyperparameter field by its label, as a learner types. */
async function setField(page, label, value) {
  const plans = await page.$eval('section.train', (s) => Number(s.dataset.plans));
  await page.getByRole('spinbutton', { name: label, exact: true }).fill(String(value));
  await page.waitForFunction((plans) => Number(document.querySelector('section.train').dataset.plans) > plans, plans);
}

export const tests = [
  {
    name: 'train: a few dozen steps in the tab make the loss fall; the model opens in the Attention view as the CLI runs its downloaded folder',
    async run({ browser, url, bin, shot, root }) {
      // axe is injected as a script, which the page's Content-Security-Policy would refuse.
      const page = await openTrain(browser, url, { context: { bypassCSP: true } });
      // A small model, so that CI trains it in seconds; the count follows the typing.
      const before = await page.textContent('#train-count');
      await setField(page, 'Width', 32);
      const after = await page.textContent('#train-count');
      assert(before !== after && /learned parameters/.test(after), `the count follows the width: ${before} → ${after}`);
      await setField(page, 'Context', 32);
      await setField(page, 'Batch', 8);
      await page.getByRole('combobox', { name: 'Task' }).selectOption({ label: 'Induction (random tokens with repeats)' });
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      const first = STATUS.exec(await waitStep(page, 1));
      assert(first, `the status line reads "step N · loss L · induction S (layer l, head h)": ${await page.textContent('#train-status')}`);
      const last = STATUS.exec(await waitStep(page, 40));
      assert(Number(last[4]) >= 2, `the status line names a head of layer 2 or later: ${last[0]}`);
      const [l0, l1] = [Number(first[2]), Number(last[2])];
      assert(l1 < 0.9 * l0, `the loss falls by 10% or more within ${last[1]} steps: ${l0} → ${l1}`);
      // The pictures are drawn: loss curve, three learned-parameter heatmaps, census small
      // multiples (2 layers × 4 heads), every head's attention on the probe.
      const counts = await page.$eval('section.train', (s) => ({
        pictures: s.querySelectorAll('.train-picture canvas').length,
        census: s.querySelectorAll('.train-census .train-head canvas').length,
        probe: s.querySelectorAll('.train-probe canvas').length,
        updates: [...s.querySelectorAll('.train-picture p')].map((p) => p.textContent),
      }));
      assert(counts.pictures === 3 && counts.census === 8 && counts.probe === 8, `pictures drawn: ${JSON.stringify(counts)}`);
      assert(counts.updates.every((u) => /last update ‖Δ‖ \d/.test(u)), `each picture names its last update: ${counts.updates}`);
      await page.getByRole('button', { name: 'Pause', exact: true }).click();
      await page.waitForFunction(() => document.querySelector('section.train').dataset.status === 'paused');
      await shot(page, 'train-1280');
      // The stage with its pictures drawn: axe-core finds no serious or critical violation.
      await page.addScriptTag({ content: fs.readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8') });
      const violations = await page.evaluate(async () => {
        const r = await window.axe.run(document.getElementById('stage'), { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
        return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
      });
      assert(violations.length === 0, `axe on the trained stage: ${violations.join('\n')}`);

      // Download: one zip holding the Hugging Face folder.
      const zip = await download(page, page.getByRole('button', { name: 'Download', exact: true }));
      assert(/\.zip$/.test(zip.name), `the download is a zip: ${zip.name}`);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-xray-trained-'));
      fs.writeFileSync(path.join(dir, 'model.zip'), zip.bytes);
      execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; z.extractall(sys.argv[2])', path.join(dir, 'model.zip'), dir]);
      const folder = path.join(dir, zip.name.replace(/\.zip$/, ''));
      const files = fs.readdirSync(folder).sort();
      assert(files.join(',') === 'config.json,model.safetensors,tokenizer.json', `the folder holds: ${files}`);
      const config = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
      assert(config.n_layer === 2 && config.n_embd === 32 && config.n_positions === 32, `config.json: ${JSON.stringify(config)}`);

      // Open in the views: the Attention view shows what the CLI computes from the folder.
      await page.getByRole('button', { name: 'Open in the views', exact: true }).click();
      await page.waitForFunction(() => document.getElementById('model-picker')?.value === 'trained' && new URL(location.href).searchParams.get('stage') === 'overview');
      await waitReady(page);
      assert((await page.inputValue('#model-picker')) === 'trained', 'the model picker names the trained model');
      await gotoStage(page, 'Layer 2');
      const prompt = await page.inputValue('#prompt');
      const want = attentions(bin, folder, prompt);
      const T = want[0][0].length;
      const canvas = page.locator('#attention-heatmap');
      for (const [i, j] of [[T - 1, 1], [T - 2, T - 3]]) {
        const shown = valueOf(await readCell(page, canvas, i, j));
        assert(Math.abs(shown - want[1][0][i][j]) <= 6e-5, `trained model, layer 2 head 1 (${i}→${j}): page ${shown}, CLI on the downloaded folder ${want[1][0][i][j]}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      assert(page.errors.length === 0, `page errors: ${page.errors.join('\n')}`);
      await page.context().close();
    },
  },
  {
    name: 'train: a model too big for the tab, an empty pasted text and a diverging learning rate each get a message; the stage reads well at 390 px',
    async run({ browser, url, shot }) {
      const page = await openTrain(browser, url, { viewport: { width: 390, height: 800 } });
      await setField(page, 'Layers', 12);
      await setField(page, 'Width', 1024);
      await setField(page, 'Context', 512);
      const count = await page.textContent('#train-count');
      assert(/too big to train in the tab: \d+ learned parameters .* need \d+ MB; the tab gives training \d+ MB/.test(count), `too big: ${count}`);
      assert(await page.getByRole('button', { name: 'Start', exact: true }).isDisabled(), 'Start is off for a model too big');
      await setField(page, 'Layers', 2);
      await setField(page, 'Width', 32);
      await setField(page, 'Context', 32);
      await page.getByRole('combobox', { name: 'Task' }).selectOption('text');
      await page.getByRole('textbox', { name: 'Your text' }).fill('   ');
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page.waitForFunction(() => /empty/.test(document.getElementById('train-message').textContent));
      await page.getByRole('combobox', { name: 'Task' }).selectOption('induction');
      await setField(page, 'Learning rate', 1e30);
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page.waitForFunction(() => document.querySelector('section.train').dataset.status === 'failed', null, { timeout: 120000 });
      const msg = await page.textContent('#train-message');
      assert(/training diverged/.test(msg), `a diverging run says so: ${msg}`);
      await shot(page, 'train-390');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert(overflow <= 1, `nothing sticks out sideways at 390 px: ${overflow} px`);
      await waitIdle(page);
      assert(page.errors.length === 0, `page errors: ${page.errors.join('\n')}`);
      await page.context().close();
    },
  },
];
