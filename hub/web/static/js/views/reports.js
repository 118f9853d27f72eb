// Reports: 月通报 (month), 季分析 (quarter), 年评议 (year) from /api/app/reports/<period>.json,
// shown in the page (hall figures, rankings, trend, case handling) with CSV and PDF downloads.

import { api } from '../api.js';
import { R, thisMonth } from '../routes.js';
import { t, fmtPercent } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { drawChart } from '../charts.js';
import { unavailable } from './common.js';

const KINDS = [
  { id: 'monthly', label: 'reports.monthly', period: () => thisMonth() },
  { id: 'quarterly', label: 'reports.quarterly', period: () => `${thisMonth().slice(0, 4)}-Q${Math.ceil(+thisMonth().slice(5) / 3)}` },
  { id: 'annual', label: 'reports.annual', period: () => thisMonth().slice(0, 4) },
];

function ranked(title, list, testid) {
  return card(title, table(
    ['#', t('reports.name'), t('ratings.count'), t('ratings.satisfaction'), t('ratings.badRate'), t('ratings.activeRate')],
    list.map((r) => [String(r.rank), r.name ?? r.id, String(r.figures.ratings), fmtPercent(r.figures.satisfaction), fmtPercent(r.figures.badRate), fmtPercent(r.figures.ratingRate)]),
    { empty: t('common.none'), testid },
  ));
}

export function renderReport(report) {
  const f = report.hall;
  const canvas = h('canvas', { 'data-testid': 'report-trend' });
  const c = report.cases;
  const out = [
    h('h2', { 'data-testid': 'report-title' }, report.title),
    h('div', { class: 'stats' },
      stat(t('ratings.count'), String(f.ratings)),
      stat(t('ratings.satisfaction'), fmtPercent(f.satisfaction), { testid: 'report-satisfaction' }),
      stat(t('ratings.badRate'), fmtPercent(f.badRate)),
      stat(t('ratings.activeRate'), fmtPercent(f.ratingRate)),
      stat(t('reports.callbackRate'), fmtPercent(c.callbackRate)),
      stat(t('reports.rectifyRate'), fmtPercent(c.rectifyRate))),
    card(t('reports.trend'), h('div', { class: 'chart' }, canvas)),
    h('div', { class: 'cols' }, ranked(t('common.department'), report.departments, 'report-departments'), ranked(t('hall.window'), report.windows, 'report-windows')),
    ranked(t('hall.item'), report.items, 'report-items'),
  ];
  queueMicrotask(() => drawChart(canvas, {
    type: 'line',
    data: { labels: report.trend.map((b) => b.bucket), datasets: [{ label: t('ratings.satisfaction'), data: report.trend.map((b) => (b.figures.satisfaction === null ? null : +(b.figures.satisfaction * 100).toFixed(1))), borderColor: '#1a7f37', spanGaps: true }] },
    options: { scales: { y: { min: 0, max: 100 } }, plugins: { legend: { display: false } } },
  }));
  return out;
}

export function reportsView(el) {
  const kind = h('select', { 'data-testid': 'report-kind' }, KINDS.map((k) => h('option', { value: k.id }, t(k.label))));
  const period = h('input', { 'data-testid': 'report-period', value: KINDS[0].period(), size: 12 });
  kind.addEventListener('change', () => { period.value = KINDS.find((k) => k.id === kind.value).period(); links(); });
  period.addEventListener('input', () => links());
  const csv = h('a', { class: 'secondary', 'data-testid': 'report-csv', download: '' }, t('reports.csv'));
  const pdf = h('a', { class: 'secondary', 'data-testid': 'report-pdf', target: '_blank' }, t('reports.pdf'));
  const body = h('div', { class: 'report', 'data-testid': 'report' });
  function links() {
    csv.href = R.report(period.value, 'csv');
    pdf.href = R.report(period.value, 'pdf');
  }
  const openReport = async () => {
    links();
    clear(body).append(t('common.loading'));
    try {
      clear(body).append(...renderReport(await api(R.report(period.value, 'json'))));
    } catch (error) {
      if (error.status === 400) { clear(body).append(h('p', { class: 'error' }, error.message)); return; }
      unavailable(body, error);
    }
  };
  el.append(card(t('reports.title'),
    h('div', { class: 'form-row' },
      h('label', null, t('reports.title'), kind),
      h('label', null, t('reports.period'), period),
      h('button', { class: 'primary', 'data-testid': 'report-open', onclick: () => void openReport() }, t('reports.open')),
      csv, pdf)),
  body);
  links();
  // A report is not a live figure: nothing to poll.
  return { async refresh() {} };
}
