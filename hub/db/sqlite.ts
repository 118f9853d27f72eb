/**
 * The SQLite adapter (better-sqlite3 12): the default store for one hall.
 *
 * Durability: "tx() resolved ⇒ durable". The hub acks an event to the device once its
 * transaction resolves, and the device then forgets it, so a resolved transaction must survive
 * kill -9 and a power cut alike. better-sqlite3 is synchronous, so with synchronous=FULL the
 * COMMIT's fsync (~2 ms, p99 8 ms on a virtual disk) would run on the event loop, and the
 * embedded broker and every socket would stall with it. Instead:
 * - WAL with synchronous=NORMAL: COMMIT appends the transaction's frames to <db>-wal with
 *   write() (into the page cache) and does not fsync. That already survives kill -9: the
 *   kernel holds the pages whatever happens to the process.
 * - Power loss is covered by an fsync of the -wal file on libuv's threadpool (fs.fdatasync on an fd
 *   of our own; fsync flushes the inode's dirty pages whichever fd wrote them), started after
 *   COMMIT returned and awaited before tx() resolves. The serial lock is released right after
 *   COMMIT, so the next transaction runs while this one's fsync is in flight, and commits that
 *   finish while an fsync is running share the next one (group commit).
 * - Recovery: WAL frames carry cumulative checksums and the header's salts, so after a power
 *   cut SQLite replays the longest valid prefix. Commit n+1 is written after commit n, so an
 *   fsync that covers n+1 covers n; a transaction whose fsync did not finish was never
 *   resolved, hence never acked.
 * - Checkpoints: under NORMAL, SQLite fsyncs the WAL before a checkpoint and the database file
 *   after it, so once the WAL is reused from its start (after a complete checkpoint, new
 *   salts) the overwritten frames are already durable in the database file; frames of the new
 *   generation are covered by our fsync as before. The -wal file is only ever truncated in
 *   place, never replaced, while a connection is open (SQLite deletes it only when the last
 *   connection closes, and ours stays open until close()), so the fd stays on the right inode.
 *   It is opened once the WAL exists, with the directory fsynced so the file's entry is durable.
 * - Reads outside a transaction could see a commit whose fsync is still running; they return
 *   only once every commit made before they ran is durable, so nobody is shown a state a power
 *   cut could take back.
 * - Checkpoints run on a worker thread with a connection of its own (PASSIVE: it never blocks
 *   the writer), not inside a COMMIT on the event loop, where SQLite's automatic checkpoint
 *   would copy pages and fsync the WAL and the database file while every socket waits. The
 *   write connection keeps a high automatic threshold as a safety net: should the worker fall
 *   behind (a reader pinning a snapshot, a storm of writes), the WAL still cannot grow without
 *   bound, and a complete checkpoint lets the next writer restart the WAL from its start.
 * - A failed fsync leaves the pages' fate unknown (the kernel may have dropped them and report
 *   success next time), so the Db refuses all further work with that error, and the hub goes
 *   unhealthy instead of acking what may be lost.
 *
 * One connection serves the hub, so:
 * - tx() holds a FIFO lock for its whole (async) body; statements issued from outside the
 *   transaction wait for it instead of running inside it (they would commit or roll back with
 *   someone else's writes). Calls on the outer Db made from inside a tx body join that tx.
 * - iterate() reads through its own read-only connection, a WAL snapshot, so a verify of a
 *   million rows does not hold the write lock or stall ingest.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { SerialQueue, type Db, type Row, type SqlValue } from './db.js';
import { BEGIN_TIMEOUT, BUSY_TIMEOUT, bindAll, Connection, Database, native, placeholders, rewritePlaceholders, type RawDatabase } from './sqlite-connection.js';
import { AUTOCHECKPOINT_SAFETY_NET, Checkpointer, fsyncOnThreadpool, WalSync, type CheckpointResult, type WalFlush } from './sqlite-wal.js';

export type { CheckpointResult, WalFlush } from './sqlite-wal.js';
export { rewritePlaceholders } from './sqlite-connection.js';

function pages<T>(rows: T[], pageSize: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += pageSize) out.push(rows.slice(i, i + pageSize));
  return out;
}

function checkPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`iterate: pageSize must be a positive integer, got ${pageSize}`);
}

class SqliteTx implements Db {
  readonly dialect = 'sqlite' as const;
  finished = false;
  private savepoints = 0;
  constructor(private readonly conn: Connection) {}

  private live(): Connection {
    if (this.finished) throw new Error('this transaction has already finished; use the Db passed to the current tx() body');
    return this.conn;
  }
  async all<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.live().all<T>(sql, params);
  }
  async get<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.live().all<T>(sql, params)[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return this.live().run(sql, params);
  }
  async exec(sql: string): Promise<void> {
    native(() => this.live().raw.exec(sql));
  }
  /** A nested tx is a savepoint: its writes roll back alone if its body throws. */
  async tx<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const raw = this.live().raw;
    const name = `sp_${++this.savepoints}`;
    native(() => raw.exec(`SAVEPOINT ${name}`));
    try {
      const result = await fn(this);
      native(() => raw.exec(`RELEASE ${name}`));
      return result;
    } catch (error) {
      native(() => raw.exec(`ROLLBACK TO ${name}; RELEASE ${name}`));
      throw error;
    }
  }
  async *iterate<T extends object = Row>(sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]> {
    checkPageSize(pageSize);
    // Inside a transaction the body may issue statements between pages, which a live
    // better-sqlite3 iterator forbids on the same connection, so the result is read at once.
    for (const page of pages(this.live().all<T>(sql, params), pageSize)) yield page;
  }
  async close(): Promise<void> {
    throw new Error('close() the Db, not a transaction');
  }
}

