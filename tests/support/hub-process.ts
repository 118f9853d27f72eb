/**
 * Runs the hub as its own process (node --import tsx hub/main.ts: one process, so SIGKILL
 * really kills the hub) on given ports with its own data dir; waits for /healthz; can
 * SIGKILL and restart it on the same ports and data. It starts with the test API token
 * (SANNUO_API_TOKEN), which json() sends.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { TEST_API_TOKEN } from './token.js';

export const REPO = path.resolve(__dirname, '..', '..');

export interface HubProcessOptions {
  data: string;
  mqttPort: number;
  httpPort: number;
  env?: Record<string, string>;
}

export class HubProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  output = '';

  constructor(readonly options: HubProcessOptions) {}

  get http(): string {
    return `http://127.0.0.1:${this.options.httpPort}`;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const { data, mqttPort, httpPort, env } = this.options;
    const child = spawn(process.execPath, ['--import', 'tsx', 'hub/main.ts'], {
      cwd: REPO,
      env: {
        ...process.env,
        SANNUO_DATA: data, SANNUO_MQTT_PORT: String(mqttPort), SANNUO_HTTP_PORT: String(httpPort),
        SANNUO_MQTT_HOST: '127.0.0.1', SANNUO_HTTP_HOST: '127.0.0.1', SANNUO_LOG_LEVEL: 'warn',
        SANNUO_API_TOKEN: TEST_API_TOKEN,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (d) => { this.output += d; });
    child.stderr!.on('data', (d) => { this.output += d; });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`hub exited with ${child.exitCode} while starting:\n${this.output}`);
      try {
        const res = await fetch(`${this.http}/healthz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`hub not healthy after ${timeoutMs} ms:\n${this.output}`);
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

  /** SIGTERM and wait for a graceful exit; returns the exit code. */
  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 20_000);
    const code = await this.exited!;
    clearTimeout(timer);
    return code;
  }

  /** A request with the test API token (unless init brings its own authorization header). */
  async json<T = any>(pathname: string, init?: RequestInit): Promise<T> {
    const res = await fetch(`${this.http}${pathname}`, { ...init, headers: { authorization: `Bearer ${TEST_API_TOKEN}`, ...(init?.headers as Record<string, string> | undefined) } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${pathname}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }
}
