import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  type AnyDeviceEvent, type AnyHubCommand, type Ack, type DecodedEvent, type ProtocolError,
  MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_EVENT_BYTES,
  canonicalEvent, decodeAck, decodeCommand, decodeEventPayload, decodeState, deriveMqttPassword, deriveSigningKey,
  encodeAck, encodeBatch, encodeCommand, encodeEvent, encodeState, isProtocolError, parseTopic, topicFor,
} from '../../../firmware/core/protocol.js';
import { fromHex, toHex, utf8Decode, utf8Encode } from '../../../firmware/core/utf8.js';

const mac = (k: Uint8Array, d: Uint8Array) => hmac(sha256, k, d);
const secret = fromHex('11'.repeat(32))!;
const key = deriveSigningKey(secret, mac);
const otherKey = deriveSigningKey(fromHex('22'.repeat(32))!, mac);
const keyFor = (dev: string) => (dev === 'pad-1' ? key : undefined);

function rating(seq = 1, overrides: Partial<AnyDeviceEvent['body']> = {}): AnyDeviceEvent {
  return { v: 1, dev: 'pad-1', boot: 3, seq, t: 1_764_000_000_000, type: 'rating',
    body: { win: 'W01', ticket: 'A042', req: 'r-1', level: 5, reason: null, offline: false, ...overrides } } as AnyDeviceEvent;
}
function line(event: AnyDeviceEvent, k = key): string {
  const out = encodeEvent(event, k, mac);
  if (isProtocolError(out)) throw new Error(out.message);
  return out;
}
function decode(text: string | Uint8Array, dev = 'pad-1'): DecodedEvent[] {
  return decodeEventPayload(typeof text === 'string' ? utf8Encode(text) : text, dev, keyFor, mac);
}
function only(text: string | Uint8Array, dev = 'pad-1'): DecodedEvent {
  const out = decode(text, dev);
  expect(out).toHaveLength(1);
  return out[0];
}
function errorOf(result: DecodedEvent): ProtocolError {
  if (result.kind === 'event') throw new Error('expected an error, got an event');
  return result.error;
}

describe('utf8', () => {
  test('round-trips Chinese, emoji and ASCII', () => {
    for (const text of ['A042', '非常满意', '请到 3 号窗口 🙂', '']) {
      expect(utf8Decode(utf8Encode(text))).toBe(text);
      expect(Array.from(utf8Encode(text))).toEqual(Array.from(Buffer.from(text, 'utf8')));
    }
  });
  test('refuses malformed UTF-8', () => {
    for (const bytes of [[0xff], [0xc3], [0xe4, 0xbd], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80]]) {
      expect(utf8Decode(Uint8Array.from(bytes))).toBeUndefined();
    }
  });
  test('hex', () => {
    expect(toHex(Uint8Array.from([0, 15, 255]))).toBe('000fff');
    expect(fromHex('zz')).toBeUndefined();
    expect(fromHex('abc')).toBeUndefined();
  });
});

describe('topics', () => {
  test('build and parse', () => {
    const t = topicFor('hall-1', 'pad-1', 'evt');
    expect(t).toBe('sannuo/v1/hall-1/pad-1/evt');
    expect(parseTopic(t)).toEqual({ site: 'hall-1', dev: 'pad-1', channel: 'evt' });
  });
  test.each([
    ['sannuo/v2/hall/pad/evt', 'expected sannuo/v1'],
    ['sannuo/v1/hall/pad', 'expected sannuo/v1'],
    ['sannuo/v1/hall/pad/evt/x', 'expected sannuo/v1'],
    ['sannuo/v1/ha ll/pad/evt', 'site'],
    ['sannuo/v1/hall/+/evt', 'device'],
    ['sannuo/v1/hall/pad/cmdx', 'channel'],
  ])('refuses %s', (topic, words) => {
    const out = parseTopic(topic);
    expect(isProtocolError(out)).toBe(true);
    expect((out as ProtocolError).code).toBe('bad-topic');
    expect((out as ProtocolError).message).toContain(words);
  });
});

