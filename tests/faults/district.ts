/**
 * A district for fault tests: one PostgreSQL, one Mosquitto, hubs each in its own process
 * (sharing one hub key, as a district's hubs do), and MQTT.js devices that keep an outbox and
 * resend until acked. Helpers to restart the broker and the database in place.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HubProcess } from '../../support/hub-process.js';
import { bearer } from '../../support/token.js';
import { MOSQUITTO, freePort, startMosquitto, waitForPort, type RunningMosquitto } from '../../support/mosquitto.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import { writeMosquittoFiles, NO_DEVICES } from '../../hub/mqtt/mosquitto.js';
import { FakeDevice } from '../../support/device.js';
import type { DeviceConfig } from '../../firmware/core/config.js';
import type { EventBodies, EventType } from '../../firmware/core/protocol.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface HallLease { hall: string; holder: string | null; epoch: number; expires: number; now: number }

export class District {
  pg!: PostgresServer;
  dbUrl = '';
  broker!: RunningMosquitto;
  readonly hubs = new Map<string, HubProcess>();
  readonly hubUser = { username: '$hub', password: randomBytes(16).toString('hex') };
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-district-'));
  private readonly hubKey = randomBytes(32).toString('hex');
  private brokerChild: ChildProcess | undefined;

  constructor(readonly halls: string[], readonly lease = { ttl: 4, renew: 1, poll: 300 }) {}

  async start(hubIds: string[]): Promise<void> {
    this.pg = await startPostgres();
    this.dbUrl = await this.pg.createDatabase();
    this.broker = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'none', hub: this.hubUser }); });
    for (const id of hubIds) await this.addHub(id);
    await Promise.all(hubIds.map((id) => this.startHub(id)));
  }

  /** Starts a hub; a port taken meanwhile by someone else gets the hub new ports. */
  async startHub(id: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.hub(id).start(60_000);
        return;
      } catch (error) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String(error))) throw error;
        await this.hub(id).kill().catch(() => undefined);
        this.hub(id).options.httpPort = await this.port();
        this.hub(id).options.mqttPort = await this.port();
      }
    }
  }

  private readonly ports = new Set<number>();
  /** A free port not yet given to any part of this district. */
  private async port(): Promise<number> {
    for (;;) {
      const p = await freePort();
      if (!this.ports.has(p) && p !== this.broker?.port && p !== this.pg?.port) {
        this.ports.add(p);
        return p;
      }
    }
  }

  async addHub(id: string): Promise<HubProcess> {
    const data = path.join(this.root, id);
    fs.mkdirSync(data, { recursive: true });
    // The hubs of a district share one key: checkpoints signed by one verify on another.
    fs.writeFileSync(path.join(data, 'hub.key'), this.hubKey + '\n', { mode: 0o600 });
    const hub = new HubProcess({
      data, mqttPort: await this.port(), httpPort: await this.port(),
      env: {
        SANNUO_DB: this.dbUrl,
        SANNUO_BROKER: `mqtt://${encodeURIComponent(this.hubUser.username)}:${this.hubUser.password}@127.0.0.1:${this.broker.port}`,
        SANNUO_CLUSTER_HALLS: '*', SANNUO_CLUSTER_REGISTER: this.halls.join(','), SANNUO_CLUSTER_HUB_ID: id,
        SANNUO_CLUSTER_LEASE_TTL: String(this.lease.ttl), SANNUO_CLUSTER_RENEW_INTERVAL: String(this.lease.renew), SANNUO_CLUSTER_POLL_INTERVAL: String(this.lease.poll),
        SANNUO_MOSQUITTO_DIR: this.broker.filesDir, SANNUO_MOSQUITTO_PID_FILE: this.broker.pidFile,
        SANNUO_LEDGER_CHECKPOINT_INTERVAL: '5',
      },
    });
    this.hubs.set(id, hub);
    return hub;
  }

  hub(id: string): HubProcess {
    return this.hubs.get(id)!;
  }

  /** The lease table, as any live hub reports it. */
  async leases(): Promise<HallLease[]> {
    for (const hub of this.hubs.values()) {
      try {
        return (await hub.json<{ leases: HallLease[] }>('/api/halls')).leases;
      } catch {
        // that hub is down; ask the next
      }
    }
    throw new Error('no hub answers /api/halls');
  }

  /** Waits until every hall is held (unexpired) by a live hub; returns hall → holder. */
  async allHeld(timeoutMs = 60_000, not?: string): Promise<Map<string, string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leases = await this.leases().catch(() => [] as HallLease[]);
      const held = new Map(leases.filter((l) => l.holder && l.expires > l.now && l.holder !== not).map((l) => [l.hall, l.holder!]));
      if (this.halls.every((h) => held.has(h))) {
        // The holder also serves it (its hall routes answer), not just holds the row.
        let serving = true;
        for (const [hall, holder] of held) serving &&= await this.hub(holder).json(`/halls/${hall}/healthz`).then(() => true, () => false);
        if (serving) return held;
      }
      if (Date.now() > deadline) throw new Error(`not every hall held after ${timeoutMs} ms: ${JSON.stringify(leases)}`);
      await sleep(200);
    }
  }

  /** An HTTP call to whichever hub serves the hall now (retried across a takeover). */
  async hallApi<T = any>(hall: string, method: string, pathname: string, body?: unknown): Promise<T> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const holder = (await this.leases().catch(() => [] as HallLease[])).find((l) => l.hall === hall)?.holder;
      if (holder) {
        const res = await fetch(`${this.hub(holder).http}/halls/${hall}${pathname}`, {
          method, headers: { ...bearer(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body),
        }).catch(() => undefined);
        if (res && res.status !== 421 && res.status !== 503) {
          const text = await res.text();
          if (!res.ok) {
            // A server error: show what the serving hub logged about it.
            const log = res.status >= 500 ? '\n' + this.hub(holder).output.split('\n').filter((l) => /"level":(50|60)|rror/.test(l)).slice(-8).join('\n') : '';
            throw new Error(`${method} /halls/${hall}${pathname}: ${res.status} ${text}${log}`);
          }
          return (text ? JSON.parse(text) : undefined) as T;
        }
      }
      if (Date.now() > deadline) throw new Error(`no hub serves hall ${hall} for ${method} ${pathname}`);
      await sleep(200);
    }
  }

  /** SIGKILL Mosquitto and start it again on the same port and configuration. */
  async restartBroker(downMs = 1000): Promise<void> {
    const pid = Number(fs.readFileSync(this.broker.pidFile, 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await sleep(downMs);
    const child = spawn(MOSQUITTO, ['-c', path.join(this.broker.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    this.brokerChild = child;
    await waitForPort(this.broker.port);
  }

  /** PostgreSQL fast shutdown and start, same port and data (pg_ctl restart). */
  restartPostgres(): void {
    const data = path.join(this.pg.dir, 'data');
    const bin = process.env.SANNUO_PG_BIN ?? '/usr/lib/postgresql/15/bin';
    const args = ['restart', '-D', data, '-m', 'fast', '-w', '-t', '60', '-l', path.join(this.pg.dir, 'restart.log')];
    const asRoot = process.getuid?.() === 0;
    const r = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), ...args], { stdio: 'ignore', timeout: 90_000 })
      : spawnSync(path.join(bin, 'pg_ctl'), args, { stdio: 'ignore', timeout: 90_000 });
    if (r.status !== 0) throw new Error(`pg_ctl restart failed: ${r.status ?? r.signal} ${r.error?.message ?? ''}`);
  }

  async stop(): Promise<void> {
    for (const hub of this.hubs.values()) await hub.kill().catch(() => undefined);
    if (this.brokerChild && this.brokerChild.exitCode === null) this.brokerChild.kill('SIGKILL');
    await this.broker?.stop().catch(() => undefined);
    await this.pg?.stop().catch(() => undefined);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

export interface Sent { boot: number; seq: number; type: EventType }

/**
 * A device with an outbox: every event is signed and kept (its "flash") before it is sent,
 * resent until the hub's verdict arrives; a power cut drops the connection without a goodbye
 * and the device boots again with the next boot number, keeping its outbox.
 */
export class OutboxDevice extends FakeDevice {
  readonly sent: Sent[] = [];
  powered = true;
  powerCuts = 0;
  private url = '';
  private closed = false;

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
  }

  constructor(config: DeviceConfig, readonly hall: string) {
    super(config);
  }

  async start(url: string): Promise<void> {
    this.url = url;
    const deadline = Date.now() + 30_000;
    for (;;) {
      // Closed while a power cut was bringing it back: no new client may outlive the test.
      if (this.closed) return;
      try {
        await this.connect(url);
        if (this.closed) await this.client?.endAsync(true);
        return;
      } catch (error) {
        // Mosquitto learns the device when a hub rewrites its password file and reloads it.
        if (Date.now() > deadline) throw error;
        await sleep(300);
      }
    }
  }

  /** Signs, keeps and sends one event; a send into a dead link is resent later. */
  emit<K extends EventType>(type: K, body: EventBodies[K]): void {
    if (!this.powered) return;
    const line = this.sign(type, body);
    this.sent.push({ boot: this.boot, seq: this.seq, type });
    if (this.client?.connected) void this.publish(line).catch(() => undefined);
  }

  async resend(): Promise<void> {
    if (this.powered && this.client?.connected && this.unacked.size) await this.resendUnacked().catch(() => undefined);
  }

  /** Power off at once (no DISCONNECT: the broker sends the will), back after `offMs` with a new boot. */
  async powerCut(offMs: number): Promise<void> {
    this.powered = false;
    this.powerCuts++;
    const old = this.client;
    old?.removeAllListeners('connect');
    (old as unknown as { stream?: { destroy(): void } } | undefined)?.stream?.destroy(); // the socket dies with the power
    old?.end(true);
    await sleep(offMs);
    if (this.closed) return;
    this.boot++;
    this.seq = 0;
    await this.start(this.url);
    this.powered = true;
    await this.resend();
  }
}
