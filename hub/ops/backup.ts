/**
 * Backup, restore and offline verification of a hub's data (the CLI's `sannuo backup`,
 * `sannuo restore`, `sannuo verify --offline`; cli/ops.ts).
 *
 * A backup is a folder (0700, files 0600):
 *   manifest.json     format, when, the hub's settings that matter (db kind, hall), every file's
 *                     SHA-256, and the ledger head each checkpoint covers
 *   sannuo.db         SQLite: an online copy through SQLite's backup API (a consistent snapshot,
 *                     taken while the hub runs), turned into a one-file database (journal DELETE)
 *   sannuo.pgdump     PostgreSQL: `pg_dump --format=custom` of the hub's database
 *   hub.key           the key that signs the checkpoints and seals the device secrets: without it
 *                     the restored hub can neither verify its chain nor open its devices' secrets
 *   checkpoint*.json  the signed ledger heads: the hub's, copied before the database (so the copy
 *                     holds at least every row they cover), checked against the copy, then
 *                     replaced by a checkpoint of the copy's own head, signed with the hub key
 * The backup holds the hub key: keep it as safe as the key itself.
 *
 * Restore checks everything before it replaces anything: the manifest's hashes, then every
 * hall's chain in the backup against the backup's signed checkpoint (SQLite: the backup's file,
 * opened read-only; PostgreSQL: the dump restored into a scratch database, then dropped). Only then are the data folder's
 * files moved aside (to <data>/pre-restore-<time>/, nothing deleted) and the backup's put in
 * their place. A running hub is refused: the hub must be stopped first.
 */

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Database, bindAll, placeholders, rewritePlaceholders, type RawDatabase } from '../db/sqlite-connection.js';
import type { Db, Row, SqlValue } from '../db/db.js';
import pg from 'pg';
import { openPostgres } from '../db/postgres.js';
import { hallDbUrl } from '../district/lease.js';
import { Ledger, type VerifyReport } from '../ledger/ledger.js';
import { loadHubKey } from '../host.js';
import { dataPath, type Settings } from '../settings.js';

const run = promisify(execFile);

export const BACKUP_FORMAT = 'sannuo-backup/1';
const DB_FILE = 'sannuo.db';
const PG_FILE = 'sannuo.pgdump';
const KEY_FILE = 'hub.key';
const MANIFEST = 'manifest.json';
/** Other files of the data folder a restored hub needs (the checkpoints are found by name). */
const EXTRA_FILES = ['admin-password.txt'];

export class OpsError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'OpsError';
  }
}

export interface HallVerify { hall: string; checkpointFile: string; report: VerifyReport }
export interface Manifest {
  format: string;
  at: string;
  db: 'sqlite' | 'postgres';
  hall: string;
  files: Record<string, string>;
  halls: { hall: string; rows: number; checkpointRow: number }[];
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function isCheckpointName(name: string): boolean {
  return /^checkpoint(-[A-Za-z0-9_-]+)?\.json$/.test(name);
}

function copyPrivate(from: string, to: string): void {
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o600);
}

