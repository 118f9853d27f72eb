/**
 * One scenario, written once in plain ECMAScript, that drives firmware/core the way a hall
 * would: run on Node by tests/xs/xs.test.ts and, bundled by esbuild, inside XS (xsnap) by
 * tests/xs/run-xs.mjs. Both runs must return the same transcript, byte for byte once
 * serialised. Nothing here may touch a Node API or a host global: time is virtual, HMAC is
 * @noble/hashes (bundled), flash is in memory.
 */

import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  canonicalEvent, decodeAck, decodeCommand, decodeEventLine, decodeEventPayload, topicFor, decodeState, deriveMqttPassword,
  deriveSigningKey, encodeAck, encodeCommand, encodeEvent, isProtocolError, parseTopic,
  type AnyDeviceEvent, type AnyHubCommand, type DecodedEvent, type Hmac, type ProtocolError,
} from '../../firmware/core/protocol.js';
import { parseDeviceConfig, type DeviceConfig } from '../../firmware/core/config.js';
import { fromHex, toHex, utf8Decode, utf8Encode } from '../../firmware/core/utf8.js';
import { Device, type DeviceOptions } from '../../firmware/core/device.js';
import type { Display, Sound, Tone, View } from '../../firmware/core/hardware.js';
import type { CommandBodies, CommandType, Verdict } from '../../firmware/core/protocol.js';
import { createSimHardware, type SimHardware } from '../../simulator/hardware.js';
import { MemoryFlash, PowerCut, type Tear } from '../../simulator/flash.js';
import { VirtualTime } from '../../simulator/virtual-time.js';

/**
 * HMAC-SHA256 from @noble/hashes with the keyed inner/outer state kept per key object, so each
 * call hashes only the message (two compressions fewer; in XS a 250-byte line then costs about
 * 0.9 ms instead of 1.2). Device and hub keys are derived once and never change.
 */
const keyed = new WeakMap<Uint8Array, ReturnType<typeof nobleHmac.create>>();
export const hmac: Hmac = (key, data) => {
  let base = keyed.get(key);
  if (!base) {
    base = nobleHmac.create(sha256, key);
    keyed.set(key, base);
  }
  return base.clone().update(data).digest();
};

export const SITE = 'hall1';
export const PAD_ID = 'pad-w01';
export const DISPLAY_ID = 'disp-w01';
export const WIN = 'W01';
/** Fixed secrets so both engines sign the same bytes. */
export const PAD_SECRET = '0f'.repeat(32);
export const DISPLAY_SECRET = 'a5'.repeat(32);
/** 2025-03-03 09:00:00 +08:00, a Monday morning when the hall opens. */
export const T0 = 1_740_963_600_000; // ms since the epoch

// ---------------------------------------------------------------- transcript shape

export interface ErrorRecord { case: string; code: string; message: string; line?: number }
export interface DecodeRecord { case: string; kind: DecodedEvent['kind']; code?: string; message?: string; line?: number; seq?: number }

export interface Transcript {
  protocol: {
    keys: { signingKey: string; mqttPassword: string; keysDiffer: boolean };
    utf8: { text: string; hex: string; roundTrip: boolean }[];
    malformedUtf8: { hex: string; decoded: boolean }[];
    encodeRefusals: ErrorRecord[];
    events: DecodeRecord[];
    commands: ErrorRecord[];
    acks: ErrorRecord[];
    topics: ErrorRecord[];
    states: ErrorRecord[];
    config: { case: string; problems: { key: string; message: string }[] }[];
    goodLines: { event: string; command: string; ack: string };
  };
  pad: PadTranscript;
  window: WindowTranscript;
  powerCut: PowerCutTranscript;
}

// ---------------------------------------------------------------- helpers

const enc = utf8Encode;

function errorRecord(name: string, value: unknown): ErrorRecord {
  if (!isProtocolError(value)) return { case: name, code: 'ACCEPTED', message: '' };
  const out: ErrorRecord = { case: name, code: value.code, message: engineNeutral(value) };
  if (value.line !== undefined) out.line = value.line;
  return out;
}

/**
 * JSON.parse's own wording differs between V8 and XS ("Unexpected token" vs "invalid
 * character"); the protocol puts it in parentheses after its own message. The transcript keeps
 * the protocol's words and drops the engine's, which is all a device or hub may depend on.
 */
function engineNeutral(error: ProtocolError): string {
  return error.code === 'not-json' ? error.message.replace(/ \(.*\)$/, ' (…)') : error.message;
}

function decodeRecord(name: string, decoded: DecodedEvent): DecodeRecord {
  if (decoded.kind === 'event') return { case: name, kind: 'event', seq: decoded.event.seq };
  const out: DecodeRecord = { case: name, kind: decoded.kind, code: decoded.error.code, message: engineNeutral(decoded.error) };
  if (decoded.error.line !== undefined) out.line = decoded.error.line;
  if (decoded.kind === 'refused') out.seq = decoded.seq;
  return out;
}

