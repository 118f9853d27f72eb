// Window staff: their window now (current number, status, queue) and their own ratings and
// cases. A rating or case shows level, reason, item and the day (never the time) — never the ticket number or anything else
// that could tell who gave it.

import { api } from '../api.js';
import { R, thisMonth } from '../routes.js';
import { t, fmtPercent } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { levelBadge, reasonText, stageText, unavailable } from './common.js';
import { statusText } from './hall.js';

export function mineView(el, { user }) {
  const win = h('div', { 'data-testid': 'my-window' });
  const stats = h('div', { class: 'stats' });
  const ratings = h('div', { 'data-testid': 'my-ratings' });
  const cases = h('div', { 'data-testid': 'my-cases' });
  el.append(card(t('mine.window'), win), h('div', { class: 'stats-row' }, stats), card(t('ratings.mine'), ratings), card(t('cases.open'), cases));
  return {
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
        clear(cases).append(table(
          [t('ratings.day'), t('ratings.level'), t('ratings.reason'), t('cases.stage')],
          mine.map((c) => [c.ratedDay, levelBadge(c.level), reasonText(c.reason), stageText(c.status)]),
          { empty: t('cases.empty') },
        ));
      } catch (error) { unavailable(cases, error); }
    },
  };
}
