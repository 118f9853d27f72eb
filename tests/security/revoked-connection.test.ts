/**
 * A device removed or re-keyed loses the MQTT connection it already has on the embedded broker,
 * not only its next login (hub/mqtt/broker.ts dropIfRevoked): real sockets, the device API
 * with the hub's supervisor token and with a technician's token. A move keeps the connection.
 */

import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';
import type { DeviceConfig } from '../../firmware/core/config.js';

let f: HubFixture | undefined;
const extra: FakeDevice[] = [];
afterEach(async () => {
  for (const d of extra.splice(0)) await d.close().catch(() => undefined);
  await f?.stop();
  f = undefined;
});

/** Resolves with the ms from now until the device's connection closes. */
function closing(d: FakeDevice): Promise<number> {
  const start = Date.now();
  return new Promise((resolve) => d.client!.once('close', () => resolve(Date.now() - start)));
}

async function canLogIn(config: DeviceConfig): Promise<boolean> {
  const d = new FakeDevice(config);
  try {
    await d.connect(f!.mqtt, { reconnectPeriod: 0, connectTimeout: 2000 });
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
  const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 2000))]);
  expect(ms).toBeLessThan(2000);
  expect(await canLogIn(d.config)).toBe(false);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'revoked' })).toBe(1);
});

test('a re-key closes the old connection; the new secret logs in and commits', async () => {
  f = await startHub();
  const d = await f.device('display', 'W1', 'disp-1');
  const closed = closing(d);
  const fresh = await f.api<DeviceConfig>('POST', '/api/devices/disp-1/rekey');
  const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 2000))]);
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
