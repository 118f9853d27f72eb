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

const minutesOf = (ms) => (ms === null || ms === undefined ? '—' : (ms / 60_000).toFixed(1));
const signedPoints = (v) => (v === null || v === undefined ? '—' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}`);
const signedMinutes = (v) => (v === null || v === undefined ? '—' : `${v >= 0 ? '+' : ''}${(v / 60_000).toFixed(1)}`);

function ranked(title, list, testid, withTimes = true) {
  const head = ['#', t('reports.name'), t('ratings.count'), t('ratings.satisfaction'), t('ratings.badRate'), t('ratings.activeRate')];
  const times = withTimes ? [t('reports.meanWait'), t('reports.p90Wait'), t('reports.meanService'), t('reports.p90Service')] : [];
  return card(title, h('div', { class: 'scroll-x' }, table(
    [...head, ...times],
    list.map((r) => [String(r.rank), r.name ?? r.id, String(r.figures.ratings), fmtPercent(r.figures.satisfaction), fmtPercent(r.figures.badRate), fmtPercent(r.figures.ratingRate),
      ...(withTimes ? [minutesOf(r.times?.meanWaitMs), minutesOf(r.times?.p90WaitMs), minutesOf(r.times?.meanServiceMs), minutesOf(r.times?.p90ServiceMs)] : [])]),
    { empty: t('common.none'), testid },
  )));
}

function comparison(report) {
  const p = report.previous;
  const f = report.hall;
  const c = report.cases;
  return card(`${t('reports.previous')}（${t('reports.lastPeriod')} ${p.period.label}）`, table(
    [t('reports.metric'), t('reports.thisPeriod'), t('reports.lastPeriod'), t('reports.change')],
    [
      [t('ratings.count'), String(f.ratings), String(p.hall.ratings), `${p.change.ratings >= 0 ? '+' : ''}${p.change.ratings}`],
      [t('ratings.satisfaction'), fmtPercent(f.satisfaction), fmtPercent(p.hall.satisfaction), signedPoints(p.change.satisfaction)],
      [t('ratings.badRate'), fmtPercent(f.badRate), fmtPercent(p.hall.badRate), signedPoints(p.change.badRate)],
      [t('ratings.activeRate'), fmtPercent(f.ratingRate), fmtPercent(p.hall.ratingRate), signedPoints(p.change.ratingRate)],
      [t('reports.meanWait'), minutesOf(report.times.meanWaitMs), minutesOf(p.times.meanWaitMs), signedMinutes(p.change.meanWaitMs)],
      [t('reports.meanService'), minutesOf(report.times.meanServiceMs), minutesOf(p.times.meanServiceMs), signedMinutes(p.change.meanServiceMs)],
      [t('reports.callbackRate'), fmtPercent(c.callbackRate), fmtPercent(p.cases.callbackRate), signedPoints(p.change.callbackRate)],
      [t('reports.rectifyRate'), fmtPercent(c.rectifyRate), fmtPercent(p.cases.rectifyRate), signedPoints(p.change.rectifyRate)],
    ],
    { testid: 'report-previous' },
  ));
}

export function renderReport(report) {
  const f = report.hall;
  const canvas = h('canvas', { 'data-testid': 'report-trend' });
  const levels = h('canvas', { 'data-testid': 'report-levels' });
  const c = report.cases;
  const out = [
    h('h2', { 'data-testid': 'report-title' }, `${report.hallName ?? ''} ${report.title}`),
    h('p', { class: 'muted' }, `${t('reports.generated')} ${new Date(report.generatedAt).toLocaleString('zh-CN', { hour12: false })}（${report.timeZone ?? ''}）`),
    h('div', { class: 'stats' },
      stat(t('ratings.count'), String(f.ratings)),
      stat(t('ratings.satisfaction'), fmtPercent(f.satisfaction), { testid: 'report-satisfaction' }),
      stat(t('ratings.badRate'), fmtPercent(f.badRate)),
      stat(t('ratings.activeRate'), fmtPercent(f.ratingRate)),
      stat(`${t('reports.meanWait')}（${t('common.minutes')}）`, minutesOf(report.times?.meanWaitMs), { testid: 'report-mean-wait' }),
      stat(`${t('reports.p90Service')}（${t('common.minutes')}）`, minutesOf(report.times?.p90ServiceMs)),
      stat(t('reports.cases'), String(c.cases)),
      stat(t('reports.callbackRate'), fmtPercent(c.callbackRate)),
      stat(t('reports.rectifyRate'), fmtPercent(c.rectifyRate)),
      stat(t('reports.overdue'), String(c.overdue), { tone: c.overdue > 0 ? 'bad' : '', testid: 'report-overdue' })),
    h('div', { class: 'cols' },
      card(t('reports.levels'), h('div', { class: 'chart' }, levels)),
      card(t('reports.trend'), h('div', { class: 'chart' }, canvas))),
    report.previous ? comparison(report) : null,
    ranked(t('common.department'), report.departments, 'report-departments', false),
    ranked(`${t('hall.window')}（${t('reports.unitMinutes')}）`, report.windows, 'report-windows'),
    ranked(`${t('reports.staff')}（${t('reports.unitMinutes')}）`, report.staff, 'report-staff'),
    ranked(`${t('hall.item')}（${t('reports.unitMinutes')}）`, report.items, 'report-items'),
  ];
  queueMicrotask(() => {
    drawChart(levels, {
      type: 'bar',
      data: { labels: [1, 2, 3, 4, 5].map((l) => t(`rating.${l}`)), datasets: [{ label: t('ratings.count'), data: f.levels, backgroundColor: ['#c62828', '#ef6c00', '#9e9e9e', '#66bb6a', '#1a7f37'] }] },
      options: { plugins: { legend: { display: false } } },
    });
    drawChart(canvas, {
      type: 'line',
      data: { labels: report.trend.map((b) => b.bucket), datasets: [{ label: t('ratings.satisfaction'), data: report.trend.map((b) => (b.figures.satisfaction === null ? null : +(b.figures.satisfaction * 100).toFixed(1))), borderColor: '#1a7f37', spanGaps: true }] },
      options: { scales: { y: { min: 0, max: 100 } }, plugins: { legend: { display: false } } },
    });
  });
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
