// Reports: 月通报 (month), 季分析 (quarter), 年评议 (year). Opens the report in the page and
// offers its CSV and PDF downloads from the hub.

import { api } from '../api.js';
import { R, thisMonth } from '../routes.js';
import { t, fmtPercent } from '../i18n.js';
import { h, clear, table, card } from '../dom.js';
import { unavailable } from './common.js';

const KINDS = [
  { id: 'monthly', label: 'reports.monthly', period: () => thisMonth() },
  { id: 'quarterly', label: 'reports.quarterly', period: () => { const m = +thisMonth().slice(5); return `${thisMonth().slice(0, 4)}-Q${Math.ceil(m / 3)}`; } },
  { id: 'annual', label: 'reports.annual', period: () => thisMonth().slice(0, 4) },
];

/** Renders any report object: scalars as a definition list, arrays of objects as tables. */
function renderReport(report) {
  const out = [];
  const scalars = [];
  for (const [k, v] of Object.entries(report)) {
    if (Array.isArray(v) && v.length && typeof v[0] === 'object') {
      const cols = Object.keys(v[0]).filter((c) => typeof v[0][c] !== 'object' || v[0][c] === null);
      out.push(h('h3', null, k), table(cols, v.map((row) => cols.map((c) => fmt(c, row[c])))));
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      out.push(h('h3', null, k), h('dl', null, Object.entries(v).filter(([, x]) => typeof x !== 'object' || x === null).map(([a, b]) => [h('dt', null, a), h('dd', null, fmt(a, b))])));
    } else if (!Array.isArray(v)) scalars.push([k, v]);
  }
  return [h('dl', null, scalars.map(([a, b]) => [h('dt', null, a), h('dd', null, fmt(a, b))])), ...out];
}
function fmt(key, v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number' && /rate|satisfaction|share/i.test(key)) return fmtPercent(v);
  return String(v);
}

export function reportsView(el, { user }) {
  const department = user.role === 'head' ? user.department : undefined;
  const kind = h('select', { 'data-testid': 'report-kind' }, KINDS.map((k) => h('option', { value: k.id }, t(k.label))));
  const period = h('input', { 'data-testid': 'report-period', value: KINDS[0].period(), size: 12 });
  kind.addEventListener('change', () => { period.value = KINDS.find((k) => k.id === kind.value).period(); });
  const csv = h('a', { class: 'secondary', 'data-testid': 'report-csv', download: '' }, t('reports.csv'));
  const pdf = h('a', { class: 'secondary', 'data-testid': 'report-pdf', download: '' }, t('reports.pdf'));
  const body = h('div', { class: 'report', 'data-testid': 'report' });
  const links = () => {
    const q = department ? `&department=${encodeURIComponent(department)}` : '';
    csv.href = R.report(kind.value, period.value, 'csv') + q;
    pdf.href = R.report(kind.value, period.value, 'pdf') + q;
  };
  const openReport = async () => {
    links();
    clear(body).append(t('common.loading'));
    try {
      const q = department ? `&department=${encodeURIComponent(department)}` : '';
      const r = await api(R.report(kind.value, period.value) + q);
      clear(body).append(h('h2', null, `${t(KINDS.find((k) => k.id === kind.value).label)} · ${period.value}`), ...renderReport(r.report ?? r));
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
  // Reports are not live figures: nothing to poll.
  return { async refresh() {} };
}
