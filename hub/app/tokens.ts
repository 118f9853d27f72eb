/**
 * API tokens: credentials for machines (the simulator, the technician's CLI, kiosks, scripts,
 * tests and benchmarks), beside the people who sign in with a password (hub/app/auth.ts).
 *
 * A token belongs to a service account: an ordinary user `api-<id>` with the token's role
 * (supervisor, technician or kiosk) and a random password nobody knows. The token itself is a
 * session of that account whose expiry is the token's, so every route guarded by
 * `auth.requireRole(...)` accepts it as `Authorization: Bearer <token>`, the role rules are the
 * same for people and machines, and the users list shows every machine that can act. Only the
 * token's SHA-256 is stored (as for sessions), so a copied database opens nothing. Creating and
 * revoking a token are ledger rows (kind 'token'); the account's creation is a 'user' row.
 *
 * Two ways to get one:
 * - settings api.token (SANNUO_API_TOKEN): a token fixed at start-up for automation on the
 *   hub's own machine, role api.tokenRole (supervisor by default). Changing or clearing the
 *   setting revokes the previous one at the next start. `sannuo start` makes a random one
 *   in-process, so it needs no configuration.
 * - a supervisor creates one: POST /api/tokens { name, role, days } → the token, shown once;
 *   GET /api/tokens lists them (never the secret); DELETE /api/tokens/:id revokes one.
 */

import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, Migration } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Auth, UserRole } from './auth.js';

/** kiosk: a ticket machine; it may issue elderly/disabled and appointment tickets, in a rate bucket of its own (hub/queue/routes.ts). */
export type TokenRole = Extract<UserRole, 'supervisor' | 'technician' | 'kiosk'>;
export const TOKEN_ROLES: readonly TokenRole[] = ['supervisor', 'technician', 'kiosk'];
/** Recognisable in logs and secret scanners. */
export const TOKEN_PREFIX = 'sannuo_';
const STARTUP_ID = 'startup';
const NEVER = 253_402_300_799_000; // milliseconds: 9999-12-31, the expiry of a token without one
const DAY = 86_400_000; // milliseconds
const NAME = /^[\p{L}\p{N} _.-]{1,64}$/u;

export interface ApiToken {
  id: string;
  name: string;
  role: TokenRole;
  /** The service account the token acts as. */
  username: string;
  createdBy: string | null;
  createdAt: number;
  /** null: does not expire. */
  expiresAt: number | null;
  revokedAt: number | null;
}

export class TokenError extends Error {
  constructor(readonly status: number, message: string, readonly field: string | null = null) {
    super(message);
    this.name = 'TokenError';
  }
}

/** The same digest hub/app/auth.ts keeps for a session token. */
function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token: prefix and 256 random bits. */
export function newApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

interface TokenRow { id: string; name: string; role: string; username: string; created_by: string | null; created_at: number; expires_at: number; revoked_at: number | null }
const num = (v: unknown) => (typeof v === 'bigint' ? Number(v) : Number(v));
function tokenOut(r: TokenRow): ApiToken {
  const expires = num(r.expires_at);
  return {
    id: r.id, name: r.name, role: r.role as TokenRole, username: r.username, createdBy: r.created_by, createdAt: num(r.created_at),
    expiresAt: expires >= NEVER ? null : expires, revokedAt: r.revoked_at === null ? null : num(r.revoked_at),
  };
}

