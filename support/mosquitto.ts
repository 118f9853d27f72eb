/**
 * Starts Debian's Mosquitto (/usr/sbin/mosquitto) for a test: a free port on 127.0.0.1,
 * allow_anonymous false, the password and ACL files the hub wrote, everything in a temp dir
 * the mosquitto user can read (Mosquitto started as root drops to that user). stop() kills it
 * and removes the dir.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mosquittoBrokerLines } from '../hub/mqtt/mosquitto.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface RunningMosquitto {
  port: number;
  url: string;
  dir: string;
  pidFile: string;
  /** Folder the hub writes passwd and acl into (settings mosquitto.dir). */
  filesDir: string;
  log(): string;
  /** SIGHUP: re-read password and ACL files. */
  reload(): void;
  /** A clean stop (its persistence saved), `downMs` of silence, and the same broker on the same port again. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `prepare(filesDir)` must write passwd and acl into filesDir before the broker starts (the
 * hub's writeMosquittoFiles does).
 */
export async function startMosquitto(prepare: (filesDir: string) => void | Promise<void>, options: { usernameAsClientId?: boolean; persistentSession?: boolean } = {}): Promise<RunningMosquitto> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-mosquitto-'));
  fs.chmodSync(dir, 0o755);
  const filesDir = path.join(dir, 'files');
  fs.mkdirSync(filesDir, { mode: 0o755 });
  await prepare(filesDir);
  const port = await freePort();
  const root = process.getuid?.() === 0;
  // Mosquitto writes its pid file after dropping to the mosquitto user, so that user owns this dir.
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(runDir, { mode: 0o755 });
  if (root) {
    const entry = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mosquitto:'));
    if (entry) fs.chownSync(runDir, Number(entry.split(':')[2]), Number(entry.split(':')[3]));
  }
  const pidFile = path.join(runDir, 'mosquitto.pid');
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    // What the hub needs of its broker, as deploy/mosquitto/mosquitto.conf has it (hub/mqtt/mosquitto.ts).
    ...mosquittoBrokerLines({ persistenceDir: runDir, autosaveSeconds: 1, persistentSession: options.persistentSession })
      .filter((l) => (options.usernameAsClientId ?? true) || l !== 'use_username_as_clientid true'),
    `password_file ${path.join(filesDir, 'passwd')}`,
    `acl_file ${path.join(filesDir, 'acl')}`,
    `pid_file ${pidFile}`,
    'log_dest stderr',
    'log_type error', 'log_type warning', 'log_type notice', 'log_type information',
    ...(root ? ['user mosquitto'] : []),
    '',
  ].join('\n'), { mode: 0o644 });
  let output = '';
  let child!: ChildProcess;
  let exited!: Promise<void>;
  const launch = async () => {
    child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => { output += d; });
    child.stderr!.on('data', (d) => { output += d; });
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await Promise.race([waitForPort(port), exited.then(() => { throw new Error(`mosquitto exited at start:\n${output}`); })]);
  };
  // A clean stop: SIGTERM, so Mosquitto saves its persistence file (sessions, queued messages).
  const halt = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await launch();
  } catch (error) {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port, url: `mqtt://127.0.0.1:${port}`, dir, pidFile, filesDir,
    log: () => output,
    reload: () => { child.kill('SIGHUP'); },
    restart: async (downMs = 0) => {
      await halt();
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: async () => {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
