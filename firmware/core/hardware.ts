/**
 * The small hardware interfaces the core is built on. firmware/moddable implements them on the
 * device (ECMA-419 IO, File, MQTT, Timer, Piu/Poco), the simulator implements them on Node.
 * Nothing in firmware/core reaches for a global that XS lacks: time, timers, hashing,
 * randomness and storage all arrive through here.
 */

import type { Hmac, RatingLevel, BadRatingReason } from './protocol.js';
import { utf8Encode } from './utf8.js';

/** Milliseconds since the epoch by the device's own clock (uncorrected). */
export interface Clock {
  now(): number;
}

export type TimerId = unknown;
export interface Timers {
  /** Calls back once after `ms` milliseconds. */
  set(callback: () => void, ms: number): TimerId;
  clear(id: TimerId): void;
}

/**
 * Raw key levels, not debounced (Moddable's button drivers do not debounce either).
 * The adapter calls `onChange(index, pressed)` on every edge it sees.
 */
export interface Keys {
  onChange: ((index: number, pressed: boolean) => void) | undefined;
}

/**
 * Flash storage holding whole files. `append` may tear: after a power cut a file may end in
 * the first bytes of a record. `rename` replaces the target atomically (LittleFS semantics).
 */
export interface Flash {
  read(name: string): Uint8Array | undefined;
  /** Throws FlashFullError when the bytes do not fit. */
  append(name: string, bytes: Uint8Array): void;
  /** Writes a whole file; may tear like append. */
  write(name: string, bytes: Uint8Array): void;
  remove(name: string): void;
  rename(from: string, to: string): void;
  /** Bytes still free, or undefined when the medium cannot tell. */
  free(): number | undefined;
  /** Bytes of the whole file partition, or undefined where the medium has no fixed size. */
  total?(): number | undefined;
}

export class FlashFullError extends Error {
  constructor(message = 'flash is full') {
    super(message);
    this.name = 'FlashFullError';
  }
}

/**
 * A few small values that outlive a reboot, e.g. the command replay mark (device.ts). Preference
 * (NVS) on Moddable: set() is atomic (after a power cut the old or the new value is read) and
 * wear-levelled, but each set is a flash write, so callers write rarely. The simulator keeps
 * them in memory across its power cycles and enforces the same limits.
 */
export interface Storage {
  get(key: string): string | undefined;
  /** Throws when the key or value breaks STORAGE_LIMITS or the medium fails. */
  set(key: string, value: string): void;
}

/** Moddable's Preference limits: keys (and domains) of at most 15 characters, values of at most 4000 bytes. */
export const STORAGE_LIMITS = { keyChars: 15, valueBytes: 4000 } as const;

/** Why `key`/`value` would not fit in Preference, or undefined when they do. */
export function storageProblem(key: string, value?: string): string | undefined {
  if (!/^[A-Za-z0-9_.-]+$/.test(key) || key.length > STORAGE_LIMITS.keyChars) return `storage key "${key.slice(0, 40)}": expected 1–${STORAGE_LIMITS.keyChars} of A–Z a–z 0–9 _ . -`;
  if (value !== undefined && utf8Encode(value).length > STORAGE_LIMITS.valueBytes) return `storage value for "${key}": more than ${STORAGE_LIMITS.valueBytes} bytes`;
  return undefined;
}

/** What the device draws. The simulator's browser view is drawn from exactly these calls. */
export type View =
  /** Window display: current number and status, waiting count. */
  | { screen: 'window'; win: string; ticket: string | null; status: string; item: string | null; waiting: number; text: string | null; online: boolean }
  /** Pad waiting for a service to end. */
  | { screen: 'idle'; text: string; online: boolean }
  /** Pad asking for a rating of one ticket (or of "this service" when offline). */
  | { screen: 'rate'; ticket: string | null; staff: string | null; item: string | null; online: boolean }
  /** Pad asking for the reason of a bad rating, one reason per key. */
  | { screen: 'reason'; level: RatingLevel; ticket: string | null }
  | { screen: 'thanks'; level: RatingLevel; reason: BadRatingReason | null }
  /** A refusal or fault the user must see, e.g. offline caller or a full flash. */
  | { screen: 'notice'; text: string; online: boolean };

export interface Display {
  render(view: View): void;
}

export type Tone = 'chime' | 'ok' | 'thanks' | 'error' | 'click';
export interface Sound {
  play(tone: Tone): void;
}

/** The MQTT link. Reconnection and the last will are the adapter's; delivery rests on the hub's ack. */
export interface Transport {
  /** Returns false when the link is down; the outbox keeps the event and tries again later. */
  publish(topic: string, payload: string, retain: boolean): boolean;
  connected(): boolean;
}

export interface Health {
  /** Battery percent, or -1 on mains power. */
  battery(): number;
  /** Wi-Fi RSSI in dBm, 0 when unknown. */
  rssi(): number;
  /** Free heap in bytes; null where the platform has no figure (lin reports 0), never a fake number. */
  freeHeap(): number | null;
}

/** Everything a device core is built from. */
export interface Hardware {
  clock: Clock;
  timers: Timers;
  keys: Keys;
  flash: Flash;
  display: Display;
  sound: Sound;
  transport: Transport;
  health: Health;
  hmac: Hmac;
  /** Small values kept across reboots (Preference on Moddable). */
  storage: Storage;
  /** Uniform in [0, 1): backoff jitter, so a hall's devices do not retry in lockstep. */
  random(): number;
}
