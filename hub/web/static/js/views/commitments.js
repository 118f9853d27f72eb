// The commitment register (承诺台帐): each department's clauses with their targets against the
// results measured from the hall's own data.

import { api, ApiError } from '../api.js';
import { form, hubErrorText, stacked } from '../forms.js';
import { byClause } from '../clause.js';
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

const NO_DATA_WHY = { visits: 'visits', satisfaction: 'ratings', badRate: 'ratings', compression: 'items', onSpot: 'items', online: 'online', none: 'none' };
/** The verdict cell: 达成 / 未达成, or "no data yet, because …" instead of a green 达成 over nothing. */
function verdict(c) {
  const m = measuredOf(c);
  if (m.value === null || m.value === undefined) return h('span', { class: 'muted', 'data-testid': 'no-data' }, t('commit.noData', { why: t(`commit.noData.${NO_DATA_WHY[c.metric] ?? 'default'}`) }));
  if (m.met === null) return '—';
  return h('span', { class: m.met ? 'good' : 'bad' }, m.met ? t('commit.met') : t('commit.notMet'));
}
/** A sparkline of the monthly trend, as text: ▁▃▅▇ (empty months are a dot). */
function trendText(c) {
  const tr = c.measured && typeof c.measured === 'object' ? c.measured.trend ?? [] : [];
  const vals = tr.map((x) => x.value).filter((v) => v !== null && v !== undefined);
  if (!vals.length) return '—';
  const lo = Math.min(...vals), hi = Math.max(...vals);
  return tr.map((x) => (x.value === null || x.value === undefined ? '·' : '▁▂▃▄▅▆▇'[hi === lo ? 3 : Math.round(((x.value - lo) / (hi - lo)) * 6)])).join('');
}

export function commitmentRows(list) {
  return list.map((c) => [
    c.clause ?? '',
    c.title,
    tOr(`metric.${c.metric}`, c.metric),
    fmtMetric(c.metric, c.target),
    fmtMetric(c.metric, measuredOf(c).value),
    verdict(c),
  ]);
}

