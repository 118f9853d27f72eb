/**
 * The file drop (CSV) on a real hub with a clock of its own: a returning citizen's second rating
 * of the same 办件 goes as 评价次数 2; the site rule rates a service nobody rated within 7 days
 * as 基本满意 on a channel of its own, once, and not a service whose 办件 is rated; a closed
 * bad-rating case goes as its own record with the rectification outcome. Every record is once
 * in the day's file.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor } from '../../../support/device.js';
import type { PlatformFeature } from '../../../hub/platform/platform.js';
import type { RatingLevel } from '../../../firmware/core/protocol.js';

const DAY = 86_400_000; // milliseconds

/** The scenario, on the database `db` names ('sqlite': file-drop.test.ts; a postgres:// URL: file-drop.postgres.test.ts). */
export async function fileDropScenario(db: string): Promise<void> {
  let started: HubFixture | undefined;
  const devices: FakeDevice[] = [];
  const drop = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-drop-'));
  let clock = Date.now();
  try {
    await scenario();
  } finally {
    for (const d of devices) await d.close().catch(() => undefined);
    await started?.stop();
    fs.rmSync(drop, { recursive: true, force: true });
  }

  async function scenario(): Promise<void> {
  const f = started = await startHub({ db,
    'platform.enabled': true, 'platform.adapter': 'file', 'platform.file.dir': drop, 'platform.file.format': 'csv', 'platform.profile': 'stars',
    'platform.region': '440106', 'platform.departments': { D1: 'GD-D1' }, 'platform.interval': 50, 'defaultRating.days': 7, 'defaultRating.hour': 0,
  }, undefined, { now: () => clock });
  await setUpHall(f.api, 0);
  const caller = new FakeDevice(await f.provision('display', 'W1', 'disp-1'));
  const pad = new FakeDevice(await f.provision('pad', 'W1', 'pad-1'));
  for (const d of [caller, pad]) { await d.connect(f.mqtt); devices.push(d); }
  const serve = async (caseNo: string | null, level: RatingLevel | null) => {
    const { number } = await f.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal', caseNo });
    const seen = pad.commands.length;
    await caller.send('call', { win: 'W1', staff: null });
    await caller.send('call', { win: 'W1', staff: null });
    await waitFor('rateReq', () => pad.commands.slice(seen).some((c) => c.type === 'rateReq'));
    const req = pad.commands.slice(seen).find((c) => c.type === 'rateReq')!;
    if (req.type !== 'rateReq') throw new Error('unreachable');
    if (level !== null) await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level, reason: level <= 2 ? 'attitude' : null, offline: false });
    await waitFor('acked', () => pad.unacked.size === 0);
    return number as string;
  };
  await serve('GD2027-0001', 5);
  await serve('GD2027-0001', 4); // the same 办件 again: 评价次数 2
  await serve('GD2027-0002', null); // nobody rates it
  await serve('GD2027-0001', null); // unrated, but its 办件 is rated: the rule leaves it
  await serve(null, 1); // a bad rating: a case

  const feature = f.hub.halls()[0].features.find((x) => x.name === 'platform') as PlatformFeature;
  expect(await feature.defaults.run()).toBe(0); // not 7 days yet
  clock += 7 * DAY + 60_000;
  expect(await feature.defaults.runIfDue()).toBe(1);
  expect(await feature.defaults.runIfDue()).toBe(0); // once a day
  expect(await feature.defaults.run()).toBe(0); // and never twice for a service

  // The bad rating's case, through to closed by the supervisor.
  await waitFor('case opened', async () => (await f.api('GET', '/api/app/cases?status=open')).cases.length === 1);
  const [c] = (await f.api('GET', '/api/app/cases?status=open')).cases;
  for (const step of ['callback', 'rectify', 'feedback', 'review']) await f.api('POST', `/api/app/cases/${encodeURIComponent(c.id)}/${step}`, { note: `${step} 已完成` });

  await waitFor('all in the drop', async () => (await f.api('GET', '/api/platform/report')).sent === 5, 20_000);
  const files = fs.readdirSync(drop);
  const rows = files.flatMap((name) => parse(fs.readFileSync(path.join(drop, name), 'utf8'), { columns: true, bom: true }) as Record<string, string>[]);
  expect(rows.map((r) => r['评价编号'])).toHaveLength(new Set(rows.map((r) => r['评价编号'])).size);
  const ratings = rows.filter((r) => r['数据类型'] === '评价');
  expect(ratings.map((r) => [r['办件编号'], r['评价次数'], r['满意度代码'], r['评价人'], r['评价渠道']])).toEqual([
    ['GD2027-0001', '1', '5', '匿名', '4'],
    ['GD2027-0001', '2', '4', '匿名', '4'],
    [expect.stringMatching(/A\d+$/), '1', '1', '匿名', '4'],
    ['GD2027-0002', '1', '3', '系统默认', '5'],
  ]);
  expect(ratings.every((r) => r['部门编码'] === 'GD-D1' && r['行政区划'] === '440106')).toBe(true);
  const cases = rows.filter((r) => r['数据类型'] === '整改');
  expect(cases.map((r) => [r['评价编号'], r['整改结果'], r['满意度']])).toEqual([[`case:${c.id}`, '已整改', '非常不满意']]);
  expect(await f.hub.db.get('SELECT channel, level FROM queue_ratings WHERE id LIKE $1', ['default:%'])).toEqual({ channel: 'default', level: 3 });
  const report = await f.api('GET', '/api/platform/report');
  expect(report).toMatchObject({ adapter: 'file', queued: 5, sent: 5, acknowledged: 0, failed: 0, waiting: 0, byKind: { rating: 4, case: 1 } });
  }
}


