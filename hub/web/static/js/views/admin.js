// Administration (supervisor): users and roles (create, disable, reset a password, a department
// for heads and a staff id for window staff) and the hall's set-up (departments, service items,
// windows and the items each serves, staff). Every change goes through the hub's own routes
// (PUT /api/auth/users/:u, PUT /api/queue/…), which check it and write the ledger row.

import { api } from '../api.js';
import { R } from '../routes.js';
import { t } from '../i18n.js';
import { h, clear, table, card } from '../dom.js';
import { form, hubErrorText, stacked } from '../forms.js';

const ROLES = ['supervisor', 'head', 'staff', 'technician'];
const ID = '[A-Za-z0-9_.\\-]{1,32}';

export function adminView(el) {
  const users = h('div', { 'data-testid': 'admin-users' });
  const setup = { departments: h('div', { 'data-testid': 'admin-departments' }), items: h('div', { 'data-testid': 'admin-items' }), windows: h('div', { 'data-testid': 'admin-windows' }), staff: h('div', { 'data-testid': 'admin-staff' }) };
  const rowError = h('div', { class: 'error', role: 'alert', 'data-testid': 'admin-row-error' });
  let data = { users: [], setup: { departments: [], items: [], windows: [], staff: [] } };

  const put = (path, body) => api(path, { method: 'PUT', body });
  const userForm = form({
    testid: 'user-form',
    fields: [
      { name: 'username', label: t('admin.username'), required: true, pattern: '[a-z0-9_.\\-]{2,32}' },
      { name: 'name', label: t('admin.name'), required: true },
      { name: 'role', label: t('admin.role'), options: ROLES.map((r) => [r, t(`role.${r}`)]) },
      { name: 'department', label: t('admin.department') },
      { name: 'staff', label: t('admin.staff') },
      { name: 'password', label: t('admin.password'), type: 'password', minlength: 10 },
    ],
    async onSubmit(v) {
      await put(`/api/auth/users/${encodeURIComponent(v.username)}`, { name: v.name, role: v.role, department: v.department || null, staff: v.staff || null, password: v.password || undefined, disabled: false });
      await view.refresh();
    },
  });
  const deptForm = form({
    testid: 'dept-form',
    fields: [{ name: 'id', label: t('admin.id'), required: true, pattern: ID }, { name: 'name', label: t('admin.title'), required: true }],
    async onSubmit(v) { await put(`/api/queue/departments/${encodeURIComponent(v.id)}`, { name: v.name }); await view.refresh(); },
  });
  const itemForm = form({
    testid: 'item-form',
    fields: [
      { name: 'code', label: t('admin.code'), required: true, pattern: ID },
      { name: 'name', label: t('admin.title'), required: true },
      { name: 'department', label: t('common.department'), required: true, pattern: ID },
      { name: 'prefix', label: t('admin.prefix'), required: true, pattern: '[A-Z]{1,2}' },
      { name: 'limitDays', label: t('admin.limitDays'), type: 'number', required: true, min: 0, max: 3650, value: '0' },
    ],
    async onSubmit(v) { await put(`/api/queue/items/${encodeURIComponent(v.code)}`, { name: v.name, department: v.department, prefix: v.prefix, limitDays: Number(v.limitDays) }); await view.refresh(); },
  });
  const winForm = form({
    testid: 'window-form',
    fields: [
      { name: 'id', label: t('admin.id'), required: true, pattern: ID },
      { name: 'name', label: t('admin.title'), required: true },
      { name: 'items', label: t('admin.windowItems'), required: true },
    ],
    async onSubmit(v) { await put(`/api/queue/windows/${encodeURIComponent(v.id)}`, { name: v.name, items: v.items.split(/[,，\s]+/).filter(Boolean) }); await view.refresh(); },
  });
  const staffForm = form({
    testid: 'staff-form',
    fields: [{ name: 'id', label: t('admin.id'), required: true, pattern: ID }, { name: 'name', label: t('admin.name'), required: true }, { name: 'department', label: t('common.department'), required: true, pattern: ID }],
    async onSubmit(v) { await put(`/api/queue/staff/${encodeURIComponent(v.id)}`, { name: v.name, department: v.department }); await view.refresh(); },
  });

  async function changeUser(u, patch) {
    rowError.textContent = '';
    try {
      await put(`/api/auth/users/${encodeURIComponent(u.username)}`, { name: u.name, role: u.role, department: u.department, staff: u.staff, disabled: u.disabled, ...patch });
      await view.refresh();
    } catch (error) { rowError.textContent = hubErrorText(error); }
  }

  el.append(
    card(t('admin.users'), h('div', { class: 'scroll-x' }, users), rowError, h('h3', null, t('admin.newUser')), userForm.el),
    h('div', { class: 'cols' },
      card(t('admin.departments'), setup.departments, deptForm.el),
      card(t('admin.staffList'), setup.staff, staffForm.el)),
    h('div', { class: 'cols' },
      card(t('admin.items'), setup.items, itemForm.el),
      card(t('admin.windows'), setup.windows, winForm.el)),
  );

  const view = {
    async refresh() {
      const [u, s] = await Promise.all([api('/api/auth/users'), api(R.setup)]);
      data = { users: u.users, setup: s };
      const deptName = (id) => s.departments.find((d) => d.id === id)?.name ?? id ?? '—';
      clear(users).append(stacked(table(
        [t('admin.username'), t('admin.name'), t('admin.role'), t('common.department'), t('admin.staff'), t('admin.status'), t('admin.actions')],
        data.users.map((x) => [x.username, x.name, t(`role.${x.role}`), x.department ? deptName(x.department) : '—', x.staff ?? '—', x.disabled ? t('admin.disabled') : t('admin.enabled'),
          h('span', { class: 'row-actions' },
            h('button', { type: 'button', 'data-testid': `user-toggle-${x.username}`, onclick: () => changeUser(x, { disabled: !x.disabled }) }, x.disabled ? t('admin.enable') : t('admin.disable')),
            h('button', { type: 'button', 'data-testid': `user-reset-${x.username}`, onclick: () => { const pw = prompt(t('admin.resetPrompt', { user: x.username })); if (pw) void changeUser(x, { password: pw }); } }, t('admin.reset')))]),
        { testid: 'users-table', rowAttrs: (_r, i) => ({ 'data-user': data.users[i].username }) })));
      clear(setup.departments).append(table([t('admin.id'), t('admin.title')], s.departments.map((d) => [d.id, d.name]), { empty: t('common.none'), testid: 'departments-table' }));
      clear(setup.items).append(stacked(table([t('admin.code'), t('admin.title'), t('common.department'), t('admin.prefix'), t('admin.limitDays')],
        s.items.map((i) => [i.code, i.name, deptName(i.department), i.prefix, i.limitDays === 0 ? t('admin.onSpot') : String(i.limitDays)]), { empty: t('common.none'), testid: 'items-table' })));
      clear(setup.windows).append(table([t('admin.id'), t('admin.title'), t('admin.windowItems')], s.windows.map((w) => [w.id, w.name, (w.items ?? []).join('、')]), { empty: t('common.none'), testid: 'windows-table' }));
      clear(setup.staff).append(table([t('admin.id'), t('admin.name'), t('common.department')], s.staff.map((x) => [x.id, x.name, deptName(x.department)]), { empty: t('common.none'), testid: 'staff-table' }));
    },
  };
  return view;
}
