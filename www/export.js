// @ts-check
// Downloads of what the page shows: figures as PNG (with their title, axes, labels and
// legend) and numbers as CSV; main.js saves the whole run (JSON in the CLI's trace format)
// with downloadBlob.

/** Saves a Blob under `name` through a temporary link. */
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function downloadCanvas(canvas, name) {
  canvas.toBlob((b) => downloadBlob(b, name), 'image/png');
}

const cell = (v) => {
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v ?? '');
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/** Rows of values (the first a header) as a CSV download. */
export function downloadCsv(rows, name) {
  downloadBlob(new Blob([rows.map((r) => r.map(cell).join(',')).join('\n') + '\n'], { type: 'text/csv' }), name);
}

/** One canvas: a title, the figure, its legend and its caption, on white, at scale dpr. */
export function composeFigure(title, figure, legend, caption, dpr) {
  const pad = 12 * dpr;
  const line = 16 * dpr;
  // The legend canvas is drawn at the screen's pixel ratio; scale it to the figure's.
  const k = dpr / (window.devicePixelRatio || 1);
  const lw = legend ? legend.width * k : 0;
  const lh = legend ? legend.height * k : 0;
  const W = Math.max(figure.width, lw) + 2 * pad;
  const H = pad + line + figure.height + (legend ? lh + 4 * dpr : 0) + (caption ? line : 0) + pad;
  const out = document.createElement('canvas');
  out.width = W;
  out.height = H;
  const g = out.getContext('2d');
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, W, H);
  g.fillStyle = '#18181b';
  g.font = `600 ${13 * dpr}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  g.fillText(title || '', pad, pad);
  let y = pad + line;
  g.drawImage(figure, pad, y);
  y += figure.height + 4 * dpr;
  if (legend) {
    g.drawImage(legend, pad, y, lw, lh);
    y += lh;
  }
  if (caption) {
    g.font = `${11 * dpr}px system-ui, sans-serif`;
    g.fillStyle = '#52525b';
    g.fillText(caption, pad, y + 2 * dpr, W - 2 * pad);
  }
  return out;
}

/** A figure's "Download PNG" and "Download CSV" buttons. */
export function exportRow(png, csv) {
  const button = (text, onclick) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small-btn';
    b.textContent = text;
    b.addEventListener('click', onclick);
    return b;
  };
  const row = document.createElement('div');
  row.className = 'export-row';
  row.append(button('Download PNG', png), button('Download CSV', csv));
  return row;
}
