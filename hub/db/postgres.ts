/**
 * The PostgreSQL adapter (pg Pool): the store for many hubs and halls.
 *
 * Values come back as the SQLite adapter returns them: BIGINT (int8) and NUMERIC as Number
 * (an int8 beyond 2^53 is an error, not a silently rounded id), BOOLEAN as 0/1; booleans are
 * bound as 0/1. These parsers are set on this pool only, not on pg's global type table.
 *
 * tx() runs on one pooled client and is serialized per Db, like SQLite's. Calls on the outer
 * Db made from inside a tx body join that transaction (AsyncLocalStorage), so a helper that
 * was handed the outer Db cannot write beside the transaction by mistake. Statements from
 * outside run on the pool at once: PostgreSQL's MVCC keeps them apart.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { bindValue, SerialQueue, shortSql, type Db, type Row, type SqlValue } from './db.js';

const INT8 = 20;
const NUMERIC = 1700;
const BOOL = 16;
const POOL_SIZE = 10; // connections per hub

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT value ${text} is beyond 2^53 and cannot be represented exactly as a number`);
  return n;
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (format !== 'binary') {
      if (oid === INT8) return parseInt8;
      if (oid === NUMERIC) return (text: string) => Number(text);
      if (oid === BOOL) return (text: string) => (text === 't' ? 1 : 0);
    }
    return pg.types.getTypeParser(oid, format);
  },
};

type Queryable = pg.Pool | pg.PoolClient;
let cursors = 0;

function bindAll(sql: string, params: readonly SqlValue[]): (string | number | null)[] {
  return params.map((value, index) => bindValue(value, index, sql));
}

async function query<T>(on: Queryable, sql: string, params: readonly SqlValue[]): Promise<{ rows: T[]; rowCount: number }> {
  try {
    const result = await on.query(sql, bindAll(sql, params));
    return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
  } catch (error) {
    // Keep pg's error (code, detail, constraint) for callers; add the statement for people.
    if (error instanceof Error && !error.message.includes(' in: ')) error.message += ` in: ${shortSql(sql)}`;
    throw error;
  }
}

function checkPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`iterate: pageSize must be a positive integer, got ${pageSize}`);
}

/** Streams `sql` through a server-side cursor on `client`, which must be in a transaction. */
async function* cursorPages<T>(client: pg.PoolClient, sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]> {
  const name = `sannuo_cursor_${++cursors}`;
  await query(client, `DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, params);
  try {
    for (;;) {
      const { rows } = await query<T>(client, `FETCH FORWARD ${pageSize} FROM ${name}`, []);
      if (rows.length) yield rows;
      if (rows.length < pageSize) break;
    }
  } finally {
    await client.query(`CLOSE ${name}`).catch(() => {});
  }
}

class PostgresTx implements Db {
  readonly dialect = 'postgres' as const;
  finished = false;
  private savepoints = 0;
  constructor(private readonly client: pg.PoolClient) {}

  private live(): pg.PoolClient {
    if (this.finished) throw new Error('this transaction has already finished; use the Db passed to the current tx() body');
    return this.client;
  }
  async all<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await query<T>(this.live(), sql, params)).rows;
  }
  async get<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await query(this.live(), sql, params)).rowCount };
  }
  async exec(sql: string): Promise<void> {
    await this.live().query(sql);
  }
  /** A nested tx is a savepoint: its writes roll back alone if its body throws. */
  async tx<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const client = this.live();
    const name = `sp_${++this.savepoints}`;
    await client.query(`SAVEPOINT ${name}`);
    try {
      const result = await fn(this);
      await client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await client.query(`RELEASE SAVEPOINT ${name}`);
      throw error;
    }
  }
  async *iterate<T extends object = Row>(sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]> {
    checkPageSize(pageSize);
    yield* cursorPages<T>(this.live(), sql, params, pageSize);
  }
  async close(): Promise<void> {
    throw new Error('close() the Db, not a transaction');
  }
}

class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  private readonly lock = new SerialQueue();
  private readonly current = new AsyncLocalStorage<PostgresTx>();
  private closed = false;

  constructor(private readonly pool: pg.Pool) {}

  private target(): PostgresTx | pg.Pool {
    if (this.closed) throw new Error('PostgreSQL Db is closed');
    const tx = this.current.getStore();
    return tx && !tx.finished ? tx : this.pool;
  }

  async all<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const on = this.target();
    return on instanceof PostgresTx ? on.all<T>(sql, params) : (await query<T>(on, sql, params)).rows;
  }
  async get<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const on = this.target();
    return on instanceof PostgresTx ? on.run(sql, params) : { changes: (await query(on, sql, params)).rowCount };
  }
  async exec(sql: string): Promise<void> {
    const on = this.target();
    if (on instanceof PostgresTx) return on.exec(sql);
    await on.query(sql);
  }

  async tx<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const on = this.target();
    if (on instanceof PostgresTx) return on.tx(fn);
    return this.lock.run(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      // pg-pool listens for errors only on idle clients: a checked-out client whose server
      // ends the session (restart, idle_in_transaction_session_timeout) would otherwise emit
      // an unhandled 'error' and take the hub down. The failed query still rejects.
      const onError = (error: Error) => { broken = error; };
      client.on('error', onError);
      const tx = new PostgresTx(client);
      try {
        await client.query('BEGIN');
        const result = await this.current.run(tx, () => fn(tx));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error; // the connection is unusable: drop it from the pool
        }
        throw error;
      } finally {
        tx.finished = true;
        client.off('error', onError);
        client.release(broken);
      }
    });
  }

  async *iterate<T extends object = Row>(sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]> {
    checkPageSize(pageSize);
    const on = this.target();
    if (on instanceof PostgresTx) {
      yield* on.iterate<T>(sql, params, pageSize);
      return;
    }
    // One snapshot for the whole walk, on a client of its own.
    const client = await this.pool.connect();
    let committed = false;
    let broken: Error | undefined;
    const onError = (error: Error) => { broken = error; }; // see tx()
    client.on('error', onError);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      yield* cursorPages<T>(client, sql, params, pageSize);
      await client.query('COMMIT');
      committed = true;
    } finally {
      // Also reached when the consumer stops early (break) or a query failed.
      if (!committed) await client.query('ROLLBACK').catch(() => {});
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.lock.drain();
    this.closed = true;
    await this.pool.end();
  }
}

/** Connects to PostgreSQL at `url` (postgres://user@host:port/db) and checks the connection. */
export async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, types });
  // An idle client that loses its server emits 'error' on the pool; without a listener that
  // would crash the hub. The next query on a fresh client reports the problem instead.
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    const where = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
    throw new Error(`cannot connect to PostgreSQL at ${where}: ${(error as Error).message}`, { cause: error });
  }
  return new PostgresDb(pool);
}
