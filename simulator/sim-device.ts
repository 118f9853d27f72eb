/**
 * One simulated device: the unchanged firmware core (firmware/core Device) on simulated
 * hardware (simulator/hardware.ts) driven by a shared VirtualTime, linked to a real MQTT broker
 * through its own MQTT.js connection, with faults on demand: power cut (optionally mid-write,
 * tearing the flash), Wi-Fi drop, clock skew, key bounce, a stuck key, a full flash, a wrong
 * MQTT key.
 *
 * Each power cycle builds a new Device on the same flash (as a reboot does); the old one's
 * timers are fenced off so nothing it left armed can touch the flash after the cut.
 * Per-device state is kept small: the simulator runs ten thousand of these in one process.
 */

import mqtt, { type MqttClient } from 'mqtt';
import { Device } from '../firmware/core/device.js';
import { FlashFullError, type Flash, type TimerId, type Timers, type View } from '../firmware/core/hardware.js';
import type { DeviceConfig } from '../firmware/core/config.js';
import type { Role } from '../firmware/core/protocol.js';
import { createSimHardware, type SimHardware } from './hardware.js';
import { MemoryFlash, PowerCut } from './flash.js';
import type { VirtualTime } from './virtual-time.js';
import type { UpdaterOptions } from '../firmware/core/update.js';
import { httpFetcher, nodeUpdateCrypto, type SimPartitions } from './ota.js';

export interface TransferTargetSpec { toWin: string | null; toItem: string | null; label: string }

export interface SimDeviceOptions {
  config: DeviceConfig;
  time: VirtualTime;
  /** mqtt://host:port the device connects to (the config's broker is what a real one would use). */
  mqttUrl: string;
  /** Its flash: a DiskFlash under the state folder, or a MemoryFlash. */
  flash: MemoryFlash;
  /** For the window display's transfer key. */
  transferTargets?: TransferTargetSpec[];
  seed?: number;
  /** Views kept in the display's history (0 for large fleets). */
  historyCap?: number;
  /** Called after every render. */
  onView?: (device: SimDevice, view: View) => void;
  /** Called on every MQTT message in or out (the virtual driver's settle uses it). */
  onActivity?: () => void;
  /** Called when the device lost power (for logs and the test's record). */
  onPowerCut?: (device: SimDevice, midWrite: boolean) => void;
  /** MQTT.js reconnect period, ms of wall-clock time. */
  reconnectPeriod?: number;
  /** Over-the-air updates (simulator/ota.ts): the board's firmware slots, kept across power cycles. */
  ota?: { partitions: SimPartitions; updater?: UpdaterOptions; httpBase?: string };
}

/** A Flash in front of the real one that can be made to refuse writes (a full flash). */
class FaultFlash implements Flash {
  full = false;
  constructor(readonly inner: MemoryFlash) {}
  read(name: string) { return this.inner.read(name); }
  append(name: string, bytes: Uint8Array) {
    if (this.full) throw new FlashFullError(`flash is full (simulated): append of ${bytes.length} bytes to ${name}`);
    this.inner.append(name, bytes);
  }
  write(name: string, bytes: Uint8Array) {
    if (this.full) throw new FlashFullError(`flash is full (simulated): write of ${bytes.length} bytes to ${name}`);
    this.inner.write(name, bytes);
  }
  remove(name: string) { this.inner.remove(name); }
  rename(from: string, to: string) { this.inner.rename(from, to); }
  free() { return this.full ? 0 : this.inner.free(); }
}

export type LinkState = 'connecting' | 'up' | 'down' | 'off';

