/**
 * The hub's mDNS announcement, browsed for real: a separate mDNS socket on this machine asks
 * for _sannuo._tcp.local, and the firmware core's own matching (firmware/core/discovery.ts)
 * turns the answers into the broker address a device would connect to.
 */

import { randomBytes } from 'node:crypto';
import { Bonjour } from 'bonjour-service';
import { startHub, type HubFixture } from '../../support/hub.js';
import { HUB_SERVICE, matchHub, resolveBroker, type HubFinder, type HubInstance } from '../../firmware/core/discovery.js';

jest.setTimeout(30_000);

/** Browses the LAN for `ms` (a second mDNS socket, bonjour-service's browser): every instance of the hub's service type, as Moddable's MDNS reports one. */
async function browse(ms: number): Promise<HubInstance[]> {
  const bonjour = new Bonjour(undefined, () => undefined);
  const instances: HubInstance[] = [];
  const browser = bonjour.find({ type: HUB_SERVICE.name, protocol: HUB_SERVICE.protocol }, (s) => {
    const address = (s.addresses ?? []).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
    if (!address || instances.some((i) => i.name === s.name)) return;
    instances.push({ name: s.name, address, port: s.port, target: s.host, txt: Object.entries((s.txt ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`) });
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  browser.stop();
  bonjour.destroy();
  (bonjour as unknown as { server: { mdns: { destroy(): void } } }).server.mdns.destroy();
  return instances;
}

const name = `sannuo-hub-${randomBytes(3).toString('hex')}`;
let hub: HubFixture;

beforeAll(async () => {
  hub = await startHub({ 'discovery.mdns': true, 'discovery.name': name, 'mqtt.advertisedHost': `${name}.local` });
});
afterAll(() => hub?.stop());

test('the hub answers a DNS-SD browse with its host, site and ports; the firmware core picks its broker from the answer', async () => {
  const found = (await browse(2_000)).filter((i) => i.name === name);
  expect(found).toHaveLength(1);
  const [instance] = found;
  expect(instance.target).toBe(`${name}.local`);
  expect(instance.port).toBe(hub.hub.mqttPort);
  expect(instance.txt).toEqual(expect.arrayContaining(['v=1', 'site=site1', `mqtt=${hub.hub.mqttPort}`, `http=${hub.hub.httpPort}`]));
  const config = await hub.provision('pad', 'W1', 'pad-mdns');
  expect(config.broker.host).toBe(`${name}.local`);
  const address = matchHub(instance, config.broker, config.site);
  expect(address).toEqual({ host: instance.address, port: hub.hub.mqttPort, http: hub.hub.httpPort });
  // Another site's device does not take this hub.
  expect(matchHub(instance, config.broker, 'other-site')).toBeNull();
  // resolveBroker: a fixed host needs no finder; a .local one takes the finder's first match.
  const seen: string[] = [];
  resolveBroker({ host: '10.0.0.5', port: 1883, tls: false }, 'site1', undefined, (a) => seen.push(`${a.host}:${a.port}`));
  const finder: HubFinder = { start: (foundOne) => { foundOne({ ...instance, name: 'someone-else', target: 'other.local' }); foundOne(instance); }, stop: () => seen.push('stopped') };
  resolveBroker(config.broker, config.site, finder, (a) => seen.push(`${a.host}:${a.port}`));
  expect(seen).toEqual(['10.0.0.5:1883', 'stopped', `${instance.address}:${hub.hub.mqttPort}`]);
});

test('with discovery.mdns false the hub announces nothing', async () => {
  const quiet = await startHub({ 'discovery.mdns': false, 'discovery.name': `${name}-off` });
  try {
    expect((await browse(1_500)).filter((i) => i.name === `${name}-off`)).toEqual([]);
  } finally {
    await quiet.stop();
  }
});
