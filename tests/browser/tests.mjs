// The page's tests, using it as a person does (prompt, buttons, keys, downloads). Each gets
// {browser, nogpuBrowser, url, bin, model, shot, hub, smollm2, root} and throws on failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPage, waitReady, waitIdle, typePrompt, gotoStage, chips, readCell, download, valueOf, chooseBackend, exportRun, assert } from './harness.mjs';
import { tokenLabel } from '../../www/tokens.js';
import * as C from './cli.mjs';

const PROMPT = 'The cat sat on the mat. The cat';
const WEIRD = 'Hi 🙂\n ok';

async function backendState(page) {
  return page.evaluate(() => ({ kind: document.getElementById('backend-kind')?.textContent, why: document.getElementById('backend-why')?.textContent }));
}

/** Clicks "Generate next token" and waits for the context to hold `total` tokens (one
 * more than the history step on screen; later steps are replaced). */
async function generateOnce(page, total) {
  const n = total ?? (await chips(page)).length + 1;
  await page.click('#generate');
  await page.waitForFunction((n) => document.querySelectorAll('#chips .chip').length === n && !document.querySelector('#chips .chip.later') && document.getElementById('stage').getAttribute('aria-busy') === 'false', n, { timeout: 120000 });
}

/** Opens the model panel's "Other models" section (it may be open already). */
async function openMoreModels(page) {
  if (!(await page.locator('details.more-models').evaluate((d) => d.open))) await page.locator('.more-models summary').click();
}

