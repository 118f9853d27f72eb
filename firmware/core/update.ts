/**
 * Over-the-air updates on the device: the hub's signed `update` command names an image (version,
 * URL, size, SHA-256, the release key's ed25519 signature); the Updater checks the signature,
 * downloads the image over HTTP in chunks (Range requests, resumed after a dropped connection),
 * writes it to the inactive partition while hashing it, and only when the hash matches marks it
 * to boot and restarts. Anything else — a bad signature, a wrong hash, a download that keeps
 * failing, a full partition, a power cut — leaves the running image as it is: nothing switches
 * until complete(), which comes last.
 *
 * The platform supplies the parts: an ImageWriter (Moddable's `ota` on esp32, a file on lin, the
 * simulator's partitions), a ChunkFetcher (Moddable's http Request, or Node's fetch) and
 * UpdateCrypto (SHA-256 and ed25519 verify). ECMAScript built-ins only: this file runs in XS.
 * Progress goes into the device's retained state (protocol.ts UpdateProgress).
 */

import type { Timers, TimerId } from './hardware.js';
import type { CommandBodies, UpdateProgress } from './protocol.js';
import { fromHex, toHex, utf8Encode } from './utf8.js';

/** The inactive partition. begin → write… → complete, or cancel at any point. */
export interface ImageWriter {
  /** Opens the inactive partition for an image of `size` bytes; throws when it cannot (too big, flash fault). */
  begin(size: number): void;
  /** Appends the next bytes; throws on a flash fault. */
  write(bytes: Uint8Array): void;
  /** Marks the written image to boot next. Called only after signature and hash matched. */
  complete(): void;
  /** Drops what was written; the running image stays the one that boots. */
  cancel(): void;
  /** Reboots (into the image complete() marked). */
  restart(): void;
}

/** HTTP GET of one byte range. `done` is called once: an error text, or exactly the bytes asked for. */
export interface ChunkFetcher {
  get(url: string, offset: number, length: number, done: (error: string | null, bytes: Uint8Array | null) => void): void;
}

export interface Sha256 {
  write(bytes: Uint8Array): void;
  /** The 32-byte digest; the hasher is finished. */
  close(): Uint8Array;
}

