/**
 * Ingest's commit path as tuned for latency and throughput (hub/ingest/ingest.ts): caller keys skip
 * the batch window; a group's dedupe, ledger rows and events rows are written in a few
 * statements yet keep the event order in the ledger; groups commit back to back. Real hub,
 * embedded Aedes, MQTT.js devices signing real events.
 */

import { createHmac } from 'node:crypto';
import { hubPerTest, setUpHall, type HubFixture } from '../../../support/hub.js';
import { waitFor, bootBody } from '../../../support/device.js';

const hubs = hubPerTest();
const device = hubs.device;
let f: HubFixture;

test('a call is committed and displayed at once; a health event waits for the batch window', async () => {
  const WINDOW = 1000; // ms (the most settings allow): far longer than a prompt commit takes
  f = await hubs.start({ 'ingest.batchWindow': WINDOW });
  const tickets = await setUpHall(f.api, 2);
  const caller = await device('display', 'W1', 'disp-1');

  let sent = Date.now();
  await caller.send('boot', bootBody);
  await new Promise((r) => setTimeout(r, WINDOW / 3));
  expect(caller.verdict(1)).toBeUndefined(); // still gathering
  await waitFor('boot ack after the window', () => caller.verdict(1) !== undefined, WINDOW * 3);
  expect(Date.now() - sent).toBeGreaterThanOrEqual(WINDOW - 50);

  sent = Date.now();
  await caller.send('call', { win: 'W1', staff: null });
  await waitFor('display command for the call', () => caller.commands.some((c) => c.type === 'display' && c.body.ticket === tickets[0]), WINDOW * 3);
  const answered = Date.now() - sent;
  expect(caller.verdict(2)?.verdict).toBe('committed');
  expect(answered).toBeLessThan(WINDOW - 100); // it did not wait for the window
});

test('a mixed group keeps the event order in the ledger: events, queue rows and refusals interleaved', async () => {
  f = await hubs.start({ 'ingest.batchWindow': 200 });
  const tickets = await setUpHall(f.api, 2);
  const caller = await device('display', 'W1', 'disp-1');
  const pad = await device('pad', 'W1', 'pad-1');
  await caller.send('call', { win: 'W1', staff: null }); // A001 at W1
  await waitFor('first call', () => caller.unacked.size === 0);
  await caller.send('call', { win: 'W1', staff: null }); // finishes A001: the pad is asked to rate it
  await waitFor('rateReq', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await waitFor('second call acked', () => caller.unacked.size === 0);
  const before = Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM ledger'))!.n);

  // One message of lines from the pad, committed as one group: boot, rating (queue rows of its
  // own), a second rating of the same ticket (refused by the queue), a line signed but not
  // canonical (refused at decode), another boot, and a duplicate of the first line.
  const lines = [
    pad.sign('boot', bootBody),
    pad.sign('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 5, reason: null, offline: false }),
    pad.sign('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false }),
  ];
  const unsigned = `{"dev":"pad-1","v":1,"boot":1,"seq":4,"t":5,"type":"boot","body":{"fw":"x","reason":"y"}}`;
  lines.push(unsigned.slice(0, -1) + `,"sig":"${createHmac('sha256', pad.key).update(unsigned).digest('hex')}"}`);
  pad.seq = 4;
  lines.push(pad.sign('boot', bootBody), lines[0]);
  await pad.publish(lines.join('\n'));
  await waitFor('all acked', () => [1, 2, 3, 4, 5].every((s) => pad.verdict(s) !== undefined));

  expect([1, 2, 3, 4, 5].map((s) => pad.verdict(s)!.verdict)).toEqual(['committed', 'committed', 'refused', 'refused', 'committed']);
  const rows = await f.hub.db.all<{ kind: string; dev: string | null; seq: number | null }>(
    'SELECT kind, dev, seq FROM ledger WHERE "row" > $1 ORDER BY "row"', [before]);
  expect(rows.map((r) => `${r.kind}:${r.seq}`)).toEqual(['event:1', 'event:2', 'rating:2', 'event:3', 'refusal:3', 'refusal:4', 'event:5']);
  // An event's ledger body is its signed text, which is exactly JSON.stringify of the event.
  const first = await f.hub.db.get<{ body: string }>('SELECT body FROM ledger WHERE "row" > $1 AND kind = $2 AND seq = 1', [before, 'event']);
  const { sig: _sig, ...event } = JSON.parse(lines[0]) as Record<string, unknown>;
  expect(first!.body).toBe(JSON.stringify(event));
  expect(lines[0].startsWith(first!.body.slice(0, -1))).toBe(true);
  // Five seqs decided, none missing: one marks row for the pad's boot.
  expect(await f.hub.db.all("SELECT boot, upto, gaps FROM event_marks WHERE dev = 'pad-1'")).toEqual([{ boot: 1, upto: 5, gaps: '' }]);
  expect(await f.api('GET', '/api/ledger/verify')).toMatchObject({ ok: true, problem: null });
  expect(tickets).toHaveLength(2);
});

test('many devices at once: every event committed exactly once, acked, in groups larger than one', async () => {
  f = await hubs.start();
  const pads = await Promise.all(Array.from({ length: 8 }, (_, i) => device('pad', `L${i}`, `pad-${i}`)));
  const PER_PAD = 60;
  await Promise.all(pads.map(async (p) => {
    for (let k = 0; k < PER_PAD; k++) void p.send('boot', bootBody);
  }));
  await waitFor('every event acked', () => pads.every((p) => p.unacked.size === 0), 60_000);
  for (const p of pads) for (let s = 1; s <= PER_PAD; s++) expect(p.verdict(s)?.verdict).toBe('committed');
  expect(await f.eventRows()).toBe(8 * PER_PAD);
  const histogram = await f.hub.metrics.batchSize.get();
  const groups = histogram.values.find((v) => v.metricName === 'sannuo_batch_events_count')!.value;
  expect(groups).toBeGreaterThan(0);
  expect(groups).toBeLessThan(8 * PER_PAD);
  expect(await f.api('GET', '/api/ledger/verify')).toMatchObject({ ok: true, problem: null });
});
