// The page's tests. Each gets {browser, nogpuBrowser, url, cli, model, shot} and throws on failure.
import fs from 'node:fs';
import path from 'node:path';
import { openPage, waitReady, typePrompt, gotoStage, assert } from './harness.mjs';
import { tokenLabel } from '../../www/tokens.js';
import * as C from './cli.mjs';

const PROMPT = 'The cat sat on the mat. The cat';
const WEIRD = 'Hi 🙂\n ok';

async function chips(page) {
  return page.$$eval('#chips .chip', (els) => els.map((e) => ({ text: e.querySelector('.chip-text').textContent, id: Number(e.querySelector('.chip-id').textContent) })));
}

async function backendState(page) {
  return page.evaluate(() => ({ ...window.xray.state.backend, shownKind: document.getElementById('backend-kind')?.textContent, shownWhy: document.getElementById('backend-why')?.textContent }));
}

/** Every tensor the page shows, plus the next-token logits, read from the worker. */
async function allTensors(page) {
  return page.evaluate(async () => {
    const x = window.xray;
    const L = x.state.info.config.n_layer;
    const n = x.state.run.tokens.length;
    const get = async (name, layer) => Array.from((await x.request('tensor', { name, layer })).data);
    const out = { next_logits: await get('next_logits', n), token_embeddings: await get('token_embeddings', 0), residual_norms: await get('residual_norms', 0) };
    for (let l = 0; l < L; l++) {
      out[`attentions.${l}`] = await get('attentions', l);
      out[`mlp_activation.${l}`] = await get('mlp_activation', l);
    }
    return out;
  });
}

async function chooseBackend(page, value) {
  await page.selectOption('#backend-choice', value);
  await page.waitForFunction((v) => window.xray.state.backend && window.xray.state.backend.choice === v && !window.xray.state.busy, value, { timeout: 60000 });
  await page.waitForTimeout(200);
}

