/**
 * The uplink: sends the outbox's pending events to the hub on the evt topic and settles them
 * when the hub's verdicts come back on the ack topic.
 *
 * Delivery rests on the hub's ack, never on MQTT QoS: the device's MQTT client is QoS 0, so a
 * publish that "succeeded" may still be lost. An event stays in the outbox until a verdict for
 * its (boot, seq) arrives; the hub dedupes resends by (dev, boot, seq).
 *
 * - Batches: signed lines joined by "\n", at most `maxBatch` events and MAX_BATCH_BYTES bytes.
 * - Window: at most `window` events sent and unacked at once, so a device that comes back
 *   after a long outage does not flood the hub (and a slow hub is not buried in resends).
 * - Resend: the k-th send of an event waits `ackTimeout` for its verdict; from the second send
 *   on it also waits a backoff of minBackoff·2^(k−2), capped at maxBackoff, with equal jitter
 *   (between half and all of it, from hw.random) so a hall's devices do not retry in lockstep.
 * - onConnected: every unacked event is resent at once, its backoff reset: a new connection
 *   usually means a restarted broker or hub that never saw the last sends.
 * - Nothing is sent while the transport is down; publish() returning false stops the round.
 * Time reaches it only through hw.clock and hw.timers.
 */

import type { Hardware, TimerId } from './hardware.js';
import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS, type Ack } from './protocol.js';
import type { Outbox } from './outbox.js';

export interface UplinkOptions {
  /** The device's evt topic. */
  topic: string;
  /** Events per batch; at most MAX_BATCH_EVENTS. */
  maxBatch?: number;
  /** Events sent and not yet settled, at most. */
  window?: number;
  /** Milliseconds to wait for a verdict after a send. */
  ackTimeout?: number;
  /** Milliseconds of backoff after the first unanswered send. */
  minBackoff?: number;
  /** Milliseconds the backoff grows to, at most. */
  maxBackoff?: number;
}

export const UPLINK_DEFAULTS = {
  maxBatch: MAX_BATCH_EVENTS,
  window: 2 * MAX_BATCH_EVENTS,
  ackTimeout: 10_000, // milliseconds
  minBackoff: 2_000, // milliseconds
  maxBackoff: 300_000, // milliseconds: five minutes
};

export interface UplinkStats {
  /** Publishes that the transport took. */
  batches: number;
  /** Events sent, resends included. */
  sent: number;
  /** Events sent again (timeout or reconnect). */
  resent: number;
  /** Verdicts applied to the outbox. */
  settled: number;
  /** Verdicts for a (boot, seq) the outbox does not hold: duplicates, or already evicted. */
  unknownAcks: number;
}

interface Flight {
  /** Sends so far. */
  attempts: number;
  /** When it may be sent again (ms by hw.clock). */
  due: number;
}

type UplinkHardware = Pick<Hardware, 'transport' | 'timers' | 'clock' | 'random'>;

function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