export interface UpdateCrypto {
  sha256(): Sha256;
  /** ed25519: true when `signature` (64 bytes) is `publicKey`'s (32 bytes) over `message`. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export type UpdateOffer = CommandBodies['update'];

/** The bytes the release key signs: what the image is, so a signature of one image fits no other. */
export function releaseMessage(version: string, size: number, sha256: string): string {
  return `sannuo-fw/1\n${version}\n${size}\n${sha256}`;
}

export const UPDATE_DEFAULTS = {
  chunkBytes: 4096, // bytes per Range request: one flash sector, a small buffer on the ESP32
  retries: 5, // failed requests in a row before the update is given up
  retryMs: 2_000, // milliseconds before the first retry; doubles each time
  maxBytes: 4 * 1024 * 1024, // bytes: larger than any OTA partition the manifest makes
  restartMs: 1_000, // milliseconds from the switch to the restart, so the state saying so goes out
};

export interface UpdaterOptions {
  chunkBytes?: number;
  retries?: number;
  retryMs?: number;
  maxBytes?: number;
  restartMs?: number;
}

export interface UpdaterDeps {
  writer: ImageWriter;
  fetcher: ChunkFetcher;
  /** SHA-256 and ed25519 (Moddable: its crypt modules; Node: node:crypto). */
  crypt: UpdateCrypto;
  timers: Timers;
  /** The release key (64 hex, from provisioning); null: this device takes no update. */
  releaseKey: string | null;
  /** The version running now. */
  running: string;
  /** Progress changed: the device publishes its state. */
  onProgress(): void;
}

const VERSION = /^[0-9A-Za-z._+-]{1,32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

export type OfferOutcome = 'started' | 'current' | 'busy' | 'failed';

export class Updater {
  /** Requests made, retried, and bytes written, for diagnostics and tests. */
  readonly counters = { requests: 0, retries: 0, bytes: 0, started: 0, failed: 0, switched: 0 };
  private readonly o: Required<UpdaterOptions>;
  private status: UpdateProgress | null = null;
  private offerInHand: UpdateOffer | null = null;
  private hasher: Sha256 | null = null;
  private attempts = 0;
  private timer: TimerId | undefined;
  /** Bumped by every start and stop: a late answer of an old request is dropped. */
  private generation = 0;
  private lastReported = -1;

  constructor(private readonly deps: UpdaterDeps, options: UpdaterOptions = {}) {
    this.o = { ...UPDATE_DEFAULTS, ...options };
  }

  /** Where the update stands, for the state; null when none was offered since boot. */
  progress(): UpdateProgress | null {
    return this.status ? { ...this.status } : null;
  }

  /** A signed update command arrived. */
  offer(offer: UpdateOffer): OfferOutcome {
    if (offer.version === this.deps.running) return 'current';
    const busy = this.status && this.status.phase !== 'failed';
    if (busy) return 'busy';
    const problem = this.check(offer);
    if (problem) {
      this.status = { v: String(offer.version).slice(0, 32), phase: 'failed', got: 0, size: Number.isSafeInteger(offer.size) ? offer.size : 0, err: problem };
      this.counters.failed++;
      this.deps.onProgress();
      return 'failed';
    }
    this.start(offer);
    return this.status?.phase === 'failed' ? 'failed' : 'started';
  }

  /** Stops a download (the device is shutting down); what was written is dropped. */
  stop(): void {
    this.generation++;
    if (this.timer !== undefined) this.deps.timers.clear(this.timer);
    this.timer = undefined;
    if (this.status && (this.status.phase === 'downloading' || this.status.phase === 'verifying')) {
      try { this.deps.writer.cancel(); } catch { /* the partition is not marked: the old image boots anyway */ }
    }
  }

  /** Why the offer cannot be installed, or undefined. The signature is checked before a byte is downloaded. */
  private check(offer: UpdateOffer): string | undefined {
    const key = this.deps.releaseKey === null ? undefined : fromHex(this.deps.releaseKey);
    if (!key || key.length !== 32) return 'no-release-key: this device was provisioned without the hub\'s release key';
    if (!VERSION.test(offer.version)) return 'bad-offer: version: expected 1–32 of 0–9 A–Z a–z . _ + -';
    if (!/^https?:\/\//.test(offer.url)) return 'bad-offer: url: expected http:// or https://';
    if (!Number.isSafeInteger(offer.size) || offer.size <= 0 || offer.size > this.o.maxBytes) return `bad-offer: size: expected 1–${this.o.maxBytes} bytes`;
    if (!HEX64.test(offer.sha256)) return 'bad-offer: sha256: expected 64 lowercase hex digits';
    if (!HEX128.test(offer.sig)) return 'bad-offer: sig: expected 128 lowercase hex digits';
    let ok = false;
    try {
      ok = this.deps.crypt.verify(key, utf8Encode(releaseMessage(offer.version, offer.size, offer.sha256)), fromHex(offer.sig)!);
    } catch {
      ok = false;
    }
    return ok ? undefined : 'signature: the image is not signed by this device\'s release key';
  }

  private start(offer: UpdateOffer): void {
    this.generation++;
    this.counters.started++;
    this.offerInHand = offer;
    this.attempts = 0;
    this.lastReported = -1;
    this.status = { v: offer.version, phase: 'downloading', got: 0, size: offer.size, err: null };
    try {
      this.deps.writer.begin(offer.size);
    } catch (error) {
      return this.fail(`flash: ${message(error)}`, false);
    }
    this.hasher = this.deps.crypt.sha256();
    this.report(true);
    this.next();
  }

  private next(): void {
    const offer = this.offerInHand!;
    const status = this.status!;
    if (status.got >= offer.size) return this.verify();
    const length = Math.min(this.o.chunkBytes, offer.size - status.got);
    const generation = this.generation;
    const offset = status.got;
    let answered = false;
    this.counters.requests++;
    try {
      this.deps.fetcher.get(offer.url, offset, length, (error, bytes) => {
        if (answered || generation !== this.generation) return;
        answered = true;
        this.received(offset, length, error, bytes);
      });
    } catch (error) {
      if (!answered) {
        answered = true;
        this.received(offset, length, message(error), null);
      }
    }
  }

  private received(offset: number, length: number, error: string | null, bytes: Uint8Array | null): void {
    if (error === null && (!bytes || bytes.length !== length)) error = `got ${bytes ? bytes.length : 0} bytes at ${offset}, expected ${length}`;
    if (error !== null) {
      this.attempts++;
      if (this.attempts > this.o.retries) return this.fail(`download: ${error} (after ${this.o.retries} retries)`, true);
      this.counters.retries++;
      const generation = this.generation;
      // Resumes where it stopped: the next request asks for the same range again.
      this.timer = this.deps.timers.set(() => {
        this.timer = undefined;
        if (generation === this.generation) this.next();
      }, this.o.retryMs * 2 ** (this.attempts - 1));
      return;
    }
    try {
      this.deps.writer.write(bytes!);
    } catch (e) {
      return this.fail(`flash: ${message(e)}`, true);
    }
    this.attempts = 0;
    this.hasher!.write(bytes!);
    this.counters.bytes += bytes!.length;
    this.status!.got = offset + length;
    this.report(false);
    this.next();
  }

  private verify(): void {
    const offer = this.offerInHand!;
    this.status!.phase = 'verifying';
    this.report(true);
    const digest = toHex(this.hasher!.close());
    this.hasher = null;
    if (digest !== offer.sha256) return this.fail(`hash: the image's SHA-256 is ${digest}, the offer says ${offer.sha256}`, true);
    try {
      this.deps.writer.complete();
    } catch (error) {
      return this.fail(`flash: ${message(error)}`, true);
    }
    this.counters.switched++;
    this.status!.phase = 'switching';
    this.report(true);
    const generation = this.generation;
    this.timer = this.deps.timers.set(() => {
      this.timer = undefined;
      if (generation === this.generation) this.deps.writer.restart();
    }, this.o.restartMs);
  }

  private fail(reason: string, cancel: boolean): void {
    this.generation++;
    if (cancel) {
      try { this.deps.writer.cancel(); } catch { /* not marked: the old image boots anyway */ }
    }
    this.hasher = null;
    this.counters.failed++;
    this.status = { ...(this.status ?? { v: '', got: 0, size: 0 }), phase: 'failed', err: reason.slice(0, 200) };
    this.report(true);
  }

  /** Every phase change, and every tenth of the download: the state is not a flood. */
  private report(always: boolean): void {
    const s = this.status!;
    const tenth = s.size > 0 ? Math.floor((s.got * 10) / s.size) : 0;
    if (!always && tenth === this.lastReported) return;
    this.lastReported = tenth;
    this.deps.onProgress();
  }
}

function message(error: unknown): string {
  return String((error as Error)?.message ?? error);
}
