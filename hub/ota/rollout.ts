/**
 * Staged rollouts of a firmware image. One rollout runs at a time:
 *
 *   canary ──(every canary device runs the version)──▶ rolling ──(every device does)──▶ done
 *     │  ▲                                               │  ▲
 *     ▼  │ resume                                        ▼  │ resume
 *   paused ◀── a technician, or any device reporting a failed update
 *     │
 *     ▼ rollback: the devices that took the version are offered the one they ran before
 *   rollback ──(each of them runs it again)──▶ rolledback
 *
 * A target device is offered the image (a signed `update` command) when its wave is open and it
 * is online; a device that comes back online mid-update (a power cut) is offered it again. Its
 * retained state tells the rest: the version it runs (done) and the Updater's progress
 * (downloading, failed). Every technician action, and every step the hub takes by itself (the
 * canary wave passed, a device failed and paused the rollout, done), is a ledger row of kind
 * 'ota' in the same transaction as the change.
 */

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, Migration } from '../db/db.js';
import type { LedgerAppender } from '../seams.js';
import type { Actor } from '../devices/registry.js';
import { HttpError } from '../http/errors.js';
import type { CommandBodies, UpdateProgress } from '../../firmware/core/protocol.js';
import type { FirmwareImage, ImageStore } from './store.js';

export type RolloutStatus = 'canary' | 'rolling' | 'paused' | 'done' | 'rollback' | 'rolledback';
export type TargetStatus = 'waiting' | 'offered' | 'downloading' | 'done' | 'failed' | 'reverting' | 'reverted' | 'skipped';

export interface Target {
  dev: string;
  /** 0: the canary wave; 1: the rest. */
  wave: number;
  /** The version the device ran when the rollout began (what a rollback offers), or null if unknown. */
  from: string | null;
  status: TargetStatus;
  got: number;
  size: number;
  err: string | null;
  at: number;
}

export interface Rollout {
  id: string;
  version: string;
  status: RolloutStatus;
  /** While paused: the phase resume returns to. */
  resumeTo: RolloutStatus | null;
  reason: string | null;
  /** At most this many devices of the second wave update at once, so a failure pauses the rollout before it reaches all. */
  batch: number;
  by: string;
  at: number;
  targets: Target[];
}

export const rolloutMigrations: Migration[] = [{
  id: 'ota/002-rollouts',
  sql: () => `CREATE TABLE IF NOT EXISTS ota_rollouts (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    resume_to TEXT,
    reason TEXT,
    batch INTEGER NOT NULL,
    by_user TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS ota_targets (
    rollout TEXT NOT NULL,
    dev TEXT NOT NULL,
    wave INTEGER NOT NULL,
    from_fw TEXT,
    status TEXT NOT NULL,
    got BIGINT NOT NULL,
    size BIGINT NOT NULL,
    err TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (rollout, dev)
  )`,
}];

const ACTIVE: readonly RolloutStatus[] = ['canary', 'rolling', 'paused', 'rollback'];

export interface RolloutDeps {
  db: Db;
  ledger: LedgerAppender;
  store: ImageStore;
  log: Logger;
  now: () => number;
  /** Every provisioned device id. */
  devices(): string[];
  /** The version a device last reported running, or null. */
  runningFw(dev: string): string | null;
  online(dev: string): boolean;
  /** Sends the signed update command; never rejects. */
  send(dev: string, body: CommandBodies['update']): Promise<void>;
  /** Where a device downloads a version from. */
  imageUrl(version: string): string;
}

export interface RolloutRequest {
  version: string;
  /** The devices to update (default: every provisioned device). */
  devices?: string[];
  /** How many go first (default 2), or exactly which. */
  canary?: number;
  canaryDevices?: string[];
  /** Devices of the second wave updating at once (default 10). */
  batch?: number;
}

const HUB_ACTOR: Actor = { username: '$hub', name: 'hub', role: 'hub' };

