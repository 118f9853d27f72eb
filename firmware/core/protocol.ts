/**
 * The sannuo wire protocol, version 1: topics, payload types and the canonical codec.
 * Imported by the firmware, the hub and the simulator alike; ECMAScript built-ins only.
 *
 * Topics: sannuo/v1/<site>/<deviceId>/<channel>
 *   evt    device → hub   one event or a batch: canonical JSON lines joined by "\n"
 *   ack    hub → device   one signed line: a verdict (committed | refused + reason) per (boot, seq)
 *   cmd    hub → device   one signed line: display, rateReq, config, time, update
 *   state  device → hub   retained health, unsigned (the broker's login and ACL vouch for it;
 *                         a last will cannot carry a fresh signature), also the last will
 *
 * A signed line is canonical JSON whose last key is "sig": `{...,"sig":"<64 hex>"}`. The
 * signature is HMAC-SHA256 over the exact bytes that were sent, minus the `,"sig":"…"` part:
 * `{...}`. The codec writes keys in the fixed order below, so an encoder on the device and one
 * on the hub produce the same bytes, and a decoder refuses any other order.
 */

import { equalText, isLowerHex, toHex, utf8Decode, utf8Encode } from './utf8.js';

export const PROTOCOL_VERSION = 1;
export const TOPIC_ROOT = 'sannuo/v1';
/** Largest single event line, signature included. */
export const MAX_EVENT_BYTES = 1024; // bytes
/** Largest evt payload a device sends at once (a batch of lines). */
export const MAX_BATCH_BYTES = 16 * 1024; // bytes
export const MAX_BATCH_EVENTS = 32;
/** Largest hub → device line (ack with a full batch of verdicts, or a command). */
export const MAX_DOWNLINK_BYTES = 8 * 1024; // bytes
const SIG_HEX_LENGTH = 64;

/**
 * HMAC-SHA256(key, data): injected, because the device has a native one and XS has no crypto
 * global. `hexOfText`, when given, is the same MAC of a string's UTF-8 as lowercase hex: on Node
 * it skips a Buffer for the bytes, one for the digest and a hex loop in JavaScript (about 2 µs
 * of the hub's per-event signature check).
 */
export type Hmac = ((key: Uint8Array, data: Uint8Array) => Uint8Array) & { hexOfText?: (key: Uint8Array, text: string) => string };

/** The MAC of a string as hex, by the fastest path the Hmac offers. */
function macHex(hmac: Hmac, key: Uint8Array, textToSign: string, text: TextCodec): string {
  return hmac.hexOfText ? hmac.hexOfText(key, textToSign) : toHex(hmac(key, text.encode(textToSign)));
}

/**
 * UTF-8 for the decoders. The portable one (plain ECMAScript) is the default; the hub passes
 * Node's native one, because decoding is a large share of its ingest cost. `decode` must refuse
 * malformed UTF-8 (return undefined), not repair it.
 */
export interface TextCodec {
  encode(text: string): Uint8Array;
  decode(bytes: Uint8Array): string | undefined;
}
export const PORTABLE_TEXT: TextCodec = { encode: utf8Encode, decode: utf8Decode };

export type Channel = 'evt' | 'ack' | 'cmd' | 'state';
export const CHANNELS: readonly Channel[] = ['evt', 'ack', 'cmd', 'state'];

/** 'terminal': a 24 h self-service terminal (自助终端), firmware/core/terminal.ts. */
export type Role = 'pad' | 'display' | 'terminal';
export const ROLES: readonly Role[] = ['pad', 'display', 'terminal'];

/** Rating levels: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意. 1–2 are a bad rating (差评). */
export type RatingLevel = 1 | 2 | 3 | 4 | 5;
export const BAD_RATING_MAX: RatingLevel = 2;
export const RATING_LABELS: Record<RatingLevel, string> = {
  5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意',
};
/** A 差评 needs a reason; a five-key pad offers these, one per key. */
export type BadRatingReason = 'attitude' | 'slow' | 'documents' | 'rules' | 'other';
export const BAD_RATING_REASONS: readonly BadRatingReason[] = ['attitude', 'slow', 'documents', 'rules', 'other'];
export const BAD_RATING_REASON_LABELS: Record<BadRatingReason, string> = {
  attitude: '服务态度', slow: '办理太慢', documents: '反复要材料', rules: '不按规定办', other: '其他',
};

const ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const TICKET_PATTERN = /^[A-Za-z0-9-]{1,16}$/;

