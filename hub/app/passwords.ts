/**
 * Password hashing for the application's users: scrypt (node:crypto) with a random salt, stored
 * as "scrypt$N$r$p$salt$hash" so the cost can be raised later without breaking old hashes.
 */

import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { AppError } from './http-util.js';

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const; // OWASP-recommended minimum for scrypt

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** "scrypt$N$r$p$salt$hash" (base64url), so the cost can be raised later without breaking old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const expected = Buffer.from(parts[5], 'base64url');
  const key = await scrypt(password, Buffer.from(parts[4], 'base64url'), expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** The password itself if it is long enough (and not absurdly long), else a 400 naming `field`. */
export function checkPasswordStrength(password: unknown, field: string): string {
  if (typeof password !== 'string' || password.length < 8) throw new AppError(400, `${field}: must be at least 8 characters`, field);
  if (password.length > 200) throw new AppError(400, `${field}: must be at most 200 characters`, field);
  return password;
}

