/**
 * Which (boot, seq) of a device ingest has already decided (committed or refused), kept as one
 * small row per (device, boot) instead of one row per event.
 *
 * A device numbers its events 1, 2, 3… per boot and sends them in order, so what has been
 * decided is almost always "everything up to n". The row holds that n (`upto`) and the gaps
 * below it: seqs not seen yet (a message lost and resent later) or never to come (an event the
 * device's outbox evicted on a full flash). A seq is decided when it is ≤ upto and in no gap.
 *
 * Why not an index of every (dev, boot, seq): with devices interleaved, each commit group wrote
 * into one leaf page of that index per device, and every such page went whole into the WAL and
 * its fsync. A group of 32 events from 20 devices rewrote ~20 pages for a few bytes each; the
 * marks of those devices share one or two pages (bench/support/findings.md, sixth pass).
 *
 * The verdict of a decided seq is 'refused' with its reason when the refusals table holds it,
 * else 'committed' (every committed event has its ledger row).
 *
 * Bounds (security review, finding 11): a device could send seq 1, then 1,000,000, then seqs
 * spaced across that gap, each splitting it: the row grew by one gap per event and was
 * rewritten whole on every commit (204 KB per commit, acks at 58 ms). So a seq more than
 * SEQ_WINDOW ahead of `upto` is refused (and marked, so the device goes on from there), and a
 * seq that would keep gap number MAX_GAPS + 1 is refused without being marked. Such an unmarked
 * refusal sets the row's `refusedUnmarked` flag (a leading "!" in the gaps text): for a flagged
 * row ingest looks every undecided seq up in the refusals table, so a resend gets the same verdict.
 */

import { memoSql, powerOfTwoChunks, valuesPlaceholders, type Db, type Migration } from '../db/db.js';

/** Gaps as text: inclusive ranges "a-b", ascending, comma-separated ("" when none). */
function parseGaps(text: string, where: string): [number, number][] {
  if (text.startsWith('!')) text = text.slice(1);
  if (text === '') return [];
  return text.split(',').map((range): [number, number] => {
    const dash = range.indexOf('-');
    const a = Number(range.slice(0, dash)), b = Number(range.slice(dash + 1));
    if (dash < 1 || !Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 1 || b < a) throw new Error(`event_marks ${where}: bad gap "${range}" in "${text.slice(0, 200)}"`);
    return [a, b];
  }).sort((x, y) => x[0] - y[0]);
}

/**
 * How far ahead of the highest decided seq a device's next seq may be. Seqs skip only what the
 * hub has not seen yet: events still in the device's outbox (64 KiB by default, firmware/core/
 * config.ts; an event record takes well over 100 bytes, so a few hundred events, a few thousand
 * on a large partition) or evicted from it on a full flash. A jump past this is no real backlog;
 * it is refused (and marked: one refusal, then the device's next seqs are in order again).
 */
export const SEQ_WINDOW = 4096;
/** Gaps kept per (device, boot): the row is rewritten on each commit of that device, so its size is bounded. */
export const MAX_GAPS = 256;

export interface SeqBound { code: 'seq-window' | 'seq-gaps'; message: string; mark: boolean }

export class SeqMarks {
  changed = false;
  /** Some seq was refused without being marked: undecided seqs are looked up in `refusals`. */
  refusedUnmarked: boolean;
  private readonly gaps: [number, number][];

  constructor(private upto = 0, gaps = '', where = '') {
    this.refusedUnmarked = gaps.startsWith('!');
    this.gaps = parseGaps(gaps, where);
  }

  /**
   * Null when seq may be marked; else why it is refused, and whether it is marked all the same.
   * In-order seqs (upto + 1) and gap fills at a gap's end return at once.
   */
  bound(seq: number): SeqBound | null {
    if (seq === this.upto + 1 || !this.opensGap(seq)) return null;
    if (this.gaps.length >= MAX_GAPS) return { code: 'seq-gaps', message: `seq ${seq} would open more than ${MAX_GAPS} gaps in this boot's seqs; the hub keeps at most ${MAX_GAPS}`, mark: false };
    if (seq > this.upto + SEQ_WINDOW) return { code: 'seq-window', message: `seq ${seq} is more than the window of ${SEQ_WINDOW} ahead of seq ${this.upto}, the highest decided in this boot`, mark: true };
    return null;
  }