// ---------------------------------------------------------------- field schemas

type FieldKind = 'id' | 'id?' | 'ticket' | 'ticket?' | 'text' | 'text?' | 'int' | 'int?' | 'level' | 'bool' | 'reason?';
type Schema = readonly (readonly [string, FieldKind])[];

function checkField(kind: FieldKind, value: unknown): string | undefined {
  const nullable = kind.endsWith('?');
  if (value === null && nullable) return undefined;
  const base = nullable ? kind.slice(0, -1) : kind;
  switch (base) {
    case 'id': return typeof value === 'string' && ID_PATTERN.test(value) ? undefined : 'expected an id of 1–32 letters, digits, _ or -';
    case 'ticket': return typeof value === 'string' && TICKET_PATTERN.test(value) ? undefined : 'expected a ticket number such as A042';
    case 'text': return typeof value === 'string' && value.length <= 200 ? undefined : 'expected text of at most 200 characters';
    case 'int': return Number.isSafeInteger(value) ? undefined : 'expected an integer';
    case 'level': return value === 1 || value === 2 || value === 3 || value === 4 || value === 5 ? undefined : 'expected a rating level 1–5';
    case 'bool': return typeof value === 'boolean' ? undefined : 'expected true or false';
    case 'reason': return BAD_RATING_REASONS.indexOf(value as BadRatingReason) >= 0 ? undefined : `expected one of ${BAD_RATING_REASONS.join(', ')}`;
  }
  return 'unknown field kind';
}

// ---------------------------------------------------------------- events (device → hub)

/** One typed map of every event body. Keys appear on the wire in the order of EVENT_SCHEMAS. */
export interface EventBodies {
  /** Written once at every boot: the firmware version and why it started. */
  boot: { fw: string; reason: string };
  /** Health snapshot when something notable changes (battery low, outbox filling). */
  state: { bat: number; rssi: number; heap: number | null; up: number; outbox: number; refused: number; dropped: number };
  /** 一事一评: ticket and req are null when the pad was offline; the hub binds by window and time. */
  rating: { win: string; ticket: string | null; req: string | null; level: RatingLevel; reason: BadRatingReason | null; offline: boolean };
  /** Staff pressed next: finish the current ticket (if any) and call the next one. */
  call: { win: string; staff: string | null };
  recall: { win: string; ticket: string };
  noShow: { win: string; ticket: string };
  /** Transfer to another window or another service item; exactly one of toWin / toItem. */
  transfer: { win: string; ticket: string; toWin: string | null; toItem: string | null };
  pause: { win: string; reason: string | null };
  resume: { win: string };
  /** A self-service terminal's session for one item: start and end (device time, ms), the citizen's rating at the end (null: none given; 1–2 need a reason). */
  session: { win: string; item: string; start: number; end: number; level: number | null; reason: BadRatingReason | null };
}
export type EventType = keyof EventBodies;

export const EVENT_SCHEMAS: { readonly [K in EventType]: Schema } = {
  boot: [['fw', 'text'], ['reason', 'text']],
  state: [['bat', 'int'], ['rssi', 'int'], ['heap', 'int?'], ['up', 'int'], ['outbox', 'int'], ['refused', 'int'], ['dropped', 'int']],
  rating: [['win', 'id'], ['ticket', 'ticket?'], ['req', 'id?'], ['level', 'level'], ['reason', 'reason?'], ['offline', 'bool']],
  call: [['win', 'id'], ['staff', 'id?']],
  recall: [['win', 'id'], ['ticket', 'ticket']],
  noShow: [['win', 'id'], ['ticket', 'ticket']],
  transfer: [['win', 'id'], ['ticket', 'ticket'], ['toWin', 'id?'], ['toItem', 'id?']],
  pause: [['win', 'id'], ['reason', 'text?']],
  resume: [['win', 'id']],
  session: [['win', 'id'], ['item', 'id'], ['start', 'int'], ['end', 'int'], ['level', 'int?'], ['reason', 'reason?']],
};
export const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EventType[];

/** An event as the device numbers it: boot counter + sequence taken when it was written to flash. */
export interface DeviceEvent<K extends EventType = EventType> {
  v: number;
  dev: string;
  boot: number;
  seq: number;
  /** Hub-corrected time of the event, ms since the epoch. */
  t: number;
  type: K;
  body: EventBodies[K];
}
export type AnyDeviceEvent = { [K in EventType]: DeviceEvent<K> }[EventType];

