/**
 * A district hub (settings.cluster.halls not empty): several hubs share one external broker and
 * one PostgreSQL. Each hall is its own site (topics sannuo/v1/<hall>/…) and its own schema
 * (hall_<hall>), and is served by the hub holding its lease (hub/district/lease.ts, kept by
 * keeper.ts): that hub subscribes to the hall's topics, runs its queue and writes its chain,
 * every transaction fenced by the lease. Its HTTP routes are under /halls/<hall>/…
 * (hub/district/http.ts); a hub asked for a hall it does not hold answers 421 naming the holder.
 *
 * One HallRuntime (hub/hall.ts) per hall held: opened when its lease is taken, aborted when it is
 * lost, drained when it is given back. The hub of a single hall is Hub (hub/hub.ts).
 */

import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/db.js';
import { HallRuntime } from '../hall.js';
import { Bus } from '../bus.js';
import { dataPath, type Settings } from '../settings.js';
import type { Logger } from 'pino';
import { districtHubUsername } from '../devices/registry.js';
import { HubLink, type Link } from '../mqtt/link.js';
import { createHttp } from '../http/server.js';
import { HubBase, connectRetrying, hubClientId, hubIdOf, openPostgresDb, type HubOptions } from '../host.js';
import { LeaseMetrics, LeaseStore, fencedDb, hallDbUrl, type Taken } from './lease.js';
import { LeaseKeeper } from './keeper.js';
import { districtHttp } from './http.js';
import { DistrictMosquitto } from './mosquitto.js';
import { DeviceSecrets } from '../devices/secrets.js';

export class District extends HubBase {
  /** The shared database (public schema: leases, hubs); each hall has its own pool (HallRuntime.db). */
  db!: Db;
  link!: Link;
  http!: FastifyInstance;
  hubId = '';
  leases!: LeaseStore;
  keeper: LeaseKeeper | undefined;
  /** Lease events (each hall has its own bus, HallRuntime.bus). */
  readonly bus: Bus;
  private timers: NodeJS.Timeout[] = [];
  /** Halls served now, by site. */
  private readonly served = new Map<string, HallRuntime>();
  private mosquitto: DistrictMosquitto | undefined;

  constructor(settings: Settings, log: Logger, options: HubOptions = {}) {
    super(settings, log, options);
    this.bus = new Bus(log.child({ module: 'bus' }));
  }

  /** The halls this hub serves now. */
  halls(): HallRuntime[] {
    return [...this.served.values()];
  }

  hall(id: string): HallRuntime | undefined {
    return this.halls().find((h) => h.spec.hall === id);
  }

  async start(): Promise<void> {
    this.state = 'starting';
    this.openData();
    await this.startDistrict();
    this.state = 'running';
  }

  private async startDistrict(): Promise<void> {
    const s = this.settings;
    const log = this.log;
    const c = s.cluster;
    this.hubId = hubIdOf(s);
    const ttlMs = c.leaseTtl * 1000;
    this.db = await openPostgresDb(s.db);
    const leaseMetrics = new LeaseMetrics(this.metrics.registry);
    this.leases = new LeaseStore(this.db, this.hubId, ttlMs, leaseMetrics);
    await this.leases.init();
    await this.leases.register([...new Set([...c.register, ...c.halls.filter((h) => h !== '*')])]);
    this.metrics.setQueueSource(async () => {
      const out: { item: string; waiting: number }[] = [];
      for (const h of this.halls()) for (const i of (await h.queue.snapshot()).items) out.push({ item: `${h.spec.hall}/${i.code}`, waiting: i.waiting });
      return out;
    });

    this.externalBroker();
    // Mosquitto ties client ids to user names (use_username_as_clientid), so hubs sharing one
    // user name would disconnect each other: when the hubs write its files, each has its own.
    let linkIdentity = this.identity;
    if (s.mosquitto.write) {
      linkIdentity = { username: districtHubUsername(this.identity.username, this.hubId), password: this.identity.password };
      this.mosquitto = new DistrictMosquitto(s, this.db, this.leases, this.hubId, this.identity, log, new DeviceSecrets(this.hubKey));
      await this.leases.heartbeat(); // listed in the hubs table, so every hub's files name this one
      await this.mosquitto.write();
    }
    this.link = new HubLink({ url: this.mqttUrl, ...linkIdentity, ...this.sessionOf(this.hubId), log: log.child({ module: 'mqtt' }) });
    await connectRetrying(this.link, s.mosquitto.write);
    // Messages of a hall this hub does not hold (any more) are dropped: its devices resend them
    // to the holder.
    this.link.onMessage((topic, payload) => this.served.get(topic.split('/')[2] ?? '')?.ingest.handle(topic, payload));

    this.http = districtHttp(this);
    await this.http.listen({ host: s.http.host, port: s.http.port });
    this.httpPort = (this.http.server.address() as { port: number }).port;

    if (this.mosquitto) this.timers.push(setInterval(() => void this.mosquitto?.write(), 30_000));

    const keeper = new LeaseKeeper({
      store: this.leases, halls: c.halls.includes('*') ? '*' : c.halls,
      renewMs: c.renewInterval * 1000, pollMs: c.pollInterval, maxHalls: c.maxHalls,
      metrics: leaseMetrics, log: log.child({ module: 'lease' }), bus: this.bus,
      onTake: (lease) => this.serveHall(lease),
      onLose: async (hall) => {
        const runtime = this.hall(hall);
        if (!runtime) return;
        this.served.delete(runtime.spec.site);
        await runtime.abort();
        await runtime.close();
      },
      onRelease: async (hall) => {
        const runtime = this.hall(hall);
        if (!runtime) return;
        await runtime.drain(true);
        this.served.delete(runtime.spec.site);
        await runtime.close();
      },
    });
    this.keeper = keeper;
    keeper.start();
    log.info({ hub: this.hubId, mqtt: this.mqttUrl, http: `http://${s.http.host}:${this.httpPort}`, halls: c.halls }, 'hub started in a district');
  }