describe('keys', () => {
  test('signing key and MQTT password differ and are stable', () => {
    const password = deriveMqttPassword(secret, mac);
    expect(password).toMatch(/^[0-9a-f]{64}$/);
    expect(password).not.toBe(toHex(key));
    expect(toHex(key)).not.toBe(toHex(secret));
    expect(deriveMqttPassword(secret, mac)).toBe(password);
  });
});

describe('events', () => {
  test('encode is canonical: fixed key order, signature last, signed bytes are the sent bytes', () => {
    const text = line(rating());
    expect(text.startsWith('{"v":1,"dev":"pad-1","boot":3,"seq":1,"t":1764000000000,"type":"rating","body":{"win":"W01","ticket":"A042","req":"r-1","level":5,"reason":null,"offline":false},"sig":"')).toBe(true);
    const signed = text.slice(0, text.lastIndexOf(',"sig":')) + '}';
    expect(signed).toBe(canonicalEvent(rating()));
    expect(text.slice(-66, -2)).toBe(toHex(mac(key, utf8Encode(signed))));
  });

  test('the same event encodes to the same bytes whatever the body key order', () => {
    const shuffled = { ...rating(), body: { offline: false, reason: null, level: 5, req: 'r-1', ticket: 'A042', win: 'W01' } } as AnyDeviceEvent;
    expect(line(shuffled)).toBe(line(rating()));
  });

  test('decodes a valid event and a batch', () => {
    const one = only(line(rating()));
    expect(one.kind).toBe('event');
    if (one.kind === 'event') expect(one.event).toEqual(rating());
    const batch = decode(encodeBatch([line(rating(1)), line(rating(2)), line(rating(3))]));
    expect(batch.map((d) => d.kind)).toEqual(['event', 'event', 'event']);
  });

  test('every event type round-trips', () => {
    const bodies: Record<string, unknown> = {
      boot: { fw: '0.1.0', reason: 'power' },
      state: { bat: -1, rssi: -61, heap: 81234, up: 3600, outbox: 2, refused: 0, dropped: 0 },
      call: { win: 'W01', staff: 's-7' },
      recall: { win: 'W01', ticket: 'A042' },
      noShow: { win: 'W01', ticket: 'A042' },
      transfer: { win: 'W01', ticket: 'A042', toWin: 'W02', toItem: null },
      pause: { win: 'W01', reason: '午休' },
      resume: { win: 'W01' },
      rating: { win: 'W01', ticket: null, req: null, level: 1, reason: 'slow', offline: true },
    };
    let seq = 1;
    for (const [type, body] of Object.entries(bodies)) {
      const event = { v: 1, dev: 'pad-1', boot: 1, seq: seq++, t: 1, type, body } as AnyDeviceEvent;
      const out = only(line(event));
      expect(out).toEqual({ kind: 'event', event, line: line(event) });
    }
  });

  test('the encoder refuses invalid events rather than send them', () => {
    expect((encodeEvent(rating(1, { level: 7 as 5 }), key, mac) as ProtocolError).message).toBe('body.level: expected a rating level 1–5');
    expect((encodeEvent({ ...rating(), seq: 0 }, key, mac) as ProtocolError).message).toContain('seq');
    const huge = { v: 1, dev: 'pad-1', boot: 1, seq: 1, t: 1, type: 'boot', body: { fw: '长'.repeat(200), reason: '长'.repeat(200) } } as AnyDeviceEvent;
    expect((encodeEvent(huge, key, mac) as ProtocolError).code).toBe('oversized');
    const transferBoth = { v: 1, dev: 'pad-1', boot: 1, seq: 1, t: 1, type: 'transfer', body: { win: 'W01', ticket: 'A1', toWin: 'W2', toItem: 'I1' } } as AnyDeviceEvent;
    expect((encodeEvent(transferBoth, key, mac) as ProtocolError).message).toContain('exactly one');
  });

  describe('malformed input: rejected (not attributable) with a precise code', () => {
    const good = line(rating());
    const cases: [string, string | Uint8Array, string, string][] = [
      ['empty payload', '', 'empty', 'empty'],
      ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d]), 'not-utf8', 'UTF-8'],
      ['no signature', canonicalEvent(rating()), 'unsigned', 'no signature'],
      ['signature not hex', good.slice(0, -66) + 'Z'.repeat(64) + '"}', 'unsigned', 'hex'],
      ['not JSON', '{"v":1,,' + good.slice(8), 'not-json', 'not JSON'],
      ['JSON array with sig tail', '[1,"sig":"' + 'a'.repeat(64) + '"}', 'not-json', 'not JSON'],
      ['wrong version', good.replace('"v":1', '"v":2'), 'wrong-version', 'protocol version 2'],
      ['wrong device in body', line({ ...rating(), dev: 'pad-9' } as AnyDeviceEvent), 'wrong-device', 'does not match'],
      ['forged signature', good.slice(0, -4) + (good.slice(-4, -2) === '00' ? '11' : '00') + '"}', 'bad-signature', 'signature does not match'],
      ['signed with another key', line(rating(), otherKey), 'bad-signature', 'signature'],
      ['changed after signing', good.replace('"level":5', '"level":1'), 'bad-signature', 'signature'],
      ['seq not a number', (() => { const e = { ...rating(), seq: 'x' } as unknown as AnyDeviceEvent; const c = JSON.stringify(e); return c.slice(0, -1) + ',"sig":"' + toHex(mac(key, utf8Encode(c))) + '"}'; })(), 'bad-field', 'boot and seq'],
    ];
    test.each(cases)('%s', (_name, payload, code, words) => {
      const error = errorOf(only(payload));
      expect(error.code).toBe(code);
      expect(error.message).toContain(words);
      expect(only(payload).kind).toBe('rejected');
    });

    test('unknown device', () => {
      const error = errorOf(only(line({ ...rating(), dev: 'pad-2' } as AnyDeviceEvent), 'pad-2'));
      expect(error.code).toBe('unknown-device');
    });
    test('oversized payload and too many lines', () => {
      expect(errorOf(only(new Uint8Array(MAX_BATCH_BYTES + 1).fill(0x20))).code).toBe('oversized');
      const many = encodeBatch(Array.from({ length: MAX_BATCH_EVENTS + 1 }, (_, i) => line(rating(i + 1))));
      expect(errorOf(only(many)).code).toBe('too-many');
    });
  });

  describe('authentic but invalid: refused with boot and seq, so the device can move on', () => {
    function signedRaw(object: Record<string, unknown>, raw?: string): string {
      const canonical = raw ?? JSON.stringify(object);
      return canonical.slice(0, -1) + ',"sig":"' + toHex(mac(key, utf8Encode(canonical))) + '"}';
    }
    const base = { v: 1, dev: 'pad-1', boot: 3, seq: 9, t: 5, type: 'rating', body: { win: 'W01', ticket: 'A042', req: null, level: 4, reason: null, offline: false } };
    test.each([
      ['unknown type', { ...base, type: 'explode' }, 'unknown-type', 'type: "explode"'],
      ['level out of range', { ...base, body: { ...base.body, level: 6 } }, 'bad-field', 'body.level'],
      ['missing body field', { ...base, body: { win: 'W01', ticket: 'A042', req: null, level: 4, reason: null } }, 'bad-field', 'body.offline: missing'],
      ['extra body field', { ...base, body: { ...base.body, name: '张三' } }, 'bad-field', 'body.name: unexpected field'],
      ['extra top-level field', { ...base, extra: 1 }, 'bad-field', 'extra: unexpected field'],
      ['bad reason', { ...base, body: { ...base.body, level: 1, reason: 'rude' } }, 'bad-field', 'body.reason'],
      ['bad ticket', { ...base, body: { ...base.body, ticket: 'A 42' } }, 'bad-field', 'body.ticket'],
      ['negative time', { ...base, t: -1 }, 'bad-field', 't:'],
      ['body not an object', { ...base, body: [1] }, 'bad-field', 'body: expected an object'],
    ])('%s', (_name, object, code, words) => {
      const out = only(signedRaw(object as Record<string, unknown>));
      expect(out.kind).toBe('refused');
      if (out.kind !== 'refused') return;
      expect(out).toMatchObject({ dev: 'pad-1', boot: 3, seq: 9 });
      expect(out.error.code).toBe(code);
      expect(out.error.message).toContain(words);
    });
    test('non-canonical key order', () => {
      const reordered = { dev: 'pad-1', v: 1, boot: 3, seq: 9, t: 5, type: 'rating', body: base.body };
      const out = only(signedRaw(reordered));
      expect(out.kind === 'refused' && out.error.code).toBe('not-canonical');
    });
    test('non-canonical spacing', () => {
      const out = only(signedRaw(base, JSON.stringify(base, null, 1).replace(/\n/g, '')));
      expect(out.kind === 'refused' && out.error.code).toBe('not-canonical');
    });
    test('oversized but signed', () => {
      const big = { ...base, type: 'pause', body: { win: 'W01', reason: 'x'.repeat(1100) } };
      const out = only(signedRaw(big));
      expect(out.kind === 'refused' && out.error.code).toBe('oversized');
      expect(out.kind === 'refused' && out.error.message).toContain(`at most ${MAX_EVENT_BYTES}`);
    });
  });

  test('one bad line in a batch never hides the good ones', () => {
    const out = decode(encodeBatch([line(rating(1)), 'garbage', line(rating(3))]));
    expect(out.map((d) => d.kind)).toEqual(['event', 'rejected', 'event']);
    expect(errorOf(out[1]).line).toBe(1);
    expect(errorOf(out[1]).message).toContain('event[1]');
  });

  test('never throws on random bytes', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const good = utf8Encode(line(rating()));
    for (let i = 0; i < 3000; i++) {
      const bytes = Uint8Array.from(good);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rnd() * bytes.length);
        bytes[at] = (bytes[at] + 1 + Math.floor(rnd() * 255)) % 256; // always a real change
      }
      const out = decode(bytes);
      for (const d of out) expect(d.kind).not.toBe('event');
    }
  });
});

