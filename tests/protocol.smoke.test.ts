import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeEvent, decodeEventPayload, deriveSigningKey, isProtocolError } from '../firmware/core/protocol.js';
import { utf8Encode } from '../firmware/core/utf8.js';

const mac = (k: Uint8Array, d: Uint8Array) => hmac(sha256, k, d);
test('round trip', () => {
  const key = deriveSigningKey(new Uint8Array(32).fill(7), mac);
  const line = encodeEvent({ v: 1, dev: 'pad-1', boot: 1, seq: 1, t: 5, type: 'rating', body: { win: 'W1', ticket: 'A042', req: 'r1', level: 5, reason: null, offline: false } }, key, mac);
  expect(isProtocolError(line)).toBe(false);
  const out = decodeEventPayload(utf8Encode(line as string), 'pad-1', () => key, mac);
  expect(out[0].kind).toBe('event');
});
