/**
 * The device outbox: every event the device emits, kept in flash until the hub's verdict comes
 * back. An append-only log file of framed records, compacted now and then into `<file>.new`
 * and renamed over the log. It is a File log, not Preferences: a Moddable Preference value
 * holds at most 4000 bytes, and a rating line is ~250.
 *
 * Record frame (all integers little-endian):
 *   magic 0xA7 | type u8 | length u16 | payload (length bytes) | CRC-32 of magic..payload
 * Records:
 *   BOOT      boot u32                                    a boot started (open())
 *   EVENT     boot u32, seq u32, typeLen u8, type, line   an event, its signed line in UTF-8
 *   VERDICT   boot u32, seq u32, verdict u8               the hub's verdict: the event leaves
 *   SNAPSHOT  boot u32, refused u32, dropped u32, torn u32, events u32
 *             first record of a compacted log; `events` EVENT records follow it
 * The event type is stored by name, so a firmware that adds event types reads older logs and
 * older firmware reads newer ones.
 *
 * Durability: add() takes seq = last seq of this boot + 1, writes the record with one append
 * and only then returns ok (then the device may say "thank you"). A power cut during the
 * append leaves a torn tail, which open() cuts off (and counts); the next boot numbers from 1
 * again, so no seq in any boot is skipped. settle() is durable before it returns too.
 *
 * Recovery on open(): a leftover `.new` means a compaction did not finish its rename; it is
 * removed (the log is still whole), unless the log is missing and `.new` is a complete
 * snapshot, in which case it becomes the log. The log is read up to its first bad record (bad
 * magic, length, CRC or payload); the rest is cut by rewriting the log (a compaction), since
 * the Flash interface cannot truncate.
 *
 * Space: `capacity` bytes cover the log plus the `.new` a compaction writes beside it, so the
 * outbox always keeps room to compact: log + live state ≤ capacity. When an event does not fit:
 *   1. compact (drop settled events and old records);
 *   2. if the live state is still too big, evict the oldest pending non-rating events (a
 *      state report, a call...), counted as `dropped` and returned in `evicted`;
 *   3. if ratings alone fill it, refuse the new event with reason 'full': a rating is never
 *      silently dropped, the pad shows a notice instead.
 * A FlashFullError from the medium itself (the partition is smaller than `capacity`) is met by
 * compacting once; if that does not help, the event is refused with reason 'full'.
 * Proactive compaction runs when dead bytes (settled events, verdicts, boots) pass `compactAt`,
 * so a long offline stretch with many pending events does not rewrite them on every add; and
 * open() compacts when the log holds more dead records than live ones, so a boot replays
 * little more than what is pending.
 */

import { FlashFullError, type Flash } from './hardware.js';
import { MAX_EVENT_BYTES, type EventType, type Verdict } from './protocol.js';
import { crc32 } from './crc32.js';
import { utf8Decode, utf8Encode } from './utf8.js';

export interface OutboxEntry { boot: number; seq: number; type: EventType; line: string /* signed event line */ }

export type AddResult =
  | { ok: true; entry: OutboxEntry; evicted: OutboxEntry[] }
  | { ok: false; reason: 'full'; message: string };

export interface OutboxOptions {
  /** Log file name; the compaction writes `<file>.new`. */
  file?: string;
  /** Bytes of flash the outbox may use, log and compaction copy together. */
  capacity: number;
  /** Compact when this many bytes of the log are dead; default a quarter of capacity. */
  compactAt?: number;
}

export interface OutboxCounters {
  /** Events the hub refused (recorded there, removed here). */
  refused: number;
  /** Non-rating events evicted to make room. */
  dropped: number;
  /** Opens that found and cut a torn or corrupt tail. */
  tornRecovered: number;
}

const MAGIC = 0xa7;
const REC_BOOT = 1;
const REC_EVENT = 2;
const REC_VERDICT = 3;
const REC_SNAPSHOT = 4;
const FRAME_BYTES = 8; // magic, type, length u16, CRC-32
const BOOT_RECORD_BYTES = FRAME_BYTES + 4;
const VERDICT_RECORD_BYTES = FRAME_BYTES + 9;
const SNAPSHOT_RECORD_BYTES = FRAME_BYTES + 20;
/** Kept free beyond what an add needs, for the BOOT and VERDICT records that follow it. */
const RESERVE = 4 * VERDICT_RECORD_BYTES; // bytes
const MAX_TYPE_LENGTH = 32;
const MAX_EVENT_RECORD_BYTES = FRAME_BYTES + 9 + MAX_TYPE_LENGTH + MAX_EVENT_BYTES;
/** The smallest capacity that can always compact with one largest event pending. */
export const MIN_OUTBOX_CAPACITY = 2 * (SNAPSHOT_RECORD_BYTES + MAX_EVENT_RECORD_BYTES) + RESERVE; // bytes

