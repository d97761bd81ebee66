// Stages "Logits" and "Next token": the model's next-token probabilities, reshaped live by
// temperature / top-k / top-p (the same maths as generation, run in wasm without re-running
// the model), the button that appends a token with the KV cache, and the history.
import { el, viewHeader, fmt } from '../dom.js';
import { tokenLabel } from '../tokens.js';
import { state, emit } from '../store.js';
import { actions } from '../actions.js';

const SHOW = 12;

function control(label, input, note) {
  return el('label', { class: 'control' }, el('span', {}, label), input, note ? el('span', { class: 'muted small' }, note) : null);
}

export function render(root, stageId) {
  const s = state.sampling;
  const greedy = s.temperature <= 0;
  root.append(
    stageId === 'logits'
      ? viewHeader(
          'Logits → probabilities',
          'activation',
          'The last token’s final vector times the unembedding gives one score (logit) per vocabulary entry; softmax turns them into the model’s next-token probabilities (grey). Coloured: the distribution after your sampling settings.',
        )
      : viewHeader(
          'Next token',
          ['setting', 'activation'],
          'Pick the next token from the distribution (greedy: the most probable) and run just that token through the model, reusing the cached keys and values of the earlier ones.',
        ),
  );
  const num = (v, attrs, onchange) => el('input', { type: 'number', value: String(v), ...attrs, onchange });
  const temp = el('input', { type: 'range', min: '0', max: '2', step: '0.05', value: String(s.temperature), 'aria-label': 'Temperature' });
  const tempOut = el('output', { class: 'mono' }, greedy ? '0 (greedy)' : s.temperature.toFixed(2));
  const topP = el('input', { type: 'range', min: '0.05', max: '1', step: '0.05', value: String(s.topP), 'aria-label': 'Top-p' });
  const topPOut = el('output', { class: 'mono' }, s.topP.toFixed(2));
  const bars = el('ol', { class: 'bars logits', 'aria-label': 'Next-token probabilities' });
  const kept = el('p', { class: 'muted small' });
  const update = () => refresh(bars, kept);
  temp.addEventListener('input', () => {
    s.temperature = Number(temp.value);
    tempOut.textContent = s.temperature <= 0 ? '0 (greedy)' : s.temperature.toFixed(2);
    genBtn.textContent = genLabel();
    update();
  });
  topP.addEventListener('input', () => {
    s.topP = Number(topP.value);
    topPOut.textContent = s.topP.toFixed(2);
    update();
  });
  const controls = el(
    'div',
    { class: 'controls sampling' },
    control('Temperature', el('span', { class: 'row' }, temp, tempOut), '0 = greedy'),
    control('Top-k', num(s.topK, { min: '0', step: '1', 'aria-label': 'Top-k', class: 'short' }, (e) => { s.topK = Math.max(0, Math.floor(Number(e.target.value) || 0)); update(); }), '0 = all'),
    control('Top-p', el('span', { class: 'row' }, topP, topPOut)),
    control('Seed', num(s.seed, { min: '0', step: '1', 'aria-label': 'Seed', class: 'short' }, (e) => { s.seed = Math.max(0, Math.floor(Number(e.target.value) || 0)); }), 'for sampling'),
  );
  const genLabel = () => (s.temperature <= 0 ? 'Generate next token (greedy)' : `Generate next token (sampled, seed ${s.seed})`);
  const full = state.at >= state.info.config.n_positions;
  const genBtn = el('button', { type: 'button', class: 'primary', id: 'generate', disabled: state.busy || full, onclick: () => actions.generate() }, genLabel());
  const history = renderHistory();
  root.append(
    controls,
    el('section', { class: 'subview' }, el('h3', {}, `Most probable next tokens after “…${state.at ? tokenLabel(state.run.tokens[state.at - 1].bytes) : ''}”`), bars, kept),
    el(
      'section',
      { class: 'subview' },
      el('div', { class: 'row' }, genBtn, full ? el('span', { class: 'muted' }, `the context is full (${state.info.config.n_positions} tokens)`) : null),
      history,
    ),
  );
  update();
  return {};
}

async function refresh(bars, kept) {
  const d = await actions.distribution(SHOW);
  if (!d) return;
  const { model, shaped } = d;
  const rows = [];
  model.ids.forEach((id, k) => {
    const p = model.probs[k];
    const q = shaped.probs[k];
    rows.push(
      el(
        'li',
        { dataset: { id } },
        el('span', { class: 'bar-label' }, el('span', { class: 'chip static' }, el('span', { class: 'chip-text' }, tokenLabel(model.tokens[k].bytes)), el('span', { class: 'chip-id' }, String(id)))),
        el(
          'span',
          { class: 'bar-track double' },
          el('span', { class: 'bar model', style: { width: `${p * 100}%` } }),
          el('span', { class: 'bar shaped', style: { width: `${q * 100}%` } }),
        ),
        el('span', { class: 'bar-value mono', title: 'model probability → probability after sampling settings' }, `${(p * 100).toFixed(1)}% → ${(q * 100).toFixed(1)}%`),
      ),
    );
  });
  bars.replaceChildren(...rows);
  kept.textContent = `Grey: the model’s softmax. Coloured: after temperature/top-k/top-p; sampling can pick ${shaped.kept} token${shaped.kept === 1 ? '' : 's'} of ${state.info.config.vocab_size}.`;
}

function renderHistory() {
  const r = state.run;
  const list = el('ol', { class: 'history', 'aria-label': 'History' });
  for (let n = r.prompt_len; n <= r.tokens.length; n++) {
    const label = n === r.prompt_len ? `prompt (${n} tokens)` : `+ ${tokenLabel(r.tokens[n - 1].bytes)}`;
    list.append(
      el(
        'li',
        {},
        el(
          'button',
          { type: 'button', class: n === state.at ? 'active' : '', 'aria-current': n === state.at ? 'step' : null, onclick: () => { state.at = n; emit('render'); } },
          label,
        ),
      ),
    );
  }
  return el('div', {}, el('h3', {}, 'History'), el('p', { class: 'muted small' }, 'Click a step to see the activations as they were then; generating from an earlier step replaces the later ones.'), list);
}
