// @ts-check
// Stage "Prompt": the text as the model receives it, before tokenization.
import { el, viewHeader } from '../dom.js';
import { state, modelText } from '../store.js';

export function render(root) {
  const chat = state.chat && state.info.chat;
  const text = modelText();
  const bytes = new TextEncoder().encode(text).length;
  root.append(
    viewHeader('Prompt', 'input', chat ? `What you typed, wrapped as a chat turn (${chat.name}, from ${chat.source}) the way this model was fine-tuned to read it. The model never sees characters: next it is cut into tokens.` : 'The text you typed. The model never sees characters: next it is cut into tokens.'),
    el('pre', { class: 'prompt-echo' }, text || '(empty)'),
    el('p', { class: 'muted' }, `${text.length} characters, ${bytes} bytes of UTF-8 · this page runs at most ${state.info.max_tokens} tokens with this model (its context, n_positions, a hyperparameter, is ${state.info.config.n_positions})`),
  );
  return {};
}
