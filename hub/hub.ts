/**
 * The hub: wires settings, database, ledger, registry, broker, MQTT link, ingest, queue and
 * HTTP together, and takes them down in order. Constructors only store; start() does the work.
 *
 * One hall (the default): one hub, embedded broker or one external broker, SQLite or
 * PostgreSQL, the hall named by settings.site and settings.hall, served at the HTTP root.
 *
 * A district (settings.cluster.halls not empty): several hubs share one external broker and
 * one PostgreSQL. Each hall is its own site (topics sannuo/v1/<hall>/…) and its own schema
 * (hall_<hall>), and is served by the hub holding its lease (hub/district/lease.ts): that hub
 * subscribes to the hall's topics, runs its queue and writes its chain, every transaction
 * fenced by the lease. Its HTTP routes are under /halls/<hall>/…; a hub asked for a hall it
 * does not hold answers 421 naming the holder.
 *
 * Shutdown order matters for exactly-once: stop taking messages, finish the commits in flight,
 * send their acks, take a signed checkpoint, then close the link, broker, HTTP and database.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from './db/db.js';
import { openSqlite } from './db/sqlite.js';
import type { Checkpoint, Ledger } from './ledger/ledger.js';
import { HallRuntime } from './hall.js';
import type { FeatureFactory } from './feature.js';
import { Bus } from './bus.js';
import { QueueService } from './queue/service.js';
import { dataPath, advertisedPort, clustered, type Settings } from './settings.js';
import { Registry, hubMqttPassword, intakeUsername, districtHubUsername, nodeHmac, type DeviceRecord, type HubIdentity } from './devices/registry.js';
import { EmbeddedBroker } from './mqtt/broker.js';
import { IntakeThread } from './mqtt/intake.js';
import { HubLink, type Link } from './mqtt/link.js';
import { LocalLink } from './mqtt/local-link.js';
import { Ingest } from './ingest/ingest.js';
import { Metrics } from './metrics.js';
import { createHttp, mayReadHealth, publicHealth } from './http/server.js';
import { writeMosquittoFiles, reloadMosquitto, passwordFileText, lookupUser, writeAtomic, mosquittoHash } from './mqtt/mosquitto.js';
import { HUBS, LeaseKeeper, LeaseMetrics, LeaseStore, fencedDb, hallDbUrl, hallSchema, type Taken } from './district/lease.js';
import { TOPIC_ROOT, deriveMqttPassword, topicFor } from '../firmware/core/protocol.js';
import { fromHex } from '../firmware/core/utf8.js';

export { HallRuntime, checkpointTopic, type HallSpec } from './hall.js';

/** Loads the hub's 32-byte key from the data folder, creating it (mode 0600) on first start. */
export function loadHubKey(file: string): Uint8Array {
  if (fs.existsSync(file)) {
    const hex = fs.readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`hub key ${file}: expected 64 lowercase hex digits`);
    return new Uint8Array(Buffer.from(hex, 'hex'));
  }
  const key = randomBytes(32);
  fs.writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  return new Uint8Array(key);
}

/** The hub's MQTT client ids carry random bytes: a guessable one could be taken over (the embedded broker and Mosquitto with use_username_as_clientid also tie ids to users). */
export function hubClientId(name: string): string {
  return `sannuo-hub-${name}-${randomBytes(6).toString('hex')}`;
}