/** Signs arbitrary text the way signLine does, so tests can forge well-signed bad lines. */
function signRaw(canonical: string, key: Uint8Array): string {
  return canonical.slice(0, -1) + `,"sig":"${toHex(hmac(key, enc(canonical)))}"}`;
}

function rating(seq: number, level: 1 | 2 | 3 | 4 | 5): AnyDeviceEvent {
  return {
    v: 1, dev: PAD_ID, boot: 1, seq, t: T0 + seq * 1000, type: 'rating',
    body: { win: WIN, ticket: `A${String(40 + seq).padStart(3, '0')}`, req: `r${seq}`, level, reason: level <= 2 ? 'slow' : null, offline: false },
  };
}

// ---------------------------------------------------------------- protocol section

export function protocolSection(): Transcript['protocol'] {
  const padKey = deriveSigningKey(fromHex(PAD_SECRET)!, hmac);
  const displayKey = deriveSigningKey(fromHex(DISPLAY_SECRET)!, hmac);
  const keyFor = (dev: string) => (dev === PAD_ID ? padKey : dev === DISPLAY_ID ? displayKey : undefined);
  const mqttPassword = deriveMqttPassword(fromHex(PAD_SECRET)!, hmac);

  const utf8 = ['A042 请到3号窗口', '非常满意', '😀 emoji outside the BMP', 'lone \ud800 surrogate', ''].map((text) => {
    const bytes = enc(text);
    return { text, hex: toHex(bytes), roundTrip: utf8Decode(bytes) === text };
  });
  const malformedUtf8 = ['ff', 'c0af', 'e08080', 'eda080', 'f4908080', 'e4b8', '41c3'].map((hex) => ({
    hex, decoded: utf8Decode(fromHex(hex)!) !== undefined,
  }));

  // The device refuses to sign what the hub would refuse.
  const encodeRefusals: ErrorRecord[] = [
    errorRecord('level 6', encodeEvent({ ...rating(1, 5), body: { ...rating(1, 5).body, level: 6 as 5 } } as AnyDeviceEvent, padKey, hmac)),
    errorRecord('transfer names both targets', encodeEvent({ v: 1, dev: DISPLAY_ID, boot: 1, seq: 1, t: T0, type: 'transfer', body: { win: WIN, ticket: 'A042', toWin: 'W02', toItem: 'item-7' } }, displayKey, hmac)),
    errorRecord('transfer names no target', encodeEvent({ v: 1, dev: DISPLAY_ID, boot: 1, seq: 1, t: T0, type: 'transfer', body: { win: WIN, ticket: 'A042', toWin: null, toItem: null } }, displayKey, hmac)),
    errorRecord('oversized boot event', encodeEvent({ v: 1, dev: PAD_ID, boot: 1, seq: 1, t: T0, type: 'boot', body: { fw: '版'.repeat(200), reason: '电'.repeat(200) } }, padKey, hmac)),
    errorRecord('seq 0', encodeEvent({ ...rating(1, 5), seq: 0 }, padKey, hmac)),
    errorRecord('wrong version', encodeEvent({ ...rating(1, 5), v: 2 }, padKey, hmac)),
    errorRecord('unknown type', encodeEvent({ ...rating(1, 5), type: 'dance' } as unknown as AnyDeviceEvent, padKey, hmac)),
    errorRecord('extra body field', encodeEvent({ ...rating(1, 5), body: { ...rating(1, 5).body, extra: 1 } } as unknown as AnyDeviceEvent, padKey, hmac)),
    errorRecord('bad reason', encodeEvent({ ...rating(1, 1), body: { ...rating(1, 1).body, reason: 'rude' } } as unknown as AnyDeviceEvent, padKey, hmac)),
    errorRecord('good rating', encodeEvent(rating(1, 5), padKey, hmac)),
  ];

  const good = encodeEvent(rating(7, 4), padKey, hmac) as string;
  const tamperedSig = good.slice(0, -3) + (good.slice(-3, -2) === '0' ? '1' : '0') + '"}';
  const reordered = signRaw(canonicalEvent(rating(8, 3)).replace('"v":1,"dev":"pad-w01"', '"dev":"pad-w01","v":1'), padKey);
  const level6 = signRaw(canonicalEvent(rating(9, 5)).replace('"level":5', '"level":6'), padKey);
  const dance = signRaw(canonicalEvent(rating(10, 5)).replace('"type":"rating"', '"type":"dance"'), padKey);
  const bigLine = signRaw(canonicalEvent({ v: 1, dev: PAD_ID, boot: 1, seq: 11, t: T0, type: 'boot', body: { fw: '版'.repeat(200), reason: '电'.repeat(200) } }), padKey);
  const brokenJson = `{"v":1,,"dev":"pad-w01","sig":"${'0'.repeat(64)}"}`;
  const seqZero = signRaw(canonicalEvent({ ...rating(12, 5), seq: 0 }), padKey);
  const v2 = signRaw(canonicalEvent({ ...rating(13, 5), v: 2 }), padKey);
  const batch = [encodeEvent(rating(20, 5), padKey, hmac) as string, tamperedSig, level6, encodeEvent(rating(21, 1), padKey, hmac) as string].join('\n');

  const events: DecodeRecord[] = [];
  const one = (name: string, payload: Uint8Array, dev = PAD_ID) => {
    for (const d of decodeEventPayload(payload, dev, keyFor, hmac)) events.push(decodeRecord(name, d));
  };
  one('good rating', enc(good));
  one('empty payload', new Uint8Array(0));
  one('oversized payload', new Uint8Array(16 * 1024 + 1).fill(0x20));
  one('not UTF-8', fromHex('7b22ff227d')!);
  one('33 lines', enc(new Array(33).fill(good).join('\n')));
  one('unsigned', enc(canonicalEvent(rating(7, 4))));
  one('broken JSON', enc(brokenJson));
  one('tampered signature', enc(tamperedSig));
  one('other device on topic', enc(good), DISPLAY_ID);
  one('unknown device', enc(good.replace('"dev":"pad-w01"', '"dev":"pad-w99"')), 'pad-w99');
  one('wrong version', enc(v2));
  one('seq 0', enc(seqZero));
  one('level 6, signed', enc(level6));
  one('unknown type, signed', enc(dance));
  one('keys reordered, signed', enc(reordered));
  one('oversized line, signed', enc(bigLine));
  one('batch: good, tampered, level 6, good', enc(batch));

  // Downlinks: the device trusts nothing its own key did not sign.
  const display: AnyHubCommand = { v: 1, dev: DISPLAY_ID, t: T0, type: 'display', body: { win: WIN, ticket: 'A042', status: 'called', item: '营业执照', waiting: 3, text: null, chime: true } };
  const goodCommand = encodeCommand(display, displayKey, hmac) as string;
  const cmd = (name: string, payload: Uint8Array) => errorRecord(name, decodeCommand(payload, DISPLAY_ID, displayKey, hmac));
  const commands: ErrorRecord[] = [
    cmd('good display', enc(goodCommand)),
    cmd('empty', new Uint8Array(0)),
    cmd('oversized', new Uint8Array(8 * 1024 + 1).fill(0x20)),
    cmd('not UTF-8', fromHex('c328')!),
    cmd('unsigned', enc(goodCommand.slice(0, goodCommand.indexOf(',"sig"')) + '}')),
    cmd('signed by the pad', enc(encodeCommand({ ...display, dev: DISPLAY_ID }, padKey, hmac) as string)),
    cmd('for another device', enc(encodeCommand({ ...display, dev: PAD_ID }, displayKey, hmac) as string)),
    cmd('waiting is text', enc(signRaw(`{"v":1,"dev":"disp-w01","t":${T0},"type":"display","body":{"win":"W01","ticket":"A042","status":"called","item":null,"waiting":"3","text":null,"chime":true}}`, displayKey))),
    cmd('unknown command', enc(signRaw(`{"v":1,"dev":"disp-w01","t":${T0},"type":"reboot","body":{}}`, displayKey))),
    cmd('spaces after colons', enc(signRaw(`{"v":1,"dev":"disp-w01","t":${T0},"type":"time","body":{"now": ${T0}}}`, displayKey))),
    cmd('version 2', enc(signRaw(`{"v":2,"dev":"disp-w01","t":${T0},"type":"time","body":{"now":${T0}}}`, displayKey))),
    cmd('good time', enc(encodeCommand({ v: 1, dev: DISPLAY_ID, t: T0, type: 'time', body: { now: T0 + 5 } }, displayKey, hmac) as string)),
  ];

  const goodAck = encodeAck({ v: 1, dev: PAD_ID, t: T0, acks: [{ boot: 1, seq: 1, verdict: 'committed', reason: null }, { boot: 1, seq: 2, verdict: 'refused', reason: 'ticket A042 already rated' }] }, padKey, hmac) as string;
  const ackOf = (name: string, payload: Uint8Array) => errorRecord(name, decodeAck(payload, PAD_ID, padKey, hmac));
  const acks: ErrorRecord[] = [
    ackOf('good ack', enc(goodAck)),
    ackOf('verdict lost', enc(signRaw(`{"v":1,"dev":"pad-w01","t":${T0},"acks":[{"boot":1,"seq":1,"verdict":"lost","reason":null}]}`, padKey))),
    ackOf('acks not a list', enc(signRaw(`{"v":1,"dev":"pad-w01","t":${T0},"acks":{}}`, padKey))),
    ackOf('seq is text', enc(signRaw(`{"v":1,"dev":"pad-w01","t":${T0},"acks":[{"boot":1,"seq":"1","verdict":"committed","reason":null}]}`, padKey))),
    ackOf('tampered', enc(goodAck.replace('"committed"', '"refused"'))),
  ];

  const topics: ErrorRecord[] = [
    'sannuo/v1/hall1/pad-w01/evt', 'sannuo/v2/hall1/pad-w01/evt', 'sannuo/v1/hall1/pad-w01/log',
    'sannuo/v1/hall 1/pad-w01/evt', 'sannuo/v1/hall1/pad-w01', 'sannuo/v1/hall1/pad+w01/cmd',
  ].map((topic) => errorRecord(topic, parseTopic(topic)));

  const state = { v: 1, dev: PAD_ID, online: true, role: 'pad', win: WIN, fw: '0.1.0', bat: -1, rssi: -61, heap: 81234, up: 5000, outbox: 0, t: T0 };
  const stateOf = (name: string, value: unknown, dev = PAD_ID) => errorRecord(name, decodeState(enc(JSON.stringify(value)), dev));
  const states: ErrorRecord[] = [
    stateOf('good', state),
    stateOf('role printer', { ...state, role: 'printer' }),
    stateOf('heap is text', { ...state, heap: '81234' }),
    stateOf('other device', state, DISPLAY_ID),
    stateOf('version 0', { ...state, v: 0 }),
    errorRecord('not JSON', decodeState(enc('{online:false}'), PAD_ID)),
  ];

  const base = { id: PAD_ID, role: 'pad', site: SITE, win: WIN, secret: PAD_SECRET };
  const config = [
    { case: 'good', input: base },
    { case: 'many faults', input: { ...base, id: 'pad w01', role: 'printer', secret: 'F'.repeat(64), keyPins: [1, 2, 3], volume: 11, broker: { port: 0, user: 'x' }, colour: 'red' } },
    { case: 'not an object', input: [] },
  ].map(({ case: name, input }) => {
    const parsed = parseDeviceConfig(input);
    return { case: name, problems: Array.isArray(parsed) ? parsed : [] };
  });

  return {
    keys: { signingKey: toHex(padKey), mqttPassword, keysDiffer: toHex(padKey) !== mqttPassword },
    utf8, malformedUtf8, encodeRefusals, events, commands, acks, topics, states, config,
    goodLines: { event: good, command: goodCommand, ack: goodAck },
  };
}

