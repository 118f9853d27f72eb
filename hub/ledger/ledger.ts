/**
 * The tamper-evident ledger: one append-only hash chain per hall.
 *
 * Row r of a hall holds prev_hash = hash of row r-1 (GENESIS for row 1) and
 *   hash = SHA-256( JSON.stringify([FORMAT, hall, row, at, kind, dev, boot, seq, body, prev_hash]) )
 * in UTF-8, hex. body is stored as the JSON text that was hashed, so verification never depends
 * on re-serializing it. A chain alone cannot show that its newest rows were removed, so the head
 * is checkpointed apart from the ledger: {hall,row,hash,at} signed with HMAC-SHA256(hubKey) and
 * written atomically to checkpointFile. verify() walks the chain, then checks the head against
 * that checkpoint.
 */

import crypto, { createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { memoSql, powerOfTwoChunks, valuesPlaceholders, type Db, type Migration } from '../db/db.js';
import { migrate } from '../db/migrate.js';
import type { LedgerEntry, LedgerKind } from '../seams.js';

export type { LedgerEntry, LedgerKind } from '../seams.js';

export interface LedgerRowRef { row: number; hash: string }
export interface Checkpoint { hall: string; row: number; hash: string; at: number; sig: string }
export interface VerifyReport {
  ok: boolean;
  /** Rows verified (the whole chain when ok). */
  rows: number;
  firstBadRow: number | null;
  problem: string | null;
  /** The checkpoint the head was compared with, if one was readable. */
  checkpoint?: Checkpoint | null;
}

/** A stored ledger row, as read back. */
export interface LedgerRow { hall: string; row: number; at: number; kind: string; dev: string | null; boot: number | null; seq: number | null; body: string; prev_hash: string; hash: string }

const FORMAT = 'sannuo-ledger/1';
export const GENESIS = '0'.repeat(64);
const CHECKPOINT_FORMAT = 'sannuo-checkpoint/1';
const VERIFY_PAGE = 10_000; // rows per page read by verify
const INSERT_CHUNK = 128; // rows per INSERT statement at most (10 parameters each); a power of two
const HEX64 = /^[0-9a-f]{64}$/;

const insertSql = memoSql((n) => `INSERT INTO ledger (hall, "row", at, kind, dev, boot, seq, body, prev_hash, hash) VALUES ${valuesPlaceholders(n, 10)}`);

export function rowHash(r: Omit<LedgerRow, 'hash'>): string {
  const canonical = JSON.stringify([FORMAT, r.hall, r.row, r.at, r.kind, r.dev, r.boot, r.seq, r.body, r.prev_hash]);
  // One-shot crypto.hash (Node ≥ 20.12) is markedly faster than a Hash object per row.
  return crypto.hash ? crypto.hash('sha256', canonical, 'hex') : crypto.createHash('sha256').update(canonical, 'utf8').digest('hex');
}

function signCheckpoint(key: Uint8Array, c: Omit<Checkpoint, 'sig'>): string {
  const canonical = JSON.stringify([CHECKPOINT_FORMAT, c.hall, c.row, c.hash, c.at]);
  return createHmac('sha256', key).update(canonical, 'utf8').digest('hex');
}

function intOrNull(value: unknown, name: string, index: number): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new TypeError(`ledger entries[${index}]: ${name} must be an integer or null, got ${JSON.stringify(value)}`);
  return value;
}

export class Ledger {
  static migrations: Migration[] = [
    {
      id: 'ledger/001-chain',
      sql: () => `
        CREATE TABLE ledger (
          hall TEXT NOT NULL,
          "row" BIGINT NOT NULL,
          at BIGINT NOT NULL,
          kind TEXT NOT NULL,
          dev TEXT,
          boot BIGINT,
          seq BIGINT,
          body TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL,
          PRIMARY KEY (hall, "row")
        );
        CREATE INDEX ledger_dev_event ON ledger (dev, boot, seq);`,
    },
    {
      // Nothing reads the ledger by device (ingest dedupes on tables of its own), and the index
      // was a third B-tree written for every row: about a third of the ledger insert.
      id: 'ledger/002-no-device-index',
      sql: () => 'DROP INDEX IF EXISTS ledger_dev_event',
    },
  ];

  readonly hall: string;
  private readonly hubKey: Uint8Array;
  readonly checkpointFile: string;
  private readonly now: () => number;

  constructor(private readonly db: Db, options: { hall: string; hubKey: Uint8Array; checkpointFile: string; now?: () => number }) {
    if (typeof options.hall !== 'string' || options.hall === '') throw new TypeError('Ledger: hall must be a non-empty string');
    if (!(options.hubKey instanceof Uint8Array) || options.hubKey.length < 16) throw new TypeError('Ledger: hubKey must be a Uint8Array of at least 16 bytes');
    if (typeof options.checkpointFile !== 'string' || options.checkpointFile === '') throw new TypeError('Ledger: checkpointFile must be a path');
    this.hall = options.hall;
    this.hubKey = options.hubKey;
    this.checkpointFile = options.checkpointFile;
    this.now = options.now ?? Date.now;
  }

