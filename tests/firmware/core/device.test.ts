import { parseDeviceConfig, type DeviceConfig } from '../../../firmware/core/config.js';
import { Device } from '../../../firmware/core/device.js';
import {
  decodeEventPayload, decodeState, deriveMqttPassword, deriveSigningKey, encodeAck, encodeCommand, isProtocolError,
  topicFor, type AnyDeviceEvent, type AnyHubCommand, type CommandBodies, type CommandType, type DeviceState,
} from '../../../firmware/core/protocol.js';
import { fromHex, toHex, utf8Encode } from '../../../firmware/core/utf8.js';
import { createSimHardware, hmacSha256 } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

const SECRET = '5a'.repeat(32);
const OTHER_SECRET = '77'.repeat(32);
const HOUR = 3600_000;

function config(role: 'pad' | 'display', extra: Record<string, unknown> = {}): DeviceConfig {
  const c = parseDeviceConfig({ id: role === 'pad' ? 'pad-w1' : 'disp-w1', role, site: 'hall1', win: 'W1', secret: SECRET, ...extra });
  if (Array.isArray(c)) throw new Error(JSON.stringify(c));
  return c;
}

/** A device on simulated hardware, and the hub's side of its link (real HMAC-SHA256 both ways). */
function rig(role: 'pad' | 'display' = 'pad', options: { skew?: number; extra?: Record<string, unknown> } = {}) {
  const time = new VirtualTime();
  const hw = createSimHardware({ time, skew: options.skew });
  const cfg = config(role, options.extra);
  const device = new Device(cfg, hw, {
    transferTargets: [{ toWin: 'W2', toItem: null, label: '2号窗口' }],
  });
  const key = deriveSigningKey(fromHex(SECRET)!, hmacSha256);
  const published: { topic: string; payload: string; retain: boolean }[] = [];
  hw.transport.handler = (topic, payload, retain) => published.push({ topic, payload, retain });
  const topic = (channel: 'evt' | 'ack' | 'cmd' | 'state') => topicFor('hall1', cfg.id, channel);
  /** Every event the hub received, decoded and verified as the hub does. */
  const received = (): AnyDeviceEvent[] => {
    const out: AnyDeviceEvent[] = [];
    const seen = new Set<string>(); // resends are deduped by (boot, seq), as the hub does
    for (const p of published.filter((m) => m.topic === topic('evt'))) {
      for (const d of decodeEventPayload(utf8Encode(p.payload), cfg.id, () => key, hmacSha256)) {
        if (d.kind !== 'event') throw new Error(`hub could not take an event: ${JSON.stringify(d)}`);
        if (seen.has(`${d.event.boot}:${d.event.seq}`)) continue;
        seen.add(`${d.event.boot}:${d.event.seq}`);
        out.push(d.event);
      }
    }
    return out;
  };
  const command = <K extends CommandType>(type: K, body: CommandBodies[K], t = time.now(), signWith = key): Uint8Array => {
    const line = encodeCommand({ v: 1, dev: cfg.id, t, type, body } as AnyHubCommand, signWith, hmacSha256);
    if (isProtocolError(line)) throw new Error(line.message);
    return utf8Encode(line);
  };
  const send = <K extends CommandType>(type: K, body: CommandBodies[K], t?: number) => device.onMessage(topic('cmd'), command(type, body, t));
  const ackAll = () => {
    const events = received();
    const line = encodeAck({ v: 1, dev: cfg.id, t: time.now(), acks: events.map((e) => ({ boot: e.boot, seq: e.seq, verdict: 'committed' as const, reason: null })) }, key, hmacSha256);
    device.onMessage(topic('ack'), utf8Encode(line as string));
  };
  const connect = () => {
    hw.transport.link = true;
    device.onConnected();
  };
  const tap = (i: number) => {
    hw.keys.tap(i);
    time.advance(1000);
  };
  return { time, hw, cfg, device, key, published, topic, received, command, send, ackAll, connect, tap };
}