export class SimDevice {
  readonly id: string;
  readonly role: Role;
  readonly win: string;
  readonly hw: SimHardware;
  device!: Device;
  /** Counts power cycles; a new Device is built on each. */
  incarnation = 0;
  powered = false;
  /** False while a Wi-Fi drop is in force. */
  wifi = true;
  /** ms added to the shared time by this device's clock. */
  skew = 0;
  /** While set, the device logs in with a wrong MQTT password. */
  wrongKey = false;
  /** The next tap bounces. */
  bounceNext = false;
  readonly counters = { powerCuts: 0, tornWrites: 0, wifiDrops: 0, connects: 0, messagesIn: 0, messagesOut: 0, loginRefused: 0, restarts: 0 };
  private client: MqttClient | undefined;
  private linkState: LinkState = 'off';
  private readonly faultFlash: FaultFlash;
  private armedCut: { offMs: number; deadline: TimerId } | undefined;

  constructor(readonly options: SimDeviceOptions) {
    const c = options.config;
    this.id = c.id;
    this.role = c.role;
    this.win = c.win;
    this.faultFlash = new FaultFlash(options.flash);
    const time = options.time;
    this.hw = createSimHardware({ time, flash: this.faultFlash, seed: options.seed ?? 1, historyCap: options.historyCap ?? 8 });
    // The device's own clock: shared time plus this device's skew (changed by the clockSkew fault).
    this.hw.clock = { now: () => time.now() + this.skew };
    const display = this.hw.display;
    const render = display.render.bind(display);
    display.render = (view: View) => {
      render(view);
      options.onView?.(this, view);
    };
    this.hw.transport.handler = (topic, payload, retain) => {
      const client = this.client;
      if (!client || !client.connected) return;
      this.counters.messagesOut++;
      options.onActivity?.();
      client.publish(topic, payload, { qos: 0, retain });
    };
  }

  get flash(): MemoryFlash {
    return this.options.flash;
  }

  get link(): LinkState {
    return this.linkState;
  }

  /** The view the firmware last passed to Display.render. */
  get view(): View | undefined {
    return this.hw.display.last;
  }

  /**
   * Caller actions the firmware took (stored in its outbox), over every power-on: what a press
   * led to, not that a key was pressed (an offline caller refuses a transfer, a full flash any).
   */
  accepted(): { recalls: number; noShows: number; transfers: number; pauses: number } {
    const c = this.device?.caller?.counters;
    const a = this.acceptedBefore;
    return { recalls: a.recalls + (c?.recalls ?? 0), noShows: a.noShows + (c?.noShows ?? 0), transfers: a.transfers + (c?.transfers ?? 0), pauses: a.pauses + (c?.pauses ?? 0) };
  }

  /** Counts of the Devices before the last power-on (each incarnation counts from zero). */
  private acceptedBefore = { recalls: 0, noShows: 0, transfers: 0, pauses: 0 };

  /** Events in the outbox not yet settled by the hub. */
  pending(): number {
    if (!this.powered) return this.lastPending;
    try {
      return this.device.stats().outbox;
    } catch {
      return 0;
    }
  }

  /** Powers on: builds a Device on the flash as it is, starts it, connects. */
  powerOn(): void {
    if (this.powered) return;
    this.incarnation++;
    const alive = { on: true };
    const time = this.options.time;
    // Timers of this incarnation only: after a cut, whatever the old Device left armed is dropped.
    const timers: Timers = {
      set: (callback: () => void, ms: number) => time.set(() => { if (alive.on) this.guard(callback); }, ms),
      clear: (id: TimerId) => time.clear(id),
    };
    this.fence = alive;
    if (this.device) this.acceptedBefore = this.accepted();
    const hw = { ...this.hw, timers };
    const ota = this.options.ota;
    // The version that boots is the slot's: an update that completed runs from here on.
    const config = ota?.partitions.running ? { ...this.options.config, fw: ota.partitions.running } : this.options.config;
    const bootReason = ota?.partitions.switched ? 'update' : this.incarnation === 1 ? 'power-on' : this.restarting ? 'restart' : 'power-cut';
    if (ota) ota.partitions.switched = false;
    this.restarting = false;
    const update = ota ? {
      writer: ota.partitions.writer(() => this.device.updater?.progress()?.v ?? '', () => this.restart()),
      fetcher: httpFetcher(() => alive.on, (fn) => this.guard(fn), this.otaCounters, ota.httpBase),
      crypt: nodeUpdateCrypto,
      options: ota.updater,
    } : undefined;
    this.device = new Device(config, hw, { transferTargets: this.options.transferTargets ?? [], bootReason, update });
    this.powered = true;
    this.guard(() => this.device.start());
    if (this.powered) this.connect();
  }

