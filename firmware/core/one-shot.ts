/**
 * One pending timeout at a time: arming again replaces the previous one. The pad's and the
 * caller's screens each time out this way (back to idle, notice cleared, transfer cancelled).
 */

import type { TimerId, Timers } from './hardware.js';

export class OneShot {
  private id: TimerId | undefined;

  constructor(private readonly timers: Timers) {}

  arm(ms: number, callback: () => void): void {
    this.clear();
    this.id = this.timers.set(() => {
      this.id = undefined;
      callback();
    }, ms);
  }

  clear(): void {
    if (this.id !== undefined) this.timers.clear(this.id);
    this.id = undefined;
  }

  get armed(): boolean {
    return this.id !== undefined;
  }
}
