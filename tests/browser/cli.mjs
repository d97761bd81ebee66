// The CLI's answers, which the page must match: `llm-xray tokenize|trace|generate|lens|…`.
import { execFileSync } from 'node:child_process';

export function cli(bin, args) {
  const out = execFileSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  return JSON.parse(out);
}

export const tokenize = (bin, model, prompt) => cli(bin, ['tokenize', '--model', model, '--prompt', prompt]);
export const attentions = (bin, model, prompt, extra = []) => cli(bin, ['trace', '--model', model, '--prompt', prompt, '--parts', 'attentions', ...extra]).attentions;
export const trace = (bin, model, prompt, parts, extra = []) => cli(bin, ['trace', '--model', model, '--prompt', prompt, '--parts', parts, ...extra]);
export const generate = (bin, model, prompt, n, extra = []) => cli(bin, ['generate', '--model', model, '--prompt', prompt, '--max-tokens', String(n), '--json', ...extra]);

/** `llm-xray compare A B`: the exit status and what it printed. */
export function compare(bin, a, b, tolerance = '1e-4') {
  try {
    return { ok: true, out: execFileSync(bin, ['compare', a, b, '--tolerance', tolerance], { encoding: 'utf8' }) };
  } catch (e) {
    return { ok: false, out: `${e.stdout}${e.stderr}` };
  }
}
