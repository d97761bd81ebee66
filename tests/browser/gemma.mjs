// Gemma 3 in the page, on the tiny Gemma-3-shaped GGUF (tests/fixtures/tiny-gemma3-gguf:
// six layers, a sliding window of 4 tokens, layer 6 global, the pattern and two more values
// taken from defaults): the attention view's local/global marks and the window's band, the
// residual view's post-norms and the Model panel's pattern, defaults and terms, each held to
// the CLI (`llm-xray trace`, `llm-xray info`); no chat switch; WebGPU (SwiftShader) equals the
// CPU. By hand (LLM_XRAY_MEASURE_GEMMA=1), with the real gemma-3-270m fetched, a second test
// measures (and does not assert) how long it takes to load and run a prompt in the tab.
import fs from 'node:fs';
import path from 'node:path';
import { openPage, waitReady, typePrompt, gotoStage, chips, readCell, valueOf, chooseBackend, exportRun, waitIdle, assert } from './harness.mjs';
import * as C from './cli.mjs';

const PROMPT = 'The cat sat on the mat. The cat';

/** The L2 norm of every row of a [T, d] array. */
const rowNorms = (rows) => rows.map((r) => Math.sqrt(r.reduce((a, x) => a + x * x, 0)));

/** The numbers of the residual view's table, one array per token row. */
async function residualTable(page) {
  return page.$$eval('#residual-table tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td .mono')].map((c) => Number(c.textContent))));
}

