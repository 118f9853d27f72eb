import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqlite, rewritePlaceholders } from '../../hub/db/sqlite.js';
import { describeDbContract } from './db.contract.js';

// Every test gets its own database file in a temp dir.
describeDbContract('SQLite', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sannuo-sqlite-'));
  const file = path.join(dir, 'hub.db');
  return {
    open: () => openSqlite(file),
    dispose: () => fs.rm(dir, { recursive: true, force: true }),
  };
});

describe('SQLite adapter specifics', () => {
  let dir: string;
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sannuo-sqlite-')); });
  afterEach(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  test('placeholders inside literals, quoted identifiers and comments are left alone', () => {
    expect(rewritePlaceholders(`SELECT '$1''s', "$2", [$3], \`$4\`, $2 -- $5\n/* $6 */ , $1`))
      .toEqual({ sql: `SELECT '$1''s', "$2", [$3], \`$4\`, ? -- $5\n/* $6 */ , ?`, order: [1, 0] });
    expect(() => rewritePlaceholders('SELECT ?')).toThrow(/use \$1\.\.\$n/);
    expect(() => rewritePlaceholders('SELECT $0')).toThrow(/start at \$1/);
  });

  // synchronous=NORMAL: COMMIT does not fsync on the event loop; the adapter fsyncs the WAL on
  // the threadpool before tx() resolves (hub/db/sqlite.ts header; tests/hub/perf-sqlite.test.ts).
  test('opens in WAL mode with synchronous=NORMAL (the adapter fsyncs the WAL itself)', async () => {
    const file = path.join(dir, 'hub.db');
    const db = await openSqlite(file);
    try {
      // PRAGMA is not portable SQL, but the adapter must have set these.
      expect(await db.get('PRAGMA journal_mode')).toEqual({ journal_mode: 'wal' });
      expect(await db.get('PRAGMA synchronous')).toEqual({ synchronous: 1 }); // 1 = NORMAL
    } finally {
      await db.close();
    }
  });

  test('a missing directory is a clear error naming the file', async () => {
    const file = path.join(dir, 'no', 'such', 'dir', 'hub.db');
    await expect(openSqlite(file)).rejects.toThrow(file);
  });

  test('kill -9 after an ack loses nothing that was acked', async () => {
    const file = path.join(dir, 'hub.db');
    const child = path.join(dir, 'writer.mts');
    // A hub stand-in: commits one row per transaction and prints its id once tx() returned (the ack).
    await fs.writeFile(child, `
      import { openSqlite } from ${JSON.stringify(path.resolve('hub/db/sqlite.ts'))};
      const db = await openSqlite(${JSON.stringify(file)});
      await db.exec('CREATE TABLE IF NOT EXISTS acked (id BIGINT PRIMARY KEY, body TEXT)');
      for (let id = 1; ; id++) {
        await db.tx((tx) => tx.run('INSERT INTO acked (id, body) VALUES ($1, $2)', [id, '评价'.repeat(50)]));
        process.stdout.write(id + '\\n');
      }
    `);
    const proc = spawn(process.execPath, ['--import', 'tsx', child], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0;
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (b: Buffer) => {
        const ids = b.toString().trim().split('\n').map(Number);
        acked = Math.max(acked, ...ids);
        if (acked >= 200) { proc.kill('SIGKILL'); resolve(); }
      });
      proc.on('exit', () => (acked >= 200 ? resolve() : reject(new Error(`writer exited early: ${stderr}`))));
    });
    await new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve(null) : proc.once('exit', resolve)));
    const db = await openSqlite(file);
    try {
      const { n, top } = (await db.get<{ n: number; top: number }>('SELECT COUNT(*) AS n, MAX(id) AS top FROM acked'))!;
      expect(top).toBeGreaterThanOrEqual(acked);
      expect(n).toBe(top); // no holes either
    } finally {
      await db.close();
    }
  });

  test('two connections on one file in one process take turns instead of deadlocking', async () => {
    const file = path.join(dir, 'hub.db');
    const a = await openSqlite(file);
    const b = await openSqlite(file);
    try {
      await a.exec('CREATE TABLE c (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)');
      await a.run('INSERT INTO c (id, n) VALUES (1, 0)');
      const bump = (d: typeof a) => d.tx(async (tx) => {
        const { n } = (await tx.get<{ n: number }>('SELECT n FROM c WHERE id = 1'))!;
        await new Promise((r) => setTimeout(r, 3));
        await tx.run('UPDATE c SET n = $1 WHERE id = 1', [n + 1]);
      });
      await Promise.all(Array.from({ length: 10 }, (_, i) => bump(i % 2 ? a : b)));
      expect(await a.get('SELECT n FROM c WHERE id = 1')).toEqual({ n: 10 });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
