import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { MIN_OUTBOX_CAPACITY, Outbox, type AddResult, type OutboxEntry, type OutboxOptions } from '../../../firmware/core/outbox.js';
import { deriveSigningKey, encodeEvent, isProtocolError, type AnyDeviceEvent, type EventType, type Verdict } from '../../../firmware/core/protocol.js';
import { utf8Encode } from '../../../firmware/core/utf8.js';
import { MemoryFlash, PowerCut, type Tear } from '../../../simulator/flash.js';

const mac = (key: Uint8Array, data: Uint8Array) => hmac(sha256, key, data);
const KEY = deriveSigningKey(new Uint8Array(32).fill(7), mac);
const DEV = 'pad-0107';
const T0 = Date.UTC(2025, 0, 6, 1, 0, 0);

/** Real signed lines, as the device writes them. */
function signer(type: EventType, n = 0): (boot: number, seq: number) => string {
  return (boot, seq) => {
    const base = { v: 1, dev: DEV, boot, seq, t: T0 + seq * 1000 };
    let event: AnyDeviceEvent;
    if (type === 'rating') event = { ...base, type, body: { win: 'W07', ticket: `A${String(100 + n).padStart(3, '0')}`, req: `rq-${n}`, level: ((n % 5) + 1) as 1, reason: n % 5 < 2 ? 'slow' : null, offline: false } };
    else if (type === 'call') event = { ...base, type, body: { win: 'W07', staff: 'S0042' } };
    else if (type === 'state') event = { ...base, type, body: { bat: -1, rssi: -61, heap: 81234, up: 3600, outbox: n, refused: 0, dropped: 0 } };
    else if (type === 'pause') event = { ...base, type, body: { win: 'W07', reason: '午休' } };
    else throw new Error(`no sample for ${type}`);
    const line = encodeEvent(event, KEY, mac);
    if (isProtocolError(line)) throw new Error(line.message);
    return line;
  };
}

const key = (e: { boot: number; seq: number }) => `${e.boot}:${e.seq}`;

// ------------------------------------------------------------------ power cut at every step

/**
 * The device and the hub, as far as the outbox is concerned. The hub's verdicts are decided
 * before the device applies them, so a cut during settle() leaves a verdict the hub will give
 * again when the event is resent.
 */
class World {
  flash: MemoryFlash;
  outbox!: Outbox;
  hub = new Map<string, Verdict>();
  /** add() returned ok. */
  written = new Map<string, OutboxEntry>();
  /** add() began (sign was called) and had not returned when the power went. */
  unfinished: OutboxEntry | undefined;
  reportedEvicted = new Set<string>();
  opens: { boot: number; pending: number; tornBytes: number }[] = [];
  n = 0;

  constructor(readonly options: OutboxOptions, flash?: MemoryFlash) {
    this.flash = flash ?? new MemoryFlash({ capacity: options.capacity * 2 });
  }

  open(): void {
    this.outbox = new Outbox(this.flash, this.options);
    this.opens.push(this.outbox.open());
  }

  add(type: EventType): AddResult {
    const sign = signer(type, this.n++);
    const result = this.outbox.add(type, (boot, seq) => {
      const line = sign(boot, seq);
      this.unfinished = { boot, seq, type, line };
      return line;
    });
    this.unfinished = undefined;
    if (result.ok) {
      this.written.set(key(result.entry), result.entry);
      for (const e of result.evicted) this.reportedEvicted.add(key(e));
    }
    return result;
  }

  /** The hub decides, then the device applies it. */
  verdict(index: number, verdict: Verdict = 'committed'): void {
    const entry = this.outbox.pending()[index];
    this.hub.set(key(entry), verdict);
    expect(this.outbox.settle(entry.boot, entry.seq, verdict)).toBe(true);
  }

