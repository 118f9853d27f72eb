/**
 * Simulated hardware: the interfaces of firmware/core/hardware.ts in pure ECMAScript, driven by
 * a VirtualTime. Tests and the simulator build a device from these and then press keys, cut the
 * link or read what the display drew. It is bundled into XS tests and the simulator runs 10,000
 * devices, so each part keeps a little state and bounded histories (caps below).
 */

import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { storageProblem, type Clock, type Display, type Flash, type Hardware, type Health, type Keys, type Sound, type Storage, type Timers, type Tone, type Transport, type View } from '../firmware/core/hardware.js';
import type { Hmac } from '../firmware/core/protocol.js';
import { MemoryFlash } from './flash.js';
import type { VirtualTime } from './virtual-time.js';

/** HMAC-SHA256 from @noble/hashes (pure JS): what the simulator and tests sign with. */
export const hmacSha256: Hmac = (key, data) => nobleHmac(sha256, key, data);

/** mulberry32: a seeded, four-byte-state PRNG, so a simulated hall replays exactly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- keys

/**
 * Five (or `count`) keys. `down`/`up` are single raw edges; `tap` is a press held for `holdMs`;
 * `bounce` chatters before it settles, as a worn contact does; `stick` holds a key down until
 * `up` is called.
 */
export class SimKeys implements Keys {
  onChange: ((index: number, pressed: boolean) => void) | undefined;
  private readonly levels: boolean[];

  constructor(private readonly timers: Timers, readonly count = 5) {
    this.levels = new Array<boolean>(count).fill(false);
  }

  /** The raw level of key `index`. */
  level(index: number): boolean {
    return this.levels[this.check(index)];
  }

  down(index: number): void {
    this.edge(index, true);
  }

  up(index: number): void {
    this.edge(index, false);
  }

  /** Press now, release after `holdMs` (virtual time). */
  tap(index: number, holdMs = 80): void {
    this.down(index);
    this.timers.set(() => this.up(index), holdMs);
  }

  /**
   * Chatters `edges` times, `spacingMs` apart, ending at `pressed`; with `holdMs` (when ending
   * pressed) it releases — cleanly — that long after the last edge.
   */
  bounce(index: number, pressed: boolean, edges = 5, spacingMs = 2, holdMs?: number): void {
    this.check(index);
    // An odd number of edges from the current level ends at the opposite level.
    const start = this.levels[index];
    let count = edges;
    if (((count % 2 === 1) ? !start : start) !== pressed) count++;
    for (let i = 0; i < count; i++) {
      const level = i % 2 === 0 ? !start : start;
      if (i === 0) this.edge(index, level);
      else this.timers.set(() => this.edge(index, level), i * spacingMs);
    }
    if (pressed && holdMs !== undefined) this.timers.set(() => this.up(index), (count - 1) * spacingMs + holdMs);
  }

  /** Holds key `index` down (a coin wedged under it) until `up(index)`. */
  stick(index: number): void {
    this.down(index);
  }

  private edge(index: number, pressed: boolean): void {
    this.check(index);
    if (this.levels[index] === pressed) return;
    this.levels[index] = pressed;
    this.onChange?.(index, pressed);
  }

  private check(index: number): number {
    if (!(Number.isInteger(index) && index >= 0 && index < this.count)) throw new RangeError(`SimKeys: no key ${index}; keys are 0–${this.count - 1}`);
    return index;
  }
}

// ---------------------------------------------------------------- display and sound

/** Records every render: the last view, a count, and the most recent `historyCap` views. */
export class SimDisplay implements Display {
  last: View | undefined;
  renders = 0;
  readonly history: View[] = [];

  constructor(readonly historyCap = 32) {}

  render(view: View): void {
    this.last = view;
    this.renders++;
    if (this.historyCap > 0) {
      this.history.push(view);
      if (this.history.length > this.historyCap) this.history.shift();
    }
  }

  /** Views since `fromRender` (a value of `renders` read earlier), as far as the history reaches. */
  since(fromRender: number): View[] {
    const count = Math.min(this.renders - fromRender, this.history.length);
    return count > 0 ? this.history.slice(this.history.length - count) : [];
  }
}

