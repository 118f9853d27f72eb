/**
 * The device registry: who may talk to this hub, with what secret, at which window; the
 * provisioning that creates a device; and each device's health as its retained state and
 * last will report it. Signing keys and MQTT passwords are derived once and cached, because
 * ingest looks them up for every event.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db, Migration } from '../db/db.js';
import type { Bus } from '../bus.js';
import { CONFIG_DEFAULTS, type DeviceConfig } from '../../firmware/core/config.js';
import { deriveMqttPassword, deriveSigningKey, ROLES, type DeviceState, type Hmac, type Role } from '../../firmware/core/protocol.js';
import { fromHex, toHex } from '../../firmware/core/utf8.js';

/** HMAC-SHA256 from Node's crypto: the hub has it natively, the firmware injects its own. */
export const nodeHmac: Hmac = Object.assign(
  (key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac('sha256', key).update(data).digest()),
  { hexOfText: (key: Uint8Array, text: string) => createHmac('sha256', key).update(text, 'utf8').digest('hex') },
);

const ID = /^[A-Za-z0-9_-]{1,32}$/;

export interface DeviceRecord {
  id: string;
  role: Role;
  site: string;
  win: string;
  /** Firmware version given at provisioning; the running one is in health. */
  fw: string;
  /** 64 hex digits. */
  secret: string;
  created: number;
}

export interface DeviceHealth {
  online: boolean;
  /** ms since the epoch of the last message of any kind from the device; null if never. */
  lastSeen: number | null;
  bat: number | null;
  rssi: number | null;
  heap: number | null;
  up: number | null;
  fw: string | null;
  outbox: number | null;
}

export interface ProvisionRequest {
  role: Role;
  win: string;
  id?: string;
  fw?: string;
}

export class RegistryError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = 'RegistryError';
  }
}

export interface RegistryOptions {
  site: string;
  /** What provisioned devices are told about the broker. */
  broker: () => DeviceConfig['broker'];
  now?: () => number;
  /** Hears deviceChanged, deviceOnline and deviceOffline. */
  bus?: Bus;
}

interface Cached {
  record: DeviceRecord;
  signingKey: Uint8Array;
  mqttPassword: Buffer;
}

export class Registry {
  static migrations: Migration[] = [
    {
      id: 'registry/001-devices',
      sql: () => `CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        site TEXT NOT NULL,
        win TEXT NOT NULL,
        fw TEXT NOT NULL,
        secret TEXT NOT NULL,
        created BIGINT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS devices_win ON devices (win, role)`,
    },
  ];

  private readonly devices = new Map<string, Cached>();
  private readonly healths = new Map<string, DeviceHealth>();
  /** Ids of devices whose last state said online (kept as states arrive, so counting is O(1)). */
  private readonly onlineIds = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly db: Db, private readonly options: RegistryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Loads every device of this site into the cache. */
  async init(): Promise<void> {
    const rows = await this.db.all<DeviceRecord & { created: number | string }>('SELECT id, role, site, win, fw, secret, created FROM devices WHERE site = $1', [this.options.site]);
    this.devices.clear();
    for (const row of rows) this.cache({ ...row, created: Number(row.created) });
  }

  private cache(record: DeviceRecord): Cached {
    const secret = fromHex(record.secret);
    if (!secret || secret.length !== 32) throw new RegistryError(`device ${record.id}: stored secret is not 64 hex digits`, 500);
    const entry: Cached = {
      record,
      signingKey: deriveSigningKey(secret, nodeHmac),
      mqttPassword: Buffer.from(deriveMqttPassword(secret, nodeHmac)),
    };
    this.devices.set(record.id, entry);
    return entry;
  }

  /** Creates a device with a fresh 32-byte secret and returns the config its firmware needs. */
  async provision(request: ProvisionRequest): Promise<DeviceConfig> {
    if (typeof request !== 'object' || request === null) throw new RegistryError('provision: expected {role, win, id?}');
    if (ROLES.indexOf(request.role) < 0) throw new RegistryError(`provision: role: expected one of ${ROLES.join(', ')}`);
    if (typeof request.win !== 'string' || !ID.test(request.win)) throw new RegistryError('provision: win: expected 1–32 letters, digits, _ or -');
    if (request.id !== undefined && (typeof request.id !== 'string' || !ID.test(request.id))) throw new RegistryError('provision: id: expected 1–32 letters, digits, _ or -');
    if (request.fw !== undefined && (typeof request.fw !== 'string' || request.fw.length === 0 || request.fw.length > 32)) throw new RegistryError('provision: fw: expected a version string');
    const id = request.id ?? `${request.role}-${request.win}-${randomBytes(3).toString('hex')}`.slice(-32);
    const record: DeviceRecord = {
      id, role: request.role, site: this.options.site, win: request.win,
      fw: request.fw ?? CONFIG_DEFAULTS.fw, secret: randomBytes(32).toString('hex'), created: this.now(),
    };
    const { changes } = await this.db.run(
      'INSERT INTO devices (id, role, site, win, fw, secret, created) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING',
      [record.id, record.role, record.site, record.win, record.fw, record.secret, record.created],
    );
    if (changes === 0) throw new RegistryError(`provision: device ${id} already exists`, 409);
    this.cache(record);
    this.options.bus?.emit('deviceChanged', { dev: id });
    return this.configFor(id)!;
  }

