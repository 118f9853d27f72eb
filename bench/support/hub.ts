/**
 * The hub under a benchmark, as its own process (support/hub-process.ts, exec'd by bash after
 * `ulimit -n 20000`, so the pid we hold is the hub's own and /proc/<pid>/status is its
 * memory), its broker (embedded, or a Mosquitto started for the run), its CPU and memory
 * figures. Ports are free ones; data goes to a temp dir removed at stop().
 */

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeviceConfig } from '../../firmware/core/config.js';
import type { Role } from '../../firmware/core/protocol.js';
import { hubMqttPassword } from '../../hub/devices/registry.js';
import { writeMosquittoFiles, NO_DEVICES } from '../../hub/mqtt/mosquitto.js';
import { freePort, startMosquitto, type RunningMosquitto } from '../../support/mosquitto.js';
import { HubProcess, REPO, type HubProcessOptions } from '../../support/hub-process.js';

export { REPO };
/**
 * Where the hub runs from: the working tree, or (SANNUO_BENCH_TREE, set by `bench/run.ts
 * --tree head`) a snapshot of the last commit, so edits in progress elsewhere do not break a run.
 */
export const HUB_TREE = process.env.SANNUO_BENCH_TREE || REPO;
export const OPEN_FILES = 20_000;
const CLOCK_TICKS = 100; // USER_HZ of /proc/<pid>/stat on Linux

export interface BenchHubOptions {
  /** 'embedded' (Aedes in the hub) or an external Mosquitto started for the run. */
  broker: 'embedded' | 'mosquitto';
  /** A postgres:// URL, or SQLite in the data dir. */
  db?: string;
  env?: Record<string, string>;
}

export interface MemoryFigures {
  /** Peak resident set (VmHWM), MiB. */
  peakMiB: number;
  /** Resident set now (VmRSS), MiB. */
  rssMiB: number;
}

/** VmHWM and VmRSS of a process from /proc/<pid>/status. */
export function processMemory(pid: number): MemoryFigures {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]);
  };
  return { peakMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
}

/**
 * A hub process as the benchmarks run it (support/hub-process.ts): from HUB_TREE, with
 * `ulimit -n OPEN_FILES`, log level error, and, from the environment, SANNUO_BENCH_PROFILE=<dir>
 * (a V8 CPU profile written there when the hub exits) and SANNUO_HUB_NODE_FLAGS (V8/Node flags
 * for the hub, e.g. a heap limit, as a deployment would set them).
 */
