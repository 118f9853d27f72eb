// The citizens' suggestion box (意见箱), no sign-in, made for a phone: 建议 / 投诉 / 表扬, the text,
// and optionally the department or window. POST /api/public/suggestions; the hub's refusal is
// shown beside its field.

import { api } from './api.js';
import { t } from './i18n.js';
import { h, card } from './dom.js';
import { form } from './forms.js';

const el = document.getElementById('view');
const done = h('p', { class: 'ok-text', role: 'status', 'data-testid': 'suggest-done' });
const f = form({
  testid: 'suggest-form',
  submit: t('sug.submit'),
  okText: '', // the thanks below says it
  fields: [
    { name: 'category', label: t('sug.category'), options: [['建议', '建议'], ['投诉', '投诉'], ['表扬', '表扬']] },
    { name: 'text', label: t('sug.text'), type: 'textarea', required: true },
    { name: 'win', label: t('sug.win') },
  ],
  async onSubmit(v) {
    await api('/api/public/suggestions', { method: 'POST', body: { category: v.category, text: v.text, win: v.win || null } });
    done.textContent = t('sug.thanks');
  },
});
el.append(card(t('sug.title'), h('p', { class: 'muted' }, t('sug.intro')), f.el, done));