// ---------------------------------------------------------------- a device on a bench

/** One line of a device's story, in the order it happened; t is ms since the rig started. */
export type LogEntry =
  | { t: number; cmd: CommandType; body: unknown }
  | { t: number; forged: string }
  | { t: number; key: number }
  | { t: number; view: View }
  | { t: number; tone: Tone }
  | { t: number; evt: { boot: number; seq: number; type: string; fresh: boolean }[]; lines?: string[] }
  | { t: number; ack: { boot: number; seq: number; verdict: Verdict }[] }
  | { t: number; state: { online: boolean; outbox: number } }
  | { t: number; link: 'up' | 'down' }
  | { t: number; hub: 'up' | 'down' }
  | { t: number; powerCut: string }
  | { t: number; boot: { boot: number; pending: number; tornRecovered: number } };

export interface HubOptions {
  /** Check every line's signature as the hub does; the soak skips it (the hub's cost, not the device's). */
  verify: boolean;
  /** Collect verdicts this long before sending one ack (the soak batches; the scenario answers each batch). */
  ackDelay: number; // milliseconds
  /** Keep every signed line in the log. */
  keepLines: boolean;
}

/**
 * The hub's half of the protocol, in process: it decodes what the device publishes (with the
 * real codec), commits each (boot, seq) once, and answers with signed acks and commands. It
 * keeps O(1) state per boot — the next seq it expects — so a gap or a double shows up at once
 * and the soak's memory figures are the device's, not the bench's.
 */