  /** The DeviceConfig (firmware/core/config.ts) for a provisioned device. */
  configFor(id: string): DeviceConfig | undefined {
    const d = this.devices.get(id)?.record;
    if (!d) return undefined;
    return { ...CONFIG_DEFAULTS, id: d.id, role: d.role, site: d.site, win: d.win, secret: d.secret, fw: d.fw, broker: this.options.broker() };
  }

  get(id: string): DeviceRecord | undefined {
    return this.devices.get(id)?.record;
  }

  list(): DeviceRecord[] {
    return [...this.devices.values()].map((d) => d.record).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The devices of one role at one window (a window normally has one display and one pad). */
  atWindow(win: string, role: Role): DeviceRecord[] {
    return this.list().filter((d) => d.win === win && d.role === role);
  }

  signingKey(id: string): Uint8Array | undefined {
    return this.devices.get(id)?.signingKey;
  }

  /** Constant-time check of a device's MQTT login. */
  checkPassword(id: string, password: Buffer | Uint8Array | string | undefined): 'ok' | 'unknown-user' | 'bad-password' {
    const d = this.devices.get(id);
    if (!d) return 'unknown-user';
    if (password === undefined) return 'bad-password';
    const given = Buffer.from(password as Uint8Array);
    if (given.length !== d.mqttPassword.length || !timingSafeEqual(given, d.mqttPassword)) return 'bad-password';
    return 'ok';
  }

  mqttPassword(id: string): string | undefined {
    return this.devices.get(id)?.mqttPassword.toString();
  }

  // ------------------------------------------------------------ health

  private healthOf(id: string): DeviceHealth {
    let h = this.healths.get(id);
    if (!h) {
      h = { online: false, lastSeen: null, bat: null, rssi: null, heap: null, up: null, fw: null, outbox: null };
      this.healths.set(id, h);
    }
    return h;
  }

  /** A retained state or last will arrived. Returns true when the device just came online. */
  applyState(state: DeviceState): boolean {
    const h = this.healthOf(state.dev);
    const wasOnline = h.online;
    const cameOnline = state.online && !wasOnline;
    Object.assign(h, { online: state.online, bat: state.bat, rssi: state.rssi, heap: state.heap, up: state.up, fw: state.fw, outbox: state.outbox });
    if (state.online && this.devices.has(state.dev)) this.onlineIds.add(state.dev);
    else this.onlineIds.delete(state.dev);
    if (state.online) h.lastSeen = this.now();
    if (cameOnline) this.options.bus?.emit('deviceOnline', { dev: state.dev });
    else if (!state.online && wasOnline) this.options.bus?.emit('deviceOffline', { dev: state.dev });
    return cameOnline;
  }

  /** Any authentic message from the device. */
  seen(id: string): void {
    this.healthOf(id).lastSeen = this.now();
  }

  health(id: string): DeviceHealth {
    return { ...this.healthOf(id) };
  }

  online(): string[] {
    return [...this.onlineIds].filter((id) => this.devices.has(id));
  }

  /** How many devices are online; O(1), called on every state message. */
  onlineCount(): number {
    return this.onlineIds.size;
  }
}

/** The hub's own MQTT identity on an external broker (and on the embedded one). */
export interface HubIdentity {
  username: string;
  password: string;
}

/**
 * The user name of the hub's intake connection (hub/mqtt/intake.ts). Mosquitto runs with
 * use_username_as_clientid, so two connections under one user name would take over each other;
 * the intake has its own name, with the hub's password.
 */
export function intakeUsername(hubUser: string): string {
  return `${hubUser}-intake`;
}

/** A district hub's own user name when the hubs write Mosquitto's files: the hubs share a broker and a password, and each connection needs a name of its own. */
export function districtHubUsername(hubUser: string, hubId: string): string {
  return `${hubUser}.${hubId}`;
}

/** The hub's password on the embedded broker, derived from the hub key so it survives restarts. */
export function hubMqttPassword(hubKey: Uint8Array): string {
  return toHex(nodeHmac(hubKey, new TextEncoder().encode('sannuo/v1 hub mqtt')));
}
