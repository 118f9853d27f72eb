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
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { createRequire } from 'node:module';
import { bindValue, SerialQueue, shortSql, type Db, type Row, type SqlValue } from './db.js';

type Bound = string | number | null;

// The part of better-sqlite3's API used here, typed locally (the package ships no types).
interface Statement {
  readonly reader: boolean;
  readonly readonly: boolean;
  // An array binds anonymous parameters in order (no spread of hundreds of arguments).
  run(params: Bound[]): { changes: number };
  all(params: Bound[]): unknown[];
  iterate(params: Bound[]): IterableIterator<unknown>;
}
interface RawDatabase {
  readonly inTransaction: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  close(): void;
}
type DatabaseConstructor = new (file: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => RawDatabase;
const Database = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;

/**
 * better-sqlite3's native addon keeps the error class of the first JavaScript realm that loaded
 * it; under jest (a realm per test file) later files then receive errors that are not
 * `instanceof Error` there. Errors are re-created in this realm, keeping message and code.
 */
function adopt(error: unknown): Error {
  if (error instanceof Error) return error;
  const e = error as { message?: unknown; code?: unknown } | null;
  const copy = new Error(String(e?.message ?? error), { cause: error }) as Error & { code?: unknown };
  copy.name = 'SqliteError';
  if (e?.code !== undefined) copy.code = e.code;
  return copy;
}

function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw adopt(error);
  }
}

const STATEMENT_CACHE = 500; // prepared statements kept per connection
const BUSY_TIMEOUT = 5_000; // ms a statement waits for a lock another connection holds
const BEGIN_TIMEOUT = 30_000; // ms a transaction waits for another writer to finish

/**
 * Rewrites $1..$n placeholders to SQLite's anonymous `?`, skipping string literals, quoted
 * identifiers and comments, and returns for each `?` the parameter index it takes.
 */
export function rewritePlaceholders(sql: string): { sql: string; order: number[] } {
  let out = '';
  const order: number[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      // Quoted literal or identifier; a doubled quote is an escaped quote.
      let j = i + 1;
      while (j < n) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) { j += 2; continue; }
          break;
        }
        j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '[') {
      const j = sql.indexOf(']', i);
      const end = j < 0 ? n : j + 1;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      const end = j < 0 ? n : j;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '/' && sql[i + 1] === '*') {
      const j = sql.indexOf('*/', i + 2);
      const end = j < 0 ? n : j + 2;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql[j])) j++;
      const index = Number(sql.slice(i + 1, j));
      if (index < 1) throw new SyntaxError(`placeholder $${index} is not allowed (they start at $1) in: ${shortSql(sql)}`);
      order.push(index - 1);
      out += '?';
      i = j;
    } else if (c === '?') {
      throw new SyntaxError(`use $1..$n placeholders, not "?", in: ${shortSql(sql)}`);
    } else {
      out += c;
      i++;
    }
  }
  return { sql: out, order };
}

/** A statement's placeholder order, with what bindAll checks worked out once per statement. */
interface Placeholders { order: number[]; distinct: number; highest: number; inOrder: boolean }

function placeholders(order: number[]): Placeholders {
  const distinct = new Set(order).size;
  const highest = order.length ? Math.max(...order) + 1 : 0;
  // $1..$n each once, in order (every generated multi-row statement): bound as given.
  const inOrder = order.every((k, i) => k === i);
  return { order, distinct, highest, inOrder };
}

function bindAll(sql: string, p: Placeholders, params: readonly SqlValue[]): Bound[] {
  if (p.distinct !== params.length || p.highest > params.length) {
    throw new RangeError(`SQL uses ${p.distinct} distinct placeholder(s) (highest $${p.highest}) but ${params.length} parameter(s) were given, in: ${shortSql(sql)}`);
  }
  const { order } = p;
  const bound: Bound[] = new Array(order.length);
  if (p.inOrder) for (let i = 0; i < order.length; i++) bound[i] = bindValue(params[i], i, sql);
  else for (let i = 0; i < order.length; i++) bound[i] = bindValue(params[order[i]], order[i], sql);
  return bound;
}

