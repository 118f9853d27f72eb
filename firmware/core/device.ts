/**
 * Device: wires one window device together — outbox and uplink on the flash, the clock offset,
 * debounced keys, and the role (a RatingPad or a WindowCaller) — and speaks the protocol with
 * the hub. The platform adapter (firmware/moddable, or the simulator) owns the MQTT client: it
 * connects with mqttCredentials() and will(), subscribes to subscriptions(), and calls
 * onConnected / onDisconnected / onMessage. Everything else happens here.
 *
 * Downlinks are trusted only when this device's key signed them (protocol.ts decoders). A bad,
 * forged, replayed or misdirected one is counted (by reason) and ignored; onMessage never throws.
 * Replays: a command whose hub time is more than `replayWindow` older than the newest command
 * seen is refused, and a `time` command older than the last one applied never moves the clock.
 * The newest command time outlives a reboot (Storage, key `cmdMark`), so a command captured
 * before a power cut is not accepted after it. Not on every command: the mark is written only
 * when a command is more than half a replay window newer than the stored one, and after a
 * reboot the newest is taken as stored + half a window. That is never below the true newest, so
 * the window after a reboot refuses at least what it would have refused without one; a fresh
 * command (hub time ≥ stored) still passes with half a window of hub clock skew to spare. A
 * busy window writes at most once per 30 s of hub time. The mark carries a fingerprint of the
 * signing key: re-keying a device (a new secret) starts a fresh mark, which is also the way
 * out if a hub with a wrong clock ever signed commands far in the future.
 *
 * State: the retained `state` message (online, role, window, fw, battery, RSSI, heap, uptime in
 * seconds, events pending in the outbox) is published on connect and every `statePeriod`; the
 * will is the same with online:false. A `state` event goes into the outbox (and so into the
 * ledger) only when something notable changes: battery or heap band, outbox filling, a new
 * refusal or eviction, a weak signal.
 */

import { ClockOffset, type ClockOffsetOptions } from './clock.js';
import { WindowCaller, type CallerOptions, type TransferTarget } from './caller.js';
import { parseDeviceConfig, checkRemoteSetting, REMOTE_SETTING_KEYS, type DeviceConfig, type RemoteSettings } from './config.js';
import { Debouncer, type DebounceOptions } from './debounce.js';
import type { Hardware, Sound, TimerId } from './hardware.js';
import { Outbox, type AddResult } from './outbox.js';
import { outboxFitError } from './partition.js';
import { RatingPad, type PadOptions } from './pad.js';
import {
  decodeAck, decodeCommand, deriveMqttPassword, deriveSigningKey, encodeEvent, encodeState, isProtocolError, PROTOCOL_VERSION,
  topicFor, validateEvent, type AnyDeviceEvent, type AnyHubCommand, type CommandBodies, type DeviceState, type EventBodies, type EventType, type Role,
} from './protocol.js';
import { Uplink, type UplinkOptions } from './uplink.js';
import { Updater, type ChunkFetcher, type ImageWriter, type UpdateCrypto, type UpdaterOptions } from './update.js';
import { fromHex, toHex, utf8Encode } from './utf8.js';

export interface DeviceOptions {
  /** Where the caller's transfer key may send a ticket (see caller.ts). */
  transferTargets?: TransferTarget[];
  /** How often retained state is refreshed and notable changes are looked for. */
  statePeriod?: number; // milliseconds
  /** Commands older than the newest seen by more than this are refused as replays. */
  replayWindow?: number; // milliseconds
  /** Why this boot happened, for the boot event (e.g. 'power-on', 'watchdog', 'update'). */
  bootReason?: string;
  /** Called with the settings after a config command changed them, so the adapter can persist them. */
  onSettings?: (settings: RemoteSettings) => void;
  debounce?: Partial<DebounceOptions>;
  clock?: Partial<ClockOffsetOptions>;
  pad?: Partial<PadOptions>;
  caller?: Partial<CallerOptions>;
  uplink?: Omit<UplinkOptions, 'topic'>;
  /** Over-the-air updates (update.ts): the platform's partition writer, HTTP fetcher and crypto. Without it, update commands are refused. */
  update?: { writer: ImageWriter; fetcher: ChunkFetcher; crypt: UpdateCrypto; options?: UpdaterOptions };
}

