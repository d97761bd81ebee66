// A stand-in for the Hugging Face Hub on another origin (another port of 127.0.0.1), with
// the Hub's URL layout and habits: /{owner}/{name}/resolve/{revision}/{file} answers with a
// 302 to a second path (the Hub's CDN), every response carries CORS headers, and HEAD and
// byte ranges work. It counts what was requested, so tests can tell a cached load from a
// download and a refusal from a download.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

/** repos: {"owner/name": {file: path on disk | {size} (HEAD only: a file too big to serve)}};
 * tests may add repositories to the returned `repos`. */
export function startHub(repos) {
  const seen = [];
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': 'range, content-type',
    'access-control-expose-headers': 'content-length, content-range, accept-ranges, etag',
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    seen.push(`${req.method} ${url.pathname}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
    const resolve = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (resolve) {
      const [, repo, , file] = resolve;
      if (!repos[repo] || !repos[repo][file]) return res.writeHead(404, { ...cors, 'content-type': 'text/plain' }).end('Entry not found');
      return res.writeHead(302, { ...cors, location: `/cdn/${repo}/${file}` }).end();
    }
    const cdn = url.pathname.match(/^\/cdn\/([^/]+\/[^/]+)\/(.+)$/);
    const entry = cdn && repos[cdn[1]] && repos[cdn[1]][cdn[2]];
    if (!entry) return res.writeHead(404, cors).end();
    if (typeof entry === 'object') {
      // Too big to serve: only its size is known, as a HEAD on the real Hub tells.
      if (req.method === 'HEAD') return res.writeHead(200, { ...cors, 'content-length': String(entry.size) }).end();
      return res.writeHead(500, cors).end('this stand-in never serves this file');
    }
    const size = fs.statSync(entry).size;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(range[2] ? Number(range[2]) : size - 1, size - 1);
      res.writeHead(206, { ...cors, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
      return req.method === 'HEAD' ? res.end() : fs.createReadStream(entry, { start, end }).pipe(res);
    }
    res.writeHead(200, { ...cors, 'content-length': String(size), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
    return req.method === 'HEAD' ? res.end() : fs.createReadStream(entry).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}`, seen, repos })));
}

/** The repos the tests use, from the fixtures. */
export function testRepos(root) {
  const f = (p) => path.join(root, 'tests/fixtures', p);
  const dir = (d) => Object.fromEntries(['config.json', 'model.safetensors', 'tokenizer.json'].map((n) => [n, f(`${d}/${n}`)]));
  const hugeConfig = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'llm-xray-hub-')), 'config.json');
  // An 8B-parameter Llama (Llama 3.1 8B's shape): refused before its weights are downloaded.
  fs.writeFileSync(hugeConfig, JSON.stringify({ model_type: 'llama', vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 500000.0, tie_word_embeddings: false }));
  return {
    'test/tiny-llama': dir('tiny-llama'),
    'test/tiny-gpt2': dir('tiny-hf'),
    'test/tiny-gguf': { 'model.gguf': f('tiny-llama-gguf/model.gguf') },
    'test/huge-llama': { 'config.json': hugeConfig, 'model.safetensors': { size: 16.06e9 }, 'tokenizer.json': f('tiny-llama/tokenizer.json') },
  };
}
