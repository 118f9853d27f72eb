/// <reference lib="dom" />
/**
 * The 数据汇聚 page in real Chromium: a supervisor sees the platform's refusal with its reason,
 * fixes its cause (here the platform starts accepting), sends the refused record again from the
 * page, and sees it acknowledged.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { launchBrowser, type BrowserSession } from '../support/browser.js';
import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';
import { waitFor } from '../../support/device.js';

jest.setTimeout(120_000);

const PASSWORD = 'hall-pass-2025';
let f: HubFixture;
let browser: BrowserSession;
let server: http.Server;
let accepting = false;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (accepting) res.writeHead(200).end('{"code":"200"}');
      else res.writeHead(400, { 'content-type': 'application/json' }).end('{"message":"事项编码未注册"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
  f = await startHub({ 'platform.enabled': true, 'platform.adapter': 'http', 'platform.http.endpoint': url, 'platform.interval': 50, 'admin.user': 'admin', 'admin.password': PASSWORD });
  await setUpHall(f.api, 1);
  const caller = await f.device('display', 'W1', 'disp-1');
  const pad = await f.device('pad', 'W1', 'pad-1');
  await caller.send('call', { win: 'W1', staff: null });
  await caller.send('call', { win: 'W1', staff: null });
  await waitFor('rateReq', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 5, reason: null, offline: false });
  await waitFor('refused', async () => (await f.api('GET', '/api/platform/report')).failed === 1);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await f?.stop();
  await new Promise((r) => { server.closeAllConnections(); server.close(r); });
});

test('the supervisor sees the refusal and its reason, sends it again, and sees it acknowledged', async () => {
  const page = await browser.page();
  await page.goto(`${f.http}/app/`);
  await page.locator('[data-testid=login] input[name=username]').fill('admin');
  await page.locator('[data-testid=login] input[name=password]').fill(PASSWORD);
  await page.locator('[data-testid=login] button[type=submit]').click();
  // Before sign-in the shell's /api/auth/me answers 401 (a console line); what follows must be clean.
  await page.locator('[data-testid=nav]').waitFor({ state: 'visible' });
  const problems = browser.problems.length;
  await page.locator('[data-testid=nav-platform]').filter({ hasText: '数据汇聚' }).click();
  await page.locator('[data-testid=platform-failed] .stat-value').filter({ hasText: '1' }).waitFor();
  await page.locator('[data-testid=platform-failures]').filter({ hasText: '事项编码未注册' }).waitFor();
  expect(await page.locator('[data-testid=platform-adapter] .stat-value').textContent()).toBe('http / national');
  accepting = true;
  await page.locator('[data-testid=platform-retry]').click();
  await page.locator('[data-testid=platform-acked] .stat-value').filter({ hasText: '1' }).waitFor();
  await page.locator('[data-testid=platform-failed] .stat-value').filter({ hasText: '0' }).waitFor();
  expect(await page.locator('[data-testid=platform-retry]').isDisabled()).toBe(true);
  expect(browser.problems.slice(problems)).toEqual([]);
});
