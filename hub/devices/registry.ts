/**
 * The device registry: who may talk to this hub, with what secret, at which window; the
 * provisioning that creates a device; and each device's health as its retained state and
 * last will report it. Signing keys and MQTT passwords are derived once and cached, because
 * ingest looks them up for every event.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db, Migration } from '../db/db.js';
import type { Bus } from '../bus.js';
import type { LedgerAppender } from '../seams.js';
import { CONFIG_DEFAULTS, type DeviceConfig } from '../../firmware/core/config.js';
import { deriveMqttPassword, deriveSigningKey, ROLES, type DeviceState, type Hmac, type Role } from '../../firmware/core/protocol.js';
import { fromHex, toHex } from '../../firmware/core/utf8.js';
import { openAll, sealClearSecrets, type DeviceSecrets } from './secrets.js';

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
  /** 64 hex digits (in memory; the devices table holds it sealed, hub/devices/secrets.ts). */
  secret: string;
  created: number;
  /**
   * A pad that is its window's rating pad: rating requests go to it alone. A window has at most
   * one bound pad; a pad a supervisor replaced stays provisioned but unbound. Displays are always bound.
   */
  bound: boolean;
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
  /** A supervisor's confirmation to unbind the window's pad and bind this one instead. */
  replace?: boolean;
  /**
   * A known secret (64 lowercase hex digits) for a device built by hand (a lin build whose
   * manifest carries it). A technician's only, and the ledger row says a given secret was used.
   */
  secret?: string;
}

/** Who provisions, re-keys, moves or removes a device: the signed-in user or API token, as its ledger row records. */
export interface Actor {
  username: string;
  /** The display name; for an API token, "API token: <token name>". */
  name: string;
  role: string;
}