// ---------------------------------------------------------------- commands (hub → device)

export type DisplayStatus = 'idle' | 'called' | 'recalled' | 'serving' | 'paused' | 'closed';
export const DISPLAY_STATUSES: readonly DisplayStatus[] = ['idle', 'called', 'recalled', 'serving', 'paused', 'closed'];

export interface CommandBodies {
  /** What a window's display shows; chime when a ticket is (re)called. */
  display: { win: string; ticket: string | null; status: string; item: string | null; waiting: number; text: string | null; chime: boolean };
  /** Ask the window's pad to rate the service that just ended (一事一评). */
  rateReq: { req: string; win: string; ticket: string; staff: string | null; item: string | null; expires: number };
  /** Remote settings; null leaves a setting as it is. */
  config: { rateTimeout: number | null; unsolicited: string | null; volume: number | null; idleText: string | null };
  /** Hub time, ms since the epoch, for the device's clock offset. */
  time: { now: number };
  /**
   * A firmware image to install (firmware/core/update.ts): where to download it over HTTP, its
   * size, SHA-256 (64 hex) and the release key's ed25519 signature (128 hex) of releaseMessage().
   */
  update: { version: string; url: string; size: number; sha256: string; sig: string };
}
export type CommandType = keyof CommandBodies;

export const COMMAND_SCHEMAS: { readonly [K in CommandType]: Schema } = {
  display: [['win', 'id'], ['ticket', 'ticket?'], ['status', 'text'], ['item', 'text?'], ['waiting', 'int'], ['text', 'text?'], ['chime', 'bool']],
  rateReq: [['req', 'id'], ['win', 'id'], ['ticket', 'ticket'], ['staff', 'text?'], ['item', 'text?'], ['expires', 'int']],
  config: [['rateTimeout', 'int?'], ['unsolicited', 'text?'], ['volume', 'int?'], ['idleText', 'text?']],
  time: [['now', 'int']],
  update: [['version', 'text'], ['url', 'text'], ['size', 'int'], ['sha256', 'text'], ['sig', 'text']],
};
export const COMMAND_TYPES = Object.keys(COMMAND_SCHEMAS) as CommandType[];

export interface HubCommand<K extends CommandType = CommandType> {
  v: number;
  dev: string;
  /** Hub time when sent, ms since the epoch. */
  t: number;
  type: K;
  body: CommandBodies[K];
}
export type AnyHubCommand = { [K in CommandType]: HubCommand<K> }[CommandType];

// ---------------------------------------------------------------- acks (hub → device)

export type Verdict = 'committed' | 'refused';
export interface AckItem { boot: number; seq: number; verdict: Verdict; reason: string | null }
export interface Ack { v: number; dev: string; t: number; acks: AckItem[] }

// ---------------------------------------------------------------- state (device → hub, retained)

export interface DeviceState {
  v: number;
  dev: string;
  online: boolean;
  role: Role;
  win: string;
  fw: string;
  bat: number;
  rssi: number;
  /** Free heap in bytes; null where the platform has no figure. */
  heap: number | null;
  up: number;
  outbox: number;
  t: number;
  /** An update under way or just ended (firmware/core/update.ts); absent when there is none. */
  upd?: UpdateProgress;
}

/** Where an update stands, reported in the retained state. */
export type UpdatePhase = 'downloading' | 'verifying' | 'switching' | 'failed';
export const UPDATE_PHASES: readonly UpdatePhase[] = ['downloading', 'verifying', 'switching', 'failed'];
export interface UpdateProgress {
  /** The version being installed. */
  v: string;
  phase: UpdatePhase;
  /** Bytes downloaded so far, of size. */
  got: number;
  size: number;
  /** Why it failed ('download', 'signature', 'hash', 'flash', …: a word, then detail), else null. */
  err: string | null;
}
const UPDATE_SCHEMA: Schema = [['v', 'text'], ['phase', 'text'], ['got', 'int'], ['size', 'int'], ['err', 'text?']];
const STATE_SCHEMA: Schema = [['dev', 'id'], ['online', 'bool'], ['role', 'text'], ['win', 'id'], ['fw', 'text'], ['bat', 'int'], ['rssi', 'int'], ['heap', 'int?'], ['up', 'int'], ['outbox', 'int'], ['t', 'int']];

// ---------------------------------------------------------------- errors

export type ProtocolErrorCode =
  | 'bad-topic' | 'oversized' | 'empty' | 'not-utf8' | 'unsigned' | 'not-json' | 'wrong-version'
  | 'wrong-device' | 'unknown-device' | 'bad-signature' | 'bad-field' | 'unknown-type' | 'not-canonical' | 'too-many';

