/** Timers on Moddable's Timer module: one-shot, cleared by the id it returned. */
import Timer from 'timer';
import type { TimerId, Timers } from '../core/hardware.js';

export class ModdableTimers implements Timers {
  set(callback: () => void, ms: number): TimerId {
    return Timer.set(() => callback(), Math.max(0, ms));
  }

  clear(id: TimerId): void {
    // Clearing a fired or foreign id must be harmless: the core clears defensively.
    if (id) Timer.clear(id as Timer);
  }
}
