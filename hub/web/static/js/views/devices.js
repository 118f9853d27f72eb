// Device health for the technician: online/offline (retained state and last will), last seen,
// battery, RSSI, events waiting in the device's outbox, firmware.

import '../admin-i18n.js';
import { api } from '../api.js';
import { t, fmtAgo } from '../i18n.js';
import { h, clear, table, card, stat } from '../dom.js';

const STALE = 5 * 60_000; // milliseconds: online but silent this long is worth a look

export function devicesView(el) {
  const summary = h('div', { class: 'stats' });
  const list = h('div', { 'data-testid': 'devices' });
  el.append(h('div', { class: 'stats-row' }, summary), card(t('nav.devices'), list));
  return {
    async refresh() {
      const { devices } = await api('/api/devices');
      const now = Date.now();
      const online = devices.filter((d) => d.health.online).length;
      // -1 is mains power (市电), not an empty battery.
      const lowBattery = devices.filter((d) => d.health.bat !== null && d.health.bat >= 0 && d.health.bat < 20).length;
      const backlog = devices.reduce((n, d) => n + (d.health.outbox ?? 0), 0);
      clear(summary).append(
        stat(t('dev.online'), t('dev.summary', { online, total: devices.length }), { tone: online < devices.length ? 'warn' : 'good', testid: 'devices-online' }),
        stat(t('dev.battery') + ' < 20%', String(lowBattery), { tone: lowBattery ? 'warn' : '' }),
        stat(t('dev.outbox'), String(backlog), { tone: backlog ? 'warn' : '' }),
      );
      clear(list).append(table(
        [t('dev.device'), t('dev.role'), t('dev.window'), t('dev.online'), t('dev.lastSeen'), t('dev.battery'), t('dev.rssi'), t('dev.outbox'), t('dev.fw')],
        devices.map((d) => {
          const hl = d.health;
          const stale = hl.online && hl.lastSeen !== null && now - hl.lastSeen > STALE;
          return [
            h('code', null, d.id),
            t(`dev.${d.role}`).startsWith('⟦') ? d.role : t(`dev.${d.role}`),
            // A pad a supervisor replaced: still provisioned, no longer the window's rating pad.
            d.bound === false ? h('span', null, d.win, ' ', h('span', { class: 'badge st-paused', 'data-unbound': d.id }, t('dev.unbound'))) : d.win,
            h('span', { class: `badge ${hl.online ? (stale ? 'st-paused' : 'st-ok') : 'st-bad'}` }, hl.online ? t('dev.online') : t('dev.offline')),
            fmtAgo(hl.lastSeen, now),
            hl.bat === null ? '—' : hl.bat < 0 ? h('span', { 'data-testid': 'bat-mains' }, t('dev.mains')) : h('span', { class: hl.bat < 20 ? 'bad' : '' }, `${hl.bat}%`),
            hl.rssi === null ? '—' : `${hl.rssi} dBm`,
            hl.outbox === null ? '—' : h('span', { class: hl.outbox > 0 ? 'warn' : '' }, String(hl.outbox)),
            hl.fw ?? d.fw,
          ];
        }),
        { empty: t('common.none'), rowAttrs: (r, i) => ({ 'data-dev': devices[i].id, 'data-online': String(devices[i].health.online) }) },
      ));
    },
  };
}
