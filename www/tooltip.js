// @ts-check
// One tooltip for the whole page; text is always set with textContent.
let el = null;

export function showTooltip(text, x, y) {
  if (!el) {
    el = document.createElement('div');
    el.className = 'tooltip';
    el.setAttribute('role', 'status');
    el.id = 'tooltip';
    document.body.append(el);
  }
  el.textContent = text;
  el.hidden = false;
  const w = el.offsetWidth;
  const h = el.offsetHeight;
  const left = Math.min(window.innerWidth - w - 4, x + 12);
  const top = y + 16 + h > window.innerHeight ? y - h - 8 : y + 16;
  el.style.left = Math.max(4, left) + 'px';
  el.style.top = Math.max(4, top) + 'px';
}

export function hideTooltip() {
  if (el) el.hidden = true;
}
