/**
 * Ledger specifics beyond the shared Db contract: the hash format is stable, bad entries are
 * refused before anything is written, the checkpoint file is written atomically and privately.
 * Runs on a real SQLite file.
 */

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../../../hub/db/db.js';
import { openSqlite } from '../../../hub/db/sqlite.js';
import { GENESIS, Ledger, rowHash, type LedgerEntry } from '../../../hub/ledger/ledger.js';

const key = new Uint8Array(32).fill(5);
let dir: string;
let db: Db;
let ledger: Ledger;

const good: LedgerEntry = { kind: 'event', dev: 'pad-1', boot: 2, seq: 9, at: 1_700_000_000_000, body: { type: 'rating', level: 5 } };

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sannuo-ledger-'));
  db = await openSqlite(path.join(dir, 'hub.db'));
  ledger = new Ledger(db, { hall: 'hall-1', hubKey: key, checkpointFile: path.join(dir, 'checkpoint.json'), now: () => 1_700_000_123_000 });
  await ledger.init();
});

afterEach(async () => {
  await db.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test('the row hash is SHA-256 over the documented canonical encoding', async () => {
  const [ref] = await db.tx((tx) => ledger.append(tx, [good]));
  // Recomputed here from the format's definition, independently of the module's helper.
  const canonical = JSON.stringify(['sannuo-ledger/1', 'hall-1', 1, 1_700_000_000_000, 'event', 'pad-1', 2, 9, '{"type":"rating","level":5}', GENESIS]);
  expect(ref).toEqual({ row: 1, hash: createHash('sha256').update(canonical, 'utf8').digest('hex') });
  const stored = await db.get<Parameters<typeof rowHash>[0]>('SELECT * FROM ledger WHERE "row" = 1');
  expect(rowHash(stored!)).toBe(ref.hash);
});

test('a bad entry is refused with its index and field named, and nothing is written', async () => {
  const cases: [unknown, RegExp][] = [
    [{ ...good, kind: '' }, /entries\[1\]: kind/],
    [{ ...good, at: 1.5 }, /entries\[1\]: at/],
    [{ ...good, seq: '9' }, /entries\[1\]: seq must be an integer/],
    [{ ...good, boot: 2 ** 60 }, /entries\[1\]: boot must be an integer/],
    [{ ...good, dev: 7 }, /entries\[1\]: dev/],
    [{ ...good, body: undefined }, /entries\[1\]: body is missing/],
    [{ ...good, body: { n: BigInt(1) } }, /entries\[1\]: body is not JSON-serializable/],
    [null, /entries\[1\] is not an object/],
  ];
  for (const [bad, message] of cases) {
    await expect(db.tx((tx) => ledger.append(tx, [good, bad as LedgerEntry]))).rejects.toThrow(message);
  }
  expect(await db.get('SELECT COUNT(*) AS n FROM ledger')).toEqual({ n: 0 });
  expect(await db.tx((tx) => ledger.append(tx, []))).toEqual([]);
});

test('the checkpoint is signed, private, and replaced atomically', async () => {
  await db.tx((tx) => ledger.append(tx, [good, { ...good, seq: 10 }]));
  const cp = await ledger.checkpoint();
  expect(cp).toMatchObject({ hall: 'hall-1', row: 2, at: 1_700_000_123_000 });
  const file = path.join(dir, 'checkpoint.json');
  const stat = await fs.stat(file);
  expect(stat.mode & 0o777).toBe(0o600);
  expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual({ format: 'sannuo-checkpoint/1', ...cp });
  await db.tx((tx) => ledger.append(tx, [{ ...good, seq: 11 }]));
  const next = await ledger.checkpoint();
  expect(next.row).toBe(3);
  expect(await fs.readdir(dir)).not.toContainEqual(expect.stringMatching(/\.tmp$/)); // no leftovers
  expect(await ledger.readCheckpoint()).toEqual(next);
});

test('an empty chain verifies without a checkpoint; a written one needs it', async () => {
  expect(await ledger.verify()).toMatchObject({ ok: true, rows: 0 });
  await db.tx((tx) => ledger.append(tx, [good]));
  expect(await ledger.verify()).toMatchObject({ ok: false, problem: expect.stringMatching(/checkpoint file .* is missing/) });
});

test('verify walks a large chain in pages with steady progress', async () => {
  const n = 12_345;
  await db.tx((tx) => ledger.append(tx, Array.from({ length: n }, (_, i) => ({ ...good, seq: i }))));
  await ledger.checkpoint();
  const seen: number[] = [];
  const report = await ledger.verify({ onProgress: (rows) => seen.push(rows), pageSize: 1000 });
  expect(report).toMatchObject({ ok: true, rows: n });
  expect(seen).toEqual([0, ...Array.from({ length: 12 }, (_, i) => (i + 1) * 1000), n]);
});

test('the hub key is required to be real key material', () => {
  expect(() => new Ledger(db, { hall: 'h', hubKey: new Uint8Array(4), checkpointFile: 'x' })).toThrow(/hubKey/);
  expect(() => new Ledger(db, { hall: '', hubKey: key, checkpointFile: 'x' })).toThrow(/hall/);
});
