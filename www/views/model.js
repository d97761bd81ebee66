// The Model panel: which model, its hyperparameters, its learned-parameter counts, the
// backend (chosen and in use, and why) and the last run's time.
import { el, fmtCount, kindBadge } from '../dom.js';
import { state } from '../store.js';
import { actions } from '../actions.js';

export function renderModelPanel(root) {
  root.replaceChildren();
  root.append(el('h2', {}, 'Model'));
  const add = (...xs) => root.append(...xs.filter(Boolean));
  const custom = state.folder && !state.models.some((m) => m.url === state.folder);
  const picker = el(
    'select',
    { id: 'model-picker', 'aria-label': 'Model', onchange: (e) => actions.loadModel(e.target.value) },
    state.models.map((m) => el('option', { value: m.url, selected: m.url === state.folder }, m.name)),
    custom ? el('option', { value: state.folder, selected: true }, state.folder) : null,
  );
  const entry = state.models.find((m) => m.url === state.folder);
  add(el('label', { class: 'control' }, el('span', {}, 'Checkpoint'), picker), entry && entry.description ? el('p', { class: 'muted small' }, entry.description) : null);

  const choice = el(
    'select',
    { id: 'backend-choice', 'aria-label': 'Backend', disabled: !state.info || state.busy, onchange: (e) => actions.setBackend(e.target.value) },
    [['auto', 'Auto'], ['webgpu', 'WebGPU'], ['cpu', 'CPU']].map(([v, l]) => el('option', { value: v, selected: state.backendChoice === v }, l)),
  );
  root.append(el('h3', {}, 'Backend'), el('label', { class: 'control' }, el('span', {}, 'Run on'), choice));
  const b = state.backend;
  if (b) {
    const adapter = b.adapter ? `${b.adapter.name || '(the browser does not tell its name)'}${b.adapter.backend ? ` (${b.adapter.backend})` : ''}${b.adapter.is_software ? ', software' : ''}` : null;
    root.append(
      el(
        'dl',
        { class: 'backend', id: 'backend-status' },
        el('dt', {}, 'In use'),
        el('dd', { id: 'backend-kind' }, b.kind === 'webgpu' ? 'WebGPU' : 'CPU'),
        adapter ? el('dt', {}, 'Adapter') : null,
        adapter ? el('dd', { id: 'backend-adapter' }, adapter) : null,
        el('dt', {}, 'Why'),
        el('dd', { id: 'backend-why' }, b.why),
        el('dt', {}, 'Last run'),
        el('dd', { id: 'last-run' }, state.lastRunMs == null ? '—' : `${state.lastRunMs.toFixed(1)} ms${state.run ? ` (${state.run.computed} token${state.run.computed === 1 ? '' : 's'})` : ''}`),
      ),
    );
  }
  if (state.info) {
    const c = state.info.config;
    root.append(
      el('h3', {}, 'Hyperparameters ', kindBadge('hyperparameter')),
      el(
        'table',
        { class: 'kv' },
        el('tbody', {},
          [
            ['layers', c.n_layer],
            ['attention heads', c.n_head],
            ['width (d_model)', c.n_embd],
            ['MLP width', c.n_inner],
            ['context (tokens)', c.n_positions],
            ['vocabulary', c.vocab_size],
            ['activation', c.activation],
          ].map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { class: 'num' }, typeof v === 'number' ? fmtCount(v) : v))),
        ),
      ),
      el('h3', {}, 'Learned parameters ', kindBadge('parameter')),
      el(
        'table',
        { class: 'kv' },
        el('tbody', {},
          state.info.parameters.map((p) => el('tr', {}, el('th', {}, p.component), el('td', { class: 'num' }, fmtCount(p.count)))),
          el('tr', { class: 'total' }, el('th', {}, 'total'), el('td', { class: 'num' }, fmtCount(state.info.total_parameters))),
        ),
      ),
    );
  }

}