  /** Starts serving a hall whose lease was just taken. */
  private async serveHall(lease: Taken): Promise<void> {
    const s = this.settings;
    const leases = this.leases;
    const raw = await openPostgresDb(hallDbUrl(s.db, lease.hall, leases.ttlMs));
    const db = fencedDb(raw, (tx) => leases.fence(tx, lease));
    const runtime = new HallRuntime(this, { hall: lease.hall, site: lease.hall }, db, dataPath(s, `checkpoint-${lease.hall}.json`));
    try {
      await runtime.open();
      runtime.attach(this.link);
      runtime.bus.on('leaseFenced', 'district', () => this.keeper?.fenced(lease.hall));
      if (this.mosquitto) runtime.bus.on('deviceChanged', 'mosquitto', () => void this.mosquitto?.write());
      runtime.http = createHttp({
        ...runtime.httpDeps(), metrics: this.metrics, log: this.log,
        health: async () => ({ ok: this.served.get(runtime.spec.site) === runtime, ...runtime.health(), epoch: lease.epoch, hub: this.hubId }),
      });
      await runtime.http.ready();
      this.served.set(runtime.spec.site, runtime);
      await this.link.subscribe(runtime.topics());
      // The new holder signs the head it found, so verify on this hub has an anchor.
      await runtime.checkpoint();
      runtime.startTimers();
      if (this.mosquitto) void this.mosquitto.write();
      this.log.info({ hall: lease.hall, epoch: lease.epoch, previous: lease.previous }, 'serving hall');
    } catch (error) {
      if (this.served.get(runtime.spec.site) === runtime) this.served.delete(runtime.spec.site);
      await runtime.abort().catch(() => undefined);
      await runtime.close();
      throw error;
    }
  }

  async health(): Promise<{ ok: boolean; [key: string]: unknown }> {
    let dbOk = true;
    try {
      await this.db.get('SELECT 1 AS one');
    } catch {
      dbOk = false;
    }
    const mqtt = this.link?.connected() ?? false;
    const ok = this.state === 'running' && dbOk && mqtt;
    // Before the keeper runs (still starting), the same shape as a hall hub's.
    if (!this.keeper) return { ok, state: this.state, db: dbOk, mqtt, site: this.settings.site, hall: this.settings.hall };
    const halls = this.halls().map((h) => ({ ...h.health(), epoch: this.keeper?.holds(h.spec.hall)?.epoch ?? null }));
    return { ok: ok && halls.every((h) => h.ready !== false), state: this.state, db: dbOk, mqtt, hub: this.hubId, halls };
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.settings.shutdown.timeout).unref());
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const drain = async () => {
      if (this.keeper) await this.keeper.stop(); // drains every hall, then releases its lease
      else this.link?.pause();
    };
    if ((await Promise.race([drain().then(() => 'done' as const), deadline])) === 'timeout') this.log.error('shutdown: commits did not finish in time; unacked events will be resent by devices');
    await this.link?.close().catch(() => undefined);
    await this.http?.close().catch(() => undefined);
    for (const h of this.halls()) await h.close();
    await this.db?.close().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('hub stopped');
  }
}
