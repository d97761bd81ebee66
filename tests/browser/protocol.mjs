// The page's protocol (www/protocol.js REQUESTS) and the engine's (the `Request` enum of
// src/wasm.rs) must name the same requests: every request the page sends to the engine is
// a variant, and every variant a request the page declares. Read from the sources, so it
// runs before any build: `npm run lint` runs this file, and the browser suite runs it too.
//   node tests/browser/protocol.mjs
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REQUESTS } from '../../www/protocol.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The names the enum's variants have on the wire (serde's rename_all / rename). */
export function engineRequests(rust) {
  const m = /((?:#\[[^\]]*\]\s*)*)pub enum Request \{([\s\S]*?)\n\}/.exec(rust);
  if (!m) throw new Error('src/wasm.rs: no `pub enum Request { … }`');
  const [, attrs, body] = m;
  if (!/tag = "type"/.test(attrs)) throw new Error(`src/wasm.rs: Request is not tagged by "type": ${attrs.trim()}`);
  const camel = /rename_all = "camelCase"/.test(attrs);
  const names = [];
  // Variants are the lines at the enum's first level of nesting that start with a name.
  let depth = 0;
  let rename = null;
  for (const line of body.split('\n')) {
    const t = line.replace(/\/\/.*$/, '').trim();
    if (depth === 0) {
      const r = /^#\[serde\(rename = "([^"]+)"\)\]/.exec(t);
      if (r) rename = r[1];
      const v = /^([A-Z][A-Za-z0-9]*)\b/.exec(t);
      if (v) {
        names.push(rename ?? (camel ? v[1][0].toLowerCase() + v[1].slice(1) : v[1]));
        rename = null;
      }
    }
    depth += (t.match(/[{(]/g) || []).length - (t.match(/[})]/g) || []).length;
  }
  return names;
}

/** Differences between the two lists, as sentences (none when they agree). */
export function protocolProblems() {
  const rust = engineRequests(fs.readFileSync(path.join(root, 'src/wasm.rs'), 'utf8'));
  const page = Object.entries(REQUESTS)
    .filter(([, who]) => who === 'engine')
    .map(([name]) => name);
  const problems = [];
  for (const n of page) if (!rust.includes(n)) problems.push(`www/protocol.js sends "${n}" to the engine, but src/wasm.rs's Request has no such variant`);
  for (const n of rust) if (!page.includes(n)) problems.push(`src/wasm.rs's Request has "${n}", but www/protocol.js does not declare it as an engine request`);
  if (page.length === 0 || rust.length === 0) problems.push(`no requests found (page ${page.length}, engine ${rust.length})`);
  return { problems, count: rust.length };
}

export const tests = [
  {
    name: 'www/protocol.js and src/wasm.rs name the same engine requests',
    async run() {
      const { problems } = protocolProblems();
      if (problems.length) throw new Error(problems.join('\n'));
    },
  },
];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { problems, count } = protocolProblems();
  for (const p of problems) console.error(p);
  if (problems.length) process.exit(1);
  console.log(`protocol: the page and the engine name the same ${count} requests`);
}