export const tests = [
  {
    name: 'token chips equal `llm-xray tokenize` (spaces, newlines and split UTF-8 shown as bytes)',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await gotoStage(page, 'Tokens');
      for (const prompt of [PROMPT, WEIRD]) {
        await typePrompt(page, prompt);
        const want = C.tokenize(bin, model, prompt);
        const got = await chips(page);
        assert(got.length === want.length, `${JSON.stringify(prompt)}: page shows ${got.length} chips, CLI ${want.length} tokens`);
        want.forEach((w, i) => {
          assert(got[i].id === w.id, `chip ${i}: id ${got[i].id}, CLI ${w.id}`);
          assert(got[i].text === tokenLabel(w.bytes), `chip ${i}: "${got[i].text}", expected "${tokenLabel(w.bytes)}"`);
          assert(!got[i].text.includes('\uFFFD'), `chip ${i} shows U+FFFD`);
        });
        if (prompt === WEIRD) {
          const all = got.map((c) => c.text).join('');
          assert(all.includes('↵') && all.includes('␣'), `newline/space not made visible: ${all}`);
          assert(/<F0/.test(all) || all.includes('🙂'), `emoji neither shown whole nor as bytes: ${all}`);
        }
      }
      // Typing re-runs by itself (debounced), without Enter.
      const before = await page.evaluate(() => window.xray.state.runsDone);
      await page.getByRole('textbox', { name: 'Prompt' }).press('End');
      await page.keyboard.type(' yes', { delay: 30 });
      await page.waitForFunction((n) => window.xray.state.runsDone > n, before, { timeout: 10000 });
      const typed = await chips(page);
      const wantTyped = C.tokenize(bin, model, WEIRD + ' yes');
      assert(typed.length === wantTyped.length, `after typing: ${typed.length} chips, CLI ${wantTyped.length}`);
      await typePrompt(page, PROMPT);
      await shot(page, 'tokens');
      // Over-long prompt: the page says how many tokens fit.
      const nPositions = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')).n_positions;
      const long = Array.from({ length: nPositions + 16 }, (_, i) => `w${i}`).join(' ');
      await typePrompt(page, long);
      const status = await page.textContent('#prompt-status');
      assert(new RegExp(`at most ${nPositions} tokens`).test(status) && /Too long/.test(status), `over-long prompt status: ${status}`);
      await shot(page, 'prompt-too-long');
      await page.context().close();
    },
  },
  {
    name: 'hovered attention values equal `llm-xray trace --parts attentions`',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      const want = C.attentions(bin, model, PROMPT);
      const toks = C.tokenize(bin, model, PROMPT);
      await gotoStage(page, 'Layer 2');
      await page.getByRole('combobox', { name: 'Head' }).selectOption({ value: '2' });
      assert((await page.evaluate(() => window.xray.state.head)) === 2, 'head picker did not select head 3');
      await page.waitForTimeout(200);
      const canvas = page.locator('#attention-heatmap');
      const L = await canvas.evaluate((c) => c._layout);
      const T = toks.length;
      assert(L.rows === T && L.cols === T, `heatmap is ${L.rows}×${L.cols}, expected ${T}×${T}`);
      const cells = [[T - 1, 1], [T - 1, T - 1], [3, 0], [5, 2]];
      for (const [i, j] of cells) {
        const L = await canvas.evaluate((c) => c._layout);
        await canvas.hover({ position: { x: L.left + (j + 0.5) * L.cw, y: L.top + (i + 0.5) * L.ch } });
        const tip = await page.textContent('#tooltip');
        const m = tip.match(/: (-?\d+\.\d+)$/);
        assert(m, `tooltip "${tip}" has no value`);
        const shown = Number(m[1]);
        const exact = want[1][2][i][j];
        assert(Math.abs(shown - exact) <= 6e-5, `layer 2 head 3 (${i}→${j}): page shows "${tip}", CLI ${exact}`);
        const q = tokenLabel(toks[i].bytes);
        assert(tip.startsWith(q), `tooltip "${tip}" should start with the query token "${q}"`);
      }
      await canvas.hover({ position: { x: L.left + (T - 0.5) * L.cw, y: L.top + 0.5 * L.ch } });
      const masked = await page.textContent('#tooltip');
      assert(/masked/.test(masked), `a future key should read as masked: ${masked}`);
      await canvas.hover({ position: { x: L.left + (2 + 0.5) * L.cw, y: L.top + (T - 1 + 0.5) * L.ch } });
      await shot(page, 'attention');
      // Hovering a token chip highlights that token's row and column in the heatmap.
      await page.locator('#chips .chip').nth(4).hover();
      const hl = await page.evaluate(() => window.xray.state.hover);
      assert(hl === 4, `hovering chip 4 should set the hovered token, got ${hl}`);
      const chipHl = await page.locator('#chips .chip.hover').count();
      assert(chipHl === 1, `one chip should be highlighted, ${chipHl} are`);
      // ↑/↓ switch heads.
      await page.locator('body').click({ position: { x: 5, y: 5 } });
      await page.keyboard.press('ArrowDown');
      const head = await page.evaluate(() => window.xray.state.head);
      assert(head === 3, `ArrowDown should open head 4, state.head = ${head}`);
      for (const [label, name] of [['Embeddings', 'embeddings'], ['Prompt', 'prompt']]) {
        await gotoStage(page, label);
        await page.waitForTimeout(150);
        await shot(page, name);
      }
      await gotoStage(page, 'Layer 1');
      await page.getByRole('tab', { name: 'MLP' }).click();
      await shot(page, 'mlp');
      await page.getByRole('tab', { name: 'Residual stream' }).click();
      await shot(page, 'residual');
      // ←/→ and Step walk the pipeline.
      await gotoStage(page, 'Prompt');
      await page.click('#step');
      assert((await page.evaluate(() => window.xray.state.stage)) === 1, 'Step from Prompt should reach Tokens');
      await gotoStage(page, 'Layer 1');
      await page.getByRole('tab', { name: 'Residual stream' }).click();
      await page.locator('body').click({ position: { x: 5, y: 5 } });
      await page.keyboard.press('ArrowRight');
      const st = await page.evaluate(() => [window.xray.state.stage, window.xray.state.sub]);
      assert(st[0] === 4 && st[1] === 'attention', `→ from layer 1 residual should reach layer 2 attention, got ${st}`);
      await page.context().close();
    },
  },
  {
    name: '"Generate next token" equals `llm-xray generate` (greedy, then sampled with a seed), with history',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      await gotoStage(page, 'Next token');
      const want = C.generate(bin, model, PROMPT, 2).generated_ids;
      for (let k = 0; k < 2; k++) {
        const n = await page.evaluate(() => window.xray.state.run.tokens.length);
        await page.click('#generate');
        await page.waitForFunction((n) => window.xray.state.run.tokens.length === n + 1 && !window.xray.state.busy, n);
      }
      let got = await page.evaluate(() => window.xray.state.run.tokens.slice(window.xray.state.run.prompt_len).map((t) => t.id));
      assert(JSON.stringify(got) === JSON.stringify(want), `greedy: page generated ${got}, CLI ${want}`);
      await gotoStage(page, 'Logits');
      await page.waitForSelector('.bars.logits li');
      await shot(page, 'logits');
      // Sampled: temperature 0.8, seed 7, from the prompt again (history step 0).
      await gotoStage(page, 'Next token');
      await page.locator('.history button').first().click();
      await page.getByRole('slider', { name: 'Temperature' }).fill('0.8');
      await page.getByRole('spinbutton', { name: 'Seed' }).fill('7');
      await page.getByRole('spinbutton', { name: 'Seed' }).dispatchEvent('change');
      const wantS = C.generate(bin, model, PROMPT, 2, ['--temperature', '0.8', '--seed', '7']).generated_ids;
      for (let k = 0; k < 2; k++) {
        const n = await page.evaluate(() => window.xray.state.at);
        await page.click('#generate');
        await page.waitForFunction((n) => window.xray.state.at === n + 1 && !window.xray.state.busy, n);
      }
      got = await page.evaluate(() => window.xray.state.run.tokens.slice(window.xray.state.run.prompt_len).map((t) => t.id));
      assert(JSON.stringify(got) === JSON.stringify(wantS), `sampled (T=0.8, seed 7): page ${got}, CLI ${wantS}`);
      const label = await page.textContent('#generate');
      assert(/seed 7/.test(label), `the seed should be shown: ${label}`);
      await shot(page, 'next-token');
      // The live reshaping: top-k 1 leaves one token.
      await gotoStage(page, 'Logits');
      await page.getByRole('spinbutton', { name: 'Top-k' }).fill('1');
      await page.getByRole('spinbutton', { name: 'Top-k' }).dispatchEvent('change');
      await page.waitForFunction(() => /can pick 1 token /.test(document.querySelector('.bars.logits + p').textContent));
      await page.context().close();
    },
  },
  {
    name: 'Auto on a software-only WebGPU adapter (SwiftShader) uses the CPU and says why',
    async run({ browser, url }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      const b = await backendState(page);
      assert(b.choice === 'auto' && b.kind === 'cpu', `Auto should choose the CPU here, got ${JSON.stringify(b)}`);
      assert(/software|no hardware|no WebGPU/i.test(b.shownWhy || ''), `the page should say why: ${b.shownWhy}`);
      await page.context().close();
    },
  },
  {
    name: 'WebGPU backend (SwiftShader) works, generates like the CLI, and every number equals the CPU backend’s',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      await chooseBackend(page, 'webgpu');
      const b = await backendState(page);
      assert(b.kind === 'webgpu', `WebGPU should run, but: ${b.shownKind}: ${b.why}`);
      assert(b.adapter && typeof b.adapter.is_software === 'boolean', 'the adapter should be reported');
      // Two greedy tokens, each one KV-cache step on the GPU.
      await gotoStage(page, 'Next token');
      for (let k = 0; k < 2; k++) {
        const n = await page.evaluate(() => window.xray.state.run.tokens.length);
        await page.click('#generate');
        await page.waitForFunction((n) => window.xray.state.run.tokens.length === n + 1 && !window.xray.state.busy, n);
      }
      const ids = await page.evaluate(() => window.xray.state.run.tokens.slice(window.xray.state.run.prompt_len).map((t) => t.id));
      const want = C.generate(bin, model, PROMPT, 2).generated_ids;
      assert(JSON.stringify(ids) === JSON.stringify(want), `WebGPU generated ${ids}, CLI ${want}`);
      assert((await backendState(page)).kind === 'webgpu', 'WebGPU should still run after generating');
      const gpu = await allTensors(page);
      await gotoStage(page, 'Layer 1');
      await shot(page, 'webgpu-attention');
      // The same context (prompt run + two steps) on the CPU.
      await chooseBackend(page, 'cpu');
      const cpu = await allTensors(page);
      const scale = Math.max(...cpu.next_logits.map(Math.abs));
      for (const [name, want] of Object.entries(cpu)) {
        const got = gpu[name];
        assert(got.length === want.length, `${name}: GPU has ${got.length} values, CPU ${want.length}`);
        const tol = name.startsWith('attentions') ? 1e-5 : name === 'next_logits' ? 1e-4 * scale : 1e-4 * Math.max(1, ...want.map(Math.abs));
        let worst = 0;
        for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
        assert(worst <= tol, `${name}: GPU differs from CPU by ${worst} (tolerance ${tol})`);
      }
      await page.context().close();
    },
  },
  {
    name: 'without WebGPU the CPU runs the model and the page says why',
    async run({ browser, nogpuBrowser, url }) {
      // The page without navigator.gpu …
      const page = await openPage(browser, url, { init: () => { delete Navigator.prototype.gpu; } });
      await waitReady(page);
      let b = await backendState(page);
      assert(b.kind === 'cpu' && /no WebGPU/.test(b.shownWhy), `no navigator.gpu: ${JSON.stringify(b)}`);
      await chooseBackend(page, 'webgpu');
      b = await backendState(page);
      assert(b.kind === 'cpu' && /no WebGPU/.test(b.shownWhy), `WebGPU chosen without navigator.gpu: ${JSON.stringify(b)}`);
      await page.context().close();
      // … and a browser started without --enable-unsafe-webgpu.
      const p2 = await openPage(nogpuBrowser, url);
      await waitReady(p2);
      b = await backendState(p2);
      assert(b.kind === 'cpu' && b.shownWhy.length > 10, `browser without WebGPU flag: ${JSON.stringify(b)}`);
      await p2.context().close();
    },
  },
  {
    name: 'a corrupt or missing model shows the error panel',
    async run({ browser, url, shot }) {
      for (const [folder, re] of [['test-models/corrupt/', /model\.safetensors/], ['test-models/missing/', /not found/]]) {
        const page = await openPage(browser, `${url}?model=${folder}`);
        await page.waitForSelector('#error:not([hidden])', { timeout: 30000 });
        const msg = await page.textContent('#error-message');
        assert(re.test(msg), `${folder}: error panel says "${msg}"`);
        if (folder.includes('corrupt')) await shot(page, 'error-corrupt-model');
        await page.context().close();
      }
    },
  },
  {
    name: 'a worker that crashes shows the error panel',
    async run({ browser, url, shot }) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.route('**/www/worker.js', (route) =>
        route.fulfill({ contentType: 'text/javascript', body: 'throw new Error("simulated worker crash");' }),
      );
      const page = await context.newPage();
      await page.goto(url);
      await page.waitForSelector('#error:not([hidden])', { timeout: 30000 });
      const title = await page.textContent('#error-title');
      assert(/engine stopped/i.test(title), `crash panel title: ${title}`);
      await shot(page, 'error-worker-crash');
      await context.close();
    },
  },
  {
    name: 'phone width (390×844, devicePixelRatio 3): every stage renders without horizontal overflow, canvases at device resolution',
    async run({ browser, url, shot }) {
      const page = await openPage(browser, url, { viewport: { width: 390, height: 844 }, dpr: 3 });
      await waitReady(page);
      await shot(page, 'phone-tokens');
      for (const [label, name] of [['Layer 1', 'phone-attention'], ['Embeddings', 'phone-embeddings'], ['Logits', 'phone-logits']]) {
        await gotoStage(page, label);
        await page.waitForTimeout(200);
        const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert(over <= 1, `${label}: page is ${over}px wider than the phone screen`);
        const crisp = await page.$$eval('.heatmap canvas:not(.legend)', (cs) => cs.every((c) => Math.abs(c.width - c.getBoundingClientRect().width * 3) <= 1.5));
        assert(crisp, `${label}: a heatmap canvas is not drawn at 3 device pixels per CSS pixel`);
        await shot(page, name);
      }
      await page.context().close();
    },
  },
];
