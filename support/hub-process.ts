/**
 * The hub as its own process (node --import tsx hub/main.ts; exec'd by bash after `ulimit -n`
 * when openFiles is set, so the pid held is still the hub's own and SIGKILL really kills it
 * and /proc/<pid>/status is its memory). Given ports and a data dir, it waits for /healthz; it
 * can SIGKILL and restart on the same ports and data. It starts with an API token
 * (SANNUO_API_TOKEN: the test token unless `token` says otherwise), which json() sends.
 * Used by the tests and the benchmarks alike; the in-process hub is support/hub.ts.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_API_TOKEN } from './token.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KEEP_OUTPUT = 256 * 1024; // characters of the hub's log kept for error messages

export interface HubProcessOptions {
  data: string;
  /** The embedded broker's port; unset when the hub uses an external broker (SANNUO_BROKER in env) and needs none. */
  mqttPort?: number;
  httpPort: number;
  /** SANNUO_* settings over the defaults here (log level warn, hosts 127.0.0.1, the token). */
  env?: Record<string, string>;
  /** The hub's start-up API token. */
  token?: string;
  /** Where hub/main.ts is run from (default: this tree). */
  tree?: string;
  /** `ulimit -n` for the hub (a reconnect storm needs many sockets). */
  openFiles?: number;
  /** Node flags for the hub (e.g. --cpu-prof, a heap limit), as a deployment would set them. */
  nodeFlags?: string[];
  /** Names the hub in errors. */
  label?: string;
}

export class HubProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  /** The hub's log (its last KEEP_OUTPUT characters). */
  output = '';

  constructor(readonly options: HubProcessOptions) {}

  get http(): string {
    return `http://127.0.0.1:${this.options.httpPort}`;
  }

  get token(): string {
    return this.options.token ?? TEST_API_TOKEN;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process without waiting for it to be healthy (see start). */
  spawn(): void {
    const { data, mqttPort, httpPort, env, tree, openFiles, nodeFlags } = this.options;
    const args = [...(nodeFlags ?? []), '--import', 'tsx', 'hub/main.ts'];
    const quoted = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const [command, argv] = openFiles
      ? ['bash', ['-c', `ulimit -n ${openFiles} && exec ${[process.execPath, ...args].map(quoted).join(' ')}`]]
      : [process.execPath, args];
    const child = spawn(command, argv, {
      cwd: tree ?? REPO,
      env: {
        ...process.env,
        SANNUO_DATA: data, SANNUO_HTTP_PORT: String(httpPort), ...(mqttPort ? { SANNUO_MQTT_PORT: String(mqttPort) } : {}),
        SANNUO_MQTT_HOST: '127.0.0.1', SANNUO_HTTP_HOST: '127.0.0.1', SANNUO_LOG_LEVEL: 'warn',
        SANNUO_API_TOKEN: this.token, SANNUO_DISCOVERY_MDNS: 'false',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (d: Buffer) => { this.output = (this.output + d.toString()).slice(-KEEP_OUTPUT); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts the process and waits until /healthz answers 200. */
  async start(timeoutMs = 30_000): Promise<void> {
    this.spawn();
    const child = this.child!;
    const label = this.options.label ?? 'hub';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${label} exited with ${child.exitCode ?? child.signalCode} while starting:\n${this.output}`);
      try {
        const res = await fetch(`${this.http}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${label} not healthy after ${timeoutMs} ms:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: no shutdown code runs. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait for a graceful exit (SIGKILL after `graceMs`); returns the exit code. */
  async stop(graceMs = 20_000): Promise<number | null> {
    if (!this.child || !this.running) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    const code = await this.exited!;
    clearTimeout(timer);
    return code;
  }

  /** A request with the start-up API token (unless init brings its own authorization header). */
  async json<T = any>(pathname: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${this.http}${pathname}`, { ...init, headers: { authorization: `Bearer ${this.token}`, ...(init?.headers as Record<string, string> | undefined) } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${pathname}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }
}
