// @ts-check
// The tour's panel: a region named "Tour" between the pipeline and the stage, so it never
// covers the view it explains. It shows "Step k of N", the step's text (tour-steps.js),
// its one-click actions, and Back / Next. Each step opens its view and outlines what it
// points at; the learner may wander off to other views and come back. Keys: ←/→ in the
// panel move between steps, Esc closes it, and closing returns focus where it was. A new
// step moves focus to its heading, so a screen reader reads it.
import { el } from '../dom.js';
import { state } from '../store.js';
import { actions } from '../controller.js';
import { stageDef } from '../stages.js';
import { STEPS } from '../tour-steps.js';

/** The element that had focus when the tour was opened (focus returns there). */
/** @type {HTMLElement | null} */
let opener = null;
/** The step whose heading last got focus, so a redraw does not take focus again. */
let focusedStep = 0;

/** The view the tour last opened, for its step: when the step's view changes under it (the
 * head census names its heads after the step opened), the tour follows, unless the learner
 * has moved on. */
/** @type {{step: number, view: import('../controller.js').ViewPatch} | null} */
let applied = null;

/** Whether the page still shows `view`. @param {import('../controller.js').ViewPatch} view */
const showing = (view) => Object.entries(view).every(([key, v]) => state[/** @type {keyof typeof state} */ (key)] === v);

/**
 * Opens step `k` with its view.
 * @param {number} k
 * @param {{replace?: boolean}} [opts]
 */
function open(k, opts) {
  const view = STEPS[k - 1].view();
  applied = { step: k, view };
  actions.tourGo(k, view, opts);
}

/** Outlined by the step. */
const MARK = 'tour-focus';

/** @param {number} k */
const clampStep = (k) => Math.max(1, Math.min(STEPS.length, k));

/**
 * Moves to step `k` and opens its view.
 * @param {number} k
 */
export function goToStep(k) {
  open(clampStep(k));
}

/** Opens the tour (at its last step, or the first), remembering where focus was. */
export function openTour() {
  if (state.tour.open) return focusHeading();
  opener = /** @type {HTMLElement | null} */ (document.activeElement);
  focusedStep = 0;
  goToStep(state.tour.step || 1);
}

/** Closes the tour (`finished`: after its last step) and returns focus to where it was when
 * the tour opened. */
export function closeTour({ finished = false } = {}) {
  if (!state.tour.open) return;
  actions.closeTour({ finished });
  const back = opener && opener.isConnected && opener !== document.body ? opener : document.getElementById('tour-open');
  opener = null;
  focusedStep = 0;
  if (back) back.focus();
}

function focusHeading() {
  const h = document.getElementById('tour-heading');
  if (h) h.focus();
}

/** Keys anywhere on the page: Esc closes the tour. */
export function wireTourKeys() {
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.tour.open && !e.defaultPrevented) {
      e.preventDefault();
      closeTour();
    }
  });
}

/**
 * Draws the panel into `root` (the #tour region) from state.tour; called after every redraw
 * of the page and when data arrives (a step's text may quote it). Controls that keep their
 * place keep their focus: only the text and the actions are rebuilt.
 * @param {HTMLElement} root
 */
export function renderTour(root) {
  for (const x of document.querySelectorAll(`.${MARK}`)) x.classList.remove(MARK);
  const t = state.tour;
  root.hidden = !t.open;
  document.getElementById('tour-open')?.setAttribute('aria-expanded', String(t.open));
  if (!t.open) return root.replaceChildren();
  if (!state.info || !state.run) {
    root.replaceChildren(el('p', { class: 'muted' }, `Step ${clampStep(t.step)} of ${STEPS.length} of the tour starts once the model has run your prompt.`));
    return;
  }
  const k = clampStep(t.step);
  const step = STEPS[k - 1];
  const here = step.view();
  if (t.pendingView) {
    // A link named the step but no view: open it, once the model is there to shape it.
    queueMicrotask(() => open(k, { replace: true }));
  } else if (applied && applied.step === k && JSON.stringify(applied.view) !== JSON.stringify(here) && showing(applied.view)) {
    queueMicrotask(() => open(k, { replace: true }));
  }
  if (!root.querySelector('#tour-heading')) build(root);
  const heading = /** @type {HTMLElement} */ (root.querySelector('#tour-heading'));
  heading.replaceChildren(el('span', { class: 'tour-count' }, `Step ${k} of ${STEPS.length}`), el('span', { class: 'tour-title' }, step.title));
  root.querySelector('.tour-text').replaceChildren(...step.text().map((p) => el('p', {}, p)), ...(step.figure ? [step.figure()] : []));
  const away = state.stage !== (stageDef(here.stage) ? here.stage : 'overview');
  const doRow = root.querySelector('.tour-do');
  const acts = (step.actions ? step.actions() : []).map((a) => el('button', { type: 'button', class: 'small-btn', id: a.id || null, disabled: state.busy, onclick: a.run }, a.label));
  // A one-click action that had focus keeps it across the rebuild.
  const had = doRow.contains(document.activeElement) ? document.activeElement.textContent : null;
  if (away) acts.push(el('button', { type: 'button', class: 'small-btn', id: 'tour-return', onclick: () => goToStep(k) }, 'Back to this step’s view'));
  doRow.replaceChildren(...acts);
  if (had) /** @type {HTMLElement[]} */ ([...doRow.querySelectorAll('button')]).find((b) => b.textContent === had)?.focus();
  /** @type {HTMLButtonElement} */ (root.querySelector('#tour-back')).disabled = k === 1;
  root.querySelector('#tour-next').textContent = k === STEPS.length ? 'Finish' : 'Next ▸';
  if (!away) for (const sel of step.highlight) for (const x of document.querySelectorAll(sel)) x.classList.add(MARK);
  if (focusedStep !== k) {
    focusedStep = k;
    heading.focus({ preventScroll: true });
    // The panel sits above the view: scrolled to the top of the window, it leaves the rest
    // of the window to the view it explains.
    root.scrollIntoView({ block: 'start' });
  }
}

/**
 * The panel's fixed parts: the heading (focused on each new step), the text, the actions,
 * and the buttons.
 * @param {HTMLElement} root
 */
function build(root) {
  root.replaceChildren(
    el(
      'div',
      { class: 'tour-top' },
      el('h2', { id: 'tour-heading', tabindex: '-1' }),
      el('button', { type: 'button', class: 'tour-close', id: 'tour-close', 'aria-label': 'Close the tour', title: 'Close the tour (Esc)', onclick: () => closeTour() }, '×'),
    ),
    el('div', { class: 'tour-text' }),
    el(
      'div',
      { class: 'tour-nav' },
      el('div', { class: 'tour-do row' }),
      el(
        'div',
        { class: 'tour-steps row' },
        el('button', { type: 'button', id: 'tour-back', title: 'The previous step (←)', onclick: () => goToStep(state.tour.step - 1) }, '◂ Back'),
        el('button', { type: 'button', id: 'tour-next', class: 'primary', title: 'The next step (→); Esc closes the tour', onclick: () => (state.tour.step >= STEPS.length ? closeTour({ finished: true }) : goToStep(state.tour.step + 1)) }, 'Next ▸'),
      ),
    ),
  );
  root.addEventListener('keydown', (e) => {
    const t = /** @type {HTMLElement} */ (e.target);
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    // The page's own ←/→ walk the stages; inside the tour they walk its steps.
    e.preventDefault();
    e.stopPropagation();
    const k = state.tour.step + (e.key === 'ArrowRight' ? 1 : -1);
    if (k >= 1 && k <= STEPS.length) goToStep(k);
  });
}