describe('commands and acks', () => {
  const display: AnyHubCommand = { v: 1, dev: 'disp-1', t: 10, type: 'display', body: { win: 'W01', ticket: 'A042', status: 'called', item: '社保', waiting: 7, text: null, chime: true } };
  test('command round-trip, and refusals', () => {
    const text = encodeCommand(display, key, mac) as string;
    expect(decodeCommand(utf8Encode(text), 'disp-1', key, mac)).toEqual(display);
    expect((decodeCommand(utf8Encode(text), 'disp-2', key, mac) as ProtocolError).code).toBe('wrong-device');
    expect((decodeCommand(utf8Encode(text), 'disp-1', otherKey, mac) as ProtocolError).code).toBe('bad-signature');
    expect((decodeCommand(utf8Encode(text.replace('"waiting":7', '"waiting":8')), 'disp-1', key, mac) as ProtocolError).code).toBe('bad-signature');
    expect((decodeCommand(new Uint8Array(0), 'disp-1', key, mac) as ProtocolError).code).toBe('empty');
    expect((decodeCommand(utf8Encode('{"v":1}'), 'disp-1', key, mac) as ProtocolError).code).toBe('unsigned');
    const bad = { ...display, type: 'selfDestruct' } as unknown as AnyHubCommand;
    expect((encodeCommand(bad, key, mac) as ProtocolError).code).toBe('unknown-type');
  });
  test('ack round-trip, and refusals', () => {
    const ack: Ack = { v: 1, dev: 'pad-1', t: 99, acks: [{ boot: 3, seq: 1, verdict: 'committed', reason: null }, { boot: 3, seq: 2, verdict: 'refused', reason: 'ticket A042 already rated' }] };
    const text = encodeAck(ack, key, mac) as string;
    expect(decodeAck(utf8Encode(text), 'pad-1', key, mac)).toEqual(ack);
    expect((decodeAck(utf8Encode(text), 'pad-1', otherKey, mac) as ProtocolError).code).toBe('bad-signature');
    const forgedVerdict = text.replace('"refused"', '"committed"');
    expect(isProtocolError(decodeAck(utf8Encode(forgedVerdict), 'pad-1', key, mac))).toBe(true);
  });
});