test('start writes a boot event; connecting publishes retained online state and sends the event, signed', () => {
  const r = rig();
  r.device.start();
  expect(r.device.stats().outbox).toBe(1);
  expect(r.published).toEqual([]);
  r.connect();
  const state = r.published.find((m) => m.topic === r.topic('state'))!;
  expect(state.retain).toBe(true);
  const decoded = decodeState(utf8Encode(state.payload), r.cfg.id) as DeviceState;
  expect(isProtocolError(decoded)).toBe(false);
  expect(decoded).toMatchObject({ dev: 'pad-w1', online: true, role: 'pad', win: 'W1', fw: '0.1.0', bat: -1, rssi: -55, outbox: 1 });
  const events = r.received();
  expect(events.map((e) => [e.type, e.boot, e.seq])).toEqual([['boot', 1, 1]]);
  expect(events[0].body).toEqual({ fw: '0.1.0', reason: 'power-on' });
  r.ackAll();
  expect(r.device.stats().outbox).toBe(0);
  expect(r.device.subscriptions()).toEqual([r.topic('cmd'), r.topic('ack')]);
});

test('the will is the same state with online:false, and decodes', () => {
  const r = rig('display');
  r.device.start();
  const will = r.device.will();
  expect(will.topic).toBe(r.topic('state'));
  expect(will.retain).toBe(true);
  const state = decodeState(utf8Encode(will.payload), 'disp-w1');
  expect(state).toMatchObject({ dev: 'disp-w1', online: false, role: 'display', win: 'W1' });
});

test('MQTT credentials: the device id, and a password derived from the secret that is not the signing key', () => {
  const r = rig();
  const creds = r.device.mqttCredentials();
  expect(creds.username).toBe('pad-w1');
  expect(creds.password).toBe(deriveMqttPassword(fromHex(SECRET)!, hmacSha256));
  expect(creds.password).not.toBe(toHex(r.key));
});

test('a signed rateReq shows the rate view; the rating reaches the hub signed, bound to the request; the ack settles it', () => {
  const r = rig();
  r.device.start();
  r.connect();
  r.ackAll();
  r.send('rateReq', { req: 'q1', win: 'W1', ticket: 'A042', staff: 'S07', item: '社保卡补办', expires: r.time.now() + 120_000 });
  expect(r.hw.display.last).toMatchObject({ screen: 'rate', ticket: 'A042' });
  r.tap(1);
  const rating = r.received().find((e) => e.type === 'rating')!;
  expect(rating.body).toEqual({ win: 'W1', ticket: 'A042', req: 'q1', level: 4, reason: null, offline: false });
  expect(rating.seq).toBe(2);
  r.ackAll();
  expect(r.device.stats()).toEqual({ outbox: 0, refused: 0, dropped: 0, rejectedDownlinks: 0 });
});

test('forged, malformed, misdirected and replayed downlinks are counted and change nothing', () => {
  const r = rig();
  r.device.start();
  r.connect();
  const req: CommandBodies['rateReq'] = { req: 'q1', win: 'W1', ticket: 'A042', staff: null, item: null, expires: r.time.now() + 120_000 };
  const forgedKey = deriveSigningKey(fromHex(OTHER_SECRET)!, hmacSha256);
  const good = new TextDecoder().decode(r.command('rateReq', req));
  const bad: [string, Uint8Array][] = [
    ['forged', r.command('rateReq', req, r.time.now(), forgedKey)],
    ['tampered', utf8Encode(good.replace('A042', 'A043'))],
    ['not json', utf8Encode('{"v":1,' + '"sig":"' + '0'.repeat(64) + '"}')],
    ['garbage', utf8Encode('hello')],
    ['empty', new Uint8Array(0)],
    ['not utf-8', new Uint8Array([0xff, 0xfe, 0x00])],
    ['huge', new Uint8Array(20_000).fill(0x61)],
    ['other device', utf8Encode(encodeCommand({ v: 1, dev: 'pad-w2', t: r.time.now(), type: 'rateReq', body: req }, r.key, hmacSha256) as string)],
    ['other window', r.command('rateReq', { ...req, win: 'W9' })],
    ['display to a pad', r.command('display', { win: 'W1', ticket: 'A1', status: 'called', item: null, waiting: 0, text: null, chime: true })],
  ];
  const before = r.hw.display.renders;
  for (const [name, payload] of bad) {
    expect(() => r.device.onMessage(r.topic('cmd'), payload)).not.toThrow();
    expect([name, r.device.stats().rejectedDownlinks]).toEqual([name, bad.indexOf(bad.find(([n]) => n === name)!) + 1]);
  }
  expect(r.hw.display.renders).toBe(before);
  expect(r.hw.sound.counts.chime).toBe(0);
  expect(r.device.rejections).toMatchObject({ 'bad-signature': 2, 'wrong-device': 2, 'wrong-window': 1, 'wrong-role': 1 });
  // A forged ack settles nothing; an ack on a stranger's topic is ignored too.
  const events = r.received();
  const forgedAck = encodeAck({ v: 1, dev: 'pad-w1', t: r.time.now(), acks: events.map((e) => ({ boot: e.boot, seq: e.seq, verdict: 'committed' as const, reason: null })) }, forgedKey, hmacSha256) as string;
  r.device.onMessage(r.topic('ack'), utf8Encode(forgedAck));
  r.device.onMessage('sannuo/v1/hall1/pad-w2/ack', utf8Encode(forgedAck));
  expect(r.device.stats().outbox).toBe(1);
  expect(r.device.stats().rejectedDownlinks).toBe(bad.length + 2);
  // A replayed old command (signed, but long superseded) is refused.
  r.send('time', { now: r.time.now() });
  r.time.advance(5 * 60_000);
  r.send('time', { now: r.time.now() });
  r.device.onMessage(r.topic('cmd'), r.command('rateReq', req, r.time.now() - 5 * 60_000));
  expect(r.device.rejections.replay).toBe(1);
  expect(r.device.pad!.state).toBe('idle');
});

