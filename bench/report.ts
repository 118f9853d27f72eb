/**
 * Monthly report over a million ratings: fills queue_tickets and queue_ratings of one month
 * straight through SQL (the ledger is not the subject here; the rollup triggers run as in a
 * hall, so the fill also measures what they cost), then times buildReport — the function
 * GET /api/app/reports/<month>.json runs — reading the raw rows and reading the daily rollup,
 * in the same run, checks that both reports are equal, and times a rebuild of the rollup from
 * scratch and checks it equals what the triggers kept. Target: under 1 s.
 *
 *   npx tsx bench/report.ts [--ratings 1000000] [--db both|sqlite|postgres|postgres://...]
 *
 * "postgres" and "both" start a throwaway PostgreSQL 15 (support/postgres.ts). Progress
 * goes to stderr; stdout has one text line per engine (read by bench/run.ts) and, last, one
 * JSON line: {"bench":"report","ratings":…,"sqlite":{"rawMs":…,"rollupMs":…,"ratio":…,…},"postgres":{…}}.
 */

import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Command } from 'commander';
import type { Db, SqlValue } from '../hub/db/db.js';
import { openSqlite } from '../hub/db/sqlite.js';
import { openPostgres } from '../hub/db/postgres.js';
import { migrate } from '../hub/db/migrate.js';
import { Ledger } from '../hub/ledger/ledger.js';
import { QueueService, DEFAULT_POLICY } from '../hub/queue/service.js';
import { Ratings } from '../hub/ratings/ratings.js';
import { AppService } from '../hub/app/service.js';
import { parsePeriod, type Source } from '../hub/ratings/figures.js';
import { buildReport, type Report } from '../hub/app/report.js';
import { rebuildRollup, ROLLUP_COUNTS } from '../hub/ratings/rollup.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

const opts = new Command()
  .option('--ratings <n>', 'ratings (and finished tickets) in the month', '1000000')
  .option('--db <which>', 'both, sqlite, postgres (a throwaway server) or a postgres:// URL', 'both')
  .parse().opts<{ ratings: string; db: string }>();
const N = Number(opts.ratings);
if (!Number.isInteger(N) || N < 1) throw new Error(`--ratings: expected a positive integer, got ${opts.ratings}`);
const OFF = 480; // UTC+8
const DEPTS = 12, ITEMS = 60, WINDOWS = 40, STAFF = 80;
const ROWS_PER_INSERT = 1000; // 19 parameters a row: under SQLite's 32,766 and PostgreSQL's 65,535
const ROWS_PER_TX = 100_000;
const progress = (s: string) => process.stderr.write(s);

interface EngineFigures {
  fillS: number; rawMs: number; rollupMs: number; ratio: number; rawRuns: number[]; rollupRuns: number[];
  equal: boolean; rollupRows: number; rebuildMs: number; rebuildEqual: boolean; served: number; satisfaction: number | null;
}

