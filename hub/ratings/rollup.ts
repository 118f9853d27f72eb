/**
 * Daily rollup of the rating figures (the ratings feature's, with the services they rate), so a report reads days × groups of sums instead of every
 * rating and ticket of its period (a month of a million ratings: ~47k rollup rows in place of
 * 2M raw rows).
 *
 * app_rollup holds, per hall-local day, one row per (dim, department, key): dim is 'department',
 * 'win', 'staff' or 'item', key the id in that dimension ('' stands for NULL, an unbound rating's
 * missing item or department). A rating adds to its four rows (levels, bound); a ticket counts
 * as served on the day it finished, with its wait and service time. These are exactly the
 * one-dimension roll-ups a report and the figures route need, also within one department (a
 * head's view); the full (win × staff × item) joint is never stored, so the table stays small
 * however staff move between windows and items.
 *
 * Kept by triggers on the queue's tables, inside the very transaction that writes a rating or
 * finishes a ticket: the rollup is exact at every commit, whatever the channel (pad, phone,
 * import), late or offline ratings included (they add to their own, earlier day), and a hub
 * killed at any moment neither loses nor doubles a count (no watermark to keep in step). A
 * saved position cannot do this for tickets: finished_at is the device's time, and a display
 * that was offline reports an earlier finish after later ones. Ticket triggers subtract the old
 * row and add the new one, so any change of a finished ticket (or a deletion) stays exact.
 *
 * The hall-local day needs the UTC offset: it is kept in app_state ('rollup.offsetMs') and read
 * by the triggers. Until it is set the triggers write nothing; ensureRollup() (AppService.start)
 * sets it and rebuilds from the raw rows in one transaction whenever it is missing or differs
 * from the configured offset. Readers use the rollup only when its offset matches theirs and
 * the period is whole local days; otherwise they read the raw rows (figures.ts).
 */

import type { Logger } from 'pino';
import type { Db, Migration } from '../db/db.js';
import { num } from '../db/db.js';
import { SERVICE_MS } from '../queue/lookup.js';
import { rebuildTimeRollup, timeRollupMigration } from './time-rollup.js';


export const DAY = 86_400_000; // milliseconds
export { ROLLUP_OFFSET } from './rollup-shared.js';
import { ROLLUP_OFFSET, postgresFunction } from './rollup-shared.js';
export const ROLLUP_DIMS = ['department', 'win', 'staff', 'item'] as const;

/** Count columns, in table order. */
export const ROLLUP_COUNTS = ['l1', 'l2', 'l3', 'l4', 'l5', 'bound', 'served', 'wait_ms', 'waits', 'service_ms', 'services'] as const;

const table = `
CREATE TABLE app_rollup (
  day BIGINT NOT NULL,
  dim TEXT NOT NULL,
  department TEXT NOT NULL,
  key TEXT NOT NULL,
  l1 BIGINT NOT NULL, l2 BIGINT NOT NULL, l3 BIGINT NOT NULL, l4 BIGINT NOT NULL, l5 BIGINT NOT NULL,
  bound BIGINT NOT NULL,
  served BIGINT NOT NULL,
  wait_ms BIGINT NOT NULL, waits BIGINT NOT NULL,
  service_ms BIGINT NOT NULL, services BIGINT NOT NULL,
  PRIMARY KEY (day, dim, department, key)
)`;

const DIMS_SQL = `(SELECT 'department' AS dim UNION ALL SELECT 'win' UNION ALL SELECT 'staff' UNION ALL SELECT 'item')`;
const keyOf = (r: string) => `CASE d.dim WHEN 'department' THEN COALESCE(${r}.department, '') WHEN 'win' THEN COALESCE(${r}.win, '') WHEN 'staff' THEN COALESCE(${r}.staff, '') ELSE COALESCE(${r}.item, '') END`;
const flag = (cond: string) => `CASE WHEN ${cond} THEN 1 ELSE 0 END`;
/** Count expressions of one rating row r (served and times are the tickets'). A rating bound to no service ('unbound', kept from hubs before such ratings were refused) counts for nothing. */
const ratingCounts = (r: string) => [1, 2, 3, 4, 5].map((l) => flag(`${r}.level = ${l} AND ${r}.bound <> 'unbound'`)).concat(flag(`${r}.bound <> 'unbound'`), '0', '0', '0', '0', '0');
/** Count expressions of one finished ticket row t, times sign (+1 added, -1 taken away). */
const ticketCounts = (t: string, sign: string) => ['0', '0', '0', '0', '0', '0', sign,
  `${sign} * (CASE WHEN ${t}.called_at > ${t}.issued_at THEN ${t}.called_at - ${t}.issued_at ELSE 0 END)`, `${sign} * ${flag(`${t}.called_at IS NOT NULL`)}`,
  `${sign} * (${SERVICE_MS(t)})`, `${sign} * ${flag(`${t}.served_at IS NOT NULL`)}`];
