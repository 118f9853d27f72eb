/**
 * The hub with its embedded Aedes broker, devices as MQTT.js clients signing real events:
 * commit and ack, queue effects as signed commands, exactly-once under duplicates, and every
 * kind of bad input rejected (no ledger row) or refused (recorded) and counted by reason.
 */

import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../../support/device.js';
import { encodeEvent, topicFor } from '../../../firmware/core/protocol.js';
import { nodeHmac } from '../../../hub/devices/registry.js';
import { createHmac } from 'node:crypto';

let f: HubFixture;
let url: string;
const devices: FakeDevice[] = [];

async function device(role: 'pad' | 'display', win: string, id: string): Promise<FakeDevice> {
  const d = new FakeDevice(await f.provision(role, win, id));
  await d.connect(url);
  devices.push(d);
  return d;
}

beforeEach(async () => {
  f = await startHub();
  url = `mqtt://127.0.0.1:${f.hub.mqttPort}`;
});
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f.stop();
});

test('events are committed once, acked after commit, and the queue answers with signed commands', async () => {
  const tickets = await setUpHall(f.api, 3);
  const caller = await device('display', 'W1', 'disp-1');
  const pad = await device('pad', 'W1', 'pad-1');
  await caller.publishState(true);
  await waitFor('time command on coming online', () => caller.commands.some((c) => c.type === 'time'));

  await caller.send('boot', bootBody);
  await caller.send('call', { win: 'W1', staff: null });
  await waitFor('acks', () => caller.unacked.size === 0);
  expect(caller.verdict(1)).toEqual({ boot: 1, seq: 1, verdict: 'committed', reason: null });
  expect(caller.verdict(2)?.verdict).toBe('committed');
  await waitFor('display command', () => caller.commands.some((c) => c.type === 'display' && c.body.ticket === tickets[0]));

  // Next call finishes A001, so the pad is asked to rate it (一事一评).
  await caller.send('call', { win: 'W1', staff: null });
  await waitFor('rateReq at the pad', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  expect(req.type === 'rateReq' && req.body.ticket).toBe(tickets[0]);
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 5, reason: null, offline: false });
  await waitFor('rating ack', () => pad.unacked.size === 0);
  expect(pad.verdict(1)?.verdict).toBe('committed');
  // Rating the same ticket again is refused and recorded (one service, one rating).
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false });
  await waitFor('second rating ack', () => pad.unacked.size === 0);
  expect(pad.verdict(2)?.verdict).toBe('refused');
  const refusals = await f.hub.db.all<{ dev: string; seq: number; sha256: string }>('SELECT dev, seq, sha256 FROM refusals');
  expect(refusals).toHaveLength(1);
  expect(refusals[0]).toMatchObject({ dev: 'pad-1' });
  expect(refusals[0].sha256).toMatch(/^[0-9a-f]{64}$/);

  const kinds = await f.ledgerKinds();
  expect(kinds.event).toBe(5);
  expect(kinds.refusal).toBe(1);
  expect(await f.metric('sannuo_events_committed_total')).toBe(4);
  const verify = await f.api('GET', '/api/ledger/verify');
  expect(verify).toMatchObject({ ok: true, problem: null });
});

test('duplicates: resending the same events gives one ledger row each and the same verdict again', async () => {
  await setUpHall(f.api, 1);
  const caller = await device('display', 'W1', 'disp-1');
  const lines = [caller.sign('boot', bootBody), caller.sign('call', { win: 'W1', staff: null }), caller.sign('pause', { win: 'W1', reason: null }), caller.sign('call', { win: 'W1', staff: null })];
  await caller.publish(lines.join('\n'));
  await waitFor('first acks', () => caller.unacked.size === 0);
  const first = [1, 2, 3, 4].map((s) => caller.verdict(s));
  expect(first.map((v) => v?.verdict)).toEqual(['committed', 'committed', 'committed', 'refused']); // call while paused
  // The same lines again, singly, batched, and twice inside one batch.
  for (const line of lines) await caller.publish(line);
  await caller.publish(lines.join('\n'));
  await caller.publish([lines[1], lines[1], lines[3]].join('\n'));
  await waitFor('re-acks', () => [1, 2, 3, 4].every((s) => caller.verdicts.get(`1:${s}`)!.length >= 3));
  for (const s of [1, 2, 3, 4]) for (const v of caller.verdicts.get(`1:${s}`)!) expect(v).toEqual(first[s - 1]);
  expect(await f.eventRows('disp-1')).toBe(4);
  expect((await f.ledgerKinds()).refusal).toBe(1);
  expect(await f.metric('sannuo_events_duplicate_total')).toBeGreaterThanOrEqual(9);
});

