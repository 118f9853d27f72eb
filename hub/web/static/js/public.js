// The public view (no sign-in): published commitments against measured results, and the
// exposure board. Only what the hub publishes under /api/public is fetched.

import { api } from './api.js';
import { R } from './routes.js';
import { t, translate, getLang, setLang, fmtDateTime } from './i18n.js';
import { h, clear, table, card } from './dom.js';
import { commitmentRows } from './views/commitments.js';

async function render() {
  translate();
  document.title = t('app.public');
  const view = clear(document.getElementById('view'));
  const commitments = h('div', { 'data-testid': 'public-commitments' });
  const exposures = h('div', { 'data-testid': 'public-exposures' });
  view.append(card(t('public.commitments'), commitments), card(t('public.exposure'), exposures));
  try {
    const { commitments: list } = await api(R.publicCommitments);
    commitments.append(table([t('commit.clause'), t('commit.title'), t('commit.metric'), t('commit.target'), t('commit.measured'), ''], commitmentRows(list), { empty: t('public.none'), rowAttrs: (r, i) => ({ 'data-commitment': list[i].id }) }));
  } catch (error) {
    commitments.append(h('p', { class: 'muted' }, error.status === 404 ? t('common.unavailable') : `${t('common.error')}: ${error.message}`));
  }
  try {
    const { exposures: list } = await api(R.publicExposures);
    exposures.append(...(list.length === 0 ? [h('p', { class: 'muted' }, t('public.none'))] : list.map((x) => h('article', { class: 'card', 'data-exposure': x.id },
      h('h3', null, x.title), h('p', { class: 'muted' }, fmtDateTime(x.at)), h('p', null, x.body), x.rectification ? h('p', { class: 'good' }, x.rectification) : null))));
  } catch (error) {
    exposures.append(h('p', { class: 'muted' }, error.status === 404 ? t('common.unavailable') : `${t('common.error')}: ${error.message}`));
  }
}

setLang(getLang());
document.getElementById('lang').addEventListener('click', () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); void render(); });
void render();
