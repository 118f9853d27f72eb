/**
 * The firmware's Updater (firmware/core/update.ts) with the device's own crypto path: ed25519 from
 * @noble/ed25519 and SHA-256/512 from @noble/hashes, plain JavaScript as on Moddable
 * (firmware/moddable/update-crypto.ts uses the same ed25519 over the native SHA-512). Runs on
 * Node and, bundled, in XS (tests/xs/run-update-xs.mjs); the transcripts must match.
 */

import { hashes, sign, getPublicKey } from '@noble/ed25519';
import { verify } from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { Updater, releaseMessage, type ChunkFetcher, type ImageWriter, type UpdateCrypto } from '../../firmware/core/update.js';
import { toHex, utf8Encode } from '../../firmware/core/utf8.js';
import { VirtualTime } from '../../simulator/virtual-time.js';

hashes.sha512 = sha512;

const crypt: UpdateCrypto = {
  sha256() {
    const h = sha256.create();
    return { write: (b) => { h.update(b); }, close: () => h.digest() };
  },
  verify: (publicKey, message, signature) => {
    try {
      return verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};

const SIZE = 10_000; // bytes
const image = new Uint8Array(SIZE).map((_, i) => (i * 31 + 7) & 255);
const seed = new Uint8Array(32).map((_, i) => i + 1);
const releaseKey = toHex(getPublicKey(seed));

function offer(version: string, bytes: Uint8Array, signWith = seed) {
  const digest = toHex(sha256(bytes));
  return { version, url: 'http://hub.local:8080/ota/images/x.bin', size: bytes.length, sha256: digest, sig: toHex(sign(utf8Encode(releaseMessage(version, bytes.length, digest)), signWith)) };
}

/** One update against a served image; `failures` requests fail first. */
function run(o: ReturnType<typeof offer>, served: Uint8Array, failures: number): string[] {
  const time = new VirtualTime(0);
  const log: string[] = [];
  let left = failures;
  const fetcher: ChunkFetcher = {
    get(_url, offset, length, done) {
      time.set(() => {
        if (left > 0) { left--; done('connection reset', null); } else done(null, served.slice(offset, offset + length));
      }, 50);
    },
  };
  let written = 0;
  const writer: ImageWriter = {
    begin: (size) => { log.push(`begin ${size}`); written = 0; },
    write: (b) => { written += b.length; },
    complete: () => log.push(`complete ${written}`),
    cancel: () => log.push(`cancel ${written}`),
    restart: () => log.push('restart'),
  };
  const updater: Updater = new Updater({ writer, fetcher, crypt, timers: time, releaseKey, running: '0.1.0', onProgress: () => { const p = updater.progress()!; log.push(`${p.phase} ${p.got}/${p.size}${p.err ? ` ${p.err}` : ''}`); } }, { retryMs: 100, retries: 2 });
  log.push(`offer ${updater.offer(o)}`);
  time.runUntilIdle();
  log.push(`requests ${updater.counters.requests} retries ${updater.counters.retries}`);
  return log;
}

export function runUpdateScenario(): Record<string, string[]> {
  const good = offer('0.2.0', image);
  const tampered = image.slice();
  tampered[4321] ^= 1;
  return {
    releaseKey: [releaseKey, good.sig],
    applied: run(good, image, 0),
    resumed: run(good, image, 2),
    gaveUp: run(good, image, 3),
    badSignature: run(offer('0.2.0', image, new Uint8Array(32).fill(9)), image, 0),
    wrongHash: run(good, tampered, 0),
    current: run(offer('0.1.0', image), image, 0),
  };
}
