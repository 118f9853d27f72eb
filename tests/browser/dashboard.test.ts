/// <reference lib="dom" />
/**
 * The dashboard in real Chromium against a real hub (embedded broker, SQLite in a temp dir) and
 * devices sending signed events over MQTT. Each role signs in and sees what it may and nothing
 * more; a bad rating from the pad is followed to a closed case through the UI; a phone rating
 * works once and is refused the second time; a report opens and downloads. Screenshots go to
 * tests/artifacts/ (gitignored).
 */

import type { Page } from 'playwright-core';
import { launchBrowser, screenshot, type BrowserSession } from '../support/browser.js';
import { startHall, waitFor, type Hall } from './harness.js';
import type { FakeDevice } from '../../support/device.js';

jest.setTimeout(180_000);

let hall: Hall;
let browser: BrowserSession;
let admin: string; // supervisor's bearer token for set-up through the API
const PASSWORD = 'hall-pass-2025';
let displayW1: FakeDevice;
let padW1: FakeDevice;
let displayW2: FakeDevice;
/** Ticket numbers: rated 5 and rated 1 at W1. */
let good: string;
let bad: string;

async function rateAt(display: FakeDevice, pad: FakeDevice, win: string, level: 1 | 2 | 3 | 4 | 5): Promise<string> {
  // A call finishes the ticket being served, so the hub asks the pad to rate it (一事一评).
  const before = pad.commands.length;
  await display.send('call', { win, staff: null });
  await waitFor(`rateReq at ${pad.config.id}`, () => pad.commands.slice(before).some((c) => c.type === 'rateReq'));
  const req = pad.commands.slice(before).find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win, ticket: req.body.ticket, req: req.body.req, level, reason: level <= 2 ? 'attitude' : null, offline: false });
  await waitFor('rating committed', () => pad.unacked.size === 0);
  return req.body.ticket;
}

beforeAll(async () => {
  hall = await startHall({ SANNUO_ADMIN_USER: 'admin', SANNUO_ADMIN_PASSWORD: PASSWORD });
  admin = (await hall.api('POST', '/api/auth/login', { username: 'admin', password: PASSWORD })).token;
  const put = (p: string, body: unknown) => hall.api('PUT', p, body, admin);
  await put('/api/queue/departments/D1', { name: '市场监管局' });
  await put('/api/queue/departments/D2', { name: '税务局' });
  await put('/api/queue/items/I1', { name: '营业执照办理', department: 'D1', prefix: 'A', limitDays: 0 });
  await put('/api/queue/items/I2', { name: '发票申领', department: 'D2', prefix: 'B', limitDays: 0 });
  await put('/api/queue/windows/W1', { name: '一号窗口', items: ['I1'] });
  await put('/api/queue/windows/W2', { name: '二号窗口', items: ['I2'] });
  await put('/api/queue/staff/s1', { name: '张三', department: 'D1' });
  await put('/api/queue/staff/s2', { name: '李四', department: 'D2' });
  await hall.api('POST', '/api/queue/windows/W1/sign-in', { staff: 's1' }, admin);
  await hall.api('POST', '/api/queue/windows/W2/sign-in', { staff: 's2' }, admin);
  await put('/api/auth/users/head1', { name: '王主任', role: 'head', department: 'D1', password: PASSWORD });
  await put('/api/auth/users/staff1', { name: '张三', role: 'staff', staff: 's1', password: PASSWORD });
  await put('/api/auth/users/tech1', { name: '赵工', role: 'technician', password: PASSWORD });
  for (let i = 0; i < 5; i++) await hall.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, admin);
  for (let i = 0; i < 3; i++) await hall.api('POST', '/api/queue/tickets', { item: 'I2', priority: 'normal' }, admin);

  displayW1 = await hall.device('display', 'W1', 'disp-W1');
  padW1 = await hall.device('pad', 'W1', 'pad-W1');
  displayW2 = await hall.device('display', 'W2', 'disp-W2');
  // pad-W2 is provisioned but never connects: the technician must see it offline.
  await hall.api('POST', '/api/devices', { role: 'pad', win: 'W2', id: 'pad-W2' }, admin);

  await displayW1.send('call', { win: 'W1', staff: null });
  good = await rateAt(displayW1, padW1, 'W1', 5);
  bad = await rateAt(displayW1, padW1, 'W1', 1);
  await displayW2.send('call', { win: 'W2', staff: null });
  await waitFor('W2 call committed', () => displayW2.unacked.size === 0);
  // The register: one satisfaction commitment published, one left as a draft; one exposure.
  const year = new Date(Date.now() + 8 * 3600_000).getUTCFullYear();
  const commitment = (title: string, clause: string) => ({ department: 'D1', year, clause, title, metric: 'satisfaction', item: 'I1', target: 0.95, measures: '一次办结，限时办结', owner: '王主任', deadline: `${year}-12-31` });
  const published = (await hall.api('POST', '/api/app/commitments', commitment('营业执照一次办结，满意率不低于95%', '第一条'), admin)).commitment;
  await hall.api('POST', `/api/app/commitments/${published.id}/publish`, {}, admin);
  await hall.api('POST', '/api/app/commitments', commitment('内部草稿承诺', '第二条'), admin);
  await hall.api('POST', '/api/app/exposures', { title: '窗口脱岗', body: '某日上午二号窗口工作人员脱岗二十分钟', department: 'D2', win: 'W2', rectification: '已约谈并通报批评' }, admin);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await hall?.stop();
});

