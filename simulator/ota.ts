/**
 * Over-the-air updates in the simulator, behind the firmware core's interfaces (update.ts):
 *
 * - SimPartitions: two firmware slots of a simulated board that outlive its power cycles. An
 *   image is written to the inactive slot; only complete() makes it the one that boots, so a
 *   power cut, a cancel or a failed check leaves the running version booting.
 * - httpFetcher: one Range request per chunk with Node's fetch (a real HTTP connection to the
 *   hub), its answer delivered only while the device that asked is still powered.
 * - nodeUpdateCrypto: SHA-256 and ed25519 verify from node:crypto.
 */

import { createHash } from 'node:crypto';
import type { ChunkFetcher, ImageWriter, UpdateCrypto } from '../firmware/core/update.js';
import { verifyEd25519 } from '../hub/ota/release-key.js';

export const nodeUpdateCrypto: UpdateCrypto = {
  sha256() {
    const h = createHash('sha256');
    return { write: (bytes) => { h.update(bytes); }, close: () => new Uint8Array(h.digest()) };
  },
  verify: (publicKey, message, signature) => verifyEd25519(publicKey, message, signature),
};

export class SimPartitions {
  /** The version that boots; null: the one the device was provisioned with. */
  running: string | null = null;
  /** Set by complete(): the next boot is an update's. */
  switched = false;
  /** What the inactive slot holds so far (bytes), and for which size. */
  private slot: { size: number; bytes: Buffer[]; length: number } | undefined;
  readonly counters = { begins: 0, cancels: 0, completes: 0, powerLosses: 0 };

  /** @param capacity bytes an image may have (a smaller partition makes a device that fails every update). */
  constructor(readonly capacity = 4 * 1024 * 1024) {}

  /** A power cut: whatever was half-written in the inactive slot is garbage the next begin() erases. */
  powerLost(): void {
    if (this.slot) this.counters.powerLosses++;
    this.slot = undefined;
  }

  /** The writer one incarnation of the device uses; restart() reboots it. */
  writer(versionOf: () => string, restart: () => void): ImageWriter {
    let pendingVersion: string | null = null;
    return {
      begin: (size) => {
        if (size > this.capacity) throw new Error(`image of ${size} bytes does not fit the ${this.capacity}-byte partition`);
        this.counters.begins++;
        this.slot = { size, bytes: [], length: 0 };
        pendingVersion = versionOf();
      },
      write: (bytes) => {
        if (!this.slot) throw new Error('write before begin');
        if (this.slot.length + bytes.length > this.slot.size) throw new Error('image longer than announced');
        this.slot.bytes.push(Buffer.from(bytes));
        this.slot.length += bytes.length;
      },
      complete: () => {
        if (!this.slot || this.slot.length !== this.slot.size) throw new Error('image incomplete');
        this.counters.completes++;
        this.running = pendingVersion;
        this.switched = true;
        this.slot = undefined;
      },
      cancel: () => {
        this.counters.cancels++;
        this.slot = undefined;
      },
      restart,
    };
  }
}

/**
 * One chunk per Range request; `alive()` false (the device lost power) drops the answer. With
 * `base`, the offer's scheme and host are replaced by it: a simulated hall reaches the hub at
 * the address it was given, as its MQTT link does, not at the advertised name (sannuo-hub.local).
 */
export function httpFetcher(alive: () => boolean, deliver: (fn: () => void) => void, counters?: { requests: number; failures: number }, base?: string): ChunkFetcher {
  return {
    get(offered, offset, length, done) {
      const url = base ? base.replace(/\/+$/, '') + offered.replace(/^https?:\/\/[^/]+/, '') : offered;
      if (counters) counters.requests++;
      const fail = (error: string) => {
        if (counters) counters.failures++;
        if (alive()) deliver(() => done(error, null));
      };
      fetch(url, { headers: { range: `bytes=${offset}-${offset + length - 1}` }, signal: AbortSignal.timeout(10_000) })
        .then(async (response) => {
          if (response.status !== 206 && response.status !== 200) return fail(`HTTP ${response.status}`);
          const bytes = new Uint8Array(await response.arrayBuffer());
          if (alive()) deliver(() => done(null, bytes));
        })
        .catch((error: unknown) => fail(String((error as Error)?.message ?? error)));
    },
  };
}
