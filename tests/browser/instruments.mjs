// The instruments' views (logit lens, direct logit attribution, embedding space) against the
// CLI and the model file. Each test gets {browser, url, bin, model, shot} and throws on
// failure. Values are read the way a keyboard user reads them: focus a figure, press the
// arrow keys, and take the text its live region announces.
import fs from 'node:fs';
import path from 'node:path';
import { openPage, assert } from './harness.mjs';
import { cli } from './cli.mjs';
import { tokenLabel } from '../../www/tokens.js';

const PROMPT = 'The cat sat on the mat. The cat';
const enc = new TextEncoder();

const PHONE = { width: 390, height: 844 };

/** Opens the page at `url?query` and waits for the token chips. */
async function open(browser, url, query, viewport) {
  const page = await openPage(browser, `${url}?${query}`, viewport ? { viewport } : {});
  await page.waitForSelector('#chips .chip', { timeout: 60000 });
  return page;
}

/** A view at phone width: it shows `selector` with nothing sticking out (after `check`, if
 * given, runs on the page), and a screenshot `{name}-390`. */
async function atPhone({ browser, url, shot }, { stage, selector, what, name, check }) {
  const small = await open(browser, url, `prompt=${encodeURIComponent(PROMPT)}&stage=${stage}`, PHONE);
  await settled(small, selector);
  await fitsWidth(small, `${what} at ${PHONE.width} px`);
  if (check) await check(small);
  await small.locator(selector).scrollIntoViewIfNeeded();
  await shot(small, `${name}-${PHONE.width}`);
  await small.context().close();
}

/** Waits until the stage shows no "Computing …" note and no error. */
async function settled(page, selector, timeout = 60000) {
  try {
    await page.waitForFunction(
      (sel) => document.querySelector('#stage [role=alert]') || (document.querySelector(sel) && !document.querySelector('#stage .loading-note')),
      selector,
      { timeout },
    );
  } catch (e) {
    const waiting = await page.$$eval('#stage .loading-note', (n) => n.map((x) => x.textContent)).catch(() => []);
    throw new Error(`${selector} not shown after ${timeout / 1000} s${waiting.length ? `; still showing: ${waiting.join(' | ')}` : ''}`, { cause: e });
  }
  const alert = await page.$('#stage [role=alert]');
  if (alert) throw new Error(`the view shows an error: ${await alert.textContent()}`);
}

/** The text a figure's live region announces after pressing `key` on its focused canvas. */
async function press(page, canvasSelector, key) {
  await page.focus(canvasSelector);
  await page.keyboard.press(key);
  return page.$eval(canvasSelector, (c) => c.closest('figure').querySelector('.sr-only[aria-live]').textContent);
}

/** No horizontal scrolling of the whole page (nothing sticks out at this width). */
async function fitsWidth(page, what) {
  const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert(sw <= w + 1, `${what}: the page is ${sw} px wide in a ${w} px window`);
}

const close = (a, b, tol, what) => assert(Math.abs(a - b) <= tol, `${what}: page ${a}, expected ${b} (tolerance ${tol})`);

