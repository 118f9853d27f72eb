/**
 * The hub: wires settings, database, ledger, registry, broker, MQTT link, ingest, queue and
 * HTTP together, and takes them down in order. Constructors only store; start() does the work.
 *
 * Shutdown order matters for exactly-once: stop taking messages, finish the commits in flight,
 * send their acks, take a signed checkpoint, then close the link, broker, HTTP and database.
 */

import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from './db/db.js';
import { openSqlite } from './db/sqlite.js';
import { migrate } from './db/migrate.js';
import { Ledger, type Checkpoint } from './ledger.js';
import { QueueService } from './queue/service.js';
import { dataPath, advertisedPort, type Settings } from './settings.js';
import { Registry, hubMqttPassword, type HubIdentity } from './registry.js';
import { EmbeddedBroker } from './broker.js';
import { HubLink } from './mqtt.js';
import { Ingest } from './ingest.js';
import { Metrics } from './metrics.js';
import { createHttp } from './http.js';
import { writeMosquittoFiles, reloadMosquitto } from './mosquitto.js';
import { TOPIC_ROOT } from '../firmware/core/protocol.js';
import type { FastifyInstance } from 'fastify';

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

export function checkpointTopic(site: string): string {
  return `${TOPIC_ROOT}/${site}/$hub/checkpoint`;
}

