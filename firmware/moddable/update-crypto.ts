/**
 * UpdateCrypto (firmware/core/update.ts) on Moddable: SHA-256 from the native crypt Digest, and
 * ed25519 verify from @noble/ed25519 (plain JavaScript with BigInt, which XS has) over the native
 * SHA-512. One verify per update; its cost is paid once, before the download.
 */
import { Digest } from 'crypt';
import { hashes, verify } from '@noble/ed25519';
import type { UpdateCrypto } from '../core/update.js';

function copy(bytes: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out.buffer;
}

hashes.sha512 = (message: Uint8Array) => {
  const d = new Digest('SHA512');
  d.write(copy(message));
  return new Uint8Array(d.close());
};

export const moddableUpdateCrypto: UpdateCrypto = {
  sha256() {
    const d = new Digest('SHA256');
    return { write: (bytes) => d.write(copy(bytes)), close: () => new Uint8Array(d.close()) };
  },
  verify(publicKey, message, signature) {
    try {
      return verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};