export function benchHubProcess(options: Omit<HubProcessOptions, 'tree' | 'openFiles' | 'nodeFlags'>): HubProcess {
  const profile = process.env.SANNUO_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SANNUO_BENCH_PROFILE}`] : [];
  const flags = (process.env.SANNUO_HUB_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  return new HubProcess({ ...options, env: { SANNUO_LOG_LEVEL: 'error', ...options.env }, tree: HUB_TREE, openFiles: OPEN_FILES, nodeFlags: [...profile, ...flags] });
}

export class BenchHub {
  private hubProcess: HubProcess | undefined;
  mosquitto: RunningMosquitto | undefined;
  readonly data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-bench-hub-'));
  mqttPort = 0;
  httpPort = 0;
  /** The hub's own MQTT identity: may publish and subscribe anywhere under the site. */
  hubUser = { username: '$hub', password: '' };
  site = 'site1';

  constructor(readonly options: BenchHubOptions) {}

  get mqttUrl(): string { return `mqtt://127.0.0.1:${this.mqttPort}`; }
  get http(): string { return `http://127.0.0.1:${this.httpPort}`; }

  async start(): Promise<void> {
    this.httpPort = await freePort();
    const env: Record<string, string> = {
      SANNUO_SITE: this.site,
      ...(this.options.db ? { SANNUO_DB: this.options.db } : {}),
      ...this.options.env,
    };
    let mqttPort: number | undefined;
    if (this.options.broker === 'embedded') {
      this.mqttPort = mqttPort = await freePort();
      // The hub's password on its own broker derives from its key (hub.key, 64 hex digits, read
      // by the hub at start); write the key first so the bench can log in as the hub too.
      const key = randomBytes(32);
      fs.writeFileSync(path.join(this.data, 'hub.key'), key.toString('hex') + '\n', { mode: 0o600 });
      this.hubUser.password = hubMqttPassword(new Uint8Array(key));
    } else {
      this.hubUser.password = randomBytes(16).toString('hex');
      const hubUser = this.hubUser;
      // Without use_username_as_clientid: bench/ingest.ts's raw relay connects many clients as the
      // hub user, which that option would have take over each other (and the hub's link).
      this.mosquitto = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: this.site, hub: hubUser }); }, { usernameAsClientId: false });
      this.mqttPort = this.mosquitto.port;
      env.SANNUO_BROKER = `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${this.mqttPort}`;
      env.SANNUO_MOSQUITTO_DIR = this.mosquitto.filesDir;
      env.SANNUO_MOSQUITTO_PID_FILE = this.mosquitto.pidFile;
    }
    // The bench sets up halls and provisions devices through the API like any automation: with a token.
    this.hubProcess = benchHubProcess({ data: this.data, httpPort: this.httpPort, mqttPort, token: this.token, env });
    await this.hubProcess.start(60_000);
  }

  pid(): number {
    const pid = this.hubProcess?.pid();
    if (!pid) throw new Error('hub is not running');
    return pid;
  }

  memory(): MemoryFigures {
    return processMemory(this.pid());
  }

  /** CPU seconds (user + system) the hub process has used so far: all its threads, and its main thread. */
  cpuSeconds(): { all: number; main: number } {
    const seconds = (stat: string) => {
      // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks.
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    };
    const pid = this.pid();
    return { all: seconds(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')), main: seconds(fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')) };
  }

  /** Sums of the hub's Prometheus series by name (all label sets added). */
  async metricSums(): Promise<Map<string, number>> {
    const text = await (await fetch(`${this.http}/metrics`)).text();
    const sums = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^([a-z_:]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (m) sums.set(m[1], (sums.get(m[1]) ?? 0) + Number(m[2]));
    }
    return sums;
  }

  log(): string {
    return this.hubProcess?.output ?? '';
  }

  running(): boolean {
    return this.hubProcess?.running ?? false;
  }

  /** The hub's start-up API token (SANNUO_API_TOKEN), made fresh for each bench hub. */
  readonly token = `sannuo_bench_${randomBytes(16).toString('hex')}`;

  async api<T = any>(method: string, pathname: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.http + pathname, {
      method, headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  provision(role: Role, win: string, id: string): Promise<DeviceConfig> {
    return this.api<DeviceConfig>('POST', '/api/devices', { role, win, id });
  }

  /** Provisions many devices, a few requests at a time; on Mosquitto waits for the reload. */
  async provisionMany(list: { role: Role; win: string; id: string }[], onDone?: (n: number) => void, parallel = 16): Promise<DeviceConfig[]> {
    const out: DeviceConfig[] = new Array(list.length);
    let next = 0;
    let done = 0;
    await Promise.all(Array.from({ length: Math.min(parallel, list.length) }, async () => {
      while (next < list.length) {
        const i = next++;
        out[i] = await this.provision(list[i].role, list[i].win, list[i].id);
        onDone?.(++done);
      }
    }));
    return out;
  }

  /** One department, item I1, windows with staff signed in, and `tickets` issued. */
  async setUpHall(windows: string[], tickets: number): Promise<void> {
    await this.api('PUT', '/api/queue/departments/D1', { name: '市场监管' });
    await this.api('PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 0 });
    for (const [i, win] of windows.entries()) {
      await this.api('PUT', `/api/queue/windows/${win}`, { name: `${i + 1}号窗口`, items: ['I1'] });
      await this.api('PUT', `/api/queue/staff/s${i + 1}`, { name: `staff ${i + 1}`, department: 'D1' });
      await this.api('POST', `/api/queue/windows/${win}/sign-in`, { staff: `s${i + 1}` });
    }
    for (let i = 0; i < tickets; i++) await this.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
  }

  /** SIGTERM (graceful: in-flight commits finish), then the broker, then the data dir. */
  async stop(keepData = false): Promise<void> {
    await this.hubProcess?.stop(30_000);
    await this.mosquitto?.stop();
    if (!keepData) fs.rmSync(this.data, { recursive: true, force: true });
  }

  removeData(): void {
    fs.rmSync(this.data, { recursive: true, force: true });
  }
}