async function signIn(username: string): Promise<Page> {
  const page = await browser.page();
  await page.context().clearCookies();
  await page.goto(`${hall.url}/app/`);
  await page.locator('[data-testid=login] input[name=username]').fill(username);
  await page.locator('[data-testid=login] input[name=password]').fill(PASSWORD);
  await page.locator('[data-testid=login] button[type=submit]').click();
  await page.locator('[data-testid=nav]').waitFor({ state: 'visible' });
  return page;
}

async function navIds(page: Page): Promise<string[]> {
  return page.locator('[data-testid=nav] a[data-view]').evaluateAll((as) => as.map((a) => (a as HTMLElement).dataset.view!));
}

/** Data points of a Chart.js chart on a canvas, and how many of its pixels are painted. */
async function chartData(page: Page, testid: string): Promise<{ values: number[]; painted: number }> {
  const canvas = page.locator(`[data-testid=${testid}]`);
  await canvas.waitFor();
  return canvas.evaluate((c) => {
    const chart = (window as any).Chart.getChart(c);
    const values = chart ? chart.data.datasets.flatMap((d: any) => d.data.map((v: unknown) => Number(v ?? 0))) : [];
    const cv = c as HTMLCanvasElement;
    const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
    let painted = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted++;
    return { values, painted };
  });
}

/** The CJK font is really there: a Chinese string is wider than a box glyph would allow and the font matches. */
async function cjkRenders(page: Page): Promise<boolean> {
  return page.evaluate(async () => {
    await document.fonts.ready;
    return document.fonts.check('16px "Noto Sans CJK SC"', '政务服务大厅');
  });
}

