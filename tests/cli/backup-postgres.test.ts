/**
 * sannuo backup and restore of a PostgreSQL hub: pg_dump with the checkpoint and the hub key,
 * the dump checked in a scratch database before pg_restore replaces anything. A real
 * PostgreSQL 15 (support/postgres.ts); the ledger, key and checkpoint as a hub leaves them.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pgClient from 'pg';
import { loadSettings } from '../../hub/settings.js';
import { restoreBackup, takeBackup } from '../../hub/ops/backup.js';
import { openPostgres } from '../../hub/db/postgres.js';
import { Ledger } from '../../hub/ledger/ledger.js';
import { loadHubKey } from '../../hub/host.js';
import { startPostgres } from '../../support/postgres.js';

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-pgbackup-')); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('PostgreSQL: pg_dump with the checkpoint and key; restore checks the chain in a scratch database, then pg_restore', async () => {
  const pg = await startPostgres();
  const pgData = path.join(tmp, 'pg-data');
  fs.mkdirSync(pgData, { mode: 0o700 });
  try {
    const url = await pg.createDatabase();
    const settings = loadSettings({ env: {}, overrides: { data: pgData, db: url, 'http.port': 0 } });
    // A hub's PostgreSQL ledger and its files (the hub itself runs as a process elsewhere in the
    // suite; its Ledger, key and checkpoint are what backup and restore deal with).
    const hubKey = loadHubKey(path.join(pgData, 'hub.key'));
    const db = await openPostgres(url);
    const ledger = new Ledger(db, { hall: settings.hall, hubKey, checkpointFile: path.join(pgData, 'checkpoint.json') });
    await ledger.init();
    const append = (n: number) => db.tx((tx) => ledger.append(tx, Array.from({ length: n }, (_, i) => ({ kind: 'event' as const, dev: 'pad-pg', boot: 1, seq: i + 1, at: Date.now(), body: { i } }))));
    await append(50);
    await ledger.checkpoint();
    await append(10);
    const out = path.join(tmp, 'pg-backup');
    const { manifest, verified } = await takeBackup(settings, out);
    expect(manifest.db).toBe('postgres');
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(['sannuo.pgdump', 'hub.key', 'checkpoint.json']));
    expect(verified.map((v) => ({ ok: v.report.ok, rows: v.report.rows }))).toEqual([{ ok: true, rows: 60 }]);
    expect(manifest.halls).toEqual([{ hall: settings.hall, rows: 60, checkpointRow: 60 }]); // the dump's own head, signed
    // A damaged live database is put back to the backup's state.
    await db.run('UPDATE ledger SET body = $1 WHERE "row" = 2', ['"changed"']);
    expect((await ledger.verify()).ok).toBe(false);
    await db.close();
    const restored = await restoreBackup(settings, out);
    expect(restored.verified.map((v) => v.report.ok)).toEqual([true]);
    const again = await openPostgres(url);
    try {
      const report = await new Ledger(again, { hall: settings.hall, hubKey, checkpointFile: path.join(pgData, 'checkpoint.json') }).verify();
      expect({ ok: report.ok, rows: report.rows }).toEqual({ ok: true, rows: 60 });
    } finally {
      await again.close();
    }
    // No scratch database is left behind.
    const admin = new pgClient.Client({ connectionString: pg.url });
    await admin.connect();
    const left = (await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'sannuo_check_%'")).rows;
    await admin.end();
    expect(left).toEqual([]);
  } finally {
    await pg.stop();
  }
}, 60_000);
