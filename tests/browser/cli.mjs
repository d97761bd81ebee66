// The CLI's answers, which the page must match: `llm-xray tokenize|trace|generate`.
import { execFileSync } from 'node:child_process';

export function cli(bin, args) {
  const out = execFileSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  return JSON.parse(out);
}

export const tokenize = (bin, model, prompt) => cli(bin, ['tokenize', '--model', model, '--prompt', prompt]);
export const attentions = (bin, model, prompt) => cli(bin, ['trace', '--model', model, '--prompt', prompt, '--parts', 'attentions']).attentions;
export const generate = (bin, model, prompt, n, extra = []) =>
  cli(bin, ['generate', '--model', model, '--prompt', prompt, '--max-tokens', String(n), '--json', ...extra]);
