/// <reference lib="dom" />
/**
 * The administration screens in real Chromium against a real hub (embedded broker, SQLite in a
 * temp dir), driven as each role. The supervisor is told at first start to change the initial
 * password, sets up a hall through the forms (a department, an item, a window, staff, a head),
 * writes and publishes a commitment; the browser's and the hub's refusals show in Chinese beside
 * the field. The head edits their own department's commitment and is refused another's. A
 * citizen opens the QR code's link (decoded from the PNG the hub draws) on a 390×844 phone and
 * rates once. Every screen is written to tests/artifacts/ at 1440×900 and 390×844.
 */

import { PNG } from 'pngjs';
import * as jsqrModule from 'jsqr';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshot, type BrowserSession } from '../support/browser.js';
import { startHall, waitFor, type Hall } from './harness.js';
import type { FakeDevice } from '../../support/device.js';

// jsqr is CommonJS with a default export: its function sits one or two .default deep, by loader.
type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsqrAny = jsqrModule as unknown as { default?: JsQr | { default?: JsQr } };
const jsQR: JsQr = typeof jsqrAny.default === 'function' ? jsqrAny.default : (jsqrAny.default as { default: JsQr }).default;

jest.setTimeout(120_000);

let hall: Hall;
let browser: BrowserSession;
let admin: string;
let display: FakeDevice;
const PASSWORD = 'hall-pass-2025';
const year = new Date(Date.now() + 8 * 3600_000).getUTCFullYear();

