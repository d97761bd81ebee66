// `npm run bench:peer`: our page and wllama (llama.cpp compiled to WebAssembly, npm
// @wllama/wllama, its single-thread CPU build: these pages are not cross-origin isolated,
// so neither side has threads) on the same SmolLM2 GGUF, in the same headless Chromium,
// each in a tab of its own, timed in turns.
//
// What each side computes:
// - ours (the built page, dist/, CPU backend): a prompt of 64 tokens traced with every part
//   the page keeps recorded (every activation of every layer, logits at every position);
//   one "Generate next token" step (a KV-cache step, that token's activations recorded).
//   Times are the engine's own (the page's status line, performance.now() in the worker).
// - wllama: a raw completion of the same 64-token prompt (prompt processing, logits of the
//   last position), then greedy decoding; times are llama.cpp's own (`timings`: prompt_ms,
//   predicted_per_token_ms).
// Prints `peer wllama SmolLM2 decode: ours X ms/token, wllama Y ms/token, ratio X/Y` and the
// same for `prefill 64` (medians of ROUNDS turns), and memory lines: our page's "Tab memory
// (wasm)" and the peak resident memory (VmHWM) of each tab's renderer process.
//   node scripts/bench_peer.mjs [--rounds 5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';
import { launch, openPage, waitReady, waitIdle, typePrompt, gotoStage } from '../tests/browser/harness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rounds = process.argv.includes('--rounds') ? Number(process.argv[process.argv.indexOf('--rounds') + 1]) : 5;
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const PREFILL = 64;
const DECODE = 16;