/** Rows of the token-embedding table from model.safetensors (F32, F16 or BF16). */
function embeddingRows(modelDir) {
  const buf = fs.readFileSync(path.join(modelDir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const name = Object.keys(header).find((k) => /(^|\.)wte\.weight$/.test(k) || k === 'model.embed_tokens.weight');
  const { dtype, shape, data_offsets: [a] } = header[name];
  const base = 8 + n + a;
  const [V, d] = shape;
  const half = (h) => {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    return e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  };
  const get =
    dtype === 'F32'
      ? (i) => buf.readFloatLE(base + 4 * i)
      : dtype === 'F16'
        ? (i) => half(buf.readUInt16LE(base + 2 * i))
        : (i) => {
            const b = Buffer.alloc(4);
            b.writeUInt16LE(buf.readUInt16LE(base + 2 * i), 2);
            return b.readFloatLE(0);
          };
  return { V, d, row: (id) => Float64Array.from({ length: d }, (_, j) => get(id * d + j)) };
}

function cosine(x, y) {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let j = 0; j < x.length; j++) (xy += x[j] * y[j]), (xx += x[j] * x[j]), (yy += y[j] * y[j]);
  return xy / Math.sqrt(xx * yy);
}

/** Reads every cell of the lens grid by keyboard, paging through its windows of positions,
 * and compares each with the CLI's lens (`want`). */
async function readLensGrid(page, want) {
  const T = want.tokens.length;
  const rows = want.layers.length;
  const grid = '#lens-grid';
  const cells = new Set();
  // The grid shows a window of positions (the last ones first): go to the first window, then
  // page through them with "later positions".
  const earlier = page.getByRole('button', { name: '◂ earlier positions' });
  while ((await earlier.count()) && (await earlier.isEnabled())) {
    const aria = await page.$eval(grid, (c) => c.getAttribute('aria-label'));
    await earlier.click();
    await page.waitForFunction((a) => document.querySelector('#lens-grid').getAttribute('aria-label') !== a, aria);
  }
  const seen = new Set();
  for (let guard = 0; guard < 64; guard++) {
    const aria = await page.$eval(grid, (c) => c.getAttribute('aria-label'));
    const m = /positions (\d+) to (\d+)/.exec(aria);
    assert(m, `grid label without its positions: ${aria}`);
    const [p0, p1] = [Number(m[1]), Number(m[2])];
    assert((await page.$eval(grid, (c) => Number(c.dataset.rows))) === rows, `grid rows: expected ${rows} (embeddings and ${rows - 1} layers)`);
    let text = await press(page, grid, 'ArrowDown'); // the first key shows the cursor at the top-left cell
    for (let i = 0; i < rows; i++) {
      if (i > 0) {
        await press(page, grid, 'Home');
        text = await press(page, grid, 'ArrowDown');
      }
      for (let p = p0; p <= p1; p++) {
        if (p > p0) text = await press(page, grid, 'ArrowRight');
        const lines = text.split('\n');
        assert(new RegExp(`position ${p} `).test(lines[0]), `cell (${i}, ${p}) announced as: ${lines[0]}`);
        const top = want.layers[i].top[p];
        for (let k = 0; k < 3; k++) {
          const mm = /^(\d+)\. (.*) {2}p ([\d.]+) {2}\(id (\d+)\)$/.exec(lines[1 + k] || '');
          assert(mm, `cell (${i}, ${p}) line ${k + 1}: ${lines[1 + k]}`);
          assert(Number(mm[4]) === top[k].id, `layer row ${i}, position ${p}, rank ${k + 1}: page id ${mm[4]}, CLI ${top[k].id} (${JSON.stringify(top[k].text)})`);
          // The CLI's text is lossy for a piece of a UTF-8 character (U+FFFD); the page shows its bytes.
          if (top[k].text.includes('\uFFFD')) assert(/^<[0-9A-F]{2}/.test(mm[2]) || mm[2].includes('<'), `layer row ${i}, position ${p}: a partial character shown as ${mm[2]}`);
          else assert(mm[2] === tokenLabel(enc.encode(top[k].text)), `layer row ${i}, position ${p}: label ${mm[2]}, expected ${tokenLabel(enc.encode(top[k].text))}`);
          close(Number(mm[3]), top[k].p, 2e-3, `layer row ${i}, position ${p}, rank ${k + 1} probability`);
        }
        cells.add(`${i},${p}`);
        seen.add(p);
      }
    }
    if (p1 >= T - 1) break;
    await page.getByRole('button', { name: 'later positions ▸' }).click();
    await page.waitForFunction((a) => document.querySelector('#lens-grid') && document.querySelector('#lens-grid').getAttribute('aria-label') !== a, aria);
  }
  assert(seen.size === T, `the grid showed ${seen.size} of ${T} positions`);
  assert(cells.size === rows * T, `read ${cells.size} cells, expected ${rows * T}`);
}

export const tests = [
  {
    name: 'logit lens: every grid cell equals `llm-xray lens --top 5`; the target chart equals `lens --target`',
    async run({ browser, url, bin, model, shot }) {
      const want = cli(bin, ['lens', '--model', model, '--prompt', PROMPT, '--top', '5', '--json']);
      const page = await open(browser, url, `prompt=${encodeURIComponent(PROMPT)}&stage=lens`);
      await settled(page, '#lens-grid');
      const T = want.tokens.length;
      const rows = want.layers.length;
      await readLensGrid(page, want);

      // The target (by default the model's top token at the last position) per layer.
      const target = want.layers[rows - 1].top[T - 1][0];
      const tw = cli(bin, ['lens', '--model', model, '--prompt', PROMPT, '--top', '1', '--target', String(target.id), '--json']);
      const chart = '#stage figure.chart canvas[aria-roledescription=chart]';
      for (let i = 0; i < rows; i++) {
        const text = await press(page, chart, 'ArrowRight');
        const m = /p\(.*\) = ([\d.]+), rank (\d+) of/.exec(text);
        assert(m, `target chart point ${i}: ${text}`);
        const [p, rank] = tw.layers[i].target[T - 1];
        close(Number(m[1]), p, 2e-3, `target probability after stage ${i}`);
        assert(Number(m[2]) === rank || Math.abs(p) < 1e-6, `target rank after stage ${i}: page ${m[2]}, CLI ${rank}`);
      }
      // Following another token: pick the second-ranked final token.
      const second = want.layers[rows - 1].top[T - 1][1];
      await page.selectOption('.target-picker select', String(second.id));
      await page.waitForFunction((l) => [...document.querySelectorAll('#stage h3')].some((h) => h.textContent.startsWith(l + ':')), tokenLabel(enc.encode(second.text)));
      await settled(page, '#lens-grid');
      await shot(page, 'lens');
      assert(page.errors.length === 0, `page errors: ${page.errors.join('; ')}`);
      await page.context().close();

      // A narrow grid: several windows of positions.
      await atPhone({ browser, url, shot }, { stage: 'lens', selector: '#lens-grid', what: 'logit lens', name: 'lens', check: (small) => readLensGrid(small, want) });
    },
  },
  {
    name: 'attribution: the components sum to the logit, and the largest equals `llm-xray attribute`',
    async run({ browser, url, bin, model, shot }) {
      const want = cli(bin, ['attribute', '--model', model, '--prompt', PROMPT, '--json']);
      const page = await open(browser, url, `prompt=${encodeURIComponent(PROMPT)}&stage=attribution`);
      await settled(page, '.attr-summary');
      const dd = await page.$$eval('.attr-summary dd', (d) => d.map((x) => x.textContent));
      const dt = await page.$$eval('.attr-summary dt', (d) => d.map((x) => x.textContent));
      const id = Number(/\(id (\d+)\)/.exec(dt[0])[1]);
      assert(id === want.token, `target token: page ${id}, CLI ${want.token} (the model's top token at the last position)`);
      const logit = parseFloat(dd[0]);
      const sum = parseFloat(dd[1]);
      close(logit, want.logit, 1e-3, 'logit');
      close(sum, logit, 1e-3, 'sum of the components vs the logit');
      close(want.components.reduce((s, c) => s + c.value, 0), want.logit, 1e-3, 'CLI: sum of the components vs the logit');
      close(parseFloat(dd[2]), want.norm_scale, 1e-3, 'final norm scale');
      const largest = await page.$$eval('ol[aria-label="Largest components"] li', (li) => li.map((x) => x.textContent));
      const top = [...want.components].sort((a, b) => Math.abs(b.value) - Math.abs(a.value))[0];
      const m = /^(.*) ([+−])([\d.]+)$/.exec(largest[0]);
      assert(m && m[1] === top.name, `largest component: page "${largest[0]}", CLI ${top.name} ${top.value}`);
      close((m[2] === '−' ? -1 : 1) * Number(m[3]), top.value, 1e-3, `value of ${top.name}`);
      // The bars: embeddings, then each layer's attention (its heads and bias) and MLP.
      const bars = '#stage figure.chart canvas';
      const first = await press(page, bars, 'ArrowDown');
      const emb = want.components.find((c) => c.name === 'embeddings').value;
      assert(/^embeddings: /.test(first), `first bar: ${first}`);
      const barValue = (t) => Number(/: contribution to the logit ([+−][\d.]+)/.exec(t)[1].replace('−', '-'));
      close(barValue(first), emb, 1e-3, 'embeddings bar');
      const attn1 = await press(page, bars, 'ArrowDown');
      const want1 = want.components.filter((c) => c.layer === 1 && !/MLP/.test(c.name)).reduce((s, c) => s + c.value, 0);
      assert(/^L1 attention: /.test(attn1), `second bar: ${attn1}`);
      close(barValue(attn1), want1, 1e-3, `layer 1 attention bar (${attn1})`);
      // The head map: the cursor starts on layer 1 head 1; Enter opens that head's attention.
      const cell = await press(page, '#attribution-heads', 'ArrowDown');
      const h11 = want.components.find((c) => c.layer === 1 && c.head === 1).value;
      assert(/^layer 1, head 1: /.test(cell), `head map cell: ${cell}`);
      close(parseFloat(cell.split(': ')[1].replace('−', '-')), h11, 1e-3, 'layer 1 head 1');
      await shot(page, 'attribution');
      await page.focus('#attribution-heads');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => /stage=layer/.test(location.search) && /head=1/.test(location.search), null, { timeout: 10000 });
      assert(page.errors.length === 0, `page errors: ${page.errors.join('; ')}`);
      await page.context().close();

      await atPhone({ browser, url, shot }, { stage: 'attribution', selector: '.attr-summary', what: 'attribution', name: 'attribution' });
    },
  },
  {
    name: 'embedding space: the 10 nearest tokens, sorted, without the token itself, with the cosines of model.safetensors',
    async run({ browser, url, model, shot }) {
      const page = await open(browser, url, `prompt=${encodeURIComponent(PROMPT)}&stage=neighbours`);
      await settled(page, '#neighbours-chart');
      const chosen = Number(await page.textContent('.chosen-token .chip-id'));
      const aria = await page.$eval('#neighbours-chart', (c) => c.getAttribute('aria-label'));
      assert(/: 10 bars;/.test(aria), `neighbour chart: ${aria}`);
      const got = [];
      for (let k = 0; k < 10; k++) {
        const text = await press(page, '#neighbours-chart', 'ArrowDown');
        const m = /: cosine (-?[\d.]+) · id (\d+)$/.exec(text);
        assert(m, `neighbour ${k}: ${text}`);
        got.push({ cosine: Number(m[1]), id: Number(m[2]) });
      }
      assert(new Set(got.map((g) => g.id)).size === 10, `neighbour ids repeat: ${got.map((g) => g.id)}`);
      assert(!got.some((g) => g.id === chosen), `the token itself (${chosen}) is among its neighbours`);
      got.forEach((g, k) => k && assert(g.cosine <= got[k - 1].cosine, `not sorted by cosine: ${got.map((x) => x.cosine)}`));
      // The same cosines, and no nearer token, from the embedding table itself.
      const E = embeddingRows(model);
      const x = E.row(chosen);
      const all = Array.from({ length: E.V }, (_, i) => (i === chosen ? -2 : cosine(x, E.row(i))));
      for (const g of got) close(g.cosine, all[g.id], 1e-3, `cosine of ${chosen} and ${g.id}`);
      const tenth = got[9].cosine;
      const nearer = all.filter((c) => c > tenth + 1e-3).length;
      assert(nearer <= 9, `${nearer} tokens are nearer than the 10th neighbour (cosine ${tenth})`);
      // The map: keyboard reading of its points.
      const point = await press(page, '#embedding-map', 'ArrowRight');
      assert(/\(.*\): x -?[\d.]+, y -?[\d.]+$/.test(point), `map point: ${point}`);
      await shot(page, 'neighbours');
      // The capitals preset: the words this vocabulary has, or a note on those it lacks.
      await page.selectOption('#embedding-set', 'capitals');
      await page.waitForFunction(() => [...document.querySelectorAll('#stage p')].some((p) => /Not one token|A map needs/.test(p.textContent)) || document.querySelector('#embedding-map'));
      await settled(page, '#embedding-set');
      assert(page.errors.length === 0, `page errors: ${page.errors.join('; ')}`);
      await page.context().close();

      await atPhone({ browser, url, shot }, { stage: 'neighbours', selector: '#embedding-map', what: 'embedding space', name: 'neighbours' });
    },
  },
  {
    name: 'SmolLM2: the lens ends on " Paris" as `llm-xray lens` does; attribution sums to the logit; " Paris", " London", " France" cosines are exact',
    needs: 'smollm2',
    async run({ browser, url, bin, smollm2, shot }) {
      const prompt = 'The capital of France is';
      const want = cli(bin, ['lens', '--model', smollm2, '--prompt', prompt, '--top', '5', '--json']);
      const T = want.tokens.length;
      const rows = want.layers.length;
      const q = `model=${encodeURIComponent('www/models/smollm2-135m-instruct/model.gguf')}&prompt=${encodeURIComponent(prompt)}`;
      const page = await open(browser, url, `${q}&stage=lens`);
      await settled(page, '#lens-grid', 120000);
      // The last column (the last position), every row, read by keyboard.
      await press(page, '#lens-grid', 'ArrowDown');
      let text = await press(page, '#lens-grid', 'End');
      for (let i = 0; i < rows; i++) {
        if (i > 0) text = await press(page, '#lens-grid', 'ArrowDown');
        const m = /^1\. (.*) {2}p ([\d.]+) {2}\(id (\d+)\)$/m.exec(text);
        assert(m && new RegExp(`position ${T - 1} `).test(text), `row ${i}: ${text}`);
        const top = want.layers[i].top[T - 1][0];
        assert(Number(m[3]) === top.id, `row ${i}: page top id ${m[3]}, CLI ${top.id} (${JSON.stringify(top.text)})`);
        close(Number(m[2]), top.p, 2e-3, `row ${i} top probability`);
      }
      assert(/^␣Paris$/.test(/^1\. (.*?) {2}/m.exec(text)[1]), `the model's output at the last position: ${text}`);
      await shot(page, 'smollm2-lens');
      await page.context().close();

      const attr = cli(bin, ['attribute', '--model', smollm2, '--prompt', prompt, '--json']);
      const page2 = await open(browser, url, `${q}&stage=attribution`);
      await settled(page2, '.attr-summary', 120000);
      const dd = await page2.$$eval('.attr-summary dd', (d) => d.map((x) => parseFloat(x.textContent)));
      close(dd[0], attr.logit, 2e-3, 'logit of " Paris"');
      close(dd[1], dd[0], 2e-3, 'sum of the components vs the logit');
      const first = (await page2.$$eval('ol[aria-label="Largest components"] li', (li) => li.map((x) => x.textContent)))[0];
      const top = [...attr.components].sort((a, b) => Math.abs(b.value) - Math.abs(a.value))[0];
      assert(first.startsWith(top.name + ' '), `largest component: page "${first}", CLI ${top.name}`);
      await shot(page2, 'smollm2-attribution');
      await page2.context().close();

      const page3 = await open(browser, url, `${q}&stage=neighbours`);
      await settled(page3, '#neighbours-chart', 120000);
      await page3.selectOption('#embedding-set', 'capitals');
      await page3.waitForSelector('.cosine-first', { timeout: 60000 });
      const line = await page3.textContent('.cosine-first');
      const cos = [...line.matchAll(/cos\((.+?), (.+?)\) = (-?\d+\.\d+)/g)].map((m) => [m[1], m[2], Number(m[3])]);
      assert(cos.length === 3 && cos[0][0] === '␣Paris' && cos[0][1] === '␣London' && cos[1][1] === '␣France', `pairwise cosines: ${line}`);
      for (const [, , c] of cos) assert(c > -1 && c < 1, `cosine out of range: ${line}`);
      // The matrix is symmetric with ones on its diagonal.
      const hm = '#stage .subview:last-of-type figure.heatmap canvas.map';
      const d0 = await press(page3, hm, 'ArrowDown');
      assert(/= 1\.0000$/.test(d0), `diagonal: ${d0}`);
      const a01 = await press(page3, hm, 'ArrowRight');
      await press(page3, hm, 'ArrowDown');
      const a11 = await press(page3, hm, 'ArrowLeft');
      assert(a01.split(' = ')[1] === a11.split(' = ')[1], `not symmetric: ${a01} / ${a11}`);
      close(Number(a01.split(' = ')[1]), cos[0][2], 1e-3, 'cos(␣Paris, ␣London) in the matrix and the sentence');
      await shot(page3, 'smollm2-neighbours');
      assert(page3.errors.length === 0, `page errors: ${page3.errors.join('; ')}`);
      await page3.context().close();
    },
  },
];
