/**
 * Monthly report over a million ratings: fills queue_tickets and queue_ratings of one month
 * straight through SQL (the ledger is not the subject here), then times buildReport — the
 * same function GET /api/app/reports/<month>.json runs. Target: under 1 s.
 *   npx tsx bench/report.ts [--ratings 1000000] [--db sqlite|postgres://...]
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Command } from 'commander';
import type { Db } from '../hub/db/db.js';
import { openSqlite } from '../hub/db/sqlite.js';
import { migrate } from '../hub/db/migrate.js';
import { Ledger } from '../hub/ledger.js';
import { QueueService } from '../hub/queue/service.js';
import { AppService } from '../hub/app/service.js';
import { parsePeriod } from '../hub/app/figures.js';
import { buildReport } from '../hub/app/report.js';

const opts = new Command().option('--ratings <n>', 'ratings in the month', '1000000').option('--db <url>', 'sqlite or a postgres:// URL', 'sqlite').parse().opts<{ ratings: string; db: string }>();
const N = Number(opts.ratings);
const dir = mkdtempSync(path.join(tmpdir(), 'sannuo-bench-report-'));
const db: Db = opts.db === 'sqlite' ? await openSqlite(path.join(dir, 'bench.db')) : await (await import('../hub/db/postgres.js')).openPostgres(opts.db);
const ledger = new Ledger(db, { hall: 'bench', hubKey: new Uint8Array(32).fill(1), checkpointFile: path.join(dir, 'cp.json') });
await ledger.init();
await migrate(db, [...QueueService.migrations, ...AppService.migrations]);
const app = new AppService({ db, ledger, hall: 'bench', now: () => Date.UTC(2025, 3, 1), log: pino({ level: 'silent' }), options: { tokenKey: new Uint8Array(32), syncInterval: 0, auth: { admin: { username: 'admin', password: 'bench-password' } } } });

const DEPTS = 12, ITEMS = 60, WINDOWS = 40, STAFF = 80;
await db.tx(async (tx) => {
  for (let d = 0; d < DEPTS; d++) await tx.run('INSERT INTO queue_departments (id, name, updated_at) VALUES ($1, $2, 0)', [`d${d}`, `部门${d}`]);
  for (let i = 0; i < ITEMS; i++) await tx.run('INSERT INTO queue_items (code, name, department, prefix, limit_days, updated_at) VALUES ($1, $2, $3, $4, 5, 0)', [`i${i}`, `事项${i}`, `d${i % DEPTS}`, 'A']);
  for (let w = 0; w < WINDOWS; w++) await tx.run('INSERT INTO queue_windows (id, name, updated_at) VALUES ($1, $2, 0)', [`W${w}`, `${w}号窗口`]);
  for (let s = 0; s < STAFF; s++) await tx.run('INSERT INTO queue_staff (id, name, department, updated_at) VALUES ($1, $2, $3, 0)', [`s${s}`, `员工${s}`, `d${s % DEPTS}`]);
});
await app.start();

const from = Date.UTC(2025, 2, 1) - 8 * 3600_000;
const span = Date.UTC(2025, 3, 1) - Date.UTC(2025, 2, 1);
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const CHUNK = 50; // rows per INSERT (19 parameters each)
const t0 = performance.now();
for (let base = 0; base < N; base += 20_000) {
  await db.tx(async (tx) => {
    for (let c = base; c < Math.min(N, base + 20_000); c += CHUNK) {
      const tParams: (string | number | null)[] = [];
      const rParams: (string | number | null)[] = [];
      const tRows: string[] = [];
      const rRows: string[] = [];
      for (let k = c; k < Math.min(N, c + CHUNK); k++) {
        const item = Math.floor(rand() * ITEMS);
        const dept = `d${item % DEPTS}`;
        const win = `W${Math.floor(rand() * WINDOWS)}`;
        const staff = `s${Math.floor(rand() * STAFF)}`;
        const t = from + Math.floor(rand() * span);
        const r = rand();
        const level = r < 0.03 ? 1 : r < 0.06 ? 2 : r < 0.15 ? 3 : r < 0.4 ? 4 : 5;
        const id = `T${k}`;
        let p = tParams.length;
        tRows.push(`(${Array.from({ length: 14 }, (_, j) => `$${p + j + 1}`).join(', ')})`);
        tParams.push(id, '2025-03-01', `A${k}`, `i${item}`, dept, 'normal', 2, null, 'kiosk', 'done', 1, k, win, staff);
        p = rParams.length;
        rRows.push(`(${Array.from({ length: 19 }, (_, j) => `$${p + j + 1}`).join(', ')})`);
        rParams.push(`b:${k}`, id, `A${k}`, level, level <= 2 ? 'slow' : null, 'pad', win, staff, `i${item}`, dept, 60_000, 300_000, 'request', null, 'bench', 1, k, t + 1000, t + 1000);
        tParams.push(t - 400_000, t - 300_000, t - 300_000, t, '[]');
        // Fix up: the ticket row has 19 values; rebuild its placeholder list to match.
        tRows[tRows.length - 1] = `(${Array.from({ length: 19 }, (_, j) => `$${tParams.length - 19 + j + 1}`).join(', ')})`;
      }
      await tx.run(`INSERT INTO queue_tickets (id, day, number, item, department, priority, class_rank, case_no, channel, status, lane, order_key, win, staff, issued_at, called_at, served_at, finished_at, history) VALUES ${tRows.join(', ')}`, tParams);
      await tx.run(`INSERT INTO queue_ratings (id, ticket, number, level, reason, channel, win, staff, item, department, wait_ms, service_ms, bound, req, dev, boot, seq, t, recorded_at) VALUES ${rRows.join(', ')}`, rParams);
    }
  });
  process.stdout.write(`\rfilled ${Math.min(N, base + 20_000)} / ${N}`);
}
console.log(`\nfill: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
if (db.dialect === 'sqlite') await db.exec('ANALYZE');
else await db.exec('ANALYZE queue_ratings; ANALYZE queue_tickets');

const period = parsePeriod('2025-03', 480);
const times: number[] = [];
let report;
for (let i = 0; i < 5; i++) {
  const s = performance.now();
  report = await buildReport(db, app.cases, period, { utcOffsetMinutes: 480, now: Date.now() });
  times.push(performance.now() - s);
}
console.log(`monthly report over ${report!.hall.ratings} ratings / ${report!.hall.served} services (${db.dialect}): ${times.map((t) => t.toFixed(0)).join(', ')} ms; best ${Math.min(...times).toFixed(0)} ms`);
console.log(`satisfaction ${(report!.hall.satisfaction! * 100).toFixed(2)}%, departments ${report!.departments.length}, staff ${report!.staff.length}`);
await app.stop();
await db.close();
rmSync(dir, { recursive: true, force: true });
