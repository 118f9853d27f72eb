/**
 * Key debouncing and misuse filtering for the five keys of a pad or a caller.
 *
 * The Keys adapter reports every raw edge (Moddable's button drivers do not debounce). A key's
 * level counts once it has been stable for `settle` ms. A stable press is then held back for
 * `mashWindow` ms: if another key is pressed in that window, every press of the group is thrown
 * away (a hand slapped on the pad rates nothing), and so is any press until the keys have been
 * quiet for `mashWindow`. The same key pressed again within `repeatGuard` ms of its last
 * accepted press is ignored too, so a nervous double press never rates twice or picks a reason
 * by accident. A key held longer than `stuckAfter` ms is reported stuck (and unstuck on release)
 * so the device can say so rather than go silently deaf.
 */

import type { Clock, Keys, TimerId, Timers } from './hardware.js';

export interface DebounceOptions {
  /** A level must be stable this long to count. */
  settle: number; // milliseconds
  /** Another key pressed within this window of a press makes both a mash. */
  mashWindow: number; // milliseconds
  /** The same key again within this window of its accepted press is ignored. */
  repeatGuard: number; // milliseconds
  /** Held this long, a key is reported stuck. */
  stuckAfter: number; // milliseconds
}

export const DEBOUNCE_DEFAULTS: DebounceOptions = {
  settle: 30, // milliseconds: ordinary tactile switches settle within 5–20 ms
  mashWindow: 250, // milliseconds: two deliberate presses are rarely closer than this
  repeatGuard: 600, // milliseconds: from one accepted press to the next of the same key
  stuckAfter: 10_000, // milliseconds
};

export interface KeyHandlers {
  /** One accepted press of key `index`. */
  press(index: number): void;
  /** Key `index` has been held for `stuckAfter` ms. */
  stuck?(index: number): void;
  /** A stuck key was released. */
  unstuck?(index: number): void;
}

export interface DebounceCounters {
  /** Raw edges that did not change a stable level (contact bounce, glitches). */
  bounces: number;
  /** Presses dropped because the same key was pressed again too soon. */
  repeats: number;
  /** Presses dropped as part of a mash of several keys. */
  mashed: number;
  /** Times a key was reported stuck. */
  stuck: number;
  /** Presses accepted and reported. */
  accepted: number;
}

interface KeyState {
  raw: boolean;
  stable: boolean;
  settleTimer: TimerId | undefined;
  stuckTimer: TimerId | undefined;
  isStuck: boolean;
  /** Time of the last accepted press, for the repeat guard. */
  lastAccepted: number;
}

export class Debouncer {
  readonly counters: DebounceCounters = { bounces: 0, repeats: 0, mashed: 0, stuck: 0, accepted: 0 };
  private readonly options: DebounceOptions;
  private readonly state: KeyState[] = [];
  /** The press waiting out the mash window, if any. */
  private held: number | undefined;
  private heldAt = 0;
  private heldTimer: TimerId | undefined;
  /** While true, presses are part of a mash and are thrown away until the keys are quiet. */
  private mashing = false;
  private quietTimer: TimerId | undefined;
  private stopped = false;

  constructor(
    private readonly keys: Keys,
    private readonly timers: Timers,
    private readonly clock: Clock,
    count: number,
    private readonly handlers: KeyHandlers,
    options: Partial<DebounceOptions> = {},
  ) {
    this.options = { ...DEBOUNCE_DEFAULTS, ...options };
    for (const key of Object.keys(this.options) as (keyof DebounceOptions)[]) {
      const value = this.options[key];
      if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`debounce option ${key}: expected milliseconds ≥ 0, got ${value}`);
    }
    for (let i = 0; i < count; i++) {
      this.state.push({ raw: false, stable: false, settleTimer: undefined, stuckTimer: undefined, isStuck: false, lastAccepted: -Infinity });
    }
    keys.onChange = (index, pressed) => this.edge(index, pressed);
  }

  /** True while key `index` is reported stuck. */
  isStuck(index: number): boolean {
    return this.state[index]?.isStuck === true;
  }

  stop(): void {
    this.stopped = true;
    if (this.keys.onChange) this.keys.onChange = undefined;
    for (const s of this.state) {
      this.cancel(s.settleTimer);
      this.cancel(s.stuckTimer);
      s.settleTimer = s.stuckTimer = undefined;
    }
    this.cancel(this.heldTimer);
    this.cancel(this.quietTimer);
    this.heldTimer = this.quietTimer = undefined;
    this.held = undefined;
  }

  private edge(index: number, pressed: boolean): void {
    const s = this.state[index];
    if (this.stopped || !s) return; // an index the device has no key for: a wiring fault, not ours to act on
    if (s.raw === pressed) return;
    s.raw = pressed;
    if (s.settleTimer !== undefined) {
      // The level changed again before it settled: the edge before it was bounce.
      this.counters.bounces++;
      this.timers.clear(s.settleTimer);
    }
    s.settleTimer = this.timers.set(() => this.settled(index), this.options.settle);
  }

  private settled(index: number): void {
    const s = this.state[index];
    s.settleTimer = undefined;
    if (s.raw === s.stable) {
      this.counters.bounces++; // went and came back: a glitch
      return;
    }
    s.stable = s.raw;
    if (s.stable) {
      s.stuckTimer = this.timers.set(() => this.becameStuck(index), this.options.stuckAfter);
      this.stablePress(index);
    } else {
      this.cancel(s.stuckTimer);
      s.stuckTimer = undefined;
      if (s.isStuck) {
        s.isStuck = false;
        this.handlers.unstuck?.(index);
      }
    }
  }

  private stablePress(index: number): void {
    const now = this.clock.now();
    if (this.mashing) {
      this.counters.mashed++;
      this.restartQuiet();
      return;
    }
    if (this.held !== undefined) {
      // A second key inside the window: the held press and this one are both a mash.
      this.counters.mashed += 2;
      this.cancel(this.heldTimer);
      this.held = this.heldTimer = undefined;
      this.mashing = true;
      this.restartQuiet();
      return;
    }
    const s = this.state[index];
    if (now - s.lastAccepted < this.options.repeatGuard) {
      this.counters.repeats++;
      return;
    }
    this.held = index;
    this.heldAt = now;
    if (this.options.mashWindow === 0) {
      this.release();
      return;
    }
    this.heldTimer = this.timers.set(() => this.release(), this.options.mashWindow);
  }

  private release(): void {
    const index = this.held;
    this.held = this.heldTimer = undefined;
    if (index === undefined) return;
    this.state[index].lastAccepted = this.heldAt;
    this.counters.accepted++;
    this.handlers.press(index);
  }

  private restartQuiet(): void {
    this.cancel(this.quietTimer);
    this.quietTimer = this.timers.set(() => {
      this.quietTimer = undefined;
      this.mashing = false;
    }, this.options.mashWindow);
  }

  private becameStuck(index: number): void {
    const s = this.state[index];
    s.stuckTimer = undefined;
    s.isStuck = true;
    this.counters.stuck++;
    this.handlers.stuck?.(index);
  }

  private cancel(id: TimerId | undefined): void {
    if (id !== undefined) this.timers.clear(id);
  }
}