class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  private readonly lock = new SerialQueue();
  private readonly current = new AsyncLocalStorage<SqliteTx>();
  private readonly readers = new Set<RawDatabase>();
  private closed = false;
  /** tx() calls that joined a transaction already running in their async context (as a savepoint). */
  joinedTransactions = 0;

  constructor(private readonly file: string, private readonly conn: Connection, private readonly wal: WalSync, private readonly walFd: number | undefined, private readonly checkpointer: Checkpointer | undefined) {}

  /** Runs a PASSIVE WAL checkpoint on the checkpointer thread now (tests and tools). */
  checkpoint(): Promise<CheckpointResult | undefined> {
    return this.checkpointer?.run() ?? Promise.resolve(undefined);
  }

  private usable(): void {
    if (this.closed) throw new Error(`SQLite database ${this.file} is closed`);
    if (this.wal.failure) throw this.wal.failure;
  }

  /**
   * Runs one statement: inside the caller's tx if there is one; a read at once when no tx of
   * ours is open (WAL readers never wait); a write as a transaction of its own, so it takes
   * the write lock without blocking the event loop (see begin()).
   */
  private async one<T>(sql: string, fn: (c: Connection) => T): Promise<T> {
    this.usable();
    const tx = this.current.getStore();
    if (tx && !tx.finished) return fn(this.conn);
    if (sql !== '' && this.conn.prepare(sql).stmt.readonly) {
      // Returned only once everything it may have seen is durable (see the header).
      const read = () => {
        this.conn.setBusyTimeout(BUSY_TIMEOUT);
        return { value: fn(this.conn), seen: this.wal.latest };
      };
      const { value, seen } = this.lock.busy ? await this.lock.run(async () => read()) : read();
      await this.wal.waitFor(seen);
      return value;
    }
    return this.tx(async () => fn(this.conn));
  }

  all<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.one(sql, (c) => c.all<T>(sql, params));
  }
  async get<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return this.one(sql, (c) => c.run(sql, params));
  }
  /** Runs in a transaction of its own (so not for VACUUM or journal_mode pragmas). */
  exec(sql: string): Promise<void> {
    return this.one('', (c) => { native(() => c.raw.exec(sql)); });
  }

  /**
   * BEGIN IMMEDIATE takes the write lock now, so a second writer (a CLI, another hub on the
   * file) waits here rather than failing at its first write. better-sqlite3's busy_timeout
   * would wait by blocking the thread, which deadlocks against a transaction of this same
   * process that needs the event loop to finish; so the wait is an async retry instead.
   */
  private async begin(): Promise<void> {
    const raw = this.conn.raw;
    const deadline = Date.now() + BEGIN_TIMEOUT;
    let pause = 2; // ms, doubling up to 50
    // Left at 0 for the transaction's statements too (it holds the write lock); a read outside
    // any transaction sets the timeout back (see one()).
    this.conn.setBusyTimeout(0);
    for (;;) {
      try {
        native(() => raw.exec('BEGIN IMMEDIATE'));
        return;
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        if (!code.startsWith('SQLITE_BUSY') || Date.now() > deadline) {
          if (code.startsWith('SQLITE_BUSY')) throw new Error(`SQLite database ${this.file} stayed locked by another writer for ${BEGIN_TIMEOUT} ms`, { cause: error });
          throw error;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 50);
    }
  }

  async tx<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    this.usable();
    const outer = this.current.getStore();
    if (outer && !outer.finished) {
      this.joinedTransactions++;
      return outer.tx(fn);
    }
    // The lock covers BEGIN … COMMIT only: the next transaction runs while this one's fsync is
    // in flight, and tx() resolves once the fsync covering its COMMIT is done.
    const { result, commit } = await this.lock.run(async () => {
      this.usable();
      const raw = this.conn.raw;
      await this.begin();
      const tx = new SqliteTx(this.conn);
      try {
        const value = await this.current.run(tx, () => fn(tx));
        native(() => raw.exec('COMMIT'));
        this.checkpointer?.nudge();
        return { result: value, commit: this.wal.commit() };
      } catch (error) {
        if (raw.inTransaction) native(() => raw.exec('ROLLBACK'));
        throw error;
      } finally {
        tx.finished = true;
      }
    });
    await this.wal.waitFor(commit);
    return result;
  }

  async *iterate<T extends object = Row>(sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]> {
    checkPageSize(pageSize);
    const tx = this.current.getStore();
    if (tx && !tx.finished) {
      yield* tx.iterate<T>(sql, params, pageSize);
      return;
    }
    this.usable();
    if (this.file === ':memory:' || this.file === '') {
      // A second connection would see a different in-memory database.
      const rows = await this.all<T>(sql, params);
      for (const page of pages(rows, pageSize)) yield page;
      return;
    }
    const reader = native(() => new Database(this.file, { readonly: true, fileMustExist: true }));
    this.readers.add(reader);
    try {
      reader.pragma(`busy_timeout = ${BUSY_TIMEOUT}`);
      const rewritten = rewritePlaceholders(sql);
      const stmt = native(() => reader.prepare(rewritten.sql));
      // The snapshot starts at the first step and may hold commits whose fsync is running.
      const seen = this.wal.latest;
      const it = native(() => stmt.iterate(bindAll(sql, placeholders(rewritten.order), params))) as IterableIterator<T>;
      try {
        let page: T[] = [];
        let first = true;
        const durable = async () => {
          if (first) await this.wal.waitFor(seen);
          first = false;
        };
        for (;;) {
          const next = native(() => it.next());
          if (next.done) break;
          page.push(next.value);
          if (page.length === pageSize) {
            await durable();
            yield page;
            page = [];
          }
        }
        await durable();
        if (page.length) yield page;
      } finally {
        it.return?.();
      }
    } finally {
      this.readers.delete(reader);
      reader.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.lock.drain();
    this.closed = true;
    await this.wal.settle();
    // The checkpointer's connection first, so the write connection is the last and SQLite
    // checkpoints and removes the WAL as it closes.
    await this.checkpointer?.close();
    if (this.walFd !== undefined) fs.closeSync(this.walFd);
    // Readers of walks that were abandoned without finishing their loop.
    for (const reader of this.readers) {
      try { reader.close(); } catch { /* still iterating: it closes when its walk ends */ }
    }
    this.conn.raw.close();
  }
}

