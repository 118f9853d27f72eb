/**
 * The SQLite adapter's durability machinery (see sqlite.ts for the whole argument): the group
 * fsync of the -wal file on libuv's threadpool (WalSync), and the checkpoints on a worker
 * thread with a connection of its own (Checkpointer), so neither runs on the event loop.
 */

import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/**
 * How the -wal file is flushed to stable storage: fdatasync on libuv's threadpool. fdatasync
 * flushes the data and whatever metadata is needed to read it back (the size, when the WAL
 * grew), but not the modification time; once SQLite reuses the WAL from its start (it never
 * shrinks it), commits overwrite in place and the flush needs no ext4 journal commit, which
 * on a shared disk waits for every other file's dirty data (fsync tail 15-25 ms → rare).
 */
export type WalFlush = (fd: number) => Promise<void>;
export const fsyncOnThreadpool: WalFlush = (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));

/**
 * Group commit for the -wal file. A COMMIT is durable once an fsync that started after it
 * returned has ended. Each COMMIT starts its own fsync at once while fewer than
 * FLUSHES_IN_FLIGHT run; beyond that, the commits share the next one to start. Waiting for the
 * running fsync before starting the next cost a whole extra flush and an event-loop turn per
 * group (bench/support/findings.md, sixth pass).
 */
const FLUSHES_IN_FLIGHT = 2;

export class WalSync {
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
export const CHECKPOINT_EVERY = 200; // ms between checkpoint requests at most
/** Pages: the write connection's automatic checkpoint, only a safety net (~40 MiB of WAL). */
export const AUTOCHECKPOINT_SAFETY_NET = 10_000;
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

export class Checkpointer {
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
