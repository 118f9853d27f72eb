/**
 * Device secrets at rest (security finding 13): the devices table holds each secret sealed with
 * AES-256-GCM under a key derived from the hub key (HKDF-SHA256, info 'sannuo device secrets'),
 * a random 12-byte nonce per row and the device id as associated data, so a row copied onto
 * another device does not open. Stored as `v1:<base64url nonce|ciphertext|tag>`; the version
 * prefix leaves room for another key or scheme later (a v2 beside v1, rows resealed at start).
 * A copy of the database alone no longer gives a device's credentials; with the hub key it does,
 * so the key stays in its own 0600 file (or SANNUO_HUB_KEY), and backups keep the two apart.
 */

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Db } from '../db/db.js';

const VERSION = 'v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SECRET_BYTES = 32;
/** What rows written before sealing hold: the secret in clear. */
const CLEAR = /^[0-9a-f]{64}$/;

/** A stored secret that does not open: another hub key, or a damaged row. Names the device. */
export class DeviceSecretError extends Error {
  constructor(readonly device: string, message: string, readonly reason = message, readonly mismatch = false) {
    super(message);
    this.name = 'DeviceSecretError';
  }
}

export class DeviceSecrets {
  private readonly key: Buffer;

  constructor(hubKey: Uint8Array) {
    if (!(hubKey instanceof Uint8Array) || hubKey.length < 16) throw new TypeError('DeviceSecrets: hubKey must be a Uint8Array of at least 16 bytes');
    // A key of its own: what opens the secrets signs no checkpoint, and the reverse.
    this.key = Buffer.from(hkdfSync('sha256', hubKey, Buffer.alloc(0), 'sannuo device secrets', 32));
  }

  /** A row of a hub from before sealing: the secret in clear (the start-up migration seals it). */
  static isClear(stored: string): boolean {
    return CLEAR.test(stored);
  }

  /** Seals a secret (64 hex digits) for the devices table. */
  seal(device: string, secretHex: string): string {
    if (!CLEAR.test(secretHex)) throw new TypeError(`device ${device}: a secret is 64 lowercase hex digits`);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(aad(device));
    const sealed = Buffer.concat([nonce, cipher.update(Buffer.from(secretHex, 'hex')), cipher.final(), cipher.getAuthTag()]);
    return VERSION + sealed.toString('base64url');
  }

  /** The secret (64 hex digits) of a stored value; a clear one is taken as it is. */
  open(device: string, stored: string): string {
    if (CLEAR.test(stored)) return stored;
    if (!stored.startsWith(VERSION)) {
      throw new DeviceSecretError(device, `device ${device}: its stored secret has an unknown format (${JSON.stringify(stored.slice(0, 4))}…); this hub knows ${VERSION}`);
    }
    const sealed = Buffer.from(stored.slice(VERSION.length), 'base64url');
    if (sealed.length !== NONCE_BYTES + SECRET_BYTES + TAG_BYTES) throw new DeviceSecretError(device, `device ${device}: its stored secret is damaged (${sealed.length} bytes)`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, NONCE_BYTES));
    decipher.setAAD(aad(device));
    decipher.setAuthTag(sealed.subarray(NONCE_BYTES + SECRET_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, NONCE_BYTES + SECRET_BYTES)), decipher.final()]).toString('hex');
    } catch {
      throw new DeviceSecretError(device, `device ${device}: its stored secret does not open with this hub key; the hub key does not match the one it was sealed with`, 'sealed with another hub key', true);
    }
  }
}

function aad(device: string): Buffer {
  return Buffer.from(`sannuo device secret\0${device}`, 'utf8');
}

/**
 * The start-up migration: every row whose secret is still in clear (a hub from before sealing)
 * is sealed in place, in one transaction. Idempotent: sealed rows are left alone, and the UPDATE
 * matches the clear value, so two district hubs sealing at once do not seal twice. Returns how
 * many rows it sealed.
 */
export async function sealClearSecrets(db: Db, secrets: DeviceSecrets): Promise<number> {
  const clear = (await db.all<{ id: string; secret: string }>('SELECT id, secret FROM devices')).filter((r) => DeviceSecrets.isClear(r.secret));
  if (clear.length === 0) return 0;
  // SQLite: zero the space the clear values leave rather than keep them in the file's free
  // space; for this transaction only (it costs on every delete).
  const sqlite = db.dialect === 'sqlite';
  if (sqlite) await db.exec('PRAGMA secure_delete = ON');
  try {
    return await db.tx(async (tx) => {
      let sealed = 0;
      for (const r of clear) sealed += (await tx.run('UPDATE devices SET secret = $2 WHERE id = $1 AND secret = $3', [r.id, secrets.seal(r.id, r.secret), r.secret])).changes;
      return sealed;
    });
  } finally {
    if (sqlite) await db.exec('PRAGMA secure_delete = OFF');
  }
}

/** Opens every row's secret, or one error naming each device that did not open (the usual cause: another hub key). */
export function openAll<T extends { id: string; secret: string }>(rows: T[], secrets: DeviceSecrets): T[] {
  const failed: DeviceSecretError[] = [];
  const opened: T[] = [];
  for (const row of rows) {
    try {
      opened.push({ ...row, secret: secrets.open(row.id, row.secret) });
    } catch (error) {
      if (!(error instanceof DeviceSecretError)) throw error;
      failed.push(error);
    }
  }
  if (failed.length === 0) return opened;
  const names = failed.map((e) => e.device);
  const list = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  const what = failed.every((e) => e.mismatch) ? 'the hub key does not match the device secrets' : 'device secrets do not open';
  throw new DeviceSecretError(names[0], `${what}: ${failed.length} of ${rows.length} stored device secrets do not open with this hub's key (device ${list}: ${failed[0].reason}). `
    + 'Start the hub with the hub key these devices were provisioned under (hub.key in the data folder, or SANNUO_HUB_KEY where deploy/ writes it); if that key is lost, so are these secrets: delete these devices\' rows and provision them again');
}