async function run(db: Db, dir: string): Promise<EngineFigures> {
  const name = db.dialect;
  const ledger = new Ledger(db, { hall: 'bench', hubKey: new Uint8Array(32).fill(1), checkpointFile: path.join(dir, `cp-${name}.json`) });
  await ledger.init();
  await migrate(db, [...QueueService.migrations, ...AppService.migrations]);
  const clock = () => Date.UTC(2025, 3, 1);
  const ratings = new Ratings({ db, ledger, hall: 'bench', now: clock, log: pino({ level: 'silent' }), policy: { ...DEFAULT_POLICY, utcOffsetMinutes: OFF } });
  const app = new AppService({ db, ledger, hall: 'bench', now: clock, log: pino({ level: 'silent' }), ratings, options: { tokenKey: new Uint8Array(32), utcOffsetMinutes: OFF, auth: { admin: { username: 'admin', password: 'bench-password' } } } });
  await db.tx(async (tx) => {
    for (let d = 0; d < DEPTS; d++) await tx.run('INSERT INTO queue_departments (id, name, updated_at) VALUES ($1, $2, 0)', [`d${d}`, `部门${d}`]);
    for (let i = 0; i < ITEMS; i++) await tx.run('INSERT INTO queue_items (code, name, department, prefix, limit_days, updated_at) VALUES ($1, $2, $3, $4, 5, 0)', [`i${i}`, `事项${i}`, `d${i % DEPTS}`, 'A']);
    for (let w = 0; w < WINDOWS; w++) await tx.run('INSERT INTO queue_windows (id, name, updated_at) VALUES ($1, $2, 0)', [`W${w}`, `${w}号窗口`]);
    for (let s = 0; s < STAFF; s++) await tx.run('INSERT INTO queue_staff (id, name, department, updated_at) VALUES ($1, $2, $3, 0)', [`s${s}`, `员工${s}`, `d${s % DEPTS}`]);
  });
  // Builds the (empty) rollup, so the triggers keep it during the fill as they would in a hall.
  await app.start();

  const from = Date.UTC(2025, 2, 1) - OFF * 60_000;
  const span = Date.UTC(2025, 3, 1) - Date.UTC(2025, 2, 1);
  // mulberry32: an LCG in doubles (seed * 1103515245 loses its low bits) gave ~3,000 of the
  // 192,000 (item, window, staff) combinations; this spreads them as a busy hall can.
  let seed = 42;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const placeholders = (rows: number, width: number) => Array.from({ length: rows }, (_, r) => `(${Array.from({ length: width }, (_, j) => `$${r * width + j + 1}`).join(', ')})`).join(', ');
  const fullSql = {
    tickets: `INSERT INTO queue_tickets (id, day, number, item, department, priority, class_rank, case_no, channel, status, lane, order_key, win, staff, issued_at, called_at, served_at, finished_at, history) VALUES ${placeholders(ROWS_PER_INSERT, 19)}`,
    ratings: `INSERT INTO queue_ratings (id, ticket, number, level, reason, channel, win, staff, item, department, wait_ms, service_ms, bound, req, dev, boot, seq, t, recorded_at) VALUES ${placeholders(ROWS_PER_INSERT, 19)}`,
  };
  const sqlFor = (kind: 'tickets' | 'ratings', rows: number) => rows === ROWS_PER_INSERT ? fullSql[kind] : fullSql[kind].slice(0, fullSql[kind].indexOf('VALUES ') + 7) + placeholders(rows, 19);

  const t0 = performance.now();
  for (let base = 0; base < N; base += ROWS_PER_TX) {
    await db.tx(async (tx) => {
      for (let c = base; c < Math.min(N, base + ROWS_PER_TX); c += ROWS_PER_INSERT) {
        const tp: SqlValue[] = [];
        const rp: SqlValue[] = [];
        const end = Math.min(N, c + ROWS_PER_INSERT);
        for (let k = c; k < end; k++) {
          const item = Math.floor(rand() * ITEMS);
          const dept = `d${item % DEPTS}`;
          const win = `W${Math.floor(rand() * WINDOWS)}`;
          const staff = `s${Math.floor(rand() * STAFF)}`;
          const t = from + Math.floor(rand() * span);
          const r = rand();
          const level = r < 0.03 ? 1 : r < 0.06 ? 2 : r < 0.15 ? 3 : r < 0.4 ? 4 : 5;
          // One in twenty rated offline: recorded a day or two after the service.
          const recorded = t + 1000 + (r > 0.95 ? 86_400_000 + Math.floor(rand() * 86_400_000) : 0);
          tp.push(`T${k}`, '2025-03-01', `A${k}`, `i${item}`, dept, 'normal', 2, null, 'kiosk', 'done', 1, k, win, staff, t - 400_000, t - 300_000, t - 300_000, t, '[]');
          rp.push(`b:${k}`, `T${k}`, `A${k}`, level, level <= 2 ? 'slow' : null, 'pad', win, staff, `i${item}`, dept, 100_000, 300_000, 'request', null, 'bench', 1, k, t + 1000, recorded);
        }
        await tx.run(sqlFor('tickets', end - c), tp);
        await tx.run(sqlFor('ratings', end - c), rp);
      }
    });
    const done = Math.min(N, base + ROWS_PER_TX);
    const s = (performance.now() - t0) / 1000;
    progress(`\r${name}: filled ${done.toLocaleString('en')} / ${N.toLocaleString('en')} tickets and ratings, ${s.toFixed(1)} s`);
  }
  const fillS = (performance.now() - t0) / 1000;
  progress(`\n${name}: fill ${fillS.toFixed(1)} s; ANALYZE\n`);
  if (db.dialect === 'sqlite') await db.exec('ANALYZE');
  else await db.exec('ANALYZE queue_ratings; ANALYZE queue_tickets; ANALYZE app_rollup');

  const period = parsePeriod('2025-03', OFF);
  const now = Date.UTC(2025, 3, 1);
  const time = async (source: Source, runs: number) => {
    const times: number[] = [];
    let report: Report | undefined;
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      report = await buildReport(db, app.cases, period, { utcOffsetMinutes: OFF, now, source });
      times.push(performance.now() - s);
      progress(`${name}: report from ${source} rows: ${times[i].toFixed(0)} ms\n`);
    }
    return { best: Math.min(...times), times, report: report! };
  };
  const raw = await time('raw', 3);
  const rolled = await time('rollup', 5);
  const equal = isDeepStrictEqual(raw.report, rolled.report);
  if (!equal) progress(`${name}: REPORTS DIFFER between raw rows and rollup\n`);
  const counted = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM app_rollup');

  // Rebuild from scratch, compared with what the triggers kept (non-empty rows).
  const snapshot = async () => (await db.all<Record<string, unknown>>('SELECT * FROM app_rollup'))
    .filter((r) => ROLLUP_COUNTS.some((c) => Number(r[c]) !== 0))
    .map((r) => [Number(r.day), r.dim, r.department, r.key, ...ROLLUP_COUNTS.map((c) => Number(r[c]))].join('|')).sort();
  const incremental = await snapshot();
  const rb = performance.now();
  await db.tx((tx) => rebuildRollup(tx, OFF));
  const rebuildMs = performance.now() - rb;
  const rebuildEqual = isDeepStrictEqual(await snapshot(), incremental);
  progress(`${name}: rollup rebuilt from scratch in ${rebuildMs.toFixed(0)} ms; ${rebuildEqual ? 'equal to' : 'DIFFERENT FROM'} the incremental rollup (${incremental.length} rows)\n`);

  const h = rolled.report.hall;
  console.log(`monthly report over ${h.ratings} ratings / ${h.served} services (${name}): ${rolled.times.map((t) => t.toFixed(0)).join(', ')} ms; best ${rolled.best.toFixed(0)} ms`);
  console.log(`${name}: from raw rows ${raw.times.map((t) => t.toFixed(0)).join(', ')} ms, best ${raw.best.toFixed(0)} ms; from the rollup best ${rolled.best.toFixed(0)} ms (${(raw.best / rolled.best).toFixed(1)}× faster); reports ${equal ? 'equal' : 'DIFFER'}; satisfaction ${(h.satisfaction! * 100).toFixed(2)}%`);
  await app.stop();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    fillS: round(fillS), rawMs: round(raw.best), rollupMs: round(rolled.best), ratio: round(raw.best / rolled.best),
    rawRuns: raw.times.map(round), rollupRuns: rolled.times.map(round), equal, rollupRows: Number(counted?.n ?? 0),
    rebuildMs: round(rebuildMs), rebuildEqual, served: h.served, satisfaction: h.satisfaction,
  };
}

const dir = mkdtempSync(path.join(tmpdir(), 'sannuo-bench-report-'));
const result: Record<string, unknown> = { bench: 'report', ratings: N };
let server: PostgresServer | undefined;
try {
  if (opts.db === 'both' || opts.db === 'sqlite') {
    const db = await openSqlite(path.join(dir, 'bench.db'));
    try { result.sqlite = await run(db, dir); } finally { await db.close(); }
  }
  if (opts.db === 'both' || opts.db === 'postgres' || opts.db.startsWith('postgres://') || opts.db.startsWith('postgresql://')) {
    let url = opts.db;
    if (!url.includes('://')) {
      progress('postgres: starting a throwaway PostgreSQL 15\n');
      server = await startPostgres();
      url = await server.createDatabase();
    }
    const db = await openPostgres(url);
    try { result.postgres = await run(db, dir); } finally { await db.close(); }
  }
  if (!result.sqlite && !result.postgres) throw new Error(`--db: expected both, sqlite, postgres or a postgres:// URL, got ${opts.db}`);
} finally {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
