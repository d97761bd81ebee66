// A tiny static file server for the page (no dependencies). `node scripts/serve.mjs [dir]
// [port]` serves `dir` (default dist/) on 127.0.0.1 and prints the URL. The tests import
// `startServer` to serve on an ephemeral port, with extra folders mounted beside the page.
// It answers HEAD and byte-range requests (the page sizes a GGUF file from its header before
// downloading it), as static hosts and the Hugging Face Hub do.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/plain; charset=utf-8',
  '.gguf': 'application/octet-stream',
};

/**
 * Serves `root` (and `mounts`: {'/url-prefix/': dir}) on 127.0.0.1:`port` (0 = any free
 * port). `hub` (tests only) names the origin the page may treat as the Hugging Face Hub:
 * index.html's hub and Content-Security-Policy are rewritten to it when served.
 */
export function startServer({ root, port = 0, mounts = {}, quiet = true, hub = null }) {
  const server = http.createServer((req, res) => {
    let url;
    try {
      url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    let base = root;
    let rel = url;
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (url.startsWith(prefix)) {
        base = dir;
        rel = url.slice(prefix.length - 1);
      }
    }
    const file = path.join(base, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(path.resolve(base))) {
      res.writeHead(403).end('forbidden');
      return;
    }
    fs.stat(file, (err, st) => {
      let target = file;
      if (!err && st.isDirectory()) target = path.join(file, 'index.html');
      fs.stat(target, (err2, st2) => {
        if (err2 || !st2.isFile()) {
          if (!quiet) console.log(`404 ${url}`);
          res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url}`);
          return;
        }
        const type = TYPES[path.extname(target)] || 'application/octet-stream';
        if (hub && path.basename(target) === 'index.html') {
          const html = fs.readFileSync(target, 'utf8').replaceAll('https://huggingface.co', hub);
          res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
          return res.end(req.method === 'HEAD' ? undefined : html);
        }
        const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
        if (range) {
          const start = Number(range[1]);
          const end = Math.min(range[2] ? Number(range[2]) : st2.size - 1, st2.size - 1);
          if (start > end) return res.writeHead(416, { 'content-range': `bytes */${st2.size}` }).end();
          res.writeHead(206, { 'content-type': type, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${st2.size}`, 'accept-ranges': 'bytes' });
          if (req.method === 'HEAD') return res.end();
          return fs.createReadStream(target, { start, end }).pipe(res);
        }
        res.writeHead(200, { 'content-type': type, 'content-length': st2.size, 'cache-control': 'no-cache', 'accept-ranges': 'bytes' });
        if (req.method === 'HEAD') return res.end();
        fs.createReadStream(target).pipe(res);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => {
      // The chosen port is taken: take any free one instead.
      if (e.code === 'EADDRINUSE' && port !== 0) server.listen(0, '127.0.0.1');
      else reject(e);
    });
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(process.argv[2] || path.join(here, '..', 'dist'));
  const port = Number(process.argv[3] || process.env.PORT || 8080);
  startServer({ root, port }).then(({ url }) => {
    console.log(`llm-xray is being served from ${root}`);
    console.log(`open ${url}`);
    console.log('(Ctrl+C stops the server)');
  });
}
