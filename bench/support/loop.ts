/**
 * A closed loop: each sender keeps at most `window` messages in flight and sends the next when
 * one completes (for the hub: its signed ack arrives; for a raw relay: the subscriber gets it).
 * Bounded by a message count and a time limit, whichever comes first.
 */

import { Progress } from './result.js';

export interface LoopResult {
  completed: number;
  /** Messages the loop meant to complete. */
  planned: number;
  elapsedMs: number;
  /** One latency per completed message, ms. */
  latencies: number[];
  timedOut: boolean;
}

export class ClosedLoop {
  private readonly sentAt: Float64Array[];
  private readonly next: number[];
  private readonly inFlight: number[];
  private completedCount = 0;
  private latencies: number[] = [];
  private finish: (() => void) | undefined;

  /**
   * `send(sender, k)` sends message k of a sender, k in [from, from + perSender).
   * Call complete(sender, k, at) when it is done; repeats and strays are ignored.
   */
  constructor(
    readonly senders: number,
    readonly window: number,
    readonly from: number,
    readonly perSender: number,
    private readonly send: (sender: number, k: number) => void,
  ) {
    this.sentAt = Array.from({ length: senders }, () => new Float64Array(perSender).fill(-1));
    this.next = new Array(senders).fill(0);
    this.inFlight = new Array(senders).fill(0);
  }

  get planned(): number { return this.senders * this.perSender; }

  complete(sender: number, k: number, at = performance.now()): void {
    const i = k - this.from;
    const sent = this.sentAt[sender]?.[i];
    if (sent === undefined || sent < 0) return; // not this loop's, or done already
    this.sentAt[sender][i] = -1;
    this.latencies.push(at - sent);
    this.inFlight[sender]--;
    this.completedCount++;
    if (this.completedCount === this.planned) this.finish?.();
    else this.pump(sender);
  }

  private pump(sender: number): void {
    while (this.inFlight[sender] < this.window && this.next[sender] < this.perSender) {
      const i = this.next[sender]++;
      this.inFlight[sender]++;
      this.sentAt[sender][i] = performance.now();
      this.send(sender, this.from + i);
    }
  }

  async run(timeLimitMs: number, label?: string): Promise<LoopResult> {
    const progress = label ? new Progress(label) : undefined;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<boolean>((resolve) => {
      this.finish = () => resolve(false);
      timer = setTimeout(() => resolve(true), timeLimitMs);
    });
    const tick = setInterval(() => progress?.update(`${this.completedCount}/${this.planned}`), 250);
    for (let s = 0; s < this.senders; s++) this.pump(s);
    const timedOut = await done;
    clearTimeout(timer);
    clearInterval(tick);
    const elapsedMs = performance.now() - started;
    progress?.done(`${this.completedCount}/${this.planned} in ${(elapsedMs / 1000).toFixed(1)} s${timedOut ? ' (time limit)' : ''}`);
    this.finish = undefined;
    return { completed: this.completedCount, planned: this.planned, elapsedMs, latencies: this.latencies, timedOut };
  }
}