const gguf = path.join(root, 'dist/www/models/smollm2-135m-instruct/model.gguf');
const wllamaDir = path.join(root, 'node_modules/@wllama/wllama/esm');
for (const [file, how] of [
  [gguf, 'run `npm run models`, then `npm run build`'],
  [path.join(wllamaDir, 'index.js'), 'run `npm install`'],
]) {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${how}`);
}

// The peer's page: wllama's own module and wasm, and the same GGUF file.
const peerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-xray-peer-'));
fs.writeFileSync(
  path.join(peerDir, 'index.html'),
  `<!doctype html><meta charset="utf-8"><title>wllama peer</title>
<script type="module">
import { Wllama } from '/wllama/index.js';
window.peer = (async () => {
  const w = new Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true, allowOffline: true });
  w.setCompat(null);
  const blob = await (await fetch('/model.gguf')).blob();
  await w.loadModel([new File([blob], 'model.gguf')], { n_threads: 1, n_gpu_layers: 0, n_ctx: 512 });
  return w;
})();
window.complete = async (prompt, maxTokens) => {
  const w = await window.peer;
  const r = await w.createCompletion({ prompt, max_tokens: maxTokens, temperature: 0, cache_prompt: false });
  return r.timings;
};
</script>`,
);

/** Renderer processes of this browser (descendants of this node process), by pid. */
function renderers() {
  const parent = (pid) => {
    try {
      return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
    } catch {
      return 0;
    }
  };
  const ours = (pid) => {
    for (let p = pid, n = 0; p > 1 && n < 10; p = parent(p), n++) if (p === process.pid) return true;
    return false;
  };
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer') && ours(pid);
      } catch {
        return false;
      }
    });
}

/** Peak resident memory (VmHWM) of a process, in MB. */
function peakMb(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Opens a page in a fresh context and returns it with the renderer process it got. */
async function openTab(browser, url) {
  const before = new Set(renderers());
  const page = await openPage(browser, url);
  const fresh = renderers().filter((p) => !before.has(p));
  return { page, pid: fresh.length === 1 ? fresh[0] : null };
}

const words = ['the', 'king', 'of', 'a', 'fair', 'night', 'and', 'my', 'lord', 'sang', 'to', 'sea'];
/** A prompt of about `n` words, starting with a word of its own (no prefix is reused). */
const prompt = (n, r) => [['Then', 'When', 'Now', 'Yet', 'So', 'And', 'But', 'Thus'][r % 8], ...Array.from({ length: n - 1 }, (_, i) => words[(i * 7 + r) % words.length])].join(' ');

fs.symlinkSync(gguf, path.join(peerDir, 'model.gguf'));
const ours = await startServer({ root: path.join(root, 'dist') });
const peerServer = await startServer({ root: peerDir, mounts: { '/wllama/': wllamaDir } });
const browser = await launch({ webgpu: false });
try {
  // Ours: SmolLM2 picked in the page, on the CPU.
  const mine = await openTab(browser, ours.url);
  const page = mine.page;
  await waitReady(page);
  const picker = page.getByRole('combobox', { name: 'Checkpoint' });
  await picker.selectOption(await picker.locator('option', { hasText: 'SmolLM2' }).getAttribute('value'));
  await page.waitForFunction(() => /SmolLM2|smollm2/i.test(document.getElementById('model-picker').selectedOptions[0].textContent), null, { timeout: 120000 });
  await waitReady(page, 180000);
  const kind = await page.textContent('#backend-kind');
  if (kind !== 'CPU') throw new Error(`our page runs on ${kind}; the peer comparison is on the CPU`);

  // A prompt of exactly PREFILL tokens for our tokenizer (the chips), found by words.
  const tokensOf = async (text) => {
    await typePrompt(page, text, 180000);
    return page.locator('#chips .chip').count();
  };
  let nWords = 40;
  for (let i = 0; i < 12; i++) {
    const n = await tokensOf(prompt(nWords, 0));
    if (n === PREFILL) break;
    nWords += PREFILL - n > 0 ? Math.max(1, Math.floor((PREFILL - n) / 2)) : -1;
  }

  const theirs = await openTab(browser, peerServer.url);
  await theirs.page.evaluate(() => window.peer.then(() => true));

  const runMs = async () => Number(((await page.textContent('#prompt-status')).match(/in ([\d.]+) ms/) || [])[1]);
  const res = { oursPrefill: [], oursDecode: [], peerPrefill: [], peerDecode: [], oursTokens: [], peerTokens: [] };
  for (let r = 1; r <= rounds; r++) {
    const text = prompt(nWords, r);
    await typePrompt(page, text, 180000);
    res.oursTokens.push(await page.locator('#chips .chip').count());
    // A prefill counts only when the run computed the whole prompt (no cached prefix).
    const status = await page.textContent('#prompt-status');
    if (/last run: \d+ tokens? in/.test(status)) res.oursPrefill.push(await runMs());
    else console.log(`peer note: round ${r}: not a whole prefill, left out ("${status}")`);
    await gotoStage(page, 'Next token');
    for (let s = 0; s < 3; s++) {
      const n = await page.locator('#chips .chip').count();
      await page.click('#generate');
      await page.waitForFunction((n) => document.querySelectorAll('#chips .chip').length === n + 1 && !document.querySelector('#chips .chip.later') && document.getElementById('stage').getAttribute('aria-busy') === 'false', n, { timeout: 120000 });
      res.oursDecode.push(await runMs());
    }
    const t = await theirs.page.evaluate(([text, n]) => window.complete(text, n), [text, DECODE]);
    res.peerTokens.push(t.prompt_n);
    res.peerPrefill.push(t.prompt_ms);
    res.peerDecode.push(t.predicted_per_token_ms);
  }
  await waitIdle(page);
  const m = {
    oursPrefill: median(res.oursPrefill),
    peerPrefill: median(res.peerPrefill),
    oursDecode: median(res.oursDecode),
    peerDecode: median(res.peerDecode),
  };
  const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  console.log(`peer setup: headless Chromium ${browser.version()}, CPU only, one thread each, ${rounds} rounds taken in turns; ${os.cpus()[0].model}`);
  console.log(`peer prompt: ours ${median(res.oursTokens)} tokens, wllama ${median(res.peerTokens)} tokens (llama.cpp's count)`);
  console.log(`peer wllama SmolLM2 decode: ours ${f(m.oursDecode)} ms/token, wllama ${f(m.peerDecode)} ms/token, ratio ${(m.oursDecode / m.peerDecode).toFixed(2)}`);
  console.log(`peer wllama SmolLM2 prefill ${PREFILL}: ours ${f(m.oursPrefill)} ms, wllama ${f(m.peerPrefill)} ms, ratio ${(m.oursPrefill / m.peerPrefill).toFixed(2)}`);
  console.log(`peer memory: our page's Tab memory (wasm, high-water) ${await page.textContent('#wasm-memory')}`);
  const mb = (pid) => (pid ? `${peakMb(pid).toFixed(0)} MB` : 'unknown (its renderer process was not found)');
  console.log(`peer memory: peak resident memory of each tab's renderer process: ours ${mb(mine.pid)}, wllama ${mb(theirs.pid)}`);
  console.log(`peer raw (ms): ours prefill [${res.oursPrefill.map(f)}] decode [${res.oursDecode.map(f)}]; wllama prefill [${res.peerPrefill.map(f)}] decode [${res.peerDecode.map(f)}]`);
} finally {
  await browser.close();
  ours.server.close();
  peerServer.server.close();
  fs.rmSync(peerDir, { recursive: true, force: true });
}
