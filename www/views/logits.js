// @ts-check
// Stages "Logits" and "Next token": the model's next-token probabilities, reshaped live by
// temperature / top-k / top-p (the same maths as generation, run in wasm without re-running
// the model), the button that appends a token with the KV cache, and the history. With
// heads ablated, the distribution before and after, side by side.
import { el, viewHeader, pct, loadingNote, errorNote } from '../dom.js';
import { BarChart } from '../chart.js';
import { tokenLabel, quotedLabel } from '../tokens.js';
import { state } from '../store.js';
import { actions } from '../controller.js';
import { data, failed } from '../data.js';
import { compareLogits } from './compare.js';

const SHOW = 12;

/**
 * @param {string} label
 * @param {HTMLElement} input
 * @param {string} [note]
 */
function control(label, input, note) {
  return el('label', { class: 'control' }, el('span', {}, label), input, note ? el('span', { class: 'muted small' }, note) : null);
}

/**
 * @param {HTMLElement} root
 * @param {import('../stages.js').Stage} stage 'logits' or 'next'
 */
export function render(root, stage) {
  const s = state.sampling;
  root.append(
    stage.id === 'logits'
      ? viewHeader(
          'Logits → probabilities',
          'activation',
          'The last token’s final vector times the unembedding gives one score (logit) per vocabulary entry; softmax turns them into the model’s next-token probabilities (grey). Coloured: the distribution after your sampling settings.',
        )
      : viewHeader('Next token', ['setting', 'activation'], 'Pick the next token from the distribution (greedy: the most probable) and run just that token through the model, reusing the cached keys and values of the earlier ones.'),
  );
  const model = data.distribution(state.at, SHOW);
  const charts = [];
  const chartBox = el('section', { class: 'subview' }, el('h3', {}, `Most probable next tokens after “…${state.at ? tokenLabel(state.run.tokens[state.at - 1].bytes) : ''}”`));
  const kept = el('p', { class: 'muted small' });
  const chart = new BarChart(chartBox, {
    title: `Next-token probabilities after token ${state.at - 1}`,
    valueName: 'probability after sampling settings',
    axis: 'probability (grey: the model’s softmax; coloured: after temperature, top-k, top-p)',
    max: 1,
    format: pct,
    exportName: 'next-token-probabilities',
  });
  charts.push(chart);
  chartBox.append(kept);

  // Sampling settings change only what is drawn: the bars are updated in place, so a slider
  // keeps its focus while it is dragged. One request is in flight at a time; settings
  // changed meanwhile are asked for once it is answered (the latest only).
  let busy = false;
  let again = false;
  const refresh = async () => {
    if (!model || failed(model)) return;
    if (busy) return void (again = true);
    busy = true;
    const ids = Array.from(model.ids);
    try {
      do {
        again = false;
        const shaped = await actions.probabilities(ids);
        if (again) continue;
        chart.set(model.tokens.map((t, k) => ({ label: tokenLabel(t.bytes), value: shaped.probs[k], back: model.probs[k], note: `model ${pct(model.probs[k])}, id ${ids[k]}` })));
        kept.textContent = `Grey: the model’s softmax. Coloured: after temperature/top-k/top-p; sampling can pick ${shaped.kept} token${shaped.kept === 1 ? '' : 's'} of ${state.info.config.vocab_size}.`;
      } while (again);
    } catch (e) {
      kept.textContent = `Could not apply the sampling settings: ${e.message}`;
    } finally {
      busy = false;
    }
  };
  /** @type {(v: number, attrs: Record<string, string>, onchange: (e: Event) => void) => HTMLInputElement} */
  const num = (v, attrs, onchange) => el('input', { type: 'number', value: String(v), ...attrs, onchange });
  const tempOut = el('output', { class: 'mono' }, s.temperature <= 0 ? '0 (greedy)' : s.temperature.toFixed(2));
  const topPOut = el('output', { class: 'mono' }, s.topP.toFixed(2));
  const genLabel = () => (s.temperature <= 0 ? 'Generate next token (greedy)' : `Generate next token (sampled, seed ${s.seed})`);
  const full = state.at >= state.info.max_tokens;
  const ended = state.run.ended && state.at === state.run.tokens.length;
  const genBtn = el('button', { type: 'button', class: 'primary', id: 'generate', disabled: state.busy || full || ended, onclick: () => actions.generate() }, genLabel());
  const temp = el('input', {
    type: 'range', min: '0', max: '2', step: '0.05', value: String(s.temperature), 'aria-label': 'Temperature',
    oninput: (e) => {
      actions.setSampling({ temperature: Number(e.target.value) }, { url: false });
      tempOut.textContent = s.temperature <= 0 ? '0 (greedy)' : s.temperature.toFixed(2);
      genBtn.textContent = genLabel();
      refresh();
    },
    // The URL follows once the slider is let go, not on every step of a drag.
    onchange: (e) => actions.setSampling({ temperature: Number(e.target.value) }),
  });
  const topP = el('input', {
    type: 'range', min: '0.05', max: '1', step: '0.05', value: String(s.topP), 'aria-label': 'Top-p',
    oninput: (e) => {
      actions.setSampling({ topP: Number(e.target.value) }, { url: false });
      topPOut.textContent = s.topP.toFixed(2);
      refresh();
    },
    onchange: (e) => actions.setSampling({ topP: Number(e.target.value) }),
  });
  root.append(
    el(
      'div',
      { class: 'controls sampling' },
      control('Temperature', el('span', { class: 'row' }, temp, tempOut), '0 = greedy'),
      control('Top-k', num(s.topK, { min: '0', step: '1', 'aria-label': 'Top-k', class: 'short' }, (e) => { actions.setSampling({ topK: Math.max(0, Math.floor(Number(/** @type {HTMLInputElement} */ (e.target).value) || 0)) }); refresh(); }), '0 = all'),
      control('Top-p', el('span', { class: 'row' }, topP, topPOut)),
      control('Seed', num(s.seed, { min: '0', step: '1', 'aria-label': 'Seed', class: 'short' }, (e) => { actions.setSampling({ seed: Math.max(0, Math.floor(Number(/** @type {HTMLInputElement} */ (e.target).value) || 0)) }); genBtn.textContent = genLabel(); }), 'for sampling'),
    ),
  );
  if (!model) chartBox.append(loadingNote('the next-token distribution'));
  else if (failed(model)) chartBox.append(errorNote('the next-token distribution', model));
  root.append(chartBox);
  refresh();
  const eosName = ended ? tokenLabel(state.run.tokens[state.run.tokens.length - 1].bytes) : '';
  root.append(
    el(
      'section',
      { class: 'subview' },
      el(
        'div',
        { class: 'row' },
        genBtn,
        full ? el('span', { class: 'muted' }, `the context is full (${state.info.max_tokens} tokens on this page)`) : null,
        ended ? el('span', { class: 'warn', id: 'ended' }, `The model produced an end-of-sequence token (${eosName}): generation has stopped. Go back in the history to continue from an earlier step.`) : null,
      ),
      renderHistory(),
    ),
  );
  if (state.ablation.heads.length) renderAblation(root, charts);
  charts.push(...compareLogits(root));
  return { destroy: () => charts.forEach((c) => c.destroy()) };
}