export class BenchHub {
  up = true;
  readonly committed: { boot: number; seq: number; type: string; body: unknown }[] = [];
  committedCount = 0;
  duplicates = 0;
  readonly gaps: string[] = [];
  readonly rejected: string[] = [];
  private readonly next = new Map<number, number>();
  private verdicts: { boot: number; seq: number; verdict: Verdict; reason: string | null }[] = [];
  private ackTimer: unknown;

  constructor(private readonly rig: Rig, private readonly options: HubOptions, private readonly keepCommitted: boolean) {}

  /** What the device's transport hands to the broker. */
  receive(topic: string, payload: string): void {
    const parsed = parseTopic(topic);
    if (isProtocolError(parsed)) {
      this.rejected.push(parsed.code);
      return;
    }
    if (parsed.channel === 'state') {
      const state = decodeState(enc(payload), parsed.dev);
      if (isProtocolError(state)) this.rejected.push(state.code);
      else this.rig.record({ state: { online: state.online, outbox: state.outbox } });
      return;
    }
    if (!this.up || parsed.channel !== 'evt') return;
    const seen: { boot: number; seq: number; type: string; fresh: boolean }[] = [];
    const lines = payload.split('\n');
    for (const line of lines) {
      let event: { boot: number; seq: number; type: string; body: unknown };
      if (this.options.verify) {
        const decoded = decodeEventLine(line, parsed.dev, (dev) => (dev === this.rig.config.id ? this.rig.key : undefined), hmac);
        if (decoded.kind === 'rejected') {
          this.rejected.push(decoded.error.code);
          continue;
        }
        if (decoded.kind === 'refused') {
          this.verdicts.push({ boot: decoded.boot, seq: decoded.seq, verdict: 'refused', reason: decoded.error.message });
          seen.push({ boot: decoded.boot, seq: decoded.seq, type: 'refused', fresh: false });
          continue;
        }
        event = decoded.event;
      } else {
        event = JSON.parse(line) as { boot: number; seq: number; type: string; body: unknown };
      }
      const expected = this.next.get(event.boot) ?? 1;
      const fresh = event.seq === expected;
      if (fresh) {
        this.next.set(event.boot, expected + 1);
        this.committedCount++;
        if (this.keepCommitted) this.committed.push({ boot: event.boot, seq: event.seq, type: event.type, body: event.body });
      } else if (event.seq < expected) this.duplicates++;
      else {
        // The uplink sends in seq order, so this would be a lost event: leave it unacked.
        this.gaps.push(`boot ${event.boot}: expected seq ${expected}, got ${event.seq}`);
        continue;
      }
      seen.push({ boot: event.boot, seq: event.seq, type: event.type, fresh });
      this.verdicts.push({ boot: event.boot, seq: event.seq, verdict: 'committed', reason: null });
    }
    this.rig.record(this.options.keepLines ? { evt: seen, lines } : { evt: seen });
    if (this.verdicts.length && this.ackTimer === undefined) {
      this.ackTimer = this.rig.time.set(() => this.flush(), this.options.ackDelay);
    }
  }

