/**
 * Wait and service times of a report: mean and p90 per window, staff member and item, and for
 * the hall. The p90 is the nearest-rank 90th percentile of the services finished in the period,
 * to the whole second (the queue's histogram, lookup.ts), so a year needs no ticket list in memory.
 */

import type { Db } from '../db/db.js';
import { num } from '../db/db.js';
import { serviceTimeHistogram } from '../queue/lookup.js';

export interface TimeFigures {
  /** Services finished with a wait (called) and with a service time (served). */
  waits: number;
  services: number;
  meanWaitMs: number | null;
  p90WaitMs: number | null;
  meanServiceMs: number | null;
  p90ServiceMs: number | null;
}

export type TimeDimension = 'win' | 'staff' | 'item';
export interface ReportTimes { hall: TimeFigures; win: Map<string, TimeFigures>; staff: Map<string, TimeFigures>; item: Map<string, TimeFigures> }

export const emptyTimes = (): TimeFigures => ({ waits: 0, services: 0, meanWaitMs: null, p90WaitMs: null, meanServiceMs: null, p90ServiceMs: null });

/** Nearest rank: the smallest value with at least 90 % of the values at or below it. */
export function p90Of(histogram: [seconds: number, count: number][]): number | null {
  const total = histogram.reduce((n, [, c]) => n + c, 0);
  if (total === 0) return null;
  const rank = Math.ceil(0.9 * total);
  let seen = 0;
  for (const [s, c] of [...histogram].sort((a, b) => a[0] - b[0])) {
    seen += c;
    if (seen >= rank) return s * 1000;
  }
  return null;
}

/** Mean from whole seconds would drift; it comes exact from the report's counts (figures.ts). */
function fill(target: TimeFigures, measure: 'wait' | 'service', histogram: [number, number][]): void {
  const n = histogram.reduce((sum, [, c]) => sum + c, 0);
  if (measure === 'wait') { target.waits = n; target.p90WaitMs = p90Of(histogram); } else { target.services = n; target.p90ServiceMs = p90Of(histogram); }
}

export async function reportTimes(db: Db, from: number, to: number, department?: string): Promise<ReportTimes> {
  const out: ReportTimes = { hall: emptyTimes(), win: new Map(), staff: new Map(), item: new Map() };
  for (const by of ['hall', 'win', 'staff', 'item'] as const) {
    for (const measure of ['wait', 'service'] as const) {
      const per = new Map<string, [number, number][]>();
      for (const r of await serviceTimeHistogram(db, from, to, by, measure, department)) {
        const k = r.k ?? '';
        let list = per.get(k);
        if (!list) per.set(k, list = []);
        list.push([num(r.s), num(r.n)]);
      }
      for (const [k, histogram] of per) {
        let target: TimeFigures;
        if (by === 'hall') target = out.hall;
        else {
          let t = out[by].get(k);
          if (!t) out[by].set(k, t = emptyTimes());
          target = t;
        }
        fill(target, measure, histogram);
      }
    }
  }
  return out;
}

/** The exact means, from a dimension's counts (wait and service sums over the same services). */
export function withMeans(t: TimeFigures | undefined, counts: { waitMs: number; waits: number; serviceMs: number; services: number }): TimeFigures {
  return { ...(t ?? emptyTimes()), meanWaitMs: counts.waits ? counts.waitMs / counts.waits : null, meanServiceMs: counts.services ? counts.serviceMs / counts.services : null };
}