export class Hub {
  db!: Db;
  ledger!: Ledger;
  registry!: Registry;
  queue!: QueueService;
  ingest!: Ingest;
  link!: HubLink;
  broker: EmbeddedBroker | undefined;
  http!: FastifyInstance;
  readonly metrics = new Metrics();
  mqttPort = 0;
  httpPort = 0;
  mqttUrl = '';
  private hubKey!: Uint8Array;
  private identity!: HubIdentity;
  private timers: NodeJS.Timeout[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private lastCheckpoint: Checkpoint | undefined;

  /** `now`: the hub's clock (a simulator under virtual time passes its own); `mount`: more HTTP routes (e.g. the simulator's /sim plugin). */
  constructor(readonly settings: Settings, readonly log: Logger, readonly options: { now?: () => number; mount?: (app: FastifyInstance) => void } = {}) {}

  async start(): Promise<void> {
    this.state = 'starting';
    const s = this.settings;
    const log = this.log;
    fs.mkdirSync(s.data, { recursive: true });
    this.hubKey = loadHubKey(dataPath(s, 'hub.key'));

    this.db = s.db === 'sqlite' ? await openSqlite(dataPath(s, 'sannuo.db')) : await openPostgresDb(s.db);
    this.ledger = new Ledger(this.db, { hall: s.hall, hubKey: this.hubKey, checkpointFile: dataPath(s, 'checkpoint.json') });
    await this.ledger.init();
    await migrate(this.db, [...Registry.migrations, ...Ingest.migrations, ...QueueService.migrations]);
    this.queue = new QueueService({
      db: this.db, ledger: this.ledger, hall: s.hall, now: this.options.now ?? Date.now, log: log.child({ module: 'queue' }),
      onEffects: (effects) => void this.ingest?.dispatch(effects),
    });
    this.metrics.setQueueSource(async () => (await this.queue.snapshot()).items.map((i) => ({ item: i.code, waiting: i.waiting })));

    this.registry = new Registry(this.db, {
      site: s.site, now: this.options.now,
      broker: () => ({ host: s.mqtt.advertisedHost, port: advertisedPort(s, this.mqttPort), tls: s.mqtt.tls }),
    });
    await this.registry.init();

    if (s.broker === 'embedded') {
      this.identity = { username: s.mqtt.hubUser, password: hubMqttPassword(this.hubKey) };
      this.broker = new EmbeddedBroker({ host: s.mqtt.host, port: s.mqtt.port, site: s.site, hub: this.identity, registry: this.registry, metrics: this.metrics, log: log.child({ module: 'broker' }) });
      this.mqttPort = await this.broker.start();
      this.mqttUrl = `mqtt://127.0.0.1:${this.mqttPort}`;
    } else {
      const url = new URL(s.broker);
      this.identity = { username: decodeURIComponent(url.username) || s.mqtt.hubUser, password: decodeURIComponent(url.password) };
      url.username = '';
      url.password = '';
      this.mqttUrl = url.toString();
      this.mqttPort = Number(url.port) || 1883;
      if (s.mosquitto.write) {
        this.writeMosquitto();
        this.registry.on('changed', () => this.writeMosquitto());
      }
    }

    this.link = new HubLink({ url: this.mqttUrl, ...this.identity, clientId: `sannuo-hub-${s.hall}-${process.pid}`, log: log.child({ module: 'mqtt' }) });
    await this.link.connect();
    this.ingest = new Ingest({
      db: this.db, ledger: this.ledger, queue: this.queue, registry: this.registry, link: this.link, metrics: this.metrics,
      log: log.child({ module: 'ingest' }), site: s.site, now: this.options.now, batchWindow: s.ingest.batchWindow, maxBatch: s.ingest.maxBatch,
    });
    this.link.onMessage((topic, payload) => this.ingest.handle(topic, payload));
    await this.link.subscribe(this.ingest.topics());

    this.http = createHttp({
      registry: this.registry, metrics: this.metrics, log,
      health: async () => this.health(),
      verify: () => this.ledger.verify(),
      mount: (app) => { this.queue.routes(app); this.options.mount?.(app); },
    });
    await this.http.listen({ host: s.http.host, port: s.http.port });
    this.httpPort = (this.http.server.address() as { port: number }).port;

    // One at start, so verify always has a signed head to compare with.
    await this.checkpoint();
    this.timers.push(setInterval(() => void this.checkpoint(), s.ledger.checkpointInterval * 1000));
    this.timers.push(setInterval(() => { for (const dev of this.registry.online()) void this.ingest.sendTime(dev); }, s.timeSync.interval * 1000));
    this.state = 'running';
    log.info({ mqtt: this.mqttUrl, http: `http://${s.http.host}:${this.httpPort}`, site: s.site, hall: s.hall, db: s.db === 'sqlite' ? dataPath(s, 'sannuo.db') : 'postgres' }, 'hub started');
  }

  private writeMosquitto(): void {
    const s = this.settings;
    const dir = s.mosquitto.dir || dataPath(s, 'mosquitto');
    const files = writeMosquittoFiles(this.registry, { dir, site: s.site, hub: this.identity, owner: s.mosquitto.user });
    if (s.mosquitto.pidFile && !reloadMosquitto(s.mosquitto.pidFile)) this.log.warn({ pidFile: s.mosquitto.pidFile }, 'could not signal Mosquitto to reload its password and ACL files');
    this.log.info(files, 'Mosquitto password and ACL files written');
  }

  async health(): Promise<{ ok: boolean; [key: string]: unknown }> {
    let dbOk = true;
    try {
      await this.db.get('SELECT 1 AS one');
    } catch {
      dbOk = false;
    }
    const mqtt = this.link?.connected() ?? false;
    return {
      ok: this.state === 'running' && dbOk && mqtt,
      state: this.state, db: dbOk, mqtt, site: this.settings.site, hall: this.settings.hall,
      devices: this.registry?.list().length ?? 0, online: this.registry?.online().length ?? 0,
      inFlight: this.ingest?.inFlightCount() ?? 0, checkpoint: this.lastCheckpoint ?? null,
    };
  }

  /** Signs the chain's head, writes it to the checkpoint file, publishes it retained. */
  async checkpoint(): Promise<Checkpoint | undefined> {
    try {
      const cp = await this.ledger.checkpoint();
      this.lastCheckpoint = cp;
      this.metrics.checkpoints.inc();
      if (this.link.connected()) await this.link.publish(checkpointTopic(this.settings.site), JSON.stringify(cp), { retain: true });
      return cp;
    } catch (error) {
      this.log.error({ err: error }, 'checkpoint failed');
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.settings.shutdown.timeout).unref());
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const drain = async () => {
      this.link?.pause();
      await this.ingest?.stop();
      if (this.ledger && this.link) await this.checkpoint();
    };
    if ((await Promise.race([drain().then(() => 'done' as const), deadline])) === 'timeout') this.log.error('shutdown: commits did not finish in time; unacked events will be resent by devices');
    await this.link?.close().catch(() => undefined);
    await this.broker?.stop().catch(() => undefined);
    await this.http?.close().catch(() => undefined);
    await this.db?.close().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('hub stopped');
  }
}

async function openPostgresDb(url: string): Promise<Db> {
  // Loaded only when asked for, so a SQLite hall never loads pg.
  const modulePath = './db/postgres.js';
  const mod = (await import(modulePath)) as { openPostgres(url: string): Promise<Db> };
  return mod.openPostgres(url);
}

