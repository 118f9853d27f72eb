/**
 * Schema migrations: every module (ledger, queue, registry, ingest) owns a list of Migrations
 * with globally unique ids ("ledger/001-chain"); migrate() applies those not yet recorded in
 * the `migrations` table, in list order, each in its own transaction together with its record.
 *
 * Two hubs may start against one PostgreSQL at once: each migration's transaction first takes
 * a transaction-scoped advisory lock, so the second hub waits, then finds the id recorded and
 * skips it. On SQLite, BEGIN IMMEDIATE already serializes writers across processes.
 */

import type { Db, Migration } from './db.js';

/** pg_advisory_xact_lock key for schema changes: "SANNUO" in ASCII. */
const MIGRATION_LOCK = 0x53414e4e554f;

async function lockSchema(tx: Db): Promise<void> {
  if (tx.dialect === 'postgres') await tx.get(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}) AS locked`);
}

export async function migrate(db: Db, migrations: readonly Migration[]): Promise<string[]> {
  const seen = new Set<string>();
  for (const [index, m] of migrations.entries()) {
    if (typeof m?.id !== 'string' || m.id.trim() === '') throw new TypeError(`migration #${index + 1} has no id`);
    if (seen.has(m.id)) throw new Error(`migration id "${m.id}" appears twice in the list`);
    if (typeof m.sql !== 'function') throw new TypeError(`migration "${m.id}": sql must be a function of the dialect`);
    seen.add(m.id);
  }
  // Concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL's catalog, hence the lock.
  await db.tx(async (tx) => {
    await lockSchema(tx);
    await tx.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, at BIGINT NOT NULL)');
  });
  const applied: string[] = [];
  for (const m of migrations) {
    await db.tx(async (tx) => {
      await lockSchema(tx);
      if (await tx.get('SELECT id FROM migrations WHERE id = $1', [m.id])) return;
      const sql = m.sql(tx.dialect);
      try {
        await tx.exec(sql);
      } catch (error) {
        throw new Error(`migration "${m.id}" failed on ${tx.dialect}: ${(error as Error).message}`, { cause: error });
      }
      await tx.run('INSERT INTO migrations (id, at) VALUES ($1, $2)', [m.id, Date.now()]);
      applied.push(m.id);
    });
  }
  return applied;
}