export interface ProtocolError {
  code: ProtocolErrorCode;
  /** Names what is wrong and where, e.g. `body.level: expected a rating level 1–5`. */
  message: string;
  /** Line number within a batch, from 0. */
  line?: number;
}

function fault(code: ProtocolErrorCode, message: string, line?: number): ProtocolError {
  return line === undefined ? { code, message } : { code, message, line };
}

// ---------------------------------------------------------------- topics

export function topicFor(site: string, dev: string, channel: Channel): string {
  return `${TOPIC_ROOT}/${site}/${dev}/${channel}`;
}

export interface ParsedTopic { site: string; dev: string; channel: Channel }

export function parseTopic(topic: string): ParsedTopic | ProtocolError {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) {
    return fault('bad-topic', `topic "${topic.slice(0, 120)}": expected ${TOPIC_ROOT}/<site>/<device>/<channel>`);
  }
  const [, , site, dev, channel] = parts;
  if (!ID_PATTERN.test(site)) return fault('bad-topic', `topic site "${site.slice(0, 40)}": expected an id`);
  if (!ID_PATTERN.test(dev)) return fault('bad-topic', `topic device "${dev.slice(0, 40)}": expected an id`);
  if (CHANNELS.indexOf(channel as Channel) < 0) return fault('bad-topic', `topic channel "${channel.slice(0, 20)}": expected one of ${CHANNELS.join(', ')}`);
  return { site, dev, channel: channel as Channel };
}

export function isProtocolError(value: unknown): value is ProtocolError {
  return typeof value === 'object' && value !== null && 'code' in value && 'message' in value && !('v' in value);
}

// ---------------------------------------------------------------- keys

const SIGN_LABEL = utf8Encode('sannuo/v1 sign');
const MQTT_LABEL = utf8Encode('sannuo/v1 mqtt');

/** The signing key and the MQTT password both come from the device secret, and differ. */
export function deriveSigningKey(secret: Uint8Array, hmac: Hmac): Uint8Array {
  return hmac(secret, SIGN_LABEL);
}
export function deriveMqttPassword(secret: Uint8Array, hmac: Hmac): string {
  return toHex(hmac(secret, MQTT_LABEL));
}

// ---------------------------------------------------------------- canonical encoding

function encodeFields(schema: Schema, record: Record<string, unknown>): string {
  let out = '{';
  for (let i = 0; i < schema.length; i++) {
    const key = schema[i][0];
    const value = record[key];
    // Schema keys are plain identifiers: quoting them needs no escaping.
    out += (i ? ',"' : '"') + key + '":' + JSON.stringify(value === undefined ? null : value);
  }
  return out + '}';
}

function validateFields(schema: Schema, record: unknown, where: string): string | undefined {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return `${where}: expected an object`;
  const known: Record<string, true> = {};
  for (const [key, kind] of schema) {
    known[key] = true;
    if (!(key in record)) return `${where}.${key}: missing`;
    const problem = checkField(kind, (record as Record<string, unknown>)[key]);
    if (problem) return `${where}.${key}: ${problem}`;
  }
  for (const key of Object.keys(record)) if (!known[key]) return `${where}.${key}: unexpected field`;
  return undefined;
}

function eventHead(event: { v: number; dev: string; boot: number; seq: number; t: number; type: string }): string {
  return `{"v":${event.v},"dev":${JSON.stringify(event.dev)},"boot":${event.boot},"seq":${event.seq},"t":${event.t},"type":${JSON.stringify(event.type)},"body":`;
}

/** The bytes that are signed: canonical JSON without the signature. */
export function canonicalEvent(event: AnyDeviceEvent): string {
  return eventHead(event) + encodeFields(EVENT_SCHEMAS[event.type], event.body as unknown as Record<string, unknown>) + '}';
}

export function canonicalCommand(command: AnyHubCommand): string {
  return `{"v":${command.v},"dev":${JSON.stringify(command.dev)},"t":${command.t},"type":${JSON.stringify(command.type)},"body":`
    + encodeFields(COMMAND_SCHEMAS[command.type], command.body as unknown as Record<string, unknown>) + '}';
}