function fsyncPath(file: string): void {
  const fd = fs.openSync(file, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** The hall a checkpoint file names (verify then checks its signature). */
function hallOfCheckpoint(file: string): string {
  try {
    const hall = (JSON.parse(fs.readFileSync(file, 'utf8')) as { hall?: unknown }).hall;
    if (typeof hall === 'string' && hall) return hall;
  } catch {
    // reported below as malformed
  }
  throw new OpsError(`${file}: not a sannuo checkpoint (no hall named in it)`);
}

/**
 * The Db seam over one read-only SQLite connection: enough for Ledger.verify (reads only), so a
 * backup or a stopped hub's files are checked without the hub's writer, its WAL fsync thread,
 * or any change to them.
 */
export class ReadOnlySqlite implements Db {
  readonly dialect = 'sqlite' as const;
  constructor(private readonly raw: RawDatabase) {}

  static open(file: string): ReadOnlySqlite {
    if (!fs.existsSync(file)) throw new OpsError(`${file}: no such database file`);
    try {
      return new ReadOnlySqlite(new Database(file, { readonly: true, fileMustExist: true }));
    } catch (error) {
      throw new OpsError(`${file}: cannot open it read-only: ${(error as Error).message}`);
    }
  }

  private prepare(sql: string, params: readonly SqlValue[]) {
    const rewritten = rewritePlaceholders(sql);
    return { stmt: this.raw.prepare(rewritten.sql), bound: bindAll(sql, placeholders(rewritten.order), params) };
  }
  async all<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const { stmt, bound } = this.prepare(sql, params);
    return stmt.all(bound) as T[];
  }
  async get<T extends object = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  async *iterate<T extends object = Row>(sql: string, params: readonly SqlValue[], pageSize: number): AsyncIterable<T[]> {
    const { stmt, bound } = this.prepare(sql, params);
    let page: T[] = [];
    for (const row of stmt.iterate(bound) as IterableIterator<T>) {
      page.push(row);
      if (page.length === pageSize) { yield page; page = []; }
    }
    if (page.length) yield page;
  }
  async run(): Promise<{ changes: number }> { throw new Error('read-only: verification never writes'); }
  async exec(): Promise<void> { throw new Error('read-only: verification never writes'); }
  async tx<T>(): Promise<T> { throw new Error('read-only: verification never writes'); }
  async close(): Promise<void> { this.raw.close(); }
}

/** Verifies every hall's chain of one SQLite file against the checkpoint files in `dir`. */
export async function verifySqliteFiles(dbFile: string, dir: string, hubKey: Uint8Array): Promise<HallVerify[]> {
  const checkpoints = fs.readdirSync(dir).filter(isCheckpointName).sort();
  if (!checkpoints.length) throw new OpsError(`${dir}: no checkpoint.json: nothing to check the chain's end against (a hub writes one when it starts)`);
  const db = ReadOnlySqlite.open(dbFile);
  try {
    const out: HallVerify[] = [];
    for (const name of checkpoints) {
      const checkpointFile = path.join(dir, name);
      const hall = hallOfCheckpoint(checkpointFile);
      const ledger = new Ledger(db, { hall, hubKey, checkpointFile });
      out.push({ hall, checkpointFile, report: await ledger.verify() });
    }
    return out;
  } finally {
    await db.close();
  }
}

function readKey(file: string): Uint8Array {
  if (!fs.existsSync(file)) throw new OpsError(`${file}: the hub key is missing; without it no checkpoint can be checked`);
  try {
    return loadHubKey(file);
  } catch (error) {
    throw new OpsError((error as Error).message);
  }
}

// ------------------------------------------------------------------ backup

/**
 * Takes a backup of the hub described by `settings` into `out` (a new or empty folder), while
 * the hub runs or not, and checks the copy's chain before it reports success.
 */
export async function takeBackup(settings: Settings, out: string, now = new Date()): Promise<{ manifest: Manifest; verified: HallVerify[] }> {
  const data = path.resolve(settings.data);
  const keyFile = dataPath(settings, KEY_FILE);
  if (!fs.existsSync(keyFile)) throw new OpsError(`${keyFile}: no hub key in the data folder ${data}; is settings data right (--config, SANNUO_DATA)?`, 2);
  if (fs.existsSync(out) && fs.readdirSync(out).length) throw new OpsError(`${out}: already exists and is not empty; name a new folder`, 2);
  fs.mkdirSync(out, { recursive: true, mode: 0o700 });
  fs.chmodSync(out, 0o700);
  const checkpoints = fs.readdirSync(data).filter(isCheckpointName);
  if (!checkpoints.length) throw new OpsError(`${data}: no checkpoint.json; start the hub once (it writes one) before backing it up`, 2);
  // Key and checkpoints first: the database copied after them holds every row they cover.
  copyPrivate(keyFile, path.join(out, KEY_FILE));
  for (const name of [...checkpoints, ...EXTRA_FILES.filter((f) => fs.existsSync(path.join(data, f)))]) copyPrivate(path.join(data, name), path.join(out, name));

  if (settings.db === 'sqlite') {
    const source = dataPath(settings, DB_FILE);
    if (!fs.existsSync(source)) throw new OpsError(`${source}: no database in the data folder`, 2);
    const target = path.join(out, DB_FILE);
    const conn = new Database(source, { readonly: true, fileMustExist: true }) as RawDatabase & { backup(file: string, options?: { progress?: () => number }): Promise<unknown> };
    try {
      // All pages in one step: one consistent snapshot, which another connection's commits
      // (the hub's) cannot restart, as they would between smaller steps.
      await conn.backup(target, { progress: () => 0x7fffffff });
    } finally {
      conn.close();
    }
    // A single self-contained file: no -wal beside it to lose when it is copied elsewhere.
    const copy = new Database(target) as RawDatabase & { pragma(text: string): unknown };
    try { copy.pragma('journal_mode = DELETE'); } finally { copy.close(); }
    fs.chmodSync(target, 0o600);
    fsyncPath(target);
  } else {
    const target = path.join(out, PG_FILE);
    await pgTool('pg_dump', ['--format=custom', '--no-owner', `--file=${target}`, `--dbname=${settings.db}`]);
    fs.chmodSync(target, 0o600);
  }

  const key = readKey(path.join(out, KEY_FILE));
  // First against the hub's own checkpoints: the copy extends what the hub signed.
  let verified = settings.db === 'sqlite'
    ? await verifySqliteFiles(path.join(out, DB_FILE), out, key)
    : await verifyPgDump(path.join(out, PG_FILE), out, key, settings.db, true);
  const bad = verified.find((v) => !v.report.ok);
  if (bad) throw new OpsError(`backup in ${out} does not verify: hall ${bad.hall}: ${bad.report.problem}; the hub's own chain may be damaged: run sannuo verify`);
  if (settings.db === 'sqlite') {
    // Then the copy's own head is signed with the hub key, so that its newest rows are anchored
    // too (the hub's checkpoint may be minutes old) and restore can tell if any go missing.
    const db = ReadOnlySqlite.open(path.join(out, DB_FILE));
    try {
      for (const v of verified) await new Ledger(db, { hall: v.hall, hubKey: key, checkpointFile: v.checkpointFile, now: () => now.getTime() }).checkpoint();
    } finally {
      await db.close();
    }
    verified = await verifySqliteFiles(path.join(out, DB_FILE), out, key);
  }
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(out).sort()) files[name] = sha256File(path.join(out, name));
  const manifest: Manifest = {
    format: BACKUP_FORMAT, at: now.toISOString(), db: settings.db === 'sqlite' ? 'sqlite' : 'postgres', hall: settings.hall, files,
    halls: verified.map((v) => ({ hall: v.hall, rows: v.report.rows, checkpointRow: v.report.checkpoint?.row ?? 0 })),
  };
  fs.writeFileSync(path.join(out, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  fsyncPath(path.join(out, MANIFEST));
  fsyncPath(out);
  return { manifest, verified };
}

// ------------------------------------------------------------------ checking a backup

/** Reads a backup's manifest and checks every file's hash; names the first problem. */
export function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  } catch (error) {
    throw new OpsError(`${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing: not a sannuo backup folder' : `not JSON (${(error as Error).message})`}`, 2);
  }
  if (manifest.format !== BACKUP_FORMAT) throw new OpsError(`${file}: format ${JSON.stringify(manifest.format)}, expected ${BACKUP_FORMAT}`, 2);
  for (const [name, hash] of Object.entries(manifest.files ?? {})) {
    const f = path.join(dir, name);
    if (!fs.existsSync(f)) throw new OpsError(`${dir}: ${name} is listed in the manifest but missing`);
    if (sha256File(f) !== hash) throw new OpsError(`${dir}: ${name} does not match its SHA-256 in the manifest (changed or damaged since the backup)`);
  }
  if (!manifest.files?.[KEY_FILE]) throw new OpsError(`${dir}: the backup has no hub key`);
  return manifest;
}

