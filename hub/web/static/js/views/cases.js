// Open bad-rating cases with their clocks: time to the current step's deadline, overdue in red.
// Opening a case shows its steps and a form for the step that is due (callback → rectify →
// feedback → review). The hub decides who may take which step (403 otherwise).

import { api } from '../api.js';
import { R } from '../routes.js';
import { t, fmtDateTime, fmtLeft } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { levelBadge, reasonText, unavailable, stageText } from './common.js';


export function casesView(el, { user }) {
  const stats = h('div', { class: 'stats' });
  const list = h('div', { 'data-testid': 'cases' });
  const detail = h('div', { 'data-testid': 'case-detail' });
  el.append(h('div', { class: 'stats-row' }, stats), h('div', { class: 'cols' }, card(t('cases.open'), list), detail));
  let selected = null;

  async function showDetail(id) {
    selected = id;
    const c = await api(R.caseOne(id)).then((r) => r.case ?? r);
    const form = h('form', { class: 'step-form', 'data-testid': 'case-form', 'data-step': c.status });
    const note = h('textarea', { name: 'note', rows: 3, cols: 40, required: true, 'data-testid': 'case-note' });
    const error = h('div', { class: 'error', role: 'alert', 'data-testid': 'case-error' });
    // Review is a supervisor's step; a head sees where the case stands but has no form for it.
    if (c.status !== 'closed' && !(c.status === 'review' && user.role !== 'supervisor')) {
      form.append(h('label', null, `${stageText(c.status)} · ${t('cases.note')}`), h('br'), note, h('div', null, h('button', { class: 'primary', type: 'submit', 'data-testid': 'case-submit' }, `${t('cases.do')}${stageText(c.status)}`)), error);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
          await api(R.caseStep(c.id, c.status), { method: 'POST', body: { note: note.value } });
          await showDetail(c.id);
          await view.refresh();
        } catch (err) {
          error.textContent = `${t('common.error')}: ${err.message}`;
        }
      });
    }
    clear(detail).append(card(`${t('cases.detail')} ${c.number ?? ''}`,
      h('p', null, levelBadge(c.level), ' ', reasonText(c.reason), ' · ', c.win ?? '—', ' · ', fmtDateTime(c.ratedAt)),
      h('p', { 'data-testid': 'case-status', 'data-status': c.status }, `${t('cases.stage')}: ${stageText(c.status)}`,
        c.due ? h('span', { class: c.overdue ? 'overdue-text' : 'muted' }, ` · ${fmtLeft(c.due - Date.now())}`) : null),
      h('ol', { class: 'steps' }, (c.steps ?? []).map((s) => h('li', null, `${fmtDateTime(s.at)} · ${stageText(s.step)}${s.by ? ` · ${s.by}` : ''}${s.note ? ` — ${s.note}` : ''}`))),
      form));
  }

  const view = {
    async refresh() {
      let cases;
      try {
        ({ cases } = await api(R.cases({ status: 'open' })));
      } catch (error) { unavailable(list, error); return; }
      const now = Date.now();
      const overdue = cases.filter((c) => c.due !== null && c.due < now).length;
      clear(stats).append(
        stat(t('cases.open'), String(cases.length), { testid: 'cases-open' }),
        stat(t('cases.overdue'), String(overdue), { tone: overdue ? 'bad' : 'good', testid: 'cases-overdue' }),
      );
      // Most urgent first.
      cases.sort((a, b) => (a.due ?? Infinity) - (b.due ?? Infinity));
      clear(list).append(table(
        [t('ratings.time'), t('ratings.level'), t('ratings.reason'), t('ratings.window'), t('cases.stage'), t('cases.left')],
        cases.map((c) => [fmtDateTime(c.ratedAt), levelBadge(c.level), reasonText(c.reason), c.win ?? '—', stageText(c.status),
          c.due === null ? '—' : h('span', { class: c.due < now ? 'overdue-text' : '' }, fmtLeft(c.due - now))]),
        { empty: t('cases.empty'), rowAttrs: (r, i) => ({ class: `clickable${cases[i].due !== null && cases[i].due < now ? ' overdue' : ''}`, 'data-case': cases[i].id, onclick: () => void showDetail(cases[i].id) }) },
      ));
      if (selected && !cases.some((c) => c.id === selected)) { /* keep showing a just-closed case */ }
    },
  };
  return view;
}