describe('state', () => {
  const state = { v: 1, dev: 'pad-1', online: true, role: 'pad' as const, win: 'W01', fw: '0.1.0', bat: -1, rssi: -55, heap: 90_000, up: 12, outbox: 0, t: 5 };
  test('round-trip', () => {
    expect(decodeState(utf8Encode(encodeState(state)), 'pad-1')).toEqual(state);
  });
  test.each([
    ['not JSON', '{', 'not-json'],
    ['wrong version', JSON.stringify({ ...state, v: 9 }), 'wrong-version'],
    ['bad role', JSON.stringify({ ...state, role: 'toaster' }), 'bad-field'],
    ['missing field', JSON.stringify({ ...state, heap: undefined }), 'bad-field'],
    ['other device', JSON.stringify({ ...state, dev: 'pad-2' }), 'wrong-device'],
  ])('%s', (_name, text, code) => {
    expect((decodeState(utf8Encode(text), 'pad-1') as ProtocolError).code).toBe(code);
  });
});

test('utf8Encode matches Node on every plane, lone surrogates become U+FFFD', () => {
  const samples = ['', 'a', 'é', '号', '😀', 'x\ud800y', '\udc00', 'A042 非常满意 🙂 end'];
  for (const text of samples) expect(Array.from(utf8Encode(text))).toEqual(Array.from(Buffer.from(text, 'utf8')));
});

