// The dashboard shell: sign-in, the views a role may see, hash routing, language switch and
// the live poll. What each role may see is decided by the hub (401/403 on its routes); the
// shell only offers the views that role can use, so nobody meets a page of "forbidden".

import { api, whenSignedOut } from './api.js';
import { t, translate, getLang, setLang, fmtTime } from './i18n.js';
import { h, clear } from './dom.js';
import { hallView } from './views/hall.js';
import { devicesView } from './views/devices.js';
import { ratingsView } from './views/ratings.js';
import { casesView } from './views/cases.js';
import { commitmentsView } from './views/commitments.js';
import { reportsView } from './views/reports.js';
import { mineView } from './views/mine.js';
import { tokensView } from './views/tokens.js';
import { noticesView, watchAlerts } from './views/notices.js';
import { platformView } from './views/platform.js';
import { adminView } from './views/admin.js';
import { passwordView } from './views/password.js';
import { suggestionsView, exposuresView } from './views/channels.js';
import './admin-i18n.js';

const POLL = 3000; // milliseconds between live refreshes of the open view

const VIEWS = [
  { id: 'hall', nav: 'nav.hall', roles: ['supervisor', 'head'], make: hallView },
  { id: 'ratings', nav: 'nav.ratings', roles: ['supervisor', 'head'], make: ratingsView },
  { id: 'cases', nav: 'nav.cases', roles: ['supervisor', 'head'], make: casesView },
  { id: 'commitments', nav: 'nav.commitments', roles: ['supervisor', 'head'], make: commitmentsView },
  { id: 'reports', nav: 'nav.reports', roles: ['supervisor', 'head'], make: reportsView },
  { id: 'mine', nav: 'nav.mine', roles: ['staff'], make: mineView },
  { id: 'devices', nav: 'nav.devices', roles: ['supervisor', 'technician'], make: devicesView },
  { id: 'tokens', nav: 'nav.tokens', roles: ['supervisor'], make: tokensView },
  { id: 'notices', nav: 'nav.notices', roles: ['supervisor'], make: noticesView },
  { id: 'platform', nav: 'nav.platform', roles: ['supervisor'], make: platformView },
  { id: 'admin', nav: 'nav.admin', roles: ['supervisor'], make: adminView },
  { id: 'suggestions', nav: 'nav.suggestions', roles: ['supervisor'], make: suggestionsView },
  { id: 'exposure', nav: 'nav.exposure', roles: ['supervisor'], make: exposuresView },
  // Every role's own password: reached from the header, not the nav.
  { id: 'password', nav: 'nav.password', roles: ['supervisor', 'head', 'staff', 'technician'], make: (el) => passwordView(el, { onChanged: () => showLogin() }), hidden: true },
];

const state = { user: null, current: null, timer: null, lastOk: null, failing: false, health: null };
const $ = (id) => document.getElementById(id);

function viewsFor(user) {
  return VIEWS.filter((v) => v.roles.includes(user.role));
}

function renderLive() {
  const el = $('live');
  if (!state.user) { el.textContent = ''; return; }
  el.className = `live ${state.failing ? 'lost' : 'ok'}`;
  el.textContent = state.failing ? t('live.lost') : `${t('live.ok')} · ${t('live.updated')} ${fmtTime(state.lastOk)}`;
  // The hub's own trouble, before it bites: commits failing, or the disk running out.
  const warn = clear($('hub-warning'));
  const hh = state.health;
  const mb = (b) => Math.floor(b / 1048576);
  if (hh?.commits?.failing) warn.append(h('span', { 'data-testid': 'warn-commits' }, t('warn.commits')));
  if (hh?.disk?.low) warn.append(h('span', { 'data-testid': 'warn-disk' }, `${t('warn.disk')} (${mb(hh.disk.freeBytes)} MB)`));
  // The kiosk's printer: paper low or out, cover open, offline (hub/front/kiosk.ts).
  if (state.printer?.alert) warn.append(h('span', { 'data-testid': 'warn-printer' }, `${t('warn.printer')}：${state.printer.message}`));
  warn.hidden = !warn.childElementCount;
}

/** The hub's full health, for the people who may read it (supervisors, technicians). */
async function readHealth() {
  if (!state.user || !['supervisor', 'technician'].includes(state.user.role)) { state.health = null; return; }
  try {
    const res = await fetch('/healthz', { credentials: 'same-origin', headers: { accept: 'application/json' } });
    state.health = await res.json();
    const printer = await fetch('/api/kiosk/printer', { credentials: 'same-origin', headers: { accept: 'application/json' } });
    state.printer = printer.ok ? await printer.json() : null;
  } catch {
    state.health = null;
  }
}

