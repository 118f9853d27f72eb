/**
 * Small shared pieces of the 三诺 application's HTTP layer: one error type that carries a status
 * and the field at fault, CSV cells, and number parsing that copes with PostgreSQL's
 * BIGINT-as-text. Bodies are checked by JSON schemas (hub/http/validation.ts).
 */

/** The application's errors are the hub's one HTTP error (hub/http/errors.ts). */
export { HttpError as AppError } from '../http/errors.js';
/** Number columns as read from either engine (hub/db/db.ts). */
export { num, numOrNull } from '../db/db.js';

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
