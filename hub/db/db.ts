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