export function canonicalAck(ack: Ack): string {
  let items = '';
  for (let i = 0; i < ack.acks.length; i++) {
    const a = ack.acks[i];
    items += (i ? ',' : '') + `{"boot":${a.boot},"seq":${a.seq},"verdict":${JSON.stringify(a.verdict)},"reason":${JSON.stringify(a.reason)}}`;
  }
  return `{"v":${ack.v},"dev":${JSON.stringify(ack.dev)},"t":${ack.t},"acks":[${items}]}`;
}

function signLine(canonical: string, key: Uint8Array, hmac: Hmac, text: TextCodec): string {
  const sig = macHex(hmac, key, canonical, text);
  return canonical.slice(0, -1) + `,"sig":"${sig}"}`;
}

/** Validates and signs one event; refuses (returns an error) rather than send a bad or oversized line. */
export function encodeEvent(event: AnyDeviceEvent, key: Uint8Array, hmac: Hmac, text: TextCodec = PORTABLE_TEXT): string | ProtocolError {
  const problem = validateEvent(event);
  if (problem) return problem;
  const line = signLine(canonicalEvent(event), key, hmac, text);
  const size = text.encode(line).length;
  if (size > MAX_EVENT_BYTES) return fault('oversized', `event ${event.type}: ${size} bytes, at most ${MAX_EVENT_BYTES}`);
  return line;
}

export function encodeCommand(command: AnyHubCommand, key: Uint8Array, hmac: Hmac, text: TextCodec = PORTABLE_TEXT): string | ProtocolError {
  const problem = validateCommand(command);
  if (problem) return problem;
  const line = signLine(canonicalCommand(command), key, hmac, text);
  if (text.encode(line).length > MAX_DOWNLINK_BYTES) return fault('oversized', `command ${command.type}: over ${MAX_DOWNLINK_BYTES} bytes`);
  return line;
}

export function encodeAck(ack: Ack, key: Uint8Array, hmac: Hmac, text: TextCodec = PORTABLE_TEXT): string | ProtocolError {
  if (!ID_PATTERN.test(ack.dev)) return fault('bad-field', 'dev: expected an id');
  const line = signLine(canonicalAck(ack), key, hmac, text);
  if (text.encode(line).length > MAX_DOWNLINK_BYTES) return fault('oversized', `ack: over ${MAX_DOWNLINK_BYTES} bytes`);
  return line;
}

export function encodeState(state: DeviceState): string {
  const head = `{"v":${state.v},` + encodeFields(STATE_SCHEMA, state as unknown as Record<string, unknown>).slice(1);
  // Only while there is an update to report: older hubs and tests read the state without it.
  return state.upd ? head.slice(0, -1) + ',"upd":' + encodeFields(UPDATE_SCHEMA, state.upd as unknown as Record<string, unknown>) + '}' : head;
}

/** Joins signed event lines into one evt payload. */
export function encodeBatch(lines: readonly string[]): string {
  return lines.join('\n');
}

// ---------------------------------------------------------------- validation

export function validateEvent(event: unknown): ProtocolError | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return fault('not-json', 'event: expected a JSON object');
  const e = event as Record<string, unknown>;
  if (e.v !== PROTOCOL_VERSION) return fault('wrong-version', `v: protocol version ${JSON.stringify(e.v)}, this side speaks ${PROTOCOL_VERSION}`);
  if (typeof e.dev !== 'string' || !ID_PATTERN.test(e.dev)) return fault('bad-field', 'dev: expected an id of 1–32 letters, digits, _ or -');
  if (!Number.isSafeInteger(e.boot) || (e.boot as number) < 1) return fault('bad-field', 'boot: expected an integer ≥ 1');
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) return fault('bad-field', 'seq: expected an integer ≥ 1');
  if (!Number.isSafeInteger(e.t) || (e.t as number) < 0) return fault('bad-field', 't: expected milliseconds since the epoch');
  if (typeof e.type !== 'string' || !(e.type in EVENT_SCHEMAS)) return fault('unknown-type', `type: ${JSON.stringify(e.type)} is not one of ${EVENT_TYPES.join(', ')}`);
  const problem = validateFields(EVENT_SCHEMAS[e.type as EventType], e.body, 'body');
  if (problem) return fault('bad-field', problem);
  for (const key of Object.keys(e)) {
    if (['v', 'dev', 'boot', 'seq', 't', 'type', 'body', 'sig'].indexOf(key) < 0) return fault('bad-field', `${key}: unexpected field`);
  }
  if (e.type === 'transfer') {
    const body = e.body as EventBodies['transfer'];
    if ((body.toWin === null) === (body.toItem === null)) return fault('bad-field', 'body: a transfer names exactly one of toWin and toItem');
  }
  return undefined;
}