const VERDICT_CODES: Verdict[] = ['committed', 'refused'];

type LogRecord =
  | { kind: typeof REC_BOOT; boot: number }
  | { kind: typeof REC_EVENT; entry: OutboxEntry; size: number }
  | { kind: typeof REC_VERDICT; boot: number; seq: number; verdict: Verdict }
  | { kind: typeof REC_SNAPSHOT; boot: number; counters: OutboxCounters; events: number };

// ------------------------------------------------------------------ framing

function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_BYTES + payload.length);
  out[0] = MAGIC;
  out[1] = type;
  out[2] = payload.length & 0xff;
  out[3] = payload.length >>> 8;
  out.set(payload, 4);
  const crc = crc32(out, 0, 4 + payload.length);
  new DataView(out.buffer).setUint32(4 + payload.length, crc, true);
  return out;
}

function u32s(values: number[], extra = 0): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(values.length * 4 + extra);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setUint32(i * 4, values[i], true);
  return { bytes, view };
}

function bootRecord(boot: number): Uint8Array {
  return frame(REC_BOOT, u32s([boot]).bytes);
}

function eventRecord(entry: OutboxEntry): Uint8Array {
  const line = utf8Encode(entry.line);
  const type = utf8Encode(entry.type);
  const { bytes } = u32s([entry.boot, entry.seq], 1 + type.length + line.length);
  bytes[8] = type.length;
  bytes.set(type, 9);
  bytes.set(line, 9 + type.length);
  return frame(REC_EVENT, bytes);
}

function verdictRecord(boot: number, seq: number, verdict: Verdict): Uint8Array {
  const { bytes } = u32s([boot, seq], 1);
  bytes[8] = VERDICT_CODES.indexOf(verdict);
  return frame(REC_VERDICT, bytes);
}

function snapshotRecord(boot: number, counters: OutboxCounters, events: number): Uint8Array {
  return frame(REC_SNAPSHOT, u32s([boot, counters.refused, counters.dropped, counters.tornRecovered, events]).bytes);
}

function decodePayload(type: number, p: Uint8Array, size: number): LogRecord | undefined {
  const view = new DataView(p.buffer, p.byteOffset, p.length);
  switch (type) {
    case REC_BOOT:
      return p.length === 4 ? { kind: REC_BOOT, boot: view.getUint32(0, true) } : undefined;
    case REC_VERDICT: {
      if (p.length !== 9 || p[8] >= VERDICT_CODES.length) return undefined;
      return { kind: REC_VERDICT, boot: view.getUint32(0, true), seq: view.getUint32(4, true), verdict: VERDICT_CODES[p[8]] };
    }
    case REC_SNAPSHOT: {
      if (p.length !== 20) return undefined;
      const at = (i: number) => view.getUint32(i * 4, true);
      return { kind: REC_SNAPSHOT, boot: at(0), counters: { refused: at(1), dropped: at(2), tornRecovered: at(3) }, events: at(4) };
    }
    case REC_EVENT: {
      if (p.length < 10 || 9 + p[8] > p.length) return undefined;
      const type = utf8Decode(p.subarray(9, 9 + p[8]));
      const line = utf8Decode(p.subarray(9 + p[8]));
      if (!type || line === undefined) return undefined;
      const entry: OutboxEntry = { boot: view.getUint32(0, true), seq: view.getUint32(4, true), type: type as EventType, line };
      return { kind: REC_EVENT, entry, size };
    }
  }
  return undefined;
}

/** Reads records up to the first bad one; `good` is the length of the sound prefix. */
function parseLog(bytes: Uint8Array): { records: LogRecord[]; good: number } {
  const records: LogRecord[] = [];
  let pos = 0;
  while (bytes.length - pos >= FRAME_BYTES) {
    if (bytes[pos] !== MAGIC) break;
    const length = bytes[pos + 2] | (bytes[pos + 3] << 8);
    const end = pos + 4 + length;
    if (end + 4 > bytes.length) break;
    const stored = (bytes[end] | (bytes[end + 1] << 8) | (bytes[end + 2] << 16) | (bytes[end + 3] << 24)) >>> 0;
    if (stored !== crc32(bytes, pos, end)) break;
    const record = decodePayload(bytes[pos + 1], bytes.subarray(pos + 4, end), end + 4 - pos);
    if (!record) break;
    records.push(record);
    pos = end + 4;
  }
  return { records, good: pos };
}

