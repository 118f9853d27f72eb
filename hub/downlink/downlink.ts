/**
 * The downlink: turns committed effects into signed device commands (display, rating request)
 * and sends config and time. Ingest hands it a group's effects after the commit; the queue's
 * HTTP changes reach it on the bus (queueChanged); a device coming online (deviceOnline) or
 * booting (its boot event) gets the time, its desired settings and its current state: a display
 * its window's call, a pad the rating request still open at its window.
 *
 * Commands are signed with the device's key (protocol.ts encodeCommand) and published on
 * sannuo/v1/<site>/<dev>/cmd. Delivery is best effort: a display that missed one gets the
 * window's state again with the next change.
 *
 * A command's `t` is this hub's clock. Devices refuse one more than their replay window (60 s)
 * older than the newest they have accepted, and keep that mark across reboots
 * (firmware/core/device.ts), so a captured command cannot be replayed after a power cut. The
 * flip side: a hub clock that once ran far ahead leaves devices deaf to it until it catches
 * up, or until they are re-keyed (a new secret starts a fresh mark).
 */

import type { Db, Migration } from '../db/db.js';
import {
  encodeCommand, isProtocolError, topicFor, PROTOCOL_VERSION, type AnyHubCommand, type CommandBodies, type Role,
} from '../../firmware/core/protocol.js';
import { nodeHmac } from '../devices/registry.js';
import { NODE_TEXT } from '../text.js';
import { Condition, settleLogged } from '../log.js';
import type { DeviceLinkDeps, Effect } from '../seams.js';

export interface DownlinkOptions extends DeviceLinkDeps {
  /**
   * What a device should show right now, as effects: a display its window's call, a pad the
   * rating request still open at its window. Sent whenever it comes online or boots, so a
   * display that rebooted mid-call shows the call again.
   */
  stateOf?: (device: { id: string; role: Role; win: string }) => Promise<Effect[]>;
}

const OWNER = 'downlink';

export class Downlink {
  static migrations: Migration[] = [
    {
      // What each device should run: the config pushes merged, sent again whenever it comes online.
      id: 'ingest/003-device-config',
      sql: () => `CREATE TABLE device_config (
        dev TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        by TEXT NOT NULL,
        at BIGINT NOT NULL
      )`,
    },
  ];

  private readonly now: () => number;
  /** Reading a device's state failed (a database that cannot answer): one line, summaries, an end. */
  private readonly stateReads: Condition;

  constructor(private readonly o: DownlinkOptions) {
    this.now = o.now ?? Date.now;
    this.stateReads = new Condition(o.log, 'device-state-read', 'downlink: could not read the state to send a device coming online', { level: 'warn' });
  }

  start(): void {
    this.o.bus.on('queueChanged', OWNER, ({ effects }) => this.dispatch(effects));
    this.o.bus.on('deviceOnline', OWNER, ({ dev }) => {
      void this.sendTime(dev);
      void this.sendDesiredConfig(dev);
      void this.sendState(dev);
    });
    // A device that rebooted fast may come back before its last will said it went away: its boot event says so.
    this.o.bus.on('eventCommitted', OWNER, ({ dev, type }) => { if (type === 'boot') void this.sendState(dev); });
  }

  stop(): void {
    this.o.bus.off(OWNER);
  }

  /** The device's current state (its window's display, or the open rating request), to it alone. Never rejects. */
  async sendState(dev: string): Promise<void> {
    const device = this.o.registry.get(dev);
    if (!device || !this.o.stateOf) return;
    try {
      const effects = await this.o.stateOf({ id: device.id, role: device.role, win: device.win });
      const sends: Promise<void>[] = [];
      for (const e of effects) {
        if (e.kind === 'display' && device.role === 'display') sends.push(this.sendCommand({ v: PROTOCOL_VERSION, dev, t: this.now(), type: 'display', body: e.body }));
        else if (e.kind === 'rateReq' && device.role === 'pad' && device.bound !== false) sends.push(this.sendCommand({ v: PROTOCOL_VERSION, dev, t: this.now(), type: 'rateReq', body: e.body }));
      }
      this.stateReads.ok();
      await settleLogged(sends, this.o.log, 'downlink: publish failed; the device gets its state again when it next comes online');
    } catch (error) {
      this.stateReads.fail({ err: String(error), dev });
    }
  }

  /** Sends the commands of committed effects (ingest's groups, the queue's HTTP changes). Never rejects. */
  dispatch(effects: Effect[]): Promise<void> {
    return settleLogged(effects.flatMap((e) => this.applyEffect(e)), this.o.log, 'downlink: publish failed; the device gets the state again with the next change');
  }