test('forged, replayed on another topic, malformed and oversized lines leave no ledger row and are counted by reason', async () => {
  const pad = await device('pad', 'W1', 'pad-1');
  const other = await device('pad', 'W2', 'pad-2');
  const good = pad.sign('boot', bootBody);
  pad.unacked.clear();
  const forged = good.replace(/"sig":"[0-9a-f]{4}/, '"sig":"0000');
  const wrongKey = encodeEvent({ v: 1, dev: 'pad-1', boot: 1, seq: 9, t: 1, type: 'boot', body: bootBody }, new Uint8Array(32), nodeHmac) as string;
  await pad.publish(forged);
  await pad.publish(wrongKey);
  await pad.publish('not json at all');
  await pad.publish(Buffer.from([0xff, 0xfe, 0x00]));
  await pad.publish('x'.repeat(20_000));
  await pad.publish('');
  // pad-2 replays pad-1's valid line on its own topic: the device in the line is not the topic's.
  await other.publish(good);
  await waitFor('rejections counted', async () => (await f.metric('sannuo_rejected_total')) >= 7);
  expect(await f.metric('sannuo_rejected_total', { reason: 'bad-signature' })).toBe(2);
  expect(await f.metric('sannuo_rejected_total', { reason: 'unsigned' })).toBe(1);
  expect(await f.metric('sannuo_rejected_total', { reason: 'not-utf8' })).toBe(1);
  expect(await f.metric('sannuo_rejected_total', { reason: 'oversized' })).toBe(1);
  expect(await f.metric('sannuo_rejected_total', { reason: 'empty' })).toBe(1);
  expect(await f.metric('sannuo_rejected_total', { reason: 'wrong-device' })).toBe(1);
  expect(await f.eventRows()).toBe(0);
  expect(pad.acksReceived + other.acksReceived).toBe(0);
  const text = await (await fetch(`${f.http}/metrics`)).text();
  expect(text).toMatch(/sannuo_rejected_total\{reason="bad-signature"\} 2/);

  // The real line still commits afterwards: nothing was poisoned.
  pad.unacked.set('1:1', good);
  await pad.publish(good);
  await waitFor('ack', () => pad.unacked.size === 0);
  expect(await f.eventRows('pad-1')).toBe(1);
});

test('an authentic, numbered but invalid event is refused, recorded with its hash, and acked refused', async () => {
  const pad = await device('pad', 'W1', 'pad-1');
  // Signed with the right key but not canonical (keys reordered): authentic, numbered, invalid.
  const unsigned = '{"dev":"pad-1","v":1,"boot":1,"seq":1,"t":5,"type":"boot","body":{"fw":"x","reason":"y"}}';
  const sig = createHmac('sha256', pad.key).update(unsigned).digest('hex');
  await pad.publish(unsigned.slice(0, -1) + `,"sig":"${sig}"}`);
  await waitFor('refusal ack', () => pad.verdict(1) !== undefined);
  expect(pad.verdict(1)).toMatchObject({ verdict: 'refused' });
  expect(pad.verdict(1)!.reason).toMatch(/^not-canonical/);
  expect(await f.metric('sannuo_refused_total', { reason: 'not-canonical' })).toBe(1);
  expect((await f.ledgerKinds()).refusal).toBe(1);
  expect(await f.eventRows()).toBe(0);
});

test('broker: a wrong password is refused; publishing to another device\'s topic changes nothing', async () => {
  const pad = await device('pad', 'W1', 'pad-1');
  const intruder = new FakeDevice(await f.provision('pad', 'W2', 'pad-2'));
  await expect(intruder.connect(url, { password: 'wrong-password' })).rejects.toThrow(/Bad username or password|Not authorized/i);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'bad-password' })).toBe(1);
  await intruder.connect(url);
  devices.push(intruder);
  // pad-2 signs a line for pad-1's topic with its own key and publishes to pad-1's evt topic.
  const line = intruder.sign('boot', bootBody);
  intruder.client!.publish(topicFor('site1', 'pad-1', 'evt'), line, { qos: 0 });
  await waitFor('publish denied', async () => (await f.metric('sannuo_broker_refused_total', { reason: 'publish-denied' })) === 1);
  // Subscribing to another device's acks is refused too.
  await expect(pad.client!.subscribeAsync(topicFor('site1', 'pad-2', 'ack'))).rejects.toThrow(/Subscribe error/);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'subscribe-denied' })).toBe(1);
  expect(await f.eventRows()).toBe(0);
});