test('time sync: a device clock an hour slow stamps its events with hub time once synced', () => {
  const r = rig('pad', { skew: -HOUR });
  r.device.start();
  expect(r.device.clock.synced).toBe(false);
  r.send('time', { now: r.time.now() }); // the hub's clock is the shared virtual time
  expect(r.device.clock.synced).toBe(true);
  expect(Math.abs(r.device.clock.now() - r.time.now())).toBeLessThanOrEqual(1);
  // An older time command (replayed) does not move the clock.
  r.device.onMessage(r.topic('cmd'), r.command('time', { now: r.time.now() - 30_000 }, r.time.now() - 30_000));
  expect(Math.abs(r.device.clock.now() - r.time.now())).toBeLessThanOrEqual(1);
  // Offline rating: carries the window, the hub's time and offline:true.
  r.time.advance(10_000);
  const pressedAt = r.time.now();
  r.tap(0);
  r.connect();
  const rating = r.received().find((e) => e.type === 'rating')!;
  expect(rating.body).toEqual({ win: 'W1', ticket: null, req: null, level: 5, reason: null, offline: true });
  expect(Math.abs(rating.t - pressedAt)).toBeLessThan(1000);
  expect(r.received().find((e) => e.type === 'boot')!.t).toBeLessThan(pressedAt - HOUR + 1000); // before sync: the local clock
});

test('a config command changes the pad settings; a bad one is refused whole and named', () => {
  const changed: unknown[] = [];
  const time = new VirtualTime();
  const hw = createSimHardware({ time });
  const device = new Device(config('pad'), hw, { onSettings: (s) => changed.push(s) });
  const key = deriveSigningKey(fromHex(SECRET)!, hmacSha256);
  const send = (body: CommandBodies['config']) =>
    device.onMessage(topicFor('hall1', 'pad-w1', 'cmd'), utf8Encode(encodeCommand({ v: 1, dev: 'pad-w1', t: time.now(), type: 'config', body }, key, hmacSha256) as string));
  device.start();
  hw.transport.link = true;
  device.onConnected();
  send({ rateTimeout: null, unsolicited: 'bogus', volume: 3, idleText: null });
  expect(device.lastRejection).toMatch(/unsolicited: expected one of ignore, bind/);
  expect(device.remoteSettings().volume).toBe(6);
  send({ rateTimeout: 10_000, unsolicited: 'bind', volume: 0, idleText: '欢迎评价' });
  expect(device.remoteSettings()).toEqual({ rateTimeout: 10_000, unsolicited: 'bind', volume: 0, idleText: '欢迎评价' });
  expect(changed).toHaveLength(1);
  expect(hw.display.last).toEqual({ screen: 'idle', text: '欢迎评价', online: true });
  // 'bind' now: an unsolicited press is recorded. Volume 0: silent.
  const plays = hw.sound.plays;
  hw.keys.tap(2);
  time.advance(1000);
  expect(device.pad!.counters.ratings).toBe(1);
  expect(hw.sound.plays).toBe(plays);
});

