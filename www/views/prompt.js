// Stage "Prompt": the text as the model receives it, before tokenization.
import { el, viewHeader } from '../dom.js';
import { state } from '../store.js';

export function render(root) {
  const text = document.getElementById('prompt').value;
  const bytes = new TextEncoder().encode(text).length;
  root.append(
    viewHeader('Prompt', 'input', 'The text you typed. The model never sees characters: next it is cut into tokens.'),
    el('pre', { class: 'prompt-echo' }, text || '(empty)'),
    el(
      'p',
      { class: 'muted' },
      `${text.length} characters, ${bytes} bytes of UTF-8` +
        (state.info ? ` · this model reads at most ${state.info.config.n_positions} tokens (n_positions, a hyperparameter)` : ''),
    ),
  );
  return {};
}