  private applyEffect(effect: Effect): Promise<void>[] {
    if (effect.kind === 'hall') {
      this.o.bus.emit('windowChanged', { win: null });
      return [];
    }
    const role: Role = effect.kind === 'display' ? 'display' : 'pad';
    // A rating request goes to the window's bound pad alone: another pad at the window (a rogue
    // one, or one a supervisor replaced) never learns a ticket is waiting for a rating.
    const pad = role === 'pad' ? this.o.registry.boundPad(effect.win) : undefined;
    const targets = role === 'pad' ? (pad ? [pad] : []) : this.o.registry.atWindow(effect.win, role);
    if (targets.length === 0) this.o.log.warn({ win: effect.win, role }, `no ${role === 'pad' ? 'bound pad' : role} provisioned at window ${effect.win}`);
    return targets.map((d) => this.sendCommand({ v: PROTOCOL_VERSION, dev: d.id, t: this.now(), type: effect.kind, body: effect.body } as AnyHubCommand));
  }

  sendCommand(command: AnyHubCommand): Promise<void> {
    const signingKey = this.o.registry.signingKey(command.dev);
    if (!signingKey) return Promise.reject(new Error(`device ${command.dev} is not provisioned`));
    const line = encodeCommand(command, signingKey, nodeHmac, NODE_TEXT);
    if (isProtocolError(line)) {
      this.o.log.error({ dev: command.dev, type: command.type, err: line.message }, 'downlink: cannot encode command');
      return Promise.resolve();
    }
    return this.o.link.publish(topicFor(this.o.site, command.dev, 'cmd'), line).then(() => { this.o.metrics.commandsSent.inc({ type: command.type }); });
  }

  /**
   * A remote settings change: a ledger row (kind 'config': device, settings, who) and the
   * device's desired settings (every push so far merged, a key set by a later push winning) in
   * one transaction, then the signed config command. The device applies it all or nothing. A
   * device that is offline gets its desired settings when it next comes online, and every time
   * after (applying them twice changes nothing), so a pad that was off, or that lost the command
   * with its connection, still ends up with what was pushed.
   */
  async sendConfig(dev: string, settings: CommandBodies['config'], by: string): Promise<{ at: number; desired: CommandBodies['config']; sent: boolean }> {
    const at = this.now();
    const desired = await this.o.db.tx(async (tx) => {
      await this.o.ledger.append(tx, [{ kind: 'config', dev, boot: null, seq: null, at, body: { settings, by } }]);
      const merged = mergeConfig((await this.desiredConfig(dev, tx))?.settings, settings);
      await tx.run(`INSERT INTO device_config (dev, settings, by, at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (dev) DO UPDATE SET settings = excluded.settings, by = excluded.by, at = excluded.at`, [dev, JSON.stringify(merged), by, at]);
      return merged;
    });
    // Offline: nothing to send now; the device gets `desired` when it comes online.
    const sent = this.o.registry.health(dev).online;
    if (sent) await this.sendCommand({ v: PROTOCOL_VERSION, dev, t: at, type: 'config', body: settings });
    return { at, desired, sent };
  }

  /** The device's desired settings (every push merged), who pushed last and when; null if none ever was. */
  async desiredConfig(dev: string, db: Db = this.o.db): Promise<{ settings: CommandBodies['config']; by: string; at: number } | null> {
    const row = await db.get<{ settings: string; by: string; at: number }>('SELECT settings, by, at FROM device_config WHERE dev = $1', [dev]);
    return row ? { settings: JSON.parse(row.settings) as CommandBodies['config'], by: row.by, at: Number(row.at) } : null;
  }

  /** Sends the desired settings, if any were ever pushed; called when the device comes online. */
  async sendDesiredConfig(dev: string): Promise<void> {
    try {
      const desired = await this.desiredConfig(dev);
      if (!desired) return;
      await this.sendCommand({ v: PROTOCOL_VERSION, dev, t: this.now(), type: 'config', body: desired.settings });
    } catch (error) {
      this.o.log.warn({ dev, err: String(error) }, 'sending the desired config failed; it is sent again when the device next comes online');
    }
  }

  /** A time command, so the device can correct its clock. */
  sendTime(dev: string): Promise<void> {
    return this.sendCommand({ v: PROTOCOL_VERSION, dev, t: this.now(), type: 'time', body: { now: this.now() } })
      .catch((error) => this.o.log.warn({ dev, err: String(error) }, 'time sync failed'));
  }

}

/** Desired settings after a push: the push's keys replace those before; null keys keep them. */
export function mergeConfig(before: CommandBodies['config'] | undefined, change: CommandBodies['config']): CommandBodies['config'] {
  const merged = { ...(before ?? { rateTimeout: null, unsolicited: null, volume: null, idleText: null }) };
  for (const [k, v] of Object.entries(change) as [keyof CommandBodies['config'], never][]) if (v !== null) merged[k] = v;
  return merged;
}

