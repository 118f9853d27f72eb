/**
 * Small shared pieces of the 三诺 application's HTTP layer: one error type that carries a status
 * and the field at fault, a body checker that names the field, and number parsing that copes
 * with PostgreSQL's BIGINT-as-text.
 */

import { HttpError } from '../http/errors.js';

/** The application's errors are the hub's one HTTP error (hub/http/errors.ts). */
export { HttpError as AppError } from '../http/errors.js';
/** Number columns as read from either engine (hub/db/db.ts). */
export { num, numOrNull } from '../db/db.js';

type FieldType = 'string' | 'string?' | 'number' | 'number?' | 'integer' | 'integer?' | 'boolean' | 'boolean?' | 'object' | 'object?' | 'array' | 'array?';

/** Checks a JSON body: every listed field of its type, nothing unknown. Errors name the field. */
export function parseBody(body: unknown, fields: Record<string, FieldType>, context = 'body'): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, `${context}: expected a JSON object`, context);
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!(key in fields)) throw new HttpError(400, `${context}.${key}: is not a known field`, key);
  for (const [key, type] of Object.entries(fields)) {
    const optional = type.endsWith('?');
    const base = type.replace('?', '');
    const v = b[key];
    if (v === undefined || (optional && v === null)) {
      if (!optional) throw new HttpError(400, `${context}.${key}: is required`, key);
      continue;
    }
    const ok = base === 'integer' ? Number.isSafeInteger(v)
      : base === 'number' ? typeof v === 'number' && Number.isFinite(v)
        : base === 'array' ? Array.isArray(v)
          : base === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v)
            : typeof v === base;
    if (!ok) throw new HttpError(400, `${context}.${key}: must be ${base === 'integer' ? 'an integer' : base === 'array' ? 'an array' : base === 'object' ? 'an object' : `a ${base}`}`, key);
    if (base === 'string' && (v as string).length > 4000) throw new HttpError(400, `${context}.${key}: must be at most 4000 characters`, key);
  }
  return b;
}

/** A period [from, to) in ms, from query strings "2025-03" (month), "2025-Q1", "2025", or from/to dates. */
export interface Period { from: number; to: number; label: string }

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  // Cells that a spreadsheet would run as a formula are prefixed with a quote (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(header: string[], rows: unknown[][]): string {
  // A BOM so that Excel opens the Chinese text as UTF-8.
  return '\ufeff' + [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}
