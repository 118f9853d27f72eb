/**
 * MemoryFlash: the Flash interface (firmware/core/hardware.ts) in memory, with power cuts on
 * demand. Pure ECMAScript, no Node APIs: the XS test harness bundles it too.
 *
 * Every mutating call (append, write, remove, rename) is one step, counted from 1 over the
 * flash's lifetime. When a crash is armed at step N, that call applies only a prefix of its
 * bytes (chosen by the tear mode) and throws PowerCut; rename and remove happen wholly or not
 * at all (LittleFS commits them atomically). From then on every call, reads included, throws
 * PowerCut until reboot(), which keeps the bytes exactly as the cut left them: the torn state
 * the firmware has to recover from.
 *
 * A torn `write` leaves the file as the prefix of the new bytes (the worst case, as on a
 * truncating filesystem; LittleFS would keep the old file). FlashFullError is thrown before
 * anything is written.
 */

import { FlashFullError, type Flash } from '../firmware/core/hardware.js';

/** How much of the cut step's bytes reach the flash. */
export type Tear =
  /** Nothing: the cut came before the first byte (rename/remove: not done). */
  | 'none'
  /** Half the bytes, rounded down (rename/remove: not done). */
  | 'half'
  /** Everything: the data is written, the call still throws (rename/remove: done). */
  | 'all'
  /** This many bytes at most (rename/remove: done when > 0). */
  | { bytes: number };

export class PowerCut extends Error {
  constructor(message = 'power cut') {
    super(message);
    this.name = 'PowerCut';
  }
}

export type FlashOp = 'append' | 'write' | 'remove' | 'rename';

export interface FlashStats {
  /** Mutating calls so far, the cut one included; failed (FlashFullError) calls count too. */
  steps: number;
  /** Bytes that reached the flash (torn prefixes included): the wear figure. */
  bytesWritten: number;
  appends: number;
  writes: number;
  removes: number;
  renames: number;
}

/** What the last power cut did, for tests to compute what recovery should find. */
export interface CrashReport {
  step: number;
  op: FlashOp;
  name: string;
  /** Bytes of this step that were applied (append/write), or 1/0 for a rename/remove done/not done. */
  applied: number;
  /** Bytes the step meant to write (append/write), or 1 for rename/remove. */
  total: number;
}

export type FlashImage = { [name: string]: Uint8Array };

export interface MemoryFlashOptions {
  /** Total bytes all files may hold; unlimited when omitted. */
  capacity?: number;
  /** Cut the power at this step (1-based, over the flash's lifetime). */
  crashAt?: number;
  tear?: Tear;
}

export class MemoryFlash implements Flash {
  protected files = new Map<string, Uint8Array>();
  readonly capacity: number;
  readonly stats: FlashStats = { steps: 0, bytesWritten: 0, appends: 0, writes: 0, removes: 0, renames: 0 };
  lastCrash: CrashReport | undefined;
  private crashStep: number | undefined;
  private tear: Tear = 'none';
  private dead = false;

  constructor(options: MemoryFlashOptions = {}) {
    const capacity = options.capacity ?? Infinity;
    if (!(capacity > 0)) throw new RangeError(`MemoryFlash capacity: expected bytes > 0, got ${options.capacity}`);
    this.capacity = capacity;
    if (options.crashAt !== undefined) this.armCrash(options.crashAt, options.tear);
  }

  /** Cuts the power at mutating step `step` (absolute, see stats.steps). */
  armCrash(step: number, tear: Tear = 'none'): void {
    if (!Number.isSafeInteger(step) || step < 1) throw new RangeError(`MemoryFlash.armCrash: expected a step ≥ 1, got ${step}`);
    if (typeof tear === 'object' && !(Number.isSafeInteger(tear.bytes) && tear.bytes >= 0)) {
      throw new RangeError(`MemoryFlash.armCrash: tear.bytes must be an integer ≥ 0, got ${tear.bytes}`);
    }
    this.crashStep = step;
    this.tear = tear;
  }

  disarm(): void {
    this.crashStep = undefined;
  }

  /** True between a power cut and reboot(). */
  get crashed(): boolean {
    return this.dead;
  }

  /** Power comes back: the bytes stay as the cut left them. */
  reboot(): void {
    this.dead = false;
  }

  // ------------------------------------------------------------------ Flash

  read(name: string): Uint8Array | undefined {
    this.alive();
    const bytes = this.files.get(name);
    return bytes ? bytes.slice() : undefined;
  }

