/**
 * The README's example feature (hub/app/window-tally.ts) on a real hub: it counts committed
 * ratings per window from the bus, a duplicate (resent) rating counts once, and the README
 * shows the file as it is.
 */

import fs from 'node:fs';
import path from 'node:path';
import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor } from '../../../support/device.js';

const ROOT = path.join(__dirname, '../../..');

test('README shows hub/app/window-tally.ts as it is', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const file = fs.readFileSync(path.join(ROOT, 'hub/app/window-tally.ts'), 'utf8');
  expect(readme).toContain('```ts\n// hub/app/window-tally.ts\n' + file + '```');
});

describe('window tally on the bus', () => {
  let f: HubFixture;
  const devices: FakeDevice[] = [];
  afterAll(async () => {
    for (const d of devices) await d.close();
    await f.stop();
  });

  test('counts each committed rating once per window', async () => {
    f = await startHub();
    await setUpHall(f.api, 3);
    const connect = async (role: 'pad' | 'display', id: string) => {
      const d = new FakeDevice(await f.provision(role, 'W1', id));
      await d.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
      devices.push(d);
      return d;
    };
    const caller = await connect('display', 'disp-1');
    const pad = await connect('pad', 'pad-1');
    expect(await f.api('GET', '/api/app/window-tally')).toEqual({ windows: {} });
    await caller.send('call', { win: 'W1', staff: null });
    await caller.send('call', { win: 'W1', staff: null });
    await waitFor('rateReq', () => pad.commands.some((c) => c.type === 'rateReq'));
    const req = pad.commands.find((c) => c.type === 'rateReq')!;
    if (req.type !== 'rateReq') throw new Error('unreachable');
    const line = await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 4, reason: null, offline: false });
    await waitFor('rating ack', () => pad.unacked.size === 0);
    await pad.publish(line); // resent: acked again, not counted again
    await waitFor('second ack', () => pad.acksReceived >= 2);
    expect(await f.api('GET', '/api/app/window-tally')).toEqual({ windows: { W1: 1 } });
    expect((await f.call('GET', '/api/app/window-tally', undefined, null)).status).toBe(401);
  });
});
