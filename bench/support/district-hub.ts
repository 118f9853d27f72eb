/** A district for bench/two-hubs.ts: what its hubs share, and one district hub as its own process. */

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PostgresServer } from '../../support/postgres.js';
import { freePort, type RunningMosquitto } from '../../support/mosquitto.js';
import type { HubProcess } from '../../support/hub-process.js';
import { benchHubProcess } from './hub.js';

export const LEASE = { ttl: 6, renew: 2, poll: 500 }; // short, so halls spread within seconds of start

/** The shared parts of the district: PostgreSQL, Mosquitto, the one hub key, a temp root. */
export interface Shared {
  pg: PostgresServer;
  broker: RunningMosquitto;
  hubUser: { username: string; password: string };
  hubKey: string;
  root: string;
  /** For CPU accounting: PostgreSQL's postmaster (its backends are its children) and Mosquitto. */
  postmaster: number;
  mosquittoPid: number;
}

/** One district hub as its own process (bench/support/hub.ts benchHubProcess). */
export class DistrictHub {
  private hub: HubProcess | undefined;
  httpPort = 0;
  readonly token = `sannuo_bench_${randomBytes(16).toString('hex')}`;

  constructor(readonly id: string, private readonly shared: Shared, private readonly dbUrl: string, private readonly halls: string[]) {}

  get http(): string { return `http://127.0.0.1:${this.httpPort}`; }

  async start(): Promise<void> {
    const data = path.join(this.shared.root, this.id);
    fs.mkdirSync(data, { recursive: true });
    // A district's hubs share one key: a hall's checkpoint signed by one verifies on the next.
    fs.writeFileSync(path.join(data, 'hub.key'), this.shared.hubKey + '\n', { mode: 0o600 });
    this.httpPort = await freePort();
    const { broker, hubUser } = this.shared;
    const env: Record<string, string> = {
      SANNUO_DB: this.dbUrl,
      SANNUO_BROKER: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${broker.port}`,
      SANNUO_MOSQUITTO_DIR: broker.filesDir, SANNUO_MOSQUITTO_PID_FILE: broker.pidFile,
      SANNUO_CLUSTER_HALLS: '*', SANNUO_CLUSTER_REGISTER: this.halls.join(','), SANNUO_CLUSTER_HUB_ID: this.id,
      SANNUO_CLUSTER_LEASE_TTL: String(LEASE.ttl), SANNUO_CLUSTER_RENEW_INTERVAL: String(LEASE.renew), SANNUO_CLUSTER_POLL_INTERVAL: String(LEASE.poll),
    };
    this.hub = benchHubProcess({ data, httpPort: this.httpPort, mqttPort: await freePort(), token: this.token, env, label: `hub ${this.id}` });
    await this.hub.start(60_000);
  }

  pid(): number {
    const pid = this.hub?.pid();
    if (!pid) throw new Error(`hub ${this.id} is not running`);
    return pid;
  }

  async api<T = any>(method: string, pathname: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.http + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`hub ${this.id}: ${method} ${pathname}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** SIGTERM (the hub drains, checkpoints and releases its halls), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    await this.hub?.stop(30_000);
  }
}

export interface Lease { hall: string; holder: string | null; epoch: number; expires: number; now: number }