  /** Sends the collected verdicts as one signed ack (if the hub and the link are still up). */
  flush(): void {
    this.ackTimer = undefined;
    const acks = this.verdicts;
    this.verdicts = [];
    if (!acks.length || !this.up || !this.rig.hw.transport.link) return;
    const line = encodeAck({ v: 1, dev: this.rig.config.id, t: this.rig.time.now(), acks }, this.rig.key, hmac);
    if (isProtocolError(line)) throw new Error(`bench hub: ${line.message}`);
    this.rig.record({ ack: acks.map((a) => ({ boot: a.boot, seq: a.seq, verdict: a.verdict })) });
    this.rig.device.onMessage(topicFor(SITE, this.rig.config.id, 'ack'), enc(line));
  }

  /** A signed command to the device, as the hub sends it. */
  command<K extends CommandType>(type: K, body: CommandBodies[K]): void {
    const line = encodeCommand({ v: 1, dev: this.rig.config.id, t: this.rig.time.now(), type, body } as AnyHubCommand, this.rig.key, hmac);
    if (isProtocolError(line)) throw new Error(`bench hub: ${line.message}`);
    this.rig.record({ cmd: type, body });
    this.rig.device.onMessage(topicFor(SITE, this.rig.config.id, 'cmd'), enc(line));
  }

  /** The same command signed with another key: the device must ignore it. */
  forged<K extends CommandType>(type: K, body: CommandBodies[K], key: Uint8Array): void {
    const line = encodeCommand({ v: 1, dev: this.rig.config.id, t: this.rig.time.now(), type, body } as AnyHubCommand, key, hmac) as string;
    this.rig.record({ forged: type });
    this.rig.device.onMessage(topicFor(SITE, this.rig.config.id, 'cmd'), enc(line));
  }
}

export interface RigOptions {
  role: 'pad' | 'display';
  config?: Partial<DeviceConfig>;
  device?: DeviceOptions;
  hub?: Partial<HubOptions>;
  /** Record views, tones and traffic (the soak does not: it would be the leak). */
  log: boolean;
  flash?: MemoryFlash;
  /** Start of this boot's virtual time (a reboot continues the story). */
  start?: number;
}

/** A device with simulated hardware on virtual time, wired to a BenchHub. */
export class Rig {
  readonly time: VirtualTime;
  readonly hw: SimHardware;
  readonly flash: MemoryFlash;
  readonly config: DeviceConfig;
  readonly key: Uint8Array;
  readonly device: Device;
  readonly hub: BenchHub;
  readonly log: LogEntry[] = [];
  private readonly logging: boolean;

