/// <reference lib="dom" />
/**
 * The hall's front in real Chromium against a real hub: the kiosk page prints on the virtual
 * printer (a real TCP socket answering DLE EOT), whose captured bytes are decoded back (GB18030
 * text, the QR by jsQR); paper out refuses in Chinese and nothing counts; a print that fails
 * half way voids its ticket; a double tap is one ticket; the hall board shows a staff key press
 * within 1 s and plays three simultaneous calls' announcements (recorded clips) in order, and
 * after a hub restart shows the next call without a reload.
 */

import type { Page } from 'playwright-core';
import { launchBrowser, type BrowserSession } from '../support/browser.js';
import { startHall, waitFor, type Hall } from './harness.js';
import { FakeDevice } from '../../support/device.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hub } from '../../hub/hub.js';
import { writeWav } from '../../hub/front/wav.js';
import { silentLogger } from '../../hub/log.js';
import { TEST_API_TOKEN } from '../../support/token.js';
import { VirtualPrinter } from '../../support/virtual-printer.js';
import { decodeTicket, readQr } from '../../support/escpos.js';
import type { Board } from '../../hub/front/board.js';

jest.setTimeout(120_000);

const HALL_NAME = '三诺政务服务中心';
const PUBLIC = 'http://hall.example:8080';
const PASSWORD = 'hall-pass-2025';
let hall: Hall;
let browser: BrowserSession;
let printer: VirtualPrinter;
let kioskToken: string;
let kiosk: Page;
const displays: FakeDevice[] = [];
const admin = (method: string, p: string, body?: unknown) => hall.api(method, p, body, TEST_API_TOKEN);
const waiting = async (item: string) => (await admin('GET', '/api/queue/hall')).items.find((i: { code: string }) => i.code === item).waiting as number;
/** The kiosk page loaded again: a new citizen, without the last tap's 2 s lock. */
const fresh = async () => { await kiosk.reload(); await kiosk.bringToFront(); await kiosk.waitForSelector('#items button[data-item="I1"]'); };
/** Waits for the kiosk's answer shown with class `kind`; on a timeout it says what the page shows instead. */
async function resultShown(kind: 'ok' | 'error', timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const shown = await kiosk.evaluate((k) => { const r = document.getElementById('result'); return !!r && !r.hidden && r.className === k; }, kind);
    if (shown) return;
    if (Date.now() > until) throw new Error(`kiosk: no ${kind} answer shown within ${timeoutMs} ms: ${await kiosk.textContent('#result')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const board = () => hall.hub.halls()[0].features.find((f) => f.name === 'board') as Board;

let clips = '';
/** When the first test tapped I1: a tap for the same item within front.kiosk.doubleTapMs (2 s) is answered with that ticket. */
let firstI1Tap = 0;
/** A folder of short recorded clips: every unit the test's calls say, and a chime. */
function clipsDir(): string {
  const dir = clips = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-clips-'));
  const tone = (ms: number, level: number) => writeWav({ rate: 16000, channels: 1, samples: new Int16Array(16 * ms).fill(level) });
  for (const unit of ['请', '号', '到', '窗口', '办理', '零', '一', '二', '三', '四', '五', '六', '七', '八', '九', 'A', 'B', 'C']) fs.writeFileSync(path.join(dir, `${unit}.wav`), tone(40, 3000));
  fs.writeFileSync(path.join(dir, 'chime.wav'), tone(200, 6000));
  return dir;
}

beforeAll(async () => {
  printer = new VirtualPrinter();
  await printer.start();
  hall = await startHall({
    SANNUO_HALL_NAME: HALL_NAME, SANNUO_PUBLIC_URL: PUBLIC, SANNUO_ADMIN_USER: 'admin', SANNUO_ADMIN_PASSWORD: PASSWORD,
    SANNUO_FRONT_PRINTER_HOST: '127.0.0.1', SANNUO_FRONT_PRINTER_PORT: String(printer.port),
    // Recorded clips of 40 ms each (the espeak-ng voice is tested in tests/hub/front/announcer.test.ts):
    // four announcements in order take about 4 s instead of 12.
    SANNUO_FRONT_ANNOUNCER_CLIPS: clipsDir(), SANNUO_FRONT_ANNOUNCER_GAP_MS: '100',
  });
  await admin('PUT', '/api/queue/departments/D1', { name: '市场监管局' });
  await admin('PUT', '/api/queue/departments/D2', { name: '税务局' });
  await admin('PUT', '/api/queue/items/I1', { name: '营业执照办理', department: 'D1', prefix: 'A', limitDays: 0 });
  await admin('PUT', '/api/queue/items/I2', { name: '发票申领', department: 'D2', prefix: 'B', limitDays: 0 });
  await admin('PUT', '/api/queue/items/I3', { name: '社保查询', department: 'D2', prefix: 'C', limitDays: 0 });
  for (const [w, name, item] of [['W1', '1号窗口', 'I1'], ['W2', '2号窗口', 'I2'], ['W3', '3号窗口', 'I3']]) {
    await admin('PUT', `/api/queue/windows/${w}`, { name, items: [item] });
    await admin('PUT', `/api/queue/staff/s${w}`, { name: `员工${w}`, department: item === 'I1' ? 'D1' : 'D2' });
    await admin('POST', `/api/queue/windows/${w}/sign-in`, { staff: `s${w}` });
    displays.push(await hall.device('display', w, `disp-${w}`));
  }
  kioskToken = (await admin('POST', '/api/tokens', { name: 'kiosk-1', role: 'kiosk' })).token;
  browser = await launchBrowser();
  kiosk = await browser.page();
  await kiosk.goto(`${hall.url}/kiosk/#token=${kioskToken}`);
  await kiosk.waitForSelector('#items button[data-item="I1"]');
});

