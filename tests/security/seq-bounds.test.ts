/**
 * Dedupe marks stay bounded: a seq more than SEQ_WINDOW ahead of a device's highest decided seq
 * is refused (and recorded), and a seq that would keep more than MAX_GAPS gaps is refused and
 * recorded too. Resends get the same verdicts; in-order seqs go on as before.
 */

import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, bootBody, waitFor } from '../../support/device.js';
import { MAX_GAPS, SEQ_WINDOW, SeqMarks } from '../../hub/ingest/event-marks.js';

let f: HubFixture;
let d: FakeDevice | undefined;
afterEach(async () => {
  await d?.close();
  await f?.stop();
});

test('SeqMarks.bound: in order and gap ends are free; far ahead and too many gaps are not', () => {
  const m = new SeqMarks();
  expect(m.bound(1)).toBeNull();
  m.add(1);
  expect(m.bound(1 + SEQ_WINDOW)).toBeNull();
  expect(m.bound(2 + SEQ_WINDOW)).toMatchObject({ code: 'seq-window', mark: true });
  for (let s = 3; m.gapCount < MAX_GAPS; s += 2) m.add(s);
  const top = m.highest;
  expect(m.bound(top + 1)).toBeNull(); // in order
  expect(m.bound(2)).toBeNull(); // fills a gap of one
  expect(m.bound(top + 2)).toMatchObject({ code: 'seq-gaps', mark: false });
  const flagged = new SeqMarks(top, '!' + m.gapText());
  expect(flagged.refusedUnmarked).toBe(true);
  expect(flagged.gapCount).toBe(MAX_GAPS);
});

async function marksRow(dev: string): Promise<{ upto: number; gaps: string }> {
  const r = await f.hub.db.get<{ upto: number; gaps: string }>('SELECT upto, gaps FROM event_marks WHERE dev = $1 AND boot = $2', [dev, 1]);
  return { upto: Number(r!.upto), gaps: r!.gaps };
}

test('a far-ahead seq is refused; spaced seqs cannot grow the marks row without bound', async () => {
  f = await startHub();
  d = new FakeDevice(await f.provision('pad', 'W1', 'pad1'));
  await d.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
  const dev = d.config.id;
  await d.send('boot', bootBody);
  await waitFor('seq 1 acked', () => d!.verdict(1) !== undefined);
  expect(d.verdict(1)!.verdict).toBe('committed');

  d.seq = 999_999;
  const far = await d.send('boot', bootBody);
  await waitFor('far seq acked', () => d!.verdict(1_000_000) !== undefined);
  expect(d.verdict(1_000_000)).toMatchObject({ verdict: 'refused' });
  expect(d.verdict(1_000_000)!.reason).toMatch(/seq-window: .*window of 4096/);
  expect(await f.metric('sannuo_refused_total', { reason: 'seq-window' })).toBe(1);
  // a resend gets the same verdict
  await d.publish(far);
  await waitFor('far seq acked again', () => d!.verdicts.get('1:1000000')!.length === 2);
  expect(d.verdicts.get('1:1000000')![1]).toEqual(d.verdicts.get('1:1000000')![0]);

  // spaced seqs inside the gap below it: each would split it
  const spaced: number[] = [];
  for (let s = 3; spaced.length < MAX_GAPS + 200; s += 2) spaced.push(s);
  const roundTrips: number[] = [];
  for (let i = 0; i < spaced.length; i += 16) {
    const lines = spaced.slice(i, i + 16).map((s) => { d!.seq = s - 1; return d!.sign('boot', bootBody); });
    const started = Date.now();
    await d.publish(lines.join('\n'));
    await waitFor('batch acked', () => spaced.slice(i, i + 16).every((s) => d!.verdict(s) !== undefined));
    roundTrips.push(Date.now() - started);
  }
  const verdicts = spaced.map((s) => d!.verdict(s)!);
  const refused = verdicts.filter((v) => v.verdict === 'refused');
  expect(refused.length).toBeGreaterThan(100);
  for (const v of refused) expect(v.reason).toMatch(/^seq-gaps: /);
  const row = await marksRow(dev);
  expect(row.gaps.split(',').length).toBeLessThanOrEqual(MAX_GAPS);
  expect(row.gaps.length).toBeLessThan(MAX_GAPS * 20);
  roundTrips.sort((a, b) => a - b);
  expect(roundTrips[Math.floor(roundTrips.length / 2)]).toBeLessThan(500);

  // the refusals are recorded (refusals rows and ledger rows), and a resend of one gets the same verdict
  const refusalRows = Number((await f.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM refusals WHERE dev = $1', [dev]))!.n);
  expect(refusalRows).toBe(refused.length + 1);
  expect((await f.ledgerKinds()).refusal).toBe(refused.length + 1);
  const lastRefused = refused[refused.length - 1].seq;
  d.seq = lastRefused - 1;
  const again = d.sign('boot', bootBody);
  await d.publish(again);
  await waitFor('resend acked', () => d!.verdicts.get(`1:${lastRefused}`)!.length === 2);
  expect(d.verdicts.get(`1:${lastRefused}`)![1]).toEqual(d.verdicts.get(`1:${lastRefused}`)![0]);

  // in order after the far seq: committed as usual
  d.seq = 1_000_000;
  await d.send('boot', bootBody);
  await waitFor('next acked', () => d!.verdict(1_000_001) !== undefined);
  expect(d.verdict(1_000_001)!.verdict).toBe('committed');
  expect((await marksRow(dev)).upto).toBe(1_000_001);
}, 120_000);