test('a native text codec decodes exactly as the portable one, mutated payloads included', () => {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const native = {
    encode: (s: string) => new Uint8Array(Buffer.from(s, 'utf8')),
    decode: (b: Uint8Array) => { try { return strict.decode(b); } catch { return undefined; } },
  };
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const good = utf8Encode(encodeBatch([line(rating(1)), line({ ...rating(2), type: 'pause', body: { win: 'W01', reason: '午休 🍵' } } as AnyDeviceEvent)]));
  const samples = [good, Uint8Array.from([0xef, 0xbb, 0xbf, ...good])];
  for (let i = 0; i < 2000; i++) {
    const bytes = Uint8Array.from(good);
    const at = Math.floor(rnd() * bytes.length);
    bytes[at] = (bytes[at] + 1 + Math.floor(rnd() * 255)) % 256;
    samples.push(bytes);
  }
  for (const bytes of samples) {
    expect(decodeEventPayload(bytes, 'pad-1', keyFor, mac, native)).toEqual(decodeEventPayload(bytes, 'pad-1', keyFor, mac));
  }
});

test('an Hmac with a hex-of-text path signs and verifies exactly as the byte path, Chinese text included', () => {
  let hexCalls = 0;
  const withHex = Object.assign((k: Uint8Array, d: Uint8Array) => mac(k, d), {
    hexOfText: (k: Uint8Array, text: string) => { hexCalls++; return toHex(mac(k, utf8Encode(text))); },
  });
  const events = [rating(1), { ...rating(2), type: 'pause', body: { win: 'W01', reason: '午休 🍵' } } as AnyDeviceEvent];
  for (const e of events) expect(encodeEvent(e, key, withHex)).toBe(encodeEvent(e, key, mac));
  const bytes = utf8Encode(encodeBatch(events.map((e) => encodeEvent(e, key, mac) as string)));
  expect(decodeEventPayload(bytes, 'pad-1', keyFor, withHex)).toEqual(decodeEventPayload(bytes, 'pad-1', keyFor, mac));
  // A wrong MAC from the fast path is still a bad signature.
  const wrong = Object.assign((k: Uint8Array, d: Uint8Array) => mac(k, d), { hexOfText: () => '0'.repeat(64) });
  expect(decodeEventPayload(bytes, 'pad-1', keyFor, wrong).map((d) => d.kind === 'rejected' && d.error.code)).toEqual(['bad-signature', 'bad-signature']);
  expect(hexCalls).toBeGreaterThanOrEqual(4);
});