  constructor(options: RigOptions, previous?: Rig) {
    this.logging = options.log;
    this.time = new VirtualTime(options.start ?? T0);
    this.flash = options.flash ?? new MemoryFlash({ capacity: 256 * 1024 });
    const id = options.role === 'pad' ? PAD_ID : DISPLAY_ID;
    const secret = options.role === 'pad' ? PAD_SECRET : DISPLAY_SECRET;
    const parsed = parseDeviceConfig({ id, role: options.role, site: SITE, win: WIN, secret, ...options.config });
    if (Array.isArray(parsed)) throw new Error(`rig config: ${JSON.stringify(parsed)}`);
    this.config = parsed;
    this.key = deriveSigningKey(fromHex(secret)!, hmac);
    const sim = createSimHardware({ time: this.time, flash: this.flash, seed: 7, historyCap: 0, hmac });
    const display: Display = { render: (view) => { sim.display.render(view); this.record({ view }); } };
    const sound: Sound = { play: (tone) => { sim.sound.play(tone); this.record({ tone }); } };
    this.hw = { ...sim, display: display as SimHardware['display'], sound: sound as SimHardware['sound'] };
    this.hub = new BenchHub(this, { verify: true, ackDelay: 20, keepLines: options.log, ...options.hub }, options.log);
    if (previous) this.log = previous.log;
    sim.transport.handler = (topic, payload) => this.hub.receive(topic, payload);
    this.device = new Device(this.config, this.hw, options.device);
  }

  record(entry: { [key: string]: unknown }): void {
    if (this.logging) this.log.push({ t: this.time.now() - T0, ...entry } as LogEntry);
  }

  /** Power on, then the link comes up (the adapter's MQTT connect). */
  boot(link = true): void {
    this.device.start();
    this.record({ boot: { boot: this.device.outbox.boot, pending: this.device.outbox.pending().length, tornRecovered: this.device.outbox.counters.tornRecovered } });
    if (link) this.linkUp();
  }

  linkUp(): void {
    this.hw.transport.link = true;
    this.record({ link: 'up' });
    this.device.onConnected();
  }

  linkDown(): void {
    this.hw.transport.link = false;
    this.record({ link: 'down' });
    this.device.onDisconnected();
  }

  /** A clean press of one key, then time for the debouncer and the screen to settle. */
  press(key: number, settle = 1_000): void {
    this.record({ key });
    this.hw.keys.tap(key, 80);
    this.time.advance(settle);
  }

  wait(ms: number): void {
    this.time.advance(ms);
  }
}

// ---------------------------------------------------------------- rating pad: five tickets

const LEVEL_KEY = (level: 1 | 2 | 3 | 4 | 5) => 5 - level; // keys 0..4 are levels 5..1

export interface PadTranscript {
  log: LogEntry[];
  ratings: { seq: number; ticket: string | null; req: string | null; level: number; reason: string | null; offline: boolean }[];
  counters: unknown;
  rejections: Record<string, number>;
  stats: ReturnType<Device['stats']>;
  hub: { committed: number; duplicates: number; gaps: string[]; rejected: string[] };
}

export function padSection(): PadTranscript {
  const rig = new Rig({ role: 'pad', log: true });
  const { hub } = rig;
  rig.boot();
  hub.command('time', { now: T0 + 250 });
  rig.wait(1_000);
  const tickets: [string, 1 | 2 | 3 | 4 | 5, number | null][] = [
    ['A001', 5, null], ['A002', 4, null], ['A003', 3, null], ['A004', 2, 1 /* slow */], ['A005', 1, 0 /* attitude */],
  ];
  tickets.forEach(([ticket, level, reasonKey], i) => {
    const now = rig.time.now();
    hub.command('rateReq', { req: `req-${i + 1}`, win: WIN, ticket, staff: 'S07', item: '营业执照变更', expires: now + 60_000 });
    rig.wait(2_000);
    rig.press(LEVEL_KEY(level));
    if (reasonKey !== null) rig.press(reasonKey);
    if (i === 2) rig.press(0); // pressed again while "thank you" is up: one service, one rating
    rig.wait(6_000);
  });
  // A resent request for a ticket already rated, and one forged with another device's key.
  hub.command('rateReq', { req: 'req-1', win: WIN, ticket: 'A001', staff: 'S07', item: null, expires: rig.time.now() + 60_000 });
  hub.forged('rateReq', { req: 'req-9', win: WIN, ticket: 'A009', staff: 'S07', item: null, expires: rig.time.now() + 60_000 }, deriveSigningKey(fromHex(DISPLAY_SECRET)!, hmac));
  // A press with no request pending (policy 'ignore'): a notice, nothing recorded.
  rig.press(0);
  rig.wait(61_000); // one state period
  const ratings = hub.committed.filter((c) => c.type === 'rating').map((c) => {
    const b = c.body as CommandBodies['rateReq'] & { level: number; reason: string | null; offline: boolean };
    return { seq: c.seq, ticket: b.ticket, req: b.req, level: b.level, reason: b.reason, offline: b.offline };
  });
  return {
    log: rig.log, ratings, counters: { ...rig.device.pad!.counters }, rejections: { ...rig.device.rejections }, stats: rig.device.stats(),
    hub: { committed: hub.committedCount, duplicates: hub.duplicates, gaps: hub.gaps, rejected: hub.rejected },
  };
}

// ---------------------------------------------------------------- window display: every staff action

export interface WindowTranscript {
  log: LogEntry[];
  events: { seq: number; type: string; body: unknown }[];
  counters: unknown;
  stats: ReturnType<Device['stats']>;
  hub: { committed: number; duplicates: number; gaps: string[]; rejected: string[] };
}

