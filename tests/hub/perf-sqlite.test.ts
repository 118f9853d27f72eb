/**
 * The SQLite adapter's off-loop durability (hub/db/sqlite.ts header): COMMIT under
 * synchronous=NORMAL, then an fsync of the -wal on the threadpool before tx() resolves, shared
 * by concurrent commits. The fsync is instrumented here: a real fs.fsync behind a gate the test
 * opens, so "not resolved before its fsync" is observed, not inferred from timing.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { openSqlite, type WalFlush } from '../../hub/db/sqlite.js';
import type { Db } from '../../hub/db/db.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string, o?: { readonly?: boolean }) => { prepare(sql: string): { all(): unknown[] }; close(): void };

interface Gated {
  flush: WalFlush;
  /** fsyncs started so far. */
  started: number;
  /** fsyncs finished so far. */
  finished: number;
  /** Lets every fsync started so far (and later ones, while open) finish. */
  open(): void;
  close(): void;
}

/** A real fsync that does not return until the gate is open. */
function gated(): Gated {
  let isOpen = false;
  let waiters: (() => void)[] = [];
  const g: Gated = {
    started: 0,
    finished: 0,
    flush: async (fd) => {
      g.started++;
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
      if (!isOpen) await new Promise<void>((resolve) => waiters.push(resolve));
      g.finished++;
    },
    open: () => { isOpen = true; for (const w of waiters) w(); waiters = []; },
    close: () => { isOpen = false; },
  };
  return g;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));
