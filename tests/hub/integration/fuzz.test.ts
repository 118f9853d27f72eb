/**
 * Thousands of random and mutated payloads and topics, interleaved with valid events: the
 * hub stays up, accepts none of the bad ones (no ledger row, no ack for them), and commits
 * every valid one exactly once.
 */

import { startHub, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor } from '../../../support/device.js';
import type { DeviceConfig } from '../../../firmware/core/config.js';
import mqtt from 'mqtt';

jest.setTimeout(120_000);

/** A small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

let f: HubFixture;
afterAll(async () => { await f?.stop(); });

test('fuzz: random and mutated payloads and topics never commit and never stop the hub', async () => {
  f = await startHub();
  const url = `mqtt://127.0.0.1:${f.hub.mqttPort}`;
  const pad = new FakeDevice(await f.provision('pad', 'W1', 'pad-1') as DeviceConfig);
  await pad.connect(url);
  // The hub's own identity may publish anywhere: the fuzzer uses it to reach topics a device's ACL would stop.
  const fuzzer = await mqtt.connectAsync(url, { username: '$hub', password: (f.hub as unknown as { identity: { password: string } }).identity.password, clientId: 'fuzzer', reconnectPeriod: 0 });
  const random = rng(20250314);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  const topics = ['sannuo/v1/site1/pad-1/evt', 'sannuo/v1/site1/pad-2/evt', 'sannuo/v1/site1/pad-1/state', 'sannuo/v1/other/pad-1/evt', 'sannuo/v1/site1/pad-1/evt/x', 'sannuo/v1/site1/pa d/evt', 'sannuo/v1/site1/pad-1/cmd', 'x', 'sannuo/v1/site1//evt'];
  const valid: string[] = [];
  let bad = 0;
  const mutate = (line: string): string => {
    const chars = [...line];
    const n = 1 + Math.floor(random() * 4);
    for (let i = 0; i < n; i++) {
      const at = Math.floor(random() * chars.length);
      const op = random();
      if (op < 0.4) chars[at] = String.fromCharCode(32 + Math.floor(random() * 95));
      else if (op < 0.7) chars.splice(at, 1);
      else chars.splice(at, 0, pick(['"', '{', '}', ',', '\n', '\u00e9', '0', 'x']));
    }
    return chars.join('');
  };
  for (let i = 0; i < 3000; i++) {
    const r = random();
    if (r < 0.1) {
      const line = pad.sign('state', { bat: Math.floor(random() * 100), rssi: -40, heap: 1000, up: i, outbox: 0, refused: 0, dropped: 0 });
      valid.push(line);
      await fuzzer.publishAsync('sannuo/v1/site1/pad-1/evt', line, { qos: 0 });
      continue;
    }
    bad++;
    let payload: string | Buffer;
    if (r < 0.5) {
      // A mutated copy of a real signed line (its seq is already taken, or the signature breaks).
      const base = valid.length ? pick(valid) : pad.sign('boot', { fw: '1', reason: 'x' });
      let m = mutate(base);
      if (m === base) m = base + ' ';
      payload = m;
    } else if (r < 0.8) {
      const bytes = Buffer.alloc(Math.floor(random() * 300));
      for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(random() * 256);
      payload = bytes;
    } else {
      payload = JSON.stringify({ v: 1, dev: 'pad-1', boot: 1, seq: Math.floor(random() * 1e6), t: 1, type: pick(['call', 'rating', 'nope']), body: {}, sig: 'f'.repeat(64) });
    }
    await fuzzer.publishAsync(pick(topics), payload, { qos: 0 });
  }
  // The mutated lines may have consumed seqs in pad.unacked that were never sent valid: drop those.
  const validSeqs = new Set(valid.map((l) => JSON.parse(l).seq as number));
  for (const k of [...pad.unacked.keys()]) if (!validSeqs.has(Number(k.split(':')[1]))) pad.unacked.delete(k);
  await waitFor('every valid event acked', async () => {
    if (pad.unacked.size === 0) return true;
    await pad.resendUnacked();
    await new Promise((r) => setTimeout(r, 300));
    return pad.unacked.size === 0;
  }, 60_000);
  expect(bad).toBeGreaterThan(2000);
  expect(fuzzer.connected).toBe(true); // every bad payload reached the hub over one connection
  const health = await f.api('GET', '/healthz');
  expect(health.ok).toBe(true);
  // Exactly the valid events, once each; no refusal rows, because nothing bad was both authentic and numbered.
  const rows = await f.hub.db.all<{ seq: number }>(`SELECT seq FROM ledger WHERE kind = 'event' ORDER BY seq`);
  expect(rows.map((r) => Number(r.seq))).toEqual([...validSeqs].sort((a, b) => a - b));
  expect((await f.ledgerKinds()).refusal ?? 0).toBe(0);
  for (const seq of validSeqs) expect(pad.verdict(seq)?.verdict).toBe('committed');
  expect(await f.metric('sannuo_rejected_total')).toBeGreaterThan(1500);
  await fuzzer.endAsync();
  await pad.close();
});
