/**
 * What a hall hub (hub/hub.ts) and a district hub (hub/district/district.ts) share: the data
 * folder and hub key, the metrics, the advertised broker, an external broker's URL, and the
 * start-up helpers. A HallRuntime (hub/hall.ts) reaches its hub only through HallHost.
 */

import fs from 'node:fs';
import os from 'node:os';
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Db } from './db/db.js';
import type { Notifier } from './notices/notifier.js';
import type { FeatureFactory } from './feature.js';
import { Metrics } from './metrics.js';
import { dataPath, advertisedPort, type Settings } from './settings.js';
import type { HubIdentity } from './devices/registry.js';

export interface HubOptions {
  /** The hub's clock (a simulator under virtual time passes its own). */
  now?: () => number;
  /** More HTTP routes (e.g. the simulator's /sim plugin). */
  mount?: (app: FastifyInstance) => void;
  /** Features beyond the built-in ones (hub/feature.ts). */
  features?: FeatureFactory[];
  /** The notices' adapter, instead of the one notices.adapter names (an SMS or WeChat provider's). */
  notifier?: Notifier;
}

/** What a hall's runtime needs from the hub that runs it. */
export interface HallHost {
  readonly settings: Settings;
  readonly log: Logger;
  readonly options: HubOptions;
  readonly metrics: Metrics;
  readonly key: Uint8Array;
  /** The HTTP port it listens on, once it does (devices download firmware images from it). */
  readonly httpPort?: number;
  advertisedBroker(): { host: string; port: number; tls: boolean };
}

export type HubState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Fields and start-up steps both kinds of hub have. Constructors only store; start() does the work. */
export abstract class HubBase implements HallHost {
  readonly metrics = new Metrics();
  mqttPort = 0;
  httpPort = 0;
  mqttUrl = '';
  protected hubKey!: Uint8Array;
  protected identity!: HubIdentity;
  protected state: HubState = 'new';

  constructor(readonly settings: Settings, readonly log: Logger, readonly options: HubOptions = {}) {}

  abstract start(): Promise<void>;
  /** In order: stop taking messages, finish and ack the commits in flight, checkpoint, then close. */
  abstract stop(): Promise<void>;
  /** What /healthz reports; ok false answers 503. */
  abstract health(): Promise<{ ok: boolean; [key: string]: unknown }>;

  get key(): Uint8Array {
    return this.hubKey;
  }

  /** Client id and session kind of one of the hub's connections to an external broker (settings mqtt.persistentSession). */
  protected sessionOf(name: string): { clientId: string; persistent: boolean } {
    const persistent = this.settings.mqtt.persistentSession;
    return { clientId: hubClientId(name, persistent ? this.hubKey : undefined), persistent };
  }

  advertisedBroker() {
    const s = this.settings;
    return { host: s.mqtt.advertisedHost, port: advertisedPort(s, this.mqttPort), tls: s.mqtt.tls };
  }

  /** The data folder (owner-only: the database, the hub key and the first supervisor's password live here) and the hub key. */
  protected openData(): void {
    const s = this.settings;
    fs.mkdirSync(s.data, { recursive: true, mode: 0o700 });
    fs.chmodSync(s.data, 0o700);
    this.hubKey = loadHubKey(dataPath(s, 'hub.key'));
  }

  /** settings.broker is an external mqtt:// URL: its user and password are the hub's identity. */
  protected externalBroker(): void {
    const url = new URL(this.settings.broker);
    this.identity = { username: decodeURIComponent(url.username) || this.settings.mqtt.hubUser, password: decodeURIComponent(url.password) };
    url.username = '';
    url.password = '';
    this.mqttUrl = url.toString();
    this.mqttPort = Number(url.port) || 1883;
  }
}

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

/**
 * The hub's MQTT client ids are not guessable, or one could be taken over (the embedded broker
 * and Mosquitto with use_username_as_clientid also tie ids to users). With a persistent session
 * (mqtt.persistentSession), the id must also survive a restart of the hub, or each start would
 * leave a session behind: then it is an HMAC of the name under the hub key.
 */
export function hubClientId(name: string, persistentKey?: Uint8Array): string {
  const tag = persistentKey ? createHmac('sha256', persistentKey).update(`mqtt-client-id:${name}`).digest('hex').slice(0, 12) : randomBytes(6).toString('hex');
  return `sannuo-hub-${name}-${tag}`;
}

/** The hub's id in a district: settings, or <hostname>-<pid>. */
export function hubIdOf(settings: Settings): string {
  return settings.cluster.hubId || `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
}

/**
 * Connects the link; just after the hub rewrote Mosquitto's files and signalled it, a refused
 * login is retried for a few seconds (the broker re-reads them asynchronously).
 */
export async function connectRetrying(link: { connect(): Promise<void> }, justWrote: boolean): Promise<void> {
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

export async function openPostgresDb(url: string): Promise<Db> {
  // Loaded only when asked for, so a SQLite hall never loads pg.
  const modulePath = './db/postgres.js';
  const mod = (await import(modulePath)) as { openPostgres(url: string): Promise<Db> };
  return mod.openPostgres(url);
}

