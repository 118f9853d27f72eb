/**
 * Finding 13, second half: device secrets at rest. The devices table holds each secret sealed
 * with a key derived from the hub key (hub/devices/secrets.ts), so the database file alone
 * gives no device's credentials; the device still logs in and commits; a hub restarted with the
 * same key still works, and with another key it refuses to start, naming the device and the
 * hub key. Rows of an older hub (clear) are sealed at start, once.
 */

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqlite } from '../../hub/db/sqlite.js';
import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';
import { Hub } from '../../hub/hub.js';
import { loadSettings } from '../../hub/settings.js';
import { silentLogger } from '../../hub/log.js';
import { TEST_API_TOKEN } from '../../support/token.js';
import type { DeviceConfig } from '../../firmware/core/config.js';

let data = '';
let f: HubFixture | undefined;
const devices: FakeDevice[] = [];
beforeEach(() => { data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-secrets-')); });
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close().catch(() => undefined);
  await f?.hub.stop();
  f = undefined;
  fs.rmSync(data, { recursive: true, force: true });
});

/** The hub stopped, its data folder kept (the fixture's stop() would remove it). */
async function stopKeepingData(): Promise<void> {
  for (const d of devices.splice(0)) await d.close();
  await f!.hub.stop();
  f = undefined;
}

/** Every file of the database (the db, and a WAL or shm if left), as bytes. */
function dbBytes(): Buffer {
  return Buffer.concat(fs.readdirSync(data).filter((n) => n.startsWith('sannuo.db')).map((n) => fs.readFileSync(path.join(data, n))));
}

function expectNoSecretIn(bytes: Buffer, secretHex: string): void {
  expect(bytes.includes(Buffer.from(secretHex, 'ascii'))).toBe(false);
  expect(bytes.includes(Buffer.from(secretHex.toUpperCase(), 'ascii'))).toBe(false);
  expect(bytes.includes(Buffer.from(secretHex, 'hex'))).toBe(false); // nor its 32 raw bytes
}

async function commits(config: DeviceConfig): Promise<void> {
  const d = new FakeDevice(config);
  await d.connect(f!.mqtt, { reconnectPeriod: 0 });
  devices.push(d);
  const seq = d.seq + 1;
  await d.send('boot', bootBody);
  await waitFor(`${config.id}'s event acked`, () => d.verdict(seq) !== undefined, 10_000);
  expect(d.verdict(seq)?.verdict).toBe('committed');
}

test('the database holds no device secret, yet the device logs in and commits, also after a restart with the same hub key', async () => {
  f = await startHub({}, data);
  const config = await f.provision('pad', 'W1', 'pad-1');
  expect(config.secret).toMatch(/^[0-9a-f]{64}$/); // provisioning still answers it, once
  await commits(config);
  const rows = await f.hub.db.all<{ id: string; secret: string }>('SELECT id, secret FROM devices');
  expect(rows).toHaveLength(1);
  expect(rows[0].secret).toMatch(/^v1:[A-Za-z0-9_-]+$/);
  expect(rows[0].secret).not.toContain(config.secret);
  expectNoSecretIn(dbBytes(), config.secret); // while running: the db and its WAL
  const listed = await f.api('GET', '/api/devices/pad-1');
  expect(JSON.stringify(listed)).not.toContain(config.secret);
  await stopKeepingData();
  expectNoSecretIn(dbBytes(), config.secret);

  f = await startHub({}, data);
  await commits(config);
  await stopKeepingData();
  expectNoSecretIn(dbBytes(), config.secret);
});

test('a re-keyed secret is sealed too', async () => {
  f = await startHub({}, data);
  await f.provision('display', 'W1', 'disp-1');
  const config = await f.api<DeviceConfig>('POST', '/api/devices/disp-1/rekey');
  await commits(config);
  await stopKeepingData();
  expectNoSecretIn(dbBytes(), config.secret);
});

test('with another hub key the hub refuses to start, naming the device and the hub key', async () => {
  f = await startHub({}, data);
  await f.provision('pad', 'W1', 'pad-1');
  await stopKeepingData();
  fs.writeFileSync(path.join(data, 'hub.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const settings = loadSettings({ env: {}, overrides: { data, 'mqtt.port': 0, 'http.port': 0, 'mqtt.host': '127.0.0.1', 'http.host': '127.0.0.1', 'api.token': TEST_API_TOKEN } });
  const hub = new Hub(settings, silentLogger());
  try {
    await expect(hub.start()).rejects.toThrow(/the hub key does not match the device secrets.*device pad-1/);
  } finally {
    await hub.stop();
  }
});

test('secrets an older hub kept in clear are sealed at start, once; the device still logs in', async () => {
  f = await startHub({}, data);
  const config = await f.provision('pad', 'W1', 'pad-1');
  await stopKeepingData();
  // What a hub before sealing wrote: the secret in clear.
  const raw = await openSqlite(path.join(data, 'sannuo.db'));
  await raw.run('UPDATE devices SET secret = $1 WHERE id = $2', [config.secret, 'pad-1']);
  await raw.close();
  expect(dbBytes().includes(Buffer.from(config.secret))).toBe(true);

  f = await startHub({}, data);
  const [sealed] = await f.hub.db.all<{ secret: string }>('SELECT secret FROM devices');
  expect(sealed.secret).toMatch(/^v1:/);
  await commits(config);
  await stopKeepingData();
  expectNoSecretIn(dbBytes(), config.secret);

  f = await startHub({}, data); // again: nothing left to seal, the row is as it was
  expect(await f.hub.db.all<{ secret: string }>('SELECT secret FROM devices')).toEqual([sealed]);
  await commits(config);
});
