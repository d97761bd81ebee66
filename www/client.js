// @ts-check
// The page's side of the worker: requests answered by promises, progress events, and a
// crash report when the worker dies. (What the page moves per run, shown in the Model panel,
// is counted by data.js: state.bytesMoved.)
import { protocolError } from './protocol.js';

/**
 * @typedef {import('./protocol.js').Request} Request
 * @typedef {import('./protocol.js').Ctx} Ctx
 * @typedef {import('./protocol.js').Response} Response
 * @typedef {import('./protocol.js').EngineEvent} EngineEvent
 * @typedef {import('./protocol.js').RunNumber} RunNumber
 * @typedef {import('./protocol.js').ProtocolError} ProtocolError
 */
/**
 * @template {import('./protocol.js').RequestType} K
 * @typedef {import('./protocol.js').ResultOf<K>} ResultOf
 */
/**
 * A request's result with the number of the context's run it was computed from.
 * @template T
 * @typedef {{run: RunNumber | null, result: T}} Reply
 */

export class EngineClient {
  /** @param {{onEvent: (e: EngineEvent) => void, onCrash: (message: string) => void}} hooks */
  constructor({ onEvent, onCrash }) {
    /** @type {Map<number, {resolve: (r: Reply<any>) => void, reject: (e: ProtocolError) => void}>} */
    this.pending = new Map();
    this.next = 1;
    this.onEvent = onEvent;
    this.onCrash = onCrash;
    /** @type {string | null} why the worker is dead, if it is */
    this.dead = null;
    /** @type {Worker} */
    this.worker = this.start();
  }

  start() {
    this.dead = null;
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.onmessage = (e) => {
      /** @type {Response | EngineEvent} */
      const m = e.data;
      if (!('id' in m)) return this.onEvent(m);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (!('error' in m)) {
        p.resolve({ run: m.run, result: m.result });
      } else {
        const err = protocolError(m.error, m.fatal);
        err.run = m.run;
        p.reject(err);
        if (m.fatal) this.onCrash(`the engine stopped with an internal error: ${err.message}`);
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      const msg = e.message || 'the worker script failed to load';
      this.dead = msg;
      for (const p of this.pending.values()) p.reject(protocolError({ kind: 'internal', message: msg }, true));
      this.pending.clear();
      this.onCrash(msg);
    };
    return worker;
  }

  /** Restarts the worker (after a crash); the model must be loaded again. */
  restart() {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(protocolError({ kind: 'internal', message: 'the engine was restarted' }, true));
    this.pending.clear();
    this.worker = this.start();
  }

  /**
   * Sends a request about context `ctx`; resolves to its result and run number.
   * @template {Request} R
   * @param {R} request
   * @param {Ctx} [ctx]
   * @returns {Promise<Reply<ResultOf<R['type']>>>}
   */
  send(request, ctx = 'main') {
    if (this.dead) {
      this.onCrash(this.dead);
      return Promise.reject(protocolError({ kind: 'internal', message: this.dead }, true));
    }
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ctx, request });
    });
  }

  /**
   * As `send`, resolving to the result alone.
   * @template {Request} R
   * @param {R} request
   * @param {Ctx} [ctx]
   * @returns {Promise<ResultOf<R['type']>>}
   */
  async request(request, ctx = 'main') {
    return (await this.send(request, ctx)).result;
  }
}