/** One better-sqlite3 connection with a bounded cache of rewritten, prepared statements. */
class Connection {
  private readonly cache = new Map<string, { stmt: Statement; order: Placeholders }>();
  /** The busy_timeout set on raw (openSqlite sets BUSY_TIMEOUT). */
  private busyTimeout = BUSY_TIMEOUT;
  constructor(readonly raw: RawDatabase) {}

  /**
   * Sets busy_timeout only when it changes: a pragma is prepared anew on every call, and
   * toggling it around each transaction cost about a microsecond per ingested event.
   */
  setBusyTimeout(ms: number): void {
    if (this.busyTimeout === ms) return;
    this.raw.pragma(`busy_timeout = ${ms}`);
    this.busyTimeout = ms;
  }

  prepare(sql: string): { stmt: Statement; order: Placeholders } {
    let hit = this.cache.get(sql);
    if (hit) {
      // Refresh its place so the cache drops the least recently used first.
      this.cache.delete(sql);
      this.cache.set(sql, hit);
      return hit;
    }
    const rewritten = rewritePlaceholders(sql);
    hit = { stmt: native(() => this.raw.prepare(rewritten.sql)), order: placeholders(rewritten.order) };
    this.cache.set(sql, hit);
    if (this.cache.size > STATEMENT_CACHE) this.cache.delete(this.cache.keys().next().value as string);
    return hit;
  }

  all<T>(sql: string, params: readonly SqlValue[]): T[] {
    const { stmt, order } = this.prepare(sql);
    const bound = bindAll(sql, order, params);
    if (!stmt.reader) {
      native(() => stmt.run(bound));
      return [];
    }
    return native(() => stmt.all(bound)) as T[];
  }

  run(sql: string, params: readonly SqlValue[]): { changes: number } {
    const { stmt, order } = this.prepare(sql);
    const bound = bindAll(sql, order, params);
    // A statement that returns rows (RETURNING, SELECT) reports how many, as PostgreSQL does.
    if (stmt.reader) return { changes: native(() => stmt.all(bound)).length };
    return { changes: native(() => stmt.run(bound)).changes };
  }
}

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

/**
 * How the -wal file is flushed to stable storage: fdatasync on libuv's threadpool. fdatasync
 * flushes the data and whatever metadata is needed to read it back (the size, when the WAL
 * grew), but not the modification time; once SQLite reuses the WAL from its start (it never
 * shrinks it), commits overwrite in place and the flush needs no ext4 journal commit, which
 * on a shared disk waits for every other file's dirty data (fsync tail 15-25 ms → rare).
 */
export type WalFlush = (fd: number) => Promise<void>;
const fsyncOnThreadpool: WalFlush = (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));

/**
 * Group commit for the -wal file. A COMMIT is durable once an fsync that started after it
 * returned has ended. Each COMMIT starts its own fsync at once while fewer than
 * FLUSHES_IN_FLIGHT run; beyond that, the commits share the next one to start. Waiting for the
 * running fsync before starting the next cost a whole extra flush and an event-loop turn per
 * group (bench/support/findings.md, sixth pass).
 */
const FLUSHES_IN_FLIGHT = 2;

class WalSync {
  private committed = 0; // COMMITs returned so far
  private durable = 0; // COMMITs known to be on stable storage
  private readonly running: { upTo: number; done: Promise<void> }[] = []; // oldest first
  private next: Promise<void> | undefined;
  failure: Error | undefined;

  /** fd undefined: an in-memory database, nothing to flush. */
  constructor(private readonly fd: number | undefined, private readonly flush: WalFlush, private readonly wal: string) {}

  /** Counts a COMMIT that has just returned; the number to wait for. */
  commit(): number {
    return ++this.committed;
  }

  /** The number of the newest COMMIT, which anything read now may reflect. */
  get latest(): number {
    return this.committed;
  }

