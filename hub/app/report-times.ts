/**
 * Wait and service times of a report: mean and p90 per window, staff member and item, and for
 * the hall. The mean is exact (the counts' sums, figures.ts); the p90 is the nearest-rank 90th
 * percentile read from the time histograms (ratings/time-rollup.ts: 6 s buckets under 10 min,
 * 30 s to an hour, 5 min beyond), so a year of tickets needs no ticket list in memory.
 */

import type { Db } from '../db/db.js';
import { num } from '../db/db.js';
import { bucketFloorMs, rawTimeRows, timeRollupRows, wholeMonths } from '../ratings/time-rollup.js';
import { rollupOffset } from '../ratings/rollup.js';

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

/** Nearest rank over (bucket, count): the lower bound of the first bucket holding 90 % of the values. */
export function p90Of(histogram: [bucket: number, count: number][]): number | null {
  const total = histogram.reduce((n, [, c]) => n + c, 0);
  if (total <= 0) return null;
  const rank = Math.ceil(0.9 * total);
  let seen = 0;
  for (const [b, c] of [...histogram].sort((x, y) => x[0] - y[0])) {
    seen += c;
    if (seen >= rank) return bucketFloorMs(b);
  }
  return null;
}

/** `source` as figures.ts: 'raw' reads the tickets; 'auto' and 'rollup' read the histograms where the period is whole months. */
export async function reportTimes(db: Db, from: number, to: number, utcOffsetMinutes: number, department?: string, source: 'auto' | 'rollup' | 'raw' = 'auto'): Promise<ReportTimes> {
  const months = source === 'raw' ? null : wholeMonths(from, to, utcOffsetMinutes);
  const rows = months && (await rollupOffset(db)) === utcOffsetMinutes
    ? await timeRollupRows(db, months[0], months[1], department)
    : await rawTimeRows(db, from, to, department);
  const per = new Map<string, [number, number][]>();
  for (const r of rows) {
    // The hall is the sum of the department rows, as in figures.ts.
    const k = JSON.stringify(r.dim === 'department' ? ['hall', '', r.measure] : [r.dim, r.key, r.measure]);
    let list = per.get(k);
    if (!list) per.set(k, list = []);
    list.push([num(r.bucket), num(r.n)]);
  }
  const out: ReportTimes = { hall: emptyTimes(), win: new Map(), staff: new Map(), item: new Map() };
  for (const [k, histogram] of per) {
    const [dim, key, measure] = JSON.parse(k) as ['hall' | 'win' | 'staff' | 'item', string, 'wait' | 'service'];
    let target: TimeFigures;
    if (dim === 'hall') target = out.hall;
    else {
      let t = out[dim].get(key);
      if (!t) out[dim].set(key, t = emptyTimes());
      target = t;
    }
    const n = histogram.reduce((sum, [, c]) => sum + c, 0);
    if (measure === 'wait') { target.waits = n; target.p90WaitMs = p90Of(histogram); } else { target.services = n; target.p90ServiceMs = p90Of(histogram); }
  }
  return out;
}

/** The exact means, from a dimension's counts (wait and service sums over the same services). */
export function withMeans(t: TimeFigures | undefined, counts: { waitMs: number; waits: number; serviceMs: number; services: number }): TimeFigures {
  return { ...(t ?? emptyTimes()), meanWaitMs: counts.waits ? counts.waitMs / counts.waits : null, meanServiceMs: counts.services ? counts.serviceMs / counts.services : null };
}