  /** Marks that seq was refused and left unmarked. */
  flagRefusedUnmarked(): void {
    if (!this.refusedUnmarked) this.changed = true;
    this.refusedUnmarked = true;
  }

  /** Whether marking seq would keep one more gap: it skips ahead, or falls inside a gap (not at an end). */
  private opensGap(seq: number): boolean {
    if (seq > this.upto) return seq > this.upto + 1;
    for (const [a, b] of this.gaps) {
      if (seq < a) return false;
      if (seq <= b) return a < seq && seq < b;
    }
    return false;
  }

  /** Whether seq was decided already. */
  has(seq: number): boolean {
    if (seq > this.upto) return false;
    for (const [a, b] of this.gaps) {
      if (seq < a) return true;
      if (seq <= b) return false;
    }
    return true;
  }

  /** Marks seq decided (nothing changes if it was). */
  add(seq: number): void {
    if (seq > this.upto) {
      if (seq > this.upto + 1) this.gaps.push([this.upto + 1, seq - 1]);
      this.upto = seq;
      this.changed = true;
      return;
    }
    const i = this.gaps.findIndex(([a, b]) => a <= seq && seq <= b);
    if (i < 0) return; // decided already
    this.changed = true;
    const [a, b] = this.gaps[i];
    const rest: [number, number][] = [];
    if (a < seq) rest.push([a, seq - 1]);
    if (seq < b) rest.push([seq + 1, b]);
    this.gaps.splice(i, 1, ...rest);
  }

  get highest(): number {
    return this.upto;
  }

  get gapCount(): number {
    return this.gaps.length;
  }

  gapText(): string {
    return (this.refusedUnmarked ? '!' : '') + this.gaps.map(([a, b]) => `${a}-${b}`).join(',');
  }
}

const PAIRS_PER_LOOKUP = 64; // (dev, boot) pairs per SELECT at most; a power of two
const ROWS_PER_UPSERT = 64;

const lookupSql = memoSql((n) => `SELECT dev, boot, upto, gaps FROM event_marks WHERE ${Array.from({ length: n }, (_, i) => `(dev = $${2 * i + 1} AND boot = $${2 * i + 2})`).join(' OR ')}`);
const upsertSql = memoSql((n) => `INSERT INTO event_marks (dev, boot, upto, gaps) VALUES ${valuesPlaceholders(n, 4)} ON CONFLICT (dev, boot) DO UPDATE SET upto = excluded.upto, gaps = excluded.gaps`);
const refusalsSql = memoSql((n) => `SELECT dev, boot, seq, reason FROM refusals WHERE ${Array.from({ length: n }, (_, i) => `(dev = $${3 * i + 1} AND boot = $${3 * i + 2} AND seq = $${3 * i + 3})`).join(' OR ')}`);

const pairKey = (dev: string, boot: number) => `${dev}\u0000${boot}`;
/** One event's (dev, boot, seq) as a Map key: refusalReasons' keys, and ingest's. */
export const eventKey = (dev: string, boot: number, seq: number) => `${dev}\u0000${boot}\u0000${seq}`;

/** The marks of the (device, boot) pairs one commit group touches, read and written in its tx. */
export class GroupMarks {
  private readonly marks = new Map<string, { dev: string; boot: number; marks: SeqMarks }>();

  static async load(tx: Db, pairs: Iterable<[string, number]>): Promise<GroupMarks> {
    const group = new GroupMarks();
    const wanted = new Map<string, [string, number]>();
    for (const [dev, boot] of pairs) wanted.set(pairKey(dev, boot), [dev, boot]);
    const list = [...wanted.values()];
    let i = 0;
    for (const size of powerOfTwoChunks(list.length, PAIRS_PER_LOOKUP)) {
      const params: (string | number)[] = [];
      for (const end = i + size; i < end; i++) params.push(list[i][0], list[i][1]);
      const rows = await tx.all<{ dev: string; boot: number; upto: number; gaps: string }>(lookupSql(size), params);
      for (const r of rows) {
        const boot = Number(r.boot);
        group.marks.set(pairKey(r.dev, boot), { dev: r.dev, boot, marks: new SeqMarks(Number(r.upto), r.gaps, `(${r.dev}, boot ${boot})`) });
      }
    }
    return group;
  }

