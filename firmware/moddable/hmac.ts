/** HMAC-SHA256 on the SDK's native SHA-256 (crypt Digest) and its HMAC module. */
import { Digest } from 'crypt';
import HMAC from 'hmac';
import type { Hmac } from '../core/protocol.js';

function copy(bytes: Uint8Array): ArrayBuffer {
  // A fresh buffer: the native side wants a whole ArrayBuffer, not a view into a larger one.
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out.buffer;
}

export const nativeHmacSha256: Hmac = (key, data) =>
  new Uint8Array(new HMAC(new Digest('SHA256'), copy(key)).process(copy(data)));
