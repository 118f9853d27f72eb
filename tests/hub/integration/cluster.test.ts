/**
 * Hall leases on a real PostgreSQL 15: a race of many hubs for one lease has one winner; a
 * lease is taken over only after it expired, with a higher epoch; a hub that lost its lease
 * cannot commit (the fence), and a takeover waits for a commit already under way; each hall's
 * tables live in its own schema.
 */

import { startPostgres, type PostgresServer } from '../../../support/postgres.js';
import { openPostgres } from '../../../hub/db/postgres.js';
import type { Db } from '../../../hub/db/db.js';
import { LeaseStore, LeaseLostError, fencedDb, hallDbUrl, LeaseMetrics } from '../../../hub/district/lease.js';
import { Registry as PromRegistry } from 'prom-client';
import { loadSettings } from '../../../hub/settings.js';

jest.setTimeout(120_000);

let server: PostgresServer;
let url: string;
const open: Db[] = [];

async function db(u = url): Promise<Db> {
  const d = await openPostgres(u);
  open.push(d);
  return d;
}

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase();
});
afterAll(async () => {
  for (const d of open) await d.close().catch(() => undefined);
  await server?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a race of eight hubs for one hall: one winner, epoch 1; renewals keep it; others get it only after expiry', async () => {
  const stores: LeaseStore[] = [];
  for (let i = 0; i < 8; i++) stores.push(new LeaseStore(await db(), `hub-${i}`, 1500));
  await Promise.all(stores.map((s) => s.init()));
  await Promise.all(stores.map((s) => s.register(['race-1'])));
  const results = await Promise.all(stores.map((s) => s.take('race-1')));
  const winners = results.flatMap((r, i) => (r ? [{ i, ...r }] : []));
  expect(winners).toHaveLength(1);
  expect(winners[0]).toMatchObject({ hall: 'race-1', epoch: 1, previous: null });
  const winner = stores[winners[0].i];
  const lease = results[winners[0].i]!;

  // While renewed, nobody else gets it.
  for (let round = 0; round < 3; round++) {
    await sleep(500);
    expect(await winner.renew(lease)).toBe(true);
    expect((await Promise.all(stores.filter((s) => s !== winner).map((s) => s.take('race-1')))).every((r) => r === undefined)).toBe(true);
  }
  // Not renewed: after expiry one of the others takes it over, with the next epoch.
  await sleep(1800);
  const second = await Promise.all(stores.filter((s) => s !== winner).map((s) => s.take('race-1')));
  const taken = second.filter((r) => r !== undefined);
  expect(taken).toHaveLength(1);
  expect(taken[0]).toMatchObject({ epoch: 2, previous: winner.hubId });
  // The old holder's renewal is refused: the epoch moved on.
  expect(await winner.renew(lease)).toBe(false);
  expect((await winner.holderOf('race-1'))).toMatchObject({ epoch: 2, expired: false });
});

test('fencing: a hub that lost the lease commits nothing; a takeover waits for a commit under way', async () => {
  const metricsA = new LeaseMetrics(new PromRegistry());
  const a = new LeaseStore(await db(), 'hub-a', 1000, metricsA);
  const b = new LeaseStore(await db(), 'hub-b', 1000);
  await a.init();
  await a.register(['fence-1']);
  const leaseA = (await a.take('fence-1'))!;
  // The session timeout (second argument) is longer than this test's slow transaction.
  const hallA = fencedDb(await db(hallDbUrl(url, 'fence-1', 10_000)), (tx) => a.fence(tx, leaseA));
  await hallA.exec('CREATE TABLE chain (n BIGINT PRIMARY KEY, by TEXT NOT NULL)');
  await hallA.tx(async (tx) => { await tx.run('INSERT INTO chain (n, by) VALUES (1, $1)', ['a']); });

  // A commit under way holds the lease row: b's takeover (lease expired meanwhile) waits for it.
  let committedAt = 0;
  const slow = hallA.tx(async (tx) => {
    await tx.run('INSERT INTO chain (n, by) VALUES (2, $1)', ['a']);
    await sleep(1500); // the lease expires while this transaction is open
    committedAt = performance.now();
  });
  await sleep(1200);
  const leaseB = await b.take('fence-1');
  const takenAt = performance.now();
  await slow;
  expect(leaseB).toMatchObject({ epoch: 2, previous: 'hub-a' });
  expect(takenAt).toBeGreaterThanOrEqual(committedAt);

  // Now a's transactions are refused, and leave nothing behind.
  await expect(hallA.tx(async (tx) => { await tx.run('INSERT INTO chain (n, by) VALUES (3, $1)', ['a']); })).rejects.toBeInstanceOf(LeaseLostError);
  expect(await metricsA.fenced.get().then((m) => m.values[0]?.value)).toBe(1);
  const hallB = fencedDb(await db(hallDbUrl(url, 'fence-1', 1000)), (tx) => b.fence(tx, leaseB!));
  await hallB.tx(async (tx) => { await tx.run('INSERT INTO chain (n, by) VALUES (3, $1)', ['b']); });
  expect(await hallB.all('SELECT n, by FROM chain ORDER BY n')).toEqual([{ n: 1, by: 'a' }, { n: 2, by: 'a' }, { n: 3, by: 'b' }]);
  // Released in good order, the hall is free at once and the next take counts up.
  expect(await b.release(leaseB!)).toBe(true);
  expect(await a.take('fence-1')).toMatchObject({ epoch: 3, previous: null });
});