/** A `.new` is complete when it is a snapshot whose promised events are all there, untorn. */
function isCompleteSnapshot(bytes: Uint8Array): boolean {
  const { records, good } = parseLog(bytes);
  if (good !== bytes.length || !records.length || records[0].kind !== REC_SNAPSHOT) return false;
  let events = 0;
  for (const r of records) if (r.kind === REC_EVENT) events++;
  return events === records[0].events && records.length === events + 1;
}

function keyOf(boot: number, seq: number): string {
  return boot + ':' + seq;
}

// ------------------------------------------------------------------ the outbox

export class Outbox {
  private readonly flash: Flash;
  private readonly file: string;
  private readonly tmp: string;
  private readonly capacity: number;
  private readonly compactAt: number;
  private opened = false;
  private bootNumber = 0;
  private lastSeq = 0;
  /** Pending events, oldest first, with their record sizes. */
  private entries: OutboxEntry[] = [];
  private sizes = new Map<string, number>();
  /** Bytes of the log file. */
  private logBytes = 0;
  /** Bytes a snapshot of the live state takes (what a compaction writes). */
  private liveBytes = SNAPSHOT_RECORD_BYTES;
  private count: OutboxCounters = { refused: 0, dropped: 0, tornRecovered: 0 };
  /** A write failed part-way (not a power cut): the log's tail is unknown, rewrite before appending. */
  private suspect = false;
  /** Compactions done since open, and bytes this outbox asked the flash to write (wear). */
  readonly wear = { compactions: 0, bytesWritten: 0 };

  constructor(flash: Flash, options: OutboxOptions) {
    const capacity = options.capacity;
    if (!Number.isSafeInteger(capacity) || capacity < MIN_OUTBOX_CAPACITY) {
      throw new RangeError(`Outbox capacity: expected an integer ≥ ${MIN_OUTBOX_CAPACITY} bytes, got ${capacity}`);
    }
    const file = options.file ?? 'outbox.log';
    if (typeof file !== 'string' || file.length === 0) throw new TypeError('Outbox file: expected a file name');
    const compactAt = options.compactAt ?? Math.floor(capacity / 4);
    if (!Number.isSafeInteger(compactAt) || compactAt < 1) throw new RangeError(`Outbox compactAt: expected an integer ≥ 1 byte, got ${compactAt}`);
    this.flash = flash;
    this.file = file;
    this.tmp = file + '.new';
    this.capacity = capacity;
    this.compactAt = compactAt;
  }

  get boot(): number {
    return this.bootNumber;
  }

  get counters(): OutboxCounters {
    return { refused: this.count.refused, dropped: this.count.dropped, tornRecovered: this.count.tornRecovered };
  }

  bytesUsed(): number {
    return this.logBytes;
  }

  /** Oldest first; a copy, so settling while iterating is safe. */
  pending(): readonly OutboxEntry[] {
    return this.entries.slice();
  }

  has(boot: number, seq: number): boolean {
    return this.sizes.has(keyOf(boot, seq));
  }

