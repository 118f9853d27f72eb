/**
 * One hall served by this hub: its ledger chain, device registry, queue, ingest, downlink,
 * application (cases, commitments, channels, reports), API tokens and its bus. The hub
 * (hub/hub.ts) opens one for the hall it runs; a district hub (hub/district/district.ts) one per
 * hall whose lease it holds. open() builds the parts and their tables; attach() puts ingest and the downlink on
 * the hub's MQTT link; drain(), abort() and close() take it down.
 */

import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Db } from './db/db.js';
import { migrate } from './db/migrate.js';
import { Ledger, type Checkpoint } from './ledger/ledger.js';
import { Bus } from './bus.js';
import { QueueService } from './queue/service.js';
import { AppService, appOptionsFromSettings } from './app/service.js';
import { dashboard } from './web/plugin.js';
import { dataPath, clustered } from './settings.js';
import { Registry } from './devices/registry.js';
import { DeviceSecrets } from './devices/secrets.js';
import type { Link } from './mqtt/link.js';
import { Ingest } from './ingest/ingest.js';
import { windowExists } from './queue/lookup.js';
import { CommitHealth } from './health.js';

const MIB = 1024 * 1024;
import { Downlink } from './downlink/downlink.js';
import type { HttpDeps } from './http/server.js';
import { ApiTokens } from './app/tokens.js';
import { TOPIC_ROOT } from '../firmware/core/protocol.js';
import type { HallHost } from './host.js';
import type { Feature, FeatureFactory } from './feature.js';
import { WindowTally } from './app/window-tally.js';
import { OtaFeature } from './ota/feature.js';
import { ReleaseKey } from './ota/release-key.js';
import { PROTOCOL_VERSION } from '../firmware/core/protocol.js';
import { DayFeature } from './day/feature.js';
import { Notices } from './notices/notices.js';
import { SatisfactionAlerts } from './notices/alerts.js';
import { PlatformFeature } from './platform/platform.js';
import { frontFeatures } from './front/index.js';

export function checkpointTopic(site: string): string {
  return `${TOPIC_ROOT}/${site}/$hub/checkpoint`;
}

export interface HallSpec {
  hall: string;
  /** The <site> level of the hall's topics. */
  site: string;
}

/** One hall served by this hub: its chain, device registry, queue and ingest. */
export class HallRuntime {
  ledger!: Ledger;
  registry!: Registry;
  queue!: QueueService;
  ingest!: Ingest;
  /** Signed commands to the hall's devices. */
  downlink!: Downlink;
  /** The 三诺 application: sign-in, cases, commitments, channels, reports. */
  app!: AppService;
  /** Machine credentials (API tokens) on top of the application's users. */
  tokens!: ApiTokens;
  /** In a district: the hall's own routes, reached under /halls/<hall>/. */
  http: FastifyInstance | undefined;
  lastCheckpoint: Checkpoint | undefined;
  /** Whether commits succeed, and the disk's room (hub/health.ts). */
  commitHealth: CommitHealth | undefined;
  /** The hall's events, each after its commit (hub/bus.ts). */
  readonly bus: Bus;
  /** Features plugged in on the bus (hub/feature.ts): the built-in ones, then the hub options'. */
  readonly features: Feature[] = [];
  /** Near-turn notices and the notifier (hub/notices/). */
  notices: Notices | undefined;
  private timers: NodeJS.Timeout[] = [];
  private link: Link | undefined;

  constructor(private readonly hub: HallHost, readonly spec: HallSpec, readonly db: Db, readonly checkpointFile: string) {
    this.bus = new Bus(hub.log.child({ module: 'bus', hall: spec.hall }));
  }

