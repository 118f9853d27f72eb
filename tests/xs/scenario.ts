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
  canonicalEvent, decodeAck, decodeCommand, decodeEventPayload, decodeState, deriveMqttPassword,
  deriveSigningKey, encodeAck, encodeCommand, encodeEvent, isProtocolError, parseTopic,
  type AnyDeviceEvent, type AnyHubCommand, type DecodedEvent, type Hmac, type ProtocolError,
} from '../../firmware/core/protocol.js';
import { parseDeviceConfig } from '../../firmware/core/config.js';
import { fromHex, toHex, utf8Decode, utf8Encode } from '../../firmware/core/utf8.js';

export const hmac: Hmac = (key, data) => nobleHmac(sha256, key, data);

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

// ---------------------------------------------------------------- the whole scenario

export function runScenario(): Transcript {
  return { protocol: protocolSection() };
}
