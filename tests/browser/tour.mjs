// The guided tour and its two views, in headless Chromium: every step opens the stage it
// names and outlines it; the URL follows the step and a link reopens it; the tour works by
// keyboard (Esc closes it and focus returns); axe finds nothing serious on a step; it fits a
// phone without covering the view; its text is its own (no run of eight words from the
// chapter it follows); it works on other models. "The same word in two sentences" and "The
// batched matrix" are held to the CLI.
import fs from 'node:fs';
import path from 'node:path';
import { openPage, waitReady, waitIdle, typePrompt, chips, chooseBackend, assert } from './harness.mjs';
import { cli, trace } from './cli.mjs';

const PHONE = { width: 390, height: 844 };

/** The stage each step opens (stages.js ids); the Train stage is another session's. */
const EXPECTED = ['next', 'overview', 'tokens', 'embeddings', 'contrast', 'layer', 'layer', 'logits', 'matrix', 'matrix', 'overview', 'train', 'lens'];
const TRAIN_STEP = EXPECTED.indexOf('train') + 1;

/** Words the tour's text must use, somewhere. */
const VOCABULARY = ['token', 'embedding', 'vector', 'attention', 'probability', 'hyperparameter', 'learned parameter', 'activation', 'training', 'inference', 'matrix', 'GPU'];

/** The chapter the tour follows, where the checkout has it (../shared/seed beside the
 * repository, or LLM_XRAY_CHAPTER). */
export function chapterPath(root) {
  return process.env.LLM_XRAY_CHAPTER || path.resolve(root, '../shared/seed/overview-of-llms.md');
}