/** The settings the hub may change with a config command (their rules: config.ts REMOTE_SETTINGS). */
export type { RemoteSettings } from './config.js';

export type EmitOutcome = AddResult | { ok: false; reason: 'invalid'; message: string };

export type RejectReason = string; // a ProtocolErrorCode, or 'replay' | 'wrong-window' | 'wrong-role' | 'bad-config' | 'internal'

export const DEVICE_DEFAULTS = {
  statePeriod: 60_000, // milliseconds
  replayWindow: 60_000, // milliseconds
  outboxFile: 'outbox',
  /** Storage key (≤ 15 characters, Preference) of the command replay mark. */
  commandMarkKey: 'cmdMark',
};

/** Coarse bands: a state event is written when one of them changes, not on every wobble. */
interface Notable {
  bat: 'mains' | 'ok' | 'low' | 'critical';
  heap: 'ok' | 'low' | 'unknown';
  outbox: 'ok' | 'half' | 'high';
  rssi: 'ok' | 'weak';
  refused: number;
  dropped: number;
}

class InvalidEvent extends Error {}

export class Device {
  readonly role: Role;
  readonly pad?: RatingPad;
  readonly caller?: WindowCaller;
  readonly clock: ClockOffset;
  readonly outbox: Outbox;
  readonly uplink: Uplink;
  /** Over-the-air updates, where the platform supplied their parts. */
  readonly updater?: Updater;
  /** Downlinks refused, by reason; the last one's message for diagnostics. */
  readonly rejections: Record<string, number> = {};
  lastRejection: string | undefined;
  /** Events written to the outbox, and emits it refused. */
  readonly emitted = { ok: 0, full: 0, invalid: 0 };
  /** Writes of the command replay mark to Storage, and the ones that failed. */
  readonly commandMark = { writes: 0, failures: 0 };

  private readonly config: DeviceConfig;
  private readonly hw: Hardware;
  private readonly options: DeviceOptions;
  private readonly key: Uint8Array;
  private readonly password: string;
  private readonly topics: { evt: string; ack: string; cmd: string; state: string };
  private readonly settings: RemoteSettings;
  private readonly statePeriod: number;
  private readonly replayWindow: number;
  private debouncer: Debouncer | undefined;
  private stateTimer: TimerId | undefined;
  private notable: Notable | undefined;
  private startedAt = 0;
  private started = false;
  private rejected = 0;
  private newestCommand = -Infinity;
  /** The command time last written to Storage (see the header: replays across a reboot). */
  private storedCommandMark = -Infinity;
  private readonly markFingerprint: string;
  private lastTime = -Infinity;

