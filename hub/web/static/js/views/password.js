// Own password (every signed-in role): POST /api/auth/password { current, password }. The hub
// ends the user's sessions on a change, so the form sends them to sign in again.

import { api } from '../api.js';
import { t } from '../i18n.js';
import { card } from '../dom.js';
import { form } from '../forms.js';
import { ApiError } from '../api.js';

export function passwordView(el, { onChanged } = {}) {
  const f = form({
    testid: 'password-form',
    submit: t('common.save'),
    fields: [
      { name: 'current', label: t('pw.current'), type: 'password', required: true },
      { name: 'password', label: t('pw.new'), type: 'password', required: true },
      { name: 'repeat', label: t('pw.repeat'), type: 'password', required: true },
    ],
    async onSubmit(v) {
      if (v.password !== v.repeat) throw new ApiError(400, { message: t('pw.mismatch'), field: 'repeat' }, 'password');
      await api('/api/auth/password', { method: 'POST', body: { current: v.current, password: v.password } });
      alert(t('pw.done'));
      onChanged?.();
    },
  });
  el.append(card(t('pw.title'), f.el));
  return { async refresh() {} };
}