  open(): { boot: number; pending: number; tornBytes: number } {
    if (this.opened) throw new Error('Outbox.open: already open');
    let log = this.flash.read(this.file);
    const leftover = this.flash.read(this.tmp);
    if (leftover) {
      if (!log && isCompleteSnapshot(leftover)) {
        this.flash.rename(this.tmp, this.file);
        log = leftover;
      } else {
        this.flash.remove(this.tmp);
      }
    }
    const bytes = log ?? new Uint8Array(0);
    const { records, good } = parseLog(bytes);
    const tornBytes = bytes.length - good;

    let boot = 0;
    const counters: OutboxCounters = { refused: 0, dropped: 0, tornRecovered: 0 };
    let entries: OutboxEntry[] = [];
    const sizes = new Map<string, number>();
    for (const r of records) {
      if (r.kind === REC_SNAPSHOT) {
        boot = Math.max(boot, r.boot);
        counters.refused = r.counters.refused;
        counters.dropped = r.counters.dropped;
        counters.tornRecovered = r.counters.tornRecovered;
        entries = [];
        sizes.clear();
      } else if (r.kind === REC_BOOT) {
        boot = Math.max(boot, r.boot);
      } else if (r.kind === REC_EVENT) {
        const key = keyOf(r.entry.boot, r.entry.seq);
        boot = Math.max(boot, r.entry.boot);
        if (!sizes.has(key)) {
          entries.push(r.entry);
          sizes.set(key, r.size);
        }
      } else {
        const key = keyOf(r.boot, r.seq);
        if (sizes.has(key)) {
          sizes.delete(key); // the entry itself leaves `entries` below, in one pass
          if (r.verdict === 'refused') counters.refused++;
        }
      }
    }
    entries = entries.filter((e) => sizes.has(keyOf(e.boot, e.seq)));
    if (tornBytes > 0) counters.tornRecovered++;

    this.entries = entries;
    this.sizes = sizes;
    this.count = counters;
    this.logBytes = good;
    this.liveBytes = this.snapshotBytes(entries);
    const next = boot + 1;
    this.lastSeq = 0;

    // The new boot is durable before open returns: in a BOOT record, or in the snapshot that
    // also cuts a torn tail or sheds an old log's dead bytes. A log holding more dead records
    // (settled events, verdicts, boots) than live ones (the pending events and the snapshot
    // they sit under) is compacted too, well below compactAt: every boot replays the whole
    // log, and the objects that replay makes are the boot's GC work (issue 16, defect 9).
    const record = bootRecord(next);
    const dead = this.logBytes - this.liveBytes;
    const liveRecords = entries.length + 1;
    const deadRecords = records.length - liveRecords;
    if (tornBytes > 0 || dead >= this.compactAt || deadRecords > liveRecords
      || this.logBytes + record.length + this.liveBytes > this.capacity) {
      this.compact(entries, counters, next);
    } else {
      try {
        this.append(record);
      } catch (error) {
        if (!(error instanceof FlashFullError)) throw error;
        this.compact(entries, counters, next);
      }
    }
    this.bootNumber = next;
    this.opened = true;
    return { boot: next, pending: entries.length, tornBytes };
  }

  add(type: EventType, sign: (boot: number, seq: number) => string): AddResult {
    this.mustBeOpen('add');
    const seq = this.lastSeq + 1;
    const line = sign(this.bootNumber, seq);
    if (typeof line !== 'string' || line.length === 0) throw new TypeError(`Outbox.add: sign(${this.bootNumber}, ${seq}) returned no line`);
    const entry: OutboxEntry = { boot: this.bootNumber, seq, type, line };
    if (utf8Encode(type).length > MAX_TYPE_LENGTH) throw new RangeError(`Outbox.add: event type "${type.slice(0, 40)}" is longer than ${MAX_TYPE_LENGTH} bytes`);
    const record = eventRecord(entry);
    if (record.length > MAX_EVENT_RECORD_BYTES) {
      throw new RangeError(`Outbox.add: ${type} line of ${record.length - FRAME_BYTES - 9 - type.length} bytes, at most ${MAX_EVENT_BYTES}`);
    }
    const evicted: OutboxEntry[] = [];

    const fitsAsIs = (): boolean => !this.suspect
      && this.logBytes + record.length + this.liveBytes + record.length + RESERVE <= this.capacity;
    if (!fitsAsIs()) {
      // After a compaction the log is the live state: it must fit twice, with the new event.
      let keep = this.entries;
      let live = this.liveBytes + record.length;
      while (2 * live + RESERVE > this.capacity) {
        const index = indexOfOldestNonRating(keep);
        if (index < 0) {
          return this.refuseFull(`outbox full: ${keep.length} ratings fill ${this.capacity} bytes; the ${type} event was not recorded`);
        }
        if (keep === this.entries) keep = keep.slice();
        const [gone] = keep.splice(index, 1);
        evicted.push(gone);
        live -= this.sizes.get(keyOf(gone.boot, gone.seq))!;
      }
      const counters = this.counters;
      counters.dropped += evicted.length;
      try {
        this.compact(keep, counters, this.bootNumber);
      } catch (error) {
        if (!(error instanceof FlashFullError)) throw error;
        return this.refuseFull(`flash medium full: could not compact the outbox (${error.message}); the ${type} event was not recorded`);
      }
    }

    try {
      this.append(record);
    } catch (error) {
      if (!(error instanceof FlashFullError)) throw error;
      try {
        this.compact(this.entries, this.count, this.bootNumber);
        this.append(record);
      } catch (again) {
        if (!(again instanceof FlashFullError)) throw again;
        return this.refuseFull(`flash medium full (${again.message}); the ${type} event was not recorded`);
      }
    }
    this.lastSeq = seq;
    this.entries.push(entry);
    this.sizes.set(keyOf(entry.boot, entry.seq), record.length);
    this.liveBytes += record.length;
    this.compactIfDead();
    return { ok: true, entry, evicted };
  }

