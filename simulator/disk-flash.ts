/**
 * DiskFlash: MemoryFlash written through to a directory, so a simulated device that is killed
 * (kill -9, a crashed simulator) restarts with its outbox as it was. One disk file per flash
 * file; names are URI-encoded so any flash name is a safe file name. No fsync: the simulator
 * models a killed process, whose writes the OS page cache keeps; a torn append on disk is the
 * same torn state the firmware recovers from on a real device.
 */

import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryFlash, type MemoryFlashOptions } from './flash.js';

export class DiskFlash extends MemoryFlash {
  readonly dir: string;

  /** Loads every file already in `dir` (creating it if needed); they count against capacity. */
  constructor(dir: string, options: MemoryFlashOptions = {}) {
    super(options);
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    const images: { [name: string]: Uint8Array } = {};
    for (const entry of readdirSync(dir)) {
      let name: string;
      try {
        name = decodeURIComponent(entry);
      } catch {
        throw new Error(`DiskFlash ${dir}: ${entry} is not a flash file name (not URI-encoded)`);
      }
      images[name] = new Uint8Array(readFileSync(join(dir, entry)));
    }
    super.restore(images);
    if (this.used() > this.capacity) {
      throw new Error(`DiskFlash ${dir}: files hold ${this.used()} bytes, more than the capacity of ${this.capacity}`);
    }
  }

  /** Replaces all contents, on disk too. */
  override restore(image: { [name: string]: Uint8Array }): void {
    super.restore(image);
    for (const entry of readdirSync(this.dir)) rmSync(join(this.dir, entry), { force: true });
    for (const name of Object.keys(image)) writeFileSync(this.path(name), image[name]);
  }

  private path(name: string): string {
    return join(this.dir, encodeURIComponent(name));
  }

  protected override onAppend(name: string, bytes: Uint8Array): void {
    appendFileSync(this.path(name), bytes);
  }

  protected override onWrite(name: string, bytes: Uint8Array): void {
    writeFileSync(this.path(name), bytes);
  }

  protected override onRemove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  protected override onRename(from: string, to: string): void {
    renameSync(this.path(from), this.path(to));
  }
}
