// The commitment register (承诺台帐): each department's clauses with their targets against the
// results measured from the hall's own data.

import { api } from '../api.js';
import { R } from '../routes.js';
import { t } from '../i18n.js';
import { h, clear, table, card } from '../dom.js';
import { drawChart } from '../charts.js';
import { tOr, unavailable } from './common.js';

const SHARES = new Set(['compression', 'onSpot', 'online', 'satisfaction', 'badRate']);
/** Share metrics are 0..1 and shown as percent; average visits as a number. */
export function fmtMetric(metric, value) {
  if (value === null || value === undefined) return '—';
  return SHARES.has(metric) ? `${(value * 100).toFixed(1)}%` : String(Math.round(value * 100) / 100);
}
/** The measured value and verdict, whether the hub nests them ({ measured: { value, met } }) or not. */
function measuredOf(c) {
  const m = c.measured;
  return m && typeof m === 'object' ? { value: m.value, met: m.met } : { value: m ?? null, met: c.met ?? null };
}

export function commitmentRows(list) {
  return list.map((c) => [
    c.clause ?? '',
    c.title,
    tOr(`metric.${c.metric}`, c.metric),
    fmtMetric(c.metric, c.target),
    fmtMetric(c.metric, measuredOf(c).value),
    measuredOf(c).met === null ? '—' : h('span', { class: measuredOf(c).met ? 'good' : 'bad' }, measuredOf(c).met ? t('commit.met') : t('commit.notMet')),
  ]);
}

export function commitmentsView(el) {
  const year = String(new Date().getFullYear());
  const list = h('div', { 'data-testid': 'commitments' });
  const canvas = h('canvas', { 'data-testid': 'commitments-chart' });
  el.append(card(`${t('commit.register')} · ${year}`, list), card(`${t('commit.target')} / ${t('commit.measured')}`, h('div', { class: 'chart' }, canvas)));
  return {
    async refresh() {
      let commitments;
      try {
        ({ commitments } = await api(R.commitments({ year })));
      } catch (error) { unavailable(list, error); return; }
      clear(list).append(table(
        [t('commit.clause'), t('commit.title'), t('commit.metric'), t('commit.target'), t('commit.measured'), ''],
        commitmentRows(commitments),
        { empty: t('common.none'), rowAttrs: (r, i) => ({ 'data-commitment': commitments[i].id }) },
      ));
      const shares = commitments.filter((c) => typeof c.target === 'number' && SHARES.has(c.metric));
      drawChart(canvas, {
        type: 'bar',
        data: {
          labels: shares.map((c) => c.title.length > 12 ? `${c.title.slice(0, 12)}…` : c.title),
          datasets: [
            { label: t('commit.target'), data: shares.map((c) => c.target), backgroundColor: '#8c959f' },
            { label: t('commit.measured'), data: shares.map((c) => measuredOf(c).value), backgroundColor: shares.map((c) => (measuredOf(c).met === false ? '#cf222e' : '#1a7f37')) },
          ],
        },
        options: { scales: { y: { beginAtZero: true, ticks: { callback: (v) => `${Math.round(v * 100)}%` } } } },
      });
    },
  };
}