test('a hub paused inside a transaction: the server ends its session after a lease time, the takeover proceeds, the paused commit fails', async () => {
  const a = new LeaseStore(await db(), 'hub-p', 800);
  const b = new LeaseStore(await db(), 'hub-q', 800);
  await a.init();
  await a.register(['pause-1']);
  const leaseA = (await a.take('pause-1'))!;
  const hallA = fencedDb(await db(hallDbUrl(url, 'pause-1', 800)), (tx) => a.fence(tx, leaseA));
  await hallA.exec('CREATE TABLE chain (n BIGINT PRIMARY KEY)');
  const paused = hallA.tx(async (tx) => {
    await tx.run('INSERT INTO chain (n) VALUES (1)');
    await sleep(2500); // "paused" with the lease row locked FOR SHARE
  });
  const outcome = paused.then(() => 'committed', (error: Error) => error.message);
  await sleep(1000);
  let leaseB;
  for (let i = 0; i < 20 && !leaseB; i++) {
    leaseB = await b.take('pause-1').catch(() => undefined); // lock_timeout while the session lives
    if (!leaseB) await sleep(200);
  }
  expect(leaseB).toMatchObject({ epoch: 2, previous: 'hub-p' });
  expect(await outcome).not.toBe('committed');
  const hallB = await db(hallDbUrl(url, 'pause-1', 800));
  expect(await hallB.all('SELECT n FROM chain')).toEqual([]);
});

test('each hall has its own schema (ids with capitals and hyphens too); an unregistered hall cannot be taken', async () => {
  const s = new LeaseStore(await db(), 'hub-s', 5000);
  await s.init();
  await s.register(['Hall-A', 'hall_b']);
  const a = await db(hallDbUrl(url, 'Hall-A', 5000));
  const b = await db(hallDbUrl(url, 'hall_b', 5000));
  await a.exec('CREATE TABLE devices (id TEXT PRIMARY KEY)');
  await b.exec('CREATE TABLE devices (id TEXT PRIMARY KEY)');
  await a.run('INSERT INTO devices (id) VALUES ($1)', ['pad-a']);
  expect(await b.all('SELECT id FROM devices')).toEqual([]);
  expect(await a.all('SELECT id FROM "hall_Hall-A".devices')).toEqual([{ id: 'pad-a' }]);
  await expect(s.take('nowhere')).rejects.toThrow('hall nowhere is not registered in the district');
});

test('district settings: halls from the environment; a district without PostgreSQL or an external broker is refused by name', async () => {
  const s = loadSettings({ env: { SANNUO_CLUSTER_HALLS: 'hz-01, hz-02', SANNUO_DB: 'postgres://u@db/sannuo', SANNUO_BROKER: 'mqtt://h:p@broker:1883' } });
  expect(s.cluster).toMatchObject({ halls: ['hz-01', 'hz-02'], leaseTtl: 15, renewInterval: 5 });
  expect(() => loadSettings({ env: { SANNUO_CLUSTER_HALLS: '*' } })).toThrow(/cluster\.halls: a district needs db to be a postgres:\/\/ URL .*\(from SANNUO_CLUSTER_HALLS\)/);
  expect(() => loadSettings({ env: { SANNUO_CLUSTER_HALLS: '*', SANNUO_DB: 'postgres://u@db/x' } })).toThrow(/cluster\.halls: a district needs broker to be the mqtt:\/\/ URL/);
  expect(() => loadSettings({ env: { SANNUO_CLUSTER_HALLS: 'bad hall' } })).toThrow(/cluster\.halls\.0|cluster\.halls/);
  expect(() => loadSettings({ env: { SANNUO_CLUSTER_HALLS: '*', SANNUO_DB: 'postgres://u@db/x', SANNUO_BROKER: 'mqtt://b', SANNUO_CLUSTER_RENEW_INTERVAL: '10' } }))
    .toThrow(/cluster\.renewInterval: must be at most half of cluster\.leaseTtl/);
});
