/**
 * The SQLite adapter's statements (see sqlite.ts): better-sqlite3's API as typed here, native
 * errors adopted into this realm, $n placeholders rewritten to `?`, and one connection with
 * its prepared-statement cache.
 */

import { createRequire } from 'node:module';
import { bindValue, shortSql, type SqlValue } from './db.js';

export type Bound = string | number | null;

// The part of better-sqlite3's API used here, typed locally (the package ships no types).
export interface Statement {
  readonly reader: boolean;
  readonly readonly: boolean;
  // An array binds anonymous parameters in order (no spread of hundreds of arguments).
  run(params: Bound[]): { changes: number };
  all(params: Bound[]): unknown[];
  iterate(params: Bound[]): IterableIterator<unknown>;
}
export interface RawDatabase {
  readonly inTransaction: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  close(): void;
}
export type DatabaseConstructor = new (file: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => RawDatabase;
export const Database = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;

/**
 * better-sqlite3's native addon keeps the error class of the first JavaScript realm that loaded
 * it; under jest (a realm per test file) later files then receive errors that are not
 * `instanceof Error` there. Errors are re-created in this realm, keeping message and code.
 */
export function adopt(error: unknown): Error {
  if (error instanceof Error) return error;
  const e = error as { message?: unknown; code?: unknown } | null;
  const copy = new Error(String(e?.message ?? error), { cause: error }) as Error & { code?: unknown };
  copy.name = 'SqliteError';
  if (e?.code !== undefined) copy.code = e.code;
  return copy;
}

export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw adopt(error);
  }
}

export const STATEMENT_CACHE = 500; // prepared statements kept per connection
export const BUSY_TIMEOUT = 5_000; // ms a statement waits for a lock another connection holds
export const BEGIN_TIMEOUT = 30_000; // ms a transaction waits for another writer to finish

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
export interface Placeholders { order: number[]; distinct: number; highest: number; inOrder: boolean }

export function placeholders(order: number[]): Placeholders {
  const distinct = new Set(order).size;
  const highest = order.length ? Math.max(...order) + 1 : 0;
  // $1..$n each once, in order (every generated multi-row statement): bound as given.
  const inOrder = order.every((k, i) => k === i);
  return { order, distinct, highest, inOrder };
}

export function bindAll(sql: string, p: Placeholders, params: readonly SqlValue[]): Bound[] {
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
export class Connection {
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
