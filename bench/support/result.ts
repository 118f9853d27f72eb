/**
 * What every benchmark prints and how bench/run.ts reads it.
 *
 * Contract (for benches owned by others too): progress goes to stderr; the figures go to
 * stdout as ONE line holding a JSON object `{"bench": "...", "title": "...", "figures": [...]}`
 * (see BenchResult). bench/run.ts takes the last such line of a child's stdout.
 */

export interface Bar {
  /** '<' : value must stay under limit; '>=' : value must reach limit. */
  op: '<' | '<=' | '>=' | '>';
  limit: number;
  /** How the bar reads in RESULTS.md, e.g. "p99 ≤ 3 × raw p99". */
  text: string;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The baseline measured in the same run (raw broker relay, etc.). */
  baseline?: { name: string; value: number; unit: string };
  bar?: Bar;
  note?: string;
}

export interface BenchResult {
  bench: string;
  title: string;
  figures: Figure[];
  /** Load, sizes, windows: whatever a reader needs to repeat the run. */
  config?: Record<string, unknown>;
  notes?: string[];
}

export function emit(result: BenchResult): void {
  process.stdout.write(JSON.stringify(result) + '\n');
}

export function passes(figure: Figure): boolean | undefined {
  const bar = figure.bar;
  if (!bar) return undefined;
  switch (bar.op) {
    case '<': return figure.value < bar.limit;
    case '<=': return figure.value <= bar.limit;
    case '>=': return figure.value >= bar.limit;
    case '>': return figure.value > bar.limit;
  }
}

/** Nearest-rank percentile of unsorted samples (ms); NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * A counting line on stderr, redrawn at most every 250 ms (a pipe gets one line per
 * second instead, so logs stay readable).
 */
export class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  constructor(private readonly label: string) {}

  update(text: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 250 : 1000)) return;
    this.last = now;
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.label}: ${text}`);
    else process.stderr.write(`${this.label}: ${text}\n`);
  }

  done(text: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.label}: ${text}\n`);
    else process.stderr.write(`${this.label}: ${text}\n`);
  }
}

export function log(text: string): void {
  process.stderr.write(text + '\n');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
