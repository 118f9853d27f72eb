/**
 * The hub of one hall (the default): settings, database, ledger, registry, broker, MQTT link,
 * ingest, queue and HTTP wired together, and taken down in order. One hall: one hub, embedded
 * broker or one external broker, SQLite or PostgreSQL, the hall named by settings.site and
 * settings.hall, served at the HTTP root. Constructors only store; start() does the work.
 *
 * A district (settings.cluster.halls not empty: several hubs, halls held by lease) is another
 * class, District (hub/district/district.ts); createHub(settings) picks the one the settings ask for.
 *
 * Shutdown order matters for exactly-once: stop taking messages, finish the commits in flight,
 * send their acks, take a signed checkpoint, then close the link, broker, HTTP and database.
 */

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from './db/db.js';
import { openSqlite } from './db/sqlite.js';
import type { Checkpoint, Ledger } from './ledger/ledger.js';
import { HallRuntime } from './hall.js';
import { QueueService } from './queue/service.js';
import { dataPath, clustered, type Settings } from './settings.js';
import { Registry, hubMqttPassword, intakeUsername } from './devices/registry.js';
import { EmbeddedBroker } from './mqtt/broker.js';
import { IntakeThread } from './mqtt/intake.js';
import { HubLink, type Link } from './mqtt/link.js';
import { LocalLink } from './mqtt/local-link.js';
import { Ingest } from './ingest/ingest.js';
import { createHttp } from './http/server.js';
import { writeMosquittoFiles, reloadMosquitto } from './mqtt/mosquitto.js';
import { HubBase, connectRetrying, hubClientId, openPostgresDb, type HubOptions } from './host.js';
import { District } from './district/district.js';
import { HubAnnouncer } from './discovery.js';

export { HallRuntime, checkpointTopic, type HallSpec } from './hall.js';
export { loadHubKey, hubClientId, hubIdOf, type HubOptions, type HallHost } from './host.js';
export { District } from './district/district.js';

/** The hub the settings ask for: a District when settings.cluster.halls is set, else one hall's Hub. */
export function createHub(settings: Settings, log: Logger, options: HubOptions = {}): Hub | District {
  return clustered(settings) ? new District(settings, log, options) : new Hub(settings, log, options);
}

export class Hub extends HubBase {
  db!: Db;
  ledger!: Ledger;
  registry!: Registry;
  queue!: QueueService;
  ingest!: Ingest;
  link!: Link;
  private intake: IntakeThread | undefined;
  broker: EmbeddedBroker | undefined;
  http!: FastifyInstance;
  private hallRuntime!: HallRuntime;
  /** The mDNS announcement (hub/discovery.ts), when discovery.mdns is on. */
  private announcer: HubAnnouncer | undefined;

  /** The hall this hub serves, in a list (as District.halls()). */
  halls(): HallRuntime[] {
    return this.hallRuntime ? [this.hallRuntime] : [];
  }

  hall(id: string): HallRuntime | undefined {
    return this.halls().find((h) => h.spec.hall === id);
  }

  async start(): Promise<void> {
    if (clustered(this.settings)) throw new Error('settings.cluster.halls is set: start a District (createHub picks it)');
    this.state = 'starting';
    this.openData();
    await this.startOneHall();
    this.state = 'running';
  }

  private async startOneHall(): Promise<void> {
    const s = this.settings;
    const log = this.log;
    this.db = s.db === 'sqlite' ? await openSqlite(dataPath(s, 'sannuo.db')) : await openPostgresDb(s.db);
    const hall = new HallRuntime(this, { hall: s.hall, site: s.site }, this.db, dataPath(s, 'checkpoint.json'));
    this.hallRuntime = hall;
    await hall.open();
    this.ledger = hall.ledger;
    this.queue = hall.queue;
    this.registry = hall.registry;
    this.metrics.setQueueSource(async () => (await this.queue.snapshot()).items.map((i) => ({ item: i.code, waiting: i.waiting })));

    if (s.broker === 'embedded') {
      this.identity = { username: s.mqtt.hubUser, password: hubMqttPassword(this.hubKey) };
      this.broker = new EmbeddedBroker({ host: s.mqtt.host, port: s.mqtt.port, site: s.site, hub: this.identity, registry: this.registry, metrics: this.metrics, log: log.child({ module: 'broker' }), maxPacketBytes: s.mqtt.maxPacketBytes, maxConnectionsPerAddress: s.mqtt.maxConnectionsPerAddress, tls: s.mqtt.tlsListener, bus: hall.bus });
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
      : new HubLink({ url: this.mqttUrl, ...this.identity, ...this.sessionOf(s.hall), log: log.child({ module: 'mqtt' }) });
    await connectRetrying(this.link, !this.broker && s.mosquitto.write);
    hall.attach(this.link);
    this.ingest = hall.ingest;
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
    if (s.discovery.mdns) {
      const broker = this.advertisedBroker();
      this.announcer = new HubAnnouncer({ name: s.discovery.name, site: s.site, mqttPort: broker.tls ? this.mqttPort : broker.port, mqttsPort: broker.tls ? broker.port : null, httpPort: this.httpPort, log: log.child({ module: 'discovery' }) });
      this.announcer.start();
    }

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
    const start = { url: this.mqttUrl, username: intakeUsername(this.identity.username), password: this.identity.password, ...this.sessionOf(`${s.hall}-intake`), site: s.site, logLevel: s.log.level };
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
    const hall = this.hallRuntime?.health();
    // A SELECT answers on a full disk while every commit fails: ok also needs commits to succeed and room for them (hub/health.ts).
    const ok = this.state === 'running' && dbOk && mqtt && hall?.ready !== false;
    return { ok, state: this.state, db: dbOk, mqtt, ...(hall ?? { site: this.settings.site, hall: this.settings.hall }) };
  }

  /** Signs the chain's head (see HallRuntime.checkpoint). */
  async checkpoint(): Promise<Checkpoint | undefined> {
    return this.hallRuntime?.checkpoint();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.settings.shutdown.timeout).unref());
    const drain = async () => {
      this.link?.pause();
      await this.intake?.close(); // hands over what it had read, then disconnects
      await this.hallRuntime?.drain(false);
    };
    if ((await Promise.race([drain().then(() => 'done' as const), deadline])) === 'timeout') this.log.error('shutdown: commits did not finish in time; unacked events will be resent by devices');
    await this.announcer?.stop().catch(() => undefined);
    await this.link?.close().catch(() => undefined);
    await this.broker?.stop().catch(() => undefined);
    await this.http?.close().catch(() => undefined);
    await this.hallRuntime?.stopFeatures();
    await this.hallRuntime?.app?.stop().catch(() => undefined);
    await this.db?.close().catch(() => undefined);
    this.state = 'stopped';
    this.log.info('hub stopped');
  }
}