export class Rollouts {
  private active: Rollout | undefined;
  /** Every change runs after the one before: fifty devices' states must not open a wave twice. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: RolloutDeps) {}

  /** Loads the rollout that was running when the hub stopped, and carries it on. */
  async init(): Promise<void> {
    const row = await this.d.db.get<{ id: string }>(`SELECT id FROM ota_rollouts WHERE status IN ('canary', 'rolling', 'paused', 'rollback') ORDER BY at DESC LIMIT 1`);
    this.active = row ? await this.load(row.id) : undefined;
    await this.pump();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  current(): Rollout | undefined {
    return this.active ? structuredClone(this.active) : undefined;
  }

  async get(id: string): Promise<Rollout> {
    if (this.active?.id === id) return structuredClone(this.active);
    const r = await this.load(id);
    if (!r) throw new HttpError(404, `params.id: no rollout ${id}`, 'params.id');
    return r;
  }

  async list(): Promise<Omit<Rollout, 'targets'>[]> {
    const rows = await this.d.db.all<RolloutRow>('SELECT * FROM ota_rollouts ORDER BY at DESC, id LIMIT 100');
    return rows.map(rolloutOf);
  }

  start(request: RolloutRequest, actor: Actor): Promise<Rollout> {
    return this.serial(() => this.startNow(request, actor));
  }

  private async startNow(request: RolloutRequest, actor: Actor): Promise<Rollout> {
    if (this.active) throw new HttpError(409, `rollout ${this.active.id} (${this.active.version}) is ${this.active.status}; finish, roll back or let it end first`, 'version');
    const image = await this.d.store.get(request.version);
    if (!image) throw new HttpError(404, `version: no image ${request.version} is stored; upload it first`, 'version');
    const known = new Set(this.d.devices());
    const devices = request.devices ?? [...known].sort();
    for (const dev of devices) if (!known.has(dev)) throw new HttpError(400, `devices: ${dev} is not provisioned`, 'devices');
    if (new Set(devices).size !== devices.length) throw new HttpError(400, 'devices: a device is listed twice', 'devices');
    if (devices.length === 0) throw new HttpError(400, 'devices: no device to update', 'devices');
    let canary: string[];
    if (request.canaryDevices) {
      for (const dev of request.canaryDevices) if (devices.indexOf(dev) < 0) throw new HttpError(400, `canaryDevices: ${dev} is not one of the rollout's devices`, 'canaryDevices');
      canary = request.canaryDevices;
    } else {
      const n = request.canary ?? 2;
      if (!Number.isInteger(n) || n < 1) throw new HttpError(400, 'canary: expected at least 1 device', 'canary');
      canary = devices.slice(0, n);
    }
    const batch = request.batch ?? 10;
    if (!Number.isInteger(batch) || batch < 1) throw new HttpError(400, 'batch: expected at least 1 device', 'batch');
    const at = this.d.now();
    const rollout: Rollout = {
      id: `r${at.toString(36)}${randomBytes(2).toString('hex')}`, version: image.version, status: 'canary', resumeTo: null, reason: null, batch, by: actor.username, at,
      targets: devices.map((dev) => {
        const from = this.d.runningFw(dev);
        return { dev, wave: canary.indexOf(dev) >= 0 ? 0 : 1, from, status: from === image.version ? 'done' : 'waiting', got: 0, size: image.size, err: null, at };
      }),
    };
    await this.d.db.tx(async (tx) => {
      await tx.run('INSERT INTO ota_rollouts (id, version, status, resume_to, reason, batch, by_user, at) VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6)', [rollout.id, rollout.version, rollout.status, batch, actor.username, at]);
      for (const t of rollout.targets) await this.saveTarget(tx, rollout.id, t, true);
      await this.record(tx, 'rollout', rollout, actor, { devices: devices.length, canary });
    });
    this.active = rollout;
    this.d.log.info({ rollout: rollout.id, version: rollout.version, devices: devices.length, canary: canary.length, by: actor.username }, 'ota: rollout started');
    await this.pump();
    return this.current()!;
  }

  pause(id: string, actor: Actor, reason = 'paused by a technician'): Promise<Rollout> {
    return this.serial(() => this.pauseNow(id, actor, reason));
  }

  private async pauseNow(id: string, actor: Actor, reason: string): Promise<Rollout> {
    const r = this.mustBeActive(id);
    if (r.status !== 'canary' && r.status !== 'rolling') throw new HttpError(409, `rollout ${id} is ${r.status}: only a running rollout pauses`, 'params.id');
    await this.change(r, { status: 'paused', resumeTo: r.status, reason }, 'pause', actor);
    return this.current()!;
  }

  /** Back to the phase it paused in; devices whose update failed are offered it again. */
  resume(id: string, actor: Actor): Promise<Rollout> {
    return this.serial(() => this.resumeNow(id, actor));
  }

  private async resumeNow(id: string, actor: Actor): Promise<Rollout> {
    const r = this.mustBeActive(id);
    if (r.status !== 'paused') throw new HttpError(409, `rollout ${id} is ${r.status}: only a paused rollout resumes`, 'params.id');
    const retried = r.targets.filter((t) => t.status === 'failed');
    await this.d.db.tx(async (tx) => {
      for (const t of retried) Object.assign(t, { status: 'waiting', err: null, got: 0, at: this.d.now() });
      for (const t of retried) await this.saveTarget(tx, r.id, t);
      Object.assign(r, { status: r.resumeTo ?? 'canary', resumeTo: null, reason: null });
      await this.saveRollout(tx, r);
      await this.record(tx, 'resume', r, actor, { retried: retried.map((t) => t.dev) });
    });
    await this.pump();
    return this.current()!;
  }

  /**
   * The devices that took the version (or are taking it) are offered the version each ran
   * before; the others are left alone. Refused when that older image is not stored.
   */
  rollback(id: string, actor: Actor): Promise<Rollout> {
    return this.serial(() => this.rollbackNow(id, actor));
  }

  private async rollbackNow(id: string, actor: Actor): Promise<Rollout> {
    const r = this.mustBeActive(id);
    if (r.status === 'rollback') throw new HttpError(409, `rollout ${id} is already rolling back`, 'params.id');
    const back = r.targets.filter((t) => t.from !== null && t.from !== r.version && ['done', 'downloading', 'offered', 'failed'].indexOf(t.status) >= 0);
    const missing = [...new Set(back.map((t) => t.from!))];
    for (const version of missing) if (!(await this.d.store.get(version))) throw new HttpError(409, `rollback needs image ${version} (what ${back.filter((t) => t.from === version).map((t) => t.dev).join(', ')} ran before); upload it first`, 'params.id');
    const at = this.d.now();
    await this.d.db.tx(async (tx) => {
      for (const t of r.targets) {
        if (back.indexOf(t) >= 0) Object.assign(t, { status: this.d.runningFw(t.dev) === t.from ? 'reverted' : 'reverting', got: 0, err: null, at });
        else if (t.status === 'waiting') Object.assign(t, { status: 'skipped', at });
        await this.saveTarget(tx, r.id, t);
      }
      Object.assign(r, { status: 'rollback', resumeTo: null, reason: `rolled back by ${actor.username}` });
      await this.saveRollout(tx, r);
      await this.record(tx, 'rollback', r, actor, { devices: back.map((t) => t.dev) });
    });
    for (const t of r.targets) if (t.status === 'reverting' && this.d.online(t.dev)) await this.offer(r, t);
    await this.pump();
    return this.current() ?? (await this.get(id));
  }

  /** A device's retained state arrived: what it runs, and where its update stands. */
  onState(dev: string, fw: string, upd: UpdateProgress | undefined): Promise<void> {
    return this.serial(() => this.onStateNow(dev, fw, upd));
  }

  private async onStateNow(dev: string, fw: string, upd: UpdateProgress | undefined): Promise<void> {
    const r = this.active;
    const t = r?.targets.find((x) => x.dev === dev);
    if (!r || !t) return;
    const before = `${t.status}/${t.got}/${t.err}`;
    const wanted = r.status === 'rollback' ? t.from : r.version;
    let failed: string | null = null;
    if (r.status === 'rollback') {
      if (t.status === 'reverting' && fw === t.from) t.status = 'reverted';
      // A device that cannot go back either is left as it is, named, and the rollback goes on.
      else if (t.status === 'reverting' && upd && upd.v === t.from && upd.phase === 'failed') Object.assign(t, { status: 'failed', err: upd.err });
    } else if (fw === r.version) {
      if (t.status !== 'done') Object.assign(t, { status: 'done', got: t.size, err: null });
    } else if (upd && upd.v === wanted && (t.status === 'offered' || t.status === 'downloading')) {
      if (upd.phase === 'failed') {
        Object.assign(t, { status: 'failed', err: upd.err, got: upd.got });
        failed = upd.err ?? 'failed';
      } else Object.assign(t, { status: 'downloading', got: upd.got });
    }
    if (`${t.status}/${t.got}/${t.err}` === before) return;
    t.at = this.d.now();
    // Progress is kept in memory; each status change is written.
    const statusChanged = before.split('/')[0] !== t.status;
    if (!statusChanged && !failed) return;
    await this.d.db.tx(async (tx) => {
      await this.saveTarget(tx, r.id, t);
      if (failed !== null && (r.status === 'canary' || r.status === 'rolling')) {
        Object.assign(r, { status: 'paused', resumeTo: r.status, reason: `${dev} failed: ${failed}` });
        await this.saveRollout(tx, r);
        await this.record(tx, 'device-failed', r, HUB_ACTOR, { dev, err: failed, paused: true });
        this.d.log.warn({ rollout: r.id, version: r.version, dev, err: failed }, 'ota: a device failed its update; the rollout is paused');
      }
    });
    await this.pump();
  }

  /** A device came online: offer it again what it was offered (it may have lost power mid-update). */
  onOnline(dev: string): Promise<void> {
    return this.serial(() => this.onOnlineNow(dev));
  }

  private async onOnlineNow(dev: string): Promise<void> {
    const r = this.active;
    const t = r?.targets.find((x) => x.dev === dev);
    if (!r || !t) return;
    if (t.status === 'offered' || t.status === 'downloading' || t.status === 'reverting') await this.offer(r, t);
    else await this.pump();
  }

  /** Opens the next wave when the last one is done, ends the rollout when all are, and offers what is due. */
  private async pump(): Promise<void> {
    const r = this.active;
    if (!r) return;
    if (r.status === 'canary' && r.targets.filter((t) => t.wave === 0).every((t) => t.status === 'done')) {
      await this.change(r, { status: 'rolling' }, 'advance', HUB_ACTOR);
    }
    if (r.status === 'rolling' && r.targets.every((t) => t.status === 'done')) {
      await this.change(r, { status: 'done' }, 'done', HUB_ACTOR);
      this.active = undefined;
      return;
    }
    if (r.status === 'rollback' && r.targets.every((t) => t.status !== 'reverting')) {
      await this.change(r, { status: 'rolledback' }, 'rolledback', HUB_ACTOR);
      this.active = undefined;
      return;
    }
    if (r.status === 'canary') {
      for (const t of r.targets) if (t.wave === 0 && t.status === 'waiting' && this.d.online(t.dev)) await this.offer(r, t);
    } else if (r.status === 'rolling') {
      let room = r.batch - r.targets.filter((t) => t.wave === 1 && (t.status === 'offered' || t.status === 'downloading')).length;
      for (const t of r.targets) {
        if (room <= 0) break;
        if (t.status === 'waiting' && this.d.online(t.dev)) {
          room--;
          await this.offer(r, t);
        }
      }
    }
  }

  private async offer(r: Rollout, t: Target): Promise<void> {
    const version = r.status === 'rollback' ? t.from : r.version;
    if (!version) return;
    const image: FirmwareImage | undefined = await this.d.store.get(version);
    if (!image) return;
    if (t.status === 'waiting') {
      t.status = 'offered';
      t.at = this.d.now();
      await this.saveTarget(this.d.db, r.id, t);
    }
    await this.d.send(t.dev, { version: image.version, url: this.d.imageUrl(image.version), size: image.size, sha256: image.sha256, sig: image.sig });
  }

  private mustBeActive(id: string): Rollout {
    if (!this.active || this.active.id !== id) throw new HttpError(this.active ? 409 : 404, `params.id: rollout ${id} is not the running one${this.active ? ` (${this.active.id} is)` : ''}`, 'params.id');
    return this.active;
  }

  private async change(r: Rollout, next: Partial<Rollout>, action: string, actor: Actor): Promise<void> {
    Object.assign(r, next);
    await this.d.db.tx(async (tx) => {
      await this.saveRollout(tx, r);
      await this.record(tx, action, r, actor);
    });
    this.d.log.info({ rollout: r.id, version: r.version, status: r.status, by: actor.username }, `ota: rollout ${action}`);
  }

  private async saveRollout(tx: Db, r: Rollout): Promise<void> {
    await tx.run('UPDATE ota_rollouts SET status = $2, resume_to = $3, reason = $4 WHERE id = $1', [r.id, r.status, r.resumeTo, r.reason]);
  }

  private async saveTarget(tx: Db, rollout: string, t: Target, insert = false): Promise<void> {
    if (insert) {
      await tx.run('INSERT INTO ota_targets (rollout, dev, wave, from_fw, status, got, size, err, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [rollout, t.dev, t.wave, t.from, t.status, t.got, t.size, t.err, t.at]);
    } else {
      await tx.run('UPDATE ota_targets SET status = $3, got = $4, err = $5, at = $6 WHERE rollout = $1 AND dev = $2', [rollout, t.dev, t.status, t.got, t.err, t.at]);
    }
  }

  private async record(tx: Db, action: string, r: Rollout, actor: Actor, extra: Record<string, unknown> = {}): Promise<void> {
    await this.d.ledger.append(tx, [{
      kind: 'ota', dev: null, boot: null, seq: null, at: this.d.now(),
      body: { action, rollout: r.id, version: r.version, status: r.status, by: actor.username, byName: actor.name, byRole: actor.role, ...extra },
    }]);
  }

  private async load(id: string): Promise<Rollout | undefined> {
    const row = await this.d.db.get<RolloutRow>('SELECT * FROM ota_rollouts WHERE id = $1', [id]);
    if (!row) return undefined;
    const targets = await this.d.db.all<TargetRow>('SELECT * FROM ota_targets WHERE rollout = $1 ORDER BY wave, dev', [id]);
    return {
      ...rolloutOf(row),
      targets: targets.map((t) => ({ dev: t.dev, wave: Number(t.wave), from: t.from_fw, status: t.status as TargetStatus, got: Number(t.got), size: Number(t.size), err: t.err, at: Number(t.at) })),
    };
  }
}

type RolloutRow = { id: string; version: string; status: string; resume_to: string | null; reason: string | null; batch: number | string; by_user: string; at: number | string };
type TargetRow = { dev: string; wave: number | string; from_fw: string | null; status: string; got: number | string; size: number | string; err: string | null; at: number | string };

function rolloutOf(row: RolloutRow): Omit<Rollout, 'targets'> {
  return { id: row.id, version: row.version, status: row.status as RolloutStatus, resumeTo: row.resume_to as RolloutStatus | null, reason: row.reason, batch: Number(row.batch), by: row.by_user, at: Number(row.at) };
}

export function isActive(status: RolloutStatus): boolean {
  return ACTIVE.indexOf(status) >= 0;
}
