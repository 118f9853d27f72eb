/**
 * firmware/core in XS, the engine Moddable runs on the ESP32: the scenario in tests/xs/scenario.ts
 * runs here on Node and, bundled, inside an xsnap worker (tests/xs/run-xs.mjs, a child process
 * because @endo/init would harden jest's built-ins). The two transcripts must be identical.
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runScenario, type LogEntry, type SoakFigures, type Transcript } from './scenario.js';

const runner = join(__dirname, 'run-xs.mjs');

interface XsReport {
  bundles: Record<string, { bytes: number; minified: number }>;
  prelude: { removed: string[]; stuck: string[] };
  transcript: Transcript;
  scenarioMs: number;
  totalMs: number;
  soak: {
    events: number;
    ms: number;
    samples: (SoakFigures & { heapSlots: number; snapshotBytes: number; ms: number })[];
    final: SoakFigures;
    growthSlots: number;
    growthSnapshotBytes: number;
  };
}

const SOAK_EVENTS = 10_000;
/**
 * Leak bounds between the 1k and the 10k sample, after a full collection. Measured: about 20
 * slots and a snapshot that moves with the outbox log (up to its 64 KiB capacity). Leaking one
 * object per event would add ~9,000 slots; one signed line per event ~2 MB.
 */
const MAX_SLOT_GROWTH = 1_000;
const MAX_SNAPSHOT_GROWTH = 128 * 1024; // bytes

let xs: XsReport;
let node: Transcript;

beforeAll(() => {
  // About 30 s of CPU, mostly the 10,000-event soak; generous wall-clock room for a loaded machine.
  const child = spawnSync(process.execPath, [runner, '--soak', String(SOAK_EVENTS)], {
    cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024,
  });
  // The figures (bundle size, XS heap over the soak) belong in the test output.
  if (child.stderr) process.stderr.write(child.stderr);
  if (child.status !== 0) throw new Error(`run-xs.mjs exited ${child.status ?? child.signal}: ${child.stderr}`);
  xs = JSON.parse(child.stdout) as XsReport;
  node = runScenario();
}, 250_000);

/** Entries of one kind from a device's log. */
function entries<K extends string>(log: LogEntry[], kind: K): (LogEntry & Record<K, unknown>)[] {
  return log.filter((e) => kind in e) as (LogEntry & Record<K, unknown>)[];
}

test('the bundle ran with ECMAScript globals only', () => {
  expect(xs.prelude.stuck).toEqual([]);
  // xsnap's host globals were really there and really taken away.
  expect(xs.prelude.removed).toEqual(expect.arrayContaining(['print', 'TextEncoder', 'TextDecoder', 'setImmediate', 'performance']));
});

test('XS and Node produce the same transcript', () => {
  expect(xs.transcript).toEqual(node);
  // Serialised too: key order and number formatting are part of what the hub verifies.
  expect(JSON.stringify(xs.transcript)).toBe(JSON.stringify(node));
});