  settle(boot: number, seq: number, verdict: Verdict): boolean {
    this.mustBeOpen('settle');
    if (verdict !== 'committed' && verdict !== 'refused') throw new TypeError(`Outbox.settle: verdict must be committed or refused, got ${String(verdict)}`);
    const key = keyOf(boot, seq);
    const size = this.sizes.get(key);
    if (size === undefined) return false;
    const keep = this.entries.filter((e) => e.boot !== boot || e.seq !== seq);
    const counters = this.counters;
    if (verdict === 'refused') counters.refused++;
    const record = verdictRecord(boot, seq, verdict);
    const live = this.liveBytes - size;
    let appended = false;
    if (!this.suspect && this.logBytes + record.length + live <= this.capacity) {
      try {
        this.append(record);
        appended = true;
      } catch (error) {
        if (!(error instanceof FlashFullError)) throw error;
      }
    }
    if (appended) {
      this.entries = keep;
      this.sizes.delete(key);
      this.liveBytes = live;
      this.count = counters;
      this.compactIfDead();
    } else {
      // No room for the verdict record: a snapshot without the event is the verdict.
      this.compact(keep, counters, this.bootNumber);
    }
    return true;
  }

  // ------------------------------------------------------------------ internals

  private mustBeOpen(what: string): void {
    if (!this.opened) throw new Error(`Outbox.${what}: call open() first`);
  }

  private refuseFull(message: string): AddResult {
    return { ok: false, reason: 'full', message };
  }

  private snapshotBytes(entries: readonly OutboxEntry[]): number {
    let total = SNAPSHOT_RECORD_BYTES;
    for (const e of entries) total += this.sizes.get(keyOf(e.boot, e.seq))!;
    return total;
  }

  private append(record: Uint8Array): void {
    try {
      this.flash.append(this.file, record);
    } catch (error) {
      // A power cut ends this outbox; any other failure may have left part of the record.
      this.suspect = true;
      throw error;
    }
    this.logBytes += record.length;
    this.wear.bytesWritten += record.length;
  }

  /** Writes the given live state as `.new` and renames it over the log; memory follows only then. */
  private compact(entries: OutboxEntry[], counters: OutboxCounters, boot: number): void {
    const parts: Uint8Array[] = [snapshotRecord(boot, counters, entries.length)];
    let total = parts[0].length;
    for (const e of entries) {
      const record = eventRecord(e);
      parts.push(record);
      total += record.length;
    }
    const image = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      image.set(part, at);
      at += part.length;
    }
    try {
      this.flash.write(this.tmp, image);
    } catch (error) {
      if (error instanceof FlashFullError) {
        try { this.flash.remove(this.tmp); } catch { /* nothing more to free */ }
      }
      throw error;
    }
    this.flash.rename(this.tmp, this.file);
    const sizes = new Map<string, number>();
    for (let i = 0; i < entries.length; i++) sizes.set(keyOf(entries[i].boot, entries[i].seq), parts[i + 1].length);
    this.entries = entries === this.entries ? entries : entries.slice();
    this.sizes = sizes;
    this.count = { refused: counters.refused, dropped: counters.dropped, tornRecovered: counters.tornRecovered };
    this.logBytes = total;
    this.liveBytes = total;
    this.suspect = false;
    this.wear.compactions++;
    this.wear.bytesWritten += total;
  }

  /** Sheds dead bytes once there are enough of them; a full medium only postpones it. */
  private compactIfDead(): void {
    if (this.logBytes - this.liveBytes < this.compactAt) return;
    try {
      this.compact(this.entries, this.count, this.bootNumber);
    } catch (error) {
      if (!(error instanceof FlashFullError)) throw error;
    }
  }
}

function indexOfOldestNonRating(entries: readonly OutboxEntry[]): number {
  for (let i = 0; i < entries.length; i++) if (entries[i].type !== 'rating') return i;
  return -1;
}
