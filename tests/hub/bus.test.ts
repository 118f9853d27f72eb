/**
 * The typed bus (hub/bus.ts): owners remove their listeners, a failing listener does not stop
 * the others; on a real hub, ratingCommitted fires only after a commit (never for a rolled-back
 * transaction) and opens the case at once; a case whose emit was lost (a crash between commit
 * and emit) is opened from the ledger when the hub starts again.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bus, type HubEvents } from '../../hub/bus.js';
import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor } from '../../support/device.js';

describe('Bus', () => {
  test('typed listeners by owner; off(owner) removes only that owner; a throwing or rejecting listener does not stop the rest', async () => {
    const bus = new Bus();
    const heard: string[] = [];
    bus.on('ratingCommitted', 'a', (e) => { heard.push(`a:${e.rating}`); });
    bus.on('ratingCommitted', 'broken', () => { throw new Error('boom'); });
    bus.on('ratingCommitted', 'rejecting', async () => { throw new Error('async boom'); });
    bus.on('ratingCommitted', 'b', (e) => { heard.push(`b:${e.rating}`); });
    bus.on('deviceOnline', 'a', (e) => { heard.push(`online:${e.dev}`); });
    const rating: HubEvents['ratingCommitted'] = { rating: 'pad-1:1:2', channel: 'pad', level: 5, win: 'W1' };
    bus.emit('ratingCommitted', rating);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(['a:pad-1:1:2', 'b:pad-1:1:2']);
    expect(bus.failures).toBe(2);
    bus.off('a');
    expect(bus.heard('deviceOnline')).toBe(false);
    bus.emit('ratingCommitted', { ...rating, rating: 'x' });
    bus.emit('deviceOnline', { dev: 'pad-1' });
    expect(heard).toEqual(['a:pad-1:1:2', 'b:pad-1:1:2', 'b:x']);
  });
});

describe('the bus on a real hub', () => {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-bus-'));
  let f: HubFixture | undefined;
  const devices: FakeDevice[] = [];
  afterAll(async () => {
    for (const d of devices) await d.close();
    await f?.hub.stop();
    fs.rmSync(data, { recursive: true, force: true });
  });

  async function connect(hub: HubFixture, role: 'pad' | 'display', id: string, provision: boolean): Promise<FakeDevice> {
    const config = provision ? await hub.provision(role, 'W1', id) : hub.hub.registry.configFor(id)!;
    const d = new FakeDevice(config);
    await d.connect(`mqtt://127.0.0.1:${hub.hub.mqttPort}`);
    devices.push(d);
    return d;
  }

  async function serveAndRequest(caller: FakeDevice, pad: FakeDevice) {
    const before = pad.commands.length;
    await caller.send('call', { win: 'W1', staff: null });
    await caller.send('call', { win: 'W1', staff: null });
    await waitFor('rateReq', () => pad.commands.slice(before).some((c) => c.type === 'rateReq'));
    const req = pad.commands.slice(before).find((c) => c.type === 'rateReq')!;
    if (req.type !== 'rateReq') throw new Error('unreachable');
    return req.body;
  }

  const cases = async (hub: HubFixture) => Number((await hub.hub.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM app_cases'))!.n);

  test('no listener runs for a rolled-back commit; a committed bad rating opens its case on the bus; a lost emit is caught up at restart', async () => {
    f = await startHub({}, data);
    await setUpHall(f.api, 4);
    const hall = f.hub.halls()[0];
    const heard: HubEvents['ratingCommitted'][] = [];
    hall.bus.on('ratingCommitted', 'test', (e) => { heard.push(e); });
    const caller = await connect(f, 'display', 'disp-1', true);
    const pad = await connect(f, 'pad', 'pad-1', true);

    // A transaction that fails and rolls back: the ratings table is gone for a moment.
    const first = await serveAndRequest(caller, pad);
    await f.hub.db.run('ALTER TABLE queue_ratings RENAME TO queue_ratings_away');
    await pad.send('rating', { win: 'W1', ticket: first.ticket, req: first.req, level: 1, reason: 'attitude', offline: false });
    await waitFor('the failed commit', async () => (await f!.metric('sannuo_commit_failures_total')) > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(heard).toEqual([]);
    expect(pad.unacked.size).toBe(1); // left unacked: the device resends it
    await f.hub.db.run('ALTER TABLE queue_ratings_away RENAME TO queue_ratings');

    // Resent, committed: the bus hears it after the commit and the case opens without a poll.
    await pad.resendUnacked();
    await waitFor('rating ack', () => pad.unacked.size === 0);
    expect(heard).toEqual([{ rating: 'pad-1:1:1', channel: 'pad', level: 1, win: 'W1' }]);
    await waitFor('case opened on ratingCommitted', async () => (await cases(f!)) === 1);

    // A crash between commit and emit: the cases feature does not hear the next bad rating…
    hall.bus.off('cases');
    const second = await serveAndRequest(caller, pad);
    await pad.send('rating', { win: 'W1', ticket: second.ticket, req: second.req, level: 2, reason: 'slow', offline: false });
    await waitFor('second rating ack', () => pad.unacked.size === 0);
    expect(heard).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(await cases(f)).toBe(1);
    for (const d of devices.splice(0)) await d.close();
    await f.hub.stop();

    // …and the hub started again on the same data opens it from the ledger watermark.
    f = await startHub({}, data);
    expect(await cases(f)).toBe(2);
  });
});