describe('the transcript says what the protocol should', () => {
  test('keys: the signing key and the MQTT password differ', () => {
    expect(node.protocol.keys.keysDiffer).toBe(true);
    expect(node.protocol.keys.signingKey).toMatch(/^[0-9a-f]{64}$/);
  });

  test('UTF-8: well-formed text round-trips, every malformed sequence is refused', () => {
    expect(node.protocol.utf8.filter((u) => !u.roundTrip).map((u) => u.text)).toEqual(['lone \ud800 surrogate']);
    expect(node.protocol.utf8[0].hex).toBe('4130343220e8afb7e588b033e58fb7e7aa97e58fa3');
    expect(node.protocol.malformedUtf8.every((m) => !m.decoded)).toBe(true);
  });

  test('encodeEvent refuses what the hub would refuse', () => {
    const codes = Object.fromEntries(node.protocol.encodeRefusals.map((r) => [r.case, r.code]));
    expect(codes).toEqual({
      'level 6': 'bad-field', 'transfer names both targets': 'bad-field', 'transfer names no target': 'bad-field',
      'oversized boot event': 'oversized', 'seq 0': 'bad-field', 'wrong version': 'wrong-version',
      'unknown type': 'unknown-type', 'extra body field': 'bad-field', 'bad reason': 'bad-field', 'good rating': 'ACCEPTED',
    });
  });

  test('event decoding: errors by code, signed-but-bad lines refused with their seq', () => {
    const byCase = node.protocol.events.map((e) => [e.case, e.kind, e.code ?? null, e.seq ?? null]);
    expect(byCase).toEqual([
      ['good rating', 'event', null, 7],
      ['empty payload', 'rejected', 'empty', null],
      ['oversized payload', 'rejected', 'oversized', null],
      ['not UTF-8', 'rejected', 'not-utf8', null],
      ['33 lines', 'rejected', 'too-many', null],
      ['unsigned', 'rejected', 'unsigned', null],
      ['broken JSON', 'rejected', 'not-json', null],
      ['tampered signature', 'rejected', 'bad-signature', null],
      ['other device on topic', 'rejected', 'wrong-device', null],
      ['unknown device', 'rejected', 'unknown-device', null],
      ['wrong version', 'rejected', 'wrong-version', null],
      ['seq 0', 'rejected', 'bad-field', null],
      ['level 6, signed', 'refused', 'bad-field', 9],
      ['unknown type, signed', 'refused', 'unknown-type', 10],
      ['keys reordered, signed', 'refused', 'not-canonical', 8],
      ['oversized line, signed', 'refused', 'oversized', 11],
      ['batch: good, tampered, level 6, good', 'event', null, 20],
      ['batch: good, tampered, level 6, good', 'rejected', 'bad-signature', null],
      ['batch: good, tampered, level 6, good', 'refused', 'bad-field', 9],
      ['batch: good, tampered, level 6, good', 'event', null, 21],
    ]);
    const level6 = node.protocol.events.find((e) => e.case === 'level 6, signed')!;
    expect(level6.message).toMatch(/body\.level: expected a rating level 1–5/);
    expect(node.protocol.events.filter((e) => e.case.startsWith('batch') && e.kind !== 'event').map((e) => e.line)).toEqual([1, 2]);
  });

  test('downlinks, acks, topics, state and config: each fault by code, naming where', () => {
    expect(node.protocol.commands.map((c) => c.code)).toEqual([
      'ACCEPTED', 'empty', 'oversized', 'not-utf8', 'unsigned', 'bad-signature', 'wrong-device',
      'bad-field', 'unknown-type', 'not-canonical', 'wrong-version', 'ACCEPTED',
    ]);
    expect(node.protocol.commands.find((c) => c.case === 'waiting is text')!.message).toMatch(/body\.waiting/);
    expect(node.protocol.acks.map((a) => a.code)).toEqual(['ACCEPTED', 'bad-field', 'bad-field', 'bad-field', 'bad-signature']);
    expect(node.protocol.topics.map((t) => t.code)).toEqual(['ACCEPTED', 'bad-topic', 'bad-topic', 'bad-topic', 'bad-topic', 'bad-topic']);
    expect(node.protocol.states.map((s) => s.code)).toEqual(['ACCEPTED', 'bad-field', 'bad-field', 'wrong-device', 'wrong-version', 'not-json']);
    const [good, many, notObject] = node.protocol.config;
    expect(good.problems).toEqual([]);
    expect(many.problems.map((p) => p.key).sort()).toEqual(['broker.port', 'broker.user', 'colour', 'id', 'keyPins', 'role', 'secret', 'volume'].sort());
    expect(notObject.problems).toEqual([{ key: '(root)', message: 'expected an object' }]);
  });
});

describe('rating pad: five tickets', () => {
  test('five ratings with the expected levels and reasons, bound to their tickets and requests', () => {
    expect(node.pad.ratings.map((r) => [r.ticket, r.req, r.level, r.reason, r.offline])).toEqual([
      ['A001', 'req-1', 5, null, false], ['A002', 'req-2', 4, null, false], ['A003', 'req-3', 3, null, false],
      ['A004', 'req-4', 2, 'slow', false], ['A005', 'req-5', 1, 'attitude', false],
    ]);
    expect(node.pad.ratings.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6]); // seq 1 is the boot event
  });

  test('each "thank you" comes after its event left for the hub, and every rating was acked', () => {
    const log = node.pad.log;
    const thanks = log.map((e, i) => ('view' in e && e.view.screen === 'thanks' ? i : -1)).filter((i) => i >= 0);
    expect(thanks).toHaveLength(5);
    for (const i of thanks) expect(log.slice(0, i).some((e) => 'evt' in e && e.evt.some((x) => x.type === 'rating'))).toBe(true);
    const acked = entries(log, 'ack').flatMap((e) => (e as { ack: { seq: number }[] }).ack.map((a) => a.seq));
    expect(acked).toEqual([1, 2, 3, 4, 5, 6]);
    expect(node.pad.stats.outbox).toBe(0);
  });

  test('the signed lines went out whole, and each bad rating asked for a reason first', () => {
    const lines = entries(node.pad.log, 'evt').flatMap((e) => (e as { lines?: string[] }).lines ?? []);
    expect(lines).toHaveLength(6);
    for (const line of lines) expect(line).toMatch(/^\{"v":1,"dev":"pad-w01","boot":1,"seq":\d+,.*,"sig":"[0-9a-f]{64}"\}$/);
    const reasons = entries(node.pad.log, 'view').filter((e) => (e as { view: { screen: string } }).view.screen === 'reason');
    expect(reasons.map((e) => (e as { view: { level: number } }).view.level)).toEqual([2, 1]);
  });

  test('a second press, a resent request, a forged request and an unsolicited press rate nothing', () => {
    expect(node.pad.counters).toMatchObject({ requests: 5, ratings: 5, badRatings: 2, ignoredAfterRating: 1, ignoredRequests: 1, unsolicitedIgnored: 1 });
    expect(node.pad.rejections).toEqual({ 'bad-signature': 1 });
    expect(node.pad.hub).toEqual({ committed: 6, duplicates: 0, gaps: [], rejected: [] });
  });
});

