/**
 * The hub's logger: pino, JSON lines on stdout (or pretty when asked, for a technician's
 * terminal). Every module takes a child logger named after itself.
 */

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  /** Human-readable lines through pino-pretty instead of JSON. */
  pretty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (options.pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino({ level, base: { app: 'sannuo-hub' } });
}

/** Waits for every publish; each failure is a warning saying why it does no harm (`why`). Never rejects. */
export async function settleLogged(sends: Promise<void>[], log: Logger, why: string): Promise<void> {
  const results = await Promise.allSettled(sends);
  for (const r of results) if (r.status === 'rejected') log.warn({ err: String(r.reason) }, why);
}

/** A logger that writes nothing, for library use and tests that assert on state instead. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