/** The hub's id in a district: settings, or <hostname>-<pid>. */
export function hubIdOf(settings: Settings): string {
  return settings.cluster.hubId || `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
}

export class Hub {
  /** One hall: its database. District: the shared database (public schema, leases). */
  db!: Db;
  // One hall: its parts (in a district, see halls()).
  ledger!: Ledger;
  registry!: Registry;
  queue!: QueueService;
  ingest!: Ingest;
  link!: Link;
  private intake: IntakeThread | undefined;
  broker: EmbeddedBroker | undefined;
  http!: FastifyInstance;
  readonly metrics = new Metrics();
  mqttPort = 0;
  httpPort = 0;
  mqttUrl = '';
  /** District only. */
  hubId = '';
  leases: LeaseStore | undefined;
  keeper: LeaseKeeper | undefined;
  private hubKey!: Uint8Array;
  private identity!: HubIdentity;
  private timers: NodeJS.Timeout[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private single: HallRuntime | undefined;
  /** Halls served now, by site. */
  private readonly served = new Map<string, HallRuntime>();
  private mosquittoPrint = '';
  private mosquittoWriting: Promise<void> = Promise.resolve();

  /** `now`: the hub's clock (a simulator under virtual time passes its own); `mount`: more HTTP routes (e.g. the simulator's /sim plugin). */
  /** District: lease events (each hall has its own bus, HallRuntime.bus). */
  readonly bus: Bus;

  constructor(readonly settings: Settings, readonly log: Logger, readonly options: { now?: () => number; mount?: (app: FastifyInstance) => void; features?: FeatureFactory[] } = {}) {
    this.bus = new Bus(log.child({ module: 'bus' }));
  }

  get key(): Uint8Array {
    return this.hubKey;
  }

  advertisedBroker() {
    const s = this.settings;
    return { host: s.mqtt.advertisedHost, port: advertisedPort(s, this.mqttPort), tls: s.mqtt.tls };
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
    const s = this.settings;
    // Owner-only: the database, the hub key and the first supervisor's password live here.
    fs.mkdirSync(s.data, { recursive: true, mode: 0o700 });
    fs.chmodSync(s.data, 0o700);
    this.hubKey = loadHubKey(dataPath(s, 'hub.key'));
    if (clustered(s)) await this.startDistrict();
    else await this.startOneHall();
    this.state = 'running';
  }

  private externalBroker(): void {
    const url = new URL(this.settings.broker);
    this.identity = { username: decodeURIComponent(url.username) || this.settings.mqtt.hubUser, password: decodeURIComponent(url.password) };
    url.username = '';
    url.password = '';
    this.mqttUrl = url.toString();
    this.mqttPort = Number(url.port) || 1883;
  }

  private async startOneHall(): Promise<void> {
    const s = this.settings;
    const log = this.log;
    this.db = s.db === 'sqlite' ? await openSqlite(dataPath(s, 'sannuo.db')) : await openPostgresDb(s.db);
    const hall = new HallRuntime(this, { hall: s.hall, site: s.site }, this.db, dataPath(s, 'checkpoint.json'));
    this.single = hall;
    await hall.open();
    this.ledger = hall.ledger;
    this.queue = hall.queue;
    this.registry = hall.registry;
    this.metrics.setQueueSource(async () => (await this.queue.snapshot()).items.map((i) => ({ item: i.code, waiting: i.waiting })));

    if (s.broker === 'embedded') {
      this.identity = { username: s.mqtt.hubUser, password: hubMqttPassword(this.hubKey) };
      this.broker = new EmbeddedBroker({ host: s.mqtt.host, port: s.mqtt.port, site: s.site, hub: this.identity, registry: this.registry, metrics: this.metrics, log: log.child({ module: 'broker' }), maxPacketBytes: s.mqtt.maxPacketBytes, maxConnectionsPerAddress: s.mqtt.maxConnectionsPerAddress, tls: s.mqtt.tlsListener });
      this.mqttPort = await this.broker.start();
      this.mqttUrl = `mqtt://127.0.0.1:${this.mqttPort}`;
    } else {
      this.externalBroker();
      if (s.mosquitto.write) {
        this.writeMosquitto();
        hall.bus.on('deviceChanged', 'mosquitto', () => this.writeMosquitto());
      }
    }

    this.link = this.broker
      ? new LocalLink(this.broker.instance(), (held) => this.broker?.holdDevices(held), log.child({ module: 'mqtt' }))
      : new HubLink({ url: this.mqttUrl, ...this.identity, clientId: hubClientId(s.hall), log: log.child({ module: 'mqtt' }) });
    await connectRetrying(this.link, !this.broker && s.mosquitto.write);
    hall.attach(this.link);
    this.ingest = hall.ingest;
    this.served.set(s.site, hall);
    this.link.onMessage((topic, payload) => this.ingest.handle(topic, payload));
    if (s.ingest.intakeThread === 'always' || (s.ingest.intakeThread === 'external' && s.broker !== 'embedded')) {
      await this.startIntake(hall);
      await this.link.subscribe(hall.ingest.stateTopics());
    } else {
      await this.link.subscribe(hall.topics());
    }

    this.http = createHttp({ ...hall.httpDeps(), metrics: this.metrics, log, health: async () => this.health() });
    await this.http.listen({ host: s.http.host, port: s.http.port });
    this.httpPort = (this.http.server.address() as { port: number }).port;

    // One at start, so verify always has a signed head to compare with.
    await hall.checkpoint();
    hall.startTimers();
    log.info({ mqtt: this.mqttUrl, http: `http://${s.http.host}:${this.httpPort}`, site: s.site, hall: s.hall, db: s.db === 'sqlite' ? dataPath(s, 'sannuo.db') : 'postgres' }, 'hub started');
  }

  /** Device events on their own thread and connection (hub/mqtt/intake.ts); the main link keeps the rest. */
  private async startIntake(hall: HallRuntime): Promise<void> {
    const s = this.settings;
    const keyOf = (dev: string): [string, Uint8Array][] => {
      const key = hall.registry.signingKey(dev);
      return key ? [[dev, key]] : [];
    };
    // Its own user name: Mosquitto ties client ids to user names (hub/devices/registry.ts intakeUsername).
    const start = { url: this.mqttUrl, username: intakeUsername(this.identity.username), password: this.identity.password, clientId: hubClientId(`${s.hall}-intake`), site: s.site, logLevel: s.log.level };
    await connectRetrying({
      connect: async () => {
        const intake = new IntakeThread(start, hall.ingest, this.metrics, this.log.child({ module: 'intake' }));
        try {
          await intake.open(hall.registry.list().flatMap((d) => keyOf(d.id)));
        } catch (error) {
          await intake.close().catch(() => undefined);
          throw error;
        }
        this.intake = intake;
      },
    }, s.broker !== 'embedded' && s.mosquitto.write);
    hall.bus.on('deviceChanged', 'intake', ({ dev }) => this.intake?.setKeys(keyOf(dev)));
    hall.ingest.useIntake(this.intake!);
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
      await this.leases.heartbeat(); // listed in the hubs table, so every hub's files name this one
      await this.writeDistrictMosquitto();
    }
    this.link = new HubLink({ url: this.mqttUrl, ...linkIdentity, clientId: hubClientId(this.hubId), log: log.child({ module: 'mqtt' }) });
    await connectRetrying(this.link, s.mosquitto.write);
    // Messages of a hall this hub does not hold (any more) are dropped: its devices resend them
    // to the holder.
    this.link.onMessage((topic, payload) => this.served.get(topic.split('/')[2] ?? '')?.ingest.handle(topic, payload));

    this.http = this.districtHttp();
    await this.http.listen({ host: s.http.host, port: s.http.port });
    this.httpPort = (this.http.server.address() as { port: number }).port;

    if (s.mosquitto.write) this.timers.push(setInterval(() => void this.writeDistrictMosquitto(), 30_000));

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
    const leases = this.leases!;
    const raw = await openPostgresDb(hallDbUrl(s.db, lease.hall, leases.ttlMs));
    const db = fencedDb(raw, (tx) => leases.fence(tx, lease));
    const runtime = new HallRuntime(this, { hall: lease.hall, site: lease.hall }, db, dataPath(s, `checkpoint-${lease.hall}.json`));
    try {
      await runtime.open();
      runtime.attach(this.link);
      runtime.bus.on('leaseFenced', 'district', () => this.keeper?.fenced(lease.hall));
      if (s.mosquitto.write) runtime.bus.on('deviceChanged', 'mosquitto', () => void this.writeDistrictMosquitto());
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
      if (s.mosquitto.write) void this.writeDistrictMosquitto();
      this.log.info({ hall: lease.hall, epoch: lease.epoch, previous: lease.previous }, 'serving hall');
    } catch (error) {
      if (this.served.get(runtime.spec.site) === runtime) this.served.delete(runtime.spec.site);
      await runtime.abort().catch(() => undefined);
      await runtime.close();
      throw error;
    }
  }

  /** District HTTP: health, metrics and the lease table at the root; each held hall under /halls/<hall>/. */
  private districtHttp(): FastifyInstance {
    const app = Fastify({ loggerInstance: this.log.child({ module: 'http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024 }) as unknown as FastifyInstance;
    app.addHook('onRequest', async (request, reply) => {
      const m = /^\/halls\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(request.raw.url ?? '');
      if (!m) return;
      const hall = decodeURIComponent(m[1]);
      const runtime = this.hall(hall);
      if (!runtime?.http) {
        const lease = await this.leases!.holderOf(hall).catch(() => undefined);
        if (!lease) return reply.code(404).send({ error: `hall ${hall} is not registered in this district` });
        const holder = lease.holder && !lease.expired ? lease.holder : null;
        return reply.code(holder ? 421 : 503).header('retry-after', holder ? undefined : String(this.settings.cluster.pollInterval / 1000 + 1))
          .send({ error: holder ? `hall ${hall} is served by hub ${holder}, not by ${this.hubId}` : `hall ${hall} is between hubs; try again shortly`, holder });
      }
      // The hall's own server answers, as if at its root.
      request.raw.url = (m[2] || '/') + (m[3] ?? '');
      reply.hijack();
      runtime.http.routing(request.raw, reply.raw);
    });
    app.get('/healthz', async (request, reply) => {
      const health = await this.health();
      // Credentials are a hall's; any hall this hub serves may vouch for them.
      let full = false;
      for (const h of this.halls()) if (!full && h.app) full = await mayReadHealth(h.app.auth, request);
      return reply.code(health.ok ? 200 : 503).send(full ? health : publicHealth(health));
    });
    app.get('/metrics', async (_request, reply) => reply.type(this.metrics.registry.contentType).send(await this.metrics.text()));
    app.get('/api/halls', async () => ({
      hub: this.hubId,
      serving: this.keeper?.leases() ?? [],
      leases: await this.leases!.list(),
    }));
    return app;
  }

  private writeMosquitto(): void {
    const s = this.settings;
    const dir = s.mosquitto.dir || dataPath(s, 'mosquitto');
    const files = writeMosquittoFiles(this.registry, { dir, site: s.site, hub: this.identity, owner: s.mosquitto.user });
    if (s.mosquitto.pidFile && !reloadMosquitto(s.mosquitto.pidFile)) this.log.warn({ pidFile: s.mosquitto.pidFile }, 'could not signal Mosquitto to reload its password and ACL files');
    this.log.info(files, 'Mosquitto password and ACL files written');
  }

  /**
   * District: Mosquitto's password and ACL files from every registered hall's devices (any hub
   * may have provisioned them), rewritten only when the device list changed. Device ids are
   * MQTT user names, so they must be unique in the district.
   */
  private writeDistrictMosquitto(): Promise<void> {
    this.mosquittoWriting = this.mosquittoWriting.then(async () => {
      const s = this.settings;
      const devices: DeviceRecord[] = [];
      try {
        for (const lease of await this.leases!.list()) {
          const rows = await this.db.all<DeviceRecord>(`SELECT id, role, site, win, fw, secret, created FROM ${hallSchema(lease.hall)}.devices ORDER BY id`)
            .catch(() => [] as DeviceRecord[]); // a hall never served yet has no tables
          devices.push(...rows);
        }
      } catch (error) {
        this.log.warn({ err: String(error) }, 'cannot read the district\'s devices for Mosquitto');
        return;
      }
      let hubs: string[];
      try {
        hubs = [...new Set([this.hubId, ...(await this.db.all<{ hub: string }>(`SELECT hub FROM ${HUBS} ORDER BY hub`)).map((r) => r.hub)])];
      } catch (error) {
        this.log.warn({ err: String(error) }, 'cannot read the district\'s hubs for Mosquitto');
        return;
      }
      const print = [...hubs, ...devices.map((d) => `${d.site}/${d.id}/${d.secret}`)].join('\n');
      if (print === this.mosquittoPrint) return;
      const ids = new Set<string>();
      for (const d of devices) {
        if (ids.has(d.id)) this.log.error({ dev: d.id }, 'device id provisioned in two halls: MQTT user names must be unique in a district');
        ids.add(d.id);
      }
      const passwords = new Map(devices.map((d) => [d.id, deriveMqttPassword(fromHex(d.secret)!, nodeHmac)]));
      const hubUsers = hubs.map((h) => districtHubUsername(this.identity.username, h));
      const passwd = passwordFileText({ list: () => devices, mqttPassword: (id) => passwords.get(id) }, this.identity)
        + hubUsers.map((u) => `${u}:${mosquittoHash(this.identity.password)}\n`).join('');
      const acl = ['# written by the sannuo hubs of this district from every hall\'s devices; edits are overwritten', ''];
      for (const u of [this.identity.username, ...hubUsers]) acl.push(`user ${u}`, `topic readwrite ${TOPIC_ROOT}/#`, '');
      for (const d of devices) {
        acl.push(`user ${d.id}`, `topic write ${topicFor(d.site, d.id, 'evt')}`, `topic write ${topicFor(d.site, d.id, 'state')}`,
          `topic read ${topicFor(d.site, d.id, 'cmd')}`, `topic read ${topicFor(d.site, d.id, 'ack')}`, '');
      }
      const dir = s.mosquitto.dir || dataPath(s, 'mosquitto');
      fs.mkdirSync(dir, { recursive: true });
      const owner = process.getuid?.() === 0 ? lookupUser(s.mosquitto.user) : undefined;
      writeAtomic(path.join(dir, 'passwd'), passwd, owner);
      writeAtomic(path.join(dir, 'acl'), acl.join('\n'), owner);
      this.mosquittoPrint = print;
      if (s.mosquitto.pidFile && !reloadMosquitto(s.mosquitto.pidFile)) this.log.warn({ pidFile: s.mosquitto.pidFile }, 'could not signal Mosquitto to reload its password and ACL files');
      this.log.info({ dir, devices: devices.length }, 'Mosquitto password and ACL files written for the district');
    }).catch((error) => this.log.error({ err: error }, 'writing Mosquitto files failed'));
    return this.mosquittoWriting;
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
    if (this.single || !this.keeper) {
      return { ok, state: this.state, db: dbOk, mqtt, ...(this.single?.health() ?? { site: this.settings.site, hall: this.settings.hall }) };
    }
    return {
      ok, state: this.state, db: dbOk, mqtt, hub: this.hubId,
      halls: this.halls().map((h) => ({ ...h.health(), epoch: this.keeper?.holds(h.spec.hall)?.epoch ?? null })),
    };
  }

  /** One hall: signs the chain's head (see HallRuntime.checkpoint). */
  async checkpoint(): Promise<Checkpoint | undefined> {
    return this.single?.checkpoint();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.settings.shutdown.timeout).unref());
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const drain = async () => {
      if (this.keeper) {
        await this.keeper.stop(); // drains every hall, then releases its lease
      } else {
        this.link?.pause();
        await this.intake?.close(); // hands over what it had read, then disconnects
        await this.single?.drain(false);
      }
    };
    if ((await Promise.race([drain().then(() => 'done' as const), deadline])) === 'timeout') this.log.error('shutdown: commits did not finish in time; unacked events will be resent by devices');
    await this.link?.close().catch(() => undefined);
    await this.broker?.stop().catch(() => undefined);
    await this.http?.close().catch(() => undefined);
    for (const h of this.halls()) if (h !== this.single) await h.close();
    await this.single?.stopFeatures();
    await this.single?.app?.stop().catch(() => undefined);
    await this.db?.close().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('hub stopped');
  }
}

/**
 * Connects the link; just after the hub rewrote Mosquitto's files and signalled it, a refused
 * login is retried for a few seconds (the broker re-reads them asynchronously).
 */
async function connectRetrying(link: { connect(): Promise<void> }, justWrote: boolean): Promise<void> {
  const deadline = Date.now() + (justWrote ? 10_000 : 0);
  for (;;) {
    try {
      return await link.connect();
    } catch (error) {
      if (Date.now() > deadline || !/refused the hub's login/.test(String(error))) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function openPostgresDb(url: string): Promise<Db> {
  // Loaded only when asked for, so a SQLite hall never loads pg.
  const modulePath = './db/postgres.js';
  const mod = (await import(modulePath)) as { openPostgres(url: string): Promise<Db> };
  return mod.openPostgres(url);
}