/** true if p settled within a short while. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  await tick();
  return done;
}

describe('SQLite: tx() resolves only after the WAL is fsynced, off the event loop', () => {
  let dir: string;
  let file: string;
  let db: Db | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-perf-sqlite-'));
    file = path.join(dir, 'hub.db');
  });
  afterEach(async () => {
    await db?.close();
    db = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a committed tx stays pending until its fsync finishes; the row is already in the WAL', async () => {
    const g = gated();
    g.open();
    db = await openSqlite(file, { flushWal: g.flush });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)');
    g.close();
    const before = g.started;
    const tx = db.tx((t) => t.run('INSERT INTO t (id, body) VALUES ($1, $2)', [1, 'x']));
    expect(await settled(tx)).toBe(false);
    expect(g.started).toBe(before + 1);
    // COMMIT has returned: another connection sees the row, but tx() has not resolved.
    const other = new Database(file, { readonly: true });
    try {
      expect(other.prepare('SELECT id FROM t').all()).toEqual([{ id: 1 }]);
    } finally {
      other.close();
    }
    expect(await settled(tx)).toBe(false);
    g.open();
    await expect(tx).resolves.toEqual({ changes: 1 });
    expect(g.finished).toBe(before + 1);
  });

  test('a read outside a tx waits until what it saw is durable', async () => {
    const g = gated();
    g.open();
    db = await openSqlite(file, { flushWal: g.flush });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    g.close();
    const write = db.run('INSERT INTO t (id) VALUES (7)');
    await tick();
    const read = db.all('SELECT id FROM t');
    expect(await settled(read)).toBe(false);
    g.open();
    await write;
    expect(await read).toEqual([{ id: 7 }]);
  });

  test('the lock is released at COMMIT: later transactions commit during an fsync; at most two run, the rest share the next', async () => {
    const g = gated();
    g.open();
    db = await openSqlite(file, { flushWal: g.flush });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    g.close();
    const start = g.started;
    const first = db.tx((t) => t.run('INSERT INTO t (id) VALUES (0)'));
    await tick();
    expect(g.started).toBe(start + 1); // the first fsync is held at the gate
    const bodiesRun: number[] = [];
    const later = Array.from({ length: 10 }, (_, i) => db!.tx(async (t) => {
      bodiesRun.push(i);
      await t.run('INSERT INTO t (id) VALUES ($1)', [i + 1]);
    }));
    await tick();
    // All ten bodies ran and committed while the first fsync was still in flight...
    expect(bodiesRun).toHaveLength(10);
    expect(await settled(first)).toBe(false);
    expect(await settled(Promise.race(later))).toBe(false);
    // A second fsync began without waiting for the first; no third while both are held.
    expect(g.started - start).toBe(2);
    g.open();
    await Promise.all([first, ...later]);
    // ...and the rest shared one more: three in all at most, not eleven.
    expect(g.started - start).toBeLessThanOrEqual(3);
    expect(await db.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 11 });
  });

  test('a failed fsync rejects the tx, naming the WAL, and the Db takes no more work', async () => {
    let fail = false;
    db = await openSqlite(file, {
      flushWal: async (fd) => {
        if (fail) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
      },
    });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    fail = true;
    await expect(db.run('INSERT INTO t (id) VALUES (1)')).rejects.toThrow(/fsync of .*hub\.db-wal failed \(EIO/);
    fail = false;
    await expect(db.get('SELECT 1 AS one')).rejects.toThrow(/fsync of .*-wal failed/);
    await expect(db.tx(async () => 1)).rejects.toThrow(/takes no more work/);
  });

  test('the event loop keeps running while commits wait on a slow disk', async () => {
    // Every fsync takes 150 ms more than the disk does: a stand-in for a slow SD card.
    let flushes = 0;
    db = await openSqlite(file, {
      flushWal: async (fd) => {
        flushes++;
        await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
        await new Promise((resolve) => setTimeout(resolve, 150));
      },
    });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)');
    const before = flushes;
    let maxLag = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - last - 5);
      last = now;
    }, 5);
    const started = performance.now();
    try {
      await Promise.all(Array.from({ length: 40 }, (_, i) => db!.tx((t) => t.run('INSERT INTO t (id, body) VALUES ($1, $2)', [i, '评价'.repeat(100)]))));
    } finally {
      clearInterval(timer);
    }
    const elapsed = performance.now() - started;
    // 40 commits one fsync each would take ≥ 6 s; grouped they take a few fsyncs.
    expect(flushes - before).toBeLessThanOrEqual(5);
    expect(elapsed).toBeLessThan(40 * 150 / 2);
    // Nothing blocked the loop for anything like an fsync of 150 ms.
    expect(maxLag).toBeLessThan(120);
    expect(await db.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 40 });
  });

  test('the WAL survives checkpoints and restarts: the fd stays on the live -wal file', async () => {
    db = await openSqlite(file);
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)');
    const ino = fs.statSync(`${file}-wal`).ino;
    for (let i = 0; i < 30; i++) {
      await db.tx(async (t) => {
        for (let k = 0; k < 50; k++) await t.run('INSERT INTO t (id, body) VALUES ($1, $2)', [i * 50 + k, 'x'.repeat(400)]);
      });
      if (i % 10 === 9) {
        // As a CLI or another process would: checkpoint and truncate the WAL to zero.
        const other = new Database(file);
        try { other.prepare('PRAGMA wal_checkpoint(TRUNCATE)').all(); } finally { other.close(); }
        expect(fs.statSync(`${file}-wal`).size).toBe(0);
      }
    }
    expect(fs.statSync(`${file}-wal`).ino).toBe(ino);
    expect(await db.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 1500 });
  });

  test('checkpoints run on the checkpoint thread, not inside COMMIT, and the WAL is reused from its start', async () => {
    db = await openSqlite(file);
    const sqlite = db as unknown as { checkpoint(): Promise<{ busy: number; log: number; checkpointed: number }> };
    // SQLite's own automatic checkpoint (default 1,000 pages) is only a distant safety net.
    expect(await db.get('PRAGMA wal_autocheckpoint')).toEqual({ wal_autocheckpoint: 10_000 });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT)');
    // One transaction of ~1,500 pages, so the WAL's size does not depend on when the
    // background checkpoints happen to run.
    const round = (r: number) => db!.tx(async (t) => {
      for (let k = 0; k < 1_500; k++) await t.run('INSERT INTO t (id, body) VALUES ($1, $2)', [r * 10_000 + k, 'x'.repeat(3_000)]);
    });
    await round(0);
    const grown = fs.statSync(`${file}-wal`).size;
    expect(grown).toBeGreaterThan(1_000 * 4096);
    const done = await sqlite.checkpoint();
    expect(done.busy).toBe(0);
    expect(done.checkpointed).toBe(done.log);
    // Everything was copied to the database file: the next writer starts the WAL over, so
    // another round of the same size overwrites it in place instead of doubling it.
    await round(1);
    await sqlite.checkpoint();
    await round(2);
    expect(fs.statSync(`${file}-wal`).size).toBeLessThan(grown * 1.5);
    expect(await db.get('SELECT COUNT(*) AS n FROM t')).toEqual({ n: 4_500 });
    await db.close();
    // Reopened by a plain connection: every row is in the database (file and WAL agree).
    const other = new Database(file, { readonly: true });
    try { expect(other.prepare('SELECT COUNT(*) AS n FROM t').all()).toEqual([{ n: 4_500 }]); } finally { other.close(); }
  });
});