  /** Schema, ledger, queue and registry; nothing is received yet. */
  async open(): Promise<void> {
    const { hub, db } = this;
    const log = hub.log;
    this.ledger = new Ledger(db, { hall: this.spec.hall, hubKey: hub.key, checkpointFile: this.checkpointFile });
    await this.ledger.init();
    await migrate(db, [...Registry.migrations, ...Ingest.migrations, ...Downlink.migrations, ...QueueService.migrations, ...CommitHealth.migrations]);
    const h = hub.settings.health;
    this.commitHealth = new CommitHealth(db, log.child({ module: 'health', hall: this.spec.hall }), {
      dataDir: hub.settings.data, lowDiskBytes: h.lowDiskMb * MIB, minFreeBytes: h.minFreeMb * MIB, probeMs: h.probeMs, metrics: hub.metrics,
    });
    this.queue = new QueueService({
      db, ledger: this.ledger, hall: this.spec.hall, now: hub.options.now ?? Date.now, log: log.child({ module: 'queue' }), bus: this.bus, policy: hub.settings.queue,
    });
    const releaseKey = new ReleaseKey(hub.key);
    this.registry = new Registry(db, { site: this.spec.site, now: hub.options.now, broker: () => hub.advertisedBroker(), bus: this.bus, ledger: this.ledger, secrets: new DeviceSecrets(hub.key), releaseKey: releaseKey.publicHex });
    await this.registry.init();
    await migrate(db, AppService.migrations);
    // Rating-link tokens: a key of their own, derived from the hub key, so a leaked link key says nothing of the hub's.
    const tokenKey = new Uint8Array(createHmac('sha256', hub.key).update('sannuo-rating-token').digest());
    const base = await appOptionsFromSettings(hub.settings, { tokenKey, adminPasswordFile: dataPath(hub.settings, this.spec.hall === hub.settings.hall ? 'admin-password.txt' : `admin-password-${this.spec.hall}.txt`) });
    this.app = new AppService({
      db, ledger: this.ledger, hall: this.spec.hall, now: hub.options.now ?? Date.now, log: log.child({ module: 'app', hall: this.spec.hall }), bus: this.bus, ratings: this.queue.ratingsFeature,
      options: { ...base, utcOffsetMinutes: this.queue.policy.utcOffsetMinutes, metricsRegistry: clustered(hub.settings) ? undefined : hub.metrics.registry },
    });
    await this.app.start();
    if (base.calendarProvisional?.length) log.warn({ years: base.calendarProvisional }, 'national calendar: no 调休 notice shipped for these years, statutory holidays only; run `npm update chinese-days` or give calendarFile (README, Holidays)');
    // After the first supervisor exists: a service account must not stand in for it.
    await migrate(db, ApiTokens.migrations);
    this.tokens = new ApiTokens({ db, ledger: this.ledger, auth: this.app.auth, now: hub.options.now ?? Date.now, log: log.child({ module: 'access', hall: this.spec.hall }), hall: this.spec.hall });
    await this.tokens.startup(hub.settings.api.token, hub.settings.api.tokenRole);
    const deps = { hall: this.spec.hall, db, ledger: this.ledger, bus: this.bus, auth: this.app.auth, log, now: hub.options.now ?? Date.now };
    const front = () => ({ queue: this.queue, ratingLink: (id: string) => this.app.ratingLink(id), winOf: (dev: string) => this.registry.get(dev)?.win });
    const noticeMetrics = clustered(hub.settings) ? undefined : hub.metrics.registry;
    const notices = (d: typeof deps) => new Notices({ ...d, settings: hub.settings.notices, utcOffsetMinutes: this.queue.policy.utcOffsetMinutes, rateTimeout: this.queue.policy.rateTimeout, ratingLink: (t) => this.app.ratingLink(t), metrics: noticeMetrics, notifier: hub.options.notifier });
    const factories: FeatureFactory[] = [(d) => new WindowTally(d), (d) => this.otaFeature(d, releaseKey),
      (d) => new DayFeature({ ...d, queue: this.queue, calendar: this.app.calendar, policy: hub.settings.day }),
      (d) => (this.notices = notices(d)), (d) => new SatisfactionAlerts({ ...d, settings: hub.settings.notices, notices: this.notices!, metrics: noticeMetrics }), 
      (d) => new PlatformFeature(d, { settings: hub.settings, ratings: this.queue.ratingsFeature, metricsRegistry: clustered(hub.settings) ? undefined : hub.metrics.registry }),
      ...frontFeatures(hub, front), ...(hub.options.features ?? [])];
    for (const make of factories) {
      const feature = make({ ...deps, log: log.child({ module: 'feature', hall: this.spec.hall }) });
      if (feature.migrations) await migrate(db, feature.migrations);
      await feature.start();
      this.features.push(feature);
    }
  }

  /** Over-the-air updates (hub/ota): images under <data>/ota, update commands through the downlink. */
  private otaFeature(d: import('./feature.js').FeatureDeps, releaseKey: ReleaseKey): OtaFeature {
    const s = this.hub.settings;
    const district = this.spec.hall !== s.hall || clustered(s);
    return new OtaFeature(d, {
      releaseKey, dir: dataPath(s, district ? `ota-${this.spec.hall}` : 'ota'), maxImageBytes: s.ota.maxImageMb * MIB,
      devices: () => this.registry.list().map((r) => r.id),
      runningFw: (dev) => this.registry.health(dev).fw,
      online: (dev) => this.registry.health(dev).online,
      send: (dev, body) => (this.downlink ? this.downlink.sendCommand({ v: PROTOCOL_VERSION, dev, t: (this.hub.options.now ?? Date.now)(), type: 'update', body }) : Promise.reject(new Error('not attached to MQTT yet'))),
      metricsRegistry: clustered(s) ? undefined : this.hub.metrics.registry,
      base: () => (s.ota.baseUrl || `http://${s.mqtt.advertisedHost}:${this.hub.httpPort ?? s.http.port}`).replace(/\/$/, '') + (district ? `/halls/${this.spec.hall}` : ''),
    });
  }

  /** What every hall's HTTP server needs from the hall: roles, tokens, config push. */
  httpDeps(): Pick<HttpDeps, 'registry' | 'auth' | 'tokens' | 'verify' | 'pushConfig' | 'desiredConfig' | 'mount' | 'trustProxy'> {
    return {
      registry: this.registry, auth: this.app.auth, tokens: this.tokens, trustProxy: this.hub.settings.http.trustProxy,
      verify: () => this.ledger.verify(),
      pushConfig: (dev, settings, by) => this.downlink.sendConfig(dev, settings, by),
      desiredConfig: (dev) => this.downlink.desiredConfig(dev),
      mount: (app) => this.mountRoutes(app),
    };
  }

