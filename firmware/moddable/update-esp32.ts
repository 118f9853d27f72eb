/**
 * The ESP32's ImageWriter (firmware/core/update.ts) on Moddable's `ota` module: the image goes to
 * the OTA partition that is not running; complete() makes it the boot partition, so until then a
 * power cut or cancel() leaves the running image booting. The manifest's partitions file must
 * hold two OTA app partitions (ota_0, ota_1) and otadata, as the httpota example's does.
 */
import OTA from 'ota';
import type { ImageWriter } from '../core/update.js';
import type { Flash, Storage } from '../core/hardware.js';

export class OtaImageWriter implements ImageWriter {
  private ota: OTA | undefined;

  /** @param restart reboots the board (the platform's, injected so this file needs no other module). */
  constructor(private readonly restartBoard: () => void) {}

  begin(size: number): void {
    this.cancel();
    this.ota = new OTA({ byteLength: size }); // erases the partition: throws when the image does not fit
  }

  write(bytes: Uint8Array): void {
    if (!this.ota) throw new Error('write before begin');
    // ota.write takes an ArrayBuffer: a view's own bytes, copied only when it is a slice.
    this.ota.write(bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer as ArrayBuffer : bytes.slice().buffer as ArrayBuffer);
  }

  complete(): void {
    if (!this.ota) throw new Error('complete before begin');
    this.ota.complete();
    this.ota = undefined;
  }

  cancel(): void {
    const ota = this.ota;
    this.ota = undefined;
    ota?.cancel();
  }

  restart(): void {
    this.restartBoard();
  }
}

/** The platform's writer (manifest module moddable/update-writer; lin's is update-lin.ts). */
export function createImageWriter(deps: { flash: Flash; storage: Storage; versionOf: () => string; restart: () => void }): OtaImageWriter {
  return new OtaImageWriter(deps.restart);
}

/**
 * The version the running image reports, where the platform keeps one apart from the image:
 * none on the ESP32, whose image carries its own version (the manifest's fw) in its config.
 */
export function installedVersion(_storage: Storage): string | undefined {
  return undefined;
}