test('display role: display commands drive the caller and its chime; keys reach the hub as events', () => {
  const r = rig('display');
  r.device.start();
  r.connect();
  r.send('display', { win: 'W1', ticket: 'A042', status: 'called', item: '社保卡补办', waiting: 3, text: null, chime: true });
  expect(r.hw.display.last).toMatchObject({ screen: 'window', ticket: 'A042', waiting: 3, online: true });
  expect(r.hw.sound.counts.chime).toBe(1);
  r.tap(1);
  r.tap(2);
  r.tap(4);
  expect(r.received().filter((e) => e.type !== 'boot').map((e) => [e.type, e.body])).toEqual([
    ['recall', { win: 'W1', ticket: 'A042' }],
    ['noShow', { win: 'W1', ticket: 'A042' }],
    ['pause', { win: 'W1', reason: null }],
  ]);
  // Offline: next refused, resume kept and sent on reconnect.
  r.hw.transport.link = false;
  r.device.onDisconnected();
  r.tap(0);
  r.tap(4);
  expect(r.device.caller!.counters.refusedOffline).toBe(1);
  const sent = r.received().length;
  r.connect();
  expect(r.received().slice(sent).map((e) => e.type)).toEqual(expect.arrayContaining(['resume']));
  expect(r.received().some((e) => e.type === 'call')).toBe(false);
});

test('a state event only when something notable changes; retained state every period', () => {
  const r = rig();
  r.device.start();
  r.connect();
  r.ackAll();
  const states = () => r.received().filter((e) => e.type === 'state');
  const retained = () => r.published.filter((m) => m.topic === r.topic('state')).length;
  r.time.advance(5 * 60_000);
  expect(states()).toHaveLength(0);
  expect(retained()).toBe(6);
  r.hw.health.bat = 15;
  r.time.advance(60_000);
  expect(states()).toHaveLength(1);
  expect(states()[0].body).toMatchObject({ bat: 15, rssi: -55 });
  r.hw.health.bat = 14;
  r.time.advance(3 * 60_000);
  expect(states()).toHaveLength(1);
});

test('a flash too full for a rating: the pad says so, nothing pretended', () => {
  // Capacity at the outbox's minimum; offline ratings fill it.
  const r = rig('pad', { extra: { outboxBytes: 4096, unsolicited: 'bind' } });
  r.device.start();
  let shown = 0;
  for (let i = 0; i < 40; i++) {
    r.tap(0);
    if (r.device.emitted.full) break;
    expect(r.hw.display.last).toMatchObject({ screen: 'thanks' });
    shown++;
    r.time.advance(60_000); // one rating per served interval without a request (PAD_DEFAULTS.minServiceMs)
  }
  expect(shown).toBeGreaterThan(3);
  expect(r.device.emitted.full).toBe(1);
  expect(r.device.pad!.counters.ratings).toBe(shown);
  expect(r.hw.display.last).toMatchObject({ screen: 'notice' });
  expect(r.hw.sound.last).toBe('error');
  expect(r.device.outbox.pending().filter((e) => e.type === 'rating')).toHaveLength(shown);
});

test('a bad config is refused at construction with the key named', () => {
  const time = new VirtualTime();
  expect(() => new Device({ ...config('pad'), secret: 'xyz' }, createSimHardware({ time }))).toThrow(/secret: expected 64/);
});

test('a platform without a heap figure reports it unknown (null), never a 0 that reads as a low heap (issue 16, defect 5)', () => {
  const r = rig();
  r.hw.health.heap = null;
  r.device.start();
  r.connect();
  r.ackAll();
  r.time.advance(5 * 60_000);
  const states = r.received().filter((e) => e.type === 'state');
  expect(states).toHaveLength(0); // 'unknown' is not a change to report, and not 'low'
  const retained = r.published.filter((m) => m.topic === r.topic('state'));
  const last = JSON.parse(String(retained[retained.length - 1].payload)) as { heap: unknown; online: boolean };
  expect(last).toMatchObject({ heap: null, online: true });
  const decoded = decodeState(utf8Encode(String(retained[retained.length - 1].payload)), r.cfg.id);
  expect(isProtocolError(decoded)).toBe(false);
  r.hw.health.heap = 8 * 1024; // a real low heap still is one
  r.time.advance(60_000);
  expect(r.received().filter((e) => e.type === 'state').map((e) => (e.body as { heap: number }).heap)).toEqual([8192]);
});