  private fence: { on: boolean } = { on: false };
  private restarting = false;
  /** Image chunk requests and their failures, over every power-on. */
  private readonly otaCounters = { requests: 0, failures: 0 };

  /** The firmware version running now. */
  get fw(): string {
    return this.options.ota?.partitions.running ?? this.options.config.fw;
  }

  get otaRequests(): { requests: number; failures: number } {
    return { ...this.otaCounters };
  }

  /** An orderly restart (the updater's, after it switched slots): off for `offMs`, then boots. */
  restart(offMs = 200): void {
    this.counters.restarts++;
    this.restarting = true;
    this.cutNow(offMs, false);
  }
  /** Outbox count when the power went (what the flash still holds for the next boot). */
  private lastPending = 0;

  /**
   * Cuts the power. With `midWrite`, the cut lands on the flash's next write (torn half-way),
   * or after `graceMs` if the device writes nothing by then. The device boots again after offMs.
   */
  powerCut(offMs: number, options: { midWrite?: boolean; graceMs?: number } = {}): void {
    if (!this.powered) return;
    if (options.midWrite) {
      const flash = this.options.flash;
      flash.armCrash(flash.stats.steps + 1, 'half');
      const deadline = this.options.time.set(() => this.cutNow(offMs, false), options.graceMs ?? 2_000);
      this.armedCut = { offMs, deadline };
      return;
    }
    this.cutNow(offMs, false);
  }

  /** Called by the driver after anything ran: a crashed flash means the power just went. */
  checkCrash(): boolean {
    if (this.powered && this.options.flash.crashed) {
      const offMs = this.armedCut?.offMs ?? 1_000;
      this.cutNow(offMs, true);
      return true;
    }
    return false;
  }

  private cutNow(offMs: number, torn: boolean): void {
    if (!this.powered) return;
    if (this.armedCut) {
      this.options.time.clear(this.armedCut.deadline);
      this.armedCut = undefined;
      if (!torn) this.options.flash.disarm();
    }
    try { this.lastPending = this.device.stats().outbox; } catch { /* counted at the next boot */ }
    this.powered = false;
    if (!this.restarting) this.counters.powerCuts++;
    if (torn) this.counters.tornWrites++;
    if (!this.restarting) this.options.ota?.partitions.powerLost();
    this.fence.on = false;
    this.dropClient();
    this.hw.transport.link = false;
    // No orderly stop: a power cut runs no code. The fence above silences the old Device.
    this.options.onPowerCut?.(this, torn);
    this.hw.display.render({ screen: 'notice', text: '断电', online: false });
    this.options.time.set(() => {
      this.options.flash.reboot();
      this.powerOn();
    }, Math.max(1, Math.round(offMs)));
  }

  /** Wi-Fi goes for `ms` (virtual), the MQTT connection with it. */
  wifiDrop(ms: number): void {
    if (!this.wifi) return;
    this.wifi = false;
    this.counters.wifiDrops++;
    this.dropClient();
    this.options.time.set(() => {
      this.wifi = true;
      if (this.powered) this.connect();
    }, Math.max(1, Math.round(ms)));
  }

  clockSkew(ms: number): void {
    this.skew += ms;
  }

  flashFull(ms: number): void {
    this.faultFlash.full = true;
    this.options.time.set(() => { this.faultFlash.full = false; }, Math.max(1, Math.round(ms)));
  }

