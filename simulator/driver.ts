/**
 * Moves a hall's VirtualTime. Three modes (scenario.time.mode):
 *   real         virtual time follows the wall clock (a demonstration);
 *   accelerated  it runs `factor` times faster;
 *   virtual      as fast as the hub answers, deterministically: time jumps to the next timer,
 *                and before each jump the driver waits until the hall has settled — every HTTP
 *                call answered, every connected device's outbox acknowledged and no MQTT message
 *                for `quiet` ms — so the hub sees the same events in the same order every run.
 *
 * A PowerCut thrown out of a device's timer (the flash died mid-write) ends that device's life
 * here, not the simulator's: the driver finds the crashed flash, cuts the device, and goes on.
 */

import { PowerCut } from './flash.js';
import type { Hall } from './hall.js';
import type { VirtualTime } from './virtual-time.js';

export interface DriverOptions {
  mode: 'real' | 'accelerated' | 'virtual';
  factor: number;
  /** Virtual mode: wall-clock ms without a message before the hall counts as settled. */
  quiet: number;
  /** Virtual mode: longest jump of virtual time in one step, ms. */
  maxStep?: number;
  /** Real and accelerated modes: wall-clock ms between advances. */
  interval?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Driver {
  /** Wall-clock ms the virtual driver has spent waiting for the hub. */
  settleWaits = 0;
  steps = 0;
  private stopped = false;
  private paused = false;

  constructor(private readonly hall: Hall, private readonly time: VirtualTime, private readonly options: DriverOptions) {}

  stop(): void {
    this.stopped = true;
  }

  /** Holds virtual time still (a test doing something between steps). */
  pause(on: boolean): void {
    this.paused = on;
  }

  /** Advances to `target`, cutting any device whose flash died on the way. */
  advanceTo(target: number): void {
    for (let guard = 0; guard < 10_000; guard++) {
      try {
        this.time.advanceTo(target);
        this.reap();
        return;
      } catch (error) {
        if (!(error instanceof PowerCut)) throw error;
        this.reap();
      }
    }
    throw new Error('driver: power cuts did not stop');
  }

  private reap(): void {
    for (const device of this.hall.devices.values()) device.checkCrash();
  }

  /** Runs until virtual time reaches `until` or `done()` says so. */
  async run(until: number, done: () => boolean = () => false): Promise<void> {
    this.stopped = false;
    if (this.options.mode === 'virtual') return this.runVirtual(until, done);
    return this.runClocked(until, done);
  }

  private async runVirtual(until: number, done: () => boolean): Promise<void> {
    const maxStep = this.options.maxStep ?? 60_000;
    await this.settle(true);
    while (!this.stopped && this.time.now() < until && !done()) {
      if (this.paused) { await sleep(5); continue; }
      const before = this.hall.activity + this.hall.busy;
      // One timer at a time, settling after each that sent something: two devices acting at the
      // same virtual instant would otherwise race to the hub, and the run would depend on
      // wall-clock scheduling instead of the seed.
      if (!this.fireNext(Math.min(until, this.time.now() + maxStep))) this.advanceTo(Math.min(until, this.time.now() + maxStep));
      this.steps++;
      await this.settle(this.hall.activity + this.hall.busy !== before);
    }
  }

  /** Fires the next timer due by `limit`, cutting any device whose flash died in it. */
  private fireNext(limit: number): boolean {
    try {
      const fired = this.time.fireNext(limit);
      this.reap();
      return fired;
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
      this.reap();
      return true;
    }
  }

  /** Waits until the hall is quiet. `active`: something was sent this step. */
  async settle(active: boolean): Promise<void> {
    const quiet = this.options.quiet;
    const started = Date.now();
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!active && this.hall.busy === 0 && this.hall.activity === this.lastActivity) return;
    let lastChange = Date.now();
    let seen = this.hall.activity;
    for (;;) {
      await sleep(1);
      if (this.hall.activity !== seen) {
        seen = this.hall.activity;
        lastChange = Date.now();
      }
      if (this.hall.busy > 0) continue;
      const idle = Date.now() - lastChange;
      if (idle >= quiet && this.outboxesClean()) break;
      // The hub is not answering (killed, or a device offline): give up waiting and let time run.
      // Generous, because a loaded machine can take seconds to answer and leaving early would
      // make the run depend on the machine rather than on the seed.
      if (idle >= Math.max(quiet * 20, 5_000)) break;
    }
    this.lastActivity = this.hall.activity;
    this.settleWaits += Date.now() - started;
  }

  private lastActivity = -1;

  private outboxesClean(): boolean {
    for (const device of this.hall.devices.values()) {
      if (device.link === 'up' && device.pending() > 0) return false;
    }
    return true;
  }

  private async runClocked(until: number, done: () => boolean): Promise<void> {
    const factor = this.options.mode === 'real' ? 1 : this.options.factor;
    const interval = this.options.interval ?? 20;
    let wallStart = Date.now();
    let virtualStart = this.time.now();
    while (!this.stopped && this.time.now() < until && !done()) {
      await sleep(interval);
      if (this.paused) {
        wallStart = Date.now();
        virtualStart = this.time.now();
        continue;
      }
      const target = Math.min(until, virtualStart + (Date.now() - wallStart) * factor);
      this.advanceTo(target);
      this.steps++;
    }
  }
}
