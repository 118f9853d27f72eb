/**
 * The report rollup (hub/app/rollup.ts) against the raw rows: a seeded month of real events on
 * SQLite with late and offline ratings, and direct writes (multi-row inserts, finishes, changed
 * and deleted tickets) on SQLite and on a real PostgreSQL 15. Reports from the rollup must equal
 * reports from the raw rows, and a rebuild from scratch must equal what the triggers kept.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from '../../../hub/db/db.js';
import { migrate } from '../../../hub/db/migrate.js';
import { openSqlite } from '../../../hub/db/sqlite.js';
import { openPostgres } from '../../../hub/db/postgres.js';
import { QueueService } from '../../../hub/queue/service.js';
import { AppService } from '../../../hub/app/service.js';
import { groupedCounts, parsePeriod, rollUp, trend, type GroupRow, type Period } from '../../../hub/ratings/figures.js';
import { buildReport } from '../../../hub/app/report.js';
import { ensureRollup, rebuildRollup, rollupOffset, ROLLUP_COUNTS } from '../../../hub/ratings/rollup.js';
import { AppHall } from './harness.js';
import { seeded } from '../queue/harness.js';
import { startPostgres, type PostgresServer } from '../../../support/postgres.js';

const H = 3600_000;
const OFF = 480;

/** The rollup table's non-empty rows, in a stable order (rows whose counts were all taken away again are empty). */
async function rollupRows(db: Db): Promise<string[]> {
  const rows = await db.all<Record<string, unknown>>(`SELECT * FROM app_rollup`);
  return rows.filter((r) => ROLLUP_COUNTS.some((c) => Number(r[c]) !== 0))
    .map((r) => JSON.stringify([Number(r.day), r.dim, r.department, r.key, ...ROLLUP_COUNTS.map((c) => Number(r[c]))]))
    // Its sibling, the wait and service time histograms (ratings/time-rollup.ts), kept by triggers on the same writes.
    .concat((await db.all<Record<string, unknown>>(`SELECT * FROM app_time_rollup WHERE n <> 0`))
      .map((r) => JSON.stringify(['time', Number(r.month), r.dim, r.department, r.key, r.measure, Number(r.bucket), Number(r.n)]))).sort();
}

const sortGroups = (g: GroupRow[]) => g.map((x) => JSON.stringify(x)).sort();

/** Raw and rollup counts agree for every period given, grouped, rolled up, within a department, and as trends. */
async function expectSameFigures(db: Db, periods: Period[]): Promise<void> {
  for (const p of periods) {
    const raw = await groupedCounts(db, p.from, p.to, { utcOffsetMinutes: OFF, source: 'raw' });
    const rolled = await groupedCounts(db, p.from, p.to, { utcOffsetMinutes: OFF, source: 'rollup' });
    expect(sortGroups(rolled)).toEqual(sortGroups(raw));
    for (const by of ['department', 'win', 'staff', 'item'] as const) expect(rollUp(rolled, by)).toEqual(rollUp(raw, by));
    const bucket = p.kind === 'month' || p.kind === 'range' ? 'day' : 'month';
    expect(await trend(db, p.from, p.to, bucket, { utcOffsetMinutes: OFF, source: 'rollup' })).toEqual(await trend(db, p.from, p.to, bucket, { utcOffsetMinutes: OFF, source: 'raw' }));
    for (const d of new Set(raw.map((g) => g.department).filter((x): x is string => x !== null))) {
      expect(await trend(db, p.from, p.to, bucket, { utcOffsetMinutes: OFF, source: 'rollup' }, d)).toEqual(await trend(db, p.from, p.to, bucket, { utcOffsetMinutes: OFF, source: 'raw' }, d));
    }
  }
}

/** What the triggers kept equals a rebuild from scratch (and the rebuild is left in place). */
async function expectRebuildSame(db: Db): Promise<void> {
  const incremental = await rollupRows(db);
  expect(incremental.length).toBeGreaterThan(0);
  await db.tx((tx) => rebuildRollup(tx, OFF));
  expect(await rollupRows(db)).toEqual(incremental);
}