  constructor(config: DeviceConfig, hardware: Hardware, options: DeviceOptions = {}) {
    const checked = parseDeviceConfig(config);
    if (Array.isArray(checked)) throw new Error(`device config: ${checked.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
    this.config = checked;
    this.hw = hardware;
    this.options = options;
    this.role = checked.role;
    const secret = fromHex(checked.secret)!;
    this.key = deriveSigningKey(secret, hardware.hmac);
    this.password = deriveMqttPassword(secret, hardware.hmac);
    this.topics = {
      evt: topicFor(checked.site, checked.id, 'evt'),
      ack: topicFor(checked.site, checked.id, 'ack'),
      cmd: topicFor(checked.site, checked.id, 'cmd'),
      state: topicFor(checked.site, checked.id, 'state'),
    };
    this.settings = { rateTimeout: checked.rateTimeout, unsolicited: checked.unsolicited, volume: checked.volume, idleText: checked.idleText };
    this.statePeriod = positive('statePeriod', options.statePeriod, DEVICE_DEFAULTS.statePeriod);
    this.replayWindow = positive('replayWindow', options.replayWindow, DEVICE_DEFAULTS.replayWindow);
    this.markFingerprint = toHex(hardware.hmac(this.key, utf8Encode('sannuo command mark')).subarray(0, 4));
    this.restoreCommandMark();
    this.clock = new ClockOffset(hardware.clock, options.clock);
    const misfit = outboxFitError(checked.outboxBytes, hardware.flash.total?.());
    if (misfit) throw new Error(`device config: ${misfit}`);
    this.outbox = new Outbox(hardware.flash, { file: DEVICE_DEFAULTS.outboxFile, capacity: checked.outboxBytes });
    this.uplink = new Uplink(this.outbox, hardware, { ...options.uplink, topic: this.topics.evt });

    if (options.update) {
      const { writer, fetcher, crypt, options: updaterOptions } = options.update;
      this.updater = new Updater({ writer, fetcher, crypt, timers: hardware.timers, releaseKey: checked.releaseKey, running: checked.fw, onProgress: () => this.publishState() }, updaterOptions);
    }

    const sound: Sound = { play: (tone) => { if (this.settings.volume > 0) hardware.sound.play(tone); } };
    const online = () => this.hw.transport.connected();
    const emit = <K extends EventType>(type: K, body: EventBodies[K]) => this.emit(type, body);
    // The hub takes terminals' sessions (hub/terminals/); their key and screen logic is not in this firmware yet.
    if (checked.role === 'terminal') throw new Error('device config: role terminal: not built into this firmware yet (a terminal sends session events; see README)');
    if (checked.role === 'pad') {
      this.pad = new RatingPad(
        { display: hardware.display, sound, timers: hardware.timers, now: () => this.clock.now(), emit, online },
        { win: checked.win, rateTimeout: checked.rateTimeout, unsolicited: checked.unsolicited, idleText: checked.idleText },
        options.pad,
      );
    } else {
      this.caller = new WindowCaller(
        { display: hardware.display, sound, timers: hardware.timers, emit, online },
        { win: checked.win, transferTargets: options.transferTargets ?? checked.transferTargets },
        options.caller,
      );
    }
  }

  /** Opens the outbox (recovering a torn tail), writes the boot event, draws the first view. */
  start(): void {
    if (this.started) throw new Error('Device.start: already started');
    this.started = true;
    this.startedAt = this.hw.clock.now();
    this.outbox.open();
    this.emit('boot', { fw: this.config.fw, reason: this.options.bootReason ?? 'power-on' });
    this.debouncer = new Debouncer(this.hw.keys, this.hw.timers, this.hw.clock, 5, {
      press: (index) => (this.pad ?? this.caller)!.press(index),
      stuck: (index) => (this.pad ?? this.caller)!.keyStuck(index),
    }, this.options.debounce);
    (this.pad ?? this.caller)!.start();
    this.notable = this.look();
    this.armState();
  }

  stop(): void {
    this.started = false;
    this.debouncer?.stop();
    this.pad?.stop();
    this.caller?.stop();
    this.uplink.stop();
    this.updater?.stop();
    if (this.stateTimer !== undefined) this.hw.timers.clear(this.stateTimer);
    this.stateTimer = undefined;
  }

  subscriptions(): string[] {
    return [this.topics.cmd, this.topics.ack];
  }

  will(): { topic: string; payload: string; retain: true } {
    return { topic: this.topics.state, payload: encodeState(this.state(false)), retain: true };
  }

  mqttCredentials(): { username: string; password: string } {
    return { username: this.config.id, password: this.password };
  }

  /** The settings a config command may change, as they are now. */
  remoteSettings(): RemoteSettings {
    return { ...this.settings };
  }

  onConnected(): void {
    this.publishState();
    this.uplink.onConnected();
    this.pad?.linkChanged();
    this.caller?.linkChanged();
  }

  onDisconnected(): void {
    this.uplink.onDisconnected();
    this.pad?.linkChanged();
    this.caller?.linkChanged();
  }

  onMessage(topic: string, payload: Uint8Array): void {
    try {
      if (topic === this.topics.cmd) this.onCommand(payload);
      else if (topic === this.topics.ack) this.onAckPayload(payload);
      else this.reject('bad-topic', `topic "${String(topic).slice(0, 120)}" is not this device's cmd or ack topic`);
    } catch (error) {
      // A fault below (e.g. the flash failing while settling) must not take the MQTT client down.
      this.reject('internal', `handling ${String(topic).slice(0, 120)}: ${String((error as Error)?.message ?? error)}`);
    }
  }

  stats(): { outbox: number; refused: number; dropped: number; rejectedDownlinks: number } {
    const counters = this.outbox.counters;
    return { outbox: this.outbox.pending().length, refused: counters.refused, dropped: counters.dropped, rejectedDownlinks: this.rejected };
  }