  /** Resolves once commit number n (and every one before it) is on stable storage. */
  waitFor(n: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.fd === undefined || this.durable >= n) return Promise.resolve();
    for (const r of this.running) if (r.upTo >= n) return r.done;
    if (this.running.length < FLUSHES_IN_FLIGHT) return this.start();
    // All flushes busy, each begun before commit n's write: the next one starts when the oldest ends.
    const after = () => {
      this.next = undefined;
      return this.failure ? Promise.reject(this.failure) : this.start();
    };
    this.next ??= this.running[0].done.then(after, after);
    return this.next;
  }

  private start(): Promise<void> {
    const upTo = this.committed;
    const flush: { upTo: number; done: Promise<void> } = { upTo, done: Promise.resolve() };
    const finished = () => { this.running.splice(this.running.indexOf(flush), 1); };
    flush.done = this.flush(this.fd!).then(
      () => {
        finished();
        if (upTo > this.durable) this.durable = upTo;
      },
      (error: unknown) => {
        finished();
        this.failure ??= new Error(`fsync of ${this.wal} failed (${(error as Error)?.message ?? String(error)}): committed transactions may not survive a power cut, so this database takes no more work; restart the hub`, { cause: error });
        throw this.failure;
      },
    );
    this.running.push(flush);
    return flush.done;
  }

  /** Waits for every commit so far to be durable (or to have failed). */
  async settle(): Promise<void> {
    await this.waitFor(this.committed).catch(() => undefined);
  }
}

/**
 * The checkpointer: a worker thread with its own connection that runs PASSIVE checkpoints
 * while the write connection keeps committing. It is nudged after commits (at most one request
 * outstanding, and at most one per CHECKPOINT_EVERY ms), so an idle hub does nothing.
 * synchronous=NORMAL on its connection: the WAL is fsynced before pages are copied and the
 * database file after, before the WAL may be reused (see the header).
 */
const CHECKPOINT_EVERY = 200; // ms between checkpoint requests at most
/** Pages: the write connection's automatic checkpoint, only a safety net (~40 MiB of WAL). */
const AUTOCHECKPOINT_SAFETY_NET = 10_000;
const CHECKPOINTER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error && error.message || error) });
  }
});
`;

export interface CheckpointResult { busy: number; log: number; checkpointed: number }

class Checkpointer {
  private readonly worker: Worker;
  private requested = false; // a request is with the worker
  private dirty = false; // commits since the last request
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private closed = false;
  private waiters: ((r: CheckpointResult | Error) => void)[] = [];
  lastError: string | undefined;

  constructor(file: string) {
    this.worker = new Worker(CHECKPOINTER_SOURCE, { eval: true, workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3') } });
    this.worker.unref();
    this.worker.on('message', (m: { ok: boolean; error?: string } & CheckpointResult) => {
      this.requested = false;
      this.last = Date.now();
      const waiters = this.waiters.splice(0);
      if (!m.ok) this.lastError = m.error;
      for (const w of waiters) w(m.ok ? { busy: m.busy, log: m.log, checkpointed: m.checkpointed } : new Error(`WAL checkpoint failed: ${m.error}`));
      if (this.dirty) this.nudge();
    });
    this.worker.on('error', (error) => { this.lastError = String(error); this.requested = false; });
  }

  /** A commit happened: checkpoint soon, off the event loop. */
  nudge(): void {
    this.dirty = true;
    if (this.closed || this.requested || this.timer) return;
    const wait = this.last + CHECKPOINT_EVERY - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => { this.timer = undefined; this.nudge(); }, wait);
      this.timer.unref();
      return;
    }
    this.send();
  }

  private send(): void {
    this.dirty = false;
    this.requested = true;
    this.worker.postMessage('checkpoint');
  }

  /** Runs a checkpoint now (tests, tools) and reports SQLite's figures. */
  run(): Promise<CheckpointResult> {
    return new Promise((resolve, reject) => {
      this.waiters.push((r) => (r instanceof Error ? reject(r) : resolve(r)));
      if (!this.requested) this.send();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // The worker is unref'd while it idles; closing must hold the process open until it has
    // exited, or a script whose last step is close() ends before close() does.
    this.worker.ref();
    this.worker.postMessage('close');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await this.worker.terminate().catch(() => undefined);
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
