/**
 * Client-id takeover on Mosquitto with the configuration the hub and tests write
 * (use_username_as_clientid): a device's credentials cannot disconnect another client, and the
 * hub's own connections (main link and intake thread) do not take each other over. /healthz
 * shows no internals without a credential.
 */

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { freePort, startMosquitto, type RunningMosquitto } from '../../support/mosquitto.js';
import { writeMosquittoFiles, NO_DEVICES } from '../../hub/mqtt/mosquitto.js';
import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';
import { hubClientId } from '../../hub/hub.js';
import { HubProcess } from '../../support/hub-process.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

const hubUser = { username: '$hub', password: randomBytes(16).toString('hex') };
let m: RunningMosquitto | undefined;
let f: HubFixture | undefined;
const devices: FakeDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
  await m?.stop();
  f = undefined;
  m = undefined;
});

async function connected(d: FakeDevice, url: string): Promise<FakeDevice> {
  await waitFor(`${d.config.id} can log in after the reload`, () => d.connect(url).then(() => true, () => false));
  devices.push(d);
  return d;
}

test('on Mosquitto another device\'s client id does not take over its session; the hub\'s links stay up', async () => {
  m = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'site1', hub: hubUser }); });
  f = await startHub({
    broker: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${m.port}`,
    'mosquitto.dir': m.filesDir, 'mosquitto.pidFile': m.pidFile, site: 'site1', 'ingest.intakeThread': 'always',
  });
  const victim = await connected(new FakeDevice(await f.provision('pad', 'W1', 'pad-victim')), m.url);
  const attacker = new FakeDevice(await f.provision('pad', 'W2', 'pad-attacker'));
  await waitFor('attacker provisioned in Mosquitto', () => mqtt.connectAsync(m!.url, { username: 'pad-attacker', password: attacker.password, reconnectPeriod: 0 }).then((c) => c.endAsync().then(() => true), () => false));
  let victimClosed = false;
  victim.client!.on('close', () => { victimClosed = true; });
  // Its own valid credentials, the victim's client id: Mosquitto uses the user name as the id.
  const intruder = await mqtt.connectAsync(m.url, { username: 'pad-attacker', password: attacker.password, clientId: 'pad-victim', reconnectPeriod: 0 });
  await new Promise((r) => setTimeout(r, 500));
  expect(victimClosed).toBe(false);
  expect(victim.client!.connected).toBe(true);
  await intruder.endAsync();
  // The victim still gets its events committed and acked; the hub's main link and intake are one each.
  await victim.send('boot', bootBody);
  await waitFor('victim acked through the hub', () => victim.unacked.size === 0, 15_000);
  expect(m.log()).not.toMatch(/\$hub\S* already connected|Client sannuo-hub\S* already connected/);
  expect((f.hub as unknown as { link: { connected(): boolean } }).link.connected()).toBe(true);
});

test('the embedded broker refuses another device\'s client id and keeps the victim', async () => {
  f = await startHub();
  const url = `mqtt://127.0.0.1:${f.hub.mqttPort}`;
  const victim = await connected(new FakeDevice(await f.provision('pad', 'W1', 'pad-victim')), url);
  const attacker = new FakeDevice(await f.provision('pad', 'W2', 'pad-attacker'));
  let victimClosed = false;
  victim.client!.on('close', () => { victimClosed = true; });
  const error = await mqtt.connectAsync(url, { username: 'pad-attacker', password: attacker.password, clientId: 'pad-victim', reconnectPeriod: 0 })
    .then((c) => { void c.endAsync(); return undefined; }, (e: Error & { code?: number }) => e);
  expect(error?.code).toBe(2); // identifier rejected
  await new Promise((r) => setTimeout(r, 300));
  expect(victimClosed).toBe(false);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'client-id-mismatch' })).toBe(1);
});

test('/healthz without a credential shows no internals; a supervisor token sees all', async () => {
  f = await startHub();
  const open = await (await f.call('GET', '/healthz', undefined, null)).json();
  expect(open).toEqual({ ok: true, state: 'running' });
  const text = JSON.stringify(open);
  const full = await f.api('GET', '/healthz');
  expect(full).toMatchObject({ ok: true, state: 'running', db: true, mqtt: true, devices: 0 });
  expect(full.checkpoint).not.toBeNull();
  expect(text).not.toContain(String(full.checkpoint.head ?? full.checkpoint.hash ?? '§'));
  // The hub's MQTT client ids are not guessable from its hall and pid.
  expect(hubClientId('h1')).toMatch(/^sannuo-hub-h1-[0-9a-f]{12}$/);
  expect(hubClientId('h1')).not.toBe(hubClientId('h1'));
});

describe('a district on Mosquitto', () => {
  jest.setTimeout(180_000);
  let pgServer: PostgresServer | undefined;
  const hubs: HubProcess[] = [];
  afterEach(async () => {
    for (const h of hubs.splice(0)) await h.stop();
    await pgServer?.stop();
  });

  test('two hubs with one broker user do not take over each other; /healthz names no hub without a credential', async () => {
    pgServer = await startPostgres();
    const db = await pgServer.createDatabase();
    m = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'none', hub: hubUser }); });
    for (const id of ['hubA', 'hubB']) {
      const hub = new HubProcess({
        data: fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-sec-')), mqttPort: await freePort(), httpPort: await freePort(),
        env: {
          SANNUO_DB: db, SANNUO_BROKER: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${m.port}`,
          SANNUO_MOSQUITTO_DIR: m.filesDir, SANNUO_MOSQUITTO_PID_FILE: m.pidFile,
          SANNUO_CLUSTER_HALLS: '*', SANNUO_CLUSTER_REGISTER: 'h1', SANNUO_CLUSTER_HUB_ID: id, SANNUO_CLUSTER_POLL_INTERVAL: '200',
        },
      });
      hubs.push(hub);
      await hub.start(60_000);
    }
    const holder = async () => {
      for (const h of hubs) if ((await h.json('/api/halls').catch(() => ({ serving: [] }))).serving.length) return h;
      return undefined;
    };
    await waitFor('h1 served', async () => (await holder()) !== undefined, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(m.log()).not.toMatch(/already connected/);
    for (const [i, h] of hubs.entries()) {
      const text = await (await fetch(`${h.http}/healthz`)).text();
      expect(JSON.parse(text)).toEqual({ ok: true, state: 'running' });
      expect(text).not.toContain(['hubA', 'hubB'][i]);
    }
    const served = (await holder())!;
    const full = await served.json('/healthz');
    expect(full).toMatchObject({ ok: true, mqtt: true, hub: served === hubs[0] ? 'hubA' : 'hubB' });
    const other = hubs.find((h) => h !== served)!;
    // The other hub's link is up too (its /healthz answers 200 only with mqtt connected).
    expect((await fetch(`${other.http}/healthz`)).status).toBe(200);
    const hall = await (await fetch(`${served.http}/halls/h1/healthz`)).text();
    expect(hall).not.toMatch(/hubA|hubB/);
  });
});
