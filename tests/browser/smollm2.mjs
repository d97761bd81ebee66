// The real LLM in the page: SmolLM2-135M-Instruct (fetched by `npm run models`) equals the
// CLI on the CPU backend and on WebGPU (SwiftShader); its chat format; load and step times.
// Skipped, saying so, when the model could not be fetched.
import { openPage, waitReady, waitIdle, typePrompt, gotoStage, chips, readCell, valueOf, chooseBackend, exportRun, assert } from './harness.mjs';
import * as C from './cli.mjs';

export const tests = [
  {
    name: 'SmolLM2 in the page equals the CLI (tokens, top-5 next tokens, an attention map) on the CPU and on WebGPU; it predicts " Paris"; chat format',
    needs: 'smollm2',
    async run({ browser, url, bin, smollm2, shot }) {
      const prompt = 'The capital of France is';
      const page = await openPage(browser, url);
      await waitReady(page);
      const started = Date.now();
      const picker = page.getByRole('combobox', { name: 'Checkpoint' });
      const option = await picker.locator('option', { hasText: 'SmolLM2' }).getAttribute('value');
      await picker.selectOption(option);
      await waitReady(page, 120000);
      await page.waitForSelector('#chips .chip');
      const loadMs = Date.now() - started;
      await gotoStage(page, 'Overview');
      await page.waitForSelector('.model-map canvas');
      const firstHeatmapMs = Date.now() - started;
      await typePrompt(page, prompt);
      const want = C.tokenize(bin, smollm2, prompt);
      assert(JSON.stringify((await chips(page)).map((c) => c.id)) === JSON.stringify(want.map((t) => t.id)), 'SmolLM2 tokens equal the CLI');
      // Top-5 next tokens: the lens's last layer is the model's own distribution.
      const lens = C.cli(bin, ['lens', '--model', smollm2, '--prompt', prompt, '--top', '5', '--json']);
      const top = lens.layers[lens.layers.length - 1].top[want.length - 1];
      await gotoStage(page, 'Logits');
      const canvas = page.locator('figure.chart canvas').first();
      for (let k = 0; k < 5; k++) {
        const t = await readCell(page, canvas, k);
        const m = t.match(/model (\S+)%, id (\d+)/);
        assert(m && Number(m[2]) === top[k].id, `next token ${k}: page "${t}", CLI id ${top[k].id}`);
        assert(Math.abs(Number(m[1]) / 100 - top[k].p) < 0.0006, `next token ${k}: page ${m[1]}%, CLI ${top[k].p}`);
      }
      await shot(page, 'smollm2-logits');
      const att = C.attentions(bin, smollm2, prompt);
      await gotoStage(page, 'Layer 1');
      const map = page.locator('#attention-heatmap');
      for (const [i, j] of [[4, 0], [4, 3], [2, 1]]) {
        const shown = valueOf(await readCell(page, map, i, j));
        assert(Math.abs(shown - att[0][0][i][j]) <= 6e-5, `layer 1 head 1 (${i}→${j}): page ${shown}, CLI ${att[0][0][i][j]}`);
      }
      await shot(page, 'smollm2-attention');
      await gotoStage(page, 'Next token');
      const t0 = Date.now();
      const n = (await chips(page)).length;
      await page.click('#generate');
      await page.waitForFunction((n) => document.querySelectorAll('#chips .chip').length === n + 1 && document.getElementById('stage').getAttribute('aria-busy') === 'false', n, { timeout: 60000 });
      const stepMs = Date.now() - t0;
      const history = await page.getByRole('list', { name: 'History' }).textContent();
      assert(history.includes(' Paris'), `the history should show " Paris": ${history}`);
      await shot(page, 'smollm2-next-token');
      const status = await page.textContent('#prompt-status');
      console.log(`     SmolLM2 in the page (CPU): picked → loaded and run ${loadMs} ms, first heatmap ${firstHeatmapMs} ms; status "${status}"; Generate next token ${stepMs} ms`);
      const cpu = await exportRun(page, 'smollm2-cpu');
      // WebGPU (SwiftShader): the same context, every stored part equal to the CPU's.
      await chooseBackend(page, 'webgpu', 300000);
      assert((await page.textContent('#backend-kind')) === 'WebGPU', await page.textContent('#backend-why'));
      const gpu = await exportRun(page, 'smollm2-gpu');
      const c = C.compare(bin, gpu, cpu, '1e-3');
      assert(c.ok, `SmolLM2 on WebGPU vs the CPU:\n${c.out}`);
      await chooseBackend(page, 'cpu');
      // Chat format: the prompt wrapped as a user turn; the special tokens are chips.
      await page.getByRole('checkbox', { name: /Chat format/ }).check();
      await waitIdle(page);
      await page.waitForFunction(() => [...document.querySelectorAll('#chips .chip-text')].some((c) => c.textContent === '<|im_start|>'));
      await shot(page, 'smollm2-chat');
      await page.context().close();
    },
  },
];
