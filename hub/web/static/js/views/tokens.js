// API tokens for machines (a ticket kiosk, a technician's CLI, a metrics scraper): the supervisor
// creates one, sees its secret once (the hub keeps only a digest), and revokes it. Who made each
// one and when it ends are shown; every create and revoke is also a ledger row.

import { api } from '../api.js';
import { t, fmtDateTime } from '../i18n.js';
import { h, clear, table, card } from '../dom.js';

const ROLES = ['technician', 'supervisor', 'kiosk'];

export function tokensView(el) {
  const list = h('div', { 'data-testid': 'tokens' });
  const name = h('input', { name: 'name', required: true, maxlength: 64, 'data-testid': 'token-name' });
  const role = h('select', { name: 'role', 'data-testid': 'token-role' }, ROLES.map((r) => h('option', { value: r }, t(`tokens.role.${r}`))));
  const days = h('input', { name: 'days', type: 'number', min: 1, max: 3650, placeholder: t('tokens.never'), 'data-testid': 'token-days' });
  const error = h('p', { class: 'error', 'data-testid': 'token-error' });
  const secret = h('div', { 'data-testid': 'token-secret-box' });
  let view;
  const form = h('form', { class: 'step-form', 'data-testid': 'token-form' },
    h('label', null, t('tokens.name'), ' ', name), ' ',
    h('label', null, t('tokens.role'), ' ', role), ' ',
    h('label', null, t('tokens.days'), ' ', days), ' ',
    h('button', { class: 'primary', type: 'submit', 'data-testid': 'token-create' }, t('tokens.create')),
    error, secret);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(error);
    clear(secret);
    try {
      const made = await api('/api/tokens', { method: 'POST', body: { name: name.value, role: role.value, days: days.value === '' ? null : Number(days.value) } });
      // Shown once: the hub cannot show it again.
      secret.append(h('p', null, t('tokens.copyNow', { name: made.name })), h('code', { class: 'secret', 'data-testid': 'token-secret' }, made.token));
      name.value = '';
      days.value = '';
      await view.refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  el.append(card(t('tokens.new'), form), card(t('nav.tokens'), list));
  view = {
    async refresh() {
      const { tokens } = await api('/api/tokens');
      clear(list).append(table(
        [t('tokens.name'), t('tokens.role'), t('tokens.createdBy'), t('tokens.created'), t('tokens.expires'), t('tokens.state'), ''],
        tokens.map((k) => {
          const ended = k.revokedAt !== null || (k.expiresAt !== null && k.expiresAt <= Date.now());
          const revoke = k.revokedAt === null && k.id !== 'startup'
            ? h('button', {
              'data-testid': 'token-revoke',
              onclick: async () => {
                if (!window.confirm(t('tokens.confirmRevoke', { name: k.name }))) return;
                try {
                  await api(`/api/tokens/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
                } catch (err) {
                  error.textContent = err.message;
                }
                await view.refresh();
              },
            }, t('tokens.revoke'))
            : null;
          return [
            k.name,
            t(`tokens.role.${k.role}`),
            k.createdBy ?? '—',
            fmtDateTime(k.createdAt),
            k.expiresAt === null ? t('tokens.never') : fmtDateTime(k.expiresAt),
            h('span', { class: `badge ${ended ? 'st-bad' : 'st-ok'}` }, k.revokedAt !== null ? t('tokens.revoked') : ended ? t('tokens.expired') : t('tokens.active')),
            revoke,
          ];
        }),
        { empty: t('common.none'), rowAttrs: (_r, i) => ({ 'data-token': tokens[i].name, 'data-revoked': String(tokens[i].revokedAt !== null) }) },
      ));
    },
  };
  return view;
}
