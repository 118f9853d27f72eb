// Window staff: their window now (current number, status, queue) and their own ratings and
// cases. A rating or case shows level, reason, item and the day (never the time) — never the ticket number or anything else
// that could tell who gave it.

import { api } from '../api.js';
import { R, thisMonth } from '../routes.js';
import { t, fmtPercent } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { levelBadge, reasonText, stageText, unavailable } from './common.js';
import { statusText } from './hall.js';
import { hubErrorText } from '../forms.js';

export function mineView(el, { user }) {
  // An appeal (申诉) against one of their ratings: a reason, sent to the supervisor who decides it.
  function appealForm(c) {
    const reason = h('textarea', { rows: 2, cols: 40, 'data-testid': 'appeal-reason' }); // checked below, said in Chinese
    const error = h('div', { class: 'error', role: 'alert', 'data-testid': 'appeal-staff-error' });
    const f = h('form', { 'data-testid': 'appeal-staff-form' }, h('label', null, t('cases.appealReason')), h('br'), reason,
      h('div', { class: 'row-actions' }, h('button', { class: 'primary', type: 'submit', 'data-testid': 'appeal-submit' }, t('cases.appealSubmit')), h('button', { type: 'button', onclick: () => { f.remove(); void view.refresh(); } }, t('common.cancel'))), error);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) { error.textContent = `${t('err.400')}：${t('cases.appealReason')}${t('err.required')}`; return; }
      try {
        await api(`${R.caseOne(c.id)}/appeal`, { method: 'POST', body: { reason: reason.value } });
        f.remove();
        await view.refresh();
      } catch (err) { error.textContent = hubErrorText(err); }
    });
    cases.append(f);
  }

  const win = h('div', { 'data-testid': 'my-window' });
  const stats = h('div', { class: 'stats' });
  const ratings = h('div', { 'data-testid': 'my-ratings' });
  const cases = h('div', { 'data-testid': 'my-cases' });
  el.append(card(t('mine.window'), win), h('div', { class: 'stats-row' }, stats), card(t('ratings.mine'), ratings), card(t('cases.open'), cases));
  const view = {
    async refresh() {
      const [setup, snap] = await Promise.all([api(R.setup), api(R.hall)]);
      const me = setup.staff.find((s) => s.id === user.staff);
      const w = me?.win ? snap.windows.find((x) => x.id === me.win) : undefined;
      clear(win).append(w
        ? h('div', { class: 'stats' },
          stat(t('hall.window'), w.name),
          stat(t('hall.current'), w.ticket ?? '—', { testid: 'my-current' }),
          stat(t('hall.status'), statusText(w)),
          stat(t('hall.queue'), String(w.waiting), { testid: 'my-queue' }))
        : h('p', { class: 'muted' }, t('mine.notSignedIn')));
      try {
        // This month's ratings of the signed-in staff member: the day, level, reason and item only.
        const mine = await api(R.myRatings(thisMonth()));
        const items = new Map(setup.items.map((i) => [i.code, i.name]));
        clear(stats).append(
          stat(`${thisMonth()} · ${t('ratings.count')}`, String(mine.ratings.length), { testid: 'my-count' }),
          stat(t('ratings.satisfaction'), fmtPercent(mine.satisfaction), { testid: 'my-satisfaction' }),
          stat(t('ratings.badRate'), fmtPercent(mine.badRate)),
        );
        clear(ratings).append(table(
          [t('ratings.day'), t('ratings.level'), t('ratings.reason'), t('hall.item')],
          [...mine.ratings].reverse().map((r) => [r.day, levelBadge(r.level), reasonText(r.reason), items.get(r.item) ?? r.item ?? '—']),
          { empty: t('common.none') },
        ));
      } catch (error) { unavailable(ratings, error); }
      try {
        const mine = (await api(R.cases({ status: 'open' }))).cases;
        // While the appeal form is open, the poll leaves it be.
        if (cases.querySelector('[data-testid=appeal-staff-form]')) return;
        clear(cases).append(table(
          [t('ratings.day'), t('ratings.level'), t('ratings.reason'), t('cases.stage'), t('cases.appeal')],
          mine.map((c) => [c.ratedDay, levelBadge(c.level), reasonText(c.reason), stageText(c.status),
            c.appeal ? (c.appeal === 'pending' ? t('cases.appealed') : stageText(`appeal-${c.appeal}`)) : h('button', { type: 'button', 'data-testid': `appeal-open-${c.id}`, onclick: () => appealForm(c) }, t('cases.appeal'))]),
          { empty: t('cases.empty'), rowAttrs: (_r, i) => ({ 'data-case': mine[i].id }) },
        ));
      } catch (error) { unavailable(cases, error); }
    },
  };
  return view;
}
