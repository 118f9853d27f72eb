// Pieces shared by the views.

import { ApiError } from '../api.js';
import { t } from '../i18n.js';
import { h, clear } from '../dom.js';

export function levelBadge(level) {
  return h('span', { class: `lv lv-${level}`, 'data-level': String(level) }, t(`rating.${level}`));
}

/** A key's text, or the raw value when the dictionary has no such key. */
export function tOr(key, raw) {
  const s = t(key);
  return s.startsWith('⟦') ? raw : s;
}

export function reasonText(reason) {
  return reason ? tOr(`reason.${reason}`, reason) : '—';
}

const STEP_OF = { rectify: 'rectification' };
export function stageText(step) {
  return tOr(`stage.${STEP_OF[step] ?? step}`, step);
}

/** Shows "not enabled" for a route the hub does not have (404) or "not permitted" (403); rethrows anything else. */
export function unavailable(el, error) {
  if (error instanceof ApiError && error.status === 404) { clear(el).append(h('p', { class: 'muted' }, t('common.unavailable'))); return; }
  if (error instanceof ApiError && error.status === 403) { clear(el).append(h('p', { class: 'muted' }, t('common.forbidden'))); return; }
  throw error;
}
