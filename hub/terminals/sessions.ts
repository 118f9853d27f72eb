/**
 * Self-service terminals (24 h 自助终端): a device of role 'terminal' sends one signed `session`
 * event per finished session (the item, its start and end on the terminal's hub-corrected clock,
 * and the citizen's rating at the end, if given), through its outbox like any device, so a power
 * cut or a dead link loses and doubles nothing. Ingest dedupes and acks; this file checks and
 * records it. Terminal ratings have no ticket and no staff: they stay in terminal_sessions and
 * count in the report's terminal section, not in the windows' 一事一评 figures.
 */

import { BAD_RATING_MAX, type DeviceEvent, type Role } from '../../firmware/core/protocol.js';
import type { Db, Migration } from '../db/db.js';
import type { Applied } from '../seams.js';

/** The longest session taken as real (a terminal left on a screen overnight is not 12 hours of service). */
export const MAX_SESSION_MS = 4 * 3_600_000; // milliseconds

export const terminalMigrations: Migration[] = [{
  id: 'terminals/001-sessions',
  sql: () => `
CREATE TABLE terminal_sessions (
  id TEXT PRIMARY KEY,
  dev TEXT NOT NULL,
  win TEXT NOT NULL,
  item TEXT NOT NULL,
  start_at BIGINT NOT NULL,
  end_at BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  level BIGINT,
  reason TEXT,
  recorded_at BIGINT NOT NULL
);
CREATE INDEX terminal_sessions_end ON terminal_sessions (end_at, item)`,
}];

const refused = (reason: string): Applied => ({ verdict: 'refused', reason, effects: [] });

/** Inside the ingest transaction: a terminal's session, checked, then recorded; a refusal writes nothing. */
export async function applySession(tx: Db, event: DeviceEvent<'session'>, device: { id: string; role: Role; win: string }, now: number): Promise<Applied> {
  const b = event.body;
  if (device.role !== 'terminal') return refused(`session: device ${device.id} is a ${device.role}; only a self-service terminal records sessions`);
  if (b.win !== device.win) return refused(`session: terminal ${device.id} is installed at ${device.win}, not ${b.win}`);
  if (!(await tx.get('SELECT code FROM queue_items WHERE code = $1', [b.item]))) return refused(`session: service item ${b.item} is not set up in this hall`);
  if (b.end < b.start) return refused(`session: ends (${b.end}) before it starts (${b.start})`);
  if (b.end - b.start > MAX_SESSION_MS) return refused(`session: lasts ${b.end - b.start} ms, more than ${MAX_SESSION_MS}`);
  if (b.level !== null && (!Number.isInteger(b.level) || b.level < 1 || b.level > 5)) return refused(`session: level: expected a rating level 1–5 or null, got ${b.level}`);
  if (b.level !== null && b.level <= BAD_RATING_MAX && b.reason === null) return refused(`session: a bad rating (level ${b.level}) needs a reason`);
  if (b.level === null && b.reason !== null) return refused('session: a reason without a rating');
  // The terminal's clock is hub-corrected, but never trusted past the hub's now.
  const end = Math.min(b.end, now);
  const start = Math.min(b.start, end);
  await tx.run(`INSERT INTO terminal_sessions (id, dev, win, item, start_at, end_at, duration_ms, level, reason, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [`${event.dev}:${event.boot}:${event.seq}`, event.dev, b.win, b.item, start, end, end - start, b.level, b.reason, now]);
  return { verdict: 'committed', reason: null, effects: [{ kind: 'hall' }] };
}
