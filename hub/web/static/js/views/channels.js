// Channels (supervisor): the suggestion box's entries with the reply workflow (answered,
// verified, rejected; each reply a ledger row), and the exposure board (曝光台): publish an
// entry, withdraw one with a note.

import { api } from '../api.js';
import { t, fmtDateTime } from '../i18n.js';
import { h, clear, table, card } from '../dom.js';
import { form, hubErrorText, stacked } from '../forms.js';
import { tOr, unavailable } from './common.js';

export function suggestionsView(el) {
  const list = h('div', { 'data-testid': 'suggestions' });
  const box = h('div');
  el.append(card(t('nav.suggestions'), h('p', null, h('a', { href: '/app/suggest.html', 'data-testid': 'suggest-link' }, t('sug.publicLink'))), list), box);
  let replying = null;
  function replyForm(s) {
    replying = s.id;
    const f = form({
      testid: 'reply-form',
      fields: [
        { name: 'status', label: t('sug.status'), options: ['answered', 'verified', 'rejected'].map((x) => [x, t(`sug.st.${x}`)]) },
        { name: 'reply', label: t('sug.reply'), type: 'textarea', required: true },
      ],
      async onSubmit(v) { await api(`/api/app/suggestions/${encodeURIComponent(s.id)}/reply`, { method: 'POST', body: { reply: v.reply, status: v.status } }); replying = null; await view.refresh(); },
    });
    clear(box).append(card(`${t('sug.reply')} · ${tOr(`sug.cat.${s.category}`, s.category)}`, h('p', null, s.text), f.el));
  }
  const view = {
    async refresh() {
      let suggestions;
      try { ({ suggestions } = await api('/api/app/suggestions')); } catch (error) { unavailable(list, error); return; }
      clear(list).append(stacked(table([t('ratings.time'), t('sug.category'), t('sug.text'), t('cases.window'), t('sug.status'), t('sug.reply'), t('admin.actions')],
        suggestions.map((s) => [fmtDateTime(s.at), tOr(`sug.cat.${s.category}`, s.category), s.text, s.win ?? '—', t(`sug.st.${s.status}`), s.reply ?? '—',
          h('button', { type: 'button', 'data-testid': `reply-${s.id}`, onclick: () => replyForm(s) }, t('sug.reply'))]),
        { empty: t('common.none'), testid: 'suggestions-table', rowAttrs: (_r, i) => ({ 'data-suggestion': suggestions[i].id, 'data-status': suggestions[i].status }) })));
      if (!replying) clear(box);
    },
  };
  return view;
}

export function exposuresView(el) {
  const list = h('div', { 'data-testid': 'exposures' });
  const rowError = h('div', { class: 'error', role: 'alert', 'data-testid': 'exposure-row-error' });
  const f = form({
    testid: 'exposure-form',
    fields: [
      { name: 'title', label: t('exp.title'), required: true },
      { name: 'body', label: t('exp.body'), type: 'textarea', required: true },
      { name: 'department', label: t('common.department') },
      { name: 'win', label: t('cases.window') },
      { name: 'rectification', label: t('exp.rectification'), type: 'textarea' },
    ],
    async onSubmit(v) { await api('/api/app/exposures', { method: 'POST', body: { title: v.title, body: v.body, department: v.department || null, win: v.win || null, rectification: v.rectification || null } }); await view.refresh(); },
  });
  el.append(card(t('nav.exposure'), list, rowError), card(t('exp.new'), f.el));
  async function withdraw(x) {
    rowError.textContent = '';
    const note = prompt(t('exp.withdrawWhy'));
    if (!note) return;
    try { await api(`/api/app/exposures/${encodeURIComponent(x.id)}/withdraw`, { method: 'POST', body: { note } }); await view.refresh(); } catch (error) { rowError.textContent = hubErrorText(error); }
  }
  const view = {
    async refresh() {
      const { exposures } = await api('/api/public/exposures');
      clear(list).append(stacked(table([t('ratings.time'), t('exp.title'), t('exp.body'), t('exp.rectification'), t('admin.actions')],
        exposures.map((x) => [fmtDateTime(x.at), x.title, x.body, x.rectification ?? '—', h('button', { type: 'button', 'data-testid': `withdraw-${x.id}`, onclick: () => withdraw(x) }, t('exp.withdraw'))]),
        { empty: t('common.none'), testid: 'exposures-table', rowAttrs: (_r, i) => ({ 'data-exposure': exposures[i].id }) })));
    },
  };
  return view;
}