  /** What the uplink does after a reboot: resend, and the hub answers what it decided before. */
  replayVerdicts(): void {
    for (const e of this.outbox.pending()) {
      const verdict = this.hub.get(key(e));
      if (verdict) expect(this.outbox.settle(e.boot, e.seq, verdict)).toBe(true);
    }
  }
}

/** Opens, adds (ratings among them), settles, compacts, reopens cleanly, adds and settles again. */
function everyday(w: World): void {
  w.open();
  w.add('call');
  w.add('rating');
  w.add('rating');
  w.add('state');
  w.add('rating');
  w.verdict(0);
  w.verdict(0);
  w.verdict(0, 'refused');
  for (let i = 0; i < 4; i++) w.add('rating'); // the log passes compactAt: a compaction runs
  w.verdict(1);
  w.verdict(0);
  w.open(); // a clean restart
  w.add('call');
  w.add('rating');
  w.verdict(0, 'refused');
  w.verdict(2);
  w.add('pause');
}

/** A small outbox: adds evict old non-ratings, a rating is refused when ratings fill it. */
function crowded(w: World): void {
  w.open();
  w.add('state');
  w.add('call');
  w.add('rating');
  w.add('state');
  w.add('rating');
  w.add('rating'); // evicts the oldest non-ratings
  w.add('rating');
  const refused = w.add('rating');
  if (refused.ok) throw new Error('expected the crowded outbox to refuse a rating');
  w.verdict(0);
  w.add('rating');
  w.verdict(0, 'refused');
  w.open();
  w.add('call');
}

const EVERYDAY: OutboxOptions = { capacity: 8192, compactAt: 1200 };
const CROWDED: OutboxOptions = { capacity: MIN_OUTBOX_CAPACITY };
const TEARS: Tear[] = ['none', 'half', 'all', { bytes: 1 }, { bytes: 4 }, { bytes: 13 }];

function checkRecovered(w: World, label: string): void {
  const crash = w.flash.lastCrash;
  w.flash.reboot();
  const before = w.opens.length;
  w.open();
  const opened = w.opens[before];
  w.replayVerdicts();
  const ob = w.outbox;
  const pending = ob.pending();

  // Torn bytes: exactly a part-written append to the log, nothing else.
  const torn = crash && crash.name === (w.options.file ?? 'outbox.log') && crash.op === 'append'
    && crash.applied > 0 && crash.applied < crash.total ? crash.applied : 0;
  expect({ label, tornBytes: opened.tornBytes }).toEqual({ label, tornBytes: torn });
  expect(ob.counters.tornRecovered).toBe(torn ? 1 : 0);

  // No duplicates.
  const keys = pending.map(key);
  expect(new Set(keys).size).toBe(keys.length);
  expect(new Set(pending.map((e) => e.line)).size).toBe(pending.length);

  // Every pending event is one we wrote (or the one being written), byte for byte.
  for (const e of pending) {
    const known = w.written.get(key(e)) ?? (w.unfinished && key(w.unfinished) === key(e) ? w.unfinished : undefined);
    expect({ label, e }).toEqual({ label, e: known });
    expect(w.hub.has(key(e))).toBe(false); // replayed verdicts took it out
  }

  // Nothing that add() reported ok is lost: settled at the hub, pending, or evicted (counted).
  const pendingKeys = new Set(keys);
  const lost = [...w.written.values()].filter((e) => !w.hub.has(key(e)) && !pendingKeys.has(key(e)) && !w.reportedEvicted.has(key(e)));
  // Only an add cut short may have evicted without reporting it; those are non-ratings, counted.
  if (lost.length) expect({ label, unfinished: w.unfinished !== undefined }).toEqual({ label, unfinished: true });
  for (const e of lost) expect({ label, type: e.type }).not.toEqual({ label, type: 'rating' });
  expect(ob.counters.dropped).toBe(w.reportedEvicted.size + lost.length);

  // Seqs within each boot run 1..n without a gap.
  const byBoot = new Map<number, number[]>();
  for (const e of [...w.written.values(), ...pending]) {
    const list = byBoot.get(e.boot) ?? [];
    if (list.indexOf(e.seq) < 0) list.push(e.seq);
    byBoot.set(e.boot, list);
  }
  for (const [boot, seqs] of byBoot) {
    seqs.sort((a, b) => a - b);
    expect({ label, boot, seqs }).toEqual({ label, boot, seqs: seqs.map((_, i) => i + 1) });
    expect(opened.boot).toBeGreaterThan(boot);
  }

  // Refusals: every refused verdict the hub gave was counted once.
  const refusedAtHub = [...w.hub.values()].filter((v) => v === 'refused').length;
  expect({ label, refused: ob.counters.refused }).toEqual({ label, refused: refusedAtHub });

  // The recovered outbox works, and what it holds survives a clean restart.
  w.unfinished = undefined;
  const after = w.add('rating');
  expect(after.ok || w.options.capacity === CROWDED.capacity).toBe(true);
  const held = ob.pending().map(key);
  w.open();
  expect(w.outbox.pending().map(key)).toEqual(held);
  expect(w.outbox.counters).toEqual(ob.counters);
}

