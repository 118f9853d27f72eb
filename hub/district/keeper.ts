/**
 * The loop that keeps a hub's hall leases (the SQL is LeaseStore's, hub/district/lease.ts):
 * renew what it holds, take free or expired halls up to a fair share, give one back when over it.
 */

import type { Logger } from 'pino';
import type { Bus } from '../bus.js';
import type { Lease, LeaseMetrics, LeaseRow, LeaseStore, Taken } from './lease.js';

export interface KeeperOptions {
  store: LeaseStore;
  /** Halls this hub may serve; '*' for any registered hall. */
  halls: string[] | '*';
  renewMs: number;
  pollMs: number;
  /** 0: no cap beyond the fair share. */
  maxHalls: number;
  metrics: LeaseMetrics;
  log: Logger;
  /** Hears leaseTaken and leaseLost. */
  bus?: Bus;
  /** Starts serving the hall; a throw gives the lease back. */
  onTake(lease: Taken): Promise<void>;
  /** The lease is gone: stop serving at once, commit nothing more. */
  onLose(hall: string, reason: 'renew-refused' | 'fenced' | 'unreachable'): Promise<void>;
  /** Stop serving in good order (drain commits, checkpoint) before the lease is released. */
  onRelease(hall: string): Promise<void>;
}

interface Held { lease: Lease; renewSentAt: number /* performance.now() of the last successful renewal's request */ }