test('supervisor: live hall, ratings, devices and every menu', async () => {
  const page = await signIn('admin');
  expect(await navIds(page)).toEqual(['hall', 'ratings', 'cases', 'commitments', 'reports', 'devices', 'tokens', 'notices', 'platform', 'admin', 'suggestions', 'exposure']);
  await expect(page.locator('[data-testid=role]').textContent()).resolves.toBe('大厅主管');

  // Live hall: W1 is serving the ticket after the bad one, W2 its first; waiting counts per item.
  const w1 = page.locator('[data-testid=hall-windows] tr[data-win=W1]');
  await w1.waitFor();
  const w1Text = await w1.textContent();
  expect(w1Text).toContain('一号窗口');
  expect(w1Text).toContain('张三');
  expect(await page.locator('[data-testid=hall-windows] tr[data-win=W2]').textContent()).toContain('B001');
  expect(await page.locator('[data-testid=hall-items] tr[data-item=I1]').textContent()).toContain('营业执照办理');
  const hallChart = await chartData(page, 'hall-chart');
  expect(hallChart.values.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  expect(hallChart.painted).toBeGreaterThan(500);
  expect(await cjkRenders(page)).toBe(true);
  await screenshot(page, 'supervisor-hall');

  // Live: a new ticket shows up on the next poll without a reload.
  const before = Number(await page.locator('[data-testid=hall-waiting] .stat-value').textContent());
  await hall.api('POST', '/api/queue/tickets', { item: 'I2', priority: 'normal' }, admin);
  await page.locator('[data-testid=hall-waiting] .stat-value').filter({ hasText: String(before + 1) }).waitFor({ timeout: 20_000 });

  // Ratings: today's two ratings, 满意率 50%, 差评率 50%, charts drawn with the data.
  await page.locator('[data-testid=nav-ratings]').click();
  await page.locator('[data-testid=ratings-count] .stat-value').filter({ hasText: '2' }).waitFor();
  expect(await page.locator('[data-testid=ratings-satisfaction] .stat-value').textContent()).toBe('50.0%');
  expect(await page.locator('[data-testid=ratings-badrate] .stat-value').textContent()).toBe('50.0%');
  const levels = await chartData(page, 'ratings-levels-chart');
  expect(levels.values).toEqual([1, 0, 0, 0, 1]);
  expect(levels.painted).toBeGreaterThan(500);
  expect(await page.locator('[data-testid=recent-bad]').textContent()).toContain(bad);
  await screenshot(page, 'supervisor-ratings');

  // Devices: three online, pad-W2 offline.
  await page.locator('[data-testid=nav-devices]').click();
  await page.locator('[data-testid=devices] tr[data-dev=pad-W2]').waitFor();
  expect(await page.locator('[data-testid=devices] tr[data-dev=pad-W2]').getAttribute('data-online')).toBe('false');
  expect(await page.locator('[data-testid=devices] tr[data-dev=pad-W1]').getAttribute('data-online')).toBe('true');
  expect(await page.locator('[data-testid=devices] tr[data-dev=pad-W1]').textContent()).toContain('-50 dBm');
  expect(await page.locator('[data-testid=devices-online] .stat-value').textContent()).toBe('在线 3 / 共 4');
  await screenshot(page, 'supervisor-devices');

  // English is one click away, and the menu follows.
  await page.locator('[data-testid=lang]').click();
  await page.locator('[data-testid=nav-hall]').filter({ hasText: 'Live hall' }).waitFor();
  expect(await page.locator('[data-testid=devices-online] .stat-value').textContent()).toBe('3 online of 4');
  await screenshot(page, 'supervisor-devices-en');
  await page.locator('[data-testid=lang]').click();
  await page.locator('[data-testid=nav-hall]').filter({ hasText: '大厅实况' }).waitFor();
  expect(browser.problems.filter((p) => !p.includes('401'))).toEqual([]);
  await page.close();
});

test('a bad rating from the pad is followed to a closed case through the UI', async () => {
  // The department head takes callback, rectification and feedback; the supervisor reviews.
  const head = await signIn('head1');
  await head.locator('[data-testid=nav-cases]').click();
  const row = head.locator('[data-testid=cases] tr[data-case]');
  await row.first().waitFor();
  expect(await row.count()).toBe(1);
  expect(await row.first().textContent()).toContain('非常不满意');
  await screenshot(head, 'head-cases');
  await row.first().click();
  for (const [step, note] of [['callback', '已电话回访群众，了解情况'], ['rectify', '窗口人员已接受服务规范培训'], ['feedback', '已向群众反馈整改结果']] as const) {
    await head.locator(`[data-testid=case-form][data-step=${step}]`).waitFor();
    await head.locator('[data-testid=case-note]').fill(note);
    await head.locator('[data-testid=case-submit]').click();
  }
  await head.locator('[data-testid=case-status][data-status=review]').waitFor();
  // Review is the supervisor's: the head has no form to submit it (the hub would answer 403).
  expect(await head.locator('[data-testid=case-detail]').textContent()).toContain('已电话回访群众');
  await screenshot(head, 'head-case-detail');
  await head.close();

  const sup = await signIn('admin');
  await sup.locator('[data-testid=nav-cases]').click();
  await sup.locator('[data-testid=cases] tr[data-case]').first().click();
  await sup.locator('[data-testid=case-form][data-step=review]').waitFor();
  await sup.locator('[data-testid=case-note]').fill('整改到位，同意办结');
  await sup.locator('[data-testid=case-submit]').click();
  await sup.locator('[data-testid=case-status][data-status=closed]').waitFor();
  await sup.locator('[data-testid=cases-open] .stat-value').filter({ hasText: '0' }).waitFor();
  await screenshot(sup, 'supervisor-case-closed');
  await sup.close();
});

test('window staff: their window and their own ratings, never who gave them', async () => {
  const page = await signIn('staff1');
  expect(await navIds(page)).toEqual(['mine']);
  await page.locator('[data-testid=my-current]').waitFor();
  await page.locator('[data-testid=my-ratings] tr [data-level]').first().waitFor();
  const text = (await page.locator('[data-testid=view]').textContent())!;
  expect(text).toContain('非常满意');
  expect(text).toContain('非常不满意');
  // No ticket number of a rated service appears anywhere on the page.
  expect(text).not.toContain(good);
  expect(text).not.toContain(bad);
  // Other views are not offered, and typing their address lands back on "mine".
  await page.goto(`${hall.url}/app/#/devices`);
  await page.locator('[data-testid=view][data-view=mine]').waitFor();
  await screenshot(page, 'staff-mine');
  await page.close();
});

test('API tokens: a supervisor creates one, sees its secret once, and revokes it; the hub then refuses it', async () => {
  const page = await signIn('admin');
  page.on('dialog', (dialog) => void dialog.accept());
  await page.locator('[data-testid=nav-tokens]').click();
  await page.locator('[data-testid=token-form]').waitFor();
  // A bad name is refused by the hub, and the answer is shown.
  await page.locator('[data-testid=token-name]').fill('kiosk<1>');
  await page.locator('[data-testid=token-create]').click();
  await page.locator('[data-testid=token-error]').filter({ hasText: 'body.name' }).waitFor();

  await page.locator('[data-testid=token-name]').fill('取号机 1');
  await page.locator('[data-testid=token-role]').selectOption('technician');
  await page.locator('[data-testid=token-days]').fill('30');
  await page.locator('[data-testid=token-create]').click();
  const secret = (await page.locator('[data-testid=token-secret]').textContent())!;
  expect(secret).toMatch(/^sannuo_[A-Za-z0-9_-]{43}$/);
  const row = page.locator('[data-testid=tokens] tr[data-token="取号机 1"]');
  await row.waitFor();
  expect(await row.textContent()).toContain('运维');
  expect(await row.textContent()).toContain('admin');
  await screenshot(page, 'supervisor-tokens');

  // The secret works as a technician's credential, and only as that.
  expect((await hall.api('GET', '/api/devices', undefined, secret)).devices.length).toBeGreaterThan(0);
  await expect(hall.api('GET', '/api/tokens', undefined, secret)).rejects.toThrow(/403/);

  await row.locator('[data-testid=token-revoke]').click();
  await page.locator('[data-testid=tokens] tr[data-token="取号机 1"][data-revoked=true]').waitFor();
  expect(await page.locator('[data-testid=tokens] tr[data-token="取号机 1"]').textContent()).toContain('已吊销');
  await expect(hall.api('GET', '/api/devices', undefined, secret)).rejects.toThrow(/401/);
  expect(browser.problems.filter((p) => !p.includes('401') && !p.includes('400'))).toEqual([]);
  await page.close();
});

test('department head: their department only; technician: devices only', async () => {
  const head = await signIn('head1');
  expect(await navIds(head)).toEqual(['hall', 'ratings', 'cases', 'commitments', 'reports']);
  await head.locator('[data-testid=hall-windows] tr[data-win=W1]').waitFor();
  expect(await head.locator('[data-testid=hall-windows] tr[data-win=W2]').count()).toBe(0);
  expect(await head.locator('[data-testid=hall-items] tr[data-item=I2]').count()).toBe(0);
  await screenshot(head, 'head-hall');
  await head.close();

  const tech = await signIn('tech1');
  expect(await navIds(tech)).toEqual(['devices']);
  await tech.locator('[data-testid=devices] tr[data-dev=pad-W2]').waitFor();
  await screenshot(tech, 'technician-devices');
  await tech.close();
});

test('reports: the monthly bulletin opens, CSV and PDF download', async () => {
  const page = await signIn('admin');
  await page.locator('[data-testid=nav-reports]').click();
  await page.locator('[data-testid=report-open]').click();
  await page.locator('[data-testid=report-title]').waitFor();
  const report = (await page.locator('[data-testid=report]').textContent())!;
  expect(report).toContain('月');
  expect(report).toContain('市场监管局');
  const trend = await chartData(page, 'report-trend');
  expect(trend.values.some((v) => v > 0)).toBe(true);
  // The page shows what the JSON holds: level counts, times, the previous period.
  const period = await page.locator('[data-testid=report-period]').inputValue();
  const json = await (await page.request.get(`${hall.url}/api/app/reports/${period}.json`)).json();
  const levels = await chartData(page, 'report-levels');
  expect(levels.values).toEqual(json.hall.levels);
  expect(levels.painted).toBeGreaterThan(0);
  expect(await page.locator('[data-testid=report-previous]').textContent()).toContain('上期');
  expect(await page.locator('[data-testid=report-windows] thead').textContent()).toContain('P90 办理');
  await screenshot(page, 'supervisor-report');
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, 'supervisor-report-phone');
  await page.setViewportSize({ width: 1440, height: 900 });
  for (const [testid, type] of [['report-csv', 'text/csv'], ['report-pdf', 'application/pdf']] as const) {
    const href = await page.locator(`[data-testid=${testid}]`).getAttribute('href');
    expect(href).toMatch(/^\/api\/app\/reports\/\d{4}-\d{2}\.(csv|pdf)$/);
    const res = await page.request.get(`${hall.url}${href}`);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toContain(type);
    const body = await res.body();
    expect(body.length).toBeGreaterThan(100);
    if (type === 'application/pdf') expect(body.subarray(0, 5).toString()).toBe('%PDF-');
  }
  await page.close();
});

