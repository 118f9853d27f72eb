// The 好差评 platform push for the supervisor (hub/platform/platform.ts): the reconciliation
// report — queued, sent, acknowledged, failed with the platform's reasons — and a button that
// puts refused records back once their cause is fixed.

import { api } from '../api.js';
import { t, fmtDateTime } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';
import { R } from '../routes.js';

export function platformView(el) {
  const summary = h('div', { class: 'stats', 'data-testid': 'platform-summary' });
  const failures = h('div', { 'data-testid': 'platform-failures' });
  const retrying = h('div', { 'data-testid': 'platform-retrying' });
  const retry = h('button', { type: 'button', 'data-testid': 'platform-retry' }, t('platform.retry'));
  retry.addEventListener('click', async () => {
    await api(R.platformRetry, { method: 'POST', body: {} });
    await view.refresh();
  });
  el.append(h('div', { class: 'stats-row' }, summary), card(t('platform.failures'), h('div', null, failures, retry)), card(t('platform.retrying'), retrying));
  const view = {
    async refresh() {
      const r = await api(R.platformReport);
      clear(summary).append(
        stat(t('platform.adapter'), r.enabled ? `${r.adapter} / ${r.profile}` : t('platform.off'), { testid: 'platform-adapter' }),
        stat(t('platform.queued'), String(r.queued), { testid: 'platform-queued' }),
        stat(t('platform.sent'), String(r.sent), { testid: 'platform-sent' }),
        stat(t('platform.acked'), String(r.acknowledged), { tone: r.acknowledged === r.queued ? 'good' : '', testid: 'platform-acked' }),
        stat(t('platform.failed'), String(r.failed), { tone: r.failed ? 'bad' : '', testid: 'platform-failed' }),
        stat(t('platform.waiting'), String(r.waiting), { tone: r.waiting ? 'warn' : '', testid: 'platform-waiting' }),
      );
      retry.disabled = r.failed === 0;
      clear(failures).append(table([t('platform.record'), t('platform.caseNo'), t('platform.attempts'), t('platform.reason')],
        r.failures.map((f) => [h('code', null, f.id), f.caseNo, String(f.attempts), f.reason ?? '']), { empty: t('common.none') }));
      clear(retrying).append(table([t('platform.record'), t('platform.attempts'), t('platform.nextAt'), t('platform.reason')],
        r.retrying.map((f) => [h('code', null, f.id), String(f.attempts), fmtDateTime(f.nextAt), f.reason ?? '']), { empty: t('common.none') }));
    },
  };
  return view;
}
