/**
 * A device removed or re-keyed loses the MQTT connection it already has on the embedded broker,
 * not only its next login (hub/mqtt/broker.ts dropIfRevoked): real sockets, the device API
 * with the hub's supervisor token and with a technician's token. A move keeps the connection.
 * On Mosquitto 2 the hub rewrites the password file and signals a reload, and Mosquitto itself
 * disconnects the clients whose user is gone or whose password changed (checked here: it held
 * before this fix too; it is what SECURITY.md relies on).
 */

import { randomBytes } from 'node:crypto';
import { startMosquitto, type RunningMosquitto } from '../../support/mosquitto.js';
import { writeMosquittoFiles, NO_DEVICES } from '../../hub/mqtt/mosquitto.js';

import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';
import type { DeviceConfig } from '../../firmware/core/config.js';

let f: HubFixture | undefined;
let m: RunningMosquitto | undefined;
const extra: FakeDevice[] = [];
afterEach(async () => {
  for (const d of extra.splice(0)) await d.close().catch(() => undefined);
  await f?.stop();
  await m?.stop();
  f = undefined;
  m = undefined;
});

/** The ms until `closed` resolves, or Infinity after `limit` ms. */
function within(closed: Promise<number>, limit: number): Promise<number> {
  return Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), limit))]);
}

/** Resolves with the ms from now until the device's connection closes. */
function closing(d: FakeDevice): Promise<number> {
  const start = Date.now();
  return new Promise((resolve) => d.client!.once('close', () => resolve(Date.now() - start)));
}

async function canLogIn(config: DeviceConfig, url = f!.mqtt): Promise<boolean> {
  const d = new FakeDevice(config);
  try {
    await d.connect(url, { reconnectPeriod: 0, connectTimeout: 2000 });
    extra.push(d);
    return true;
  } catch {
    return false;
  }
}

async function technicianToken(): Promise<string> {
  const made = await f!.api<{ token: string }>('POST', '/api/tokens', { name: 'bench', role: 'technician' });
  return made.token;
}

test('DELETE /api/devices/:id closes the device\'s connection within 2 s, and it cannot log in again', async () => {
  f = await startHub();
  const d = await f.device('pad', 'W1', 'pad-1');
  await d.send('boot', bootBody);
  await waitFor('boot acked', () => d.unacked.size === 0);
  const closed = closing(d);
  await f.api('DELETE', '/api/devices/pad-1', undefined, await technicianToken());
  const ms = await within(closed, 2000);
  expect(ms).toBeLessThan(2000);
  expect(await canLogIn(d.config)).toBe(false);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'revoked' })).toBe(1);
});

test('a re-key closes the old connection; the new secret logs in and commits', async () => {
  f = await startHub();
  const d = await f.device('display', 'W1', 'disp-1');
  const closed = closing(d);
  const fresh = await f.api<DeviceConfig>('POST', '/api/devices/disp-1/rekey');
  const ms = await within(closed, 2000);
  expect(ms).toBeLessThan(2000);
  expect(await canLogIn(d.config)).toBe(false);
  const n = new FakeDevice(fresh);
  await n.connect(f.mqtt, { reconnectPeriod: 0 });
  extra.push(n);
  await n.send('boot', bootBody);
  await waitFor('the re-keyed device\'s event acked', () => n.unacked.size === 0);
  expect(n.verdict(1)?.verdict).toBe('committed');
});

test('a move, or another device\'s change, keeps the connection', async () => {
  f = await startHub();
  const d = await f.device('pad', 'W1', 'pad-1');
  let closed = false;
  d.client!.on('close', () => { closed = true; });
  await f.api('POST', '/api/devices/pad-1/move', { win: 'W2' });
  await f.provision('pad', 'W3', 'pad-3');
  await f.api('DELETE', '/api/devices/pad-3');
  await new Promise((r) => setTimeout(r, 500));
  expect(closed).toBe(false);
  expect(d.client!.connected).toBe(true);
});

test('on Mosquitto 2 the reload after a removal or a re-key disconnects that device, and only it', async () => {
  const hubUser = { username: '$hub', password: randomBytes(16).toString('hex') };
  m = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'site1', hub: hubUser }); });
  f = await startHub({
    broker: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${m.port}`,
    'mosquitto.dir': m.filesDir, 'mosquitto.pidFile': m.pidFile, site: 'site1',
  });
  const connect = async (win: string, id: string) => {
    const d = new FakeDevice(await f!.provision('pad', win, id));
    await waitFor(`${id} can log in after the reload`, () => d.connect(m!.url, { reconnectPeriod: 0 }).then(() => true, () => false));
    extra.push(d);
    return d;
  };
  const [removed, rekeyed, kept] = [await connect('W1', 'pad-1'), await connect('W2', 'pad-2'), await connect('W3', 'pad-3')];
  let keptClosed = false;
  kept.client!.on('close', () => { keptClosed = true; });
  const removedClosed = closing(removed);
  await f.api('DELETE', '/api/devices/pad-1');
  expect(await within(removedClosed, 3000)).toBeLessThan(3000);
  const rekeyedClosed = closing(rekeyed);
  await f.api('POST', '/api/devices/pad-2/rekey');
  expect(await within(rekeyedClosed, 3000)).toBeLessThan(3000);
  expect(await canLogIn(removed.config, m.url)).toBe(false);
  expect(await canLogIn(rekeyed.config, m.url)).toBe(false);
  expect(keptClosed).toBe(false);
  expect(m.log()).toMatch(/Client pad-1 disconnected/);
});
