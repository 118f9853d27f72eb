/**
 * The hub's logger: pino, JSON lines on stdout (or pretty when asked, for a technician's
 * terminal). Every module takes a child logger named after itself.
 */

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  /** Human-readable lines through pino-pretty instead of JSON, when stdout is a terminal. */
  pretty?: boolean;
  /** Whether stdout is a terminal (default process.stdout.isTTY). */
  tty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? 'info';
  // Pretty (and its colours) only for a person at a terminal: a file, a pipe or journald gets
  // JSON lines, which log tools parse and which never carry ANSI escapes.
  if (options.pretty && (options.tty ?? process.stdout.isTTY === true)) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino({ level, base: { app: 'sannuo-hub' } });
}

const publishConditions = new WeakMap<Logger, Map<string, Condition>>();

/**
 * Waits for every publish; failures are a warning saying why they do no harm (`why`), logged as
 * a condition (once when publishes start failing, a summary while they do, once when one
 * succeeds again), not a line per message through a broker outage. Never rejects.
 */
export async function settleLogged(sends: Promise<void>[], log: Logger, why: string): Promise<void> {
  const results = await Promise.allSettled(sends);
  let byWhy = publishConditions.get(log);
  if (!byWhy) publishConditions.set(log, (byWhy = new Map()));
  let condition = byWhy.get(why);
  if (!condition) byWhy.set(why, (condition = new Condition(log, 'publish-failing', why, { level: 'warn' })));
  let failed = 0;
  for (const r of results) if (r.status === 'rejected') { failed++; condition.fail({ err: String(r.reason) }); }
  if (!failed && results.length) condition.ok();
}

/** A logger that writes nothing, for library use and tests that assert on state instead. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A failing condition logged as an operator reads it, not once per failure: one line when it
 * starts (with the first error), a summary every `intervalMs` while it lasts (how many failures
 * since the last line), one line when it ends (how long, how many). An outage with a thousand
 * resends writes a handful of lines.
 */
export class Condition {
  private since: number | null = null;
  private total = 0;
  private sinceSummary = 0;
  private lastLine = 0;
  private readonly intervalMs: number;
  private readonly level: 'error' | 'warn';
  private readonly now: () => number;

  constructor(private readonly log: Logger, readonly name: string, private readonly message: string, options: { intervalMs?: number; level?: 'error' | 'warn'; now?: () => number } = {}) {
    this.intervalMs = options.intervalMs ?? 30_000;
    this.level = options.level ?? 'error';
    this.now = options.now ?? Date.now;
  }

  get active(): boolean {
    return this.since !== null;
  }

  /** One more failure; logs only when the condition starts or a summary is due. */
  fail(fields: Record<string, unknown> = {}): void {
    const at = this.now();
    this.total++;
    this.sinceSummary++;
    if (this.since === null) {
      this.since = at;
      this.lastLine = at;
      this.sinceSummary = 0;
      this.log[this.level]({ ...fields, condition: this.name, state: 'started' }, `${this.message} (started)`);
      return;
    }
    if (at - this.lastLine >= this.intervalMs) {
      this.log[this.level]({ ...fields, condition: this.name, state: 'ongoing', failures: this.sinceSummary, total: this.total, forMs: at - this.since },
        `${this.message} (still, ${this.sinceSummary} more in ${Math.round((at - this.lastLine) / 1000)} s)`);
      this.lastLine = at;
      this.sinceSummary = 0;
    }
  }

  /** The condition is over (if it was on): one line with its length and count. */
  ok(fields: Record<string, unknown> = {}): void {
    if (this.since === null) return;
    const at = this.now();
    this.log.info({ ...fields, condition: this.name, state: 'ended', total: this.total, forMs: at - this.since }, `${this.message} (ended after ${Math.round((at - this.since) / 1000)} s, ${this.total} failures)`);
    this.since = null;
    this.total = 0;
    this.sinceSummary = 0;
  }
}