/** With heads ablated: the distribution without the ablation beside the one with it, and
 * the change in the top token's log-probability.
 * @param {HTMLElement} root
 * @param {{destroy: () => void}[]} charts
 */
function renderAblation(root, charts) {
  const box = el('section', { class: 'subview' }, el('h3', {}, 'Before and after the ablation'));
  root.append(box);
  if (state.at !== state.run.prompt_len) return box.append(el('p', { class: 'muted' }, 'Shown at the end of the prompt: go back to the first step of the history.'));
  const before = data.distribution(state.at, SHOW, { baseline: true });
  const after = data.distribution(state.at, SHOW);
  if (!before || !after) return box.append(loadingNote('both distributions'));
  if (failed(before)) return box.append(errorNote('the un-ablated distribution', before));
  if (failed(after)) return box.append(errorNote('the distribution', after));
  const top = before.ids[0];
  const afterTop = data.probabilities(state.at, [top]);
  const heads = state.ablation.heads.map(([l, h]) => `${l}.${h}`).join(', ');
  const pair = el('div', { class: 'pair' });
  box.append(pair);
  /** @type {[string, import('../protocol.js').Distribution][]} */
  const both = [
    ['before: every head', before],
    [`after: ${heads} ablated (${state.ablation.mode})`, after],
  ];
  for (const [name, d] of both) {
    const cell = el('div', {});
    pair.append(cell);
    const c = new BarChart(cell, { title: `Next-token probabilities, ${name}`, valueName: 'probability', axis: name, max: 1, format: pct, exportName: name.startsWith('before') ? 'ablation-before' : 'ablation-after' });
    c.set(d.tokens.map((t, k) => ({ label: tokenLabel(t.bytes), value: d.probs[k] })));
    charts.push(c);
  }
  if (afterTop && !failed(afterTop)) {
    const p0 = before.probs[0];
    const p1 = afterTop.probs[0];
    const delta = Math.log(Math.max(p1, 1e-30)) - Math.log(p0);
    box.append(
      el(
        'p',
        { id: 'ablation-delta' },
        `Top token before the ablation, ${tokenLabel(before.tokens[0].bytes)}: ${pct(p0)} → ${pct(p1)}; change in its log-probability ${delta >= 0 ? '+' : ''}${delta.toFixed(3)}.`,
      ),
    );
  }
}

function renderHistory() {
  const r = state.run;
  const list = el('ol', { class: 'history', 'aria-label': 'History' });
  for (let n = r.prompt_len; n <= r.tokens.length; n++) {
    const label = n === r.prompt_len ? `prompt (${n} tokens)` : `+ ${quotedLabel(r.tokens[n - 1].bytes)}`;
    list.append(el('li', {}, el('button', { type: 'button', class: n === state.at ? 'active' : '', 'aria-current': n === state.at ? 'step' : null, onclick: () => actions.setAt(n) }, label)));
  }
  return el('div', {}, el('h3', {}, 'History'), el('p', { class: 'muted small' }, 'Click a step to see the activations as they were then; generating from an earlier step replaces the later ones.'), list);
}