  /**
   * The port the pad and the caller write through: stamps hub-corrected time, signs with the
   * next (boot, seq) and stores durably; then the uplink sends it when it can.
   */
  emit<K extends EventType>(type: K, body: EventBodies[K]): EmitOutcome {
    const t = Math.max(0, this.clock.now());
    const draft = { v: PROTOCOL_VERSION, dev: this.config.id, boot: 1, seq: 1, t, type, body } as AnyDeviceEvent;
    const problem = validateEvent(draft);
    if (problem) {
      this.emitted.invalid++;
      return { ok: false, reason: 'invalid', message: problem.message };
    }
    let result: AddResult;
    try {
      result = this.outbox.add(type, (boot, seq) => {
        const line = encodeEvent({ ...draft, boot, seq } as AnyDeviceEvent, this.key, this.hw.hmac);
        if (isProtocolError(line)) throw new InvalidEvent(line.message);
        return line;
      });
    } catch (error) {
      if (!(error instanceof InvalidEvent)) throw error; // a power cut ends the device here
      this.emitted.invalid++;
      return { ok: false, reason: 'invalid', message: error.message };
    }
    if (!result.ok) {
      this.emitted.full++;
      return result;
    }
    this.emitted.ok++;
    this.uplink.kick();
    return result;
  }

  // ------------------------------------------------------------ downlinks

  private onCommand(payload: Uint8Array): void {
    const command = decodeCommand(payload, this.config.id, this.key, this.hw.hmac);
    if (isProtocolError(command)) return this.reject(command.code, command.message);
    if (command.t < this.newestCommand - this.replayWindow) {
      return this.reject('replay', `${command.type} command from ${command.t} is older than the newest seen (${this.newestCommand}) by more than ${this.replayWindow} ms`);
    }
    // Stored before the command acts: a power cut right after applying it must not leave it replayable.
    if (command.t > this.storedCommandMark + this.replayWindow / 2) this.storeCommandMark(command.t);
    if (command.t > this.newestCommand) this.newestCommand = command.t;
    this.apply(command);
  }

  /** After a reboot: the newest command seen is at most half a window past the stored mark. */
  private restoreCommandMark(): void {
    let value: string | undefined;
    try {
      value = this.hw.storage.get(DEVICE_DEFAULTS.commandMarkKey);
    } catch {
      value = undefined;
    }
    const m = value === undefined ? null : /^(-?\d{1,16}) ([0-9a-f]{8})$/.exec(value);
    // Another key's mark (the device was re-keyed) or an unreadable one: start afresh.
    if (!m || m[2] !== this.markFingerprint) return;
    this.storedCommandMark = Number(m[1]);
    this.newestCommand = this.storedCommandMark + this.replayWindow / 2;
  }

  private storeCommandMark(t: number): void {
    try {
      this.hw.storage.set(DEVICE_DEFAULTS.commandMarkKey, `${t} ${this.markFingerprint}`);
      this.storedCommandMark = t;
      this.commandMark.writes++;
    } catch (error) {
      // The command still acts (a display that stops updating is worse than this low-severity
      // replay); the mark is tried again with the next command.
      this.commandMark.failures++;
      this.lastRejection = `storage: command mark not stored: ${String((error as Error)?.message ?? error)}`;
    }
  }

  private apply(command: AnyHubCommand): void {
    switch (command.type) {
      case 'time':
        if (command.t < this.lastTime) return this.reject('replay', 'time command older than the last one applied');
        this.lastTime = command.t;
        this.clock.sample(command.body.now);
        return;
      case 'config':
        return this.configure(command.body);
      case 'display':
        if (!this.caller) return this.reject('wrong-role', 'display command sent to a rating pad');
        if (!this.caller.display(command.body)) this.reject('wrong-window', `display for window ${command.body.win}, this device serves ${this.config.win}`);
        return;
      case 'rateReq': {
        if (!this.pad) return this.reject('wrong-role', 'rateReq sent to a window display');
        const outcome = this.pad.request(command.body, command.t);
        if (outcome === 'wrong-window') this.reject('wrong-window', `rateReq for window ${command.body.win}, this device serves ${this.config.win}`);
        return;
      }
      case 'update':
        if (!this.updater) return this.reject('no-updater', 'update command: this device has no updater');
        this.updater.offer(command.body);
        return;
    }
  }