test('phone rating page: a ticket is rated once, a second attempt is refused', async () => {
  // B001 is being served at W2; the next call finishes it, so it may be rated by phone.
  await displayW2.send('call', { win: 'W2', staff: null });
  await waitFor('W2 second call committed', () => displayW2.unacked.size === 0);
  const ticket = await hall.api('GET', '/api/queue/tickets/B001', undefined, admin);
  expect(ticket.status).toBe('done');
  const { url } = await hall.api('GET', `/api/app/rating-link/${ticket.id}`, undefined, admin);
  const link = url.startsWith('http') ? url : `${hall.url}${url}`;

  const phone = await launchBrowser({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    const page = await phone.page();
    await page.goto(link);
    await page.locator('button[name=level][value="4"]').waitFor();
    expect(await page.textContent('body')).toContain('B001');
    await screenshot(page, 'phone-rate');
    await page.locator('button[name=level][value="4"]').click();
    await page.locator('h1').filter({ hasText: '谢谢' }).waitFor();
    await screenshot(page, 'phone-thanks');

    // The same link again: no rating form, and a direct POST is refused.
    await page.goto(link);
    expect(await page.locator('button[name=level]').count()).toBe(0);
    await screenshot(page, 'phone-again');
    const again = await page.request.post(link, { data: { level: 1, reason: 'attitude' } });
    expect(again.status()).toBe(409);
  } finally {
    await phone.close();
  }
  // Exactly one rating for B001, at level 4, on the phone channel.
  const rows = await hall.hub.db.all<{ level: number }>('SELECT level FROM queue_ratings WHERE ticket = $1', [ticket.id]);
  expect(rows.map((r) => Number(r.level))).toEqual([4]);
});

test('public view: no sign-in, published commitments and the exposure board', async () => {
  const page = await browser.page();
  await page.context().clearCookies();
  await page.goto(`${hall.url}/app/public`);
  await page.locator('[data-testid=public-commitments] tr[data-commitment]').waitFor();
  const text = (await page.locator('[data-testid=public]').textContent())!;
  expect(text).toContain('一次办结');
  expect(text).not.toContain('内部草稿承诺'); // not published, so not public
  await screenshot(page, 'public');
  await page.locator('[data-testid=public-exposures] [data-exposure]').first().waitFor();
  expect(await page.locator('[data-testid=public-exposures]').textContent()).toContain('窗口脱岗');
  // Nothing here needs a session, and the session-only API answers 401 to this visitor.
  expect((await page.request.get(`${hall.url}/api/app/commitments`)).status()).toBe(401);
  await screenshot(page, 'public');
  await page.close();
});

test('the hub says when commits fail: a warning on the supervisor\'s dashboard, gone when they succeed again', async () => {
  const page = await signIn('admin');
  const warning = page.locator('[data-testid=hub-warning]');
  await page.locator('[data-testid=hall-windows]').waitFor();
  expect(await warning.isHidden()).toBe(true);
  // As an ingest group that failed on a full disk reports it (hub/health.ts). The probe commit
  // that would find the disk fine again fails too while its table is away, so the failure lasts.
  const runtime = hall.hub.halls()[0];
  await runtime.db.exec('ALTER TABLE health_probe RENAME TO health_probe_away');
  runtime.commitHealth!.failed(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
  await page.locator('[data-testid=warn-commits]').waitFor({ timeout: 10_000 });
  expect(await warning.textContent()).toContain('数据无法写入');
  expect((await (await fetch(`${hall.url}/readyz`)).json())).toEqual({ ready: false, state: 'running' });
  // Back: the probe commits, and the warning goes by itself.
  await runtime.db.exec('ALTER TABLE health_probe_away RENAME TO health_probe');
  await warning.waitFor({ state: 'hidden', timeout: 10_000 });
  expect((await fetch(`${hall.url}/readyz`)).status).toBe(200);
  await page.close();
});

test('bad ratings clustering at a window: the supervisor\'s dashboard shows the alert at once, and the notices view lists it', async () => {
  const page = await signIn('admin');
  await page.locator('[data-testid=hall-windows]').waitFor();
  for (let i = 0; i < 3; i++) await hall.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, admin);
  let last = 0;
  for (let i = 0; i < 3; i++) {
    await rateAt(displayW1, padW1, 'W1', 1);
    last = Date.now();
  }
  // One alert for the window, one for its item, newest first.
  const banner = page.locator('[data-testid=alert-banner]');
  await banner.locator('[data-testid=alert-item]').nth(1).waitFor({ timeout: 5_000 });
  expect(Date.now() - last).toBeLessThan(5_000);
  expect(await banner.textContent()).toContain('差评预警：窗口 一号窗口');
  expect(await banner.textContent()).toContain('差评预警：事项 营业执照办理');
  await page.locator('[data-testid=nav-notices]').click();
  await page.locator('[data-testid=alert-list]').filter({ hasText: '一号窗口' }).waitFor();
  expect(await page.locator('[data-testid=notices-failed] .stat-value').textContent()).toBe('0');
  await screenshot(page, 'supervisor-alerts');
  await page.close();
});
