/**
 * Flash on Moddable's File module. On the ESP32 the manifest selects littlefs (power-cut safe,
 * atomic rename over an existing file); on lin the host file system under /tmp. Preference is
 * no place for the outbox: NVS values are at most 4000 bytes and keys 15 characters.
 */
import { File, Directory, System } from 'file';
import { FlashFullError, type Flash } from '../core/hardware.js';

/** littlefs and SPIFFS report a full medium only as a generic error; this many bytes stay spare. */
const RESERVE = 8 * 1024; // bytes: littlefs needs free blocks to copy-on-write metadata

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  // A fresh buffer: the native side wants a whole ArrayBuffer, not a view into a larger one.
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out.buffer;
}

export class FileFlash implements Flash {
  readonly #dir: string;

  /** `dir` is a full path ending in "/", e.g. config.file.root + "sannuo/". */
  constructor(dir: string) {
    if (!dir.endsWith('/')) throw new Error(`flash directory "${dir}" must end in "/"`);
    this.#dir = dir;
    // Each missing level in turn (Directory.create makes one): a per-device folder
    // (/tmp/sannuo/<id>/) sits in a folder a fresh machine does not have either.
    let path = '';
    for (const part of dir.slice(0, -1).split('/')) {
      path += part + '/';
      if (path === '/' || File.exists(path.slice(0, -1))) continue;
      try {
        Directory.create(path);
      } catch (error) {
        // Some file systems (SPIFFS) have no directories; a missing one then is not an error.
        trace(`flash: cannot create ${path}: ${String(error)}\n`);
      }
    }
  }

  #path(name: string): string {
    if (!/^[A-Za-z0-9_.-]{1,48}$/.test(name)) throw new Error(`flash file name "${name}" is not allowed`);
    return this.#dir + name;
  }

  read(name: string): Uint8Array | undefined {
    const path = this.#path(name);
    if (!File.exists(path)) return undefined;
    const file = new File(path);
    try {
      return file.length ? new Uint8Array(file.read(ArrayBuffer)) : new Uint8Array(0);
    } finally {
      file.close();
    }
  }

  append(name: string, bytes: Uint8Array): void {
    this.#ensureRoom(bytes.byteLength);
    const file = new File(this.#path(name), true);
    try {
      file.position = file.length;
      this.#write(file, bytes);
    } finally {
      file.close();
    }
  }

  write(name: string, bytes: Uint8Array): void {
    const path = this.#path(name);
    this.#ensureRoom(bytes.byteLength);
    File.delete(path);
    const file = new File(path, true);
    try {
      this.#write(file, bytes);
    } finally {
      file.close();
    }
  }

  remove(name: string): void {
    File.delete(this.#path(name));
  }

  rename(from: string, to: string): void {
    // Full target path: littlefs and POSIX both replace an existing target atomically.
    if (!File.rename(this.#path(from), this.#path(to))) throw new Error(`flash: cannot rename ${from} to ${to}`);
  }

  free(): number | undefined {
    const info = System.info() as { used?: number; total?: number };
    if (typeof info.used !== 'number' || typeof info.total !== 'number') return undefined;
    return Math.max(0, info.total - info.used - RESERVE);
  }

  /** The partition's size (littlefs: block count × block size); on lin the host disk's. */
  total(): number | undefined {
    const info = System.info() as { total?: number };
    return typeof info.total === 'number' && info.total > 0 ? info.total : undefined;
  }

  #ensureRoom(length: number): void {
    const free = this.free();
    if (free !== undefined && length > free) throw new FlashFullError(`flash is full: ${length} bytes needed, ${free} free`);
  }

  #write(file: File, bytes: Uint8Array): void {
    if (!bytes.byteLength) return;
    try {
      file.write(toArrayBuffer(bytes));
    } catch (error) {
      // A full medium surfaces as a generic write error; name it so the outbox can refuse cleanly.
      const free = this.free();
      if (free !== undefined && free < bytes.byteLength) throw new FlashFullError(`flash is full: ${String(error)}`);
      throw error;
    }
  }
}
