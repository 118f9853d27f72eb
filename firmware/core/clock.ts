/**
 * The device's view of hub time. An ESP32 without SNTP starts at the epoch and drifts by tens of
 * ppm; ratings must carry the hub's time so an offline rating binds to the right ticket. The hub
 * sends `time` commands; the offset is hub time − local time, smoothed so a delayed message does
 * not jerk the clock, and stepped when the difference is too large to be delay (a reboot, a
 * corrected hub clock).
 *
 * Round trip: when the caller knows how long the exchange took (rtt), the hub's reading is taken
 * to be from the middle of it (NTP's assumption) and samples with a long round trip are
 * discarded; without it, hub time is taken as of receipt — on a hall LAN the one-way delay is a
 * few milliseconds, far below what binding a rating to a ticket needs.
 */

import type { Clock } from './hardware.js';

export interface ClockOffsetOptions {
  /** Weight of a new sample in the smoothed offset, 0 < alpha ≤ 1. */
  alpha: number;
  /** A sample further than this from the current offset replaces it outright. */
  stepThreshold: number; // milliseconds
  /** Samples whose round trip exceeds this are not trusted. */
  maxRtt: number; // milliseconds
  /** Without a sample for this long, the clock no longer counts as synced. */
  staleAfter: number; // milliseconds
}

export const CLOCK_DEFAULTS: ClockOffsetOptions = {
  alpha: 0.25,
  stepThreshold: 2_000, // milliseconds
  maxRtt: 5_000, // milliseconds
  staleAfter: 6 * 3600_000, // milliseconds: 6 h at 50 ppm drift is about 1 s
};

export type SampleResult = 'first' | 'smoothed' | 'stepped' | 'discarded';

export class ClockOffset implements Clock {
  private readonly options: ClockOffsetOptions;
  private offsetMs = 0;
  private lastSample: number | undefined;
  /** Samples applied (not discarded). */
  samples = 0;
  discarded = 0;

  constructor(private readonly local: Clock, options: Partial<ClockOffsetOptions> = {}) {
    this.options = { ...CLOCK_DEFAULTS, ...options };
    if (!(this.options.alpha > 0 && this.options.alpha <= 1)) throw new RangeError(`clock option alpha: expected 0 < alpha ≤ 1, got ${this.options.alpha}`);
  }

  /** Hub time − local time, in ms. */
  get offset(): number {
    return this.offsetMs;
  }

  /** True once a sample arrived, and not too long ago. */
  get synced(): boolean {
    return this.lastSample !== undefined && this.local.now() - this.lastSample < this.options.staleAfter;
  }

  /** Hub-corrected time, ms since the epoch. */
  now(): number {
    return Math.round(this.local.now() + this.offsetMs);
  }

  /** Converts a local timestamp to hub time. */
  toHub(localMs: number): number {
    return Math.round(localMs + this.offsetMs);
  }

  /**
   * Applies one reading of the hub's clock, received at local time `receivedAt` (default now).
   * `rtt`, when known, is the local time from request to reply.
   */
  sample(hubNow: number, receivedAt: number = this.local.now(), rtt?: number): SampleResult {
    if (!Number.isFinite(hubNow) || !Number.isFinite(receivedAt)) {
      this.discarded++;
      return 'discarded';
    }
    if (rtt !== undefined && !(rtt >= 0 && rtt <= this.options.maxRtt)) {
      this.discarded++;
      return 'discarded';
    }
    const measured = hubNow + (rtt === undefined ? 0 : rtt / 2) - receivedAt;
    let result: SampleResult;
    if (this.lastSample === undefined) {
      this.offsetMs = measured;
      result = 'first';
    } else if (Math.abs(measured - this.offsetMs) > this.options.stepThreshold) {
      this.offsetMs = measured;
      result = 'stepped';
    } else {
      this.offsetMs += this.options.alpha * (measured - this.offsetMs);
      result = 'smoothed';
    }
    this.lastSample = receivedAt;
    this.samples++;
    return result;
  }
}
