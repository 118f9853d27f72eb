/**
 * firmware/core in XS, the engine Moddable runs on the ESP32: the scenario in tests/xs/scenario.ts
 * runs here on Node and, bundled, inside an xsnap worker (tests/xs/run-xs.mjs, a child process
 * because @endo/init would harden jest's built-ins). The two transcripts must be identical.
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runScenario, type Transcript } from './scenario.js';

const runner = join(__dirname, 'run-xs.mjs');

interface XsReport {
  bundles: Record<string, { bytes: number; minified: number }>;
  prelude: { removed: string[]; stuck: string[] };
  transcript: Transcript;
  scenarioMs: number;
  totalMs: number;
}

let xs: XsReport;
let node: Transcript;

beforeAll(() => {
  const child = spawnSync(process.execPath, [runner], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 });
  // The figures (bundle size, XS heap over the soak) belong in the test output.
  if (child.stderr) process.stderr.write(child.stderr);
  if (child.status !== 0) throw new Error(`run-xs.mjs exited ${child.status ?? child.signal}: ${child.stderr}`);
  xs = JSON.parse(child.stdout) as XsReport;
  node = runScenario();
}, 90_000);

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