/** Checks a backup folder whole: hashes, then every hall's chain against its checkpoint. */
export async function verifyBackup(dir: string, scratchPgUrl?: string): Promise<{ manifest: Manifest; verified: HallVerify[] }> {
  const manifest = readManifest(dir);
  const key = readKey(path.join(dir, KEY_FILE));
  if (manifest.db === 'sqlite') return { manifest, verified: await verifySqliteFiles(path.join(dir, DB_FILE), dir, key) };
  if (!scratchPgUrl) throw new OpsError('a PostgreSQL backup is checked by restoring it into a scratch database: give the server with --db <postgres://…> (the database named there is not touched)', 2);
  return { manifest, verified: await verifyPgDump(path.join(dir, PG_FILE), dir, key, scratchPgUrl) };
}

/** Verifies a data folder of a stopped (or running) SQLite hub in place, read-only. */
export async function verifyDataFolder(settings: Settings): Promise<HallVerify[]> {
  if (settings.db !== 'sqlite') throw new OpsError('verify --offline reads SQLite files; for PostgreSQL run `sannuo verify` against the hub, or `sannuo backup` then `sannuo verify --offline <backup> --db <url>`', 2);
  const data = path.resolve(settings.data);
  return verifySqliteFiles(dataPath(settings, DB_FILE), data, readKey(dataPath(settings, KEY_FILE)));
}

// ------------------------------------------------------------------ PostgreSQL

