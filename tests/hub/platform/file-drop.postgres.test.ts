/**
 * The outbox's SQL on a real PostgreSQL: ledger rows of ratings and a closed case queued once
 * (a second sync queues nothing), delivered to the file drop, reported. The whole hall on
 * SQLite is file-drop.test.ts; a hub in-process cannot load pg under jest, so this drives the
 * feature on its own database and ledger.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startPostgres, type PostgresServer } from '../../../support/postgres.js';
import { openPostgres } from '../../../hub/db/postgres.js';
import { migrate } from '../../../hub/db/migrate.js';
import { Ledger } from '../../../hub/ledger/ledger.js';
import { Bus } from '../../../hub/bus.js';
import { loadSettings } from '../../../hub/settings.js';
import { PlatformFeature } from '../../../hub/platform/platform.js';
import type { FeatureDeps } from '../../../hub/feature.js';
import type { Ratings } from '../../../hub/ratings/ratings.js';

let pg: PostgresServer;
beforeAll(async () => { pg = await startPostgres(); }, 90_000);
afterAll(async () => { await pg?.stop(); });

test('ratings and a closed case from the ledger: queued once, dropped, reported (PostgreSQL)', async () => {
  const db = await openPostgres(await pg.createDatabase());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-pg-drop-'));
  try {
    const ledger = new Ledger(db, { hall: 'hall-1', hubKey: new Uint8Array(32).fill(3), checkpointFile: path.join(dir, 'checkpoint.json') });
    await ledger.init();
    const settings = loadSettings({ env: {}, overrides: { data: dir, 'platform.enabled': true, 'platform.file.dir': path.join(dir, 'drop'), 'platform.interval': 60_000 } });
    const deps = { hall: 'hall-1', db, ledger, bus: new Bus(), auth: undefined as never, log: pino({ level: 'silent' }), now: Date.now } satisfies FeatureDeps;
    const feature = new PlatformFeature(deps, { settings, ratings: undefined as unknown as Ratings });
    await migrate(db, feature.migrations);
    const rating = (id: string, level: number, t: number) => ({ kind: 'rating' as const, dev: 'pad-1', boot: 1, seq: t, at: t, body: { hall: 'hall-1', id, ticket: null, level, reason: level <= 2 ? 'slow' : null, channel: 'pad', win: 'W1', staff: 's1', item: 'I1', department: 'D1', bound: 'request', t } });
    const step = (caseId: string, s: string, extra: Record<string, unknown>, at: number) => ({ kind: 'case' as const, dev: null, boot: null, seq: null, at, body: { hall: 'hall-1', case: caseId, n: 1, step: s, by: 'boss', note: '电话 138…', ...extra } });
    await db.tx((tx) => ledger.append(tx, [rating('pad-1:1:1', 5, 1), rating('pad-1:1:2', 1, 2), step('c-2', 'opened', { rating: 'pad-1:1:2' }, 3), step('c-2', 'review', {}, 4)]));
    expect(await feature.sync()).toBe(3);
    expect(await feature.sync()).toBe(0);
    await feature.deliverRound();
    const [file] = fs.readdirSync(path.join(dir, 'drop'));
    const lines = fs.readFileSync(path.join(dir, 'drop', file), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.id, l.kind, l.satisfactionCode, l.outcome])).toEqual([['pad-1:1:1', '评价', '1', ''], ['pad-1:1:2', '评价', '5', ''], ['case:c-2', '整改', '5', '已整改']]);
    expect(JSON.stringify(lines)).not.toContain('138');
    expect(await feature.report()).toMatchObject({ queued: 3, sent: 3, acknowledged: 0, failed: 0, waiting: 0, byKind: { rating: 2, case: 1 } });
    await feature.stop();
  } finally {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
