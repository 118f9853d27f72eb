import { Outbox } from '../../../firmware/core/outbox.js';
import { Uplink, type UplinkOptions } from '../../../firmware/core/uplink.js';
import {
  MAX_BATCH_BYTES, MAX_BATCH_EVENTS, decodeAck, decodeEventPayload, deriveSigningKey, encodeAck, encodeEvent,
  isProtocolError, topicFor, type Ack, type AckItem, type AnyDeviceEvent, type EventType, type Verdict,
} from '../../../firmware/core/protocol.js';
import { utf8Encode } from '../../../firmware/core/utf8.js';
import { MemoryFlash } from '../../../simulator/flash.js';
import { SimTransport, hmacSha256 as mac } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

const DEV = 'pad-0107';
const KEY = deriveSigningKey(new Uint8Array(32).fill(3), mac);
const TOPIC = topicFor('hall-1', DEV, 'evt');

function sign(type: EventType, n: number, long = false): (boot: number, seq: number) => string {
  return (boot, seq) => {
    const base = { v: 1, dev: DEV, boot, seq, t: 1_736_125_200_000 + n };
    const event: AnyDeviceEvent = type === 'rating'
      ? { ...base, type, body: { win: 'W07', ticket: 'A042', req: `rq-${n}`, level: 5, reason: null, offline: false } }
      // 200 characters of three UTF-8 bytes each: a ~800-byte line, so the byte limit binds.
      : { ...base, type: 'pause', body: { win: 'W07', reason: long ? '系统维护'.repeat(50) : null } };
    const line = encodeEvent(event, KEY, mac);
    if (isProtocolError(line)) throw new Error(line.message);
    return line;
  };
}

interface Sent { at: number; payload: string; keys: string[] }

function rig(options: Partial<UplinkOptions> = {}, random = () => 0.5) {
  const time = new VirtualTime();
  const transport = new SimTransport();
  transport.link = true;
  const sent: Sent[] = [];
  transport.handler = (topic, payload, retain) => {
    expect(topic).toBe(TOPIC);
    expect(retain).toBe(false);
    const keys = payload.split('\n').map((line) => {
      const e = JSON.parse(line) as { boot: number; seq: number };
      return `${e.boot}:${e.seq}`;
    });
    sent.push({ at: time.now(), payload, keys });
  };
  const outbox = new Outbox(new MemoryFlash(), { capacity: 256 * 1024 });
  outbox.open();
  const uplink = new Uplink(outbox, { transport, timers: time, clock: time, random }, { topic: TOPIC, ...options });
  let n = 0;
  const add = (count: number, type: EventType = 'rating', long = false) => {
    for (let i = 0; i < count; i++) {
      const r = outbox.add(type, sign(type, n++, long));
      if (!r.ok) throw new Error(r.message);
    }
    uplink.kick();
  };
  const ack = (items: [number, Verdict?][], boot = outbox.boot): Ack => ({
    v: 1, dev: DEV, t: time.now(),
    acks: items.map(([seq, verdict]): AckItem => ({ boot, seq, verdict: verdict ?? 'committed', reason: verdict === 'refused' ? 'ticket A042 already rated' : null })),
  });
  return { time, transport, sent, outbox, uplink, add, ack };
}

test('batches hold at most MAX_BATCH_EVENTS events, in order, each sent once', () => {
  const { sent, add, uplink } = rig({ window: 1000 });
  add(70);
  expect(sent.map((s) => s.keys.length)).toEqual([MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 6]);
  const all = sent.flatMap((s) => s.keys);
  expect(all).toEqual(Array.from({ length: 70 }, (_, i) => `1:${i + 1}`));
  expect(uplink.inFlight()).toBe(70);
});