  /** Logs in with a wrong password for `ms`: the broker refuses it, events wait in the outbox. */
  wrongKeyFor(ms: number): void {
    this.wrongKey = true;
    this.dropClient();
    if (this.powered && this.wifi) this.connect();
    this.options.time.set(() => {
      this.wrongKey = false;
      this.dropClient();
      if (this.powered && this.wifi) this.connect();
    }, Math.max(1, Math.round(ms)));
  }

  /** A finger on key `index` for `holdMs` (bouncing, if a keyBounce fault is pending). */
  press(index: number, holdMs = 120): void {
    if (!this.powered) return;
    this.guard(() => {
      if (this.bounceNext) {
        this.bounceNext = false;
        this.hw.keys.bounce(index, true, 7, 3, holdMs);
      } else {
        this.hw.keys.tap(index, holdMs);
      }
    });
  }

  stickKey(index: number, ms: number): void {
    if (!this.powered) return;
    this.guard(() => this.hw.keys.stick(index));
    this.options.time.set(() => { if (this.powered) this.guard(() => this.hw.keys.up(index)); }, Math.max(1, Math.round(ms)));
  }

  /** Stops for good: no power, no link (the simulator is shutting down). */
  shutdown(): void {
    this.fence.on = false;
    if (this.armedCut) this.options.time.clear(this.armedCut.deadline);
    if (this.powered) {
      try { this.device.stop(); } catch { /* a torn flash may refuse; shutting down anyway */ }
    }
    this.powered = false;
    this.dropClient(true);
  }

  // ------------------------------------------------------------ MQTT

  private connect(): void {
    if (this.client || !this.powered || !this.wifi) return;
    const creds = this.device.mqttCredentials();
    const will = this.device.will();
    this.linkState = 'connecting';
    const client = mqtt.connect(this.options.mqttUrl, {
      clientId: this.id,
      username: creds.username,
      password: this.wrongKey ? creds.password.replace(/^./, (c) => (c === '0' ? '1' : '0')) : creds.password,
      clean: true,
      keepalive: 30, // seconds
      reconnectPeriod: this.options.reconnectPeriod ?? 1_000, // milliseconds
      connectTimeout: 10_000, // milliseconds
      will: { topic: will.topic, payload: Buffer.from(will.payload), retain: true, qos: 0 },
    });
    this.client = client;
    client.on('connect', () => {
      if (this.client !== client) return;
      this.counters.connects++;
      client.subscribe(this.device.subscriptions(), { qos: 0 }, (error) => {
        if (this.client !== client || error || !this.powered) return;
        this.linkState = 'up';
        this.hw.transport.link = true;
        this.guard(() => this.device.onConnected());
      });
    });
    client.on('message', (topic, payload) => {
      if (this.client !== client || !this.powered) return;
      this.counters.messagesIn++;
      this.options.onActivity?.();
      this.guard(() => this.device.onMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.length)));
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.lostLink('connecting');
    });
    client.on('error', (error) => {
      if ((error as { code?: number }).code === 5 || /Not authorized|Bad username/i.test(error.message)) this.counters.loginRefused++;
    });
  }

  private lostLink(next: LinkState): void {
    const wasUp = this.hw.transport.link;
    this.hw.transport.link = false;
    this.linkState = next;
    if (wasUp && this.powered) this.guard(() => this.device.onDisconnected());
  }

  /** Cuts the connection abruptly (no DISCONNECT: the broker publishes the will). */
  private dropClient(graceful = false): void {
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('connect');
      client.removeAllListeners('message');
      client.removeAllListeners('close');
      client.on('error', () => undefined);
      if (graceful) client.end(false);
      else {
        // Destroying the socket is what losing Wi-Fi looks like to the broker.
        (client as unknown as { stream?: { destroy(): void } }).stream?.destroy();
        client.end(true);
      }
    }
    this.lostLink(this.powered && this.wifi ? 'connecting' : 'down');
    if (!this.powered) this.linkState = 'off';
  }

  /** Runs device code; a PowerCut thrown from the flash becomes the cut it is. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
    }
    this.checkCrash();
  }

}