export class SimSound implements Sound {
  last: Tone | undefined;
  plays = 0;
  readonly history: Tone[] = [];
  /** Tone counts by kind, kept whole however long the run. */
  readonly counts: Record<Tone, number> = { chime: 0, ok: 0, thanks: 0, error: 0, click: 0 };

  constructor(readonly historyCap = 32) {}

  play(tone: Tone): void {
    this.last = tone;
    this.plays++;
    this.counts[tone]++;
    if (this.historyCap > 0) {
      this.history.push(tone);
      if (this.history.length > this.historyCap) this.history.shift();
    }
  }
}

// ---------------------------------------------------------------- transport and health

export type PublishHandler = (topic: string, payload: string, retain: boolean) => void;

/**
 * The device's MQTT link. While `link` is up, publish hands the message to `handler` (a test's
 * recorder, or the simulator's real MQTT client) and returns true; while down it returns false
 * and the outbox keeps the event. `drop` makes the next publishes vanish while reporting success,
 * as QoS 0 over a failing link does.
 */
export class SimTransport implements Transport {
  link = false;
  handler: PublishHandler | undefined;
  published = 0;
  refused = 0;
  /** Publishes that report success but go nowhere. */
  drop = 0;

  publish(topic: string, payload: string, retain: boolean): boolean {
    if (!this.link) {
      this.refused++;
      return false;
    }
    this.published++;
    if (this.drop > 0) {
      this.drop--;
      return true;
    }
    this.handler?.(topic, payload, retain);
    return true;
  }

  connected(): boolean {
    return this.link;
  }
}

export class SimHealth implements Health {
  /** Battery percent, -1 on mains. */
  bat = -1;
  /** dBm, 0 when unknown. */
  signal = -55;
  /** Free heap in bytes; null: the platform has no figure (as lin). */
  heap: number | null = 96 * 1024;

  battery(): number {
    return this.bat;
  }
  rssi(): number {
    return this.signal;
  }
  freeHeap(): number | null {
    return this.heap;
  }
}

/**
 * Storage (firmware/core/hardware.ts) in memory: what Preference is on the device. It lives in
 * the SimHardware, which a SimDevice keeps across its power cycles, so values outlive a reboot.
 * The same limits as Preference, so a key too long for the device fails here too.
 */
export class MemoryStorage implements Storage {
  readonly values = new Map<string, string>();
  writes = 0;
  get(key: string): string | undefined {
    return this.values.get(key);
  }
  set(key: string, value: string): void {
    const problem = storageProblem(key, value);
    if (problem) throw new Error(problem);
    this.writes++;
    this.values.set(key, value);
  }
}

// ---------------------------------------------------------------- a whole device

export interface SimHardware extends Hardware {
  clock: Clock;
  timers: Timers;
  keys: SimKeys;
  flash: Flash;
  display: SimDisplay;
  sound: SimSound;
  transport: SimTransport;
  health: SimHealth;
  storage: MemoryStorage;
}

export interface SimHardwareOptions {
  /** Shared virtual time (timers run on it). */
  time: VirtualTime;
  /** This device's clock error against the shared time, ms, and its drift, ppm. */
  skew?: number;
  drift?: number;
  /** Defaults to a MemoryFlash of `flashBytes`. */
  flash?: Flash;
  flashBytes?: number; // bytes
  hmac?: Hmac;
  /** Defaults to an empty MemoryStorage. */
  storage?: MemoryStorage;
  seed?: number;
  keys?: number;
  historyCap?: number;
}

export function createSimHardware(options: SimHardwareOptions): SimHardware {
  const time = options.time;
  const clock = options.skew || options.drift ? time.clockFor(options.skew ?? 0, options.drift ?? 0) : time;
  return {
    clock,
    timers: time,
    keys: new SimKeys(time, options.keys ?? 5),
    flash: options.flash ?? new MemoryFlash({ capacity: options.flashBytes ?? 256 * 1024 }),
    display: new SimDisplay(options.historyCap ?? 32),
    sound: new SimSound(options.historyCap ?? 32),
    transport: new SimTransport(),
    health: new SimHealth(),
    hmac: options.hmac ?? hmacSha256,
    storage: options.storage ?? new MemoryStorage(),
    random: seededRandom(options.seed ?? 1),
  };
}