async function pgTool(tool: string, args: string[]): Promise<void> {
  try {
    await run(tool, args, { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new OpsError(`${tool} is not installed: apt-get install postgresql-client (the same major version as the server)`);
    throw new OpsError(`${tool} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Restores a dump into a scratch database beside `serverUrl`'s, verifies every hall there, and drops it. */
async function verifyPgDump(dump: string, dir: string, hubKey: Uint8Array, serverUrl: string, signHead = false): Promise<HallVerify[]> {
  const scratch = `sannuo_check_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${scratch}`);
    try {
      const url = withDatabase(serverUrl, scratch);
      await pgTool('pg_restore', ['--no-owner', `--dbname=${url}`, dump]);
      const out: HallVerify[] = [];
      for (const name of fs.readdirSync(dir).filter(isCheckpointName).sort()) {
        const checkpointFile = path.join(dir, name);
        const hall = hallOfCheckpoint(checkpointFile);
        // A district's hall lives in its own schema (checkpoint-<hall>.json); one hall in public.
        const db = await openPostgres(name === 'checkpoint.json' ? url : hallDbUrl(url, hall, 60_000));
        try {
          const ledger = new Ledger(db, { hall, hubKey, checkpointFile });
          let report = await ledger.verify();
          // As for SQLite: the dump's own head, signed, anchors its newest rows.
          if (report.ok && signHead) {
            await ledger.checkpoint();
            report = await ledger.verify();
          }
          out.push({ hall, checkpointFile, report });
        } finally {
          await db.close();
        }
      }
      return out;
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

// ------------------------------------------------------------------ restore

/** Whether something answers on the hub's HTTP port (a running hub must not have its files replaced). */
async function hubAnswers(settings: Settings): Promise<boolean> {
  if (!settings.http.port) return false;
  const host = settings.http.host === '0.0.0.0' || settings.http.host === '::' ? '127.0.0.1' : settings.http.host;
  try {
    const res = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${settings.http.port}/livez`, { signal: AbortSignal.timeout(1500) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

export interface RestoreResult { manifest: Manifest; verified: HallVerify[]; movedAside: string | null }

/**
 * Restores the backup in `from` over the hub described by `settings`: checks it whole first,
 * refuses while the hub answers, moves the current files aside, then puts the backup's in place.
 */
export async function restoreBackup(settings: Settings, from: string, now = new Date()): Promise<RestoreResult> {
  const { manifest, verified } = await verifyBackup(from, settings.db === 'sqlite' ? undefined : settings.db);
  const bad = verified.find((v) => !v.report.ok);
  if (bad) throw new OpsError(`the backup does not verify, nothing was replaced: hall ${bad.hall}: ${bad.report.problem}`);
  if (manifest.db !== (settings.db === 'sqlite' ? 'sqlite' : 'postgres')) {
    throw new OpsError(`the backup is of a ${manifest.db} hub, but settings db is ${settings.db === 'sqlite' ? 'sqlite' : 'a postgres:// URL'}; nothing was replaced`, 2);
  }
  if (await hubAnswers(settings)) throw new OpsError(`a hub answers on port ${settings.http.port}: stop it first (systemctl stop sannuo); nothing was replaced`);

  const data = path.resolve(settings.data);
  fs.mkdirSync(data, { recursive: true, mode: 0o700 });
  fs.chmodSync(data, 0o700);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const aside = path.join(data, `pre-restore-${stamp}`);
  const present = fs.readdirSync(data).filter((n) => n === KEY_FILE || isCheckpointName(n) || EXTRA_FILES.includes(n) || n === DB_FILE || n === `${DB_FILE}-wal` || n === `${DB_FILE}-shm`);
  let movedAside: string | null = null;
  if (present.length) {
    fs.mkdirSync(aside, { mode: 0o700 });
    // The old -wal and -shm go too: left beside the restored file, SQLite would replay them into it.
    for (const name of present) fs.renameSync(path.join(data, name), path.join(aside, name));
    movedAside = aside;
  }
  const names = Object.keys(manifest.files).filter((n) => n !== DB_FILE && n !== PG_FILE);
  if (manifest.db === 'sqlite') {
    const tmp = path.join(data, `${DB_FILE}.restore.tmp`);
    copyPrivate(path.join(from, DB_FILE), tmp);
    fsyncPath(tmp);
    fs.renameSync(tmp, path.join(data, DB_FILE));
  } else {
    await pgTool('pg_restore', ['--clean', '--if-exists', '--no-owner', `--dbname=${settings.db}`, path.join(from, PG_FILE)]);
  }
  for (const name of names) copyPrivate(path.join(from, name), path.join(data, name));
  fsyncPath(data);
  return { manifest, verified, movedAside };
}