  async init(): Promise<void> {
    await migrate(this.db, Ledger.migrations);
  }

  /** The newest row of this hall's chain, or row 0 with GENESIS when it is empty. */
  async head(db: Db = this.db): Promise<{ row: number; hash: string; at: number | null }> {
    const top = await db.get<{ row: number; hash: string; at: number }>(
      'SELECT "row", hash, at FROM ledger WHERE hall = $1 ORDER BY "row" DESC LIMIT 1', [this.hall]);
    return top ? { row: Number(top.row), hash: top.hash, at: Number(top.at) } : { row: 0, hash: GENESIS, at: null };
  }

  /**
   * Inside the caller's db.tx: appends rows to this hall's chain, in order. The head is read
   * inside that transaction, so nothing is cached that a rollback could leave stale.
   */
  async append(tx: Db, entries: LedgerEntry[]): Promise<LedgerRowRef[]> {
    const rows: LedgerRow[] = [];
    entries.forEach((e, index) => {
      if (e === null || typeof e !== 'object') throw new TypeError(`ledger entries[${index}] is not an object`);
      if (typeof e.kind !== 'string' || (e.kind as string) === '') throw new TypeError(`ledger entries[${index}]: kind must be a non-empty string`);
      if (e.dev !== null && typeof e.dev !== 'string') throw new TypeError(`ledger entries[${index}]: dev must be a string or null`);
      if (typeof e.at !== 'number' || !Number.isSafeInteger(e.at) || e.at < 0) throw new TypeError(`ledger entries[${index}]: at must be a time in ms, got ${JSON.stringify(e.at)}`);
      let body: string | undefined = e.bodyText;
      if (body !== undefined && typeof body !== 'string') throw new TypeError(`ledger entries[${index}]: bodyText must be a string`);
      try {
        body ??= JSON.stringify(e.body);
      } catch (error) {
        throw new TypeError(`ledger entries[${index}]: body is not JSON-serializable: ${(error as Error).message}`);
      }
      if (body === undefined) throw new TypeError(`ledger entries[${index}]: body is missing or not JSON (use null for none)`);
      rows.push({
        hall: this.hall, row: 0, at: e.at, kind: e.kind, dev: e.dev,
        boot: intOrNull(e.boot, 'boot', index), seq: intOrNull(e.seq, 'seq', index),
        body, prev_hash: '', hash: '',
      });
    });
    if (rows.length === 0) return [];
    let { row, hash } = await this.head(tx);
    for (const r of rows) {
      r.row = ++row;
      r.prev_hash = hash;
      r.hash = hash = rowHash(r);
    }
    // Multi-row INSERTs: one round trip per chunk, well under both engines' parameter limits.
    let i = 0;
    for (const size of powerOfTwoChunks(rows.length, INSERT_CHUNK)) {
      const params: (string | number | null)[] = [];
      for (const r of rows.slice(i, i += size)) params.push(r.hall, r.row, r.at, r.kind, r.dev, r.boot, r.seq, r.body, r.prev_hash, r.hash);
      await tx.run(insertSql(size), params);
    }
    return rows.map((r) => ({ row: r.row, hash: r.hash }));
  }

  /** Signs the chain's head and writes it to checkpointFile (tmp, fsync, rename), returning it. */
  /** Rows of one kind after `after` up to `upTo` (inclusive), in chain order, at most `limit`: a reader's catch-up from its watermark. */
  async rowsAfter(db: Db, kind: LedgerKind, after: number, upTo: number, limit: number): Promise<{ row: number; body: string }[]> {
    return db.all<{ row: number; body: string }>(`SELECT "row", body FROM ledger WHERE hall = $1 AND "row" > $2 AND "row" <= $3 AND kind = $4
      ORDER BY "row" LIMIT ${Math.max(1, Math.floor(limit))}`, [this.hall, after, upTo, kind]);
  }