beforeAll(async () => {
  hall = await startHall({ SANNUO_ADMIN_USER: 'admin', SANNUO_ADMIN_PASSWORD: PASSWORD });
  // A second supervisor's token for the test's own API calls: the admin's sessions end when the admin changes their password.
  const first = (await hall.api('POST', '/api/auth/login', { username: 'admin', password: PASSWORD })).token;
  await hall.api('PUT', '/api/auth/users/sup2', { name: '副主管', role: 'supervisor', password: PASSWORD }, first);
  admin = (await hall.api('POST', '/api/auth/login', { username: 'sup2', password: PASSWORD })).token;
  browser = await launchBrowser({ viewport: { width: 1440, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await hall?.stop();
});

async function signIn(username: string, password = PASSWORD): Promise<Page> {
  const page = await browser.page();
  await page.context().clearCookies();
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto(`${hall.url}/app/`);
  await page.locator('[data-testid=login] input[name=username]').fill(username);
  await page.locator('[data-testid=login] input[name=password]').fill(password);
  await page.locator('[data-testid=login] button[type=submit]').click();
  await page.locator('[data-testid=nav]').waitFor({ state: 'visible' });
  return page;
}

/** The page at both sizes; at 390 px wide nothing may scroll sideways. */
async function shots(page: Page, name: string): Promise<void> {
  await screenshot(page, `${name}-1440`);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(150);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  await screenshot(page, `${name}-390`);
  await page.setViewportSize({ width: 1440, height: 900 });
  expect({ name, wide: wide <= 390 }).toEqual({ name, wide: true });
}

async function fill(page: Page, form: string, values: Record<string, string>): Promise<void> {
  for (const [k, v] of Object.entries(values)) {
    const el = page.locator(`[data-testid=${form}-${k}]`);
    if ((await el.evaluate((x) => x.tagName)) === 'SELECT') await el.selectOption(v);
    else await el.fill(v);
  }
  await page.locator(`[data-testid=${form}-submit]`).click();
}

test('supervisor: told to change the first password; sets up the hall and a user; writes and publishes a commitment', async () => {
  const page = await signIn('admin');
  page.on('dialog', (d) => void d.accept());
  await page.locator('[data-testid=first-start]').filter({ hasText: '初始密码' }).waitFor();
  await page.locator('[data-testid=nav-admin]').click();
  await page.locator('[data-testid=users-table] tr[data-user=admin]').waitFor();

  // The browser refuses a bad prefix before the hub is asked, in Chinese beside the field.
  await fill(page, 'dept-form', { id: 'D1', name: '市场监管局' });
  await page.locator('[data-testid=departments-table]').filter({ hasText: '市场监管局' }).waitFor();
  await fill(page, 'dept-form', { id: 'D2', name: '税务局' });
  await page.locator('[data-testid=departments-table]').filter({ hasText: '税务局' }).waitFor();
  await fill(page, 'item-form', { code: 'I1', name: '营业执照办理', department: 'D1', prefix: 'a1', limitDays: '0' });
  await page.locator('[data-testid=item-form-prefix-err]').filter({ hasText: '输入有误' }).waitFor();
  // The hub's own refusal (an unknown department) beside its field.
  await fill(page, 'item-form', { prefix: 'A', department: 'D9' });
  await page.locator('[data-testid=item-form-department-err]').filter({ hasText: /[\u4e00-\u9fff]/ }).waitFor();
  await fill(page, 'item-form', { department: 'D1' });
  await page.locator('[data-testid=items-table]').filter({ hasText: '营业执照办理' }).waitFor();
  expect(await page.locator('[data-testid=items-table]').textContent()).toContain('即办');
  await fill(page, 'window-form', { id: 'W1', name: '一号窗口', items: 'I1' });
  await page.locator('[data-testid=windows-table]').filter({ hasText: '一号窗口' }).waitFor();
  await fill(page, 'staff-form', { id: 's1', name: '张三', department: 'D1' });
  await page.locator('[data-testid=staff-table]').filter({ hasText: '张三' }).waitFor();

  // A head without a department is refused by the hub, said in Chinese beside the department.
  await fill(page, 'user-form', { username: 'head1', name: '王主任', role: 'head', department: '', password: PASSWORD });
  await page.locator('[data-testid=user-form-department-err]').filter({ hasText: '输入有误' }).waitFor();
  await fill(page, 'user-form', { department: 'D1' });
  await page.locator('[data-testid=users-table] tr[data-user=head1]').waitFor();
  // Disable and enable again: the row says so each time.
  await page.locator('[data-testid=user-toggle-head1]').click();
  await page.locator('[data-testid=users-table] tr[data-user=head1]').filter({ hasText: '停用' }).filter({ hasText: '启用' }).waitFor();
  await page.locator('[data-testid=user-toggle-head1]').click();
  await waitFor('head1 enabled', async () => !(await hall.api('GET', '/api/auth/users', undefined, admin)).users.find((u: any) => u.username === 'head1').disabled);
  const setup = await hall.api('GET', '/api/queue/setup', undefined, admin);
  expect(setup.items).toEqual([expect.objectContaining({ code: 'I1', department: 'D1', prefix: 'A', limitDays: 0 })]);
  expect(setup.windows).toEqual([expect.objectContaining({ id: 'W1', items: ['I1'] })]);
  await shots(page, 'admin-setup');

  // Two more clauses through the API, so the order is seen: 第二条 < 第三条 < 第十条.
  const base = { department: 'D1', year, metric: 'satisfaction', item: null, target: 0.9, measures: '一次办结', owner: '王主任', deadline: `${year}-12-31` };
  await hall.api('POST', '/api/app/commitments', { ...base, clause: '第十条', title: '平均跑动次数不超过1次', metric: 'visits', target: 1 }, admin);
  await hall.api('POST', '/api/app/commitments', { ...base, clause: '第三条', title: '差评整改率100%' }, admin);
  await hall.api('POST', '/api/app/commitments', { ...base, department: 'D2', clause: '第一条', title: '税务局办税满意率不低于90%' }, admin);

  await page.locator('[data-testid=nav-commitments]').click();
  await page.locator('[data-testid=commitment-form]').waitFor();
  await fill(page, 'commitment-form', { department: 'D1', clause: '第二条', title: '营业执照一次办结，满意率不低于95%', metric: 'satisfaction', target: '0.95', measures: '一窗受理，限时办结', owner: '王主任' });
  await page.locator('[data-testid=commitments] tr[data-clause=第二条]').waitFor();
  const d1 = await page.locator('[data-testid=commitments] tr[data-commitment]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.clause));
  expect(d1.filter((c) => c !== '第一条')).toEqual(['第二条', '第三条', '第十条']);
  // Average visits with no ticket carrying a case number: no data, and why — never a green 达成.
  const visits = page.locator('[data-testid=commitments] tr[data-clause=第十条]');
  expect(await visits.textContent()).toContain('暂无数据，因为尚无带办件编号的取号记录');
  expect(await visits.locator('.good').count()).toBe(0);

  await page.locator('[data-testid="commitment-publish-第二条"]').click();
  await page.locator('[data-testid=commitments] tr[data-clause=第二条] [data-testid=commitment-state]').filter({ hasText: '已公开' }).waitFor();
  const pub = await hall.api('GET', `/api/public/commitments?year=${year}`);
  expect(pub.commitments.map((c: any) => c.clause)).toEqual(['第二条']);
  await shots(page, 'admin-commitments');

  // Export: the CSV has every clause of the year.
  const csv = await page.evaluate(async (y) => (await fetch(`/api/app/commitments/export.csv?year=${y}`)).text(), year);
  for (const c of ['第一条', '第二条', '第三条', '第十条']) expect(csv).toContain(c);

  await page.locator('[data-testid=nav-password]').click();
  await page.locator('[data-testid=password-form]').waitFor();
  await fill(page, 'password-form', { current: PASSWORD, password: 'short', repeat: 'other' });
  await page.locator('[data-testid=password-form-repeat-err]').filter({ hasText: '两次输入的新密码不一致' }).waitFor();
  await fill(page, 'password-form', { current: 'wrong-password-1', password: 'new-hall-pass-2026', repeat: 'new-hall-pass-2026' });
  await page.locator('[data-testid=password-form-current-err]').filter({ hasText: '当前密码不正确' }).waitFor();
  await shots(page, 'admin-password');
  await fill(page, 'password-form', { current: PASSWORD, password: 'new-hall-pass-2026', repeat: 'new-hall-pass-2026' });
  await page.locator('[data-testid=login]').waitFor({ state: 'visible' });
  expect(browser.problems.filter((p) => !/40[0-9]/.test(p))).toEqual([]);
  await page.close();

  // Signed in with the new password, the first-start prompt is gone.
  const again = await signIn('admin', 'new-hall-pass-2026');
  await again.locator('[data-testid=view][data-view=hall]').waitFor();
  await again.waitForTimeout(300);
  expect(await again.locator('[data-testid=first-start]').isHidden()).toBe(true);
  await again.close();
});

test("head: edits their own department's commitment and is refused another's, in Chinese", async () => {
  const page = await signIn('head1');
  expect(await page.locator('[data-testid=nav-admin]').count()).toBe(0);
  await page.locator('[data-testid=nav-commitments]').click();
  await page.locator('[data-testid=commitments] tr[data-clause=第三条]').waitFor();
  // Only their department's clauses are listed.
  expect(await page.locator('[data-testid=commitments] tr[data-clause=第一条]').count()).toBe(0);
  await page.locator('[data-testid="commitment-edit-第三条"]').click();
  await page.locator('[data-testid=commitment-form-heading]').filter({ hasText: '第三条' }).waitFor();
  await fill(page, 'commitment-form', { title: '差评整改率100%，回访率100%', note: '增加回访要求' });
  await page.locator('[data-testid=commitments] tr[data-clause=第三条]').filter({ hasText: '回访率100%' }).waitFor();
  // Moving it to another department is refused, and the reason shows beside the department.
  await page.locator('[data-testid="commitment-edit-第三条"]').click();
  await fill(page, 'commitment-form', { department: 'D2', note: '改到税务局' });
  const err = page.locator('[data-testid=commitment-form-department-err]');
  await err.filter({ hasText: '无权操作：部门负责人只能编辑本部门的承诺' }).waitFor();
  await shots(page, 'head-commitment-refused');
  const d2 = (await hall.api('GET', `/api/app/commitments?year=${year}&department=D2`, undefined, admin)).commitments;
  expect(d2.map((c: any) => c.clause)).toEqual(['第一条']);
  // A page the head may not see says why, rather than moving silently.
  await page.goto(`${hall.url}/app/#/admin`);
  await page.locator('[data-testid=forbidden-notice]').filter({ hasText: '系统管理仅对大厅主管开放' }).waitFor();
  await shots(page, 'head-forbidden');
  await page.close();
});

test('citizen: the QR code on the dashboard opens the rating page on a 390×844 phone; a second rating is refused in Chinese', async () => {
  const admin2 = admin;
  display = await hall.device('display', 'W1', 'disp-W1');
  await hall.api('POST', '/api/queue/windows/W1/sign-in', { staff: 's1' }, admin2);
  await hall.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, admin2);
  await display.send('call', { win: 'W1', staff: null });
  await waitFor('called', () => display.unacked.size === 0);
  await display.send('call', { win: 'W1', staff: null }); // finishes A001
  await waitFor('finished', () => display.unacked.size === 0);
  const ticket = await hall.api('GET', '/api/queue/tickets/A001', undefined, admin2);
  expect(ticket.status).toBe('done');

  // The image endpoint draws the absolute link; decoding the PNG gives it back.
  const res = await fetch(`${hall.url}/api/app/rating-qr/${ticket.id}`, { headers: { authorization: `Bearer ${admin2}` } });
  expect(res.headers.get('content-type')).toBe('image/png');
  const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
  const link = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)!.data;
  expect(link).toMatch(new RegExp(`^${hall.url.replace(/[.]/g, '\\.')}/r/`));
  const abs = await hall.api('GET', `/api/app/rating-link-abs/${ticket.id}`, undefined, admin2);
  expect(abs.url).toBe(link);
  expect(abs.svg).toContain('<svg');
  // The window's done screen (a kiosk token on the window's screen) shows the same link and QR.
  const kiosk = (await hall.api('POST', '/api/tokens', { name: '一号窗口评价屏', role: 'kiosk' }, admin2)).token;
  const done = await hall.api('GET', '/api/app/windows/W1/done-screen', undefined, kiosk);
  expect(done).toMatchObject({ win: 'W1', ticket: ticket.id, number: 'A001', url: link });
  expect(done.svg).toContain('<svg');

  const phone = await launchBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const page = await phone.page();
    await page.goto(link);
    await page.locator('button[name=level][value="5"]').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'citizen-rate-390');
    await page.locator('button[name=level][value="5"]').click();
    await page.locator('h1').filter({ hasText: '谢谢' }).waitFor();
    await page.goto(link);
    expect(await page.locator('button[name=level]').count()).toBe(0);
    expect(await page.textContent('body')).toMatch(/[\u4e00-\u9fff]{4}/);
    await screenshot(page, 'citizen-again-390');
    const again = await page.request.post(link, { data: { level: 1, reason: 'attitude' } });
    expect(again.status()).toBe(409);
    expect(JSON.stringify(await again.json())).toMatch(/[\u4e00-\u9fff]/);
  } finally {
    await phone.close();
  }
  const rows = await hall.hub.db.all<{ level: number }>('SELECT level FROM queue_ratings WHERE ticket = $1', [ticket.id]);
  expect(rows.map((r) => Number(r.level))).toEqual([5]);
});

