/**
 * Self-service terminals on a real hub: a terminal's signed session events pass ingest (dedupe,
 * ack), bad ones are refused and recorded with nothing stored, a resent line counts once, and
 * the report's terminal section (JSON, CSV, PDF) matches figures recomputed from the raw rows.
 */

import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor } from '../../../support/device.js';

let f: HubFixture;
beforeAll(async () => { f = await startHub(); });
afterAll(async () => { await f.stop(); });

const MIN = 60_000; // milliseconds

test('terminal sessions are recorded, rated, refused when wrong, and reported per item with their mean duration', async () => {
  await setUpHall(f.api, 0);
  await f.api('PUT', '/api/queue/items/I2', { name: '社保查询', department: 'D1', prefix: 'S', limitDays: 0 });
  const terminal = await f.device('terminal', 'T1', 'term-1');
  const pad = await f.device('pad', 'W1', 'pad-1');
  const now = Date.now();
  const session = async (d: FakeDevice, body: object) => {
    await d.send('session', body as never);
    const seq = d.seq;
    await waitFor(`verdict ${seq}`, () => d.verdict(seq) !== undefined, 10_000);
    return d.verdict(seq)!;
  };
  const good = [
    { win: 'T1', item: 'I1', start: now - 10 * MIN, end: now - 8 * MIN, level: 5, reason: null },
    { win: 'T1', item: 'I1', start: now - 8 * MIN, end: now - 5 * MIN, level: 4, reason: null },
    { win: 'T1', item: 'I1', start: now - 5 * MIN, end: now - 1 * MIN, level: null, reason: null },
    { win: 'T1', item: 'I2', start: now - 4 * MIN, end: now - 3 * MIN, level: 1, reason: 'slow' },
  ] as const;
  for (const body of good) expect((await session(terminal, body)).verdict).toBe('committed');
  const bad: [FakeDevice, object, RegExp][] = [
    [terminal, { win: 'T1', item: 'NOPE', start: now - MIN, end: now, level: null, reason: null }, /service item NOPE is not set up/],
    [terminal, { win: 'T1', item: 'I1', start: now, end: now - MIN, level: null, reason: null }, /ends .* before it starts/],
    [terminal, { win: 'T1', item: 'I1', start: now - MIN, end: now, level: 2, reason: null }, /needs a reason/],
    [terminal, { win: 'T1', item: 'I1', start: now - MIN, end: now, level: 7, reason: null }, /level: expected a rating level/],
    [terminal, { win: 'T2', item: 'I1', start: now - MIN, end: now, level: null, reason: null }, /installed at T1, not T2/],
    [pad, { win: 'W1', item: 'I1', start: now - MIN, end: now, level: 5, reason: null }, /only a self-service terminal/],
  ];
  for (const [d, body, reason] of bad) {
    const v = await session(d, body);
    expect([String(reason), v.verdict]).toEqual([String(reason), "refused"]);
    expect(v.reason).toMatch(reason);
  }
  // The outbox resends a line whose ack was lost: acked again with its stored verdict, stored once.
  const line = terminal.sign('session', { win: 'T1', item: 'I2', start: now - 2 * MIN, end: now - MIN, level: 5, reason: null });
  const last = terminal.seq;
  await terminal.publish(line);
  await waitFor('first ack', () => terminal.verdict(last) !== undefined);
  const duplicates = await f.metric('sannuo_events_duplicate_total');
  await terminal.publish(line);
  await waitFor('duplicate re-acked', async () => (await f.metric('sannuo_events_duplicate_total')) > duplicates);
  expect(terminal.verdict(last)!.verdict).toBe('committed');

  const raw = await f.hub.db.all<{ item: string; duration_ms: number; level: number | null }>('SELECT item, duration_ms, level FROM terminal_sessions ORDER BY item');
  expect(raw).toHaveLength(5);
  expect(await f.ledgerKinds()).toEqual(expect.objectContaining({ refusal: 6 }));

  const day = new Date(now + 480 * MIN).toISOString().slice(0, 10);
  const report = await f.api('GET', `/api/app/reports/${day}..${day}.json`);
  const byItem = new Map<string, typeof raw>();
  for (const r of raw) byItem.set(r.item, [...(byItem.get(r.item) ?? []), r]);
  const expected = [...byItem].map(([item, rows]) => {
    const rated = rows.filter((r) => r.level !== null);
    return {
      item, sessions: rows.length, meanMs: rows.reduce((a, r) => a + Number(r.duration_ms), 0) / rows.length, rated: rated.length,
      good: rated.filter((r) => r.level! >= 4).length, bad: rated.filter((r) => r.level! <= 2).length,
    };
  });
  expect(report.terminals.items.map((x: Record<string, unknown>) => ({ item: x.item, sessions: x.sessions, meanMs: x.meanMs, rated: x.rated, good: x.good, bad: x.bad }))).toEqual(expected);
  expect(report.terminals.items[0]).toEqual(expect.objectContaining({ item: 'I1', name: '营业执照', sessions: 3, meanMs: 3 * MIN, satisfaction: 1 }));
  expect(report.terminals.sessions).toBe(5);

  const csv = await (await f.call('GET', `/api/app/reports/${day}..${day}.csv`)).text();
  // Under the report's Chinese headers: levels and times empty in the terminal rows.
  expect(csv).toContain('自助终端,,I1,营业执照,2,,,,,,100.00%,0.00%,66.67%,3,0,,,,');
  expect(csv).toContain('自助终端用时,,I1,营业执照,,,,,,,,,,180.0,,,,,');
  const pdf = await f.call('GET', `/api/app/reports/${day}..${day}.pdf`);
  expect(pdf.status).toBe(200);
  expect((await pdf.arrayBuffer()).byteLength).toBeGreaterThan(1000);
}, 60_000);
