/**
 * The contract every Db implementation keeps, and the ledger on top of it. Each adapter's test
 * file calls describeDbContract with a factory for fresh, empty databases (aedes-persistence's
 * abstract suite is the model). Every test gets a database of its own.
 */

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../../hub/db/db.js';
import { migrate } from '../../hub/db/migrate.js';
import { Ledger, rowHash, type LedgerEntry } from '../../hub/ledger/ledger.js';
import { eventMarksMigration, GroupMarks, refusalReasons } from '../../hub/ingest/event-marks.js';
import { Ingest } from '../../hub/ingest/ingest.js';

export interface DbTarget {
  /** Opens a new connection (a Db of its own) to this test's database; several may be open. */
  open(): Promise<Db>;
  /** Removes the database once every Db opened on it is closed. */
  dispose?(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function describeDbContract(name: string, fresh: () => Promise<DbTarget>): void {
  describe(`Db contract: ${name}`, () => {
    let target: DbTarget;
    let opened: Db[];
    let db: Db;
    let dir: string;

    const open = async () => {
      const d = await target.open();
      opened.push(d);
      return d;
    };

    beforeEach(async () => {
      target = await fresh();
      opened = [];
      db = await open();
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sannuo-ledger-'));
    });

    afterEach(async () => {
      for (const d of opened) await d.close();
      await target.dispose?.();
      await fs.rm(dir, { recursive: true, force: true });
    });

    describe('SQL', () => {
      test('$n placeholders bind by number, in any order and repeated; not inside literals', async () => {
        // An untyped parameter in a select list is text on PostgreSQL: portable SQL casts it.
        const row = await db.get<{ a: string; b: number; c: string; lit: string }>(
          "SELECT $2 AS a, CAST($1 AS BIGINT) AS b, $2 AS c, '$1 and $2' AS lit", [7, 'two']);
        expect(row).toEqual({ a: 'two', b: 7, c: 'two', lit: '$1 and $2' });
      });

      test('a parameter count that does not match the placeholders is an error', async () => {
        await expect(db.get('SELECT $1 AS a', [1, 2])).rejects.toThrow();
        await expect(db.get('SELECT $1 AS a, $2 AS b', [1])).rejects.toThrow();
      });

      test('types round-trip: integers beyond 2^31, Chinese text, null, booleans as 0/1', async () => {
        await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT, s TEXT, flag INTEGER, ok BOOLEAN)');
        const values: [number, number | null, string | null, boolean | null, boolean | null][] = [
          [1, 2 ** 31 + 5, '三诺：承诺、践诺、评诺', true, false],
          [2, -(2 ** 40) - 3, '好差评 😀 “引号” \'apostrophe\'', false, true],
          [3, Number.MAX_SAFE_INTEGER, '', null, null],
          [4, null, null, true, true],
        ];
        for (const v of values) await db.run('INSERT INTO t (id, n, s, flag, ok) VALUES ($1, $2, $3, $4, $5)', v);
        const rows = await db.all('SELECT id, n, s, flag, ok FROM t ORDER BY id');
        expect(rows).toEqual([
          { id: 1, n: 2 ** 31 + 5, s: '三诺：承诺、践诺、评诺', flag: 1, ok: 0 },
          { id: 2, n: -(2 ** 40) - 3, s: '好差评 😀 “引号” \'apostrophe\'', flag: 0, ok: 1 },
          { id: 3, n: Number.MAX_SAFE_INTEGER, s: '', flag: null, ok: null },
          { id: 4, n: null, s: null, flag: 1, ok: 1 },
        ]);
        // Booleans bind as 0/1 in comparisons too; aggregates come back as numbers.
        expect(await db.get('SELECT COUNT(*) AS n, SUM(n) AS total FROM t WHERE ok = $1', [true]))
          .toEqual({ n: 2, total: -(2 ** 40) - 3 });
      });

      test('a value that cannot be bound is refused with the parameter named', async () => {
        await expect(db.get('SELECT $1 AS a', [Number.NaN])).rejects.toThrow(/\$1/);
        await expect(db.get('SELECT $1 AS a, $2 AS b', [1, undefined as unknown as null])).rejects.toThrow(/\$2/);
      });

      test('run reports changes; ON CONFLICT DO NOTHING with RETURNING returns nothing for a duplicate', async () => {
        await db.exec('CREATE TABLE seen (dev TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (dev, seq)); CREATE TABLE other (x TEXT)');
        const first = await db.all('INSERT INTO seen (dev, seq) VALUES ($1, $2) ON CONFLICT (dev, seq) DO NOTHING RETURNING seq', ['pad-1', 5_000_000_000]);
        expect(first).toEqual([{ seq: 5_000_000_000 }]);
        const again = await db.all('INSERT INTO seen (dev, seq) VALUES ($1, $2) ON CONFLICT (dev, seq) DO NOTHING RETURNING seq', ['pad-1', 5_000_000_000]);
        expect(again).toEqual([]);
        expect(await db.run('INSERT INTO seen (dev, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING', ['pad-1', 5_000_000_000])).toEqual({ changes: 0 });
        expect(await db.run('INSERT INTO seen (dev, seq) VALUES ($1, $2), ($1, $3) ON CONFLICT DO NOTHING', ['pad-2', 1, 2])).toEqual({ changes: 2 });
        expect(await db.run('UPDATE seen SET seq = seq + 10 WHERE dev = $1', ['pad-2'])).toEqual({ changes: 2 });
        expect(await db.run('DELETE FROM seen WHERE dev = $1', ['nobody'])).toEqual({ changes: 0 });
        // A plain duplicate is still an error.
        await expect(db.run('INSERT INTO seen (dev, seq) VALUES ($1, $2)', ['pad-1', 5_000_000_000])).rejects.toThrow();
      });
    });

    describe('transactions', () => {
      beforeEach(async () => {
        await db.exec('CREATE TABLE items (id BIGINT PRIMARY KEY, v TEXT)');
      });
      const count = async (d: Db = db) => (await d.get<{ n: number }>('SELECT COUNT(*) AS n FROM items'))!.n;

      test('commit keeps every write; the result of the body is returned', async () => {
        const result = await db.tx(async (tx) => {
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'a']);
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [2, 'b']);
          return 'done';
        });
        expect(result).toBe('done');
        expect(await count()).toBe(2);
      });

      test('a throwing body rolls back every write and rethrows its error', async () => {
        await expect(db.tx(async (tx) => {
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'a']);
          await sleep(5);
          throw new Error('ticket A042 already rated');
        })).rejects.toThrow('ticket A042 already rated');
        expect(await count()).toBe(0);
        // A failing statement rolls back the ones before it.
        await expect(db.tx(async (tx) => {
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'a']);
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'duplicate']);
        })).rejects.toThrow();
        expect(await count()).toBe(0);
      });

      test('the outer Db used inside a tx body joins that transaction', async () => {
        await expect(db.tx(async () => {
          await db.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'via outer']);
          expect(await count()).toBe(1);
          throw new Error('roll back');
        })).rejects.toThrow('roll back');
        expect(await count()).toBe(0);
      });

      test('a write from outside an open tx is neither visible to it early nor rolled back with it', async () => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => { release = resolve; });
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => { entered = resolve; });
        const failing = db.tx(async (tx) => {
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'in tx']);
          entered();
          await gate;
          throw new Error('refused');
        });
        await inside;
        const outside = db.run('INSERT INTO items (id, v) VALUES ($1, $2)', [2, 'outside']);
        await sleep(20);
        release();
        await expect(failing).rejects.toThrow('refused');
        await outside;
        expect(await db.all('SELECT id, v FROM items ORDER BY id')).toEqual([{ id: 2, v: 'outside' }]);
      });

      test('a nested tx is a savepoint: its failure undoes only its own writes', async () => {
        await db.tx(async (tx) => {
          await tx.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'outer']);
          await expect(tx.tx(async (inner) => {
            await inner.run('INSERT INTO items (id, v) VALUES ($1, $2)', [2, 'inner']);
            throw new Error('inner fails');
          })).rejects.toThrow('inner fails');
          await tx.tx(async (inner) => {
            await inner.run('INSERT INTO items (id, v) VALUES ($1, $2)', [3, 'inner ok']);
          });
        });
        expect(await db.all('SELECT id FROM items ORDER BY id')).toEqual([{ id: 1 }, { id: 3 }]);
      });

      test('concurrent callers are serialized: no overlap, no lost update', async () => {
        await db.exec('CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)');
        await db.run('INSERT INTO counter (id, n) VALUES (1, 0)');
        let active = 0;
        let maxActive = 0;
        const order: number[] = [];
        await Promise.all(Array.from({ length: 12 }, (_, i) => db.tx(async (tx) => {
          active++;
          maxActive = Math.max(maxActive, active);
          const { n } = (await tx.get<{ n: number }>('SELECT n FROM counter WHERE id = 1'))!;
          await sleep(2); // give a second caller every chance to interleave
          await tx.run('UPDATE counter SET n = $1 WHERE id = 1', [n + 1]);
          order.push(i);
          active--;
        })));
        expect(maxActive).toBe(1);
        expect(order).toEqual(Array.from({ length: 12 }, (_, i) => i)); // first come, first served
        expect(await db.get('SELECT n FROM counter WHERE id = 1')).toEqual({ n: 12 });
      });

      test('the Db handed to a finished tx refuses further use', async () => {
        let leaked!: Db;
        await db.tx(async (tx) => { leaked = tx; });
        await expect(leaked.run('INSERT INTO items (id, v) VALUES ($1, $2)', [1, 'late'])).rejects.toThrow(/finished/);
        expect(await count()).toBe(0);
      });
    });

    describe('iterate', () => {
      beforeEach(async () => {
        await db.exec('CREATE TABLE nums (id BIGINT PRIMARY KEY, hall TEXT NOT NULL)');
        await db.tx(async (tx) => {
          for (let i = 1; i <= 25; i++) await tx.run('INSERT INTO nums (id, hall) VALUES ($1, $2)', [i, i % 5 === 0 ? 'b' : 'a']);
        });
      });

      test('yields the rows in order, in pages of the given size', async () => {
        const pages: number[][] = [];
        for await (const page of db.iterate<{ id: number }>('SELECT id FROM nums WHERE hall = $1 ORDER BY id', ['a'], 7)) {
          pages.push(page.map((r) => r.id));
        }
        expect(pages.map((p) => p.length)).toEqual([7, 7, 6]);
        expect(pages.flat()).toEqual(Array.from({ length: 25 }, (_, i) => i + 1).filter((i) => i % 5 !== 0));
      });

      test('an empty result yields no page; a bad page size is refused', async () => {
        let pages = 0;
        for await (const _ of db.iterate('SELECT id FROM nums WHERE hall = $1', ['none'], 10)) pages++;
        expect(pages).toBe(0);
        await expect((async () => { for await (const _ of db.iterate('SELECT id FROM nums', [], 0)) { /* */ } })()).rejects.toThrow(/pageSize/);
      });

      test('stopping early releases the reader; writes between pages do not disturb the walk', async () => {
        for (let round = 0; round < 15; round++) { // more rounds than a pool has connections
          for await (const page of db.iterate<{ id: number }>('SELECT id FROM nums ORDER BY id', [], 3)) {
            expect(page[0].id).toBe(1);
            break;
          }
        }
        const seen: number[] = [];
        let added = 100;
        for await (const page of db.iterate<{ id: number }>('SELECT id FROM nums ORDER BY id', [], 10)) {
          seen.push(...page.map((r) => r.id));
          await db.run('INSERT INTO nums (id, hall) VALUES ($1, $2)', [added++, 'c']);
        }
        expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1)); // one snapshot
        expect(await db.get('SELECT COUNT(*) AS n FROM nums')).toEqual({ n: 28 });
      });

      test('inside a tx it sees that transaction\'s own writes', async () => {
        await db.tx(async (tx) => {
          await tx.run('INSERT INTO nums (id, hall) VALUES ($1, $2)', [26, 'a']);
          const ids: number[] = [];
          for await (const page of tx.iterate<{ id: number }>('SELECT id FROM nums WHERE hall = $1 ORDER BY id', ['a'], 8)) ids.push(...page.map((r) => r.id));
          expect(ids).toHaveLength(21);
          expect(ids[20]).toBe(26);
        });
      });
    });

    describe('migrations', () => {
      const steps = [
        { id: 'test/001-a', sql: () => 'CREATE TABLE ma (id BIGINT PRIMARY KEY); INSERT INTO ma (id) VALUES (1)' },
        { id: 'test/002-b', sql: (d: Db['dialect']) => `CREATE TABLE mb (id BIGINT PRIMARY KEY, d TEXT); INSERT INTO mb (id, d) VALUES (1, '${d}')` },
      ];

      test('each migration runs once, in order, and is recorded', async () => {
        expect(await migrate(db, steps)).toEqual(['test/001-a', 'test/002-b']);
        expect(await migrate(db, steps)).toEqual([]);
        expect(await db.all('SELECT id FROM migrations ORDER BY id')).toEqual([{ id: 'test/001-a' }, { id: 'test/002-b' }]);
        expect(await db.get('SELECT d FROM mb')).toEqual({ d: db.dialect });
        // A later list that adds a step applies only the new one.
        expect(await migrate(db, [...steps, { id: 'test/003-c', sql: () => 'INSERT INTO ma (id) VALUES (2)' }])).toEqual(['test/003-c']);
        expect(await db.get('SELECT COUNT(*) AS n FROM ma')).toEqual({ n: 2 });
      });

      test('a failing migration names itself, leaves nothing behind, and keeps earlier ones', async () => {
        const bad = [steps[0], { id: 'test/002-bad', sql: () => 'CREATE TABLE half (id BIGINT); CREATE TABLE broken (' }];
        await expect(migrate(db, bad)).rejects.toThrow(/test\/002-bad/);
        expect(await db.all('SELECT id FROM migrations')).toEqual([{ id: 'test/001-a' }]);
        await expect(db.get('SELECT COUNT(*) AS n FROM half')).rejects.toThrow();
      });

      test('a duplicate id in the list is refused before anything runs', async () => {
        await expect(migrate(db, [steps[0], { ...steps[1], id: 'test/001-a' }])).rejects.toThrow(/appears twice/);
        await expect(db.get('SELECT COUNT(*) AS n FROM ma')).rejects.toThrow();
      });

      test('two hubs migrating the same database at once apply each step exactly once', async () => {
        const other = await open();
        const many = Array.from({ length: 6 }, (_, i) => ({
          id: `test/race-${i}`,
          // CREATE TABLE without IF NOT EXISTS fails if a step ever runs twice.
          sql: () => `CREATE TABLE race_${i} (id BIGINT PRIMARY KEY); INSERT INTO race_${i} (id) VALUES (${i})`,
        }));
        const [a, b] = await Promise.all([migrate(db, many), migrate(other, many)]);
        expect([...a, ...b].sort()).toEqual(many.map((m) => m.id).sort());
        expect(await db.get('SELECT COUNT(*) AS n FROM migrations')).toEqual({ n: 6 });
      });
    });

    describe('ingest dedupe marks', () => {
      test('the migration turns per-event rows into one row per (device, boot), gaps included', async () => {
        const [first] = Ingest.migrations;
        expect(Ingest.migrations[1]).toBe(eventMarksMigration);
        await migrate(db, [first]);
        // pad-1 boot 1: 1..5 (no gap); boot 2: 2, 3, 7, 8, 12 (gaps 1, 4-6, 9-11); pad-2 boot 1: just 4.
        const seqs: [string, number, number][] = [
          ...[1, 2, 3, 4, 5].map((q): [string, number, number] => ['pad-1', 1, q]),
          ...[12, 2, 3, 8, 7].map((q): [string, number, number] => ['pad-1', 2, q]),
          ['pad-2', 1, 4],
        ];
        for (const [dev, boot, seq] of seqs) await db.run("INSERT INTO events (dev, boot, seq, type, verdict, reason, at) VALUES ($1, $2, $3, 'state', 'committed', NULL, 1)", [dev, boot, seq]);
        expect(await migrate(db, Ingest.migrations.slice(0, 2))).toEqual(['ingest/002-event-marks']);
        expect(await db.all('SELECT dev, boot, upto, gaps FROM event_marks ORDER BY dev, boot')).toEqual([
          { dev: 'pad-1', boot: 1, upto: 5, gaps: '' },
          { dev: 'pad-1', boot: 2, upto: 12, gaps: '1-1,4-6,9-11' },
          { dev: 'pad-2', boot: 1, upto: 4, gaps: '1-3' },
        ]);
        await expect(db.get('SELECT COUNT(*) AS n FROM events')).rejects.toThrow();
        const marks = await db.tx((tx) => GroupMarks.load(tx, [['pad-1', 2], ['pad-2', 1], ['pad-3', 1]]));
        const decided = (dev: string, boot: number, upTo: number) => Array.from({ length: upTo }, (_, i) => i + 1).filter((q) => marks.decided(dev, boot, q));
        expect(decided('pad-1', 2, 14)).toEqual([2, 3, 7, 8, 12]);
        expect(decided('pad-2', 1, 6)).toEqual([4]);
        expect(decided('pad-3', 1, 3)).toEqual([]);
      });

      test('marks saved in a tx load back; a rolled-back group leaves them as they were', async () => {
        await migrate(db, Ingest.migrations);
        await db.tx(async (tx) => {
          const marks = await GroupMarks.load(tx, [['pad-1', 1]]);
          for (const q of [1, 2, 5, 3]) marks.add('pad-1', 1, q);
          await marks.save(tx);
        });
        await expect(db.tx(async (tx) => {
          const marks = await GroupMarks.load(tx, [['pad-1', 1]]);
          marks.add('pad-1', 1, 4);
          marks.add('pad-1', 1, 9);
          await marks.save(tx);
          throw new Error('commit failed');
        })).rejects.toThrow('commit failed');
        expect(await db.all('SELECT dev, boot, upto, gaps FROM event_marks')).toEqual([{ dev: 'pad-1', boot: 1, upto: 5, gaps: '4-4' }]);
        await db.run("INSERT INTO refusals (dev, boot, seq, reason, sha256, at) VALUES ('pad-1', 1, 2, 'bad-field: body.level', 'x', 1)");
        const reasons = await db.tx((tx) => refusalReasons(tx, [{ dev: 'pad-1', boot: 1, seq: 1 }, { dev: 'pad-1', boot: 1, seq: 2 }]));
        expect([...reasons.values()]).toEqual(['bad-field: body.level']);
      });
    });

    describe('ledger', () => {
      const key = new Uint8Array(32).fill(42);
      let ledger: Ledger;
      const entry = (i: number, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
        kind: i % 3 === 0 ? 'rating' : 'event', dev: `pad-${i % 4}`, boot: 3, seq: i, at: 1_700_000_000_000 + i * 1000,
        body: { type: 'rating', level: (i % 5) + 1, note: '满意 😀', n: i }, ...extra,
      });
      const fill = async (n: number, l: Ledger = ledger) => {
        await db.tx((tx) => l.append(tx, Array.from({ length: n }, (_, i) => entry(i + 1))));
      };

      beforeEach(async () => {
        ledger = new Ledger(db, { hall: 'hall-1', hubKey: key, checkpointFile: path.join(dir, 'hall-1.checkpoint.json') });
        await ledger.init();
      });

      test('appends in order, returns refs, and verifies with progress', async () => {
        const refs = await db.tx((tx) => ledger.append(tx, [entry(1), entry(2, { dev: null, boot: null, seq: null, body: null })]));
        expect(refs.map((r) => r.row)).toEqual([1, 2]);
        expect(refs[0].hash).toMatch(/^[0-9a-f]{64}$/);
        const more = await db.tx((tx) => ledger.append(tx, [entry(3)]));
        expect(more[0].row).toBe(3);
        await fill(20);
        await ledger.checkpoint();
        const progress: [number, number][] = [];
        const report = await ledger.verify({ onProgress: (rows, total) => progress.push([rows, total]), pageSize: 7 });
        expect(report).toMatchObject({ ok: true, rows: 23, firstBadRow: null, problem: null });
        expect(progress[0]).toEqual([0, 23]);
        expect(progress.at(-1)).toEqual([23, 23]);
        expect(progress.length).toBeGreaterThanOrEqual(4);
        const stored = await db.get<{ body: string; dev: string | null }>('SELECT body, dev FROM ledger WHERE hall = $1 AND "row" = 2', ['hall-1']);
        expect(stored).toEqual({ body: 'null', dev: null });
      });

      test('a rolled-back append leaves no trace and no drift', async () => {
        await fill(2);
        await expect(db.tx(async (tx) => {
          await ledger.append(tx, [entry(3), entry(4)]);
          throw new Error('queue refused');
        })).rejects.toThrow('queue refused');
        const refs = await db.tx((tx) => ledger.append(tx, [entry(5)]));
        expect(refs[0].row).toBe(3);
        await ledger.checkpoint();
        expect(await ledger.verify()).toMatchObject({ ok: true, rows: 3 });
      });

      test('halls have separate chains', async () => {
        const other = new Ledger(db, { hall: 'hall-2', hubKey: key, checkpointFile: path.join(dir, 'hall-2.checkpoint.json') });
        await other.init();
        await fill(4);
        await fill(2, other);
        await ledger.checkpoint();
        await other.checkpoint();
        expect(await ledger.verify()).toMatchObject({ ok: true, rows: 4 });
        expect(await other.verify()).toMatchObject({ ok: true, rows: 2 });
        // One hall's checkpoint does not vouch for another's chain.
        await fs.copyFile(path.join(dir, 'hall-1.checkpoint.json'), path.join(dir, 'hall-2.checkpoint.json'));
        expect((await other.verify()).problem).toMatch(/belongs to hall hall-1/);
      });

      test('concurrent appenders produce one unbroken chain', async () => {
        await Promise.all(Array.from({ length: 10 }, (_, i) => db.tx(async (tx) => {
          await ledger.append(tx, [entry(i * 2), entry(i * 2 + 1)]);
        })));
        await ledger.checkpoint();
        expect(await ledger.verify()).toMatchObject({ ok: true, rows: 20 });
      });

      test('editing any field of any row fails verify, naming that row', async () => {
        await fill(6);
        await ledger.checkpoint();
        const edits: [string, unknown][] = [
          ['body', '{"type":"rating","level":5}'], ['at', 1_700_000_000_001], ['kind', 'refusal'],
          ['dev', 'pad-9'], ['boot', 4], ['seq', 99],
        ];
        for (let row = 1; row <= 6; row++) {
          const [column, value] = edits[row - 1];
          const before = await db.get<Record<string, unknown>>(`SELECT ${column} AS v FROM ledger WHERE hall = $1 AND "row" = $2`, ['hall-1', row]);
          await db.run(`UPDATE ledger SET ${column} = $1 WHERE hall = $2 AND "row" = $3`, [value as string | number, 'hall-1', row]);
          const report = await ledger.verify();
          expect(report).toMatchObject({ ok: false, firstBadRow: row, rows: row - 1 });
          expect(report.problem).toMatch(new RegExp(`row ${row} was changed`));
          await db.run(`UPDATE ledger SET ${column} = $1 WHERE hall = $2 AND "row" = $3`, [before!.v as string | number, 'hall-1', row]);
        }
        expect(await ledger.verify()).toMatchObject({ ok: true, rows: 6 });
      });

      test('a row rewritten with a fresh hash breaks the link to the next row', async () => {
        await fill(5);
        await ledger.checkpoint();
        // A forger who recomputes row 3's hash (the formula is no secret) still breaks row 4's link.
        const r = (await db.get<Record<string, unknown>>('SELECT * FROM ledger WHERE hall = $1 AND "row" = 3', ['hall-1']))!;
        const forged = { ...r, body: '{"level":5}' } as Parameters<typeof rowHash>[0];
        await db.run('UPDATE ledger SET body = $1, hash = $2 WHERE hall = $3 AND "row" = 3', [forged.body, rowHash(forged), 'hall-1']);
        const report = await ledger.verify();
        expect(report).toMatchObject({ ok: false, firstBadRow: 4, rows: 3 });
        expect(report.problem).toMatch(/row 4: broken link/);
      });

      test('rewriting the newest row with a fresh hash is caught by the checkpoint', async () => {
        await fill(4);
        await ledger.checkpoint();
        const r = (await db.get<Record<string, unknown>>('SELECT * FROM ledger WHERE hall = $1 AND "row" = 4', ['hall-1']))!;
        const forged = { ...r, body: '{"level":5}' } as Parameters<typeof rowHash>[0];
        await db.run('UPDATE ledger SET body = $1, hash = $2 WHERE hall = $3 AND "row" = 4', [forged.body, rowHash(forged), 'hall-1']);
        const report = await ledger.verify();
        expect(report).toMatchObject({ ok: false, firstBadRow: 4 });
        expect(report.problem).toMatch(/does not match the checkpoint/);
      });

      test('deleting a middle row fails verify, naming the gap', async () => {
        await fill(8);
        await ledger.checkpoint();
        await db.run('DELETE FROM ledger WHERE hall = $1 AND "row" = 5', ['hall-1']);
        const report = await ledger.verify();
        expect(report).toMatchObject({ ok: false, firstBadRow: 5, rows: 4 });
        expect(report.problem).toMatch(/row 5 is missing/);
        await db.run('DELETE FROM ledger WHERE hall = $1 AND "row" IN (6, 7)', ['hall-1']);
        expect((await ledger.verify()).problem).toMatch(/rows 5\.\.7 are missing/);
      });

      test('deleting the newest rows fails against the checkpoint', async () => {
        await fill(10);
        await ledger.checkpoint();
        await db.run('DELETE FROM ledger WHERE hall = $1 AND "row" > 7', ['hall-1']);
        const report = await ledger.verify();
        expect(report).toMatchObject({ ok: false, firstBadRow: 8, rows: 7 });
        expect(report.problem).toMatch(/rows 8\.\.10 are missing at the end/);
        // Rows appended after the checkpoint are fine; the chain only has to reach it.
        await db.run('DELETE FROM ledger WHERE hall = $1', ['hall-1']);
        await fill(12);
        expect(await ledger.verify()).toMatchObject({ ok: true, rows: 12 });
      });

      test('a forged, edited or missing checkpoint fails verify', async () => {
        await fill(5);
        const cp = await ledger.checkpoint();
        const file = ledger.checkpointFile;
        // Rolled back to row 3 and "re-signed" by someone without the hub key.
        const forged = { format: 'sannuo-checkpoint/1', ...cp, row: 3, hash: (await db.get<{ hash: string }>('SELECT hash FROM ledger WHERE hall = $1 AND "row" = 3', ['hall-1']))!.hash };
        await fs.writeFile(file, JSON.stringify(forged));
        expect((await ledger.verify()).problem).toMatch(/invalid signature/);
        const otherKey = new Ledger(db, { hall: 'hall-1', hubKey: new Uint8Array(32).fill(1), checkpointFile: file });
        await otherKey.checkpoint();
        expect(await ledger.verify()).toMatchObject({ ok: false, firstBadRow: null });
        expect((await ledger.verify()).problem).toMatch(/invalid signature/);
        await fs.writeFile(file, 'not json');
        expect((await ledger.verify()).problem).toMatch(/not JSON/);
        await fs.rm(file);
        expect((await ledger.verify()).problem).toMatch(/missing/);
        await ledger.checkpoint();
        expect(await ledger.verify()).toMatchObject({ ok: true, rows: 5 });
      });
    });
  });
}