  async checkpoint(): Promise<Checkpoint> {
    const head = await this.head();
    const unsigned = { hall: this.hall, row: head.row, hash: head.hash, at: this.now() };
    const cp: Checkpoint = { ...unsigned, sig: signCheckpoint(this.hubKey, unsigned) };
    const dir = path.dirname(path.resolve(this.checkpointFile));
    const tmp = `${this.checkpointFile}.${process.pid}.${Date.now()}.tmp`;
    const handle = await fs.open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify({ format: CHECKPOINT_FORMAT, ...cp })}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, this.checkpointFile);
    // Make the rename itself durable.
    const dirHandle = await fs.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
    return cp;
  }

  /** Reads and authenticates the checkpoint file; a string names what is wrong. */
  async readCheckpoint(): Promise<Checkpoint | string> {
    let text: string;
    try {
      text = await fs.readFile(this.checkpointFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `checkpoint file ${this.checkpointFile} is missing`;
      return `checkpoint file ${this.checkpointFile} cannot be read: ${(error as Error).message}`;
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return `checkpoint file ${this.checkpointFile} is not JSON`;
    }
    const { format, hall, row, hash, at, sig } = parsed ?? {};
    if (format !== CHECKPOINT_FORMAT) return `checkpoint file ${this.checkpointFile} has format ${JSON.stringify(format)}, expected ${CHECKPOINT_FORMAT}`;
    if (typeof hall !== 'string' || typeof row !== 'number' || !Number.isSafeInteger(row) || row < 0
      || typeof hash !== 'string' || !HEX64.test(hash) || typeof at !== 'number' || typeof sig !== 'string' || !HEX64.test(sig)) {
      return `checkpoint file ${this.checkpointFile} is malformed`;
    }
    const expected = Buffer.from(signCheckpoint(this.hubKey, { hall, row, hash, at }), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) {
      return `checkpoint file ${this.checkpointFile} has an invalid signature (forged, edited, or made with another hub key)`;
    }
    if (hall !== this.hall) return `checkpoint file ${this.checkpointFile} belongs to hall ${hall}, not ${this.hall}`;
    return { hall, row, hash, at, sig };
  }

  /**
   * Walks the chain in pages, recomputing every hash and link, then compares the head with the
   * checkpoint. Stops at the first problem, naming the row and what is wrong.
   */
  async verify(options: { onProgress?: (rows: number, total: number) => void; pageSize?: number } = {}): Promise<VerifyReport> {
    const pageSize = options.pageSize ?? VERIFY_PAGE;
    const countRow = await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM ledger WHERE hall = $1', [this.hall]);
    const total = Number(countRow?.n ?? 0);
    // The checkpoint is read before the walk: the walk's snapshot is then at least as new.
    const cp = await this.readCheckpoint();
    const fail = (rows: number, firstBadRow: number | null, problem: string): VerifyReport =>
      ({ ok: false, rows, firstBadRow, problem, checkpoint: typeof cp === 'string' ? null : cp });
    let cpHashSeen: string | null = null;

    let expectedRow = 1;
    let prevHash = GENESIS;
    let checked = 0;
    options.onProgress?.(0, total);
    for await (const page of this.db.iterate<LedgerRow>(
      'SELECT hall, "row", at, kind, dev, boot, seq, body, prev_hash, hash FROM ledger WHERE hall = $1 ORDER BY "row"',
      [this.hall], pageSize)) {
      for (const r of page) {
        const row = Number(r.row);
        if (row !== expectedRow) {
          return row > expectedRow
            ? fail(checked, expectedRow, expectedRow === row - 1
              ? `row ${expectedRow} is missing (gap before row ${row})`
              : `rows ${expectedRow}..${row - 1} are missing (gap before row ${row})`)
            : fail(checked, row, `row ${row} is out of order (expected ${expectedRow})`);
        }
        if (r.prev_hash !== prevHash) {
          return fail(checked, row, `row ${row}: broken link: its prev_hash ${String(r.prev_hash).slice(0, 12)}… does not match the hash of row ${row - 1} (${prevHash.slice(0, 12)}…)`);
        }
        if (rowHash(r) !== r.hash) {
          return fail(checked, row, `row ${row} was changed: its contents do not match its hash`);
        }
        if (typeof cp !== 'string' && row === cp.row) cpHashSeen = r.hash;
        prevHash = r.hash;
        expectedRow++;
        checked++;
      }
      options.onProgress?.(checked, Math.max(total, checked));
    }
    const head = checked;

    if (typeof cp === 'string') {
      // Without the anchor, removal of the newest rows cannot be ruled out, except for a chain
      // that was never written to.
      if (head === 0 && cp.endsWith('is missing')) return { ok: true, rows: 0, firstBadRow: null, problem: null, checkpoint: null };
      return fail(checked, null, cp);
    }
    if (head < cp.row) {
      const when = new Date(cp.at).toISOString();
      return fail(checked, head + 1, head + 1 === cp.row
        ? `row ${cp.row} is missing at the end: the chain ends at row ${head} but the checkpoint of ${when} covers row ${cp.row}`
        : `rows ${head + 1}..${cp.row} are missing at the end: the chain ends at row ${head} but the checkpoint of ${when} covers row ${cp.row}`);
    }
    if (cp.row > 0 && cpHashSeen !== cp.hash) {
      return fail(checked, cp.row, `row ${cp.row} does not match the checkpoint's hash: the chain was rewritten up to that row`);
    }
    return { ok: true, rows: checked, firstBadRow: null, problem: null, checkpoint: cp };
  }
}