describe('rollup over a seeded month of real events (SQLite), with late and offline ratings', () => {
  let a: AppHall;
  const WINDOWS: [string, string][] = [['W1', 'hukou'], ['W2', 'hukou'], ['W3', 'license'], ['W4', 'food'], ['W5', 'pension'], ['W6', 'jobs']];
  const periods = () => ['2025-03', '2025-02', '2025-04', '2025-Q1', '2025', '2025-03-31..2025-04-01', '2025-02-28..2025-03-01'].map((p) => parsePeriod(p, OFF));

  beforeAll(async () => {
    a = await AppHall.open();
    const rand = seeded(77);
    const late: { win: string; req: string; level: 1 | 2 | 3 | 4 | 5; t: number }[] = [];
    // 28 Feb to 1 Apr: services from 08:30 local; on some days the last one at W6 near local midnight, finished after it.
    for (let day = -1; day < 32; day++) {
      a.hall.time = Date.UTC(2025, 2, 1 + day, 0, 30);
      for (const [win, item] of WINDOWS) {
        const n = 1 + Math.floor(rand() * 3);
        for (let i = 0; i < n; i++) {
          if (win === 'W6' && i === n - 1 && rand() < 0.5) a.hall.time = Date.UTC(2025, 2, 1 + day, 15, 50 + Math.floor(rand() * 8)); // 23:50–23:58 local
          const t = await a.serve(win, item, Math.floor(rand() * 10 * 60_000));
          const r = rand();
          const level = (r < 0.2 ? 1 : r < 0.3 ? 2 : r < 0.4 ? 3 : r < 0.6 ? 4 : 5) as 1 | 2 | 3 | 4 | 5;
          a.hall.advance(5000);
          if (r > 0.9) continue; // not rated
          // Offline pads: the rating is kept on the pad and arrives hours or days later, with its own time.
          if (rand() < 0.15) { late.push({ win, req: t.req, level, t: a.hall.time }); continue; }
          const v = await a.hall.rate(win, { req: t.req, level, reason: level <= 2 ? 'slow' : null });
          if (v.verdict !== 'committed') throw new Error(v.reason!);
        }
      }
      // Yesterday's offline ratings arrive now (a pad back on the network), some from last month.
      for (const l of late.splice(0, Math.floor(late.length / 2))) {
        const v = await a.hall.rate(l.win, { req: l.req, level: l.level, reason: l.level <= 2 ? 'attitude' : null, offline: true }, l.t);
        if (v.verdict !== 'committed') throw new Error(v.reason!);
      }
    }
    // An unsolicited rating with no service to bind to is refused now (security finding 4), but a hall
    // upgraded from an earlier hub keeps such rows, unbound (no item, no department): the rollup must
    // still fold them like the raw query does.
    a.hall.advance(3 * H);
    expect((await a.hall.rate('W3', { level: 2 })).verdict).toBe('refused');
    await a.hall.db.run(`INSERT INTO queue_ratings (id, ticket, number, level, reason, channel, win, staff, item, department, wait_ms, service_ms,
      bound, req, dev, boot, seq, t, recorded_at) VALUES ('legacy:1', NULL, NULL, 2, 'slow', 'pad', 'W3', NULL, NULL, NULL, NULL, NULL, 'unbound', NULL, 'pad-W3', 0, 1, $1, $1)`, [a.hall.time]);
    // The rest of the offline ratings arrive in April, dated in March.
    a.hall.time = Date.UTC(2025, 3, 3, 2, 0);
    for (const l of late) expect((await a.hall.rate(l.win, { req: l.req, level: l.level, offline: true }, l.t)).verdict).toBe('committed');
    await a.app.cases.sync();
  }, 240_000);
  afterAll(async () => { await a.close(); });

  test('reports from the rollup equal reports from the raw rows (month, quarter, year, ranges across midnight and months)', async () => {
    const db = a.hall.db;
    expect(await rollupOffset(db)).toBe(OFF);
    const lateRows = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_ratings WHERE recorded_at - t > ${6 * H}`);
    expect(Number(lateRows!.n)).toBeGreaterThan(10);
    const march = parsePeriod('2025-03', OFF);
    const april = parsePeriod('2025-04', OFF);
    const groups = await groupedCounts(db, april.from, april.to, { utcOffsetMinutes: OFF, source: 'rollup' });
    // The upgraded hall's unbound row counts nowhere (security finding 4), in the rollup as in the raw rows.
    expect(rollUp(groups, 'department').get('(unbound)')).toBeUndefined();
    expect(Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_ratings WHERE bound = 'unbound'`))!.n)).toBe(1);
    await expectSameFigures(db, periods());
    for (const p of periods()) {
      const opts = { utcOffsetMinutes: OFF, now: a.hall.time };
      expect(await buildReport(db, a.app.cases, p, { ...opts, source: 'rollup' })).toEqual(await buildReport(db, a.app.cases, p, { ...opts, source: 'raw' }));
    }
    // The route (auto) reads the rollup and gives a head their department's windows only.
    const head = await a.as('head-ga', 'head', { department: 'gongan' });
    const fig = (await a.http.inject({ method: 'GET', url: '/api/app/figures?period=2025-03&by=win', headers: head })).json();
    const raw = rollUp((await groupedCounts(db, march.from, march.to, { utcOffsetMinutes: OFF, source: 'raw' })).filter((g) => g.department === 'gongan'), 'win');
    expect(fig.rows.map((r: { id: string; ratings: number; served: number }) => [r.id, r.ratings, r.served])).toEqual([...raw.entries()].map(([id, c]) => [id, c.ratings, c.served]).sort());
  });

  test('a rebuild from scratch gives the rollup the triggers kept', async () => {
    await expectRebuildSame(a.hall.db);
  });

  test('the rollup is not used for another UTC offset or a period of part days, and is rebuilt for a new offset', async () => {
    const db = a.hall.db;
    const p = parsePeriod('2025-03', 0);
    await expect(groupedCounts(db, p.from, p.to, { utcOffsetMinutes: 0, source: 'rollup' })).rejects.toThrow(/another offset/);
    await expect(groupedCounts(db, p.from + H, p.to, { utcOffsetMinutes: OFF, source: 'rollup' })).rejects.toThrow(/not whole local days/);
    // auto falls back to the raw rows, with the right answer.
    expect(sortGroups(await groupedCounts(db, p.from + H, p.to, { utcOffsetMinutes: OFF }))).toEqual(sortGroups(await groupedCounts(db, p.from + H, p.to, { utcOffsetMinutes: OFF, source: 'raw' })));
    expect(await ensureRollup(db, 0)).toBe(true);
    expect(sortGroups(await groupedCounts(db, p.from, p.to, { utcOffsetMinutes: 0, source: 'rollup' }))).toEqual(sortGroups(await groupedCounts(db, p.from, p.to, { utcOffsetMinutes: 0, source: 'raw' })));
    expect(await ensureRollup(db, OFF)).toBe(true);
    expect(await ensureRollup(db, OFF)).toBe(false);
    await expectSameFigures(db, [parsePeriod('2025-03', OFF)]);
  });
});

