// Live ratings: today's figures (满意率, 差评率, 主动评价率), the level distribution, the
// 30-day satisfaction trend and the latest bad ratings. A department head sees their department.

import { api } from '../api.js';
import { levelBadge, reasonText, unavailable, stageText } from './common.js';
import { R, todayPeriod, lastDaysPeriod, totalFigures } from '../routes.js';
import { t, fmtPercent, fmtDateTime } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { drawChart, LEVEL_COLOURS } from '../charts.js';

export function ratingsView(el) {
  const stats = h('div', { class: 'stats' });
  const levels = h('canvas', { 'data-testid': 'ratings-levels-chart' });
  const trend = h('canvas', { 'data-testid': 'ratings-trend-chart' });
  const bad = h('div', { 'data-testid': 'recent-bad' });
  el.append(
    h('div', { class: 'stats-row' }, stats),
    h('div', { class: 'cols' },
      card(t('ratings.trend'), h('div', { class: 'chart' }, trend)),
      card(`${t('common.today')} · ${t('ratings.levels')}`, h('div', { class: 'chart' }, levels))),
    card(t('ratings.recentBad'), bad),
  );
  let trendAt = 0;
  let tr = [];
  return {
    async refresh() {
      let f;
      try {
        f = totalFigures((await api(R.figures(todayPeriod()))).rows);
      } catch (error) { unavailable(stats, error); return; }
      clear(stats).append(
        stat(`${t('common.today')} · ${t('ratings.count')}`, String(f.ratings), { testid: 'ratings-count' }),
        stat(t('ratings.satisfaction'), fmtPercent(f.satisfaction), { tone: f.satisfaction === null ? '' : f.satisfaction >= 0.95 ? 'good' : 'warn', testid: 'ratings-satisfaction' }),
        stat(t('ratings.badRate'), fmtPercent(f.badRate), { tone: f.bad ? 'bad' : '', testid: 'ratings-badrate' }),
        stat(t('ratings.activeRate'), fmtPercent(f.ratingRate), { testid: 'ratings-activerate' }),
      );
      drawChart(levels, {
        type: 'doughnut',
        data: { labels: [5, 4, 3, 2, 1].map((l) => t(`rating.${l}`)), datasets: [{ data: [5, 4, 3, 2, 1].map((l) => f.levels[l - 1]), backgroundColor: [5, 4, 3, 2, 1].map((l) => LEVEL_COLOURS[l]) }] },
        options: { plugins: { legend: { position: 'right' } } },
      });
      // The trend comes from the report of the last 30 days (daily buckets); it moves slowly, so once a minute.
      if (!trendAt || Date.now() - trendAt > 60_000) {
        tr = (await api(R.report(lastDaysPeriod(30), 'json'))).trend;
        trendAt = Date.now();
      }
      drawChart(trend, {
        type: 'line',
        data: {
          labels: tr.map((b) => b.bucket.slice(5)),
          datasets: [{ label: t('ratings.satisfaction'), data: tr.map((b) => (b.figures.satisfaction === null ? null : +(b.figures.satisfaction * 100).toFixed(1))), borderColor: '#1a7f37', backgroundColor: '#1a7f37', spanGaps: true }],
        },
        options: { scales: { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } }, plugins: { legend: { display: false } } },
      });
      try {
        const cases = (await api(R.cases({ period: lastDaysPeriod(30) }))).cases.slice(0, 10);
        clear(bad).append(table(
          [t('ratings.time'), t('ratings.level'), t('ratings.reason'), t('ratings.window'), t('ratings.ticket'), t('cases.stage')],
          cases.map((c) => [fmtDateTime(c.ratedAt), levelBadge(c.level), reasonText(c.reason), c.win ?? '—', c.number ?? '—', stageText(c.status)]),
          { empty: t('common.none') },
        ));
      } catch (error) { unavailable(bad, error); }
    },
  };
}