export function validateCommand(command: unknown): ProtocolError | undefined {
  if (typeof command !== 'object' || command === null || Array.isArray(command)) return fault('not-json', 'command: expected a JSON object');
  const c = command as Record<string, unknown>;
  if (c.v !== PROTOCOL_VERSION) return fault('wrong-version', `v: protocol version ${JSON.stringify(c.v)}, this side speaks ${PROTOCOL_VERSION}`);
  if (typeof c.dev !== 'string' || !ID_PATTERN.test(c.dev)) return fault('bad-field', 'dev: expected an id');
  if (!Number.isSafeInteger(c.t)) return fault('bad-field', 't: expected milliseconds since the epoch');
  if (typeof c.type !== 'string' || !(c.type in COMMAND_SCHEMAS)) return fault('unknown-type', `type: ${JSON.stringify(c.type)} is not one of ${COMMAND_TYPES.join(', ')}`);
  const problem = validateFields(COMMAND_SCHEMAS[c.type as CommandType], c.body, 'body');
  if (problem) return fault('bad-field', problem);
  for (const key of Object.keys(c)) {
    if (['v', 'dev', 't', 'type', 'body', 'sig'].indexOf(key) < 0) return fault('bad-field', `${key}: unexpected field`);
  }
  return undefined;
}

// ---------------------------------------------------------------- decoding

interface SplitLine { signed: string; sig: string; parsed: Record<string, unknown> }

/** Parses a signed line without trusting it yet. */
function splitSigned(line: string, what: string, line_?: number): SplitLine | ProtocolError {
  const tail = line.length - SIG_HEX_LENGTH - 10; // `,"sig":"` + 64 hex + `"}`
  if (tail < 1 || line.slice(tail, tail + 8) !== ',"sig":"' || line.slice(-2) !== '"}') {
    return fault('unsigned', `${what}: no signature; expected the last key to be "sig" with ${SIG_HEX_LENGTH} hex digits`, line_);
  }
  const sig = line.slice(tail + 8, -2);
  if (!isLowerHex(sig)) return fault('unsigned', `${what}.sig: expected ${SIG_HEX_LENGTH} lowercase hex digits`, line_);
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    return fault('not-json', `${what}: not JSON (${(error as Error).message})`, line_);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fault('not-json', `${what}: expected a JSON object`, line_);
  return { signed: line.slice(0, tail) + '}', sig, parsed: parsed as Record<string, unknown> };
}

function signatureMatches(split: SplitLine, key: Uint8Array, hmac: Hmac, text: TextCodec = PORTABLE_TEXT): boolean {
  // Compared as hex text (the signature is checked to be lowercase hex before this).
  return equalText(macHex(hmac, key, split.signed, text), split.sig);
}

/** What the hub learns from one event line. */
export type DecodedEvent =
  /** Authentic, valid and canonical: commit it. */
  | { kind: 'event'; event: AnyDeviceEvent; line: string }
  /** Authentic and numbered but invalid: record the refusal and ack it, so the device moves on. */
  | { kind: 'refused'; dev: string; boot: number; seq: number; error: ProtocolError; line: string }
  /** Not attributable to a known device's (boot, seq): count it, log it, change nothing. */
  | { kind: 'rejected'; error: ProtocolError };

/** Looks up a device's signing key; undefined for an unknown device. */
export type KeyLookup = (dev: string) => Uint8Array | undefined;

/** The event's own fields of a parsed line (its signature and anything else left behind). */
export function eventOf(p: Record<string, unknown>): AnyDeviceEvent {
  return { v: p.v, dev: p.dev, boot: p.boot, seq: p.seq, t: p.t, type: p.type, body: p.body } as AnyDeviceEvent;
}

/** Where in a payload a line is, for messages: `event`, or `event[i]` in a batch. */
function lineName(index: number | undefined): string {
  return index === undefined ? 'event' : `event[${index}]`;
}

/**
 * `byteLength`: the line's UTF-8 size when the caller knows it (a payload of one line), so it
 * is not encoded a second time just to be measured. No closures here: this runs per event.
 */