export class RegistryError extends Error {
  constructor(message: string, readonly status = 400, readonly field: string | null = null) {
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
  /** Each provisioning, re-keying, move, unbinding and removal is a ledger row of kind 'device'. */
  ledger: LedgerAppender;
  /** Seals the secrets the devices table holds, with a key from the hub key. */
  secrets: DeviceSecrets;
  /** The release key's public half (64 hex), written into every device config (hub/ota). */
  releaseKey?: string;
}

type DeviceAction = 'provision' | 'rekey' | 'move' | 'unbind' | 'remove';

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
    {
      // One bound pad per window. A hall that had two keeps the older bound; the others are unbound until a supervisor chooses.
      id: 'registry/002-bound-pad',
      sql: () => `ALTER TABLE devices ADD COLUMN bound INTEGER NOT NULL DEFAULT 1;
      UPDATE devices SET bound = 0 WHERE role = 'pad' AND EXISTS (SELECT 1 FROM devices d2 WHERE d2.site = devices.site AND d2.win = devices.win
        AND d2.role = 'pad' AND (d2.created < devices.created OR (d2.created = devices.created AND d2.id < devices.id)));
      CREATE UNIQUE INDEX IF NOT EXISTS devices_one_bound_pad ON devices (site, win) WHERE role = 'pad' AND bound = 1`,
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

  /** Seals secrets still in clear, then loads every device of this site into the cache; a secret that does not open (another hub key) stops the start, naming the devices. */
  async init(): Promise<void> {
    await sealClearSecrets(this.db, this.options.secrets);
    const rows = await this.db.all<Omit<DeviceRecord, 'created' | 'bound'> & { created: number | string; bound: number | string }>('SELECT id, role, site, win, fw, secret, created, bound FROM devices WHERE site = $1', [this.options.site]);
    this.devices.clear();
    for (const row of openAll(rows, this.options.secrets)) this.cache({ ...row, created: Number(row.created), bound: Number(row.bound) === 1 });
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

  /**
   * Creates a device with a fresh 32-byte secret and returns the config its firmware needs. A pad
   * for a window that has a bound pad is refused (409) unless a supervisor sends replace: true,
   * which unbinds the old pad. Every change is a ledger row with the actor, in the same transaction.
   */
  async provision(request: ProvisionRequest, actor: Actor): Promise<DeviceConfig> {
    if (typeof request !== 'object' || request === null) throw new RegistryError('provision: expected {role, win, id?}', 400, 'body');
    if (ROLES.indexOf(request.role) < 0) throw new RegistryError(`provision: role: expected one of ${ROLES.join(', ')}`, 400, 'body.role');
    if (typeof request.win !== 'string' || !ID.test(request.win)) throw new RegistryError('provision: win: expected 1–32 letters, digits, _ or -', 400, 'body.win');
    if (request.id !== undefined && (typeof request.id !== 'string' || !ID.test(request.id))) throw new RegistryError('provision: id: expected 1–32 letters, digits, _ or -', 400, 'body.id');
    if (request.fw !== undefined && (typeof request.fw !== 'string' || request.fw.length === 0 || request.fw.length > 32)) throw new RegistryError('provision: fw: expected a version string', 400, 'body.fw');
    if (request.replace !== undefined && typeof request.replace !== 'boolean') throw new RegistryError('provision: replace: expected true or false', 400, 'body.replace');
    if (request.secret !== undefined) {
      if (typeof request.secret !== 'string' || !/^[0-9a-f]{64}$/.test(request.secret)) throw new RegistryError('provision: secret: expected 64 lowercase hex digits (32 bytes)', 400, 'body.secret');
      // Someone who chose a secret knows it: a role that handles devices by hand, and only that one.
      if (actor.role !== 'technician') throw new RegistryError(`provision: secret: only a technician may provision with a given secret; you are ${actor.role} ${actor.username}`, 403, 'body.secret');
    }
    const id = request.id ?? `${request.role}-${request.win}-${randomBytes(3).toString('hex')}`.slice(-32);
    const record: DeviceRecord = {
      id, role: request.role, site: this.options.site, win: request.win,
      fw: request.fw ?? CONFIG_DEFAULTS.fw, secret: request.secret ?? randomBytes(32).toString('hex'), created: this.now(), bound: true,
    };
    const unbound = await this.write(async (tx) => {
      if (await tx.get('SELECT id FROM devices WHERE id = $1', [id])) throw new RegistryError(`provision: device ${id} already exists`, 409, 'body.id');
      const old = await this.claimWindow(tx, 'provision', record, request.replace === true, actor);
      await tx.run(
        'INSERT INTO devices (id, role, site, win, fw, secret, created, bound) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)',
        [record.id, record.role, record.site, record.win, record.fw, this.options.secrets.seal(id, record.secret), record.created],
      );
      await this.record(tx, 'provision', record, actor, { fw: record.fw, replaced: old, ...(request.secret !== undefined ? { givenSecret: true } : {}) });
      return old;
    });
    this.unbindCached(unbound);
    this.cache(record);
    this.options.bus?.emit('deviceChanged', { dev: id });
    return this.configFor(id)!;
  }

  /** A new secret for a device (a lost or leaked one): the old one stops working at once. Answers the new config, once. */
  async rekey(id: string, actor: Actor): Promise<DeviceConfig> {
    const d = this.mustGet(id);
    const record: DeviceRecord = { ...d, secret: randomBytes(32).toString('hex') };
    await this.write(async (tx) => {
      await tx.run('UPDATE devices SET secret = $2 WHERE id = $1', [id, this.options.secrets.seal(id, record.secret)]);
      await this.record(tx, 'rekey', record, actor);
    });
    this.cache(record);
    this.options.bus?.emit('deviceChanged', { dev: id });
    return this.configFor(id)!;
  }

  /**
   * Moves a device to a window (or binds an unbound pad at its own window). A pad goes bound, so
   * the one-pad rule applies as at provisioning. Answers the new config (the device's window is in it).
   */
  async move(id: string, input: { win?: unknown; replace?: unknown }, actor: Actor): Promise<DeviceConfig> {
    const d = this.mustGet(id);
    if (typeof input !== 'object' || input === null) throw new RegistryError('move: expected {win, replace?}', 400, 'body');
    if (typeof input.win !== 'string' || !ID.test(input.win)) throw new RegistryError('move: win: expected 1–32 letters, digits, _ or -', 400, 'body.win');
    if (input.replace !== undefined && typeof input.replace !== 'boolean') throw new RegistryError('move: replace: expected true or false', 400, 'body.replace');
    const record: DeviceRecord = { ...d, win: input.win, bound: true };
    const unbound = await this.write(async (tx) => {
      const old = await this.claimWindow(tx, 'move', record, input.replace === true, actor);
      await tx.run('UPDATE devices SET win = $2, bound = 1 WHERE id = $1', [id, record.win]);
      await this.record(tx, 'move', record, actor, { from: d.win, replaced: old });
      return old;
    });
    this.unbindCached(unbound);
    this.cache(record);
    this.options.bus?.emit('deviceChanged', { dev: id });
    return this.configFor(id)!;
  }

  /** Removes a device: its credentials stop working. Its ledger rows stay. */
  async remove(id: string, actor: Actor): Promise<{ device: string; removed: true }> {
    const d = this.mustGet(id);
    await this.write(async (tx) => {
      await tx.run('DELETE FROM devices WHERE id = $1', [id]);
      await this.record(tx, 'remove', d, actor);
    });
    this.devices.delete(id);
    this.healths.delete(id);
    this.onlineIds.delete(id);
    this.options.bus?.emit('deviceChanged', { dev: id });
    return { device: id, removed: true };
  }

  private mustGet(id: string): DeviceRecord {
    const d = this.devices.get(id)?.record;
    if (!d) throw new RegistryError(`params.id: device ${id} is not provisioned`, 404, 'params.id');
    return d;
  }

  /** A transaction; a race past claimWindow's check still meets the unique index, and reads as the same 409. */
  private async write<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    try {
      return await this.db.tx(fn);
    } catch (error) {
      if (!(error instanceof RegistryError) && /unique/i.test(String((error as Error).message)) && /devices_one_bound_pad|devices\.site, devices\.win/.test(String((error as Error).message))) {
        throw new RegistryError('this window already has a bound rating pad; send "replace": true as a supervisor to replace it', 409, 'body.replace');
      }
      throw error;
    }
  }

  /**
   * For a pad going bound at record.win: the window's other bound pad, if any. Refused (409)
   * without replace; replace is a supervisor's decision (403 for anyone else). With it the old pad
   * is unbound, and that is a ledger row of its own. Returns the unbound pad's id.
   */
  private async claimWindow(tx: Db, action: 'provision' | 'move', record: DeviceRecord, replace: boolean, actor: Actor): Promise<string | null> {
    if (record.role !== 'pad') return null;
    const old = await tx.get<Omit<DeviceRecord, 'created' | 'bound' | 'secret'> & { created: number | string }>(
      `SELECT id, role, site, win, fw, created FROM devices WHERE site = $1 AND win = $2 AND role = 'pad' AND bound = 1 AND id <> $3`, [record.site, record.win, record.id]);
    if (!old) return null;
    if (!replace) {
      throw new RegistryError(`${action}: window ${record.win} already has a rating pad (${old.id}); a window has one. `
        + `To replace it, a supervisor sends "replace": true, which unbinds ${old.id}`, 409, 'body.replace');
    }
    if (actor.role !== 'supervisor') throw new RegistryError(`${action}: replace: only a supervisor may replace window ${record.win}'s pad (${old.id}); you are ${actor.role} ${actor.username}`, 403, 'body.replace');
    await tx.run('UPDATE devices SET bound = 0 WHERE id = $1', [old.id]);
    await this.record(tx, 'unbind', old, actor, { replacedBy: record.id });
    return old.id;
  }

  /** The ledger row of a device change: what, which device, where, and who; never the secret. */
  private async record(tx: Db, action: DeviceAction, d: Pick<DeviceRecord, 'id' | 'role' | 'site' | 'win'>, actor: Actor, extra: Record<string, unknown> = {}): Promise<void> {
    await this.options.ledger.append(tx, [{
      kind: 'device', dev: d.id, boot: null, seq: null, at: this.now(),
      body: { action, dev: d.id, role: d.role, site: d.site, win: d.win, by: actor.username, byName: actor.name, byRole: actor.role, ...extra },
    }]);
  }

  private unbindCached(id: string | null): void {
    const c = id === null ? undefined : this.devices.get(id);
    if (c) c.record = { ...c.record, bound: false };
  }

  /** The DeviceConfig (firmware/core/config.ts) for a provisioned device. */
  configFor(id: string): DeviceConfig | undefined {
    const d = this.devices.get(id)?.record;
    if (!d) return undefined;
    return { ...CONFIG_DEFAULTS, id: d.id, role: d.role, site: d.site, win: d.win, secret: d.secret, fw: d.fw, broker: this.options.broker(), releaseKey: this.options.releaseKey ?? null };
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

  /** The window's bound rating pad, the only one rating requests go to. */
  boundPad(win: string): DeviceRecord | undefined {
    for (const { record } of this.devices.values()) if (record.role === 'pad' && record.win === win && record.bound) return record;
    return undefined;
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
    this.options.bus?.emit('deviceState', { dev: state.dev, online: state.online, fw: state.fw, upd: state.upd ?? null });
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
