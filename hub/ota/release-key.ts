/**
 * The hub's release key: an ed25519 key pair that signs firmware images (firmware/core/update.ts
 * releaseMessage). Its seed is derived from the hub key, like the hub's other keys, so it
 * survives restarts with no file of its own, and a leaked derived key says nothing of the hub key.
 * Devices are provisioned with its public key (DeviceConfig.releaseKey).
 */

import { createHmac, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { releaseMessage } from '../../firmware/core/update.js';

// RFC 8410: the PKCS#8 wrapping of a raw 32-byte ed25519 seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export class ReleaseKey {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  /** The public key as 64 hex digits, as DeviceConfig.releaseKey carries it. */
  readonly publicHex: string;

  constructor(hubKey: Uint8Array) {
    const seed = createHmac('sha256', hubKey).update('sannuo-release-key').digest();
    this.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.publicKey = createPublicKey(this.privateKey);
    this.publicHex = (this.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(-32).toString('hex');
  }

  /** The signature (128 hex) of an image: its version, size and SHA-256. */
  signImage(version: string, size: number, sha256: string): string {
    return sign(null, Buffer.from(releaseMessage(version, size, sha256)), this.privateKey).toString('hex');
  }

  verifyImage(version: string, size: number, sha256: string, sig: string): boolean {
    return verify(null, Buffer.from(releaseMessage(version, size, sha256)), this.publicKey, Buffer.from(sig, 'hex'));
  }
}

/** ed25519 verify with a raw 32-byte public key (the device side, on Node: the simulator). */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey)]);
  return verify(null, Buffer.from(message), createPublicKey({ key: spki, format: 'der', type: 'spki' }), Buffer.from(signature));
}
