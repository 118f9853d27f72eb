/**
 * Sign-in and roles for the 三诺 application.
 *
 * Users: supervisor (hall supervisor: everything, including setting up users), head (a
 * department's head: that department's register and figures), staff (window staff, bound to a
 * queue staff id: their own ratings and cases), technician (devices and the hub). Passwords are
 * scrypt hashes (node:crypto); sessions are random 256-bit tokens of which only the SHA-256 is
 * stored, so a copied database opens no session. A token travels as the HttpOnly, SameSite=Strict
 * cookie `sannuo_session` (the dashboard) or as `Authorization: Bearer <token>` (scripts).
 *
 * The routes (/api/auth/login, logout, me, password, users) are in auth-routes.ts; password
 * hashing in passwords.ts; the sign-in throttle's store in login-throttle.ts.
 *
 * Every protected route takes `onRequest: auth.requireRole(...)` (or preHandler): no valid session → 401, a
 * role not listed → 403, and the handler never runs, so nothing changes.
 *
 * Cross-site requests: a state-changing request (POST, PUT, PATCH, DELETE) that carries the
 * session cookie and no bearer token must come from the hub's own origin (Origin, or Referer
 * when a browser sends no Origin: settings publicUrl or the request's own scheme and Host);
 * otherwise 403 before the session is even looked up. SameSite=Strict alone does not stop a page
 * on another port of the same host, which is the same site. A bearer token is never sent by a
 * browser on its own, so scripts and kiosks are not affected.
 *
 * Sign-in throttling (@fastify/rate-limit, failures only): per address and user name, and per
 * address across names. At the fifth failure for a name (or the twentieth for an address,
 * each within 15 min of the one before) that address waits 1 min, and every further attempt
 * doubles the wait, up to 24 h (remembered for a day after the wait); the answer is 429 with
 * Retry-After. The right password clears the name's count for that address. Another address is not held back, so the right password still works
 * from any address that has not failed, and nobody can lock out the admin.
 */

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { Db, Migration } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import { AppError, num } from './http-util.js';
import { departmentExists, staffExists } from '../queue/lookup.js';
import { checkPassword, checkPasswordStrength, hashPassword } from './passwords.js';
import { authRoutes } from './auth-routes.js';

export { checkPassword, hashPassword } from './passwords.js';

/** kiosk: a ticket machine's service account (an API token only); it may issue priority tickets and nothing else. */
export type UserRole = 'supervisor' | 'head' | 'staff' | 'technician' | 'kiosk';
export const USER_ROLES: readonly UserRole[] = ['supervisor', 'head', 'staff', 'technician', 'kiosk'];

export interface User {
  username: string;
  name: string;
  role: UserRole;
  /** For a department head: the department (a department id of the queue's set-up). */
  department: string | null;
  /** For window staff: the queue's staff id. */
  staff: string | null;
  disabled: boolean;
}

export const SESSION_COOKIE = 'sannuo_session';
export const SESSION_TTL = 12 * 3600_000; // milliseconds: one working day and a bit
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const USERNAME = /^[A-Za-z0-9_.-]{1,32}$/;

export const authMigrations: Migration[] = [
  {
    id: 'app/001-auth',
    sql: () => `
      CREATE TABLE app_users (
        username TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        department TEXT,
        staff TEXT,
        hash TEXT NOT NULL,
        disabled BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE UNIQUE INDEX app_users_staff ON app_users (staff);
      CREATE TABLE app_sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX app_sessions_user ON app_sessions (username)`,
  },
];

function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

interface UserRow { username: string; name: string; role: string; department: string | null; staff: string | null; hash: string; disabled: number }
function userOut(r: UserRow): User {
  return { username: r.username, name: r.name, role: r.role as UserRole, department: r.department, staff: r.staff, disabled: num(r.disabled) === 1 };
}

/** Parses one cookie out of a Cookie header (RFC 6265 pairs). */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

const signedIn = new WeakMap<FastifyRequest, User>();
/** The user a requireRole preHandler found for this request. */
export function userOf(request: FastifyRequest): User {
  const u = signedIn.get(request);
  if (!u) throw new Error('userOf: no requireRole preHandler ran for this route');
  return u;
}