export const tests = [
  {
    name: 'Gemma 3 (tiny fixture, window 4): local/global marks, the window band, post-norms and the Model panel equal the CLI; no chat switch; WebGPU equals the CPU',
    async run({ browser, url, bin, root, shot }) {
      const file = 'tests/fixtures/tiny-gemma3-gguf/model.gguf';
      const model = path.join(root, file);
      const page = await openPage(browser, `${url}?model=${encodeURIComponent(file)}`);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      const toks = C.tokenize(bin, model, PROMPT);
      const T = toks.length;
      assert(JSON.stringify((await chips(page)).map((c) => c.id)) === JSON.stringify(toks.map((t) => t.id)), 'Gemma tokens equal the CLI');
      const info = C.cli(bin, ['info', '--model', model]);
      const cfg = info.config;
      const w = cfg.sliding_window;
      assert(T > w + 2, `the prompt (${T} tokens) must be longer than the window (${w})`);
      assert(await page.locator('#chat-toggle').isHidden(), 'a base model without a chat template gets no chat switch');

      // The Overview's map marks every layer local or global.
      await gotoStage(page, 'Overview');
      await page.waitForSelector('.model-map canvas');
      const marks = await page.$$eval('.map-label .scope-badge', (b) => b.map((x) => x.textContent));
      assert(JSON.stringify(marks) === JSON.stringify(cfg.layer_types.map((k) => (k === 'sliding' ? 'local' : 'global'))), `the Overview's layer marks ${marks}, CLI ${cfg.layer_types}`);

      // Attention: layer 1 is local, its map a band; layer 6 global.
      const tr = C.trace(bin, model, PROMPT, 'attentions,attention_output,post_attention_norm,mlp_output,post_mlp_norm');
      await gotoStage(page, 'Layer 1');
      const global = cfg.layer_types.indexOf('global');
      assert(cfg.layer_types[0] === 'sliding' && global > 0, `the fixture's layer types: ${cfg.layer_types}`);
      const scope = page.locator('#attention-scope');
      assert((await scope.getAttribute('data-scope')) === 'local' && (await scope.textContent()).includes(`local (last ${w})`), `layer 1's mark: ${await scope.textContent()}`);
      assert(/band/.test(await scope.textContent()), `a prompt past the window draws the band: ${await scope.textContent()}`);
      assert((await page.textContent('#stage h2')).includes(`layer 1, local (last ${w}), head 1`), 'the header marks layer 1 local');
      const options = await page.getByRole('combobox', { name: 'Layer' }).locator('option').allTextContents();
      cfg.layer_types.forEach((k, l) => assert(options[l] === `${l + 1} · ${k === 'sliding' ? `local (last ${w})` : 'global'}`, `layer menu entry ${l + 1}: "${options[l]}"`));
      const map = page.locator('#attention-heatmap');
      const att = tr.attentions;
      const i = T - 1;
      // Inside the band: equal to the CLI; left of it: masked, and the CLI's weight is 0.
      for (const j of [i, i - w + 1]) {
        const shown = valueOf(await readCell(page, map, i, j));
        assert(Math.abs(shown - att[0][0][i][j]) <= 6e-5, `layer 1 head 1 (${i}→${j}): page ${shown}, CLI ${att[0][0][i][j]}`);
      }
      for (const j of [0, i - w]) {
        const tip = await readCell(page, map, i, j);
        assert(/masked \(outside the window/.test(tip), `layer 1 (${i}→${j}) lies left of the band: "${tip}"`);
        assert(att[0][0][i][j] === 0, `the CLI's layer 1 weight ${i}→${j} outside the window is ${att[0][0][i][j]}`);
      }
      await shot(page, 'gemma-attention-local');
      await page.getByRole('combobox', { name: 'Layer' }).selectOption(String(global));
      await waitIdle(page);
      assert((await page.locator('#attention-scope').getAttribute('data-scope')) === 'global', `layer ${global + 1} is marked global`);
      const far = valueOf(await readCell(page, page.locator('#attention-heatmap'), i, 0));
      assert(att[global][0][i][0] > 0 && Math.abs(far - att[global][0][i][0]) <= 6e-5, `global layer ${global + 1} (${i}→0): page ${far}, CLI ${att[global][0][i][0]}`);
      const thumbs = await page.$$eval('.head-grid .scope-badge', (b) => b.map((x) => x.textContent));
      assert(thumbs.length === cfg.n_layer && thumbs[global] === 'global' && thumbs[0] === `local (last ${w})`, `the head grid marks every layer: ${thumbs}`);
      await shot(page, 'gemma-attention-global');

      // Residual stream: the blocks' outputs and their post-norms, as the CLI's rows give them.
      await gotoStage(page, 'Layer 1');
      await page.getByRole('tab', { name: 'Residual stream' }).click();
      await waitIdle(page);
      assert(await page.locator('#post-norms-note').isVisible(), 'the residual view says what the post-norms do');
      const table = await residualTable(page);
      const want = ['attention_output', 'post_attention_norm', 'mlp_output', 'post_mlp_norm'].map((p) => rowNorms(tr.layers[0][p]));
      table.forEach((row, t) => {
        // [‖in‖, attention output, after its post-norm, MLP output, after its post-norm, ‖out‖]
        want.forEach((col, k) => assert(Math.abs(row[k + 1] - col[t]) <= 0.0051, `residual table token ${t} column ${k + 2}: page ${row[k + 1]}, CLI ${col[t].toFixed(4)}`));
      });
      await shot(page, 'gemma-residual');

      // The Model panel: the pattern (as `llm-xray info` words it), the defaults, the terms.
      const m = info.layer_pattern.match(/^sliding \((\d+) tokens\): (.*); global: (.*)$/);
      assert(m, `llm-xray info's layer pattern: ${info.layer_pattern}`);
      const row = await page.locator('table.kv tr', { hasText: 'layer pattern' }).locator('td').textContent();
      assert(row === `local (last ${m[1]}): ${m[2]}; global: ${m[3]}`, `the Model panel's layer pattern "${row}", CLI "${info.layer_pattern}"`);
      const defaulted = await page.$$eval('#defaulted li', (li) => li.map((x) => x.textContent));
      assert(cfg.defaulted.length > 0 && JSON.stringify(defaulted) === JSON.stringify(cfg.defaulted.map((d) => `${d.name} = ${d.value}`)), `defaults: page ${defaulted}, CLI ${JSON.stringify(cfg.defaulted)}`);
      assert(/Gemma Terms of Use/.test(await page.textContent('#model-terms')), 'the Model panel names the Gemma Terms of Use');

      // WebGPU (SwiftShader): every stored part of the same run equals the CPU's.
      const cpu = await exportRun(page, 'gemma-cpu');
      await chooseBackend(page, 'webgpu');
      assert((await page.textContent('#backend-kind')) === 'WebGPU', await page.textContent('#backend-why'));
      const gpu = await exportRun(page, 'gemma-gpu');
      const c = C.compare(bin, gpu, cpu, '1e-4');
      assert(c.ok, `tiny Gemma on WebGPU vs the CPU:\n${c.out}`);
      await page.context().close();
    },
  },
  {
    name: 'Gemma 3 270M in the tab: load and run times on the CPU and WebGPU (measured, not asserted)',
    // Minutes on two cores: run by hand for README's table, not in `npm test`.
    skip: ({ root }) =>
      !process.env.LLM_XRAY_MEASURE_GEMMA
        ? 'a measurement, run by hand: LLM_XRAY_MEASURE_GEMMA=1 node tests/browser/run.mjs --only "Gemma 3 270M"'
        : fs.existsSync(path.join(root, 'dist/www/models/gemma-3-270m/model.gguf'))
          ? null
          : 'gemma-3-270m is not fetched (npm run models)',
    async run({ browser, url }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      const started = Date.now();
      const picker = page.getByRole('combobox', { name: 'Checkpoint' });
      await picker.selectOption(await picker.locator('option', { hasText: 'Gemma 3' }).getAttribute('value'));
      await waitReady(page, 600000);
      await page.waitForSelector('#chips .chip');
      const loadMs = Date.now() - started;
      const t0 = Date.now();
      await typePrompt(page, 'The capital of France is', 600000);
      const runMs = Date.now() - t0;
      const status = await page.textContent('#prompt-status');
      // One KV-cache step: "Generate next token".
      await gotoStage(page, 'Next token');
      const n = (await chips(page)).length;
      const t2 = Date.now();
      await page.click('#generate');
      await page.waitForFunction((n) => document.querySelectorAll('#chips .chip').length === n + 1 && document.getElementById('stage').getAttribute('aria-busy') === 'false', n, { timeout: 600000 });
      const stepMs = Date.now() - t2;
      const step = await page.textContent('#last-run');
      const memory = await page.textContent('#wasm-memory');
      const t1 = Date.now();
      await chooseBackend(page, 'webgpu', 600000);
      const gpuMs = Date.now() - t1;
      const kind = await page.textContent('#backend-kind');
      const last = await page.textContent('#last-run');
      console.log(`     Gemma 3 270M in the tab: picked → loaded and run ${loadMs} ms; a 6-token prompt on the CPU ${runMs} ms ("${status}"); Generate next token ${stepMs} ms (${step}); tab memory ${memory}; switch to ${kind} and re-run ${gpuMs} ms (last run ${last})`);
      await page.context().close();
    },
  },
];
