// The page's data cache (www/data.js) in Node, with a stand-in for the worker that answers
// when told: an answer computed from another run than the one on screen is dropped, never
// drawn. This is what keeps one context's activations from showing under another's tokens
// when the worker runs a prompt the page does not show (a run answered while a newer text
// waits) or the page moves on before an answer arrives.
import { state, on } from '../../www/store.js';
import { connect, data } from '../../www/data.js';
import { assert } from './harness.mjs';

/** A worker stand-in: requests wait in `sent` until the test answers them. */
function standIn() {
  const sent = [];
  connect(
    /** @type {any} */ ({
      send: (request, ctx) => new Promise((resolve) => sent.push({ request, ctx, resolve })),
    }),
  );
  return sent;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const tensor = (v) => ({ shape: [1, 1], data: new Float32Array([v]) });

export const tests = [
  {
    name: 'an answer computed from another run than the one on screen is dropped, never drawn',
    async run() {
      const sent = standIn();
      let drawn = 0;
      on('data', () => drawn++);
      Object.assign(state, { runSeq: 1, engineRun: 1, data: new Map(), fetching: 0 });

      assert(data.tensor('attentions', 0, 0) === undefined && sent.length === 1, 'the view asks for its tensor');
      // The worker ran a newer prompt meanwhile (the engine's run 2, which the page has not
      // shown): its answer is dropped, and the view keeps waiting.
      sent[0].resolve({ run: 2, result: tensor(0.5) });
      await settle();
      assert(drawn === 0 && state.data.size === 0, 'an answer from run 2 was kept for the run 1 on screen');
      assert(state.fetching === 0, 'the dropped request is still counted as in flight');

      // Asked again, answered from the run on screen: kept and drawn.
      assert(data.tensor('attentions', 0, 0) === undefined && sent.length === 2, 'the view asks again');
      sent[1].resolve({ run: 1, result: tensor(0.25) });
      await settle();
      const t = data.tensor('attentions', 0, 0);
      assert(drawn === 1 && t && !('error' in t) && t.data[0] === 0.25, 'the answer from run 1 is drawn');

      // The page shows a new run before an answer about the old one arrives: dropped.
      assert(data.norms() === undefined && sent.length === 3, 'the view asks for the norms');
      Object.assign(state, { runSeq: 2, engineRun: 3, data: new Map() });
      sent[2].resolve({ run: 1, result: { embedding: [1], after_layer: [], attention: [], mlp: [] } });
      await settle();
      assert(drawn === 1 && state.data.size === 0, 'an answer about run 1 was kept after run 3 came on screen');

      // A failed request about another run is dropped too (it may have failed because the
      // context changed under it).
      assert(data.norms() === undefined && sent.length === 4, 'the view asks for the norms of run 3');
      sent[3].resolve(Promise.reject(Object.assign(new Error('no logits recorded'), { kind: 'input', run: 4 })));
      await settle();
      assert(drawn === 1 && state.data.size === 0, 'a failure from run 4 was kept for run 3');
    },
  },
];
