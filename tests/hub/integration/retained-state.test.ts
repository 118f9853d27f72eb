/**
 * Regression: a device that publishes its retained state and its first event back to back (as
 * Device.onConnected does) must be seen online at once. Aedes 1.2 dropped the retained message
 * when the next publish of the same socket read overtook it (see hub/mqtt/broker.ts); the hub then
 * thought every device offline until its next periodic state, a minute later.
 */

import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../../support/device.js';

let f: HubFixture;
afterEach(async () => { await f?.stop(); });

test('retained state followed at once by an event: both reach the hub', async () => {
  f = await startHub();
  await setUpHall(f.api, 1);
  const devices: FakeDevice[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      // One rating pad per window (issue 18, finding 7): each pad at a window of its own.
      const d = new FakeDevice(await f.provision('pad', `W${i + 1}`, `pad-${i}`));
      await d.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
      devices.push(d);
    }
    for (const d of devices) {
      // Same tick, no await between: MQTT.js writes both into one TCP segment.
      d.client!.publish(d.topic('state'), d.state(true), { qos: 0, retain: true });
      d.client!.publish(d.topic('evt'), d.sign('boot', bootBody), { qos: 0 });
    }
    await waitFor('every boot event acked', () => devices.every((d) => d.unacked.size === 0 && d.verdict(1)?.verdict === 'committed'));
    await waitFor('every device online at the hub', async () => {
      const { devices: listed } = await f.api('GET', '/api/devices') as { devices: { id: string; health: { online: boolean } }[] };
      return listed.filter((d) => d.health.online).length === devices.length;
    }, 5_000);
  } finally {
    for (const d of devices) await d.close();
  }
});
