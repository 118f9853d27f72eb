/**
 * Firmware images the hub holds: each version once, its bytes in <data>/ota/<version>.bin (mode
 * 0600, written to a temporary name and renamed, so a half-written file is never served), its
 * size, SHA-256 and release-key signature in the ota_images table, with who uploaded it.
 */

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db, Migration } from '../db/db.js';
import { HttpError } from '../http/errors.js';
import type { ReleaseKey } from './release-key.js';

export interface FirmwareImage {
  version: string;
  size: number;
  sha256: string;
  sig: string;
  note: string | null;
  by: string;
  at: number;
}

/** Versions as the firmware's Updater accepts them (firmware/core/update.ts). */
export const VERSION_PATTERN = /^[0-9A-Za-z._+-]{1,32}$/;

export const storeMigrations: Migration[] = [{
  id: 'ota/001-images',
  sql: () => `CREATE TABLE IF NOT EXISTS ota_images (
    version TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    sig TEXT NOT NULL,
    note TEXT,
    by_user TEXT NOT NULL,
    at BIGINT NOT NULL
  )`,
}];

type Row = { version: string; size: number | string; sha256: string; sig: string; note: string | null; by_user: string; at: number | string };
const fromRow = (r: Row): FirmwareImage => ({ version: r.version, size: Number(r.size), sha256: r.sha256, sig: r.sig, note: r.note, by: r.by_user, at: Number(r.at) });

export class ImageStore {
  constructor(private readonly db: Db, private readonly dir: string, private readonly key: ReleaseKey, private readonly maxBytes: number) {}

  file(version: string): string {
    if (!VERSION_PATTERN.test(version)) throw new HttpError(400, `version: expected 1–32 of 0–9 A–Z a–z . _ + -`, 'version');
    return path.join(this.dir, `${version}.bin`);
  }

  /** Stores a new version, signed; the same version twice is refused (409): an image never changes under its name. */
  async put(version: string, bytes: Buffer, note: string | null, by: string, at: number, record: (tx: Db, image: FirmwareImage) => Promise<void>): Promise<FirmwareImage> {
    const file = this.file(version);
    if (bytes.length === 0) throw new HttpError(400, 'body: the image is empty', 'body');
    if (bytes.length > this.maxBytes) throw new HttpError(400, `body: the image is ${bytes.length} bytes, at most ${this.maxBytes} (ota.maxImageMb)`, 'body');
    if (note !== null && note.length > 200) throw new HttpError(400, 'note: at most 200 characters', 'note');
    if (await this.get(version)) throw new HttpError(409, `version: ${version} is already stored; an image never changes under its version`, 'version');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const image: FirmwareImage = { version, size: bytes.length, sha256, sig: this.key.signImage(version, bytes.length, sha256), note, by, at };
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, bytes, { mode: 0o600 });
    fs.renameSync(temp, file);
    try {
      await this.db.tx(async (tx) => {
        await tx.run('INSERT INTO ota_images (version, size, sha256, sig, note, by_user, at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [version, image.size, sha256, image.sig, note, by, at]);
        await record(tx, image);
      });
    } catch (error) {
      fs.rmSync(file, { force: true });
      throw error;
    }
    return image;
  }

  async get(version: string): Promise<FirmwareImage | undefined> {
    const row = await this.db.get<Row>('SELECT * FROM ota_images WHERE version = $1', [version]);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<FirmwareImage[]> {
    return (await this.db.all<Row>('SELECT * FROM ota_images ORDER BY at, version')).map(fromRow);
  }
}
