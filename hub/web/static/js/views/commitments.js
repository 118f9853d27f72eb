// The commitment register (承诺台帐): each department's clauses with their targets against the
// results measured from the hall's own data.

import { api } from '../api.js';
import { R } from '../routes.js';
import { t } from '../i18n.js';
import { h, clear, table, card } from '../dom.js';
import { drawChart } from '../charts.js';
import { tOr, unavailable } from './common.js';

/** Percent metrics are shares 0..1; others (visits, ratios) are shown as numbers. */
export function fmtMetric(metric, value) {
  if (value === null || value === undefined) return '—';
  return /share|rate|satisfaction|Share|Rate/.test(metric) ? `${(value * 100).toFixed(1)}%` : String(Math.round(value * 100) / 100);
}

export function commitmentRows(list) {
  return list.map((c) => [
    c.clause ?? '',
    c.title,
    tOr(`metric.${c.metric}`, c.metric),
    fmtMetric(c.metric, c.target),
    fmtMetric(c.metric, c.measured ?? null),
    c.met === undefined || c.met === null ? '—' : h('span', { class: c.met ? 'good' : 'bad' }, c.met ? t('commit.met') : t('commit.notMet')),
  ]);
}

export function commitmentsView(el, { user }) {
  const department = user.role === 'head' ? user.department : undefined;
  const year = String(new Date().getFullYear());
  const list = h('div', { 'data-testid': 'commitments' });
  const canvas = h('canvas', { 'data-testid': 'commitments-chart' });
  el.append(card(`${t('commit.register')} · ${year}`, list), card(`${t('commit.target')} / ${t('commit.measured')}`, h('div', { class: 'chart' }, canvas)));
  return {
    async refresh() {
      let commitments;
      try {
        ({ commitments } = await api(R.commitments({ year, ...(department ? { department } : {}) })));
      } catch (error) { unavailable(list, error); return; }
      clear(list).append(table(
        [t('commit.clause'), t('commit.register'), t('commit.metric'), t('commit.target'), t('commit.measured'), ''],
        commitmentRows(commitments),
        { empty: t('common.none'), rowAttrs: (r, i) => ({ 'data-commitment': commitments[i].id }) },
      ));
      const shares = commitments.filter((c) => typeof c.target === 'number');
      drawChart(canvas, {
        type: 'bar',
        data: {
          labels: shares.map((c) => c.title.length > 12 ? `${c.title.slice(0, 12)}…` : c.title),
          datasets: [
            { label: t('commit.target'), data: shares.map((c) => c.target), backgroundColor: '#8c959f' },
            { label: t('commit.measured'), data: shares.map((c) => c.measured ?? null), backgroundColor: shares.map((c) => (c.met === false ? '#cf222e' : '#1a7f37')) },
          ],
        },
        options: { scales: { y: { beginAtZero: true } } },
      });
    },
  };
}
