// Bad-rating cases with their clocks: a filterable list (status, overdue, department, window,
// date range, search) with paging and CSV export, closed cases included when asked; alerts for
// cases near their deadline. Opening a case shows its steps and a form for the step that is due
// (callback reached / not reached and retried → rectify → feedback → review: close or send
// back), and a supervisor's decision on a pending appeal. The hub decides who may take which
// step (403 otherwise).

import { api } from '../api.js';
import { R } from '../routes.js';
import { t, fmtDateTime, fmtLeft } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { levelBadge, reasonText, unavailable, stageText } from './common.js';
import { hubErrorText, stacked } from '../forms.js';
import '../admin-i18n.js';

const PAGE = 20; // cases a page
const NEAR = 24 * 3600_000; // milliseconds: "near the deadline"

/** CSV text (a BOM so a spreadsheet reads the Chinese as UTF-8; formula-looking cells quoted). */
function csv(rows) {
  const cell = (v) => { let s = v === null || v === undefined ? '' : String(v); if (/^[=+\-@]/.test(s)) s = `'${s}`; return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  return '\ufeff' + rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export function casesView(el, { user }) {
  const stats = h('div', { class: 'stats' });
  const alert = h('div', { class: 'near-deadline', role: 'status', 'data-testid': 'cases-near', hidden: true });
  const list = h('div', { 'data-testid': 'cases' });
  const pager = h('div', { class: 'toolbar', 'data-testid': 'cases-pager' });
  const detail = h('div', { 'data-testid': 'case-detail' });
  const filter = { status: 'open', overdue: false, department: '', win: '', from: '', to: '', q: '' };
  let page = 0;
  let setup = { departments: [], windows: [] };
  let shown = [];

  const sel = (name, options) => h('select', { name, 'data-testid': `cases-filter-${name}`, onchange: (e) => { filter[name] = e.target.value; page = 0; void view.refresh(); } }, options.map(([v, text]) => h('option', { value: v }, text)));
  const deptSel = sel('department', [['', t('cases.all')]]);
  const winSel = sel('win', [['', t('cases.all')]]);
  const input = (name, type, label) => h('label', null, label, h('input', { name, type, 'data-testid': `cases-filter-${name}`, onchange: (e) => { filter[name] = type === 'checkbox' ? e.target.checked : e.target.value; page = 0; void view.refresh(); } }));
  const exportLink = h('a', { class: 'button', href: '#', 'data-testid': 'cases-export', download: 'cases.csv' }, t('cases.export'));
  exportLink.addEventListener('click', () => {
    const rows = [[t('ratings.time'), t('ratings.level'), t('ratings.reason'), t('cases.department'), t('cases.window'), t('cases.stage'), t('cases.deadline'), t('cases.appeal')],
      ...shown.map((c) => [fmtDateTime(c.ratedAt), t(`rating.${c.level}`), reasonText(c.reason), c.department ?? '', c.win ?? '', stageText(c.status), c.due ? fmtDateTime(c.due) : '', c.appeal ? stageText(`appeal${c.appeal === 'pending' ? '' : `-${c.appeal}`}`) : ''])];
    exportLink.href = URL.createObjectURL(new Blob([csv(rows)], { type: 'text/csv;charset=utf-8' }));
  });
  const filters = h('div', { class: 'case-filters', 'data-testid': 'cases-filters' },
    h('label', null, t('cases.status'), sel('status', [['open', t('cases.open')], ['', t('cases.all')], ...['callback', 'rectify', 'feedback', 'review', 'closed'].map((s) => [s, stageText(s)])])),
    input('overdue', 'checkbox', t('cases.overdueOnly')),
    user.role === 'supervisor' ? h('label', null, t('cases.department'), deptSel) : null,
    h('label', null, t('cases.window'), winSel),
    input('from', 'date', t('cases.from')), input('to', 'date', t('cases.to')),
    h('label', null, t('cases.search'), h('input', { type: 'search', 'data-testid': 'cases-filter-q', oninput: (e) => { filter.q = e.target.value.trim(); page = 0; void view.refresh(); } })),
    exportLink);
  el.append(h('div', { class: 'stats-row' }, stats), alert, h('div', { class: 'cols' }, card(t('nav.cases'), filters, list, pager), detail));
  let selected = null;

  async function step(c, name, body, error) {
    try {
      await api(R.caseStep(c.id, name), { method: 'POST', body });
      await showDetail(c.id);
      await view.refresh();
    } catch (err) {
      error.textContent = hubErrorText(err);
    }
  }

  async function showDetail(id) {
    selected = id;
    const c = await api(R.caseOne(id)).then((r) => r.case ?? r);
    const form = h('form', { class: 'step-form', 'data-testid': 'case-form', 'data-step': c.status });
    const note = h('textarea', { name: 'note', rows: 3, cols: 40, required: true, 'data-testid': 'case-note' });
    const error = h('div', { class: 'error', role: 'alert', 'data-testid': 'case-error' });
    const needNote = () => { if (!note.value.trim()) { error.textContent = `${t('err.400')}：${t('cases.note')}${t('err.required')}`; return false; } return true; };
    // Review is a supervisor's step; a head sees where the case stands but has no form for it.
    if (c.status !== 'closed' && !(c.status === 'review' && user.role !== 'supervisor')) {
      const extra = c.status === 'callback'
        ? h('button', { type: 'button', 'data-testid': 'case-not-reached', onclick: () => { if (needNote()) void step(c, 'callback', { note: note.value, reached: false }, error); } }, t('cases.notReached'))
        : c.status === 'review'
          ? h('button', { type: 'button', 'data-testid': 'case-send-back', onclick: () => { if (needNote()) void step(c, 'review', { note: note.value, reopen: true }, error); } }, t('cases.sendBack'))
          : null;
      form.append(h('label', null, `${stageText(c.status)} · ${t('cases.note')}`), h('br'), note,
        h('div', { class: 'row-actions' }, h('button', { class: 'primary', type: 'submit', 'data-testid': 'case-submit' }, c.status === 'callback' ? `${t('cases.reached')}，${t('cases.do')}${stageText(c.status)}` : `${t('cases.do')}${stageText(c.status)}`), extra), error);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        if (needNote()) void step(c, c.status, c.status === 'callback' ? { note: note.value, reached: true } : { note: note.value }, error);
      });
    }
    // A pending appeal: the supervisor decides; an upheld one closes the case and leaves it out of the figures.
    let appeal = null;
    if (c.appeal === 'pending' && user.role === 'supervisor') {
      const why = h('textarea', { rows: 2, cols: 40, 'data-testid': 'appeal-note' });
      const aerr = h('div', { class: 'error', role: 'alert', 'data-testid': 'appeal-error' });
      const decide = async (uphold) => {
        if (!why.value.trim()) { aerr.textContent = `${t('err.400')}：${t('cases.decisionNote')}${t('err.required')}`; return; }
        try {
          await api(`${R.caseOne(c.id)}/appeal/decision`, { method: 'POST', body: { uphold, note: why.value } });
          await showDetail(c.id);
          await view.refresh();
        } catch (err) { aerr.textContent = hubErrorText(err); }
      };
      appeal = h('div', { class: 'appeal-box', 'data-testid': 'appeal-form' }, h('h3', null, t('cases.decide')), h('p', null, `${t('cases.appealReason')}：${c.appealReason ?? ''}`),
        h('label', null, t('cases.decisionNote')), h('br'), why,
        h('div', { class: 'row-actions' }, h('button', { type: 'button', class: 'primary', 'data-testid': 'appeal-uphold', onclick: () => decide(true) }, t('cases.uphold')), h('button', { type: 'button', 'data-testid': 'appeal-reject', onclick: () => decide(false) }, t('cases.reject'))), aerr);
    }
    const attempts = (c.steps ?? []).filter((s) => s.step === 'callback-failed').length;
    clear(detail).append(card(`${t('cases.detail')} ${c.number ?? ''}`,
      h('p', null, levelBadge(c.level), ' ', reasonText(c.reason), ' · ', c.win ?? '—', ' · ', fmtDateTime(c.ratedAt)),
      h('p', { 'data-testid': 'case-status', 'data-status': c.status, 'data-appeal': c.appeal ?? '' }, `${t('cases.stage')}: ${stageText(c.status)}`,
        c.due ? h('span', { class: c.overdue ? 'overdue-text' : 'muted' }, ` · ${fmtLeft(c.due - Date.now())}`) : null,
        attempts ? h('span', { class: 'muted', 'data-testid': 'case-attempts' }, ` · ${t('cases.notReached')} ×${attempts}`) : null,
        c.outcome === 'appeal-upheld' ? h('span', { class: 'bad', 'data-testid': 'case-excluded' }, ` · ${t('cases.excluded')}`) : null),
      h('ol', { class: 'steps' }, (c.steps ?? []).map((s) => h('li', null, `${s.at ? fmtDateTime(s.at) : s.day} · ${stageText(s.step)}${s.by ? ` · ${s.by}` : ''}${s.note ? ` — ${s.note}` : ''}`))),
      appeal, form));
  }

  const period = () => (filter.from || filter.to ? `${filter.from || '2000-01-01'}..${filter.to || '2999-12-31'}` : undefined);
  const view = {
    async refresh() {
      let cases, open;
      try {
        if (!setup.windows.length) {
          setup = await api(R.setup);
          for (const d of setup.departments) deptSel.append(h('option', { value: d.id }, d.name));
          for (const w of setup.windows) winSel.append(h('option', { value: w.id }, w.name));
        }
        const q = { ...(filter.status ? { status: filter.status } : {}), ...(filter.overdue ? { overdue: '1' } : {}), ...(period() ? { period: period() } : {}) };
        [{ cases }, { cases: open }] = await Promise.all([api(R.cases(q)), api(R.cases({ status: 'open' }))]);
      } catch (error) { unavailable(list, error); return; }
      const now = Date.now();
      const overdue = open.filter((c) => c.due !== null && c.due < now).length;
      const near = open.filter((c) => c.due !== null && c.due >= now && c.due - now < NEAR);
      clear(stats).append(
        stat(t('cases.open'), String(open.length), { testid: 'cases-open' }),
        stat(t('cases.overdue'), String(overdue), { tone: overdue ? 'bad' : 'good', testid: 'cases-overdue' }),
      );
      alert.hidden = !near.length;
      alert.textContent = t('cases.nearDeadline', { n: near.length });
      const needle = filter.q.toLowerCase();
      const items = new Map((setup.items ?? []).map((i) => [i.code, i.name]));
      shown = cases.filter((c) => (!filter.department || c.department === filter.department) && (!filter.win || c.win === filter.win)
        && (!needle || [c.number, c.win, c.item, items.get(c.item), c.reason, reasonText(c.reason), c.department].some((x) => x && String(x).toLowerCase().includes(needle))));
      // Most urgent first; closed ones (no deadline) after, newest first.
      shown.sort((a, b) => (a.due ?? Infinity) - (b.due ?? Infinity) || b.ratedAt - a.ratedAt);
      const pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(page, pages - 1);
      const rows = shown.slice(page * PAGE, (page + 1) * PAGE);
      clear(list).append(stacked(table(
        [t('ratings.time'), t('ratings.level'), t('ratings.reason'), t('ratings.window'), t('cases.stage'), t('cases.left')],
        rows.map((c) => [fmtDateTime(c.ratedAt), levelBadge(c.level), reasonText(c.reason), c.win ?? '—', h('span', null, stageText(c.status), c.appeal === 'pending' ? ` · ${t('cases.appeal')}` : ''),
          c.due === null ? '—' : h('span', { class: c.due < now ? 'overdue-text' : '' }, fmtLeft(c.due - now))]),
        { empty: t('cases.empty'), rowAttrs: (r, i) => ({ class: `clickable${rows[i].due !== null && rows[i].due < now ? ' overdue' : ''}`, 'data-case': rows[i].id, 'data-status': rows[i].status, onclick: () => void showDetail(rows[i].id) }) },
      )));
      clear(pager).append(
        h('button', { type: 'button', disabled: page === 0, 'data-testid': 'cases-prev', onclick: () => { page--; void view.refresh(); } }, t('cases.prev')),
        h('span', { 'data-testid': 'cases-page' }, t('cases.page', { page: page + 1, pages, n: shown.length })),
        h('button', { type: 'button', disabled: page >= pages - 1, 'data-testid': 'cases-next', onclick: () => { page++; void view.refresh(); } }, t('cases.next')));
      if (selected && !cases.some((c) => c.id === selected)) { /* keep showing a just-closed case */ }
    },
  };
  return view;
}
