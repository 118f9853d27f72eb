/**
 * Hall leases: in a district several hubs share one PostgreSQL and one broker, and each hall
 * (its queue, its devices' events, its ledger chain) belongs to one hub at a time — the one
 * holding the hall's row in `public.sannuo_leases`.
 *
 *   take     one UPDATE under a row lock: only when the row is free, expired, or already ours;
 *            the epoch (fencing token) goes up by one on every take.
 *   renew    every renewInterval: only while holder and epoch are still ours.
 *   fence    inside every transaction that writes the hall (hub/district/district.ts wraps the hall's Db):
 *            SELECT … FOR SHARE of the lease row, refused unless holder and epoch are ours.
 *            The share lock also makes a concurrent take wait until that commit is done, so a
 *            paused or partitioned hub can never commit after another hub took the hall.
 *   release  on shutdown and rebalancing, after the hall's commits are drained.
 *
 * Times are the database's clock (clock_timestamp), never a hub's, so skewed hubs agree on
 * expiry. A hub's own view of "still mine" ends leaseTtl after it *sent* its last successful
 * renewal: the row cannot expire before that. The loop that renews, takes and gives back is
 * LeaseKeeper (hub/district/keeper.ts).
 */

import { Counter, Gauge, type Registry as PromRegistry } from 'prom-client';
import type { Db, Migration } from '../db/db.js';
import { migrate } from '../db/migrate.js';

export const LEASES = 'public.sannuo_leases';
export const HUBS = 'public.sannuo_hubs';
/** The database's clock in ms since the epoch. */
const DB_NOW = '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT';
/** How long a take or renewal waits for a lease row another transaction holds. */
const LOCK_TIMEOUT = '2s';
/** pg_advisory_xact_lock key for creating hall schemas: "SNHALL" in ASCII. */
const SCHEMA_LOCK = 0x534e48414c4c;

export const leaseMigrations: Migration[] = [
  {
    id: 'cluster/001-leases',
    sql: () => `
      CREATE TABLE IF NOT EXISTS ${LEASES} (
        hall TEXT PRIMARY KEY,
        holder TEXT,
        epoch BIGINT NOT NULL DEFAULT 0,
        expires BIGINT NOT NULL,
        taken_at BIGINT,
        registered_at BIGINT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${HUBS} (
        hub TEXT PRIMARY KEY,
        seen BIGINT NOT NULL,
        started BIGINT NOT NULL
      )`,
  },
];

/** The hall's lease was taken by another hub (or never was ours): nothing may be committed. */
export class LeaseLostError extends Error {
  constructor(readonly hall: string, readonly epoch: number, detail: string) {
    super(`hall ${hall}: lease epoch ${epoch} is no longer held by this hub (${detail})`);
    this.name = 'LeaseLostError';
  }
}

export interface Lease {
  hall: string;
  epoch: number;
  /** Database ms when it expires unless renewed. */
  expires: number;
}

export interface LeaseRow { hall: string; holder: string | null; epoch: number; expires: number; now: number }

export interface Taken extends Lease {
  /** The hub that held it before (null: free), and whether it had expired. */
  previous: string | null;
}

/** The schema a hall's tables live in, quoted for SQL (hall ids may hold '-' and capitals). */
export function hallSchema(hall: string): string {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(hall)) throw new Error(`hall id ${JSON.stringify(hall)}: expected 1–32 letters, digits, _ or -`);
  return `"hall_${hall}"`;
}

/**
 * The URL of a hall's own connection pool: its schema first on the search_path, so every
 * module's unqualified tables (ledger, events, devices, queue_*) are that hall's; and a
 * session idle inside a transaction for longer than the lease is ended by the server, so a
 * paused hub cannot keep a lease row locked after its lease expired.
 */
export function hallDbUrl(url: string, hall: string, ttlMs: number): string {
  const u = new URL(url);
  const existing = u.searchParams.get('options');
  const options = [`-c search_path=${hallSchema(hall)}`, `-c idle_in_transaction_session_timeout=${Math.max(1000, ttlMs)}`];
  u.searchParams.set('options', existing ? `${existing} ${options.join(' ')}` : options.join(' '));
  return u.toString();
}