export function windowSection(): WindowTranscript {
  const rig = new Rig({
    role: 'display', log: true,
    device: { transferTargets: [{ toWin: 'W02', toItem: null, label: '2号窗口' }, { toWin: null, toItem: 'item-7', label: '社保业务' }] },
  });
  const { hub } = rig;
  const show = (ticket: string | null, status: string, waiting: number, chime: boolean) =>
    hub.command('display', { win: WIN, ticket, status, item: ticket ? '社保业务' : null, waiting, text: null, chime });
  const KEY = { next: 0, recall: 1, noShow: 2, transfer: 3, pause: 4 };
  rig.boot();
  show(null, 'idle', 4, false);
  rig.press(KEY.next, 1_500);
  show('A001', 'called', 3, true);
  rig.press(KEY.recall, 1_500);
  show('A001', 'recalled', 3, true);
  rig.press(KEY.noShow, 1_500);
  show(null, 'idle', 3, false);
  rig.press(KEY.next, 1_500);
  show('A002', 'called', 2, true);
  rig.wait(30_000);
  show('A002', 'serving', 2, false);
  rig.press(KEY.transfer, 1_500); // first target: 2号窗口
  rig.press(KEY.transfer, 1_500); // second: 社保业务
  rig.press(KEY.next, 1_500); // confirm
  show(null, 'idle', 2, false);
  rig.press(KEY.pause, 1_500);
  show(null, 'paused', 2, false);
  rig.press(KEY.next, 1_500); // paused: refused with a notice
  rig.wait(4_000);
  rig.press(KEY.pause, 1_500); // resume
  show(null, 'idle', 2, false);
  rig.press(KEY.next, 1_500);
  show('A003', 'called', 1, true);
  // The link drops: calling is refused, pause is kept and sent when the link returns.
  rig.linkDown();
  rig.press(KEY.next, 1_500);
  rig.wait(4_000);
  rig.press(KEY.recall, 1_500);
  rig.wait(4_000);
  rig.press(KEY.transfer, 1_500);
  rig.wait(4_000);
  rig.press(KEY.pause, 1_500);
  rig.wait(10_000);
  rig.linkUp();
  rig.wait(2_000);
  show('A003', 'paused', 1, false);
  rig.wait(61_000);
  return {
    log: rig.log,
    events: hub.committed.map((c) => ({ seq: c.seq, type: c.type, body: c.body })),
    counters: { ...rig.device.caller!.counters }, stats: rig.device.stats(),
    hub: { committed: hub.committedCount, duplicates: hub.duplicates, gaps: hub.gaps, rejected: hub.rejected },
  };
}

// ---------------------------------------------------------------- outbox across power cuts

export interface PowerCutTranscript {
  log: LogEntry[];
  cuts: { during: string; crash: unknown; pendingAfterReboot: { boot: number; seq: number; type: string }[]; tornRecovered: number }[];
  committed: { boot: number; seq: number; type: string }[];
  final: { pending: number; stats: ReturnType<Device['stats']>; files: string[]; duplicates: number; gaps: string[] };
}

