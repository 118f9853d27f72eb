/**
 * The secret a ticket carries for the public lookup: a short code derived from the ticket id
 * with a key of the hall's own (HMAC-SHA256), printed on the ticket and part of its lookup URL.
 * Without it the public sees nothing of a ticket, so nobody can walk a day's numbers and read
 * who served whom, when (issue 18, finding 6). 8 characters of a 32-letter alphabet: 40 bits.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Crockford's base32 letters: no I, L, O or U, so a code read off paper is typed right.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const TICKET_CODE_LENGTH = 8;

/** The ticket's code: the first 40 bits of HMAC-SHA256(key, "sannuo/v1 ticket " + id), base32. */
export function ticketCode(key: Uint8Array, ticketId: string): string {
  const mac = createHmac('sha256', key).update(`sannuo/v1 ticket ${ticketId}`, 'utf8').digest();
  let out = '';
  for (let i = 0; i < TICKET_CODE_LENGTH; i++) {
    const bit = i * 5;
    const pair = (mac[bit >> 3] << 8) | mac[(bit >> 3) + 1];
    out += ALPHABET[(pair >> (11 - (bit & 7))) & 31];
  }
  return out;
}

/** Constant-time check; lower case and the look-alikes O→0, I/L→1 are accepted, as people type them. */
export function ticketCodeMatches(key: Uint8Array, ticketId: string, given: string): boolean {
  const normal = given.toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  const expected = Buffer.from(ticketCode(key, ticketId));
  const actual = Buffer.from(normal);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A key for a queue mounted without one (tests, tools): codes then hold until the process ends. */
export function ephemeralTicketKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}