  /** Applies a config command all or nothing; each bad setting is named. */
  private configure(body: CommandBodies['config']): void {
    const next = { ...this.settings };
    const problems: string[] = [];
    for (const key of REMOTE_SETTING_KEYS) {
      const value = body[key];
      if (value === null) continue;
      const problem = checkRemoteSetting(key, value);
      if (problem) problems.push(`${key}: ${problem}`);
      else (next as Record<string, unknown>)[key] = value;
    }
    if (problems.length) return this.reject('bad-config', `config command: ${problems.join('; ')}`);
    Object.assign(this.settings, next);
    this.pad?.configure({ rateTimeout: next.rateTimeout, unsolicited: next.unsolicited, idleText: next.idleText });
    this.options.onSettings?.({ ...next });
  }

  private onAckPayload(payload: Uint8Array): void {
    const ack = decodeAck(payload, this.config.id, this.key, this.hw.hmac);
    if (isProtocolError(ack)) return this.reject(ack.code, ack.message);
    this.uplink.onAck(ack);
  }

  private reject(reason: RejectReason, message: string): void {
    this.rejected++;
    this.rejections[reason] = (this.rejections[reason] ?? 0) + 1;
    this.lastRejection = `${reason}: ${message}`;
  }

  // ------------------------------------------------------------ state

  private state(online: boolean): DeviceState {
    const health = this.hw.health;
    const upd = this.updater?.progress();
    const state: DeviceState = {
      v: PROTOCOL_VERSION,
      dev: this.config.id,
      online,
      role: this.role,
      win: this.config.win,
      fw: this.config.fw,
      bat: Math.round(health.battery()),
      rssi: Math.round(health.rssi()),
      heap: nullableRound(health.freeHeap()),
      up: this.uptime(),
      outbox: this.outbox.pending().length,
      t: Math.max(0, this.clock.now()),
    };
    if (upd) state.upd = upd;
    return state;
  }

  private uptime(): number {
    return this.started ? Math.max(0, Math.floor((this.hw.clock.now() - this.startedAt) / 1000)) : 0; // seconds
  }

  private publishState(): void {
    if (!this.hw.transport.connected()) return;
    try {
      this.hw.transport.publish(this.topics.state, encodeState(this.state(true)), true);
    } catch {
      // A dropped link: the next period (or connect) publishes again.
    }
  }

  private armState(): void {
    this.stateTimer = this.hw.timers.set(() => {
      this.stateTimer = undefined;
      if (!this.started) return;
      this.publishState();
      this.checkNotable();
      this.armState();
    }, this.statePeriod);
  }

  private look(): Notable {
    const health = this.hw.health;
    const bat = health.battery();
    const rssi = health.rssi();
    const fill = this.outbox.bytesUsed() / this.config.outboxBytes;
    const counters = this.outbox.counters;
    return {
      bat: bat < 0 ? 'mains' : bat <= 10 ? 'critical' : bat <= 20 ? 'low' : 'ok',
      heap: heapBand(health.freeHeap()),
      outbox: fill >= 0.8 ? 'high' : fill >= 0.5 ? 'half' : 'ok',
      rssi: rssi !== 0 && rssi < -80 ? 'weak' : 'ok',
      refused: counters.refused,
      dropped: counters.dropped,
    };
  }

  private checkNotable(): void {
    const now = this.look();
    const before = this.notable;
    this.notable = now;
    if (before && before.bat === now.bat && before.heap === now.heap && before.outbox === now.outbox && before.rssi === now.rssi
      && before.refused === now.refused && before.dropped === now.dropped) return;
    const s = this.state(true);
    this.emit('state', { bat: s.bat, rssi: s.rssi, heap: s.heap, up: s.up, outbox: s.outbox, refused: now.refused, dropped: now.dropped });
    // What the event itself took is not news.
    this.notable = this.look();
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`Device ${name}: expected milliseconds > 0, got ${value}`);
  return value;
}

function nullableRound(n: number | null): number | null {
  return n === null ? null : Math.round(n);
}

/** A platform without a heap figure says 'unknown', never 'low' for a 0 it did not measure. */
function heapBand(free: number | null): 'ok' | 'low' | 'unknown' {
  return free === null ? 'unknown' : free < 16 * 1024 ? 'low' : 'ok';
}