export function decodeEventLine(line: string, topicDev: string, keyFor: KeyLookup, hmac: Hmac, index?: number, text: TextCodec = PORTABLE_TEXT, byteLength?: number): DecodedEvent {
  if (line.length === 0) return { kind: 'rejected', error: fault('empty', `${lineName(index)}: empty line`, index) };
  const split = splitSigned(line, lineName(index), index);
  if (isProtocolError(split)) return { kind: 'rejected', error: split };
  const e = split.parsed;
  if (e.v !== PROTOCOL_VERSION) return { kind: 'rejected', error: fault('wrong-version', `${lineName(index)}.v: protocol version ${JSON.stringify(e.v)}, this hub speaks ${PROTOCOL_VERSION}`, index) };
  if (e.dev !== topicDev) return { kind: 'rejected', error: fault('wrong-device', `${lineName(index)}.dev: ${JSON.stringify(e.dev)} does not match the topic's device ${JSON.stringify(topicDev)}`, index) };
  const key = keyFor(topicDev);
  if (!key) return { kind: 'rejected', error: fault('unknown-device', `${lineName(index)}: device ${JSON.stringify(topicDev)} is not provisioned`, index) };
  if (!signatureMatches(split, key, hmac, text)) return { kind: 'rejected', error: fault('bad-signature', `${lineName(index)}.sig: signature does not match device ${topicDev}'s key`, index) };
  if (!Number.isSafeInteger(e.boot) || (e.boot as number) < 1 || !Number.isSafeInteger(e.seq) || (e.seq as number) < 1) {
    return { kind: 'rejected', error: fault('bad-field', `${lineName(index)}: boot and seq must be integers ≥ 1`, index) };
  }
  const boot = e.boot as number, seq = e.seq as number;
  const utf8Size = byteLength ?? text.encode(line).length;
  if (utf8Size > MAX_EVENT_BYTES) return { kind: 'refused', dev: topicDev, boot, seq, error: fault('oversized', `${lineName(index)}: ${utf8Size} bytes, at most ${MAX_EVENT_BYTES}`, index), line };
  const problem = validateEvent(e);
  if (problem) return { kind: 'refused', dev: topicDev, boot, seq, error: index === undefined ? problem : { ...problem, message: `${lineName(index)}.${problem.message}`, line: index }, line };
  const event = eventOf(e);
  if (canonicalEvent(event) !== split.signed) return { kind: 'refused', dev: topicDev, boot, seq, error: fault('not-canonical', `${lineName(index)}: keys or spacing differ from the canonical encoding`, index), line };
  return { kind: 'event', event, line };
}

/** Decodes an evt payload (one line or a batch); one bad line never hides the good ones. */
export function decodeEventPayload(payload: Uint8Array, topicDev: string, keyFor: KeyLookup, hmac: Hmac, codec: TextCodec = PORTABLE_TEXT): DecodedEvent[] {
  if (payload.length === 0) return [{ kind: 'rejected', error: fault('empty', 'payload: empty') }];
  if (payload.length > MAX_BATCH_BYTES) return [{ kind: 'rejected', error: fault('oversized', `payload: ${payload.length} bytes, at most ${MAX_BATCH_BYTES}`) }];
  const text = codec.decode(payload);
  if (text === undefined) return [{ kind: 'rejected', error: fault('not-utf8', 'payload: not valid UTF-8') }];
  if (text.indexOf('\n') < 0) return [decodeEventLine(text, topicDev, keyFor, hmac, undefined, codec, payload.length)];
  const lines = text.split('\n');
  if (lines.length > MAX_BATCH_EVENTS) return [{ kind: 'rejected', error: fault('too-many', `payload: ${lines.length} events, at most ${MAX_BATCH_EVENTS}`) }];
  const decoded: DecodedEvent[] = [];
  for (let i = 0; i < lines.length; i++) decoded.push(decodeEventLine(lines[i], topicDev, keyFor, hmac, i, codec));
  return decoded;
}

/** Decodes a hub → device line; the device trusts nothing that its own key did not sign. */
export function decodeCommand(payload: Uint8Array, dev: string, key: Uint8Array, hmac: Hmac): AnyHubCommand | ProtocolError {
  const split = decodeDownlink(payload, dev, key, hmac, 'command');
  if (isProtocolError(split)) return split;
  const problem = validateCommand(split.parsed);
  if (problem) return problem;
  const c = split.parsed;
  const command = { v: c.v, dev: c.dev, t: c.t, type: c.type, body: c.body } as AnyHubCommand;
  if (canonicalCommand(command) !== split.signed) return fault('not-canonical', 'command: keys or spacing differ from the canonical encoding');
  return command;
}