export interface AuthOptions {
  /** First supervisor, created at first start when there are no users (e.g. from SANNUO_ADMIN_USER / SANNUO_ADMIN_PASSWORD). */
  admin?: { username: string; password?: string };
  /** Where a generated first password is written (mode 0600) when none is given. */
  adminPasswordFile?: string;
  /**
   * The cookie's Secure flag (settings http.secureCookies): always, never, or auto (default):
   * when publicUrl is https or the request came over HTTPS (X-Forwarded-Proto counts only from
   * a proxy in settings http.trustProxy).
   */
  secureCookies?: 'auto' | 'always' | 'never';
  /** The hub's public base URL (settings publicUrl): its origin is the hub's own, beside the request's Host. */
  publicUrl?: string;
}

/** "scheme://host[:port]" of a URL, or null. */
function originOf(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
  } catch {
    return null;
  }
}

export class Auth {
  static migrations = authMigrations;

  constructor(private readonly deps: { db: Db; ledger: Ledger; now: () => number; log: Logger; hall: string; options: AuthOptions }) {}

  /**
   * At first start: if there is no user at all, creates the first supervisor. Its password comes
   * from options.admin.password, else a random one is generated and written to adminPasswordFile.
   */
  async bootstrap(): Promise<{ created: string | null; passwordFile: string | null }> {
    const { db, options, log } = this.deps;
    const any = await db.get('SELECT username FROM app_users LIMIT 1');
    if (any) return { created: null, passwordFile: null };
    const username = options.admin?.username || 'admin';
    if (!USERNAME.test(username)) throw new Error(`first supervisor: username "${username}" must match ${USERNAME}`);
    let password = options.admin?.password;
    let passwordFile: string | null = null;
    if (!password) {
      if (!options.adminPasswordFile) throw new Error('first supervisor: no password given (SANNUO_ADMIN_PASSWORD) and no file to write a generated one to');
      password = randomBytes(12).toString('base64url');
      passwordFile = options.adminPasswordFile;
      if (existsSync(passwordFile)) throw new Error(`first supervisor: ${passwordFile} exists but there are no users; remove it or set SANNUO_ADMIN_PASSWORD`);
      writeFileSync(passwordFile, `${username}\n${password}\n`, { mode: 0o600, flag: 'wx' });
    }
    checkPasswordStrength(password, 'SANNUO_ADMIN_PASSWORD');
    await this.putUser({ username, name: '管理员', role: 'supervisor', department: null, staff: null, password, disabled: false }, null);
    log.warn({ username, passwordFile }, passwordFile ? 'first supervisor created; its password is in the file (change it after signing in)' : 'first supervisor created');
    return { created: username, passwordFile };
  }

  async user(username: string): Promise<User | undefined> {
    const r = await this.deps.db.get<UserRow>('SELECT * FROM app_users WHERE username = $1', [username]);
    return r ? userOut(r) : undefined;
  }

  async users(): Promise<User[]> {
    return (await this.deps.db.all<UserRow>('SELECT * FROM app_users ORDER BY username')).map(userOut);
  }

