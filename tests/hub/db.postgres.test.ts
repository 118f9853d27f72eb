import { existsSync } from 'node:fs';
import { openPostgres } from '../../hub/db/postgres.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import { describeDbContract } from './db.contract.js';

// One real PostgreSQL 15 cluster for this file, a fresh database for every test.
let server: PostgresServer;
beforeAll(async () => { server = await startPostgres(); });
afterAll(async () => { await server?.stop(); });

describeDbContract('PostgreSQL', async () => {
  const url = await server.createDatabase();
  return { open: () => openPostgres(url) };
});

describe('PostgreSQL adapter specifics', () => {
  test('an unreachable server is a clear error naming the address, with the password hidden', async () => {
    await expect(openPostgres('postgres://hub:secret@127.0.0.1:1/nowhere')).rejects.toThrow(/cannot connect to PostgreSQL at postgres:\/\/hub:\*\*\*@127\.0\.0\.1:1\/nowhere/);
  });

  test('a BIGINT beyond 2^53 is an error, not a silently rounded number', async () => {
    const db = await openPostgres(await server.createDatabase());
    try {
      await expect(db.get('SELECT 9007199254740993::bigint AS n')).rejects.toThrow(/beyond 2\^53/);
      expect(await db.get('SELECT 9007199254740991::bigint AS n')).toEqual({ n: 9007199254740991 });
    } finally {
      await db.close();
    }
  });

  test('pg errors keep their code and name the statement', async () => {
    const db = await openPostgres(await server.createDatabase());
    try {
      await db.exec('CREATE TABLE u (id BIGINT PRIMARY KEY)');
      await db.run('INSERT INTO u (id) VALUES ($1)', [1]);
      const error = await db.run('INSERT INTO u (id) VALUES ($1)', [1]).catch((e: unknown) => e as Error & { code?: string });
      expect(error).toMatchObject({ code: '23505' });
      expect((error as Error).message).toMatch(/INSERT INTO u/);
    } finally {
      await db.close();
    }
  });

  test('stop() shuts the server down and removes its directory', async () => {
    const extra = await startPostgres();
    const db = await openPostgres(await extra.createDatabase());
    await db.close();
    await extra.stop();
    expect(existsSync(extra.dir)).toBe(false);
    await expect(openPostgres(extra.url)).rejects.toThrow(/cannot connect/);
  });
});