export function decodeAck(payload: Uint8Array, dev: string, key: Uint8Array, hmac: Hmac): Ack | ProtocolError {
  const split = decodeDownlink(payload, dev, key, hmac, 'ack');
  if (isProtocolError(split)) return split;
  const a = split.parsed;
  if (!Number.isSafeInteger(a.t)) return fault('bad-field', 'ack.t: expected milliseconds since the epoch');
  if (!Array.isArray(a.acks)) return fault('bad-field', 'ack.acks: expected a list');
  const acks: AckItem[] = [];
  for (let i = 0; i < a.acks.length; i++) {
    const item = a.acks[i] as Record<string, unknown>;
    if (typeof item !== 'object' || item === null) return fault('bad-field', `ack.acks[${i}]: expected an object`);
    if (!Number.isSafeInteger(item.boot) || !Number.isSafeInteger(item.seq)) return fault('bad-field', `ack.acks[${i}]: boot and seq must be integers`);
    if (item.verdict !== 'committed' && item.verdict !== 'refused') return fault('bad-field', `ack.acks[${i}].verdict: expected committed or refused`);
    if (item.reason !== null && typeof item.reason !== 'string') return fault('bad-field', `ack.acks[${i}].reason: expected text or null`);
    acks.push({ boot: item.boot as number, seq: item.seq as number, verdict: item.verdict, reason: item.reason as string | null });
  }
  const ack: Ack = { v: a.v as number, dev, t: a.t as number, acks };
  if (canonicalAck(ack) !== split.signed) return fault('not-canonical', 'ack: keys or spacing differ from the canonical encoding');
  return ack;
}

function decodeDownlink(payload: Uint8Array, dev: string, key: Uint8Array, hmac: Hmac, what: string): SplitLine | ProtocolError {
  if (payload.length === 0) return fault('empty', `${what}: empty payload`);
  if (payload.length > MAX_DOWNLINK_BYTES) return fault('oversized', `${what}: ${payload.length} bytes, at most ${MAX_DOWNLINK_BYTES}`);
  const text = utf8Decode(payload);
  if (text === undefined) return fault('not-utf8', `${what}: not valid UTF-8`);
  const split = splitSigned(text, what);
  if (isProtocolError(split)) return split;
  if (split.parsed.v !== PROTOCOL_VERSION) return fault('wrong-version', `${what}.v: protocol version ${JSON.stringify(split.parsed.v)}, this device speaks ${PROTOCOL_VERSION}`);
  if (split.parsed.dev !== dev) return fault('wrong-device', `${what}.dev: ${JSON.stringify(split.parsed.dev)} is not this device (${dev})`);
  if (!signatureMatches(split, key, hmac)) return fault('bad-signature', `${what}.sig: signature does not match this device's key`);
  return split;
}

export function decodeState(payload: Uint8Array, topicDev: string): DeviceState | ProtocolError {
  if (payload.length === 0) return fault('empty', 'state: empty payload');
  if (payload.length > MAX_EVENT_BYTES) return fault('oversized', `state: ${payload.length} bytes, at most ${MAX_EVENT_BYTES}`);
  const text = utf8Decode(payload);
  if (text === undefined) return fault('not-utf8', 'state: not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fault('not-json', `state: not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fault('not-json', 'state: expected a JSON object');
  const s = parsed as Record<string, unknown>;
  if (s.v !== PROTOCOL_VERSION) return fault('wrong-version', `state.v: protocol version ${JSON.stringify(s.v)}, this hub speaks ${PROTOCOL_VERSION}`);
  const rest: Record<string, unknown> = { ...s };
  delete rest.v;
  const { upd, ...fields } = rest as Record<string, unknown>;
  const problem = validateFields(STATE_SCHEMA, fields, 'state');
  if (problem) return fault('bad-field', problem);
  if (upd !== undefined) {
    const updProblem = validateFields(UPDATE_SCHEMA, upd, 'state.upd');
    if (updProblem) return fault('bad-field', updProblem);
    if (UPDATE_PHASES.indexOf((upd as UpdateProgress).phase) < 0) return fault('bad-field', `state.upd.phase: expected one of ${UPDATE_PHASES.join(', ')}`);
  }
  if (ROLES.indexOf(s.role as Role) < 0) return fault('bad-field', `state.role: expected one of ${ROLES.join(', ')}`);
  if (s.dev !== topicDev) return fault('wrong-device', `state.dev: ${JSON.stringify(s.dev)} does not match the topic's device ${JSON.stringify(topicDev)}`);
  return s as unknown as DeviceState;
}
