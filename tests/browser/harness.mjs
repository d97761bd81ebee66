// Launching headless Chromium with playwright-core, and small helpers for the tests.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const BASE_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

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

/** Opens the page and waits until the default prompt has run (token chips shown). */
export async function openPage(browser, url, { viewport = { width: 1280, height: 800 }, init, dpr = 1 } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: dpr });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  page.logs = logs;
  await page.goto(url);
  return page;
}

export async function waitReady(page, timeout = 60000) {
  await page.waitForFunction(() => window.xray && window.xray.state.run && window.xray.state.tensors, null, { timeout });
}

/** Types a prompt into the textbox named "Prompt" and waits for its run to finish. */
export async function typePrompt(page, text) {
  const box = page.getByRole('textbox', { name: 'Prompt' });
  const before = await page.evaluate(() => window.xray.state.runsDone);
  await box.fill(text);
  await box.press('Enter');
  await page.waitForFunction((n) => window.xray.state.runsDone > n, before, { timeout: 30000 });
}

export async function gotoStage(page, label) {
  await page.locator('.pipeline .stage', { hasText: new RegExp(`^${label}$`) }).click();
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
