// Live hall: every window's current number, status and staff; queue length and average wait
// per service item. A department head sees the windows and items of their department only.

import { api } from '../api.js';
import { t, fmtMinutes } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { drawChart } from '../charts.js';

export function statusText(w) {
  return w.paused ? t('status.paused') : t(`status.${w.status}`).startsWith('⟦') ? w.status : t(`status.${w.status}`);
}

/** Narrows a hall snapshot to one department (its items, and the windows that serve them). */
export function forDepartment(snapshot, setup, department) {
  if (!department) return snapshot;
  const items = snapshot.items.filter((i) => i.department === department);
  const codes = new Set(items.map((i) => i.code));
  const wins = new Set(setup.windows.filter((w) => w.items.some((c) => codes.has(c))).map((w) => w.id));
  const windows = snapshot.windows.filter((w) => wins.has(w.id));
  const waiting = items.reduce((n, i) => n + i.waiting, 0);
  const called = items.filter((i) => i.avgWaitMs !== null);
  return { ...snapshot, items, windows, waiting, avgWaitMs: called.length ? called.reduce((s, i) => s + i.avgWaitMs, 0) / called.length : null };
}

export function hallView(el, { user }) {
  const stats = h('div', { class: 'stats' });
  const windows = h('div', { 'data-testid': 'hall-windows' });
  const items = h('div', { 'data-testid': 'hall-items' });
  const canvas = h('canvas', { 'data-testid': 'hall-chart' });
  el.append(
    h('div', { class: 'stats-row' }, stats),
    h('div', { class: 'cols' },
      card(t('hall.windows'), windows),
      h('div', null, card(t('hall.items'), items), card(t('hall.chart'), h('div', { class: 'chart' }, canvas)))),
  );
  let setup = null;
  return {
    async refresh() {
      if (!setup || Math.random() < 0.1) setup = await api('/api/queue/setup');
      const snap = forDepartment(await api('/api/queue/hall'), setup, user.role === 'head' ? user.department : null);
      const staffName = new Map(setup.staff.map((s) => [s.id, s.name]));
      clear(stats).append(
        stat(t('hall.waiting'), String(snap.waiting), { testid: 'hall-waiting' }),
        stat(t('hall.avgWait'), fmtMinutes(snap.avgWaitMs)),
        stat(t('hall.windows'), String(snap.windows.length)),
      );
      clear(windows).append(table(
        [t('hall.window'), t('hall.current'), t('hall.status'), t('hall.staff'), t('hall.queue')],
        snap.windows.map((w) => ({
          cells: [w.name, h('span', { class: 'ticket' }, w.ticket ?? '—'), h('span', { class: `badge st-${w.paused ? 'paused' : w.status}` }, statusText(w)), w.staff ? staffName.get(w.staff) ?? w.staff : '—', String(w.waiting)],
        })),
        { rowAttrs: (r, i) => ({ 'data-win': snap.windows[i].id }), empty: t('common.none') },
      ));
      clear(items).append(table(
        [t('hall.item'), t('hall.waiting'), t('hall.avgWait')],
        snap.items.map((i) => [i.name, String(i.waiting), fmtMinutes(i.avgWaitMs)]),
        { empty: t('common.none'), rowAttrs: (r, i) => ({ 'data-item': snap.items[i].code }) },
      ));
      drawChart(canvas, {
        type: 'bar',
        data: { labels: snap.items.map((i) => i.name), datasets: [{ label: t('hall.waiting'), data: snap.items.map((i) => i.waiting), backgroundColor: '#2f6fde' }] },
        options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    },
  };
}