const counted = (t: string) => `${t}.status = 'done' AND ${t}.finished_at IS NOT NULL`;
const cols = ROLLUP_COUNTS.join(', ');

function sqliteInsert(r: string, time: string, counts: string[]): string {
  const upsert = ` ON CONFLICT (day, dim, department, key) DO UPDATE SET ${ROLLUP_COUNTS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
  return `INSERT INTO app_rollup (day, dim, department, key, ${cols})
  SELECT (${r}.${time} + s.value) / ${DAY}, d.dim, COALESCE(${r}.department, ''), ${keyOf(r)}, ${counts.join(', ')}
  FROM app_state s, ${DIMS_SQL} d WHERE s.name = '${ROLLUP_OFFSET}'${upsert};`;
}

function sqliteRatingTrigger(): string {
  return `CREATE TRIGGER app_rollup_rating AFTER INSERT ON queue_ratings BEGIN
  ${sqliteInsert('NEW', 't', ratingCounts('NEW'))}
END`;
}

function sqliteTicketTriggers(): string {
  const upsert = ` ON CONFLICT (day, dim, department, key) DO UPDATE SET ${ROLLUP_COUNTS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`;
  const insert = (r: string, time: string, counts: string[]) => `INSERT INTO app_rollup (day, dim, department, key, ${cols})
  SELECT (${r}.${time} + s.value) / ${DAY}, d.dim, COALESCE(${r}.department, ''), ${keyOf(r)}, ${counts.join(', ')}
  FROM app_state s, ${DIMS_SQL} d WHERE s.name = '${ROLLUP_OFFSET}'${upsert};`;
  return `CREATE TRIGGER app_rollup_ticket_insert AFTER INSERT ON queue_tickets WHEN ${counted('NEW')} BEGIN
  ${insert('NEW', 'finished_at', ticketCounts('NEW', '1'))}
END;
CREATE TRIGGER app_rollup_ticket_update AFTER UPDATE ON queue_tickets WHEN (${counted('OLD')}) OR (${counted('NEW')}) BEGIN
  ${insert('OLD', 'finished_at', ticketCounts('OLD', '-1')).replace('WHERE s.name', `WHERE ${counted('OLD')} AND s.name`)}
  ${insert('NEW', 'finished_at', ticketCounts('NEW', '1')).replace('WHERE s.name', `WHERE ${counted('NEW')} AND s.name`)}
END;
CREATE TRIGGER app_rollup_ticket_delete AFTER DELETE ON queue_tickets WHEN ${counted('OLD')} BEGIN
  ${insert('OLD', 'finished_at', ticketCounts('OLD', '-1'))}
END`;
}

function sqliteTriggers(): string {
  return `
${sqliteRatingTrigger()};
${sqliteTicketTriggers()}`;
}

function postgresAggregate(source: string): string {
  const upsert = `ON CONFLICT (day, dim, department, key) DO UPDATE SET ${ROLLUP_COUNTS.map((c) => `${c} = a.${c} + excluded.${c}`).join(', ')}`;
  return `INSERT INTO app_rollup AS a (day, dim, department, key, ${cols})
    SELECT x.day, d.dim, COALESCE(x.department, ''), ${keyOf('x')}, ${ROLLUP_COUNTS.map((c) => `SUM(x.${c})`).join(', ')}
    FROM (${source}) x CROSS JOIN ${DIMS_SQL} d
    GROUP BY x.day, d.dim, COALESCE(x.department, ''), ${keyOf('x')}
    ${upsert};`;
}

function postgresRatingRows(): string {
  return `SELECT (r.t + offset_ms) / ${DAY} AS day, r.department, r.win, r.staff, r.item,
      ${ratingCounts('r').map((e, i) => `${e} AS ${ROLLUP_COUNTS[i]}`).join(', ')} FROM new_rows r`;
}

/** The rating trigger's function again, as app/004 makes it, under CREATE OR REPLACE. */
function postgresRatingFunction(): string {
  return postgresFunction('CREATE OR REPLACE FUNCTION', 'app_rollup_ratings', postgresAggregate(postgresRatingRows()));
}

/** The ticket triggers' functions: a finished ticket's counts, added and taken away. */
function postgresTicketFunctions(create: string): string {
  const ticketRows = (table: string, sign: string) => `SELECT (t.finished_at + offset_ms) / ${DAY} AS day, t.department, t.win, t.staff, t.item,
      ${ticketCounts('t', sign).map((e, i) => `${e} AS ${ROLLUP_COUNTS[i]}`).join(', ')} FROM ${table} t WHERE ${counted('t')}`;
  return [
    postgresFunction(create, 'app_rollup_tickets_insert', postgresAggregate(ticketRows('new_rows', '1'))),
    postgresFunction(create, 'app_rollup_tickets_update', postgresAggregate(`${ticketRows('old_rows', '-1')} UNION ALL ${ticketRows('new_rows', '1')}`)),
    postgresFunction(create, 'app_rollup_tickets_delete', postgresAggregate(ticketRows('old_rows', '-1'))),
  ].join(';\n');
}

/**
 * PostgreSQL: statement-level triggers over transition tables, so a multi-row INSERT is rolled
 * up with one aggregate, not row by row.
 */
function postgresTriggers(): string {
  return [
    postgresFunction('CREATE FUNCTION', 'app_rollup_ratings', postgresAggregate(postgresRatingRows())),
    `CREATE TRIGGER app_rollup_rating AFTER INSERT ON queue_ratings REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_rollup_ratings()`,
    postgresTicketFunctions('CREATE FUNCTION'),
    `CREATE TRIGGER app_rollup_ticket_insert AFTER INSERT ON queue_tickets REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_rollup_tickets_insert()`,
    `CREATE TRIGGER app_rollup_ticket_update AFTER UPDATE ON queue_tickets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_rollup_tickets_update()`,
    `CREATE TRIGGER app_rollup_ticket_delete AFTER DELETE ON queue_tickets REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_rollup_tickets_delete()`,
  ].join(';\n');
}

/**
 * Report indexes on the queue's tables: covering indexes so the period aggregates read only the
 * index (the monthly report over a million ratings). Additive; the queue's own queries are unchanged.
 */
const reportIndexes = `
CREATE INDEX app_ratings_report ON queue_ratings (t, level, win, staff, item, department, bound);
CREATE INDEX app_tickets_report ON queue_tickets (finished_at, status, win, staff, item, department, case_no)`;

/** Its id is the application's, where it was first shipped; it runs in the same place of the list. */
export const reportIndexMigration: Migration = { id: 'app/003-report-indexes', sql: () => reportIndexes };

export const rollupMigrations: Migration[] = [
  { id: 'app/004-rollup', sql: (dialect) => `${table};\n${dialect === 'sqlite' ? sqliteTriggers() : postgresTriggers()}` },
  {
    // Ratings kept 'unbound' (before such pad ratings were refused) count for nothing now: the
    // rating trigger again, and the rollup rebuilt at the next start (ensureRollup finds no offset).
    id: 'ratings/002-rollup-bound-only',
    sql: (dialect) => `${dialect === 'sqlite' ? `DROP TRIGGER IF EXISTS app_rollup_rating;\n${sqliteRatingTrigger()}` : postgresRatingFunction()};
DELETE FROM app_state WHERE name = '${ROLLUP_OFFSET}'`,
  },
  {
    // A transferred ticket's service time is every window's part (queue/002): the ticket triggers
    // again with that sum, and the rollup rebuilt at the next start.
    id: 'ratings/003-rollup-transfer-parts',
    sql: (dialect) => `${dialect === 'sqlite'
      ? `DROP TRIGGER IF EXISTS app_rollup_ticket_insert;\nDROP TRIGGER IF EXISTS app_rollup_ticket_update;\nDROP TRIGGER IF EXISTS app_rollup_ticket_delete;\n${sqliteTicketTriggers()}`
      : postgresTicketFunctions('CREATE OR REPLACE FUNCTION')};
DELETE FROM app_state WHERE name = '${ROLLUP_OFFSET}'`,
  },
  timeRollupMigration,
];

/**
 * Recomputes every rollup row from queue_ratings and queue_tickets for this offset, inside the
 * caller's transaction (the triggers keep it from then on). Writers are held off meanwhile:
 * SQLite's BEGIN IMMEDIATE does that already; on PostgreSQL the tables are locked in SHARE mode.
 */
export async function rebuildRollup(tx: Db, utcOffsetMinutes: number): Promise<number> {
  const off = offsetMs(utcOffsetMinutes);
  if (tx.dialect === 'postgres') await tx.exec('LOCK TABLE queue_ratings, queue_tickets IN SHARE MODE');
  await tx.run('DELETE FROM app_rollup');
  await tx.run('INSERT INTO app_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [ROLLUP_OFFSET, off]);
  // The joint (day, department, win, staff, item) groups first, then the four one-dimension sums of those.
  const joint = `
    SELECT (r.t + ${off}) / ${DAY} AS day, r.department, r.win, r.staff, r.item, ${ratingCounts('r').map((e, i) => `SUM(${e}) AS ${ROLLUP_COUNTS[i]}`).join(', ')}
    FROM queue_ratings r GROUP BY (r.t + ${off}) / ${DAY}, r.department, r.win, r.staff, r.item
    UNION ALL
    SELECT (t.finished_at + ${off}) / ${DAY} AS day, t.department, t.win, t.staff, t.item, ${ticketCounts('t', '1').map((e, i) => `SUM(${e}) AS ${ROLLUP_COUNTS[i]}`).join(', ')}
    FROM queue_tickets t WHERE ${counted('t')} GROUP BY (t.finished_at + ${off}) / ${DAY}, t.department, t.win, t.staff, t.item`;
  const r = await tx.run(`INSERT INTO app_rollup (day, dim, department, key, ${cols})
    SELECT x.day, d.dim, COALESCE(x.department, ''), ${keyOf('x')}, ${ROLLUP_COUNTS.map((c) => `SUM(x.${c})`).join(', ')}
    FROM (${joint}) x CROSS JOIN ${DIMS_SQL} d
    GROUP BY x.day, d.dim, COALESCE(x.department, ''), ${keyOf('x')}`);
  await rebuildTimeRollup(tx, off);
  return r.changes;
}

function offsetMs(utcOffsetMinutes: number): number {
  if (!Number.isInteger(utcOffsetMinutes) || Math.abs(utcOffsetMinutes) > 14 * 60) throw new TypeError(`utcOffsetMinutes must be an integer of minutes within ±14 h, got ${utcOffsetMinutes}`);
  return utcOffsetMinutes * 60_000;
}

/** The offset (minutes) the rollup is kept for, or null before it was first built. */
export async function rollupOffset(db: Db): Promise<number | null> {
  const r = await db.get<{ value: number }>('SELECT value FROM app_state WHERE name = $1', [ROLLUP_OFFSET]);
  return r ? num(r.value) / 60_000 : null;
}

/** Builds the rollup if it was never built or was built for another offset; true if it rebuilt. */
export async function ensureRollup(db: Db, utcOffsetMinutes: number, log?: Logger): Promise<boolean> {
  if ((await rollupOffset(db)) === utcOffsetMinutes) return false;
  const started = Date.now();
  const rebuilt = await db.tx(async (tx) => {
    // Checked again inside the transaction: another hub may have built it meanwhile.
    if ((await rollupOffset(tx)) === utcOffsetMinutes) return null;
    return rebuildRollup(tx, utcOffsetMinutes);
  });
  if (rebuilt === null) return false;
  log?.info({ rows: rebuilt, ms: Date.now() - started, utcOffsetMinutes }, 'report rollup rebuilt from the raw ratings and tickets');
  return true;
}