afterAll(async () => {
  await browser?.close();
  await hall?.stop();
  await printer?.stop();
  if (clips) fs.rmSync(clips, { recursive: true, force: true });
});

test('the kiosk issues a ticket: the printer gets its text in GB18030 and a QR code of its rating link', async () => {
  firstI1Tap = Date.now();
  expect(new URL(kiosk.url()).hash).toBe(''); // the token left the address bar
  await kiosk.click('#items button[data-item="I1"]');
  await resultShown('ok');
  const shown = await kiosk.textContent('#result');
  expect(shown).toContain('A001');
  expect(printer.jobs).toHaveLength(1);
  const paper = decodeTicket(printer.jobs[0]);
  expect(paper.unknown).toEqual([]);
  const text = paper.lines.join('');
  for (const part of [HALL_NAME, 'A001', '营业执照办理', '办理窗口：1号窗口', '前面还有 0 人', '取号时间：']) expect(text).toContain(part);
  const link = readQr(paper.images[0]);
  expect(link).toMatch(new RegExp(`^${PUBLIC}/r/\\d{8}-A001\\.`));
  expect(text).toContain(link);
  // The link rates this very ticket: the hub's phone page opens for it.
  const page = await fetch(hall.url + new URL(link!).pathname);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('A001');
  expect(await hall.hub.metrics.value('sannuo_kiosk_tickets_total', { outcome: 'printed' })).toBe(1);
});

