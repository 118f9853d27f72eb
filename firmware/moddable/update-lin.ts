/**
 * The lin simulator's ImageWriter (firmware/core/update.ts), on the core's own Flash and Storage:
 * the image is appended to `update.part` in the device's flash folder, and complete() renames it
 * to `update.bin` (atomic) and records the version in Storage (`fwNext`), which main.ts reads at
 * boot as the version running. lin has no partitions to switch: the same simulator binary runs
 * after the restart, reporting the new version, so an update from the hub can be tried end to
 * end by hand; until complete() the old version is what boots.
 */
import type { Flash, Storage } from '../core/hardware.js';
import type { ImageWriter } from '../core/update.js';

export const NEXT_FW_KEY = 'fwNext';
const PART = 'update.part';
const DONE = 'update.bin';

export class LinImageWriter implements ImageWriter {
  private size = 0;
  private written = 0;

  /**
   * @param versionOf the version being installed (the Updater's progress)
   * @param restartApp what a restart is on this host (lin: a trace asking to start it again)
   */
  constructor(private readonly flash: Flash, private readonly storage: Storage, private readonly versionOf: () => string, private readonly restartApp: () => void) {}

  begin(size: number): void {
    this.flash.remove(PART);
    this.size = size;
    this.written = 0;
  }

  write(bytes: Uint8Array): void {
    if (this.written + bytes.length > this.size) throw new Error('image longer than announced');
    this.flash.append(PART, bytes);
    this.written += bytes.length;
  }

  complete(): void {
    if (this.written !== this.size) throw new Error(`image incomplete: ${this.written} of ${this.size} bytes`);
    this.flash.rename(PART, DONE);
    this.storage.set(NEXT_FW_KEY, this.versionOf());
  }

  cancel(): void {
    this.flash.remove(PART);
  }

  restart(): void {
    this.restartApp();
  }
}

/** The version an update installed on this device, if any (main.ts: the version that runs). */
export function installedVersion(storage: Storage): string | undefined {
  try {
    return storage.get(NEXT_FW_KEY);
  } catch {
    return undefined;
  }
}

/** The platform's writer (manifest module moddable/update-writer; the ESP32's is update-esp32.ts). */
export function createImageWriter(deps: { flash: Flash; storage: Storage; versionOf: () => string; restart: () => void }): LinImageWriter {
  return new LinImageWriter(deps.flash, deps.storage, deps.versionOf, deps.restart);
}
