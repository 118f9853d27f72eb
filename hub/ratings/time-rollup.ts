/**
 * Monthly histograms of wait and service time, so a report's p90 per window, staff member and
 * item reads a few thousand rows, not every ticket of its period (rollup.ts does the same for
 * the counts; this table is its sibling and is kept and rebuilt with it).
 *
 * app_time_rollup holds, per hall-local month (YYYYMM) and (dim, department, key) as app_rollup,
 * per measure ('wait': issued → first call; 'service': every window's part) and time bucket, the
 * number of finished services. Buckets are 6 s wide under 10 min (a report shows minutes to one
 * decimal), 30 s to an hour, 5 min to four hours, then one bucket: a p90 is the lower bound of
 * the bucket that holds it. The triggers on queue_tickets add and take away as app_rollup's do.
 * A period of whole local months reads this table; any other reads the raw tickets with the same
 * buckets, so both give the same figure.
 */

import type { Db, Migration } from '../db/db.js';
import { SERVICE_MS } from '../queue/lookup.js';
import { ROLLUP_OFFSET, postgresFunction } from './rollup-shared.js';

export const TIME_MEASURES = ['wait', 'service'] as const;
export type TimeMeasure = (typeof TIME_MEASURES)[number];

/** The bucket of a time in ms (SQL, integer arithmetic on both engines). */
export function bucketSql(ms: string): string {
  return `(CASE WHEN (${ms}) < 600000 THEN (${ms}) / 6000 WHEN (${ms}) < 3600000 THEN 100 + ((${ms}) - 600000) / 30000
    WHEN (${ms}) < 14400000 THEN 200 + ((${ms}) - 3600000) / 300000 ELSE 236 END)`;
}
/** The lower bound (ms) of a bucket: what a percentile in it reads as. */
export function bucketFloorMs(bucket: number): number {
  if (bucket < 100) return bucket * 6000;
  if (bucket < 200) return 600_000 + (bucket - 100) * 30_000;
  if (bucket < 236) return 3_600_000 + (bucket - 200) * 300_000;
  return 14_400_000;
}
/** Same buckets in JS, for tests and callers that hold times. */
export function bucketOf(ms: number): number {
  if (ms < 600_000) return Math.floor(ms / 6000);
  if (ms < 3_600_000) return 100 + Math.floor((ms - 600_000) / 30_000);
  if (ms < 14_400_000) return 200 + Math.floor((ms - 3_600_000) / 300_000);
  return 236;
}

/** A ticket's wait and service time, and whether it has each (it was called; it was served). */
export const waitMs = (t: string) => `(CASE WHEN ${t}.called_at > ${t}.issued_at THEN ${t}.called_at - ${t}.issued_at ELSE 0 END)`;
const has = (t: string, measure: string) => `(CASE ${measure} WHEN 'wait' THEN ${t}.called_at IS NOT NULL ELSE ${t}.served_at IS NOT NULL END)`;
const valueOf = (t: string, measure: string) => `(CASE ${measure} WHEN 'wait' THEN ${waitMs(t)} ELSE ${SERVICE_MS(t)} END)`;
const counted = (t: string) => `${t}.status = 'done' AND ${t}.finished_at IS NOT NULL`;

/** The hall-local month YYYYMM of a time in ms plus an offset in ms. */
function monthSql(dialect: Db['dialect'], ms: string): string {
  return dialect === 'sqlite'
    ? `CAST(strftime('%Y%m', (${ms}) / 1000, 'unixepoch') AS INTEGER)`
    : `CAST(to_char(to_timestamp((${ms}) / 1000) AT TIME ZONE 'UTC', 'YYYYMM') AS INTEGER)`;
}

const DIMS = `(SELECT 'department' AS dim UNION ALL SELECT 'win' UNION ALL SELECT 'staff' UNION ALL SELECT 'item')`;
const MEASURES = `(SELECT 'wait' AS measure UNION ALL SELECT 'service')`;
const keyOf = (r: string) => `CASE d.dim WHEN 'department' THEN COALESCE(${r}.department, '') WHEN 'win' THEN COALESCE(${r}.win, '') WHEN 'staff' THEN COALESCE(${r}.staff, '') ELSE COALESCE(${r}.item, '') END`;

const table = `CREATE TABLE app_time_rollup (
  month BIGINT NOT NULL,
  dim TEXT NOT NULL,
  department TEXT NOT NULL,
  key TEXT NOT NULL,
  measure TEXT NOT NULL,
  bucket BIGINT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (month, dim, department, key, measure, bucket)
)`;

/** The (month, dim, department, key, measure, bucket, n) rows of the ticket rows `t` of `source`, times sign. */
function rowsOf(dialect: Db['dialect'], source: string, t: string, offset: string, sign: string, where = 'TRUE'): string {
  return `SELECT ${monthSql(dialect, `${t}.finished_at + ${offset}`)} AS month, d.dim AS dim, COALESCE(${t}.department, '') AS department, ${keyOf(t)} AS key,
      m.measure AS measure, ${bucketSql(valueOf(t, 'm.measure'))} AS bucket, ${sign} AS n
    FROM ${source} CROSS JOIN ${DIMS} d CROSS JOIN ${MEASURES} m WHERE ${counted(t)} AND ${has(t, 'm.measure')} AND ${where}`;
}

const upsertSum = (alias: string) => `ON CONFLICT (month, dim, department, key, measure, bucket) DO UPDATE SET n = ${alias}.n + excluded.n`;