  /** Every route of a hall: the queue, the 三诺 application and the dashboard. */
  mountRoutes(app: FastifyInstance): void {
    // Tickets' lookup codes: a key of their own from the hub key, so codes survive restarts and say nothing of other keys.
    const ticketKey = new Uint8Array(createHmac('sha256', this.hub.key).update('sannuo-ticket-code').digest());
    this.queue.routes(app, this.app.auth, { ticketsPerMinute: this.hub.settings.api.ticketsPerMinute, ticketKey });
    this.app.routes(app);
    for (const feature of this.features) feature.routes?.(app);
    dashboard(app);
    this.hub.options.mount?.(app);
  }

  /** Ingest on the hub's MQTT link; the caller subscribes to topics(). */
  attach(link: Link): void {
    const s = this.hub.settings;
    this.link = link;
    this.downlink = new Downlink({
      db: this.db, ledger: this.ledger, registry: this.registry, link, metrics: this.hub.metrics,
      log: this.hub.log.child({ module: 'downlink' }), site: this.spec.site, now: this.hub.options.now, bus: this.bus,
      stateOf: async (d) => {
        // A display at a window not set up yet has nothing to show: not a fault.
        if (d.role === 'display') return (await windowExists(this.db, d.win)) ? [{ kind: 'display', win: d.win, body: await this.queue.displayFor(d.win) }] : [];
        // Not a pad's open request: after a power cut the pad may hold that very rating in its
        // outbox, unsent, and showing the request again would ask the next citizen to rate it.
        return [];
      },
    });
    this.downlink.start();
    this.ingest = new Ingest({
      db: this.db, ledger: this.ledger, queue: this.queue, registry: this.registry, link, metrics: this.hub.metrics,
      log: this.hub.log.child({ module: 'ingest' }), site: this.spec.site, now: this.hub.options.now, bus: this.bus,
      downlink: this.downlink, batchWindow: s.ingest.batchWindow, maxBatch: s.ingest.maxBatch, health: this.commitHealth,
    });
  }

  topics(): string[] {
    return this.ingest.topics();
  }

  startTimers(): void {
    const s = this.hub.settings;
    this.timers.push(setInterval(() => void this.checkpoint(), s.ledger.checkpointInterval * 1000));
    this.timers.push(setInterval(() => { for (const dev of this.registry.online()) void this.downlink.sendTime(dev); }, s.timeSync.interval * 1000));
  }

  /** Signs the chain's head, writes it to the checkpoint file, publishes it retained. */
  async checkpoint(): Promise<Checkpoint | undefined> {
    try {
      const cp = await this.ledger.checkpoint();
      this.lastCheckpoint = cp;
      this.hub.metrics.checkpoints.inc();
      if (this.link?.connected()) await this.link.publish(checkpointTopic(this.spec.site), JSON.stringify(cp), { retain: true });
      return cp;
    } catch (error) {
      this.hub.log.error({ err: error, hall: this.spec.hall }, 'checkpoint failed');
      return undefined;
    }
  }

  private clearTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** In good order: stop receiving, commit and ack what was taken, checkpoint. */
  async drain(unsubscribe: boolean): Promise<void> {
    this.clearTimers();
    if (unsubscribe && this.link) await this.link.unsubscribe(this.topics()).catch(() => undefined);
    await this.ingest?.stop();
    if (this.ledger && this.link) await this.checkpoint();
  }

  /** The lease is gone: stop receiving and drop what was not committed. */
  async abort(): Promise<void> {
    this.clearTimers();
    if (this.link && this.ingest) await this.link.unsubscribe(this.topics()).catch(() => undefined);
    await this.ingest?.abort();
  }

  /** Features stop in the reverse order of their start; their bus listeners go with them. */
  async stopFeatures(): Promise<void> {
    for (const feature of this.features.splice(0).reverse()) {
      try {
        await feature.stop();
      } catch (error) {
        this.hub.log.warn({ err: error, feature: feature.name }, 'a feature failed to stop');
      }
    }
  }

  async close(): Promise<void> {
    await this.stopFeatures();
    this.commitHealth?.stop();
    this.downlink?.stop();
    await this.app?.stop().catch(() => undefined);
    await this.http?.close().catch(() => undefined);
    await this.db.close().catch(() => undefined);
  }

  health(): { ready?: boolean; why?: string | null; [key: string]: unknown } {
    return {
      hall: this.spec.hall, site: this.spec.site,
      devices: this.registry?.list().length ?? 0, online: this.registry?.online().length ?? 0,
      inFlight: this.ingest?.inFlightCount() ?? 0, checkpoint: this.lastCheckpoint ?? null,
      ...(this.commitHealth ? { ...this.commitHealth.ready(), commits: this.commitHealth.commits(), disk: this.commitHealth.disk() } : {}),
    };
  }
}