describe.each([
  ['everyday', everyday, EVERYDAY],
  ['crowded', crowded, CROWDED],
] as const)('power cut at every step: %s script', (_name, script, options) => {
  const clean = new World(options);
  script(clean);
  const total = clean.flash.stats.steps;

  test('the script runs cleanly and exercises what it should', () => {
    const ob = clean.outbox;
    const expected = [...clean.written.values()].filter((e) => !clean.hub.has(key(e)) && !clean.reportedEvicted.has(key(e)));
    expect(ob.pending()).toEqual(expected);
    expect(clean.flash.stats.renames).toBeGreaterThan(0); // compactions happened
    if (options === CROWDED) expect(clean.reportedEvicted.size).toBeGreaterThan(0);
    // eslint-disable-next-line no-console
    console.info(`${_name}: ${total} steps, ${clean.flash.stats.bytesWritten} bytes written, ${clean.flash.stats.renames} compactions`);
  });

  test.each(TEARS.map((t) => [JSON.stringify(t), t]))('tear %s', (_label, tear) => {
    let cuts = 0;
    for (let step = 1; step <= total; step++) {
      const w = new World(options);
      w.flash.armCrash(step, tear);
      try {
        script(w);
      } catch (error) {
        if (!(error instanceof PowerCut)) throw error;
        cuts++;
      }
      expect(w.flash.lastCrash?.step).toBe(step);
      checkRecovered(w, `step ${step} (${w.flash.lastCrash!.op} ${w.flash.lastCrash!.name})`);
    }
    expect(cuts).toBe(total);
  });
});

// ------------------------------------------------------------------ recovery details

function filled(options: OutboxOptions = EVERYDAY): World {
  const w = new World(options);
  w.open();
  for (const type of ['call', 'rating', 'rating', 'state'] as const) w.add(type);
  return w;
}

test('a record torn in its middle is cut, the records before it kept', () => {
  const w = filled();
  const image = w.flash.snapshot();
  const log = image['outbox.log'];
  const lastSize = utf8Encode(w.outbox.pending()[3].line).length;
  image['outbox.log'] = log.slice(0, log.length - Math.floor(lastSize / 2));
  w.flash.restore(image);
  w.open();
  const opened = w.opens[1];
  expect(opened.tornBytes).toBeGreaterThan(0);
  expect(opened.tornBytes).toBeLessThan(lastSize);
  expect(w.outbox.pending().map((e) => e.type)).toEqual(['call', 'rating', 'rating']);
  expect(w.outbox.counters.tornRecovered).toBe(1);
  // The cut is durable: the next open finds a clean log, and the count stays.
  w.open();
  expect(w.opens[2].tornBytes).toBe(0);
  expect(w.outbox.counters.tornRecovered).toBe(1);
  expect(w.outbox.pending().length).toBe(3);
});