export function commitmentsView(el, { user } = {}) {
  const year = String(new Date().getFullYear());
  const list = h('div', { 'data-testid': 'commitments', class: 'scroll-x' });
  const canvas = h('canvas', { 'data-testid': 'commitments-chart' });
  const rowError = h('div', { class: 'error', role: 'alert', 'data-testid': 'commitment-row-error' });
  const importMsg = h('div', { class: 'muted', role: 'status', 'data-testid': 'commitment-import-msg' });
  let editing = null; // the commitment being revised, or null for a new one
  let departments = [];
  const heading = h('h3', { 'data-testid': 'commitment-form-heading' }, t('commit.new'));
  const fields = (c) => [
    // The hall's departments by name once known (the hub still checks a head's own).
    { name: 'department', label: t('common.department'), required: true, value: c?.department ?? (user?.role === 'head' ? user.department : ''), options: departments.length ? departments.map((d) => [d.id, d.name]) : undefined },
    { name: 'year', label: t('commit.year'), type: 'number', required: true, min: 2000, max: 2100, value: String(c?.year ?? year) },
    { name: 'clause', label: t('commit.clause'), required: true, value: c?.clause ?? '' },
    { name: 'title', label: t('commit.title'), required: true, value: c?.title ?? '' },
    { name: 'metric', label: t('commit.metric'), options: ['satisfaction', 'badRate', 'compression', 'visits', 'onSpot', 'online', 'none'].map((m) => [m, tOr(`metric.${m}`, m)]), value: c?.metric ?? 'satisfaction' },
    { name: 'item', label: t('commit.item'), value: c?.item ?? '' },
    { name: 'target', label: t('commit.targetHint'), type: 'number', step: 'any', value: c?.target ?? '' },
    { name: 'measures', label: t('commit.measures'), type: 'textarea', required: true, value: c?.measures ?? '' },
    { name: 'owner', label: t('commit.owner'), required: true, value: c?.owner ?? '' },
    { name: 'deadline', label: t('commit.deadline'), type: 'date', required: true, value: c?.deadline ?? `${year}-12-31` },
    { name: 'note', label: t('commit.note'), type: 'textarea', required: !!c, value: '' },
  ];
  const formBox = h('div');
  function showForm(c) {
    editing = c ?? null;
    heading.textContent = c ? `${t('commit.edit')} · ${c.clause}` : t('commit.new');
    const f = form({
      testid: 'commitment-form',
      keep: !!c,
      fields: fields(c),
      async onSubmit(v) {
        const body = { department: v.department, year: Number(v.year), clause: v.clause, title: v.title, metric: v.metric, item: v.item || null, target: v.target === '' ? null : Number(v.target), measures: v.measures, owner: v.owner, deadline: v.deadline, note: v.note || (editing ? '' : null) };
        if (editing) await api(`/api/app/commitments/${encodeURIComponent(editing.id)}`, { method: 'PUT', body });
        else await api('/api/app/commitments', { method: 'POST', body });
        await view.refresh();
        // A new one saved: a fresh form for the next; a revision stays open to show what was saved.
        if (!editing) { showForm(null); formBox.prepend(h('div', { class: 'ok-text', 'data-testid': 'commitment-created' }, `${t('admin.saved')}：${body.clause}`)); }
      },
    });
    clear(formBox).append(f.el);
  }
  async function publish(c) {
    rowError.textContent = '';
    try { await api(`/api/app/commitments/${encodeURIComponent(c.id)}/publish`, { method: 'POST', body: {} }); await view.refresh(); } catch (error) { rowError.textContent = hubErrorText(error); }
  }
  // CSV import: the file's text as text/csv; the hub takes all rows or none and names line and column.
  const file = h('input', { type: 'file', accept: '.csv,text/csv', 'data-testid': 'commitment-import-file', 'aria-label': t('commit.import') });
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    if (!f) return;
    importMsg.textContent = '';
    const res = await fetch('/api/app/commitments/import', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'text/csv', accept: 'application/json' }, body: await f.text() });
    const json = await res.json().catch(() => ({}));
    importMsg.textContent = res.ok ? t('commit.imported', { n: json.imported }) : hubErrorText(new ApiError(res.status, json, 'import'));
    file.value = '';
    if (res.ok) await view.refresh();
  });
  const tools = h('div', { class: 'toolbar' },
    h('a', { class: 'button', href: `/api/app/commitments/export.csv?year=${year}`, download: 'commitments.csv', 'data-testid': 'commitment-export' }, t('commit.export')),
    user?.role === 'supervisor' ? h('label', { class: 'button' }, t('commit.import'), file) : null,
    h('button', { type: 'button', 'data-testid': 'commitment-new', onclick: () => showForm(null) }, t('commit.new')),
    importMsg);
  el.append(card(`${t('commit.register')} · ${year}`, tools, list, rowError), card(null, heading, formBox), card(`${t('commit.target')} / ${t('commit.measured')}`, h('div', { class: 'chart' }, canvas)));
  // The form comes with the first refresh, once the departments are known: it is built once, not swapped under the user's hands.
  let formShown = false;
  const view = {
    async refresh() {
      let commitments;
      try {
        ({ commitments } = await api(R.commitments({ year })));
        if (!formShown) {
          departments = (await api(R.setup)).departments ?? [];
          formShown = true;
          showForm(null);
        }
      } catch (error) { unavailable(list, error); return; }
      // Department, then clause as a number: 第二条 before 第三条, 第十条 after 第九条.
      commitments.sort((a, b) => a.department.localeCompare(b.department) || byClause(a.clause, b.clause));
      const deptName = (id) => departments.find((d) => d.id === id)?.name ?? id;
      const rows = commitmentRows(commitments).map((r, i) => {
        const c = commitments[i];
        const state = c.publishedVersion === c.version ? t('commit.published') : c.publishedVersion ? `${t('commit.draft')} (v${c.version})` : t('commit.draft');
        const actions = h('span', { class: 'row-actions' },
          h('button', { type: 'button', 'data-testid': `commitment-edit-${c.clause}`, onclick: () => showForm(c) }, t('commit.edit')),
          user?.role === 'supervisor' && c.publishedVersion !== c.version ? h('button', { type: 'button', class: 'primary', 'data-testid': `commitment-publish-${c.clause}`, onclick: () => publish(c) }, t('commit.publish')) : null);
        return [deptName(c.department), ...r, trendText(c), h('span', { 'data-testid': 'commitment-state' }, state), actions];
      });
      clear(list).append(stacked(table(
        [t('common.department'), t('commit.clause'), t('commit.title'), t('commit.metric'), t('commit.target'), t('commit.measured'), t('commit.verdict'), t('commit.trend'), t('commit.state'), t('admin.actions')],
        rows,
        { empty: t('common.none'), rowAttrs: (r, i) => ({ 'data-commitment': commitments[i].id, 'data-clause': commitments[i].clause }) },
      )));
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
  return view;
}