export class LeaseMetrics {
  readonly held: Gauge<'hall'>;
  readonly epoch: Gauge<'hall'>;
  readonly taken: Counter<'how'>;
  readonly lost: Counter<'reason'>;
  readonly released: Counter<'reason'>;
  readonly renewFailures: Counter;
  readonly fenced: Counter;

  constructor(registry: PromRegistry) {
    const registers = [registry];
    this.held = new Gauge({ name: 'sannuo_lease_held', help: 'Halls whose lease this hub holds (1 per hall)', labelNames: ['hall'], registers });
    this.epoch = new Gauge({ name: 'sannuo_lease_epoch', help: 'Fencing epoch of each hall lease this hub holds', labelNames: ['hall'], registers });
    this.taken = new Counter({ name: 'sannuo_lease_taken_total', help: 'Hall leases taken, by how: free (nobody held it), takeover (another hub\'s lease had expired), restart (this hub id held it before)', labelNames: ['how'], registers });
    this.lost = new Counter({ name: 'sannuo_lease_lost_total', help: 'Hall leases lost while serving, by reason: renew-refused (another hub took it), fenced (a commit was refused), unreachable (no renewal within the lease time)', labelNames: ['reason'], registers });
    this.released = new Counter({ name: 'sannuo_lease_released_total', help: 'Hall leases given up in good order, by reason: shutdown, rebalance, start-failed', labelNames: ['reason'], registers });
    this.renewFailures = new Counter({ name: 'sannuo_lease_renew_failures_total', help: 'Lease renewals that failed for a database error (the lease may still be held)', registers });
    this.fenced = new Counter({ name: 'sannuo_lease_fenced_commits_total', help: 'Transactions refused because this hub no longer held the hall\'s lease', registers });
  }
}

/** SQL for leases, on the district's shared database (the public schema). */
export class LeaseStore {
  constructor(private readonly db: Db, readonly hubId: string, readonly ttlMs: number, private readonly metrics?: LeaseMetrics) {
    if (db.dialect !== 'postgres') throw new Error('hall leases need PostgreSQL: a district shares one database');
  }

  async init(): Promise<void> {
    await migrate(this.db, leaseMigrations);
  }

