// @ts-check
// How a token's bytes are shown: whole UTF-8 characters as text, with spaces, tabs and
// newlines made visible; bytes that are only part of a character (GPT-2's byte-level BPE
// splits emoji and many scripts) as hex, e.g. <F0 9F>, never as "�".

const VISIBLE = { 0x20: '␣', 0x0a: '↵', 0x09: '⇥', 0x0d: '␍' };

function hex(bytes) {
  return '<' + bytes.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ') + '>';
}

// Length of the UTF-8 sequence a lead byte starts, or 0 if it cannot start one.
function seqLen(b) {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/** Visible label of a token from its bytes (an array or Uint8Array of 0..255). */
export function tokenLabel(bytesLike) {
  const bytes = Array.from(bytesLike);
  let out = '';
  let bad = [];
  const flush = () => {
    if (bad.length) out += hex(bad);
    bad = [];
  };
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = seqLen(b);
    let ok = n > 0 && i + n <= bytes.length;
    for (let k = 1; ok && k < n; k++) ok = (bytes[i + k] & 0xc0) === 0x80;
    if (ok && n > 1) {
      const cp = new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(bytes.slice(i, i + n)));
      ok = !cp.includes('\uFFFD');
      if (ok) {
        flush();
        out += cp;
        i += n;
        continue;
      }
    }
    if (ok && n === 1) {
      flush();
      if (VISIBLE[b]) out += VISIBLE[b];
      else if (b < 0x20 || b === 0x7f) out += hex([b]);
      else out += String.fromCharCode(b);
      i += 1;
      continue;
    }
    bad.push(b);
    i += 1;
  }
  flush();
  return out;
}

/** Short label for axes and tooltips: the token label, cut to `max` characters. */
export function shortLabel(bytesLike, max = 12) {
  const s = tokenLabel(bytesLike);
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** Axis labels of tokens: "position:token", the token cut to 10 characters. */
export function axisLabels(toks) {
  return toks.map((t, i) => `${i}:${shortLabel(t.bytes, 10)}`);
}

/** A token as readable text in quotes (“ Paris”), its spaces as spaces, for lists such as
 * the history; pieces that are not printable text fall back to `tokenLabel`. */
export function quotedLabel(bytesLike) {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(Array.from(bytesLike)));
  const control = [...text].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f');
  return !text.includes('\uFFFD') && !control ? `“${text}”` : tokenLabel(bytesLike);
}