test('batches hold at most MAX_BATCH_BYTES bytes', () => {
  const { sent, add } = rig({ window: 1000 });
  add(45, 'pause', true);
  expect(sent.length).toBeGreaterThan(2);
  for (const s of sent) expect(utf8Encode(s.payload).length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  // Full batches are nearly full: the limit is what splits them.
  expect(utf8Encode(sent[0].payload).length).toBeGreaterThan(MAX_BATCH_BYTES - 1000);
  expect(sent.flatMap((s) => s.keys).length).toBe(45);
});

test('maxBatch option narrows batches; bad options are named', () => {
  const { sent, add } = rig({ maxBatch: 5 });
  add(12);
  expect(sent.map((s) => s.keys.length)).toEqual([5, 5, 2]);
  const outbox = new Outbox(new MemoryFlash(), { capacity: 8192 });
  const hw = { transport: new SimTransport(), timers: new VirtualTime(), clock: new VirtualTime(), random: () => 0 };
  expect(() => new Uplink(outbox, hw, { topic: TOPIC, maxBatch: 33 })).toThrow('maxBatch: expected an integer from 1 to 32');
  expect(() => new Uplink(outbox, hw, { topic: TOPIC, minBackoff: 10, maxBackoff: 5 })).toThrow('maxBackoff: 5 is below minBackoff 10');
  expect(() => new Uplink(outbox, hw, { topic: '' })).toThrow('Uplink topic');
});

test('the in-flight window bounds unacked events; acks open it again', () => {
  const { sent, add, uplink, ack } = rig({ window: 10, maxBatch: 4 });
  add(25);
  expect(sent.flatMap((s) => s.keys).length).toBe(10);
  expect(uplink.inFlight()).toBe(10);
  uplink.onAck(ack([[1], [2], [3]]));
  expect(uplink.inFlight()).toBe(10);
  expect(sent.flatMap((s) => s.keys).slice(10)).toEqual(['1:11', '1:12', '1:13']);
});

test('resends back off exponentially, with jitter, up to maxBackoff', () => {
  const opts = { ackTimeout: 1_000, minBackoff: 2_000, maxBackoff: 20_000 };
  for (const random of [0, 0.999999]) {
    const { sent, add, time, uplink } = rig(opts, () => random);
    add(1);
    time.advance(200_000);
    const gaps = sent.slice(1).map((s, i) => s.at - sent[i].at);
    // k-th wait = ackTimeout + jitter(min(maxBackoff, minBackoff·2^(k−2))), jitter in [½, 1].
    const expected = [1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 20_000].map((b, k) => (k === 0 ? b : 1_000 + Math.floor(b / 2 + (random * b) / 2)));
    expect(gaps.slice(0, expected.length)).toEqual(expected);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(opts.ackTimeout + opts.maxBackoff);
    expect(uplink.stats().resent).toBe(sent.length - 1);
    expect(sent.every((s) => s.keys.join() === '1:1')).toBe(true);
  }
});

test('jitter spreads devices that lost the same hub', () => {
  const waits = new Set<number>();
  for (const r of [0.1, 0.4, 0.7]) {
    const { sent, add, time } = rig({ ackTimeout: 1_000, minBackoff: 8_000 }, () => r);
    add(1);
    time.advance(5_000);
    expect(sent.length).toBe(2);
    time.advance(20_000);
    waits.add(sent[2].at - sent[1].at);
  }
  expect(waits.size).toBe(3);
});

test('nothing is sent while disconnected; onConnected sends it all at once', () => {
  const { sent, add, time, transport, uplink } = rig({ ackTimeout: 1_000 });
  transport.link = false;
  uplink.onDisconnected();
  add(3);
  time.advance(60_000);
  expect(sent).toEqual([]);
  expect(transport.refused).toBe(0); // it did not even try
  transport.link = true;
  uplink.onConnected();
  expect(sent.length).toBe(1);
  expect(sent[0].keys).toEqual(['1:1', '1:2', '1:3']);
});

test('a link that drops mid-round: the publish refused, retried later, nothing lost', () => {
  const { sent, add, time, transport, uplink } = rig({ ackTimeout: 1_000, minBackoff: 2_000 });
  let allow = 0;
  const handler = transport.handler!;
  transport.handler = undefined;
  // connected() says up, but publish refuses: the socket broke under it.
  transport.publish = function (topic, payload, retain) {
    if (allow <= 0) return false;
    allow--;
    handler(topic, payload, retain);
    return true;
  };
  add(2);
  expect(uplink.inFlight()).toBe(0);
  expect(time.pending()).toBe(1); // a retry is scheduled, not a spin
  allow = 10;
  time.advance(2_000);
  expect(sent.map((s) => s.keys)).toEqual([['1:1', '1:2']]);
});

test('onConnected resends every unacked event at once, with the backoff reset', () => {
  const { sent, add, time, uplink, transport } = rig({ ackTimeout: 1_000, minBackoff: 2_000, maxBackoff: 60_000, maxBatch: 32 });
  add(3);
  time.advance(30_000); // several resends: the backoff has grown
  const before = sent.length;
  expect(before).toBeGreaterThan(3);
  transport.link = false;
  uplink.onDisconnected();
  time.advance(100); // a short blip: the next backed-off resend is still far away
  expect(sent.length).toBe(before);
  transport.link = true;
  const at = time.now();
  uplink.onConnected();
  expect(sent.length).toBe(before + 1);
  expect(sent[before]).toEqual({ at, payload: expect.any(String), keys: ['1:1', '1:2', '1:3'] });
  time.advance(1_000); // the first wait again: ackTimeout
  expect(sent.length).toBe(before + 2);
  expect(sent[before + 1].at).toBe(at + 1_000);
});

test('acks: committed and refused settle, unknown and duplicate are ignored, nothing resent after', () => {
  const { sent, add, time, uplink, outbox, ack } = rig({ ackTimeout: 1_000 });
  add(4);
  uplink.onAck(ack([[1, 'committed'], [2, 'refused'], [99, 'committed']]));
  expect(outbox.pending().map((e) => e.seq)).toEqual([3, 4]);
  expect(outbox.counters.refused).toBe(1);
  expect(uplink.stats()).toMatchObject({ settled: 2, unknownAcks: 1 });
  expect(uplink.inFlight()).toBe(2);
  uplink.onAck(ack([[1, 'committed'], [2, 'refused']])); // the hub said it twice
  expect(outbox.counters.refused).toBe(1);
  expect(uplink.stats()).toMatchObject({ settled: 2, unknownAcks: 3 });
  uplink.onAck(ack([[3], [4]], outbox.boot + 5)); // another boot's seqs: unknown
  expect(outbox.pending().length).toBe(2);
  uplink.onAck(ack([[3], [4]]));
  expect(outbox.pending()).toEqual([]);
  expect(uplink.inFlight()).toBe(0);
  const count = sent.length;
  time.advance(600_000);
  expect(sent.length).toBe(count);
  expect(time.pending()).toBe(0); // no timer left behind
});

test('stop: no more sends, no timers', () => {
  const { sent, add, time, uplink } = rig({ ackTimeout: 1_000 });
  add(1);
  uplink.stop();
  add(1);
  time.advance(60_000);
  expect(sent.length).toBe(1);
  expect(time.pending()).toBe(0);
});

test('end to end with real signed lines: a hub decodes the batches and its signed acks settle them', () => {
  const { transport, add, uplink, outbox, time } = rig({ ackTimeout: 5_000, maxBatch: 8 });
  const committed = new Map<string, Verdict>();
  const hubKey = (dev: string) => (dev === DEV ? KEY : undefined);
  // The hub answers every batch; a duplicate gets the verdict it got the first time.
  transport.handler = (topic, payload) => {
    const decoded = decodeEventPayload(utf8Encode(payload), DEV, hubKey, mac);
    const acks: AckItem[] = decoded.map((d) => {
      if (d.kind !== 'event') throw new Error(`hub rejected a line: ${JSON.stringify(d)}`);
      const k = `${d.event.boot}:${d.event.seq}`;
      const verdict = committed.get(k) ?? (d.event.seq % 5 === 0 ? 'refused' : 'committed');
      committed.set(k, verdict);
      return { boot: d.event.boot, seq: d.event.seq, verdict, reason: verdict === 'refused' ? 'ticket A042 already rated' : null };
    });
    const line = encodeAck({ v: 1, dev: DEV, t: time.now(), acks }, KEY, mac);
    if (isProtocolError(line)) throw new Error(line.message);
    // Delivered later, as over a network; the device verifies it before using it.
    time.set(() => {
      const ack = decodeAck(utf8Encode(line), DEV, KEY, mac);
      if (isProtocolError(ack)) throw new Error(ack.message);
      uplink.onAck(ack);
    }, 50);
    expect(topic).toBe(TOPIC);
  };
  add(20);
  time.advance(1_000);
  expect(outbox.pending()).toEqual([]);
  expect(committed.size).toBe(20);
  expect(outbox.counters.refused).toBe(4);
  expect(uplink.stats()).toMatchObject({ sent: 20, resent: 0, settled: 20, unknownAcks: 0 });

  // A forged ack (wrong key) never reaches the uplink: decodeAck refuses it.
  const forged = encodeAck({ v: 1, dev: DEV, t: 0, acks: [] }, new Uint8Array(32), mac) as string;
  expect(decodeAck(utf8Encode(forged), DEV, KEY, mac)).toMatchObject({ code: 'bad-signature' });
});

test('QoS 0 losses: sends that vanish are resent until the hub answers', () => {
  const { transport, add, uplink, outbox, time } = rig({ ackTimeout: 2_000, minBackoff: 1_000, maxBackoff: 8_000 });
  const received: string[] = [];
  transport.handler = (_topic, payload) => {
    for (const line of payload.split('\n')) received.push(line);
    const seqs = payload.split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
    time.set(() => uplink.onAck({ v: 1, dev: DEV, t: time.now(), acks: seqs.map((seq) => ({ boot: outbox.boot, seq, verdict: 'committed' as const, reason: null })) }), 10);
  };
  transport.drop = 3; // the first three publishes report success and go nowhere
  add(1);
  add(1);
  add(1);
  expect(received.length).toBe(0);
  time.advance(60_000);
  expect(outbox.pending()).toEqual([]);
  expect(uplink.stats().resent).toBeGreaterThanOrEqual(3);
  expect(new Set(received).size).toBe(3);
});