  /** Adds halls to the district (idempotent) and creates their schemas. */
  async register(halls: string[]): Promise<void> {
    for (const hall of halls) {
      const schema = hallSchema(hall);
      await this.db.tx(async (tx) => {
        // Concurrent CREATE SCHEMA IF NOT EXISTS can collide in the catalog; one at a time.
        await tx.get(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK}) AS locked`);
        await tx.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await tx.run(`INSERT INTO ${LEASES} (hall, holder, epoch, expires, registered_at) VALUES ($1, NULL, 0, ${DB_NOW}, ${DB_NOW}) ON CONFLICT (hall) DO NOTHING`, [hall]);
      });
    }
  }

  async list(): Promise<LeaseRow[]> {
    const rows = await this.db.all<LeaseRow>(`SELECT hall, holder, epoch, expires, ${DB_NOW} AS now FROM ${LEASES} ORDER BY hall`);
    return rows.map((r) => ({ ...r, epoch: Number(r.epoch), expires: Number(r.expires), now: Number(r.now) }));
  }

  /** Takes the hall if it is free, expired or already this hub's; undefined if another hub holds it. */
  async take(hall: string): Promise<Taken | undefined> {
    return this.db.tx(async (tx) => {
      await tx.exec(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      const before = await tx.get<{ holder: string | null }>(`SELECT holder FROM ${LEASES} WHERE hall = $1 FOR UPDATE`, [hall]);
      if (!before) throw new Error(`hall ${hall} is not registered in the district (cluster.register)`);
      const row = await tx.get<{ epoch: number; expires: number }>(
        `UPDATE ${LEASES} SET holder = $2, epoch = epoch + 1, expires = ${DB_NOW} + $3, taken_at = ${DB_NOW}
         WHERE hall = $1 AND (holder IS NULL OR holder = $2 OR expires < ${DB_NOW})
         RETURNING epoch, expires`, [hall, this.hubId, this.ttlMs]);
      if (!row) return undefined;
      return { hall, epoch: Number(row.epoch), expires: Number(row.expires), previous: before.holder };
    });
  }

  /** Extends the lease; false when another hub has taken it since (the epoch moved on). */
  async renew(lease: Lease): Promise<boolean> {
    return this.db.tx(async (tx) => {
      await tx.exec(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      const row = await tx.get<{ expires: number }>(
        `UPDATE ${LEASES} SET expires = ${DB_NOW} + $4 WHERE hall = $1 AND holder = $2 AND epoch = $3 RETURNING expires`,
        [lease.hall, this.hubId, lease.epoch, this.ttlMs]);
      if (row) lease.expires = Number(row.expires);
      return row !== undefined;
    });
  }

  /** Gives the hall up at once (its commits must be drained first); free from now on. */
  async release(lease: Lease): Promise<boolean> {
    const { changes } = await this.db.run(
      `UPDATE ${LEASES} SET holder = NULL, expires = ${DB_NOW} WHERE hall = $1 AND holder = $2 AND epoch = $3`,
      [lease.hall, this.hubId, lease.epoch]);
    return changes > 0;
  }

  /**
   * Inside a transaction on the hall's Db: refuses unless this hub still holds `lease`. The
   * FOR SHARE lock is held to the commit, so no take can slip in between check and commit.
   */
  async fence(tx: Db, lease: Lease): Promise<void> {
    const row = await tx.get<{ holder: string | null; epoch: number }>(`SELECT holder, epoch FROM ${LEASES} WHERE hall = $1 FOR SHARE`, [lease.hall]);
    if (!row || row.holder !== this.hubId || Number(row.epoch) !== lease.epoch) {
      this.metrics?.fenced.inc();
      throw new LeaseLostError(lease.hall, lease.epoch, row ? `now held by ${row.holder ?? 'nobody'} at epoch ${row.epoch}` : 'the hall is not registered');
    }
  }

  async holderOf(hall: string): Promise<{ holder: string | null; epoch: number; expired: boolean } | undefined> {
    const row = await this.db.get<{ holder: string | null; epoch: number; expired: number }>(
      `SELECT holder, epoch, (expires < ${DB_NOW}) AS expired FROM ${LEASES} WHERE hall = $1`, [hall]);
    return row ? { holder: row.holder, epoch: Number(row.epoch), expired: Boolean(row.expired) } : undefined;
  }

  /** Marks this hub alive and returns how many hubs were seen within one lease time. */
  async heartbeat(): Promise<number> {
    await this.db.run(`INSERT INTO ${HUBS} (hub, seen, started) VALUES ($1, ${DB_NOW}, ${DB_NOW}) ON CONFLICT (hub) DO UPDATE SET seen = EXCLUDED.seen`, [this.hubId]);
    const row = await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${HUBS} WHERE seen > ${DB_NOW} - $1`, [this.ttlMs]);
    return Math.max(1, Number(row?.n ?? 1));
  }

  async leave(): Promise<void> {
    await this.db.run(`DELETE FROM ${HUBS} WHERE hub = $1`, [this.hubId]);
  }
}

/** The same Db, but every outermost transaction first checks the lease (see LeaseStore.fence). */
export function fencedDb(inner: Db, fence: (tx: Db) => Promise<void>): Db {
  return {
    get dialect() { return inner.dialect; },
    all: (sql, params) => inner.all(sql, params),
    get: (sql, params) => inner.get(sql, params),
    run: (sql, params) => inner.run(sql, params),
    exec: (sql) => inner.exec(sql),
    iterate: (sql, params, pageSize) => inner.iterate(sql, params, pageSize),
    close: () => inner.close(),
    tx: (fn) => inner.tx(async (tx) => {
      await fence(tx);
      return fn(tx);
    }),
  } as Db;
}