  append(name: string, bytes: Uint8Array): void {
    this.alive();
    const step = this.step('append');
    const old = this.files.get(name);
    const oldLength = old ? old.length : 0;
    const room = this.capacity - this.used();
    if (step !== this.crashStep && bytes.length > room) {
      throw new FlashFullError(`flash is full: append of ${bytes.length} bytes to ${name}, ${room} free`);
    }
    const count = step === this.crashStep ? Math.min(this.torn(bytes.length), Math.max(0, room)) : bytes.length;
    if (count > 0 || !old) {
      const next = new Uint8Array(oldLength + count);
      if (old) next.set(old);
      next.set(bytes.subarray(0, count), oldLength);
      this.files.set(name, next);
      this.stats.bytesWritten += count;
      this.onAppend(name, bytes.subarray(0, count));
    }
    if (step === this.crashStep) this.cut(step, 'append', name, count, bytes.length);
  }

  write(name: string, bytes: Uint8Array): void {
    this.alive();
    const step = this.step('write');
    const old = this.files.get(name);
    const room = this.capacity - this.used() + (old ? old.length : 0);
    if (step !== this.crashStep && bytes.length > room) {
      throw new FlashFullError(`flash is full: write of ${bytes.length} bytes to ${name}, ${room} free`);
    }
    const count = step === this.crashStep ? Math.min(this.torn(bytes.length), Math.max(0, room)) : bytes.length;
    const next = bytes.slice(0, count);
    this.files.set(name, next);
    this.stats.bytesWritten += count;
    this.onWrite(name, next);
    if (step === this.crashStep) this.cut(step, 'write', name, count, bytes.length);
  }

  remove(name: string): void {
    this.alive();
    const step = this.step('remove');
    const done = step !== this.crashStep || this.atomicDone();
    if (done && this.files.delete(name)) this.onRemove(name);
    if (step === this.crashStep) this.cut(step, 'remove', name, done ? 1 : 0, 1);
  }

  rename(from: string, to: string): void {
    this.alive();
    const step = this.step('rename');
    const bytes = this.files.get(from);
    if (!bytes) {
      if (step === this.crashStep) this.cut(step, 'rename', from, 0, 1);
      throw new Error(`flash rename: ${from} does not exist`);
    }
    const done = step !== this.crashStep || this.atomicDone();
    if (done) {
      this.files.delete(from);
      this.files.set(to, bytes);
      this.onRename(from, to);
    }
    if (step === this.crashStep) this.cut(step, 'rename', from, done ? 1 : 0, 1);
  }

  free(): number | undefined {
    this.alive();
    return this.capacity === Infinity ? undefined : this.capacity - this.used();
  }

  // ------------------------------------------------------------------ inspection

  /** File names, sorted. Does not count as a step and works while crashed (for assertions). */
  list(): string[] {
    return Array.from(this.files.keys()).sort();
  }

  /** Bytes held by all files. */
  used(): number {
    let total = 0;
    this.files.forEach((bytes) => { total += bytes.length; });
    return total;
  }

  /** A copy of every file, readable while crashed. */
  snapshot(): FlashImage {
    const image: FlashImage = {};
    this.files.forEach((bytes, name) => { image[name] = bytes.slice(); });
    return image;
  }

  /** Replaces all contents (not a step, no wear counted); tests use it to corrupt bytes. */
  restore(image: FlashImage): void {
    this.files.clear();
    for (const name of Object.keys(image)) this.files.set(name, image[name].slice());
  }

  // ------------------------------------------------------------------ write-through hooks (DiskFlash)

  protected onAppend(_name: string, _bytes: Uint8Array): void {}
  protected onWrite(_name: string, _bytes: Uint8Array): void {}
  protected onRemove(_name: string): void {}
  protected onRename(_from: string, _to: string): void {}

  // ------------------------------------------------------------------ internals

  private alive(): void {
    if (this.dead) throw new PowerCut('flash is powered off (call reboot)');
  }

  private step(op: FlashOp): number {
    this.stats.steps++;
    if (op === 'append') this.stats.appends++;
    else if (op === 'write') this.stats.writes++;
    else if (op === 'remove') this.stats.removes++;
    else this.stats.renames++;
    return this.stats.steps;
  }

  private torn(length: number): number {
    const tear = this.tear;
    if (tear === 'none') return 0;
    if (tear === 'half') return Math.floor(length / 2);
    if (tear === 'all') return length;
    return Math.min(length, tear.bytes);
  }

  private atomicDone(): boolean {
    const tear = this.tear;
    return tear === 'all' || (typeof tear === 'object' && tear.bytes > 0);
  }

  private cut(step: number, op: FlashOp, name: string, applied: number, total: number): never {
    this.dead = true;
    this.crashStep = undefined;
    this.lastCrash = { step, op, name, applied, total };
    throw new PowerCut(`power cut at step ${step} (${op} ${name}: ${applied} of ${total})`);
  }
}