/** Lower-case words, punctuation and markup dropped. */
function words(text) {
  return text.toLowerCase().replace(/[’‘]/g, "'").match(/[a-z0-9]+(?:'[a-z]+)?/g) || [];
}

/**
 * The runs of `n` words of `text` that also occur in `source`.
 * @param {string} text
 * @param {string} source
 */
export function copiedRuns(text, source, n = 8) {
  const src = words(source);
  const grams = new Set();
  for (let i = 0; i + n <= src.length; i++) grams.add(src.slice(i, i + n).join(' '));
  const w = words(text);
  const out = [];
  for (let i = 0; i + n <= w.length; i++) if (grams.has(w.slice(i, i + n).join(' '))) out.push(w.slice(i, i + n).join(' '));
  return out;
}

/** The page at `query`, its prompt run and the stage idle. */
async function open(browser, url, query, opts = {}) {
  const page = await openPage(browser, `${url}?${query}`, opts);
  await waitReady(page, 120000);
  return page;
}

const stageOf = (page) => new URL(page.url()).searchParams.get('stage');
const tourOf = (page) => new URL(page.url()).searchParams.get('tour');
const panel = (page) => page.getByRole('region', { name: 'Tour' });

/** "Step k of N" as the panel says it. */
async function stepOf(page) {
  const m = /Step (\d+) of (\d+)/.exec(await panel(page).locator('#tour-heading').innerText());
  assert(m, `the tour's heading says "Step k of N": ${await panel(page).innerText()}`);
  return { k: Number(m[1]), n: Number(m[2]) };
}

/** Clicks Next and waits until the page has settled on the next step. */
async function next(page) {
  const { k } = await stepOf(page);
  await panel(page).getByRole('button', { name: /^(Next|Finish)/ }).click();
  await page.waitForFunction((k) => document.getElementById('tour').hidden || !document.getElementById('tour-heading').textContent.startsWith(`Step ${k} of`), k);
  await waitIdle(page);
}

/** Walks every step from the first: [{k, stage, text, focus, marked}]. */
async function walk(page) {
  const seen = [];
  const { n } = await stepOf(page);
  for (let k = 1; k <= n; k++) {
    await waitIdle(page);
    const at = await stepOf(page);
    assert(at.k === k && at.n === n, `step ${k}: the panel says step ${at.k} of ${at.n}`);
    seen.push({
      k,
      stage: stageOf(page),
      tour: tourOf(page),
      text: await panel(page).locator('.tour-text').innerText(),
      all: await panel(page).innerText(),
      focus: await page.evaluate(() => document.activeElement && document.activeElement.id),
      marked: await page.$eval('#stage', (s) => s.classList.contains('tour-focus')),
    });
    if (k < n) await next(page);
  }
  return seen;
}

export const tests = [
  {
    name: 'tour: ?tour=1 walks every step with Next; each opens and outlines its stage (tokens, embeddings, a layer, logits in order), moves focus to its heading and has its own text',
    async run({ browser, url, shot }) {
      const page = await open(browser, url, 'tour=1');
      const { k, n } = await stepOf(page);
      assert(k === 1 && n >= 12 && n === EXPECTED.length, `the tour opens at step 1 of ${EXPECTED.length}: step ${k} of ${n}`);
      await shot(page, 'tour-step1-1280');
      const seen = await walk(page);
      const stages = seen.map((s) => s.stage);
      for (const s of seen) {
        if (s.k !== TRAIN_STEP) assert(s.stage === EXPECTED[s.k - 1], `step ${s.k} opens ${EXPECTED[s.k - 1]}: the URL says stage=${s.stage}`);
        assert(s.tour === String(s.k), `step ${s.k}: the URL says tour=${s.tour}`);
        assert(s.text.length >= 150, `step ${s.k} has ${s.text.length} characters of text: ${s.text}`);
        assert(s.marked, `step ${s.k} outlines the view it opened`);
        assert(s.focus === 'tour-heading', `step ${s.k}: focus is on the step's heading, not ${s.focus}`);
      }
      const order = ['tokens', 'embeddings', 'layer', 'logits'].map((x) => stages.indexOf(x));
      assert(order.every((x, i) => x >= 0 && (i === 0 || x > order[i - 1])), `tokens, embeddings, a layer and logits in that order: ${stages.join(', ')}`);
      const text = seen.map((s) => s.all).join('\n').toLowerCase();
      const missing = VOCABULARY.filter((w) => !text.includes(w.toLowerCase()));
      assert(missing.length === 0, `the tour's text never says: ${missing.join(', ')}`);
      // The last step's Next finishes the tour.
      await panel(page).getByRole('button', { name: 'Finish' }).click();
      await page.waitForFunction(() => document.getElementById('tour').hidden);
      assert(tourOf(page) == null, `a finished tour leaves the URL: ${page.url()}`);
      assert((await page.evaluate(() => document.activeElement.id)) === 'tour-open', 'focus returns to the Tour button');
      await page.getByRole('button', { name: 'Tour', exact: true }).click();
      await page.waitForFunction(() => !document.getElementById('tour').hidden);
      await waitIdle(page);
      assert((await stepOf(page)).k === 1 && stageOf(page) === EXPECTED[0], 'a finished tour opens again at step 1');
      await page.context().close();
    },
  },
  {
    name: 'tour: the training step opens the Train stage (stage=train)',
    async run({ browser, url }) {
      const page = await open(browser, url, `tour=${TRAIN_STEP}`);
      assert((await stepOf(page)).k === TRAIN_STEP, 'the link opens the training step');
      assert(stageOf(page) === 'train', `the training step opens the Train stage: the URL says stage=${stageOf(page)}`);
      const active = await page.textContent('#pipeline .stage[aria-current="step"]');
      assert(/train/i.test(active), `the pipeline shows the Train stage: ${active}`);
      await page.context().close();
    },
  },
  {
    name: 'tour: its text copies no run of eight words from the chapter it follows',
    skip: ({ root }) => (fs.existsSync(chapterPath(root)) ? null : `the chapter is not at ${chapterPath(root)} (set LLM_XRAY_CHAPTER to check it)`),
    async run({ browser, url, root }) {
      const chapter = fs.readFileSync(chapterPath(root), 'utf8');
      assert(copiedRuns('As you may have heard, LLMs are essentially', chapter).length === 1, 'the check finds a run of eight words the chapter has');
      const page = await open(browser, url, 'tour=1');
      for (const s of await walk(page)) {
        const runs = copiedRuns(s.all, chapter);
        assert(runs.length === 0, `step ${s.k} copies the chapter: ${runs.join(' | ')}`);
      }
      await page.context().close();
    },
  },
  {
    name: 'tour: the URL follows the step, a link reopens it, the browser Back walks the steps; a new prompt mid-tour keeps the step',
    async run({ browser, url }) {
      // A link naming only the step opens the step's view.
      const page = await open(browser, url, 'tour=6');
      assert((await stepOf(page)).k === 6 && stageOf(page) === 'layer', `?tour=6 opens step 6 on a layer: step ${(await stepOf(page)).k}, stage=${stageOf(page)}`);
      await next(page);
      const link = page.url();
      assert(tourOf(page) === '7' && stageOf(page) === 'layer' && new URL(link).searchParams.get('sub') === 'mlp', `step 7's URL: ${link}`);
      await page.goBack();
      await page.waitForFunction(() => /Step 6 of/.test(document.getElementById('tour-heading').textContent));
      await waitIdle(page);
      assert(tourOf(page) === '6' && new URL(page.url()).searchParams.get('sub') === 'attention', `Back returns to step 6: ${page.url()}`);
      const again = await openPage(browser, link);
      await waitReady(again);
      assert((await stepOf(again)).k === 7 && stageOf(again) === 'layer', 'the link reopens step 7 on its view');
      assert((await again.locator('#stage [role=tab][aria-selected="true"]').innerText()) === 'MLP', 'step 7 shows the MLP');
      // The learner changes the prompt: the tour keeps its step, the view and the text follow.
      await again.goto(`${url}?tour=3`);
      await waitReady(again);
      const before = (await chips(again)).length;
      await typePrompt(again, 'Friends, Romans, countrymen, lend me your ears');
      const now = (await chips(again)).length;
      assert(now !== before, 'the new prompt has another number of tokens');
      assert((await stepOf(again)).k === 3 && stageOf(again) === 'tokens', 'the tour stays at step 3 on the tokens');
      assert((await again.locator('#stage tbody tr').count()) === now, 'the tokens view shows the new prompt');
      assert((await panel(again).locator('.tour-text').innerText()).includes(`${now} tokens`), 'the step’s text counts the new prompt’s tokens');
      await page.context().close();
      await again.context().close();
    },
  },
  {
    name: 'tour: keyboard — the Tour button opens it, ←/→ in the panel move between steps, Esc closes it and focus returns to the button; leaving a step and coming back',
    async run({ browser, url }) {
      const page = await open(browser, url, '');
      const button = page.getByRole('button', { name: 'Tour', exact: true });
      await button.focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'tour-heading');
      await waitIdle(page);
      assert((await stepOf(page)).k === 1 && tourOf(page) === '1', 'Enter on the Tour button opens step 1');
      assert((await button.getAttribute('aria-expanded')) === 'true', 'the Tour button says the tour is open');
      await page.keyboard.press('ArrowRight');
      await page.waitForFunction(() => /Step 2 of/.test(document.getElementById('tour-heading').textContent));
      await waitIdle(page);
      assert(stageOf(page) === 'overview', '→ in the panel moves to step 2, not to the next stage');
      await page.keyboard.press('ArrowRight');
      await page.waitForFunction(() => /Step 3 of/.test(document.getElementById('tour-heading').textContent));
      await page.keyboard.press('ArrowLeft');
      await page.waitForFunction(() => /Step 2 of/.test(document.getElementById('tour-heading').textContent));
      await waitIdle(page);
      // Leave the step for another view: the tour stays, and offers the way back.
      await page.getByRole('navigation', { name: 'Pipeline' }).getByRole('button', { name: 'Logit lens', exact: true }).click();
      await waitIdle(page);
      assert((await stepOf(page)).k === 2 && stageOf(page) === 'lens', 'the learner may leave the step’s view');
      await panel(page).getByRole('button', { name: 'Back to this step’s view' }).click();
      await waitIdle(page);
      assert(stageOf(page) === 'overview', 'the step’s view again');
      // Tab reaches Next; Enter on it moves on.
      const nextButton = panel(page).getByRole('button', { name: 'Next ▸' });
      await nextButton.focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => /Step 3 of/.test(document.getElementById('tour-heading').textContent));
      await waitIdle(page);
      await page.keyboard.press('Escape');
      await page.waitForFunction(() => document.getElementById('tour').hidden);
      const focused = await page.evaluate(() => document.activeElement.id);
      assert(focused === 'tour-open', `closing returns focus to the Tour button, not ${focused}`);
      assert(tourOf(page) == null && (await button.getAttribute('aria-expanded')) === 'false', 'the closed tour leaves the URL');
      assert(stageOf(page) === 'tokens', 'the view the tour showed stays');
      await page.context().close();
    },
  },
  {
    name: 'tour: axe finds no serious or critical violation on a step; at 390 px the panel neither covers the view nor makes the page scroll sideways',
    async run({ browser, url, root, shot }) {
      const axe = fs.readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
      for (const step of [5, 6, 10]) {
        const page = await open(browser, url, `tour=${step}`, { context: { bypassCSP: true } });
        await page.addScriptTag({ content: axe });
        const res = await page.evaluate(async () => {
          const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
          return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((x) => x.target.join(' ')).join('; ')}`);
        });
        assert(res.length === 0, `step ${step}: ${res.join('\n')}`);
        await page.context().close();
      }
      for (const step of [1, 5, 6, 10, 11]) {
        const page = await open(browser, url, `tour=${step}`, { viewport: PHONE });
        const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        assert(sw <= w + 1, `step ${step} at ${PHONE.width} px: the page is ${sw} px wide`);
        const [a, b] = await page.evaluate(() => ['tour', 'stage'].map((id) => document.getElementById(id).getBoundingClientRect().toJSON()));
        assert(a.bottom <= b.top || b.bottom <= a.top, `step ${step} at ${PHONE.width} px: the panel (${a.top}–${a.bottom}) overlaps the view (${b.top}–${b.bottom})`);
        assert(a.top >= -1 && a.top < PHONE.height, `step ${step}: the panel is on screen (top ${a.top})`);
        await shot(page, `tour-step${step}-${PHONE.width}`);
        await page.context().close();
      }
      const wide = await open(browser, url, 'tour=5');
      await shot(wide, 'tour-step5-1280');
      await wide.context().close();
    },
  },
  {
    name: 'tour: on another model (tiny-random, no head census shipped) every step opens its view and says what the model lacks',
    async run({ browser, url }) {
      const page = await open(browser, url, 'model=www/models/tiny-random/&tour=1');
      const seen = await walk(page);
      for (const s of seen) if (s.k !== TRAIN_STEP) assert(s.stage === EXPECTED[s.k - 1], `tiny-random, step ${s.k}: stage=${s.stage}`);
      const attention = seen[5].all;
      const induction = /is an induction head/.test(attention);
      assert(induction || /names no induction head/.test(attention), `step 6 names the induction head or says there is none: ${attention}`);
      assert(induction === /Show induction head/.test(attention), 'the induction demo is offered exactly when the census names a head');
      assert(/This model has [\d.,]+( million)? learned parameters/.test(seen[10].text), `step 11 counts this model's parameters: ${seen[10].text}`);
      await page.context().close();
    },
  },
  {
    name: 'tour on SmolLM2: step 11 switches to it in one click and the tour keeps its step; the steps open their views on a 30-layer Llama',
    needs: 'smollm2',
    async run({ browser, url }) {
      const page = await open(browser, url, 'tour=11');
      await page.locator('#tour-smollm2').click();
      await page.waitForFunction(() => /SmolLM2/i.test(document.getElementById('model-picker').selectedOptions[0].textContent) && /134\.5 million learned/.test(document.getElementById('tour').textContent), null, { timeout: 180000 });
      await waitReady(page, 180000);
      assert((await stepOf(page)).k === 11, 'the tour stays at step 11 after the switch');
      for (const step of [1, 5, 9, 10]) {
        // A link to the step on this model, naming no view: the step opens its own.
        const link = new URL(page.url());
        for (const k of ['stage', 'layer', 'head', 'sub']) link.searchParams.delete(k);
        link.searchParams.set('tour', String(step));
        await page.goto(link.href);
        await waitReady(page, 180000);
        assert((await stepOf(page)).k === step && stageOf(page) === EXPECTED[step - 1], `SmolLM2 step ${step}: stage=${stageOf(page)}`);
        assert((await panel(page).locator('.tour-text').innerText()).length >= 150, `SmolLM2 step ${step} has its text`);
      }
      await page.context().close();
    },
  },
  {
    name: 'Same word, two sentences: the page’s cosines equal `llm-xray contrast --json`, for the default pair, a typed pair and tokens chosen by hand',
    async run({ browser, url, bin, model, shot }) {
      const page = await open(browser, url, 'stage=contrast');
      await page.waitForSelector('#contrast-chart');
      const check = async (a, b, word, what) => {
        const want = cli(bin, ['contrast', '--model', model, '--a', a, '--b', b, '--token', word, '--json']);
        const got = await readContrast(page, want.cosine.length);
        for (let k = 0; k < want.cosine.length; k++) {
          assert(Math.abs(got[k].cosine - want.cosine[k]) <= 1e-4, `${what}, ${want.depths[k]}: page ${got[k].cosine}, CLI ${want.cosine[k]}`);
          assert(Math.abs(got[k].centred - want.centred[k]) <= 1e-4, `${what}, ${want.depths[k]} centred: page ${got[k].centred}, CLI ${want.centred[k]}`);
        }
        const pressed = await page.$$eval('.contrast-sentence', (rows) => rows.map((r) => [...r.querySelectorAll('button.chip')].findIndex((b) => b.getAttribute('aria-pressed') === 'true')));
        assert(pressed[0] === want.a.position && pressed[1] === want.b.position, `${what}: the chosen tokens ${pressed}, CLI ${want.a.position}, ${want.b.position}`);
        return want;
      };
      const dog = await check('the dog barked at the mailman', 'they dog his every step', 'dog', 'the default pair');
      assert(dog.cosine[0] > 0.9999, 'one token, one embedding row: cosine 1 at depth 0');
      assert((await page.textContent('#contrast-summary')).includes(dog.cosine[1].toFixed(3)), 'the summary quotes the cosine after layer 1');
      await shot(page, 'contrast-1280');
      await page.fill('#contrast-a', 'The bank of the river was muddy');
      await page.fill('#contrast-b', 'I put my money in the bank');
      await page.fill('#contrast-word', 'bank');
      await page.press('#contrast-word', 'Enter');
      await page.waitForFunction(() => /Tokens of sentence A/.test(document.querySelector('.contrast-sentence .chips')?.getAttribute('aria-label') || '') && /money/.test(document.querySelectorAll('.contrast-sentence')[1].textContent));
      await waitIdle(page);
      await check('The bank of the river was muddy', 'I put my money in the bank', 'bank', 'a typed pair');
      assert(/ca=The\+bank/.test(page.url()) && /cw=bank/.test(page.url()), `the URL keeps the pair: ${page.url()}`);
      // Another token chosen by hand in sentence A, its first, against B's last token of "bank".
      await page.locator('.contrast-sentence').first().locator('button.chip').first().click();
      await page.waitForFunction(() => document.querySelectorAll('.contrast-sentence')[0]?.querySelector('button.chip')?.getAttribute('aria-pressed') === 'true');
      await waitIdle(page);
      const got = await readContrast(page, dog.cosine.length);
      assert(got[0].cosine < 0.999, `two different tokens do not start at cosine 1: ${got[0].cosine}`);
      assert(/Tokens chosen by hand/.test(await page.textContent('#stage')), 'the view says the tokens were chosen by hand');
      await page.context().close();
    },
  },
  {
    name: 'Batched matrix: X equals the CLI’s ln_1 and Q its q for the chosen layer and head; the product is timed and the run’s backend named',
    async run({ browser, url, bin, model, shot }) {
      const prompt = 'The cat sat on the mat. The cat';
      const page = await open(browser, url, `prompt=${encodeURIComponent(prompt)}&stage=matrix&layer=2&head=3`);
      await page.waitForSelector('#matrix-q');
      const tr = trace(bin, model, prompt, 'ln_1,q');
      const T = tr.tokens.length;
      const q = tr.layers[1].q[2];
      const x = tr.layers[1].ln_1;
      for (const [i, j] of [[0, 0], [3, 5], [T - 1, q[0].length - 1]]) {
        const cell = await readMatrixCell(page, '#matrix-q', i, j);
        assert(Math.abs(cell - q[i][j]) <= 1.5e-4 * Math.max(1, Math.abs(q[i][j])), `Q[${i}][${j}]: page ${cell}, CLI ${q[i][j]}`);
      }
      for (const [i, j] of [[0, 0], [T - 1, 7]]) {
        const cell = await readMatrixCell(page, '#matrix-x', i, j);
        assert(Math.abs(cell - x[i][j]) <= 1.5e-4 * Math.max(1, Math.abs(x[i][j])), `X[${i}][${j}]: page ${cell}, CLI ${x[i][j]}`);
      }
      const eq = await page.textContent('#matrix-equation');
      assert(eq.includes(`X (${T} × 128) · W_Q (128 × 32)`) && eq.includes(`Q (${T} × 32)`), `the shapes: ${eq}`);
      const timing = await page.textContent('#matrix-timing');
      assert(/\d[\d.]* (µs|ms) per product, the mean of [\d,]+ repeats/.test(timing), `the product's measured time: ${timing}`);
      assert(/took [\d.]+ ms on the CPU/.test(timing), `the last run's time and backend: ${timing}`);
      await shot(page, 'matrix-1280');
      // On WebGPU (SwiftShader here) the run is the GPU's: the view names it, and Q, computed
      // from the GPU run's residual stream, still equals the CLI's.
      await chooseBackend(page, 'webgpu');
      await page.waitForSelector('#matrix-q');
      const onGpu = await page.textContent('#matrix-timing');
      assert(/took [\d.]+ ms on WebGPU/.test(onGpu), `the run's backend after choosing WebGPU: ${onGpu}`);
      const cell = await readMatrixCell(page, '#matrix-q', 3, 5);
      assert(Math.abs(cell - q[3][5]) <= 1.5e-4 * Math.max(1, Math.abs(q[3][5])), `Q[3][5] on WebGPU: page ${cell}, CLI ${q[3][5]}`);
      await page.context().close();
    },
  },
];

/** Every depth of the contrast chart, read by keyboard: [{cosine, centred}]. */
async function readContrast(page, n) {
  const canvas = page.locator('#contrast-chart');
  await canvas.focus();
  // Home twice: from no cursor the first goes to the end (as End would), the second to depth 0.
  await page.keyboard.press('Home');
  await page.keyboard.press('Home');
  const out = [];
  for (let k = 0; k < n; k++) {
    if (k) await page.keyboard.press('ArrowRight');
    const text = await canvas.evaluate((c) => c.closest('figure').querySelector('.sr-only[aria-live]').textContent);
    const m = /cosine (-?[\d.]+), centred (-?[\d.]+)/.exec(text);
    assert(m, `depth ${k}: "${text}"`);
    out.push({ cosine: Number(m[1]), centred: Number(m[2]) });
  }
  return out;
}

/** Cell (i, j) of a matrix heatmap, read by keyboard. */
async function readMatrixCell(page, selector, i, j) {
  const canvas = page.locator(selector);
  await canvas.focus();
  await canvas.press('PageUp');
  await canvas.press('Home');
  for (let k = 0; k < i; k++) await canvas.press('ArrowDown');
  for (let k = 0; k < j; k++) await canvas.press('ArrowRight');
  const text = await canvas.evaluate((c) => c.parentElement.querySelector('.sr-only[aria-live]').textContent);
  const m = /dimension \d+: (-?[\d.]+)/.exec(text);
  assert(m, `${selector} (${i}, ${j}): "${text}"`);
  return Number(m[1]);
}
