/**
 * What ingest counts, and how: a closed set of metric labels for refusals and rejections (no
 * device-chosen text mints a Prometheus series), a group's tally counted only once its
 * transaction has committed, and which failures are the storage's own.
 */

import type { Logger } from 'pino';
import type { ProtocolErrorCode } from '../../firmware/core/protocol.js';
import type { Metrics } from '../metrics.js';

/**
 * Every label the refused and rejected counters may carry: a closed set, so no reason text (a
 * window id, staff id or item code a device chose) can mint new Prometheus series.
 */
const PROTOCOL_CODES: readonly ProtocolErrorCode[] = [
  'bad-topic', 'oversized', 'empty', 'not-utf8', 'unsigned', 'not-json', 'wrong-version',
  'wrong-device', 'unknown-device', 'bad-signature', 'bad-field', 'unknown-type', 'not-canonical', 'too-many',
];
/** Ingest's own refusals of a seq (see SEQ_WINDOW and MAX_GAPS in event-marks.ts). */
export const SEQ_REFUSALS = ['seq-window', 'seq-gaps'] as const;
/** The queue's refusal texts start "<event type>: " (hub/queue/service.ts). */
const QUEUE_CATEGORIES = ['call', 'recall', 'noShow', 'transfer', 'pause', 'resume', 'rating'] as const;
export const METRIC_LABELS: ReadonlySet<string> = new Set<string>([...PROTOCOL_CODES, ...SEQ_REFUSALS, ...QUEUE_CATEGORIES, 'internal', 'other']);

/** A code as a metric label: itself when it is one of METRIC_LABELS, else 'other'. */
export function codeLabel(code: string): string {
  return METRIC_LABELS.has(code) ? code : 'other';
}

/** The metric label of a free-text refusal reason: its leading "<category>: " word, from a closed set. */
export function reasonLabel(reason: string): string {
  const colon = reason.indexOf(':');
  return colon > 0 ? codeLabel(reason.slice(0, colon)) : 'other';
}

/** What a group's transaction decided, counted into the metrics only once it has committed. */
export class Tally {
  committed = new Map<string, number>();
  refused = new Map<string, number>();
  duplicates = 0;
  readonly refusals: { dev: string; boot: number; seq: number; reason: string }[] = [];
  reset(): void {
    this.committed.clear();
    this.refused.clear();
    this.duplicates = 0;
    this.refusals.length = 0;
  }
  apply(metrics: Metrics, log: Logger): void {
    for (const [type, n] of this.committed) metrics.committed.inc({ type }, n);
    for (const [reason, n] of this.refused) metrics.refused.inc({ reason }, n);
    if (this.duplicates) metrics.duplicates.inc(this.duplicates);
    for (const r of this.refusals) log.info(r, 'event refused and recorded');
  }
}

/** A failure of the storage itself (a full disk, an I/O error): every event would fail alike, so retrying them one by one is no use. */
export function isStorageFailure(error: unknown): boolean {
  const code = String((error as { code?: unknown })?.code ?? '');
  return code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === '53100' /* PostgreSQL disk_full */ || code === '58030' /* io_error */
    || /database or disk is full|no space left on device/i.test(String((error as Error)?.message ?? ''));
}