export const tests = [
  {
    name: 'token chips equal `llm-xray tokenize`; typing reuses the cached keys and values and equals a fresh run',
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
      // Typing at the end re-runs by itself (debounced) and computes only the new tokens.
      await typePrompt(page, PROMPT);
      const box = page.getByRole('textbox', { name: 'Prompt', exact: true });
      await box.press('End');
      await box.pressSequentially(' sat', { delay: 20 });
      await page.waitForFunction(() => / sat$/.test(document.getElementById('prompt').value) && /reused from the cache/.test(document.getElementById('prompt-status').textContent), null, { timeout: 15000 });
      await waitIdle(page);
      const status = await page.textContent('#prompt-status');
      assert(/\d+ new tokens? \(\d+ reused from the cache\)/.test(status), `the status should say how many tokens were new: ${status}`);
      // The numbers after incremental typing equal a fresh run's (the CLI's full trace).
      const typed = PROMPT + ' sat';
      const want = C.attentions(bin, model, typed);
      const T = want[0][0].length;
      assert((await chips(page)).length === T, 'chips after typing');
      await gotoStage(page, 'Layer 2');
      const canvas = page.locator('#attention-heatmap');
      for (const [i, j] of [[T - 1, 2], [T - 2, T - 2]]) {
        const shown = valueOf(await readCell(page, canvas, i, j));
        assert(Math.abs(shown - want[1][0][i][j]) <= 6e-5, `after typing, layer 2 head 1 (${i}→${j}): page ${shown}, fresh CLI run ${want[1][0][i][j]}`);
      }
      await shot(page, 'tokens');
      // Over-long prompt: the page says how many tokens fit.
      const nPositions = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')).n_positions;
      await typePrompt(page, Array.from({ length: nPositions + 16 }, (_, i) => `w${i}`).join(' '));
      const too = await page.textContent('#prompt-status');
      assert(new RegExp(`at most ${nPositions} tokens`).test(too) && /Too long/.test(too), `over-long prompt status: ${too}`);
      await shot(page, 'prompt-too-long');
      await page.context().close();
    },
  },
  {
    name: 'attention values read from the map equal `llm-xray trace --parts attentions`; hover, keys and Step walk the page',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      const want = C.attentions(bin, model, PROMPT);
      const toks = C.tokenize(bin, model, PROMPT);
      await gotoStage(page, 'Layer 2');
      await page.getByRole('combobox', { name: 'Head' }).selectOption({ value: '2' });
      await waitIdle(page);
      const canvas = page.locator('#attention-heatmap');
      const T = toks.length;
      assert((await canvas.getAttribute('data-rows')) === String(T), 'the map has a row per token');
      for (const [i, j] of [[T - 1, 1], [T - 1, T - 1], [3, 0], [5, 2]]) {
        const tip = await readCell(page, canvas, i, j);
        const shown = valueOf(tip);
        assert(Math.abs(shown - want[1][2][i][j]) <= 6e-5, `layer 2 head 3 (${i}→${j}): page shows "${tip}", CLI ${want[1][2][i][j]}`);
        assert(tip.startsWith(tokenLabel(toks[i].bytes)), `"${tip}" should start with the query token`);
      }
      assert(/masked/.test(await readCell(page, canvas, 0, T - 1)), 'a future key reads as masked');
      await shot(page, 'attention');
      // Hovering a chip highlights it.
      await page.locator('#chips .chip').nth(4).hover();
      assert((await page.locator('#chips .chip.hover').count()) === 1, 'one chip should be highlighted');
      // ↑/↓ switch heads; ←/→ and Step walk the pipeline.
      await page.locator('h2').first().click();
      await page.keyboard.press('ArrowDown');
      await waitIdle(page);
      assert(/head 4/.test(await page.textContent('#stage h2')), 'ArrowDown should open head 4');
      for (const [label, name] of [['Embeddings', 'embeddings'], ['Prompt', 'prompt'], ['Overview', 'overview']]) {
        await gotoStage(page, label);
        await shot(page, name);
      }
      await gotoStage(page, 'Layer 1');
      await page.getByRole('tab', { name: 'MLP' }).click();
      await waitIdle(page);
      await shot(page, 'mlp');
      await page.getByRole('tab', { name: 'Residual stream' }).click();
      await waitIdle(page);
      await shot(page, 'residual');
      await page.locator('h2').first().click();
      await page.keyboard.press('ArrowRight');
      await waitIdle(page);
      const cur = await page.getAttribute('[aria-current="step"]', 'class');
      assert(/layer/.test(cur) && (await page.textContent('.stage[aria-current="step"]')) === 'Layer 2', '→ from layer 1 residual reaches layer 2');
      assert((await page.getAttribute('[role=tab][aria-selected=true]', 'role')) === 'tab' && /Attention/.test(await page.textContent('[role=tab][aria-selected=true]')), '… its attention');
      await gotoStage(page, 'Prompt');
      await page.click('#step');
      assert((await page.textContent('.stage[aria-current="step"]')) === 'Tokens', 'Step from Prompt reaches Tokens');
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
      const p = (await chips(page)).length;
      for (let k = 0; k < 2; k++) await generateOnce(page);
      let got = (await chips(page)).slice(p).map((c) => c.id);
      assert(JSON.stringify(got) === JSON.stringify(want), `greedy: page generated ${got}, CLI ${want}`);
      await gotoStage(page, 'Logits');
      await shot(page, 'logits');
      // Sampled: temperature 0.8, seed 7, from the prompt again (history step 0).
      await gotoStage(page, 'Next token');
      await page.getByRole('list', { name: 'History' }).getByRole('button').first().click();
      await waitIdle(page);
      await page.getByRole('slider', { name: 'Temperature' }).fill('0.8');
      await page.getByRole('spinbutton', { name: 'Seed' }).fill('7');
      await page.getByRole('spinbutton', { name: 'Seed' }).dispatchEvent('change');
      const label = await page.textContent('#generate');
      assert(/seed 7/.test(label), `the seed should be shown: ${label}`);
      const sampled = C.generate(bin, model, PROMPT, 2, ['--temperature', '0.8', '--seed', '7']).generated_ids;
      for (let k = 0; k < 2; k++) await generateOnce(page, p + k + 1);
      got = (await chips(page)).slice(p).map((c) => c.id);
      assert(JSON.stringify(got) === JSON.stringify(sampled), `sampled: page ${got}, CLI ${sampled}`);
      const history = await page.getByRole('list', { name: 'History' }).getByRole('button').allTextContents();
      assert(history.length === 3 && /^prompt/.test(history[0]), `history: ${history}`);
      await shot(page, 'next-token');
      await page.context().close();
    },
  },
  {
    name: 'Auto on a software-only WebGPU adapter (SwiftShader) uses the CPU and says why',
    async run({ browser, url }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      const b = await backendState(page);
      assert(b.kind === 'CPU', `Auto should choose the CPU here, got ${JSON.stringify(b)}`);
      assert(/software|no hardware|no WebGPU/i.test(b.why || ''), `the page should say why: ${b.why}`);
      await page.context().close();
    },
  },
  {
    name: 'WebGPU (SwiftShader) generates like the CLI, and its whole run equals the CPU backend’s (`llm-xray compare` on the page’s JSON)',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      await chooseBackend(page, 'webgpu');
      const b = await backendState(page);
      assert(b.kind === 'WebGPU', `WebGPU should run, but: ${JSON.stringify(b)}`);
      assert((await page.textContent('#backend-adapter')).length > 3, 'the adapter should be reported');
      await gotoStage(page, 'Next token');
      for (let k = 0; k < 2; k++) await generateOnce(page);
      const p = C.tokenize(bin, model, PROMPT).length;
      const ids = (await chips(page)).slice(p).map((c) => c.id);
      const want = C.generate(bin, model, PROMPT, 2).generated_ids;
      assert(JSON.stringify(ids) === JSON.stringify(want), `WebGPU generated ${ids}, CLI ${want}`);
      const gpu = await exportRun(page, 'gpu');
      await gotoStage(page, 'Layer 1');
      await shot(page, 'webgpu-attention');
      await chooseBackend(page, 'cpu');
      const cpu = await exportRun(page, 'cpu');
      const c = C.compare(bin, gpu, cpu);
      assert(c.ok, `the WebGPU run differs from the CPU run:\n${c.out}`);
      assert(/attentions/.test(c.out) && /mlp_activation/.test(c.out), `the export should hold attention and MLP parts:\n${c.out}`);
      await page.context().close();
    },
  },
  {
    name: 'the page’s run JSON is the CLI’s trace format and equals `llm-xray trace` of the same prompt',
    async run({ browser, url, bin, model }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      const mine = await exportRun(page, 'page');
      const cliFile = path.join(os.tmpdir(), `llm-xray-${process.pid}-cli.json`);
      fs.writeFileSync(cliFile, JSON.stringify(C.trace(bin, model, PROMPT, 'all')));
      const c = C.compare(bin, mine, cliFile);
      assert(c.ok, `page vs CLI:\n${c.out}`);
      await page.context().close();
    },
  },
  {
    name: 'without WebGPU the CPU runs the model and the page says why',
    async run({ browser, nogpuBrowser, url }) {
      const page = await openPage(browser, url, { init: () => { delete Navigator.prototype.gpu; } });
      await waitReady(page);
      let b = await backendState(page);
      assert(b.kind === 'CPU' && /no WebGPU/.test(b.why), `no navigator.gpu: ${JSON.stringify(b)}`);
      await chooseBackend(page, 'webgpu');
      b = await backendState(page);
      assert(b.kind === 'CPU' && /no WebGPU/.test(b.why), `WebGPU chosen without navigator.gpu: ${JSON.stringify(b)}`);
      assert(/WebGPU is not available/.test(await page.textContent('#notice')), 'the notice says so');
      await page.context().close();
      const p2 = await openPage(nogpuBrowser, url);
      await waitReady(p2);
      b = await backendState(p2);
      assert(b.kind === 'CPU' && b.why.length > 10, `browser without WebGPU flag: ${JSON.stringify(b)}`);
      await p2.context().close();
    },
  },
  {
    name: 'a corrupt or missing model shows the error panel',
    async run({ browser, url, shot }) {
      for (const [folder, re] of [['test-models/corrupt/', /model\.safetensors/], ['test-models/missing/', /not found/]]) {
        const page = await openPage(browser, `${url}?model=${folder}`);
        await page.waitForSelector('#error:not([hidden])', { timeout: 30000 });
        const msg = await page.textContent('#error .error-message');
        assert(re.test(msg), `${folder}: error panel says "${msg}"`);
        assert(await page.getByRole('button', { name: 'Load the default model' }).isVisible(), 'the panel offers the default model');
        if (folder.includes('corrupt')) await shot(page, 'error-corrupt-model');
        await page.context().close();
      }
    },
  },
  {
    name: 'a worker that crashes shows the error panel',
    async run({ browser, url, shot }) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.route('**/www/worker.js', (route) => route.fulfill({ contentType: 'text/javascript', body: 'throw new Error("simulated worker crash");' }));
      const page = await context.newPage();
      await page.goto(url);
      await page.waitForSelector('#error:not([hidden])', { timeout: 30000 });
      assert(/engine stopped/i.test(await page.textContent('#error h2')), 'crash panel title');
      await shot(page, 'error-worker-crash');
      await context.close();
    },
  },
  {
    name: 'phone width (390×844, devicePixelRatio 3): every stage renders without horizontal overflow, canvases at device resolution',
    async run({ browser, url, shot }) {
      const page = await openPage(browser, url, { viewport: { width: 390, height: 844 }, dpr: 3 });
      await waitReady(page);
      await shot(page, 'phone-overview');
      for (const [label, name] of [['Layer 1', 'phone-attention'], ['Embeddings', 'phone-embeddings'], ['Logits', 'phone-logits']]) {
        await gotoStage(page, label);
        const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert(over <= 1, `${label}: page is ${over}px wider than the phone screen`);
        const crisp = await page.$$eval('.heatmap canvas:not(.legend)', (cs) => cs.every((c) => Math.abs(c.width - c.getBoundingClientRect().width * 3) <= 1.5));
        assert(crisp, `${label}: a heatmap canvas is not drawn at 3 device pixels per CSS pixel`);
        await shot(page, name);
      }
      await page.context().close();
    },
  },
  {
    name: 'first screen: the whole model at a glance above the fold; the URL carries the view; Back walks the stages; figures download as PNG and CSV',
    async run({ browser, url, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      // A drawn picture of real activations inside the viewport, with no click.
      await page.waitForSelector('.model-map canvas');
      const inView = await page.$$eval('.model-map canvas', (cs) => cs.filter((c) => c.getBoundingClientRect().bottom <= window.innerHeight && c.width > 0).length);
      assert(inView >= 5, `only ${inView} overview thumbnails are above the fold`);
      await shot(page, 'first-screen');
      // Type a prompt, open Layer 2, reopen the URL in a new tab.
      await typePrompt(page, 'To be, or not to be');
      await gotoStage(page, 'Layer 2');
      const link = page.url();
      const other = await openPage(browser, link);
      await waitReady(other);
      assert((await other.inputValue('#prompt')) === 'To be, or not to be', 'the prompt comes back');
      assert((await other.textContent('.stage[aria-current="step"]')) === 'Layer 2', 'the stage comes back');
      await other.context().close();
      // Back and forward walk the stages.
      await gotoStage(page, 'Logits');
      await page.goBack();
      await waitIdle(page);
      assert((await page.textContent('.stage[aria-current="step"]')) === 'Layer 2', 'Back returns to Layer 2');
      await page.goForward();
      await waitIdle(page);
      assert((await page.textContent('.stage[aria-current="step"]')) === 'Logits', 'Forward returns to Logits');
      // Downloads from the Layer 2 view: the attention map as PNG (with its title, axes and
      // legend) and as CSV.
      await gotoStage(page, 'Layer 2');
      const png = await download(page, page.getByRole('button', { name: 'Download PNG' }).first());
      assert(/\.png$/.test(png.name) && png.bytes.subarray(1, 4).toString() === 'PNG', `a PNG download: ${png.name}`);
      const csv = await download(page, page.getByRole('button', { name: 'Download CSV' }).first());
      const lines = csv.bytes.toString().trim().split('\n');
      assert(/\.csv$/.test(csv.name) && lines.length === (await chips(page)).length + 1, `a CSV with a header and a row per token: ${csv.name}, ${lines.length} lines`);
      await page.context().close();
    },
  },
  {
    name: 'accessibility: axe-core finds no serious or critical WCAG 2 A/AA violation on any stage; keyboard focus is visible; the palette persists',
    async run({ browser, url, root, shot }) {
      const axe = fs.readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
      // axe is injected as a script, which the page's Content-Security-Policy would refuse.
      const page = await openPage(browser, url, { context: { bypassCSP: true } });
      await waitReady(page);
      await page.addScriptTag({ content: axe });
      const stages = ['Overview', 'Prompt', 'Tokens', 'Embeddings', 'Layer 1', 'Logits', 'Next token', 'Logit lens', 'Attribution', 'Embedding space', 'Train'];
      for (const s of stages) {
        await gotoStage(page, s);
        const res = await page.evaluate(async () => {
          const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
          return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
        });
        assert(res.length === 0, `${s}: ${res.join('\n')}`);
      }
      // Tab reaches the pipeline and the heatmap, and the focused element is outlined.
      await gotoStage(page, 'Layer 1');
      const canvas = page.locator('#attention-heatmap');
      await canvas.focus();
      const outline = await canvas.evaluate((c) => getComputedStyle(c).outlineStyle);
      assert(outline !== 'none', 'a focused heatmap shows a focus outline');
      await page.getByRole('combobox', { name: 'Colour palette' }).selectOption('viridis');
      await waitIdle(page);
      await shot(page, 'palette-viridis');
      await page.reload();
      await waitReady(page);
      assert((await page.inputValue('#palette')) === 'viridis', 'the palette persists');
      await page.context().close();
    },
  },
  {
    name: 'head ablation in the page equals `llm-xray trace --ablate`, also when its URL is reopened, and the next-token view shows before and after',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, PROMPT);
      await gotoStage(page, 'Layer 1');
      await page.getByRole('checkbox', { name: /Ablate heads/ }).check();
      await page.getByRole('button', { name: 'ablate layer 3 head 4' }).click();
      await waitIdle(page);
      await page.waitForSelector('.thumb.ablated');
      assert(/layer 3 head 4/.test(await page.textContent('#notice')), 'the notice names the ablated head');
      await gotoStage(page, 'Next token');
      await page.waitForSelector('#ablation-delta');
      const delta = await page.textContent('#ablation-delta');
      assert(/change in its log-probability [-+]\d/.test(delta), delta);
      await page.locator('#ablation-delta').scrollIntoViewIfNeeded();
      await shot(page, 'ablation');
      // The page's numbers with the head ablated equal the CLI's.
      const mine = await exportRun(page, 'ablated');
      const cliFile = path.join(os.tmpdir(), `llm-xray-${process.pid}-ablated-cli.json`);
      fs.writeFileSync(cliFile, JSON.stringify(C.trace(bin, model, PROMPT, 'all', ['--ablate', '3.4'])));
      const c = C.compare(bin, mine, cliFile);
      assert(c.ok, `ablated page vs CLI --ablate 3.4:\n${c.out}`);
      // The URL carries the ablation, and opening it ablates the very first run.
      assert(/ablate=3\.4/.test(page.url()), page.url());
      const again = await openPage(browser, page.url());
      await waitReady(again);
      await again.waitForSelector('#ablation-delta');
      const reopened = await exportRun(again, 'ablated-reopened');
      const r = C.compare(bin, reopened, cliFile);
      assert(r.ok, `the reopened URL's first run vs CLI --ablate 3.4:\n${r.out}`);
      await again.context().close();
      await page.context().close();
    },
  },
  {
    name: 'compare two prompts: the second runs on the same model, side by side and as a difference',
    async run({ browser, url, bin, model, shot }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      await typePrompt(page, 'The doctor said that he');
      await page.locator('#compare summary').click();
      // Typing marks the stage busy at once; its run starts after a pause in typing.
      await page.fill('#compare-prompt', 'The doctor said that she');
      await waitIdle(page);
      await gotoStage(page, 'Layer 1');
      await page.waitForSelector('.compare-view .heatmap canvas', { timeout: 30000 });
      const maps = await page.locator('.compare-view .heatmap').count();
      assert(maps === 2, `the same head on the second prompt and the difference: ${maps} maps`);
      const want = C.attentions(bin, model, 'The doctor said that she');
      const T = want[0][0].length;
      const shown = valueOf(await readCell(page, page.locator('.compare-view .heatmap canvas.map').first(), T - 1, 1));
      assert(Math.abs(shown - want[0][0][T - 1][1]) <= 6e-5, `second prompt, layer 1 head 1: page ${shown}, CLI ${want[0][0][T - 1][1]}`);
      await shot(page, 'compare-attention');
      await gotoStage(page, 'Next token');
      await page.waitForSelector('.compare-view figure.chart');
      await shot(page, 'compare-next-token');
      await page.context().close();
    },
  },
  {
    name: 'a Hugging Face repository loads from the Hub (302 to a CDN, CORS), is cached, listed and deleted; a model too big for the tab is refused before its download',
    async run({ browser, hubUrl, hub, bin, root, shot }) {
      const page = await openPage(browser, `${hubUrl}?hf=test/tiny-llama&prompt=Hello%20there`);
      await waitReady(page);
      const want = C.tokenize(bin, path.join(root, 'tests/fixtures/tiny-llama'), 'Hello there');
      assert(JSON.stringify((await chips(page)).map((c) => c.id)) === JSON.stringify(want.map((t) => t.id)), 'Hub model tokens equal the CLI');
      assert(hub.seen.some((s) => /GET \/test\/tiny-llama\/resolve\/main\/model\.safetensors/.test(s)) && hub.seen.some((s) => /GET \/cdn\/test\/tiny-llama\/model\.safetensors/.test(s)), `followed the redirect: ${hub.seen.join(', ')}`);
      await openMoreModels(page);
      await page.waitForSelector('.cached li');
      assert(/test\/tiny-llama/.test(await page.textContent('.cached')), 'the cache lists the model');
      await shot(page, 'hub-cached');
      // A second visit loads from the browser's cache: no download of the weights.
      const before = hub.seen.filter((s) => /GET \/cdn\/test\/tiny-llama\/model\.safetensors/.test(s)).length;
      await page.reload();
      await waitReady(page);
      const after = hub.seen.filter((s) => /GET \/cdn\/test\/tiny-llama\/model\.safetensors/.test(s)).length;
      assert(after === before, `the weights were downloaded again (${before} → ${after})`);
      // Typed into the model panel: a GGUF file of another repository.
      await openMoreModels(page);
      await page.getByRole('textbox', { name: 'Hugging Face model' }).fill('test/tiny-gguf');
      await page.getByRole('textbox', { name: 'GGUF file in the repository' }).fill('model.gguf');
      await page.getByRole('button', { name: 'Load from the Hub' }).click();
      await waitReady(page);
      assert(/hf=test%2Ftiny-gguf|hf=test\/tiny-gguf/.test(page.url()) && /file=model\.gguf/.test(page.url()), page.url());
      // Delete the first one from the cache.
      await openMoreModels(page);
      await page.getByRole('button', { name: 'Delete test/tiny-llama from the cache' }).click();
      await page.waitForFunction(() => !/test\/tiny-llama/.test(document.querySelector('.more-models').textContent));
      await page.context().close();
      // Too big: refused with sizes named, and its weights never fetched.
      const big = await openPage(browser, `${hubUrl}?hf=test/huge-llama`);
      await big.waitForSelector('#error:not([hidden])', { timeout: 30000 });
      const msg = await big.textContent('#error .error-message');
      assert(/needs about [\d.]+ GB/.test(msg) && /at most 4\.00 GB/.test(msg), msg);
      assert(!hub.seen.some((s) => /GET \/cdn\/test\/huge-llama\/model\.safetensors/.test(s)), 'the weights of a refused model were requested');
      await shot(big, 'hub-too-big');
      await big.context().close();
    },
  },
  {
    name: 'a local GGUF file opens through the file chooser (read in the tab, never uploaded) and equals the CLI; a corrupt one is refused by name and the page goes back to the model that worked',
    async run({ browser, url, bin, root }) {
      const page = await openPage(browser, url);
      await waitReady(page);
      const file = path.join(root, 'tests/fixtures/tiny-llama-gguf/model.gguf');
      const uploads = [];
      page.on('request', (r) => r.method() !== 'GET' && uploads.push(`${r.method()} ${r.url()}`));
      await openMoreModels(page);
      await page.setInputFiles('#model-files', file);
      await page.waitForFunction(() => /Local files/.test(document.getElementById('model-picker').selectedOptions[0].textContent));
      await waitReady(page);
      await typePrompt(page, 'To the café');
      const want = C.tokenize(bin, file, 'To the café');
      assert(JSON.stringify((await chips(page)).map((c) => c.id)) === JSON.stringify(want.map((t) => t.id)), 'local GGUF tokens equal the CLI');
      assert(/Q4_0|Q4_1|Q8_0/.test(await page.textContent('#storage')), 'the panel says how the weights are stored');
      assert(uploads.length === 0, `nothing is uploaded: ${uploads}`);
      // A corrupt file: the error names it; the prompt is kept and one click goes back.
      await openMoreModels(page);
      await page.setInputFiles('#model-files', { name: 'broken.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('GGUF\x03\x00\x00\x00not really a model') });
      await page.waitForSelector('#error:not([hidden])', { timeout: 30000 });
      assert(/broken\.gguf/.test(await page.textContent('#error .error-message')), `the error names the file: ${await page.textContent('#error .error-message')}`);
      await page.getByRole('button', { name: /^Back to model\.gguf/ }).click();
      await waitReady(page);
      assert((await page.inputValue('#prompt')) === 'To the café', 'the prompt survived the failed load');
      assert(JSON.stringify((await chips(page)).map((c) => c.id)) === JSON.stringify(want.map((t) => t.id)), 'back on the GGUF, the same tokens');
      await page.context().close();
    },
  },
];
