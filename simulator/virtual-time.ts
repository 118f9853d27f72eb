/**
 * Virtual time for the simulator and the tests: a clock that only moves when told to, and timers
 * that fire in due order as it moves. Pure ECMAScript (it is bundled into XS tests too).
 *
 * One VirtualTime can drive a whole simulated hall: every device's Clock and Timers may share it,
 * each device seeing the shared time through its own skew (`clockFor`). Timers live in one binary
 * heap; a cleared timer is only marked dead and dropped when it reaches the top (or when dead
 * entries outnumber live ones), so set/clear stay O(log n) and a device costs a few objects.
 */

import type { Clock, TimerId, Timers } from '../firmware/core/hardware.js';

/** A timer entry is its own id: clearing marks it dead, no lookup table needed. */
interface Entry {
  due: number;
  /** Insertion order, so timers due at the same moment fire in the order they were set. */
  order: number;
  callback: (() => void) | null;
}

/** 2025-01-06 09:00 in China (UTC+8): a Monday morning, the hall just opened. */
export const DEFAULT_START = Date.UTC(2025, 0, 6, 1, 0, 0); // ms since the epoch

export class VirtualTime implements Clock, Timers {
  private current: number;
  private heap: Entry[] = [];
  private nextOrder = 0;
  private live = 0;
  private firing = false;
  /** Timers that ran, over the lifetime of this clock. */
  fired = 0;

  constructor(start: number = DEFAULT_START) {
    if (!Number.isFinite(start)) throw new RangeError(`VirtualTime start: expected ms since the epoch, got ${start}`);
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  set(callback: () => void, ms: number): TimerId {
    if (typeof callback !== 'function') throw new TypeError('VirtualTime.set: callback is not a function');
    // Like setTimeout: a negative or NaN delay means "as soon as possible".
    const delay = ms > 0 ? ms : 0;
    const entry: Entry = { due: this.current + delay, order: this.nextOrder++, callback };
    this.push(entry);
    this.live++;
    return entry;
  }

  clear(id: TimerId): void {
    const entry = id as Entry | null | undefined;
    if (!entry || typeof entry !== 'object' || entry.callback === null || entry.callback === undefined) return;
    entry.callback = null;
    this.live--;
    if (this.heap.length > 64 && this.live * 2 < this.heap.length) this.compact();
  }

  /** Timers set and not yet fired or cleared. */
  pending(): number {
    return this.live;
  }

  /** When the next live timer is due, or undefined when none is. */
  nextDue(): number | undefined {
    this.dropDead();
    return this.heap.length ? this.heap[0].due : undefined;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including timers
   * those timers set), each with now() equal to its due time. Returns how many fired.
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`VirtualTime.advance: expected ms ≥ 0, got ${ms}`);
    return this.advanceTo(this.current + ms);
  }

  /** Moves time to `target` (never backwards), firing what falls due on the way. */
  advanceTo(target: number): number {
    if (this.firing) throw new Error('VirtualTime.advance: called from inside a timer callback');
    if (target < this.current) target = this.current;
    let count = 0;
    this.firing = true;
    try {
      for (;;) {
        this.dropDead();
        const top = this.heap[0];
        if (!top || top.due > target) break;
        this.pop();
        const callback = top.callback!;
        top.callback = null;
        this.live--;
        this.current = top.due;
        count++;
        this.fired++;
        callback();
      }
    } finally {
      this.firing = false;
    }
    this.current = target;
    return count;
  }

  /**
   * Fires the one earliest timer due at or before `limit` (time jumps to its due time) and
   * returns true, or returns false when none is due by then. A simulator that must see the
   * effects of each timer before the next one (so that two devices never race) steps this way.
   */
  fireNext(limit: number): boolean {
    if (this.firing) throw new Error('VirtualTime.fireNext: called from inside a timer callback');
    this.dropDead();
    const top = this.heap[0];
    if (!top || top.due > limit) return false;
    this.firing = true;
    try {
      this.pop();
      const callback = top.callback!;
      top.callback = null;
      this.live--;
      if (top.due > this.current) this.current = top.due;
      this.fired++;
      callback();
    } finally {
      this.firing = false;
    }
    return true;
  }

  /**
   * Fires timers, jumping time to each, until none are left. A device that re-arms a periodic
   * timer is never idle, so this stops after `limit` timers and throws rather than spin forever;
   * with `until` it stops at that time instead (and does not throw).
   */
  runUntilIdle(options: { limit?: number; until?: number } = {}): number {
    const limit = options.limit ?? 100_000;
    let count = 0;
    for (;;) {
      const due = this.nextDue();
      if (due === undefined) return count;
      if (options.until !== undefined && due > options.until) {
        this.advanceTo(options.until);
        return count;
      }
      if (count >= limit) throw new Error(`VirtualTime.runUntilIdle: still busy after ${limit} timers (a periodic timer?); pass until`);
      count += this.advanceTo(due);
    }
  }

  /** A device's view of the shared time: its own clock is `skew` ms off and drifts by `ppm`. */
  clockFor(skew = 0, ppm = 0): Clock {
    const origin = this.current;
    return { now: () => Math.floor(this.current + skew + ((this.current - origin) * ppm) / 1e6) };
  }

  // ------------------------------------------------------------ binary heap on (due, order)

  private less(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.order < b.order);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i], heap[parent])) break;
      const swap = heap[i]; heap[i] = heap[parent]; heap[parent] = swap;
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (!heap.length) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.less(heap[l], heap[m])) m = l;
      if (r < heap.length && this.less(heap[r], heap[m])) m = r;
      if (m === i) break;
      const swap = heap[i]; heap[i] = heap[m]; heap[m] = swap;
      i = m;
    }
  }

  private dropDead(): void {
    while (this.heap.length && this.heap[0].callback === null) this.pop();
  }

  private compact(): void {
    const keep = this.heap.filter((e) => e.callback !== null);
    this.heap = [];
    for (const e of keep) this.push(e);
  }
}