  /** Creates or changes a user (supervisor only at the HTTP layer); recorded in the ledger without the hash. */
  async putUser(input: { username: string; name: string; role: UserRole; department: string | null; staff: string | null; password?: string; disabled: boolean }, by: string | null): Promise<User> {
    const { db, ledger, now } = this.deps;
    if (!USERNAME.test(input.username)) throw new AppError(400, `username: must match ${USERNAME}`, 'username');
    if (USER_ROLES.indexOf(input.role) < 0) throw new AppError(400, `role: must be one of ${USER_ROLES.join(', ')}`, 'role');
    if (input.role === 'head' && !input.department) throw new AppError(400, 'department: a department head needs a department', 'department');
    if (input.role === 'staff' && !input.staff) throw new AppError(400, 'staff: window staff need their staff id', 'staff');
    const department = input.role === 'head' ? input.department : null;
    const staff = input.role === 'staff' ? input.staff : null;
    const hash = input.password !== undefined ? await hashPassword(checkPasswordStrength(input.password, 'password')) : null;
    return db.tx(async (tx) => {
      if (department && !(await departmentExists(tx, department))) {
        throw new AppError(400, `department: ${department} is not set up in this hall`, 'department');
      }
      if (staff) {
        if (!(await staffExists(tx, staff))) throw new AppError(400, `staff: ${staff} is not registered in this hall`, 'staff');
        const other = await tx.get<{ username: string }>('SELECT username FROM app_users WHERE staff = $1 AND username <> $2', [staff, input.username]);
        if (other) throw new AppError(409, `staff: ${staff} is already bound to user ${other.username}`, 'staff');
      }
      const existing = await tx.get<UserRow>('SELECT * FROM app_users WHERE username = $1', [input.username]);
      if (!existing && !hash) throw new AppError(400, 'password: a new user needs a password', 'password');
      if (existing?.role === 'supervisor' && (input.role !== 'supervisor' || input.disabled)) {
        const n = await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM app_users WHERE role = 'supervisor' AND disabled = 0 AND username <> $1`, [input.username]);
        if (num(n?.n) === 0) throw new AppError(409, 'role: this is the last active supervisor; appoint another first', 'role');
      }
      const at = now();
      if (existing) {
        await tx.run(`UPDATE app_users SET name = $2, role = $3, department = $4, staff = $5, hash = COALESCE($6, hash), disabled = $7, updated_at = $8 WHERE username = $1`,
          [input.username, input.name, input.role, department, staff, hash, input.disabled ? 1 : 0, at]);
      } else {
        await tx.run(`INSERT INTO app_users (username, name, role, department, staff, hash, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
          [input.username, input.name, input.role, department, staff, hash, input.disabled ? 1 : 0, at]);
      }
      // A changed role or password ends the user's sessions.
      if (existing && (hash || input.disabled || existing.role !== input.role)) await tx.run('DELETE FROM app_sessions WHERE username = $1', [input.username]);
      await ledger.append(tx, [{ kind: 'user', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, action: existing ? 'change' : 'create', by, username: input.username, role: input.role, department, staff, disabled: input.disabled, password: hash ? 'set' : 'kept' } }]);
      return userOut((await tx.get<UserRow>('SELECT * FROM app_users WHERE username = $1', [input.username]))!);
    });
  }

  async login(username: string, password: string): Promise<{ token: string; user: User; expiresAt: number }> {
    const { db, now } = this.deps;
    const at = now();
    const r = await db.get<UserRow>('SELECT * FROM app_users WHERE username = $1', [username]);
    // Hash even for an unknown user so timing does not tell which names exist.
    const ok = r ? await checkPassword(password, r.hash) : (await hashPassword(password), false);
    // Throttling is per address, in the route (POST /api/auth/login), not per name here: a lock on the name would let anyone lock out the admin.
    if (!r || !ok || num(r.disabled) === 1) throw new AppError(401, 'username or password is wrong', 'password');
    const token = randomBytes(32).toString('base64url');
    const expiresAt = at + SESSION_TTL;
    await db.tx(async (tx) => {
      await tx.run('DELETE FROM app_sessions WHERE expires_at < $1', [at]);
      await tx.run('INSERT INTO app_sessions (token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)', [tokenHash(token), username, at, expiresAt]);
    });
    return { token, user: userOut(r), expiresAt };
  }

  async logout(token: string): Promise<void> {
    await this.deps.db.run('DELETE FROM app_sessions WHERE token_hash = $1', [tokenHash(token)]);
  }

  /** The user behind a token, if its session is live and the user enabled. */
  async session(token: string | null): Promise<User | undefined> {
    if (!token) return undefined;
    const r = await this.deps.db.get<UserRow & { expires_at: number }>(`SELECT u.*, s.expires_at FROM app_sessions s JOIN app_users u ON u.username = s.username
      WHERE s.token_hash = $1`, [tokenHash(token)]);
    if (!r || num(r.expires_at) < this.deps.now() || num(r.disabled) === 1) return undefined;
    return userOut(r);
  }

  tokenOf(request: FastifyRequest): string | null {
    const h = request.headers.authorization;
    if (typeof h === 'string' && /^Bearer\s+/i.test(h)) return h.replace(/^Bearer\s+/i, '').trim() || null;
    return readCookie(request.headers.cookie, SESSION_COOKIE);
  }

  /** Whether the request's credential is the session cookie (no bearer token): the one a browser sends by itself. */
  private byCookie(request: FastifyRequest): boolean {
    const h = request.headers.authorization;
    if (typeof h === 'string' && /^Bearer\s+\S/i.test(h)) return false;
    return readCookie(request.headers.cookie, SESSION_COOKIE) !== null;
  }

  /** The hub's own origins: its publicUrl's and the one the request was addressed to. */
  ownOrigins(request: FastifyRequest): string[] {
    const out = [`${request.protocol}://${request.host}`.toLowerCase()];
    const pub = originOf(this.deps.options.publicUrl);
    if (pub) out.push(pub);
    return out;
  }

  /**
   * Null when the request may change state, else why not: a cookie-authenticated POST, PUT, PATCH
   * or DELETE must name the hub's own origin in Origin (or, without Origin, in Referer).
   */
  crossSite(request: FastifyRequest, always = false): string | null {
    if (!STATE_CHANGING.has(request.method) || (!always && !this.byCookie(request))) return null;
    const origin = request.headers.origin;
    const referer = typeof request.headers.referer === 'string' ? request.headers.referer : undefined;
    // "null" (a sandboxed frame, a file) is foreign; a missing Origin falls back to Referer.
    const from = typeof origin === 'string' && origin !== '' ? (origin === 'null' ? 'null' : originOf(origin) ?? origin) : originOf(referer);
    if (from === null) {
      if (always) return null; // a sign-in from a script sends neither; only a foreign page is refused
      return 'this request carries the session cookie but neither Origin nor Referer; a browser sends them, a script should use Authorization: Bearer <token>';
    }
    const own = this.ownOrigins(request);
    if (own.includes(from.toLowerCase())) return null;
    return `origin ${from} is not this hub (${own.join(' or ')}): a signed-in browser may change things only from the hub's own pages`;
  }

  refuseCrossSite(request: FastifyRequest, reply: FastifyReply, why: string): FastifyReply {
    request.log.warn({ method: request.method, url: request.url.split('?')[0], origin: request.headers.origin ?? null, referer: request.headers.referer ?? null }, 'cross-site request refused');
    return reply.code(403).send({ error: 'forbidden', message: `cross-site request refused: ${why}`, field: 'headers.origin' });
  }

  /** A fastify preHandler: 401 without a live session, 403 for a role not listed (none listed: any signed-in user). */
  requireRole(...roles: UserRole[]): preHandlerAsyncHookHandler {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const why = this.crossSite(request);
      if (why) return this.refuseCrossSite(request, reply, why);
      const user = await this.session(this.tokenOf(request));
      if (!user) return reply.code(401).send({ error: 'unauthenticated', message: 'sign in first (POST /api/auth/login)', field: null });
      if (roles.length > 0 && roles.indexOf(user.role) < 0) {
        return reply.code(403).send({ error: 'forbidden', message: `this needs the role ${roles.join(' or ')}; you are ${user.role}`, field: null });
      }
      signedIn.set(request, user);
    };
  }

  /** Whether the session cookie gets the Secure flag for this request (settings http.secureCookies). */
  secureCookie(request: FastifyRequest): boolean {
    const mode = this.deps.options.secureCookies ?? 'auto';
    if (mode !== 'auto') return mode === 'always';
    return /^https:/i.test(this.deps.options.publicUrl ?? '') || request.protocol === 'https';
  }

  /** The Set-Cookie value of a session (maxAge 0: the cookie is cleared). */
  cookie(request: FastifyRequest, token: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${this.secureCookie(request) ? '; Secure' : ''}`;
  }

  /** The sign-in routes (hub/app/auth-routes.ts), in a scope of their own. */
  routes(parent: FastifyInstance): void {
    authRoutes(parent, this, this.deps.now);
  }

  /** Whether `password` is the user's current one. */
  async isPassword(username: string, password: string): Promise<boolean> {
    const row = await this.deps.db.get<UserRow>('SELECT * FROM app_users WHERE username = $1', [username]);
    return row !== undefined && (await checkPassword(password, row.hash));
  }
}
