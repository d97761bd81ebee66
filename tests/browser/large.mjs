// Larger models in the tab, now that quantized weights stay in their blocks: a GGUF file in
// Qwen2.5-0.5B's shape (random weights, Q4_0 layers and a Q8_0 token embedding, written by
// gguf-py at test time: tests/fixtures/make_shaped_gguf.py) opens from the Hub stand-in on the
// CPU, says how it holds its weights, traces a prompt and predicts what the CLI predicts.
// LLM_XRAY_LARGE=1 adds Qwen2.5-1.5B's shape (a 1 GB file), which must open and trace 16
// tokens, or be refused before its download with the sizes named.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPage, waitReady, typePrompt, gotoStage, chips, readCell, assert } from './harness.mjs';
import * as C from './cli.mjs';

const SHAPES = ['qwen2.5-0.5b', ...(process.env.LLM_XRAY_LARGE === '1' ? ['qwen2.5-1.5b'] : [])];

/** Writes the shaped GGUF into a temporary folder; null (with the reason) where gguf-py is missing. */
function shapedGguf(root, shape) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-xray-shaped-'));
  const file = path.join(dir, 'model.gguf');
  execFileSync('python3', [path.join(root, 'tests/fixtures/make_shaped_gguf.py'), file, shape], { stdio: 'inherit' });
  return { dir, file };
}

export const tests = SHAPES.map((shape) => ({
  name: `a ${shape}-shaped Q4_0 GGUF opens in the tab from the Hub, holds its weights as blocks, and predicts what the CLI predicts`,
  async run({ nogpuBrowser, hubUrl, hub, bin, root, shot }) {
    const { dir, file } = shapedGguf(root, shape);
    try {
      const repo = `test/${shape}-shape`;
      hub.repos[repo] = { 'model.gguf': file };
      const page = await openPage(nogpuBrowser, `${hubUrl}?hf=${repo}&file=model.gguf`);
      await page.waitForFunction(() => document.querySelector('#chips .chip') || !document.getElementById('error').hidden, null, { timeout: 600000 });
      if (!(await page.isHidden('#error'))) {
        // Refused up front: the message must name the sizes.
        const msg = await page.textContent('#error .error-message');
        assert(/needs about [\d.]+ GB/.test(msg) && /held as Q4_0 blocks/.test(msg), msg);
        console.log(`     ${shape}: refused: ${msg}`);
        return;
      }
      await waitReady(page, 600000);
      const storage = await page.textContent('#storage');
      assert(/held in memory as Q4_0 blocks \(Q8_0 token embedding\)/.test(storage), storage);
      // 16 tokens (one per byte: the vocabulary has no merges).
      const prompt = 'Sixteen letters!';
      const started = Date.now();
      await typePrompt(page, prompt, 600000);
      const traced = Date.now() - started;
      const ids = (await chips(page)).map((c) => c.id);
      const want = C.tokenize(bin, file, prompt).map((t) => t.id);
      assert(ids.length === 16 && JSON.stringify(ids) === JSON.stringify(want), `tokens: page ${ids}, CLI ${want}`);
      // The next token and its probability, against the CLI's logits.
      const logits = C.trace(bin, file, prompt, 'logits', ['--positions', 'last']).next_logits;
      // 151,936 logits: too many arguments for Math.max(...).
      const max = logits.reduce((m, v) => (v > m ? v : m), -Infinity);
      const z = logits.reduce((s, v) => s + Math.exp(v - max), 0);
      const top = logits.indexOf(max);
      await gotoStage(page, 'Logits');
      const t = await readCell(page, page.locator('figure.chart canvas').first(), 0);
      const m = t.match(/model (\S+)%, id (\d+)/);
      assert(m && Number(m[2]) === top, `top next token: page "${t}", CLI id ${top}`);
      assert(Math.abs(Number(m[1]) / 100 - 1 / z) < 0.0006, `top next token: page ${m[1]}%, CLI ${1 / z}`);
      const memory = await page.textContent('#wasm-memory');
      console.log(`     ${shape}: ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MB file; tab memory (wasm) ${memory}; 16 tokens traced in ${(await page.textContent('#prompt-status')).replace(/^.*last run: /, '')} (${traced} ms to the view)`);
      await shot(page, `${shape}-shape`);
      await page.context().close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
}));