async function refresh() {
  const current = state.current;
  if (!current) return;
  try {
    await readHealth();
    await current.instance.refresh();
    if (state.current !== current) return;
    state.lastOk = Date.now();
    state.failing = false;
  } catch (error) {
    // A 401 sends us to the sign-in form (whenSignedOut); anything else is shown as lost.
    if (error?.status !== 401) { state.failing = true; console.warn('refresh failed', error); }
  }
  renderLive();
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if (document.visibilityState === 'visible') await refresh();
    schedule();
  }, POLL);
}

async function open(id) {
  const allowed = viewsFor(state.user);
  const v = allowed.find((x) => x.id === id) ?? allowed[0];
  if (!v) { clear($('view')).append(h('p', null, t('common.forbidden'))); return; }
  // A page this role may not see is said so, with why, above the page it may see.
  const denied = VIEWS.find((x) => x.id === id && !x.roles.includes(state.user.role));
  const notice = clear($('forbidden-notice'));
  notice.hidden = !denied;
  if (denied) notice.append(t('forbidden.why', { role: t(`role.${state.user.role}`), page: t(denied.nav), roles: denied.roles.map((r) => t(`role.${r}`)).join('、') }));
  if (location.hash !== `#/${v.id}`) history.replaceState(null, '', `#/${v.id}`);
  state.current?.instance.destroy?.();
  const el = clear($('view'));
  el.dataset.view = v.id;
  const instance = v.make(el, { user: state.user });
  state.current = { id: v.id, instance };
  for (const a of $('nav').querySelectorAll('a')) a.classList.toggle('active', a.dataset.view === v.id);
  await refresh();
  schedule();
}

function renderShell() {
  translate();
  document.title = t('app.title');
  const nav = clear($('nav'));
  const who = clear($('who'));
  if (!state.user) {
    nav.hidden = true;
    $('logout').hidden = true;
    renderLive();
    return;
  }
  nav.hidden = false;
  $('logout').hidden = false;
  for (const v of viewsFor(state.user).filter((x) => !x.hidden)) {
    nav.append(h('a', { href: `#/${v.id}`, dataset: { view: v.id }, 'data-testid': `nav-${v.id}`, class: state.current?.id === v.id ? 'active' : null }, t(v.nav)));
  }
  nav.append(h('a', { href: '/app/public', class: 'secondary', 'data-testid': 'nav-public' }, t('nav.public')));
  who.append(h('a', { href: '#/password', class: 'link', 'data-testid': 'nav-password' }, t('nav.password')), h('span', { class: 'name' }, state.user.name), h('span', { class: 'role', 'data-testid': 'role' }, t(`role.${state.user.role}`)));
  renderLive();
}

function showLogin() {
  state.user = null;
  state.unwatch?.();
  state.unwatch = null;
  state.current?.instance.destroy?.();
  state.current = null;
  clearTimeout(state.timer);
  clear($('view'));
  $('login').hidden = false;
  renderShell();
  $('login').querySelector('input[name=username]').focus();
}

async function signedIn(user) {
  state.user = user;
  // Satisfaction alerts reach a supervisor at once, on any view (views/notices.js).
  state.unwatch?.();
  state.unwatch = user.role === 'supervisor' ? watchAlerts($('main')) : null;
  $('login').hidden = true;
  $('login-error').textContent = '';
  renderShell();
  await open(location.hash.replace(/^#\//, ''));
  // First start: the user still has the password they were given; say so until they change it.
  const banner = clear($('first-start'));
  banner.hidden = true;
  try {
    const fs = await api('/api/auth/first-start');
    if (fs.changePassword) { banner.append(t('pw.firstStart'), ' ', h('a', { href: '#/password', 'data-testid': 'first-start-go' }, t('pw.go'))); banner.hidden = false; }
  } catch { /* an older hub without the route: no banner */ }
}

async function start() {
  setLang(getLang());
  whenSignedOut(() => { if (state.user) showLogin(); });
  $('lang').addEventListener('click', async () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    renderShell();
    if (state.current) await open(state.current.id);
  });
  $('logout').addEventListener('click', async () => {
    await api('/api/auth/logout', { method: 'POST' }).catch(() => undefined);
    showLogin();
  });
  $('login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      const res = await api('/api/auth/login', { method: 'POST', body: { username: String(form.get('username')), password: String(form.get('password')) }, quiet401: true });
      e.target.reset();
      await signedIn(res.user);
    } catch (error) {
      $('login-error').textContent = error.status === 429 ? t('login.locked') : error.status === 401 ? t('login.failed') : `${t('common.error')}: ${error.message}`;
    }
  });
  window.addEventListener('hashchange', () => { if (state.user) void open(location.hash.replace(/^#\//, '')); });
  try {
    const me = await api('/api/auth/me', { quiet401: true });
    await signedIn(me.user);
  } catch {
    showLogin();
  }
}

void start();
