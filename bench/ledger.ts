/**
 * Ledger benchmark, run on demand (never by the tests):
 *   npx tsx bench/ledger.ts [--rows 1000000] [--only sqlite|postgres]
 * Builds a chain of N rows through Ledger.append (batches of 5,000 per transaction), then times
 * checkpoint and verify, on SQLite (a temp file) and on a throwaway PostgreSQL 15 cluster.
 */

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Db } from '../hub/db/db.js';
import { openPostgres } from '../hub/db/postgres.js';
import { openSqlite } from '../hub/db/sqlite.js';
import { Ledger, type LedgerEntry } from '../hub/ledger/ledger.js';
import { startPostgres } from '../support/postgres.js';

const BATCH = 5_000; // entries per append transaction

function entry(i: number): LedgerEntry {
  return {
    kind: i % 4 === 0 ? 'rating' : 'event', dev: `pad-${i % 40}`, boot: 1 + (i % 7), seq: i,
    at: 1_700_000_000_000 + i * 250,
    body: { type: i % 4 === 0 ? 'rating' : 'call', win: `W${i % 12}`, ticket: `A${String(i % 1000).padStart(3, '0')}`, level: (i % 5) + 1 },
  };
}

async function run(label: string, db: Db, rows: number, dir: string): Promise<void> {
  const ledger = new Ledger(db, { hall: 'bench-hall', hubKey: new Uint8Array(32).fill(9), checkpointFile: path.join(dir, `${label}.checkpoint.json`) });
  await ledger.init();
  let t = performance.now();
  for (let done = 0; done < rows; done += BATCH) {
    const n = Math.min(BATCH, rows - done);
    await db.tx((tx) => ledger.append(tx, Array.from({ length: n }, (_, k) => entry(done + k + 1))));
    if ((done / BATCH) % 20 === 0) process.stdout.write(`\r${label}: appended ${done + n}/${rows}`);
  }
  const appendMs = performance.now() - t;
  process.stdout.write('\n');
  t = performance.now();
  await ledger.checkpoint();
  const checkpointMs = performance.now() - t;
  t = performance.now();
  let last = 0;
  const report = await ledger.verify({
    onProgress: (done, total) => {
      if (done - last >= 100_000 || done === total) { last = done; process.stdout.write(`\r${label}: verified ${done}/${total}`); }
    },
  });
  const verifyMs = performance.now() - t;
  process.stdout.write('\n');
  if (!report.ok) throw new Error(`${label}: verify failed: ${report.problem}`);
  console.log(`${label}: ${rows} rows | append ${(appendMs / 1000).toFixed(1)} s (${Math.round(rows / (appendMs / 1000))} rows/s) | checkpoint ${checkpointMs.toFixed(1)} ms | verify ${(verifyMs / 1000).toFixed(2)} s (${Math.round(rows / (verifyMs / 1000))} rows/s)`);
}

async function main(): Promise<void> {
  const options = new Command()
    .option('--rows <n>', 'rows in the chain', (v) => Number.parseInt(v, 10), 1_000_000)
    .option('--only <store>', 'sqlite or postgres')
    .parse()
    .opts<{ rows: number; only?: string }>();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sannuo-bench-'));
  try {
    if (options.only !== 'postgres') {
      const db = await openSqlite(path.join(dir, 'ledger.db'));
      try {
        await run('sqlite', db, options.rows, dir);
      } finally {
        await db.close();
      }
    }
    if (options.only !== 'sqlite') {
      const server = await startPostgres();
      try {
        const db = await openPostgres(await server.createDatabase('bench'));
        try {
          await run('postgres', db, options.rows, dir);
        } finally {
          await db.close();
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
