// Launching headless Chromium with playwright-core, and helpers that use the page as a
// person does: through its controls, keys and what it shows (no test hooks in the page).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export async function launch({ webgpu = true } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...BASE_ARGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])],
  });
}

export function artifacts(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return (page, name) => page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
}

/** Opens the page (a fresh context each time, so storage does not leak between tests). */
export async function openPage(browser, url, { viewport = { width: 1280, height: 800 }, init, dpr = 1, context: opts = {} } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: dpr, acceptDownloads: true, ...opts });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const logs = [];
  const errors = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => (logs.push(`[pageerror] ${e.message}`), errors.push(e.message)));
  page.logs = logs;
  page.errors = errors;
  await page.goto(url);
  return page;
}

// The page's signal that what the stage shows is final: #stage carries data-run, the
// number of the run its view was drawn from, and aria-busy="true" while the view may still
// change without anyone acting (a run, the view's data or the head census on its way).
// Tests wait on it, never on a delay.

/** Waits until a prompt has run and the page is idle: token chips shown, nothing in flight. */
export async function waitReady(page, timeout = 60000) {
  await page.waitForFunction(
    () => document.querySelector('#chips .chip') && document.getElementById('stage').getAttribute('aria-busy') === 'false' && /last run/.test(document.getElementById('prompt-status').textContent),
    null,
    { timeout },
  );
}

/** Waits until nothing is in flight: the stage is drawn from the run on screen, for good. */
export async function waitIdle(page, timeout = 60000) {
  await page.waitForFunction(() => document.getElementById('stage').getAttribute('aria-busy') === 'false', null, { timeout });
}

/** The number of the run the stage's view was drawn from (its data-run). */
export async function shownRun(page) {
  return page.$eval('#stage', (s) => Number(s.dataset.run));
}

/** Waits until the stage is drawn from a run after run number `before` and is idle. */
export async function waitNewRun(page, before, timeout = 60000) {
  await page.waitForFunction((before) => {
    const s = document.getElementById('stage');
    return s.getAttribute('aria-busy') === 'false' && Number(s.dataset.run) > before;
  }, before, { timeout });
}

/** Types a prompt into the textbox named "Prompt", presses Enter and waits until the stage
 * shows its run, or the page refused it (the status line says why, as a warning, and the
 * views keep the last run). */
export async function typePrompt(page, text, timeout = 60000) {
  const before = await shownRun(page);
  const box = page.getByRole('textbox', { name: 'Prompt', exact: true });
  await box.fill(text);
  await box.press('Enter');
  await page.waitForFunction(
    (before) => {
      const s = document.getElementById('stage');
      return s.getAttribute('aria-busy') === 'false' && (Number(s.dataset.run) > before || document.getElementById('prompt-status').classList.contains('warn'));
    },
    before,
    { timeout },
  );
}

export async function gotoStage(page, label) {
  await page.getByRole('navigation', { name: 'Pipeline' }).getByRole('button', { name: label, exact: true }).click();
  await waitIdle(page);
}

/** The token chips: [{text, id}]. */
export async function chips(page) {
  return page.$$eval('#chips .chip', (els) => els.map((e) => ({ text: e.querySelector('.chip-text').textContent, id: Number(e.dataset.id) })));
}

/** Reads cell (i, j) of a heatmap (or bar i of a chart) by keyboard, as a screen-reader
 * user would: focus it, move with the keys, read the announced text. The figure must stay
 * the one that was on screen when the reading began: a redraw meanwhile would start the
 * keys over on a new figure, and means the page said it was done too early. */
export async function readCell(page, canvas, i, j = 0) {
  const drawn = await canvas.elementHandle();
  await canvas.focus();
  await canvas.press('PageUp');
  await canvas.press('Home');
  for (let k = 0; k < i; k++) await canvas.press('ArrowDown');
  for (let k = 0; k < j; k++) await canvas.press('ArrowRight');
  const text = await canvas.evaluate((c) => c.parentElement.querySelector('.sr-only[aria-live]').textContent);
  if (!(await drawn.evaluate((c) => c.isConnected))) throw new Error(`the figure was redrawn while cell (${i}, ${j}) was being read (stage run ${await page.$eval('#stage', (s) => s.dataset.run)})`);
  return text;
}

/** Downloads what clicking `locator` offers; returns {name, bytes}. */
export async function download(page, locator) {
  const [d] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), locator.click()]);
  const file = await d.path();
  return { name: d.suggestedFilename(), bytes: fs.readFileSync(file) };
}

/** The number at the end of an announced cell ("x → y: 0.1234"). */
export const valueOf = (text) => Number((text.match(/(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$/) || [])[1]);

/** Chooses a backend in the Model panel and waits until the page has switched. */
export async function chooseBackend(page, value, timeout = 120000) {
  await page.getByRole('combobox', { name: 'Backend' }).selectOption(value);
  await page.waitForFunction(() => !document.getElementById('backend-choice').disabled, null, { timeout });
  await waitIdle(page, timeout);
}

/** The run as the page exports it (the CLI's trace format), saved to a temp file. */
export async function exportRun(page, name) {
  const d = await download(page, page.getByRole('button', { name: 'Download run (JSON)' }));
  const file = path.join(os.tmpdir(), `llm-xray-${process.pid}-${name}.json`);
  fs.writeFileSync(file, d.bytes);
  return file;
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
