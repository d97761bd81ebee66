// The page's side of the worker: request/response with promises, progress events, and a
// crash report when the worker dies.

export class EngineClient {
  constructor({ onProgress, onCrash }) {
    this.pending = new Map();
    this.next = 1;
    this.onProgress = onProgress;
    this.onCrash = onCrash;
    this.start();
  }

  start() {
    this.dead = null;
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'progress') return this.onProgress && this.onProgress(m);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else {
        const err = new Error(m.error);
        err.fatal = m.fatal;
        p.reject(err);
        if (m.fatal && this.onCrash) this.onCrash(`the engine stopped with an internal error: ${m.error}`);
      }
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      const msg = e.message || 'the worker script failed to load';
      this.dead = msg;
      for (const p of this.pending.values()) {
        const err = new Error(msg);
        err.fatal = true;
        p.reject(err);
      }
      this.pending.clear();
      if (this.onCrash) this.onCrash(msg);
    };
  }

  /** Restarts the worker (after a crash); the model must be loaded again. */
  restart() {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error('the engine was restarted'));
    this.pending.clear();
    this.start();
  }

  request(cmd, args) {
    if (this.dead) {
      const err = new Error(this.dead);
      err.fatal = true;
      if (this.onCrash) this.onCrash(this.dead);
      return Promise.reject(err);
    }
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, cmd, args });
    });
  }
}