test.each([
  ['a flipped payload byte (CRC mismatch)', (log: Uint8Array, at: number) => { log[at + 40] ^= 0x01; }],
  ['a flipped CRC byte', (log: Uint8Array, at: number, size: number) => { log[at + size - 1] ^= 0x80; }],
  ['a bad magic byte', (log: Uint8Array, at: number) => { log[at] = 0x00; }],
  ['a length pointing past the end', (log: Uint8Array, at: number) => { log[at + 3] = 0xff; }],
])('corruption is detected: %s cuts the log at that record', (_name, corrupt) => {
  const w = filled();
  const image = w.flash.snapshot();
  const log = image['outbox.log'];
  // Find the second event's record: it starts with the magic and holds its line.
  const second = w.outbox.pending()[1];
  const line = utf8Encode(second.line);
  const at = Buffer.from(log).indexOf(Buffer.from(line));
  const recordStart = at - 4 - 9 - 'rating'.length;
  expect(log[recordStart]).toBe(0xa7);
  const size = 8 + 9 + 'rating'.length + line.length;
  corrupt(log, recordStart, size);
  w.flash.restore(image);
  w.open();
  expect(w.opens[1].tornBytes).toBe(log.length - recordStart);
  expect(w.outbox.pending().map((e) => e.type)).toEqual(['call']);
  expect(w.outbox.counters.tornRecovered).toBe(1);
});

test('a leftover .new is removed when the log is whole, adopted when the log is missing', () => {
  const w = filled();
  w.outbox.settle(w.outbox.pending()[0].boot, w.outbox.pending()[0].seq, 'committed');
  // A compaction that wrote .new and was cut before its rename:
  const log = w.flash.read('outbox.log')!;
  w.flash.write('outbox.log.new', log.slice(0, 20));
  w.open();
  expect(w.flash.list()).toEqual(['outbox.log']);
  expect(w.outbox.pending().length).toBe(3);

  // A platform whose rename cannot replace: the log was removed, the complete .new remains.
  // (compactAt 1 makes open() compact, so the log is exactly a snapshot.)
  const compacting = new World({ ...EVERYDAY, compactAt: 1 }, w.flash);
  compacting.open();
  const image = w.flash.snapshot();
  w.flash.restore({ 'outbox.log.new': image['outbox.log'] });
  const adopted = new World(EVERYDAY, w.flash);
  adopted.open();
  expect(adopted.outbox.pending().map(key)).toEqual(compacting.outbox.pending().map(key));
  expect(adopted.opens[0].boot).toBe(compacting.opens[0].boot + 1);
  expect(w.flash.list()).toEqual(['outbox.log']);

  // An incomplete .new and no log: nothing to adopt, a fresh outbox (boot 1).
  w.flash.restore({ 'outbox.log.new': image['outbox.log'].slice(0, image['outbox.log'].length - 50) });
  const fresh = new World(EVERYDAY, w.flash);
  fresh.open();
  expect(fresh.opens[0]).toEqual({ boot: 1, pending: 0, tornBytes: 0 });
});

test('boot counter grows at every open and seq restarts at 1 in each boot', () => {
  const w = new World(EVERYDAY);
  for (let boot = 1; boot <= 4; boot++) {
    w.open();
    expect(w.outbox.boot).toBe(boot);
    const r = w.add('call');
    expect(r.ok && r.entry.seq).toBe(1);
    const r2 = w.add('rating');
    expect(r2.ok && [r2.entry.boot, r2.entry.seq]).toEqual([boot, 2]);
  }
  expect(w.outbox.pending().length).toBe(8);
});