test('a double tap within 2 s is one ticket', async () => {
  const before = await waiting('I2');
  const tap = () => fetch(`${hall.url}/api/kiosk/tickets`, { method: 'POST', headers: { authorization: `Bearer ${kioskToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ item: 'I2', priority: 'normal' }) }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const [a, b] = await Promise.all([tap(), tap()]);
  expect([a.status, b.status]).toEqual([201, 201]);
  expect(b.body.number).toBe(a.body.number);
  expect(b.body.repeat).toBe(true);
  expect(await waiting('I2')).toBe(before + 1);
  expect(printer.jobs).toHaveLength(2);
});

test('paper out: the kiosk refuses in Chinese, nothing is issued, and the alert is on the dashboard and in metrics', async () => {
  const before = await waiting('I1');
  const jobs = printer.jobs.length;
  printer.state.paper = 'out';
  // Past the hub's double-tap window for I1 (the first test's tap), or the hub answers with that ticket again.
  await new Promise((r) => setTimeout(r, Math.max(0, firstI1Tap + 2_200 - Date.now())));
  await fresh(); // and past the page's own 2 s lock after the last tap
  await kiosk.click('#items button[data-item="I1"]');
  await resultShown('error');
  expect(await kiosk.textContent('#result')).toContain('打印纸已用完');
  expect(await waiting('I1')).toBe(before);
  expect(printer.jobs).toHaveLength(jobs);
  // Numbers are not used up either: the next ticket after the paper is back is A002.
  expect(await hall.hub.metrics.value('sannuo_kiosk_tickets_total', { outcome: 'refused' })).toBe(1);
  expect(await hall.hub.metrics.value('sannuo_printer_alert', { alert: 'paper-out' })).toBe(1);
  const state = await admin('GET', '/api/kiosk/printer');
  expect(state).toMatchObject({ alert: 'paper-out', status: { paper: 'out' } });
  expect(await kiosk.isVisible('#printer')).toBe(true);

  // The dashboard warns the supervisor.
  const dash = await browser.page();
  await dash.goto(`${hall.url}/app/`);
  await dash.locator('[data-testid=login] input[name=username]').fill('admin');
  await dash.locator('[data-testid=login] input[name=password]').fill(PASSWORD);
  await dash.locator('[data-testid=login] button[type=submit]').click();
  await dash.waitForSelector('[data-testid=warn-printer]');
  expect(await dash.textContent('[data-testid=warn-printer]')).toContain('打印纸已用完');
  printer.state.paper = 'low';
  expect((await admin('GET', '/api/kiosk/printer')).alert).toBe('paper-low');
  expect(await hall.hub.metrics.value('sannuo_printer_alert', { alert: 'paper-low' })).toBe(1);
  expect(await hall.hub.metrics.value('sannuo_printer_alert', { alert: 'paper-out' })).toBe(0);
  await dash.close();
  printer.state.paper = 'ok';
});

test('paper running out in the middle of a ticket voids it, with the reason, and the kiosk says so', async () => {
  const before = await waiting('I1');
  printer.state.paperOutAfter = 300; // bytes: inside the ticket's first lines
  await fresh();
  await kiosk.click('#items button[data-item="I1"]');
  await resultShown('error');
  const said = await kiosk.textContent('#result');
  expect(said).toContain('已作废');
  const number = /([A-Z]\d{3}) 号未打印成功/.exec(said!)![1];
  const ticket = await admin('GET', `/api/queue/tickets/${number}`);
  expect(ticket.status).toBe('void');
  expect(ticket.history.at(-1)).toMatchObject({ what: 'void', reason: 'print failed: paper-out' });
  expect(await waiting('I1')).toBe(before);
  expect(await hall.hub.metrics.value('sannuo_kiosk_tickets_total', { outcome: 'voided' })).toBe(1);
  printer.state.paper = 'ok';
});

test('the board shows a call within 1 s of the key press, and plays three calls made at once in order', async () => {
  for (let i = 0; i < 2; i++) await admin('POST', '/api/queue/tickets', { item: 'I3', priority: 'normal' });
  await admin('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }); // A003, as A002 was voided
  const tv = await browser.page();
  await tv.goto(`${hall.url}/board/`);
  await tv.waitForFunction(() => document.getElementById('hall')!.textContent === '三诺政务服务中心');
  expect(await tv.textContent('#waiting')).toContain('社保查询');

  const pressed = Date.now();
  await displays[0].send('call', { win: 'W1', staff: null });
  await tv.waitForFunction(() => (document.getElementById('current') as HTMLElement).dataset.number === 'A001', undefined, { timeout: 5000, polling: 20 });
  const shownAfter = Date.now() - pressed;
  expect(shownAfter).toBeLessThan(1000);
  expect(await tv.textContent('#current')).toContain('1号窗口');

  // Three windows at once (W1's next is A003: A002 was voided).
  await Promise.all([displays[0].send('call', { win: 'W1', staff: null }), displays[1].send('call', { win: 'W2', staff: null }), displays[2].send('call', { win: 'W3', staff: null })]);
  await waitFor('four announcements on the audio element', () => tv.evaluate(() => (window as any).sannuoAnnounced.length >= 4), 30_000);
  const played = await tv.evaluate(() => (window as any).sannuoAnnounced as { id: number; number: string }[]);
  const started = board().announcer!.history();
  expect(played.map((p) => p.number)).toEqual(started.map((a) => a.number));
  expect(new Set(played.slice(1).map((p) => p.number))).toEqual(new Set(['A003', 'B001', 'C001']));
  for (let i = 1; i < started.length; i++) expect(started[i].startedAt).toBeGreaterThanOrEqual(started[i - 1].startedAt + started[i - 1].durationMs);
  const audio = await fetch(`${hall.url}/api/board/audio/${played[3].id}`);
  expect(audio.headers.get('content-type')).toBe('audio/wav');
  // The board lists the calls, newest first, and the windows.
  expect(await tv.locator('#calls li').count()).toBe(4);
  expect(await tv.textContent('#windows')).toContain('正在办理');
  console.log(`front: call shown on the board ${shownAfter} ms after the key press`);
});

test('the board survives a hub restart without a reload: the next call after it shows', async () => {
  const tv = await browser.page();
  await tv.goto(`${hall.url}/board/`);
  await tv.waitForFunction(() => document.getElementById('hall')!.textContent === '三诺政务服务中心');
  await admin('POST', '/api/queue/tickets', { item: 'I3', priority: 'normal' });
  const old = hall.hub;
  const port = old.httpPort;
  await old.stop();
  // The same data and the same address, as a hall PC restarting its hub service.
  const again = new Hub({ ...old.settings, http: { ...old.settings.http, port } }, silentLogger(), {});
  await again.start();
  try {
    const display = new FakeDevice(displays[2].config);
    display.boot = 2;
    await display.connect(`mqtt://127.0.0.1:${again.mqttPort}`);
    await display.send('call', { win: 'W3', staff: null });
    await waitFor('the call committed', () => display.unacked.size === 0);
    // The next waiting C ticket at W3 (C002 after the earlier tests, C001 when this test runs alone).
    const expected = (await again.queue.snapshot()).windows.find((w) => w.id === 'W3')!.ticket;
    await tv.waitForFunction((n) => (document.getElementById('current') as HTMLElement).dataset.number === n, expected, { timeout: 10_000 });
    await display.close();
  } finally {
    await again.stop();
  }
});