export function powerCutSection(): PowerCutTranscript {
  const flash = new MemoryFlash({ capacity: 64 * 1024 });
  const padConfig = { unsolicited: 'bind' as const };
  // Acks take 2 s, so a cut can fall between an event's publish and its verdict.
  const hubOptions = { ackDelay: 2_000 };
  // Ratings without a request come faster here than the pad's one-per-served-interval limit
  // allows (that limit has its own tests): the story is the flash's, not the limit's.
  const device = { pad: { minServiceMs: 0 } };
  let rig = new Rig({ role: 'pad', log: true, flash, config: padConfig, hub: hubOptions, device });
  const cuts: PowerCutTranscript['cuts'] = [];
  const pendingList = () => rig.device.outbox.pending().map((e) => ({ boot: e.boot, seq: e.seq, type: e.type }));

  /** Cuts the power at the next flash step that `act` makes, then boots a fresh device on the same flash. */
  const cut = (during: string, tear: Tear, act: () => void) => {
    flash.armCrash(flash.stats.steps + 1, tear);
    try {
      // Ten milliseconds at a time, so the device stops (almost) where the power went.
      const startedAt = rig.time.now();
      act();
      while (!flash.crashed && rig.time.now() - startedAt < 10_000) rig.wait(10);
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
    }
    // Device.onMessage catches everything (a bad downlink must not kill the MQTT client), so a
    // cut while settling an ack does not reach here as an exception: ask the flash.
    if (!flash.crashed) throw new Error(`power cut during ${during}: the flash was never written`);
    const crash = flash.lastCrash!;
    rig.record({ powerCut: `${crash.op} ${crash.name}: ${crash.applied} of ${crash.total} bytes` });
    flash.reboot();
    // Everything in RAM is gone: a new device, new timers, the same flash, the story goes on.
    const next = new Rig({ role: 'pad', log: true, flash, config: padConfig, start: rig.time.now() + 3_000, hub: hubOptions, device }, rig);
    next.hub.up = rig.hub.up;
    copyHub(rig.hub, next.hub);
    rig = next;
    rig.boot(false);
    cuts.push({ during, crash, pendingAfterReboot: pendingList(), tornRecovered: rig.device.outbox.counters.tornRecovered });
  };

  // Boot 1: the hub is down, so nothing is acknowledged; three ratings wait in the outbox.
  rig.boot();
  rig.hub.up = false;
  rig.record({ hub: 'down' });
  rig.press(LEVEL_KEY(5));
  rig.wait(5_000);
  rig.press(LEVEL_KEY(4));
  rig.wait(5_000);
  rig.press(LEVEL_KEY(3));
  rig.wait(5_000);
  // The fourth rating's append is torn half way: the citizen never saw "thank you".
  cut('a rating append', 'half', () => rig.press(LEVEL_KEY(5), 0));

  // Boot 2: the hub is back; everything from boot 1 and the new boot event go up and are acked.
  rig.hub.up = true;
  rig.record({ hub: 'up' });
  rig.linkUp();
  rig.wait(1_000);
  rig.press(LEVEL_KEY(4));
  rig.wait(5_000);

  // The hub's ack for the next rating arrives, and the power fails while the verdict is written:
  // after the reboot the event is still pending, is sent again, and the hub does not count it twice.
  rig.press(LEVEL_KEY(3), 500); // the rating is written and published, its ack still on the way
  cut('the verdict append', 'half', () => undefined);
  rig.linkUp();
  rig.wait(2_000);

  // A cut that lands after the whole record reached the flash: the rating is kept and sent.
  cut('a rating append, every byte written', 'all', () => rig.press(LEVEL_KEY(4), 0));
  rig.linkUp();
  rig.wait(30_000);

  return {
    log: rig.log,
    cuts,
    committed: rig.hub.committed.map((c) => ({ boot: c.boot, seq: c.seq, type: c.type })),
    final: {
      pending: rig.device.outbox.pending().length, stats: rig.device.stats(), files: flash.list(),
      duplicates: rig.hub.duplicates, gaps: rig.hub.gaps,
    },
  };
}

/** The hub outlives a device's power cut: its commitments carry over to the rebooted device's bench. */
function copyHub(from: BenchHub, to: BenchHub): void {
  (to as unknown as { next: Map<number, number> }).next = (from as unknown as { next: Map<number, number> }).next;
  to.committed.push(...from.committed);
  to.committedCount = from.committedCount;
  to.duplicates = from.duplicates;
  to.gaps.push(...from.gaps);
  to.rejected.push(...from.rejected);
}

// ---------------------------------------------------------------- the soak (memory over many events)

/**
 * A pad rating once a second with the 'bind' policy (no rateReq, so the soak spends its time on
 * the event path), the hub acking in batches every 5 s. The bench keeps O(1) state.
 */
export class Soak {
  readonly rig: Rig;
  events = 0;

  constructor() {
    this.rig = new Rig({
      role: 'pad', log: false, config: { unsolicited: 'bind' },
      device: { pad: { thanksMs: 300, minServiceMs: 0 } }, // a soak of ratings, not of the one-per-service limit
      hub: { verify: false, ackDelay: 5_000, keepLines: false },
    });
    this.rig.boot();
  }

  /** Rates `count` more services; every fifth is a bad rating with a reason. */
  run(count: number): SoakFigures {
    const rig = this.rig;
    for (let i = 0; i < count; i++) {
      const n = this.events++;
      const level = (n % 5 === 4 ? 2 : 5 - (n % 3)) as 1 | 2 | 3 | 4 | 5;
      rig.press(LEVEL_KEY(level), 500);
      if (level <= 2) rig.press(n % 5, 500);
      else rig.wait(500);
    }
    return this.figures();
  }

  /** Lets the last acks arrive. */
  drain(): SoakFigures {
    this.rig.wait(20_000);
    return this.figures();
  }

  figures(): SoakFigures {
    const { device, hub, time } = this.rig;
    return {
      events: this.events, pending: device.outbox.pending().length, outboxBytes: device.outbox.bytesUsed(),
      ratings: device.pad!.counters.ratings, committed: hub.committedCount, duplicates: hub.duplicates, gaps: hub.gaps.length,
      timers: time.pending(), flashBytesWritten: this.rig.flash.stats.bytesWritten,
    };
  }
}

export interface SoakFigures {
  events: number; pending: number; outboxBytes: number; ratings: number; committed: number; duplicates: number; gaps: number;
  timers: number; flashBytesWritten: number;
}

// ---------------------------------------------------------------- the whole scenario

export function runScenario(): Transcript {
  return { protocol: protocolSection(), pad: padSection(), window: windowSection(), powerCut: powerCutSection() };
}