function positive(name: string, value: number | undefined, fallback: number, max = Infinity): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`Uplink ${name}: expected an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

export class Uplink {
  private readonly outbox: Outbox;
  private readonly hw: UplinkHardware;
  private readonly topic: string;
  private readonly maxBatch: number;
  private readonly window: number;
  private readonly ackTimeout: number;
  private readonly minBackoff: number;
  private readonly maxBackoff: number;
  private flights = new Map<string, Flight>();
  private timer: TimerId | undefined;
  private timerDue = Infinity;
  /** After a refused publish: when to try again (ms by hw.clock). */
  private retryAt = Infinity;
  private stopped = false;
  private kicking = false;
  private kickAgain = false;
  private counts: UplinkStats = { batches: 0, sent: 0, resent: 0, settled: 0, unknownAcks: 0 };

  constructor(outbox: Outbox, hw: UplinkHardware, options: UplinkOptions) {
    if (typeof options.topic !== 'string' || options.topic.length === 0) throw new TypeError('Uplink topic: expected the evt topic');
    this.outbox = outbox;
    this.hw = hw;
    this.topic = options.topic;
    this.maxBatch = positive('maxBatch', options.maxBatch, UPLINK_DEFAULTS.maxBatch, MAX_BATCH_EVENTS);
    this.window = positive('window', options.window, UPLINK_DEFAULTS.window);
    this.ackTimeout = positive('ackTimeout', options.ackTimeout, UPLINK_DEFAULTS.ackTimeout);
    this.minBackoff = positive('minBackoff', options.minBackoff, UPLINK_DEFAULTS.minBackoff);
    this.maxBackoff = positive('maxBackoff', options.maxBackoff, Math.max(UPLINK_DEFAULTS.maxBackoff, this.minBackoff));
    if (this.maxBackoff < this.minBackoff) throw new RangeError(`Uplink maxBackoff: ${this.maxBackoff} is below minBackoff ${this.minBackoff}`);
  }

  /** Events sent and awaiting a verdict. */
  inFlight(): number {
    return this.flights.size;
  }

  stats(): UplinkStats {
    return { ...this.counts };
  }

  /** Something was added, or the link came up: send what is due. */
  kick(): void {
    if (this.stopped) return;
    // A publish may deliver an ack synchronously (an in-process hub): that kick runs after this one.
    if (this.kicking) {
      this.kickAgain = true;
      return;
    }
    this.kicking = true;
    try {
      do {
        this.kickAgain = false;
        this.sendDue();
      } while (this.kickAgain && !this.stopped);
    } finally {
      this.kicking = false;
    }
    this.schedule();
  }

  /** Resends every unacked event now, with a fresh backoff. */
  onConnected(): void {
    for (const flight of this.flights.values()) {
      flight.attempts = 0;
      flight.due = -Infinity;
    }
    this.kick();
  }

  onDisconnected(): void {
    this.clearTimer();
  }

  /** Settles each verdict in the outbox; verdicts for unknown seqs are counted and ignored. */
  onAck(ack: Ack): void {
    for (const item of ack.acks) {
      this.flights.delete(item.boot + ':' + item.seq);
      if (this.outbox.settle(item.boot, item.seq, item.verdict)) this.counts.settled++;
      else this.counts.unknownAcks++;
    }
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  // ------------------------------------------------------------------ internals

  /** Wait after the `attempts`-th send before the next one. */
  private waitAfter(attempts: number): number {
    if (attempts <= 1) return this.ackTimeout;
    const backoff = Math.min(this.maxBackoff, this.minBackoff * Math.pow(2, attempts - 2));
    return this.ackTimeout + Math.floor(backoff / 2 + (this.hw.random() * backoff) / 2);
  }

  private sendDue(): void {
    const { transport, clock } = this.hw;
    if (!transport.connected()) return;
    const now = clock.now();
    this.retryAt = Infinity;
    const pending = this.outbox.pending();
    // Forget flights the outbox no longer holds (evicted, or settled through another path).
    if (this.flights.size) {
      const live = new Set<string>();
      for (const e of pending) live.add(e.boot + ':' + e.seq);
      for (const key of Array.from(this.flights.keys())) if (!live.has(key)) this.flights.delete(key);
    }
    let lines: string[] = [];
    let keys: string[] = [];
    let bytes = 0;
    let linkUp = true;
    const flush = (): void => {
      if (!lines.length) return;
      const sent = keys;
      // Marked before publishing: a verdict may arrive before publish returns.
      const before = sent.map((key) => this.flights.get(key));
      for (const key of sent) {
        const flight = this.flights.get(key) ?? { attempts: 0, due: 0 };
        flight.attempts++;
        flight.due = now + this.waitAfter(flight.attempts);
        this.flights.set(key, flight);
      }
      let ok = false;
      try {
        ok = transport.publish(this.topic, lines.join('\n'), false);
      } catch {
        ok = false; // a broken link: same as a refused publish, the events stay pending
      }
      if (ok) {
        this.counts.batches++;
        this.counts.sent += sent.length;
        for (const flight of before) if (flight) this.counts.resent++;
      } else {
        // The link refused it: undo, and try again a little later (or on onConnected).
        linkUp = false;
        this.retryAt = now + this.minBackoff;
        sent.forEach((key, i) => {
          const flight = before[i];
          if (!flight) this.flights.delete(key);
          else if (this.flights.has(key)) { flight.attempts--; flight.due = this.retryAt; this.flights.set(key, flight); }
        });
      }
      lines = [];
      keys = [];
      bytes = 0;
    };
    let flying = this.flights.size;
    for (const entry of pending) {
      if (!linkUp) break;
      const key = entry.boot + ':' + entry.seq;
      const flight = this.flights.get(key);
      if (flight ? flight.due > now : flying >= this.window) continue;
      const size = utf8Length(entry.line);
      if (lines.length === this.maxBatch || bytes + size + (lines.length ? 1 : 0) > MAX_BATCH_BYTES) flush();
      if (!linkUp) break;
      lines.push(entry.line);
      keys.push(key);
      bytes += size + (lines.length > 1 ? 1 : 0);
      if (!flight) flying++;
    }
    if (linkUp) flush();
  }

  /** One timer, for the earliest resend. */
  private schedule(): void {
    if (this.stopped || !this.hw.transport.connected()) {
      this.clearTimer();
      return;
    }
    let due = this.retryAt;
    for (const flight of this.flights.values()) if (flight.due < due) due = flight.due;
    if (due === this.timerDue && this.timer !== undefined) return;
    this.clearTimer();
    if (due === Infinity) return;
    this.timerDue = due;
    this.timer = this.hw.timers.set(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.kick();
    }, Math.max(0, due - this.hw.clock.now()));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.hw.timers.clear(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
  }
}
