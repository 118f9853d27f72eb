/**
 * Starts a real, throwaway PostgreSQL 15 cluster for a test run: initdb in a temp dir, the
 * server on a free localhost port with its unix socket in that dir, trust auth. initdb refuses
 * to run as root, so under root both run as the `postgres` user (runuser) in a dir it owns.
 *
 *   const pg = await startPostgres();
 *   const url = await pg.createDatabase();   // a fresh database per suite (or per test)
 *   ...
 *   await pg.stop();                          // fast shutdown, dir removed
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  /** URL of the maintenance database `postgres`. */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

const PG_BIN = process.env.SANNUO_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const START_TIMEOUT = 60_000; // ms: initdb plus start-up on a loaded 2-core machine
let databases = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function startPostgres(): Promise<PostgresServer> {
  for (const tool of ['initdb', 'postgres', 'pg_ctl']) {
    if (!existsSync(path.join(PG_BIN, tool))) {
      throw new Error(`PostgreSQL binaries not found: ${path.join(PG_BIN, tool)} is missing. `
        + 'Install PostgreSQL 15 (Debian: apt-get install postgresql-15) or set SANNUO_PG_BIN to its bin directory.');
    }
  }
  const asRoot = process.getuid?.() === 0;
  let uid = -1;
  let gid = -1;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gidOut = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) throw new Error('running as root, but there is no `postgres` user to run initdb and postgres as (initdb refuses root)');
    uid = Number(id.stdout.trim());
    gid = Number(gidOut.stdout.trim());
  }
  // Runs a PostgreSQL binary as the postgres user when we are root, as ourselves otherwise.
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(PG_BIN, tool), ...args]] : [path.join(PG_BIN, tool), args];

  const dir = mkdtempSync(path.join(os.tmpdir(), 'sannuo-pg-'));
  const data = path.join(dir, 'data');
  chmodSync(dir, 0o700);
  if (asRoot) chownSync(dir, uid, gid);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  // Under root the child is runuser, whose death would orphan the postmaster: stop it by pg_ctl.
  const halt = (mode: 'fast' | 'immediate') => {
    const [cmd, args] = command('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '30']);
    return spawnSync(cmd, args, { encoding: 'utf8', timeout: 40_000 }).status === 0;
  };

  const [initCmd, initArgs] = command('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', timeout: START_TIMEOUT });
  if (init.status !== 0) {
    cleanup();
    throw new Error(`initdb failed (exit ${init.status ?? init.signal}): ${init.error?.message ?? ''}\n${init.stderr}\n${init.stdout}`);
  }

  // A free port can be taken between probing and binding; then start again on another.
  let child: ChildProcess | null = null;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const [cmd, args] = command('postgres', [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
      // Test clusters are thrown away, so skip fsync; durability is not what these tests measure.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'max_connections=200', '-c', `logging_collector=off`,
    ]);
    const output: string[] = [];
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
    proc.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
    let exited: string | null = null;
    proc.on('exit', (code, signal) => { exited = `exit ${code ?? signal}`; });
    proc.on('error', (error) => { exited = error.message; });
    const deadline = Date.now() + START_TIMEOUT;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      const probe = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
      try {
        await probe.connect();
        await probe.query('SELECT 1');
        ready = true;
      } catch {
        // not accepting connections yet
      } finally {
        await probe.end().catch(() => {});
      }
      if (ready) break;
      await sleep(200);
    }
    if (ready) {
      child = proc;
      break;
    }
    halt('immediate');
    proc.kill('SIGKILL');
    const log = output.join('');
    if (attempt < 3 && /could not bind|Address already in use/i.test(log)) continue;
    cleanup();
    throw new Error(`PostgreSQL did not start on port ${port} (${exited ?? 'timed out'}):\n${log}`);
  }

  const server = child;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  // If the test process exits without stop(), do not leave a server running.
  const onExit = () => { if (!stopped) { halt('immediate'); cleanup(); } };
  process.once('exit', onExit);
  return {
    url,
    port,
    dir,
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `t_${process.pid}_${++databases}_${Date.now().toString(36)}`;
      if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`database name ${JSON.stringify(db)} must be a lower-case identifier`);
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${db}`);
      } finally {
        await admin.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      const exit = new Promise<void>((resolve) => {
        if (server.exitCode !== null || server.signalCode !== null) resolve();
        else server.once('exit', () => resolve());
      });
      process.removeListener('exit', onExit);
      // Fast shutdown: disconnect clients, stop cleanly. pg_ctl waits for the postmaster to exit.
      if (!halt('fast') && !halt('immediate')) server.kill('SIGKILL');
      const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
      cleanup();
    },
  };
}