function sqliteTriggers(): string {
  const insert = (r: string, sign: string) => `INSERT INTO app_time_rollup (month, dim, department, key, measure, bucket, n)
    SELECT month, dim, department, key, measure, bucket, SUM(n) FROM (${rowsOf('sqlite', 'app_state s', r, 's.value', sign, `s.name = '${ROLLUP_OFFSET}'`)}) x
    GROUP BY month, dim, department, key, measure, bucket ${upsertSum('app_time_rollup')};`;
  return `CREATE TRIGGER app_time_rollup_insert AFTER INSERT ON queue_tickets WHEN ${counted('NEW')} BEGIN
  ${insert('NEW', '1')}
END;
CREATE TRIGGER app_time_rollup_update AFTER UPDATE ON queue_tickets WHEN (${counted('OLD')}) OR (${counted('NEW')}) BEGIN
  ${insert('OLD', '-1')}
  ${insert('NEW', '1')}
END;
CREATE TRIGGER app_time_rollup_delete AFTER DELETE ON queue_tickets WHEN ${counted('OLD')} BEGIN
  ${insert('OLD', '-1')}
END`;
}

function postgresTriggers(): string {
  const aggregate = (source: string) => `INSERT INTO app_time_rollup AS a (month, dim, department, key, measure, bucket, n)
    SELECT month, dim, department, key, measure, bucket, SUM(n) FROM (${source}) x GROUP BY month, dim, department, key, measure, bucket ${upsertSum('a')};`;
  const fn = (name: string, body: string) => postgresFunction('CREATE FUNCTION', name, body);
  const rows = (table: string, sign: string) => rowsOf('postgres', `${table} t`, 't', 'offset_ms', sign);
  return [
    fn('app_time_rollup_insert', aggregate(rows('new_rows', '1'))),
    `CREATE TRIGGER app_time_rollup_insert AFTER INSERT ON queue_tickets REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_time_rollup_insert()`,
    fn('app_time_rollup_update', aggregate(`${rows('old_rows', '-1')} UNION ALL ${rows('new_rows', '1')}`)),
    `CREATE TRIGGER app_time_rollup_update AFTER UPDATE ON queue_tickets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_time_rollup_update()`,
    fn('app_time_rollup_delete', aggregate(rows('old_rows', '-1'))),
    `CREATE TRIGGER app_time_rollup_delete AFTER DELETE ON queue_tickets REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_time_rollup_delete()`,
  ].join(';\n');
}

/** Its table and triggers; the rollup is rebuilt at the next start (the offset is taken away). */
export const timeRollupMigration: Migration = {
  id: 'ratings/004-time-rollup',
  sql: (dialect) => `${table};\n${dialect === 'sqlite' ? sqliteTriggers() : postgresTriggers()};\nDELETE FROM app_state WHERE name = '${ROLLUP_OFFSET}'`,
};

/** Recomputes every histogram row from queue_tickets for this offset (ms), in the caller's transaction (rebuildRollup's). */
export async function rebuildTimeRollup(tx: Db, offsetMs: number): Promise<void> {
  await tx.run('DELETE FROM app_time_rollup');
  await tx.run(`INSERT INTO app_time_rollup (month, dim, department, key, measure, bucket, n)
    SELECT month, dim, department, key, measure, bucket, SUM(n) FROM (${rowsOf(tx.dialect, 'queue_tickets t', 't', String(offsetMs), '1')}) x
    GROUP BY month, dim, department, key, measure, bucket`);
}

/** Histogram rows of whole local months [fromMonth, toMonth) (YYYYMM numbers), of one department if given. */
export function timeRollupRows(db: Db, fromMonth: number, toMonth: number, department?: string): Promise<{ dim: string; key: string; measure: TimeMeasure; bucket: number; n: number }[]> {
  return db.all(`SELECT dim, key, measure, bucket, SUM(n) AS n FROM app_time_rollup WHERE month >= $1 AND month < $2 ${department ? 'AND department = $3' : ''}
    GROUP BY dim, key, measure, bucket HAVING SUM(n) <> 0`, department ? [fromMonth, toMonth, department] : [fromMonth, toMonth]);
}

/** The same histogram rows from the raw tickets finished in [from, to): for periods that are not whole months. */
export function rawTimeRows(db: Db, from: number, to: number, department?: string): Promise<{ dim: string; key: string; measure: TimeMeasure; bucket: number; n: number }[]> {
  const where = `t.finished_at >= $1 AND t.finished_at < $2 ${department ? 'AND t.department = $3' : ''}`;
  return db.all(`SELECT dim, key, measure, bucket, SUM(n) AS n FROM (${rowsOf(db.dialect, 'queue_tickets t', 't', '0', '1', where)}) x
    GROUP BY dim, key, measure, bucket`, department ? [from, to, department] : [from, to]);
}

/** [fromMonth, toMonth) as YYYYMM when the period is whole hall-local months, else null. */
export function wholeMonths(from: number, to: number, utcOffsetMinutes: number): [number, number] | null {
  const off = utcOffsetMinutes * 60_000;
  const month = (t: number) => {
    const d = new Date(t + off);
    return d.getUTCDate() === 1 && d.getUTCHours() === 0 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0 && d.getUTCMilliseconds() === 0 ? d.getUTCFullYear() * 100 + d.getUTCMonth() + 1 : null;
  };
  const a = month(from);
  const b = month(to);
  return a !== null && b !== null && b > a ? [a, b] : null;
}
