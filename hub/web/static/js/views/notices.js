// Notices and alerts (hub/notices/): the satisfaction alerts, the citizen notices' counts and the
// failed ones (with a retry). watchAlerts() keeps one event stream open for a supervisor on any
// view, so an alert shows at once, not at the next poll.

import { api } from '../api.js';
import { t, fmtDateTime } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';

export function noticesView(el) {
  const alerts = h('div', { 'data-testid': 'alerts' });
  const counts = h('div', { class: 'stats', 'data-testid': 'notice-counts' });
  const failures = h('div', { 'data-testid': 'notice-failures' });
  el.append(card(t('notices.alerts'), alerts), card(t('notices.counts'), counts), card(t('notices.failures'), failures));
  const view = {
    async refresh() {
      const [a, s] = await Promise.all([api('/api/alerts?limit=20'), api('/api/notices/summary')]);
      clear(alerts).append(table([t('notices.at'), t('notices.text')], a.alerts.map((x) => [fmtDateTime(x.at), x.text]), { empty: t('notices.alert.none'), testid: 'alert-list' }));
      clear(counts).append(
        stat(t('notices.adapter'), s.adapter),
        stat(t('notices.pending'), s.counts.pending, { testid: 'notices-pending' }),
        stat(t('notices.sent'), s.counts.sent, { testid: 'notices-sent' }),
        stat(t('notices.failed'), s.counts.failed, { tone: s.counts.failed ? 'bad' : null, testid: 'notices-failed' }),
        stat(t('notices.skipped'), s.counts.skipped));
      clear(failures).append(table(
        [t('notices.at'), t('notices.kind'), t('notices.ticket'), t('notices.to'), t('notices.attempts'), t('notices.error'), ''],
        s.failures.map((n) => [fmtDateTime(n.createdAt), n.kind, n.ticket ?? '—', n.to, n.attempts, n.error ?? '—',
          h('button', { 'data-testid': 'notice-retry', onclick: async () => { await api(`/api/notices/${encodeURIComponent(n.id)}/retry`, { method: 'POST' }); await view.refresh(); } }, t('notices.retry'))]),
        { empty: t('notices.none'), testid: 'failure-list' }));
    },
  };
  return view;
}

/** For a supervisor: a banner above every view with each alert as it comes (the browser reconnects by itself). */
export function watchAlerts(main) {
  let banner = document.getElementById('alert-banner');
  if (!banner) {
    banner = h('div', { id: 'alert-banner', class: 'hub-warning', role: 'alert', 'data-testid': 'alert-banner', hidden: true });
    main.prepend(banner);
  }
  const source = new EventSource('/api/alerts/stream');
  source.addEventListener('alert', (e) => {
    const alert = JSON.parse(e.data);
    banner.hidden = false;
    banner.prepend(h('div', { 'data-testid': 'alert-item' }, `${t('notices.alert.new')} · ${fmtDateTime(alert.at)} · ${alert.text}`));
    while (banner.childElementCount > 3) banner.lastChild.remove();
  });
  return () => { source.close(); banner.hidden = true; clear(banner); };
}