test('settle: unknown (boot, seq) is false and changes nothing; refused is counted', () => {
  const w = filled();
  const ob = w.outbox;
  const used = ob.bytesUsed();
  expect(ob.settle(9, 9, 'committed')).toBe(false);
  expect(ob.bytesUsed()).toBe(used);
  const [a, b] = ob.pending();
  expect(ob.settle(a.boot, a.seq, 'refused')).toBe(true);
  expect(ob.settle(a.boot, a.seq, 'refused')).toBe(false);
  expect(ob.settle(b.boot, b.seq, 'committed')).toBe(true);
  expect(ob.counters.refused).toBe(1);
  w.open();
  expect(w.outbox.counters.refused).toBe(1);
  expect(w.outbox.pending().map((e) => e.type)).toEqual(['rating', 'state']);
});

test('misuse is named', () => {
  const flash = new MemoryFlash();
  expect(() => new Outbox(flash, { capacity: 100 })).toThrow(`expected an integer ≥ ${MIN_OUTBOX_CAPACITY}`);
  const ob = new Outbox(flash, { capacity: 8192 });
  expect(() => ob.add('call', signer('call'))).toThrow('call open() first');
  ob.open();
  expect(() => ob.open()).toThrow('already open');
  expect(() => ob.add('call', () => '')).toThrow('returned no line');
  expect(() => ob.add('call', () => 'x'.repeat(1100))).toThrow('at most 1024');
  expect(() => ob.settle(1, 1, 'maybe' as Verdict)).toThrow('committed or refused');
  expect(ob.pending().length).toBe(0);
});

// ------------------------------------------------------------------ full flash

