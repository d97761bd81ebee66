// The page's side of the worker: requests answered by promises, progress events, and a
// crash report when the worker dies. (What the page moves per run, shown in the Model panel,
// is counted by the controller: state.bytesMoved.)
import { protocolError } from './protocol.js';

export class EngineClient {
  constructor({ onEvent, onCrash }) {
    this.pending = new Map();
    this.next = 1;
    this.onEvent = onEvent;
    this.onCrash = onCrash;
    this.start();
  }

  start() {
    this.dead = null;
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => {
      const m = e.data;
      if (m.id == null) return this.onEvent && this.onEvent(m);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) {
        p.resolve(m.result);
      } else {
        const err = protocolError(m.error, m.fatal);
        p.reject(err);
        if (m.fatal && this.onCrash) this.onCrash(`the engine stopped with an internal error: ${err.message}`);
      }
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      const msg = e.message || 'the worker script failed to load';
      this.dead = msg;
      for (const p of this.pending.values()) p.reject(protocolError({ kind: 'internal', message: msg }, true));
      this.pending.clear();
      if (this.onCrash) this.onCrash(msg);
    };
  }

  /** Restarts the worker (after a crash); the model must be loaded again. */
  restart() {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(protocolError({ kind: 'internal', message: 'the engine was restarted' }, true));
    this.pending.clear();
    this.start();
  }

  request(type, args = {}) {
    if (this.dead) {
      if (this.onCrash) this.onCrash(this.dead);
      return Promise.reject(protocolError({ kind: 'internal', message: this.dead }, true));
    }
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, args });
    });
  }
}