export interface SqliteOptions {
  /** How the -wal file is flushed (default fs.fdatasync on the threadpool); tests instrument it. */
  flushWal?: WalFlush;
  /** false: no checkpoint thread, SQLite's automatic checkpoint at its default (tools). */
  checkpointer?: boolean;
}

/**
 * Opens (creating if needed) the SQLite database at `file`: WAL, synchronous=NORMAL, and an fd
 * on the -wal file that tx() fsyncs off the event loop before it resolves (see the header).
 */
export async function openSqlite(file: string, options: SqliteOptions = {}): Promise<Db> {
  let raw: RawDatabase;
  const memory = file === ':memory:' || file === '';
  // The database holds every device secret: owner-only. SQLite gives its -wal and -shm files the
  // database file's mode, so the file is made (or set) 0600 before it is opened.
  if (!memory) {
    try {
      fs.closeSync(fs.openSync(file, 'a', 0o600));
      fs.chmodSync(file, 0o600);
      for (const side of [`${file}-wal`, `${file}-shm`]) if (fs.existsSync(side)) fs.chmodSync(side, 0o600);
    } catch (error) {
      throw new Error(`cannot open SQLite database at ${file}: ${(error as Error).message} (does its directory exist and is it writable?)`, { cause: error });
    }
  }
  try {
    raw = new Database(file);
  } catch (error) {
    throw new Error(`cannot open SQLite database at ${file}: ${(error as Error).message} (does its directory exist and is it writable?)`, { cause: error });
  }
  let walFd: number | undefined;
  const wal = `${file}-wal`;
  try {
    raw.pragma(`busy_timeout = ${BUSY_TIMEOUT}`);
    if (!memory) {
      const mode = raw.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new Error(`SQLite database at ${file} refused WAL mode (got ${String(mode)})`);
    }
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    // Checkpoints run on the checkpointer thread; this is only the safety net (see the header).
    if (!memory && options.checkpointer !== false) raw.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_SAFETY_NET}`);
    if (!memory) {
      // A read makes SQLite open (create) the -wal; it lives as long as this connection.
      raw.prepare('SELECT count(*) FROM sqlite_master').all([]);
      try {
        walFd = fs.openSync(wal, 'r');
      } catch (error) {
        throw new Error(`SQLite database at ${file}: cannot open its write-ahead log ${wal} to fsync it: ${(error as Error).message}`, { cause: error });
      }
      // The -wal may have just been created: make its directory entry durable too.
      const dir = fs.openSync(path.dirname(path.resolve(file)), 'r');
      try { fs.fsyncSync(dir); } finally { fs.closeSync(dir); }
    }
  } catch (error) {
    if (walFd !== undefined) fs.closeSync(walFd);
    raw.close();
    throw error;
  }
  let checkpointer: Checkpointer | undefined;
  if (!memory && options.checkpointer !== false) {
    try {
      checkpointer = new Checkpointer(file);
    } catch (error) {
      fs.closeSync(walFd!);
      raw.close();
      throw new Error(`SQLite database at ${file}: cannot start its checkpoint thread: ${(error as Error).message}`, { cause: error });
    }
  }
  return new SqliteDb(file, new Connection(raw), new WalSync(walFd, options.flushWal ?? fsyncOnThreadpool, wal), walFd, checkpointer);
}