  private of(dev: string, boot: number): SeqMarks {
    const k = pairKey(dev, boot);
    let entry = this.marks.get(k);
    if (!entry) this.marks.set(k, (entry = { dev, boot, marks: new SeqMarks() }));
    return entry.marks;
  }

  decided(dev: string, boot: number, seq: number): boolean {
    return this.marks.get(pairKey(dev, boot))?.marks.has(seq) ?? false;
  }

  add(dev: string, boot: number, seq: number): void {
    this.of(dev, boot).add(seq);
  }

  /** Whether some seq of (dev, boot) was refused unmarked: its undecided seqs need a refusals lookup. */
  flagged(dev: string, boot: number): boolean {
    return this.marks.get(pairKey(dev, boot))?.marks.refusedUnmarked ?? false;
  }

  /** Null when seq may be marked; else why ingest refuses it (see SeqMarks.bound). */
  bound(dev: string, boot: number, seq: number): SeqBound | null {
    return this.of(dev, boot).bound(seq);
  }

  flagRefusedUnmarked(dev: string, boot: number): void {
    this.of(dev, boot).flagRefusedUnmarked();
  }

  /** Writes the marks that changed. */
  async save(tx: Db): Promise<void> {
    const rows: (string | number)[][] = [];
    for (const { dev, boot, marks } of this.marks.values()) if (marks.changed) rows.push([dev, boot, marks.highest, marks.gapText()]);
    let i = 0;
    for (const size of powerOfTwoChunks(rows.length, ROWS_PER_UPSERT)) await tx.run(upsertSql(size), rows.slice(i, i += size).flat());
  }
}

/** Reasons of the given decided events that were refused, by eventKey; the others were committed. */
export async function refusalReasons(tx: Db, decided: { dev: string; boot: number; seq: number }[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let i = 0;
  for (const size of powerOfTwoChunks(decided.length, PAIRS_PER_LOOKUP)) {
    const params: (string | number)[] = [];
    for (const end = i + size; i < end; i++) params.push(decided[i].dev, decided[i].boot, decided[i].seq);
    const rows = await tx.all<{ dev: string; boot: number; seq: number; reason: string }>(refusalsSql(size), params);
    for (const r of rows) found.set(eventKey(r.dev, Number(r.boot), Number(r.seq)), r.reason);
  }
  return found;
}

/**
 * From one row per event to one row per (device, boot): the marks are computed from the
 * `events` rows (upto = the highest seq; a gap wherever consecutive seqs differ by more than
 * one, and before the first), then `events` goes.
 */
export const eventMarksMigration: Migration = {
  id: 'ingest/002-event-marks',
  sql: (dialect) => {
    const join = dialect === 'postgres' ? 'string_agg' : 'group_concat';
    return `
      CREATE TABLE event_marks (
        dev TEXT NOT NULL,
        boot BIGINT NOT NULL,
        upto BIGINT NOT NULL,
        gaps TEXT NOT NULL,
        PRIMARY KEY (dev, boot)
      );
      INSERT INTO event_marks (dev, boot, upto, gaps)
        SELECT dev, boot, MAX(seq),
          COALESCE(${join}(CASE WHEN seq - prev > 1 THEN CAST(prev + 1 AS TEXT) || '-' || CAST(seq - 1 AS TEXT) END, ',' ORDER BY seq), '')
        FROM (SELECT dev, boot, seq, COALESCE(LAG(seq) OVER (PARTITION BY dev, boot ORDER BY seq), 0) AS prev FROM events) AS numbered
        GROUP BY dev, boot;
      DROP TABLE events;`;
  },
};