export class ApiTokens {
  static migrations: Migration[] = [
    {
      id: 'access/001-api-tokens',
      sql: () => `CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        username TEXT NOT NULL,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
    },
  ];

  constructor(private readonly deps: { db: Db; ledger: Ledger; auth: Auth; now: () => number; log: Logger; hall: string }) {}

  /**
   * The start-up token (settings api.token): its account and session made to match the
   * settings; a changed or cleared setting revokes the token it replaces. Call after the
   * application has created its first supervisor.
   */
  async startup(token: string, role: TokenRole): Promise<void> {
    const { db } = this.deps;
    const current = await db.get<TokenRow>('SELECT * FROM api_tokens WHERE id = $1', [STARTUP_ID]);
    const username = `api-${STARTUP_ID}`;
    if (!token) {
      if (current && current.revoked_at === null) await this.revoke(STARTUP_ID, 'settings');
      return;
    }
    const hash = tokenHash(token);
    const session = await db.get<{ username: string }>('SELECT username FROM app_sessions WHERE token_hash = $1', [hash]);
    if (current && current.revoked_at === null && current.role === role && session?.username === username) return;
    if (session && session.username !== username) throw new TokenError(400, 'api.token: this value is already in use as another session or token; choose a new random one', 'api.token');
    await this.account(username, role, 'API token: start-up (settings api.token)', 'settings');
    const at = this.deps.now();
    await db.tx(async (tx) => {
      // Only one start-up token at a time: the one it replaces stops working now.
      await tx.run('DELETE FROM app_sessions WHERE username = $1', [username]);
      await tx.run('INSERT INTO app_sessions (token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)', [hash, username, at, NEVER]);
      if (current) {
        await tx.run('UPDATE api_tokens SET role = $2, created_at = $3, expires_at = $4, revoked_at = NULL WHERE id = $1', [STARTUP_ID, role, at, NEVER]);
      } else {
        await tx.run(`INSERT INTO api_tokens (id, name, role, username, created_by, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
          [STARTUP_ID, 'start-up (settings api.token)', role, username, 'settings', at, NEVER]);
      }
      await this.deps.ledger.append(tx, [{ kind: 'token', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, action: 'start-up', id: STARTUP_ID, role, by: 'settings' } }]);
    });
    this.deps.log.info({ role }, 'start-up API token (settings api.token) set');
  }

  /** A new token for a machine; the secret is returned here only. */
  async create(input: { name?: unknown; role?: unknown; days?: unknown }, by: string): Promise<ApiToken & { token: string }> {
    if (typeof input.name !== 'string' || !NAME.test(input.name)) throw new TokenError(400, 'body.name: expected 1–64 letters, digits, spaces, _ . or -', 'body.name');
    if (TOKEN_ROLES.indexOf(input.role as TokenRole) < 0) throw new TokenError(400, `body.role: must be one of ${TOKEN_ROLES.join(', ')}`, 'body.role');
    if (input.days !== undefined && input.days !== null && !(Number.isInteger(input.days) && (input.days as number) >= 1 && (input.days as number) <= 3650)) {
      throw new TokenError(400, 'body.days: expected whole days 1–3650, or null for a token that does not expire', 'body.days');
    }
    const role = input.role as TokenRole;
    const id = randomBytes(6).toString('hex');
    const username = `api-${id}`;
    const token = newApiToken();
    await this.account(username, role, `API token: ${input.name}`, by);
    const at = this.deps.now();
    const expires = typeof input.days === 'number' ? at + input.days * DAY : NEVER;
    await this.deps.db.tx(async (tx) => {
      await tx.run('INSERT INTO app_sessions (token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)', [tokenHash(token), username, at, expires]);
      await tx.run(`INSERT INTO api_tokens (id, name, role, username, created_by, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
        [id, input.name as string, role, username, by, at, expires]);
      await this.deps.ledger.append(tx, [{ kind: 'token', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, action: 'create', id, name: input.name, role, by, expiresAt: expires >= NEVER ? null : expires } }]);
    });
    return { ...(await this.get(id))!, token };
  }

  async get(id: string): Promise<ApiToken | undefined> {
    const r = await this.deps.db.get<TokenRow>('SELECT * FROM api_tokens WHERE id = $1', [id]);
    return r ? tokenOut(r) : undefined;
  }

  async list(): Promise<ApiToken[]> {
    return (await this.deps.db.all<TokenRow>('SELECT * FROM api_tokens ORDER BY created_at, id')).map(tokenOut);
  }

  /** Ends the token at once; its account stays (disabled) for the audit trail. */
  async revoke(id: string, by: string): Promise<ApiToken> {
    const { db, auth } = this.deps;
    const r = await db.get<TokenRow>('SELECT * FROM api_tokens WHERE id = $1', [id]);
    if (!r) throw new TokenError(404, `params.id: no API token ${id}`, 'params.id');
    if (r.revoked_at !== null) return tokenOut(r);
    const user = await auth.user(r.username);
    // Disabling ends the account's sessions (auth.putUser), which is the token itself.
    if (user && !user.disabled) await auth.putUser({ ...user, disabled: true }, by);
    const at = this.deps.now();
    await db.tx(async (tx) => {
      await tx.run('DELETE FROM app_sessions WHERE username = $1', [r.username]);
      await tx.run('UPDATE api_tokens SET revoked_at = $2 WHERE id = $1', [id, at]);
      await this.deps.ledger.append(tx, [{ kind: 'token', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, action: 'revoke', id, by } }]);
    });
    return (await this.get(id))!;
  }

  /** The service account, created or brought to this role and enabled. */
  private async account(username: string, role: TokenRole, name: string, by: string): Promise<void> {
    const { auth } = this.deps;
    const user = await auth.user(username);
    if (user && user.role === role && !user.disabled) return;
    // A password nobody knows: the account signs in only through its token.
    await auth.putUser({ username, name, role, department: null, staff: null, password: user ? undefined : randomBytes(24).toString('base64url'), disabled: false }, by);
  }
}