describe('window display: every staff action', () => {
  test('next, recall, no-show, transfer, pause and resume reach the hub in order, once each', () => {
    expect(node.window.events.map((e) => e.type)).toEqual(['boot', 'call', 'recall', 'noShow', 'call', 'transfer', 'pause', 'resume', 'call', 'pause']);
    expect(node.window.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(node.window.events.find((e) => e.type === 'transfer')!.body).toEqual({ win: 'W01', ticket: 'A002', toWin: null, toItem: 'item-7' });
    expect(node.window.events.find((e) => e.type === 'recall')!.body).toEqual({ win: 'W01', ticket: 'A001' });
    expect(node.window.hub).toEqual({ committed: 10, duplicates: 0, gaps: [], rejected: [] });
    expect(node.window.stats.outbox).toBe(0);
  });

  test('offline: next, recall and transfer refused on screen; pause kept and sent when the link returns', () => {
    expect(node.window.counters).toMatchObject({ calls: 3, recalls: 1, noShows: 1, transfers: 1, pauses: 2, resumes: 1, refusedOffline: 3, chimes: 4 });
    const log = node.window.log;
    const down = log.findIndex((e) => 'link' in e && e.link === 'down');
    const up = log.findIndex((e) => 'link' in e && e.link === 'up' && log.indexOf(e) > down);
    const offline = log.slice(down, up);
    expect(offline.filter((e) => 'view' in e && e.view.screen === 'notice').map((e) => (e as { view: { text: string } }).view.text))
      .toEqual(['网络断开，暂不能叫号', '网络断开，暂不能叫号', '网络断开，暂不能叫号']);
    expect(offline.some((e) => 'evt' in e)).toBe(false);
    const after = log.slice(up).find((e) => 'evt' in e) as { evt: { type: string; seq: number }[] };
    expect(after.evt).toEqual([{ boot: 1, seq: 10, type: 'pause', fresh: true }]);
  });
});

describe('outbox across power cuts', () => {
  test('a torn rating append is cut off on reboot; nothing else is lost and no seq is skipped', () => {
    const [torn, verdict, whole] = node.powerCut.cuts;
    expect(torn.crash).toMatchObject({ op: 'append', name: 'outbox', applied: 128, total: 256 });
    expect(torn.tornRecovered).toBe(1);
    expect(torn.pendingAfterReboot).toEqual([
      { boot: 1, seq: 1, type: 'boot' }, { boot: 1, seq: 2, type: 'rating' }, { boot: 1, seq: 3, type: 'rating' },
      { boot: 1, seq: 4, type: 'rating' }, { boot: 2, seq: 1, type: 'boot' },
    ]);
    // A cut while the verdict was written: the event is still pending and goes up again.
    expect(verdict.crash).toMatchObject({ op: 'append', applied: 8, total: 17 });
    expect(verdict.pendingAfterReboot[0]).toEqual({ boot: 2, seq: 3, type: 'rating' });
    // A cut after every byte reached the flash: the rating survives although no "thank you" was shown.
    expect(whole.crash).toMatchObject({ applied: 256, total: 256 });
    expect(whole.pendingAfterReboot[0]).toEqual({ boot: 3, seq: 2, type: 'rating' });
  });

  test('after the acks the outbox is empty; the hub has every (boot, seq) once, without gaps', () => {
    const committed = node.powerCut.committed;
    expect(committed.map((c) => `${c.boot}:${c.seq}:${c.type}`)).toEqual([
      '1:1:boot', '1:2:rating', '1:3:rating', '1:4:rating', '2:1:boot', '2:2:rating', '2:3:rating', '3:1:boot', '3:2:rating', '4:1:boot',
    ]);
    expect(node.powerCut.final).toMatchObject({ pending: 0, gaps: [], duplicates: 2, files: ['outbox'] });
    expect(node.powerCut.final.stats).toEqual({ outbox: 0, refused: 0, dropped: 0, rejectedDownlinks: 0 });
  });
});

describe(`XS memory over ${SOAK_EVENTS} ratings`, () => {
  test('every rating reached the hub once, and the outbox drained', () => {
    expect(xs.soak.events).toBe(SOAK_EVENTS);
    expect(xs.soak.final).toMatchObject({ ratings: SOAK_EVENTS, committed: SOAK_EVENTS + 1, duplicates: 0, gaps: 0, pending: 0 });
  });

  test('the heap does not grow with the number of events', () => {
    expect(xs.soak.samples.map((s) => s.events)).toEqual([0, 1_000, 5_000, 10_000]);
    expect(xs.soak.growthSlots).toBeLessThan(MAX_SLOT_GROWTH);
    expect(xs.soak.growthSnapshotBytes).toBeLessThan(MAX_SNAPSHOT_GROWTH);
    // The outbox stays within its capacity, and timers do not pile up.
    for (const s of xs.soak.samples) {
      expect(s.outboxBytes).toBeLessThanOrEqual(64 * 1024);
      expect(s.timers).toBeLessThan(20);
    }
  });
});