test('staff appeals a bad rating; the supervisor retries the callback, then upholds the appeal; the report leaves it out', async () => {
  await hall.api('PUT', '/api/auth/users/staff1', { name: '张三', role: 'staff', staff: 's1', password: PASSWORD }, admin);
  const pad = await hall.device('pad', 'W1', 'pad-W1');
  await hall.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, admin);
  await hall.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, admin);
  await display.send('call', { win: 'W1', staff: null });
  await waitFor('A002 called', () => display.unacked.size === 0);
  const before = pad.commands.length;
  await display.send('call', { win: 'W1', staff: null }); // finishes A002: the pad is asked to rate it
  await waitFor('rateReq', () => pad.commands.slice(before).some((c) => c.type === 'rateReq'));
  const req = pad.commands.slice(before).find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false });
  await waitFor('rating committed', () => pad.unacked.size === 0);
  const month = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 7);
  await waitFor('case opened', async () => (await hall.api('GET', '/api/app/cases?status=open', undefined, admin)).cases.length === 1);
  const report0 = await hall.api('GET', `/api/app/reports/${month}.json`, undefined, admin);

  const staff = await signIn('staff1');
  await staff.locator('[data-testid=my-cases] tr[data-case] button').click();
  await staff.locator('[data-testid=appeal-submit]').click();
  await staff.locator('[data-testid=appeal-staff-error]').filter({ hasText: '必填' }).waitFor();
  await staff.locator('[data-testid=appeal-reason]').fill('群众误按按键，当场已口头表示满意');
  await staff.locator('[data-testid=appeal-submit]').click();
  await staff.locator('[data-testid=my-cases] tr[data-case]').filter({ hasText: '申诉' }).waitFor();
  await shots(staff, 'staff-appeal');
  await staff.close();

  const sup = await signIn('sup2');
  await sup.locator('[data-testid=nav-cases]').click();
  await sup.locator('[data-testid=cases] tr[data-case]').first().click();
  // Not reached: the attempt is kept and the case stays at callback for a retry.
  await sup.locator('[data-testid=case-note]').fill('电话无人接听');
  await sup.locator('[data-testid=case-not-reached]').click();
  await sup.locator('[data-testid=case-attempts]').filter({ hasText: '×1' }).waitFor();
  expect(await sup.locator('[data-testid=case-status]').getAttribute('data-status')).toBe('callback');
  await sup.locator('[data-testid=appeal-form]').waitFor();
  await sup.locator('[data-testid=appeal-uphold]').click();
  await sup.locator('[data-testid=appeal-error]').filter({ hasText: '必填' }).waitFor();
  await sup.locator('[data-testid=appeal-note]').fill('调取录像确认为误评，不计入统计');
  await sup.locator('[data-testid=appeal-uphold]').click();
  await sup.locator('[data-testid=case-excluded]').waitFor();
  expect(await sup.locator('[data-testid=case-status]').getAttribute('data-status')).toBe('closed');
  // Closed cases stay findable: all statuses, searched by window.
  await sup.locator('[data-testid=cases-filter-status]').selectOption('');
  await sup.locator('[data-testid=cases-filter-q]').fill('W1');
  await sup.locator('[data-testid=cases] tr[data-status=closed]').waitFor();
  await shots(sup, 'supervisor-cases');
  await sup.close();

  const report1 = await hall.api('GET', `/api/app/reports/${month}.json`, undefined, admin);
  expect(report0.cases.appealsUpheld).toBe(0);
  expect(report1.cases.appealsUpheld).toBe(1);
  expect(report1.cases.cases - report1.cases.appealsUpheld).toBe(report0.cases.cases - 1);
  // The reason is in the ledger, with the decision.
  const rows = await hall.hub.db.all<{ body: string }>("SELECT body FROM ledger WHERE kind = 'case'");
  expect(rows.map((r) => String(r.body)).join('\n')).toMatch(/appeal-upheld[^\n]*调取录像确认为误评/);
});

