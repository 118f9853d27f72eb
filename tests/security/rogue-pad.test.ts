/**
 * Rogue pad (issue 18, finding 7): every provisioning, re-keying, move and removal is a ledger
 * row naming who did it (a signed-in user, or an API token as the CLI uses); a window has one
 * bound rating pad, and a second one needs a supervisor's replace; rating requests go to the
 * bound pad alone, on the real embedded broker.
 */

import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';
import type { DeviceConfig } from '../../firmware/core/config.js';

const PASSWORD = 'correct horse battery staple';
let f: HubFixture;
const devices: FakeDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
});

/** The 'device' ledger rows, oldest first. */
async function deviceRows(): Promise<{ dev: string; body: Record<string, unknown> }[]> {
  const rows = await f.hub.db.all<{ dev: string; body: string }>(`SELECT dev, body FROM ledger WHERE kind = 'device' ORDER BY "row"`);
  return rows.map((r) => ({ dev: r.dev, body: JSON.parse(r.body) as Record<string, unknown> }));
}

/** A signed-in user's session token (password sign-in, as the dashboard does). */
async function signIn(username: string, role: string): Promise<string> {
  await f.api('PUT', `/api/auth/users/${username}`, { name: `${username} 名`, role, password: PASSWORD });
  return (await f.api('POST', '/api/auth/login', { username, password: PASSWORD }, null)).token as string;
}

test('provision, re-key, move and removal are ledger rows with who did them, never the secret', async () => {
  f = await startHub({ 'ingest.intakeThread': 'always' });
  const tech = await signIn('tech1', 'technician');
  // The CLI's path: an API token a supervisor made.
  const cli = await f.api('POST', '/api/tokens', { name: 'installer laptop', role: 'technician' });

  const pad = await f.api('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-1' }, tech) as DeviceConfig;
  await f.api('POST', '/api/devices', { role: 'display', win: 'W1', id: 'disp-1' }, cli.token);
  const rekeyed = await f.api('POST', '/api/devices/pad-1/rekey', undefined, cli.token) as DeviceConfig;
  expect(rekeyed.secret).not.toBe(pad.secret);
  const moved = await f.api('POST', '/api/devices/disp-1/move', { win: 'W2' }, tech) as DeviceConfig;
  expect(moved.win).toBe('W2');
  expect(await f.api('DELETE', '/api/devices/disp-1', undefined, tech)).toEqual({ device: 'disp-1', removed: true });

  const rows = await deviceRows();
  expect(rows.map((r) => [r.dev, r.body.action, r.body.by, r.body.byName, r.body.byRole])).toEqual([
    ['pad-1', 'provision', 'tech1', 'tech1 名', 'technician'],
    ['disp-1', 'provision', `api-${cli.id}`, 'API token: installer laptop', 'technician'],
    ['pad-1', 'rekey', `api-${cli.id}`, 'API token: installer laptop', 'technician'],
    ['disp-1', 'move', 'tech1', 'tech1 名', 'technician'],
    ['disp-1', 'remove', 'tech1', 'tech1 名', 'technician'],
  ]);
  expect(rows[0].body).toMatchObject({ role: 'pad', win: 'W1', replaced: null });
  expect(rows[3].body).toMatchObject({ from: 'W1', win: 'W2' });
  // No secret in any row.
  const text = JSON.stringify(rows);
  expect(text).not.toContain(pad.secret);
  expect(text).not.toContain(rekeyed.secret);
  expect((await f.api('GET', '/api/ledger/verify')).ok).toBe(true);

  // The old secret no longer opens the broker; the new one does; the removed device is gone.
  const url = `mqtt://127.0.0.1:${f.hub.mqttPort}`;
  await expect(new FakeDevice(pad).connect(url)).rejects.toThrow();
  const fresh = new FakeDevice(rekeyed);
  await fresh.connect(url);
  devices.push(fresh);
  expect((await f.call('GET', '/api/devices/disp-1')).status).toBe(404);
  expect(await (await f.call('DELETE', '/api/devices/disp-1')).json()).toEqual({ error: 'not-found', message: 'params.id: device disp-1 is not provisioned', field: 'params.id' });

  // Removed while connected: its events are committed no more, though the intake thread had its key.
  await fresh.send('boot', bootBody);
  await waitFor('pad-1 committed before removal', () => fresh.unacked.size === 0);
  await f.api('DELETE', '/api/devices/pad-1', undefined, tech);
  // The broker now closes a removed device's connection (revoked-connection.test.ts), so this
  // publish never completes: not awaited; nothing of it may be committed either way.
  void fresh.send('boot', bootBody).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 500));
  expect(fresh.verdict(2)).toBeUndefined();
  expect(await f.eventRows('pad-1')).toBe(1);
  expect((await deviceRows()).at(-1)?.body).toMatchObject({ action: 'remove', dev: 'pad-1', by: 'tech1' });
});

