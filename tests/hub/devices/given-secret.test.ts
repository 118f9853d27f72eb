/**
 * Issue 16, defect 8: a technician building a lin device by hand provisions it with the secret
 * its manifest carries; the hub's default site is the manifest's, so that device's topics are
 * the hub's.
 */

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startHub, type HubFixture } from '../../../support/hub.js';
import { FakeDevice } from '../../../support/device.js';
import { loadSettings } from '../../../hub/settings.js';
import { ROOT } from '../../../cli/common.js';

let f: HubFixture;
let technician: string;

beforeAll(async () => {
  f = await startHub();
  technician = (await f.api('POST', '/api/tokens', { name: 'bench-tech', role: 'technician' })).token;
});
afterAll(() => f?.stop());

const deviceRows = async () => (await f.hub.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'device' ORDER BY "row"`)).map((r) => JSON.parse(r.body));

test('a technician provisions a device with its given secret: the device logs in with it, the ledger says so and never holds it', async () => {
  const secret = randomBytes(32).toString('hex');
  const res = await f.call('POST', '/api/devices', { role: 'pad', win: 'W7', id: 'sim-pad-7', secret }, technician);
  expect(res.status).toBe(201);
  const config = await res.json();
  expect(config).toMatchObject({ id: 'sim-pad-7', secret, site: 'site1' });
  const d = new FakeDevice(config);
  await d.connect(f.mqtt);
  try {
    await d.send('boot', { fw: '0.1.0', reason: 'power-on' });
    for (let i = 0; i < 100 && !d.verdict(1); i++) await new Promise((r) => setTimeout(r, 20));
    expect(d.verdict(1)).toMatchObject({ verdict: 'committed' });
  } finally {
    await d.close();
  }
  const row = (await deviceRows()).find((b) => b.dev === 'sim-pad-7');
  expect(row).toMatchObject({ action: 'provision', givenSecret: true, byRole: 'technician', byName: 'API token: bench-tech' });
  const ledgerText = (await f.hub.db.all<{ body: string }>('SELECT body FROM ledger')).map((r) => r.body).join('\n');
  expect(ledgerText).not.toContain(secret);
});

test('a given secret is refused from anyone but a technician, and when it is not 64 lowercase hex digits; nothing is provisioned', async () => {
  const before = (await f.api('GET', '/api/devices')).devices.length;
  const supervisor = await f.call('POST', '/api/devices', { role: 'pad', win: 'W8', id: 'pad-by-sup', secret: randomBytes(32).toString('hex') });
  expect(supervisor.status).toBe(403);
  expect(await supervisor.json()).toMatchObject({ error: 'forbidden', field: 'body.secret' });
  for (const secret of ['ab'.repeat(31) + 'a', 'AB'.repeat(32), 'zz'.repeat(32), 42, '']) {
    const res = await f.call('POST', '/api/devices', { role: 'pad', win: 'W9', id: 'pad-bad-secret', secret }, technician);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'bad-request', field: 'body.secret', message: 'provision: secret: expected 64 lowercase hex digits (32 bytes)' });
  }
  expect((await f.api('GET', '/api/devices')).devices.length).toBe(before);
});

test("the hub's default site is the manifest's, for the esp32 and the lin build alike", () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifest.json'), 'utf8'));
  const site = loadSettings({ env: {}, overrides: {} }).site;
  expect(manifest.config.sannuo.site).toBe(site);
  expect(manifest.platforms.lin.config.sannuo.site ?? manifest.config.sannuo.site).toBe(site);
});