/** Direct writes in every shape the triggers must follow; the same on both engines. */
async function exercise(db: Db): Promise<void> {
  await migrate(db, [...QueueService.migrations, ...AppService.migrations]);
  const rand = seeded(4242);
  const base = Date.UTC(2025, 2, 1) - 8 * H;
  let n = 0;
  let seq = 0;
  const ticket = (status: string) => {
    const k = n++;
    const item = `i${Math.floor(rand() * 5)}`;
    const t = base - 2 * 86_400_000 + Math.floor(rand() * 35 * 86_400_000);
    return { id: `T${k}`, number: `A${k}`, item, department: `d${Number(item.slice(1)) % 3}`, status, win: rand() < 0.05 ? null : `W${Math.floor(rand() * 4)}`, staff: rand() < 0.1 ? null : `s${Math.floor(rand() * 6)}`, issued: t - 600_000, called: rand() < 0.05 ? null : t - 300_000, served: t - 200_000, finished: status === 'done' ? t : null };
  };
  const insertTickets = async (tx: Db, list: ReturnType<typeof ticket>[]) => {
    const params: (string | number | null)[] = [];
    const rows = list.map((x, i) => {
      params.push(x.id, '2025-03-01', x.number, x.item, x.department, 'normal', 2, null, 'kiosk', x.status, 1, i, x.win, x.staff, x.issued, x.called, x.served, x.finished, '[]');
      return `(${Array.from({ length: 19 }, (_, j) => `$${i * 19 + j + 1}`).join(', ')})`;
    });
    await tx.run(`INSERT INTO queue_tickets (id, day, number, item, department, priority, class_rank, case_no, channel, status, lane, order_key, win, staff, issued_at, called_at, served_at, finished_at, history) VALUES ${rows.join(', ')}`, params);
  };
  const insertRatings = async (tx: Db, list: ReturnType<typeof ticket>[]) => {
    const params: (string | number | null)[] = [];
    const rows = list.map((x, i) => {
      const level = 1 + Math.floor(rand() * 5);
      const unbound = rand() < 0.1;
      // Some rated late: t is the service's time, recorded days after.
      params.push(`r:${x.id}`, unbound ? null : x.id, x.number, level, level <= 2 ? 'slow' : null, 'pad', x.win ?? 'W0', unbound ? null : x.staff, unbound ? null : x.item, unbound ? null : x.department,
        60_000, 100_000, unbound ? 'unbound' : 'request', null, 'dev', 1, ++seq, (x.finished ?? x.served) + 5000, (x.finished ?? x.served) + (rand() < 0.2 ? 3 * 86_400_000 : 5000));
      return `(${Array.from({ length: 19 }, (_, j) => `$${i * 19 + j + 1}`).join(', ')})`;
    });
    await tx.run(`INSERT INTO queue_ratings (id, ticket, number, level, reason, channel, win, staff, item, department, wait_ms, service_ms, bound, req, dev, boot, seq, t, recorded_at) VALUES ${rows.join(', ')}`, params);
  };

  // Writes before the rollup is first built are covered by the first build.
  const early = Array.from({ length: 40 }, () => ticket('done'));
  await db.tx(async (tx) => { await insertTickets(tx, early); await insertRatings(tx, early.slice(0, 30)); });
  expect(await rollupRows(db)).toEqual([]);
  expect(await ensureRollup(db, OFF)).toBe(true);

  // Multi-row inserts: finished tickets with their ratings, waiting tickets without.
  const done = Array.from({ length: 300 }, () => ticket('done'));
  const waiting = Array.from({ length: 60 }, () => ticket('waiting'));
  await db.tx(async (tx) => {
    await insertTickets(tx, done.slice(0, 200));
    await insertTickets(tx, waiting);
    await insertRatings(tx, done.slice(0, 150));
  });
  // Row by row.
  for (const x of done.slice(200)) await db.tx(async (tx) => { await insertTickets(tx, [x]); if (rand() < 0.7) await insertRatings(tx, [x]); });
  // Waiting tickets finished one by one, as the queue does; some finished in one statement.
  for (const x of waiting.slice(0, 30)) {
    await db.run(`UPDATE queue_tickets SET status = 'called', win = $2, called_at = $3 WHERE id = $1`, [x.id, 'W1', x.issued + 60_000]);
    await db.run(`UPDATE queue_tickets SET status = 'done', served_at = $2, finished_at = $3 WHERE id = $1`, [x.id, x.issued + 60_000, x.issued + 400_000]);
  }
  await db.run(`UPDATE queue_tickets SET status = 'done', finished_at = issued_at + 1000 WHERE status = 'waiting' AND order_key % 2 = 0`);
  // Changes to finished tickets: moved to another window and day, taken back, deleted, and touched without a change that counts.
  await db.run(`UPDATE queue_tickets SET win = 'W9', finished_at = finished_at + 86400000 WHERE id IN ('T41', 'T42', 'T43')`);
  await db.run(`UPDATE queue_tickets SET status = 'no-show' WHERE id IN ('T44', 'T45')`);
  await db.run(`DELETE FROM queue_tickets WHERE id IN ('T46', 'T47', 'T2')`);
  await db.run(`UPDATE queue_tickets SET history = '[1]' WHERE status = 'done'`);

  await expectSameFigures(db, ['2025-03', '2025-02', '2025-04', '2025-Q1', '2025-03-31..2025-04-02', '2025-02-27..2025-03-02'].map((p) => parsePeriod(p, OFF)));
  const march = parsePeriod('2025-03', OFF);
  const hall = (await groupedCounts(db, march.from, march.to, { utcOffsetMinutes: OFF, source: 'rollup' })).filter((g) => g.dim === 'department');
  // Every bound rating of March, and none of the unbound ones (they count nowhere: security finding 4).
  const bound = Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_ratings WHERE bound <> 'unbound' AND t >= $1 AND t < $2`, [march.from, march.to]))!.n);
  expect(bound).toBeGreaterThan(150);
  expect(hall.reduce((s, g) => s + g.counts.ratings, 0)).toBe(bound);
  expect(hall.reduce((s, g) => s + g.counts.served, 0)).toBeGreaterThan(200);
  await expectRebuildSame(db);
  await expectSameFigures(db, [march]);
}

describe('rollup triggers under direct writes', () => {
  test('SQLite: multi-row and single-row inserts, finishes, changed and deleted tickets', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sannuo-rollup-'));
    const db = await openSqlite(path.join(dir, 'hub.db'));
    try {
      await exercise(db);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  describe('PostgreSQL 15', () => {
    let pg: PostgresServer;
    beforeAll(async () => { pg = await startPostgres(); }, 120_000);
    afterAll(async () => { await pg?.stop(); });

    test('the same writes through statement-level triggers', async () => {
      const db = await openPostgres(await pg.createDatabase());
      try {
        await exercise(db);
      } finally {
        await db.close();
      }
    }, 120_000);
  });
});