test('citizen: the suggestion box on a phone takes 投诉; the supervisor replies, and manages the exposure board', async () => {
  const phone = await launchBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const page = await phone.page();
    await page.goto(`${hall.url}/app/suggest.html`);
    await page.locator('[data-testid=suggest-form-category]').selectOption('投诉');
    await page.locator('[data-testid=suggest-form-text]').fill('慢');
    await page.locator('[data-testid=suggest-form-submit]').click();
    await page.locator('[data-testid=suggest-form-text-err]').filter({ hasText: '请填写 2 至 2000 字' }).waitFor();
    await page.locator('[data-testid=suggest-form-text]').fill('一号窗口午休时无人值守，等了四十分钟');
    await page.locator('[data-testid=suggest-form-win]').fill('W1');
    await page.locator('[data-testid=suggest-form-submit]').click();
    await page.locator('[data-testid=suggest-done]').filter({ hasText: '谢谢' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(page, 'citizen-suggest-390');
  } finally {
    await phone.close();
  }
  const [s] = (await hall.api('GET', '/api/app/suggestions', undefined, admin)).suggestions;
  expect(s).toMatchObject({ category: 'complaint', win: 'W1', status: 'new' });

  const sup = await signIn('sup2');
  sup.on('dialog', (d) => void d.accept('已整改，撤下'));
  await sup.locator('[data-testid=nav-suggestions]').click();
  await sup.locator(`[data-testid=reply-${s.id}]`).click();
  await fill(sup, 'reply-form', { status: 'verified', reply: '经核实属实，已调整午休轮岗' });
  await sup.locator(`[data-testid=suggestions-table] tr[data-suggestion="${s.id}"][data-status=verified]`).waitFor();
  await shots(sup, 'supervisor-suggestions');
  await sup.locator('[data-testid=nav-exposure]').click();
  await fill(sup, 'exposure-form', { title: '午休无人值守', body: '一号窗口午休时无人值守', department: 'D1', win: 'W1', rectification: '已调整午休轮岗' });
  const row = sup.locator('[data-testid=exposures-table] tr[data-exposure]');
  await row.filter({ hasText: '午休无人值守' }).waitFor();
  expect((await hall.api('GET', '/api/public/exposures')).exposures.map((e: any) => e.title)).toEqual(['午休无人值守']);
  await shots(sup, 'supervisor-exposure');
  await row.locator('button').click();
  await sup.locator('[data-testid=exposures-table] td.empty').waitFor();
  expect((await hall.api('GET', '/api/public/exposures')).exposures).toEqual([]);
  await sup.close();
});
