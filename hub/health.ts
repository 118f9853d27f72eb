/**
 * Whether the hub can do its job, told truthfully: a `SELECT 1` answers on a full disk while
 * every commit fails, so health follows the commits themselves, and the free space under the
 * data folder.
 *
 * The rule:
 * - **failing** from the first failed commit until the next one succeeds. While failing, a probe
 *   commits one tiny row every `probeMs`, so health comes back by itself when space is freed,
 *   with or without device traffic.
 * - **disk low** when the data folder's file system has less than `lowDiskBytes` free: a
 *   warning (dashboard, log, metric) before it is full. Commits still run.
 * - **ready** (/readyz 200) when not failing and the free space is above `minFreeBytes`, the
 *   margin SQLite needs to commit a group and checkpoint its WAL.
 */

import fs from 'node:fs';
import type { Logger } from 'pino';
import type { Db, Migration } from './db/db.js';
import { Condition } from './log.js';
import type { Metrics } from './metrics.js';

export interface HealthOptions {
  /** The folder whose file system holds the database. */
  dataDir: string;
  /** Below this, the disk is "low": warn. */
  lowDiskBytes: number;
  /** Below this, the hub is not ready: a commit could fail any moment. */
  minFreeBytes: number;
  /** How often a failing hub tries its probe commit. */
  probeMs: number;
  now?: () => number;
  metrics?: Pick<Metrics, 'diskFree' | 'diskLow' | 'commitsFailing'>;
}

export interface CommitState {
  failing: boolean;
  /** Since when commits fail (ms), or null. */
  failingSince: number | null;
  lastOkAt: number | null;
  lastFailureAt: number | null;
  lastError: string | null;
  /** Failed commits since failing began. */
  failures: number;
}

export interface DiskState { freeBytes: number | null; low: boolean; full: boolean }

export class CommitHealth {
  static migrations: Migration[] = [
    { id: 'health/001-probe', sql: () => 'CREATE TABLE health_probe (name TEXT PRIMARY KEY, at BIGINT NOT NULL)' },
  ];
  private state: CommitState = { failing: false, failingSince: null, lastOkAt: null, lastFailureAt: null, lastError: null, failures: 0 };
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly condition: Condition;
  private readonly diskCondition: Condition;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly db: Db, private readonly log: Logger, private readonly options: HealthOptions) {
    this.now = options.now ?? Date.now;
    this.condition = new Condition(log, 'commits-failing', 'commits are failing; events stay unacked and devices resend them');
    this.diskCondition = new Condition(log, 'disk-low', 'the data folder is low on space', { level: 'warn' });
  }

  /** A commit (an ingest group, or the probe) succeeded. */
  committed(): void {
    const at = this.now();
    this.state.lastOkAt = at;
    if (!this.state.failing) return;
    this.condition.ok({ since: this.state.failingSince, failures: this.state.failures });
    this.state = { ...this.state, failing: false, failingSince: null, failures: 0 };
    this.options.metrics?.commitsFailing.set(0);
    this.stopProbe();
  }

  /** A commit failed (not a lost lease: that is another hub's turn, not a fault). */
  failed(error: unknown): void {
    const at = this.now();
    const message = error instanceof Error ? error.message : String(error);
    if (!this.state.failing) {
      this.state = { ...this.state, failing: true, failingSince: at, failures: 0 };
      this.options.metrics?.commitsFailing.set(1);
    }
    this.state.failures++;
    this.state.lastFailureAt = at;
    this.state.lastError = message.slice(0, 300);
    this.condition.fail({ err: message.slice(0, 300) });
    this.startProbe();
  }

  commits(): Readonly<CommitState> {
    return this.state;
  }

  disk(): DiskState {
    let freeBytes: number | null = null;
    try {
      const s = fs.statfsSync(this.options.dataDir);
      freeBytes = Number(s.bavail) * Number(s.bsize);
    } catch {
      // a folder gone or a platform without statfs: unknown, never a fake figure
    }
    const low = freeBytes !== null && freeBytes < this.options.lowDiskBytes;
    const full = freeBytes !== null && freeBytes < this.options.minFreeBytes;
    if (low) this.diskCondition.fail({ freeBytes, lowDiskBytes: this.options.lowDiskBytes });
    else this.diskCondition.ok({ freeBytes });
    if (freeBytes !== null) this.options.metrics?.diskFree.set(freeBytes);
    this.options.metrics?.diskLow.set(low ? 1 : 0);
    return { freeBytes, low, full };
  }

  /** Ready: commits succeed and there is room for the next ones; else why not. */
  ready(): { ready: boolean; why: string | null } {
    if (this.state.failing) return { ready: false, why: `commits failing since ${new Date(this.state.failingSince!).toISOString()}: ${this.state.lastError}` };
    const disk = this.disk();
    if (disk.full) return { ready: false, why: `the data folder has ${disk.freeBytes} bytes free, under the ${this.options.minFreeBytes} a commit needs` };
    return { ready: true, why: null };
  }

  stop(): void {
    this.stopped = true;
    this.stopProbe();
  }

  private startProbe(): void {
    if (this.probeTimer || this.stopped) return;
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeMs);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** One tiny write, committed: the cheapest proof that commits work again. */
  private async probe(): Promise<void> {
    try {
      await this.db.tx(async (tx) => {
        await tx.run(`INSERT INTO health_probe (name, at) VALUES ('commit', $1) ON CONFLICT (name) DO UPDATE SET at = excluded.at`, [this.now()]);
      });
      this.committed();
    } catch (error) {
      // Still failing: counted in the condition's summary, not logged line by line.
      this.condition.fail({ err: error instanceof Error ? error.message.slice(0, 300) : String(error), probe: true });
    }
  }
}