test('a second pad at a window is refused; a supervisor replaces the pad, and the old one is unbound in the ledger', async () => {
  f = await startHub();
  const tech = await signIn('tech1', 'technician');
  const sup = await signIn('sup1', 'supervisor');
  await f.api('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-old' }, tech);
  await f.api('POST', '/api/devices', { role: 'display', win: 'W1', id: 'disp-1' }, tech);
  await f.api('POST', '/api/devices', { role: 'pad', win: 'W2', id: 'pad-w2' }, tech);

  const second = await f.call('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-rogue' }, tech);
  expect(second.status).toBe(409);
  expect(await second.json()).toEqual({
    error: 'conflict', field: 'body.replace',
    message: 'provision: window W1 already has a rating pad (pad-old); a window has one. To replace it, a supervisor sends "replace": true, which unbinds pad-old',
  });
  // A technician cannot confirm it; a supervisor's confirmation is needed.
  const techReplace = await f.call('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-rogue', replace: true }, tech);
  expect(techReplace.status).toBe(403);
  expect((await techReplace.json()).field).toBe('body.replace');
  // Moving another window's pad here is the same rule.
  const move = await f.call('POST', '/api/devices/pad-w2/move', { win: 'W1' }, tech);
  expect(move.status).toBe(409);
  expect((await f.api('GET', '/api/devices')).devices.map((d: { id: string }) => d.id)).toEqual(['disp-1', 'pad-old', 'pad-w2']);
  expect(await f.hub.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ledger WHERE kind = 'device'`)).toEqual({ n: 3 });

  const replaced = await f.call('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-new', replace: true }, sup);
  expect(replaced.status).toBe(201);
  const listed = (await f.api('GET', '/api/devices')).devices as { id: string; win: string; bound: boolean }[];
  expect(listed.map((d) => [d.id, d.win, d.bound])).toEqual([['disp-1', 'W1', true], ['pad-new', 'W1', true], ['pad-old', 'W1', false], ['pad-w2', 'W2', true]]);
  const rows = (await deviceRows()).slice(3);
  expect(rows.map((r) => [r.dev, r.body.action, r.body.by])).toEqual([['pad-old', 'unbind', 'sup1'], ['pad-new', 'provision', 'sup1']]);
  expect(rows[0].body.replacedBy).toBe('pad-new');
  expect(rows[1].body.replaced).toBe('pad-old');
  expect((await f.api('GET', '/api/ledger/verify')).ok).toBe(true);
});

test('a rating request reaches only the bound pad: another pad subscribed at the window gets none', async () => {
  f = await startHub();
  const url = `mqtt://127.0.0.1:${f.hub.mqttPort}`;
  const tickets = await setUpHall(f.api, 3);
  const connect = async (config: DeviceConfig) => {
    const d = new FakeDevice(config);
    await d.connect(url);
    devices.push(d);
    return d;
  };
  const display = await connect(await f.provision('display', 'W1', 'disp-1'));
  const oldPad = await connect(await f.provision('pad', 'W1', 'pad-old'));
  // The fixture's token is a supervisor's: it may replace the pad. The old pad keeps its credentials and stays subscribed.
  const pad = await connect(await f.api('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-new', replace: true }));
  for (const d of [display, oldPad, pad]) await d.publishState(true);
  await waitFor('pads online', () => pad.commands.some((c) => c.type === 'time') && oldPad.commands.some((c) => c.type === 'time'));

  await display.send('boot', bootBody);
  await display.send('call', { win: 'W1', staff: null });
  await display.send('call', { win: 'W1', staff: null }); // finishes the first ticket: its rating is requested
  await waitFor('rateReq at the bound pad', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  expect(req.type === 'rateReq' && req.body.ticket).toBe(tickets[0]);
  // The display got the next call after the request went out; the old pad has had every chance to hear it.
  await waitFor('display shows the second ticket', () => display.commands.some((c) => c.type === 'display' && c.body.ticket === tickets[1]));
  await new Promise((r) => setTimeout(r, 300));
  expect(oldPad.commands.filter((c) => c.type === 'rateReq')).toEqual([]);
  expect(pad.commands.filter((c) => c.type === 'rateReq')).toHaveLength(1);

  // The unbound pad's ratings are refused and recorded, even with the request's id; the bound pad's count.
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await oldPad.send('boot', bootBody);
  await oldPad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false });
  await oldPad.send('rating', { win: 'W1', ticket: null, req: null, level: 1, reason: 'attitude', offline: true });
  await waitFor('old pad acked', () => oldPad.unacked.size === 0);
  expect([oldPad.verdict(2), oldPad.verdict(3)]).toEqual([2, 3].map((seq) => ({ boot: 1, seq, verdict: 'refused', reason: 'rating: pad pad-old is not the bound rating pad of window W1' })));
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 5, reason: null, offline: false });
  await waitFor('bound pad acked', () => pad.unacked.size === 0);
  expect(pad.verdict(1)?.verdict).toBe('committed');
  expect(await f.hub.db.all('SELECT level FROM queue_ratings')).toEqual([{ level: 5 }]);
});