/**
 * The loop that keeps this hub's leases: renews what it holds, takes free or expired halls up
 * to its fair share (halls ÷ live hubs, rounded up) — beyond it only a hall nobody took for a
 * whole lease time — and gives one back when it holds more than its share, so halls spread
 * out again when a hub joins.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private readonly busy = new Set<string>(); // halls being taken, lost or released right now
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private liveHubs = 1;
  private overShare = 0; // consecutive polls holding more than the fair share
  private ticking: Promise<void> = Promise.resolve();

  constructor(private readonly o: KeeperOptions) {}

  start(): void {
    this.timers.push(setInterval(() => this.serial(() => this.renewAll()), this.o.renewMs));
    this.timers.push(setInterval(() => this.serial(() => this.poll()), this.o.pollMs));
    this.serial(() => this.renewAll());
    this.serial(() => this.poll());
  }

  /** Renewals and polls run one at a time, so a hall is never taken and released at once. */
  private serial(fn: () => Promise<void>): void {
    this.ticking = this.ticking.then(() => (this.stopped ? undefined : fn())).catch((error) => {
      this.o.log.error({ err: error }, 'lease keeper: unexpected error');
    });
  }

  holds(hall: string): Lease | undefined {
    return this.held.get(hall)?.lease;
  }

  leases(): Lease[] {
    return [...this.held.values()].map((h) => ({ ...h.lease }));
  }

  private mayServe(hall: string): boolean {
    return this.o.halls === '*' || this.o.halls.includes(hall);
  }

  private async renewAll(): Promise<void> {
    const { store, metrics, log } = this.o;
    try {
      this.liveHubs = await store.heartbeat();
    } catch (error) {
      log.warn({ err: String(error) }, 'lease keeper: heartbeat failed');
    }
    for (const [hall, h] of [...this.held]) {
      if (this.busy.has(hall)) continue;
      const sentAt = performance.now();
      try {
        if (await store.renew(h.lease)) {
          h.renewSentAt = sentAt;
          continue;
        }
        await this.lose(hall, 'renew-refused');
      } catch (error) {
        metrics.renewFailures.inc();
        // Still ours until a lease time after the last renewal we know arrived; then another
        // hub may take it, so stop taking its events (the fence would refuse them anyway).
        const left = store.ttlMs - (performance.now() - h.renewSentAt);
        log.warn({ hall, err: String(error), leftMs: Math.round(left) }, 'lease renewal failed');
        if (left <= this.o.renewMs) await this.lose(hall, 'unreachable');
      }
    }
  }

  /** Called by the hub when a commit was refused by the fence. */
  fenced(hall: string): void {
    if (!this.held.has(hall) || this.busy.has(hall)) return;
    this.serial(() => this.lose(hall, 'fenced'));
  }

  private async lose(hall: string, reason: 'renew-refused' | 'fenced' | 'unreachable'): Promise<void> {
    const h = this.held.get(hall);
    if (!h) return;
    this.busy.add(hall);
    this.held.delete(hall);
    this.o.metrics.lost.inc({ reason });
    this.o.metrics.held.remove({ hall });
    this.o.metrics.epoch.remove({ hall });
    this.o.log.warn({ hall, epoch: h.lease.epoch, reason }, 'hall lease lost; no longer serving the hall');
    try {
      await this.o.onLose(hall, reason);
    } catch (error) {
      this.o.log.error({ hall, err: error }, 'stopping a lost hall failed');
    } finally {
      this.busy.delete(hall);
    }
    this.o.bus?.emit('leaseLost', { hall, reason });
  }

  private async poll(): Promise<void> {
    const { store, log, metrics } = this.o;
    let rows: LeaseRow[];
    try {
      rows = await store.list();
    } catch (error) {
      log.warn({ err: String(error) }, 'lease keeper: cannot read the lease table');
      return;
    }
    const mine = rows.filter((r) => this.mayServe(r.hall));
    const fair = Math.ceil(mine.length / this.liveHubs);
    const cap = this.o.maxHalls > 0 ? Math.min(this.o.maxHalls, Math.max(fair, 1)) : Math.max(fair, 1);
    for (const r of mine) {
      if (this.stopped) return;
      if (this.held.has(r.hall) || this.busy.has(r.hall)) continue;
      const free = r.holder === null || r.expires < r.now || r.holder === store.hubId;
      if (!free) continue;
      // Beyond the fair share, only a hall that nobody took for a whole lease time.
      const orphaned = r.now - r.expires > store.ttlMs;
      const hardCap = this.o.maxHalls > 0 && this.held.size >= this.o.maxHalls;
      if (hardCap || (this.held.size >= cap && !orphaned && r.holder !== store.hubId)) continue;
      await this.take(r.hall);
    }
    // Rebalance: more than the fair share for three polls in a row gives one hall back.
    if (this.liveHubs > 1 && this.held.size > fair) this.overShare++;
    else this.overShare = 0;
    if (this.overShare >= 3 && !this.stopped) {
      this.overShare = 0;
      const newest = [...this.held.values()].sort((a, b) => b.lease.epoch - a.lease.epoch)[0];
      if (newest) {
        log.info({ hall: newest.lease.hall, held: this.held.size, fair }, 'holding more than a fair share of halls; giving one back');
        await this.release(newest.lease.hall, 'rebalance');
      }
    }
  }

  private async take(hall: string): Promise<void> {
    const { store, metrics, log } = this.o;
    const sentAt = performance.now();
    let taken: Taken | undefined;
    try {
      taken = await store.take(hall);
    } catch (error) {
      log.warn({ hall, err: String(error) }, 'taking a hall lease failed');
      return;
    }
    if (!taken) return;
    this.busy.add(hall);
    const how = taken.previous === null ? 'free' : taken.previous === store.hubId ? 'restart' : 'takeover';
    log.info({ hall, epoch: taken.epoch, previous: taken.previous, how }, 'hall lease taken');
    try {
      await this.o.onTake(taken);
    } catch (error) {
      log.error({ hall, err: error }, 'could not start serving the hall; giving its lease back');
      this.busy.delete(hall);
      metrics.released.inc({ reason: 'start-failed' });
      await store.release(taken).catch(() => undefined);
      return;
    }
    this.busy.delete(hall);
    this.held.set(hall, { lease: taken, renewSentAt: sentAt });
    metrics.taken.inc({ how });
    metrics.held.set({ hall }, 1);
    metrics.epoch.set({ hall }, taken.epoch);
    this.o.bus?.emit('leaseTaken', { hall, epoch: taken.epoch });
  }

  private async release(hall: string, reason: 'shutdown' | 'rebalance'): Promise<void> {
    const h = this.held.get(hall);
    if (!h) return;
    this.busy.add(hall);
    try {
      await this.o.onRelease(hall);
    } catch (error) {
      this.o.log.error({ hall, err: error }, 'draining a hall before release failed');
    }
    this.held.delete(hall);
    this.o.metrics.held.remove({ hall });
    this.o.metrics.epoch.remove({ hall });
    try {
      if (await this.o.store.release(h.lease)) this.o.metrics.released.inc({ reason });
    } catch (error) {
      this.o.log.warn({ hall, err: String(error) }, 'releasing a hall lease failed; it expires on its own');
    } finally {
      this.busy.delete(hall);
    }
    this.o.bus?.emit('leaseLost', { hall, reason });
  }

  /** Stops the loop and gives every hall back in good order. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.ticking;
    for (const hall of [...this.held.keys()]) await this.release(hall, 'shutdown');
    await this.o.store.leave().catch(() => undefined);
  }
}