describe('full flash', () => {
  test('evicts the oldest non-ratings, then refuses a rating with reason full; ratings survive', () => {
    const w = new World(CROWDED);
    w.open();
    const types: EventType[] = ['state', 'call', 'rating', 'pause', 'rating', 'rating', 'rating'];
    const results = types.map((t) => w.add(t));
    expect(results.every((r) => r.ok)).toBe(true);
    const evicted = results.flatMap((r) => (r.ok ? r.evicted.map((e) => e.type) : []));
    expect(evicted).toEqual(['state', 'call', 'pause']);
    expect(w.outbox.counters.dropped).toBe(3);
    expect(w.outbox.pending().every((e) => e.type === 'rating')).toBe(true);
    const ratings = w.outbox.pending().map(key);

    const refused = w.add('rating');
    expect(refused).toEqual({ ok: false, reason: 'full', message: expect.stringContaining('ratings fill') });
    const call = w.add('call');
    expect(call.ok).toBe(false);
    expect(w.outbox.pending().map(key)).toEqual(ratings);
    // The refusals consumed no seq: the next ok event follows the last written one.
    w.verdict(0);
    const next = w.add('rating');
    expect(next.ok && next.entry.seq).toBe(types.length + 1);
    // Durable: a restart finds every rating.
    w.open();
    expect(w.outbox.pending().map(key)).toEqual([...ratings.slice(1), key((next as { entry: OutboxEntry }).entry)]);
    expect(w.outbox.counters.dropped).toBe(3);
  });

  test('a medium smaller than the capacity refuses with reason full and loses nothing', () => {
    const flash = new MemoryFlash({ capacity: 1500 });
    const w = new World({ capacity: 16384 }, flash);
    w.open();
    const ok: string[] = [];
    let refusal: AddResult | undefined;
    for (let i = 0; i < 20 && !refusal; i++) {
      const r = w.add('rating');
      if (r.ok) ok.push(key(r.entry));
      else refusal = r;
    }
    expect(refusal).toEqual({ ok: false, reason: 'full', message: expect.stringContaining('flash medium full') });
    expect(ok.length).toBeGreaterThan(1);
    expect(w.outbox.pending().map(key)).toEqual(ok);
    w.open();
    expect(w.outbox.pending().map(key)).toEqual(ok);
  });

  test('a long offline day: within capacity, every rating kept until ratings alone fill it', () => {
    const w = new World({ capacity: 16384 });
    w.open();
    let max = 0;
    const ratings: string[] = [];
    let refusal: AddResult | undefined;
    for (let i = 0; i < 400 && !refusal; i++) {
      const type = i % 3 === 0 ? 'call' : 'rating';
      const r = w.add(type);
      if (!r.ok) refusal = r;
      else if (type === 'rating') ratings.push(key(r.entry));
      max = Math.max(max, w.flash.used());
    }
    expect(refusal?.ok).toBe(false);
    expect(max).toBeLessThanOrEqual(16384);
    const held = w.outbox.pending();
    expect(held.filter((e) => e.type === 'rating').map(key)).toEqual(ratings);
    // Half the capacity is live data at most (the other half is room to compact).
    expect(ratings.length).toBeGreaterThan(16384 / 2 / 300);
    expect(w.outbox.counters.dropped).toBe(w.reportedEvicted.size);
    expect(w.reportedEvicted.size).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------ wear

test('flash cost of a rating, and steps per operation', () => {
  const w = new World({ capacity: 65536 });
  w.open();
  const steps0 = w.flash.stats.steps;
  const bytes0 = w.flash.stats.bytesWritten;
  const r = w.add('rating');
  expect(r.ok).toBe(true);
  const addSteps = w.flash.stats.steps - steps0;
  const addBytes = w.flash.stats.bytesWritten - bytes0;
  w.verdict(0);
  const settleBytes = w.flash.stats.bytesWritten - bytes0 - addBytes;
  const line = utf8Encode((r as { entry: OutboxEntry }).entry.line).length;
  expect(addSteps).toBe(1);
  expect(addBytes).toBe(line + 8 + 9 + 'rating'.length);
  expect(settleBytes).toBe(17);

  // A day of 300 rated services, each acked: the log is compacted now and then, cheaply.
  const before = { ...w.flash.stats };
  for (let i = 0; i < 300; i++) {
    w.add('rating');
    w.verdict(0);
  }
  const perRating = (w.flash.stats.bytesWritten - before.bytesWritten) / 300;
  const stepsPerRating = (w.flash.stats.steps - before.steps) / 300;
  // eslint-disable-next-line no-console
  console.info(`rating line ${line} B; add ${addBytes} B in ${addSteps} step; verdict ${settleBytes} B; `
    + `with compaction ${perRating.toFixed(1)} B and ${stepsPerRating.toFixed(3)} steps per rated service`);
  expect(perRating).toBeLessThan(addBytes + settleBytes + 10);
  expect(w.flash.stats.renames - before.renames).toBeGreaterThan(0);
});

test('boot compacts a log holding more dead records than live ones, long before compactAt', () => {
  // compactAt far away: only the record count can trigger the compaction at boot.
  const w = new World({ capacity: 64 * 1024, compactAt: 60 * 1024 });
  w.open();
  for (let i = 0; i < 6; i++) w.add('rating');
  for (let i = 0; i < 5; i++) w.verdict(0); // 5 settled + 5 verdicts + boot: 11 dead, 2 live
  const pendingBefore = w.outbox.pending().map(key);
  const logBefore = w.outbox.bytesUsed();
  const renames = w.flash.stats.renames;
  w.open();
  expect(w.flash.stats.renames).toBe(renames + 1); // one compaction, at open
  expect(w.outbox.pending().map(key)).toEqual(pendingBefore);
  expect(w.outbox.bytesUsed()).toBeLessThan(logBefore / 4);
  // The compacted log holds a snapshot and the one live event: 1 dead (none), 2 live. Opening
  // again adds a BOOT record (1 dead ≤ 2 live): no rewrite.
  w.open();
  expect(w.flash.stats.renames).toBe(renames + 1);
  // Live records outnumber dead ones: a boot appends its BOOT record and rewrites nothing.
  for (let i = 0; i < 4; i++) w.add('rating');
  w.verdict(0);
  const renames2 = w.flash.stats.renames;
  w.open();
  expect(w.flash.stats.renames).toBe(renames2);
  expect(w.outbox.pending().length).toBe(4);
});
