// Forms of the administration screens: browser-side validation (required, pattern, min/max via
// the inputs' own attributes) and the hub's { error, message, field } shown in Chinese beside
// the field it names, the hub's own English words after it.

import './admin-i18n.js';
import { t } from './i18n.js';
import { h, clear } from './dom.js';

// The hub's messages that a user meets most, turned into Chinese (the English stays beside it).
const KNOWN = [
  [/may not edit .* commitments/, 'err.headOther'],
  [/too short|at least \d+ characters/i, 'err.tooShort'],
  [/current password is wrong/, 'err.wrongCurrent'],
  [/is not set up|is not registered/, 'err.notSetUp'],
  [/last active supervisor/, 'err.lastSupervisor'],
  [/already bound to user/, 'err.staffBound'],
];

/** Chinese first, then the hub's message: "无权操作：部门负责人只能编辑本部门的承诺（a head of …）". */
export function hubErrorText(error) {
  const status = error?.status;
  const head = t([400, 401, 403, 404, 409, 429].includes(status) ? `err.${status}` : 'err.other');
  const msg = error?.body?.message ?? error?.message ?? '';
  const known = KNOWN.find(([re]) => re.test(msg));
  return `${head}${known ? `：${t(known[1])}` : ''}${msg ? `（${msg}）` : ''}`;
}

/**
 * fields: [{ name, label, type?, required?, pattern?, min?, max?, options?: [[value, text]], value? }]
 * onSubmit(values) → a promise; its ApiError's field gets the message beside that input.
 */
export function form({ testid, fields, submit, onSubmit, keep = false, okText }) {
  const general = h('div', { class: 'error', role: 'alert', 'data-testid': `${testid}-error` });
  const ok = h('div', { class: 'ok-text', role: 'status', 'data-testid': `${testid}-ok` });
  const inputs = new Map();
  const errs = new Map();
  const rows = fields.map((f) => {
    const attrs = { name: f.name, id: `${testid}-${f.name}`, required: f.required, pattern: f.pattern, min: f.min, max: f.max, 'data-testid': `${testid}-${f.name}`, 'aria-describedby': `${testid}-${f.name}-err` };
    let input;
    if (f.options) input = h('select', attrs, f.options.map(([v, text]) => h('option', { value: v, selected: String(f.value ?? '') === v }, text)));
    else if (f.type === 'checkbox') input = h('input', { ...attrs, type: 'checkbox', checked: !!f.value });
    else if (f.type === 'textarea') input = h('textarea', { ...attrs, rows: 2 }, f.value ?? '');
    else input = h('input', { ...attrs, type: f.type ?? 'text', value: f.value ?? '', step: f.step, autocomplete: f.type === 'password' ? 'new-password' : 'off' });
    const err = h('span', { class: 'field-error', id: `${testid}-${f.name}-err`, 'data-testid': `${testid}-${f.name}-err` });
    inputs.set(f.name, input);
    errs.set(f.name, err);
    return h('label', { class: `field${f.type === 'checkbox' ? ' check' : ''}` }, h('span', { class: 'field-label' }, f.label), input, err);
  });
  const el = h('form', { class: 'admin-form', 'data-testid': testid, novalidate: true }, rows, h('div', { class: 'form-actions' }, h('button', { class: 'primary', type: 'submit', 'data-testid': `${testid}-submit` }, submit ?? t('common.save'))), general, ok);
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    general.textContent = ''; ok.textContent = '';
    for (const x of errs.values()) x.textContent = '';
    // The browser's own checks first, each said in Chinese beside its field.
    let bad = false;
    for (const [name, input] of inputs) {
      if (input.checkValidity()) continue;
      bad = true;
      errs.get(name).textContent = input.validity.valueMissing ? t('err.required') : `${t('err.400')}（${input.validationMessage}）`;
    }
    if (bad) return;
    const values = {};
    for (const [name, input] of inputs) values[name] = input.type === 'checkbox' ? input.checked : input.value.trim();
    try {
      await onSubmit(values);
      // Saved: an empty form for the next entry (a typed password does not linger).
      if (!keep) el.reset();
      ok.textContent = okText ?? t('admin.saved');
    } catch (error) {
      const field = String(error?.body?.field ?? '').replace(/^body\./, '').split('.')[0];
      const target = errs.get(field);
      (target ?? general).textContent = hubErrorText(error);
    }
  });
  return { el, inputs, reset: () => { el.reset(); clear(ok); } };
}

/** Marks a table to stack on a phone: each cell is labelled with its column's header (admin.css). */
export function stacked(tableEl) {
  const heads = [...tableEl.querySelectorAll('thead th')].map((th) => th.textContent);
  tableEl.classList.add('stacked');
  for (const tr of tableEl.querySelectorAll('tbody tr')) [...tr.children].forEach((td, i) => { if (heads[i]) td.dataset.label = heads[i]; });
  return tableEl;
}
