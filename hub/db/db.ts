/**
 * The hub's one database seam. Ledger, queue, registry and ingest write portable SQL against
 * this interface; SQLite (better-sqlite3, WAL, the default) and PostgreSQL (pg, at scale)
 * implement it, and one exported contract suite (tests/hub/db.contract.ts) runs on both.
 *
 * Portable SQL here means: $1..$n placeholders (the SQLite adapter rewrites them), BIGINT for
 * integers and times (ms since the epoch), TEXT for JSON, no AUTOINCREMENT/SERIAL (ids are
 * assigned by the hub), `INSERT … ON CONFLICT … DO NOTHING`, and `RETURNING`.
 */

export type SqlValue = string | number | boolean | null;
export type Row = Record<string, SqlValue>;

export interface Db {
  readonly dialect: 'sqlite' | 'postgres';
  all<T extends object = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T extends object = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Several DDL statements separated by semicolons. */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` in one transaction: every write inside commits together or not at all.
   * Transactions on one Db are serialized (a second waits for the first), so the hub never
   * interleaves two groups of writes to the same hall's chain.
   */
  tx<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Streams a large result in pages, for verify and reports over millions of rows. */
  iterate<T extends object = Row>(sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]>;
  close(): Promise<void>;
}

/** A named, ordered list of schema steps; each step runs once per database. */
export interface Migration {
  id: string;
  sql: (dialect: Db['dialect']) => string;
}

/**
 * A FIFO lock shared by the adapters: `run` calls execute one at a time, in call order.
 * A failed call releases the lock like a successful one.
 */
/** A number column as read: PostgreSQL returns BIGINT (and SUM, COUNT) as text, SQLite a number; NULL (an empty SUM) is 0. */
export function num(value: unknown): number {
  return typeof value === 'number' ? value : value === null || value === undefined ? 0 : Number(value);
}

/** A nullable number column: null stays null. */
export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** True while a call runs or waits. */
  get busy(): boolean {
    return this.waiting > 0;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => { this.waiting--; },
      () => { this.waiting--; },
    );
    return result;
  }

  /** Resolves once every call queued so far has finished. */
  async drain(): Promise<void> {
    while (this.busy) await this.tail;
  }
}

/** Checks one bound parameter and maps booleans to 0/1, the portable representation. */
export function bindValue(value: SqlValue, index: number, sql: string): string | number | null {
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`parameter $${index + 1} is ${value}, not a finite number, in: ${shortSql(sql)}`);
    return value;
  }
  throw new TypeError(`parameter $${index + 1} has unsupported type ${value === undefined ? 'undefined' : typeof value} in: ${shortSql(sql)}`);
}

export function shortSql(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

/**
 * Splits n rows into chunks whose sizes are powers of two, largest first, none above `largest`
 * (itself a power of two): 90 → 64, 16, 8, 2. Multi-row statements are prepared per row count,
 * so this keeps the distinct statements to a handful instead of compiling one for every group
 * size that ever occurs.
 */
export function powerOfTwoChunks(n: number, largest: number): number[] {
  const sizes: number[] = [];
  let left = n;
  for (let size = largest; left > 0; size >>= 1) while (left >= size) { sizes.push(size); left -= size; }
  return sizes;
}

/** `($1, $2, …), (…), …`: placeholders for `rows` rows of `columns` values each, numbered in order. */
export function valuesPlaceholders(rows: number, columns: number): string {
  return Array.from({ length: rows }, (_, r) => `(${Array.from({ length: columns }, (_, c) => `$${r * columns + c + 1}`).join(', ')})`).join(', ');
}

/**
 * Generated multi-row SQL, one text per row count: the same string object every time, so the
 * SQLite adapter's statement cache finds it without rehashing kilobytes of SQL per call.
 */
export function memoSql(build: (rows: number) => string): (rows: number) => string {
  const texts: string[] = [];
  return (rows) => (texts[rows] ??= build(rows));
}
