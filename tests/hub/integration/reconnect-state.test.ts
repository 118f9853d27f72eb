/**
 * Issue 16, defect 3: a display that reboots mid-call came back showing idle and "waiting 0",
 * because the hub sent it only the time and its config. Now a device coming online, or booting,
 * is sent its current state as well: a display its window's call, never a pad's open rating
 * request (the pad may hold its rating of it, unsent, after a power cut).
 */

import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../../support/device.js';

let f: HubFixture;
afterEach(async () => { await f?.stop(); });

const displays = (d: FakeDevice) => d.commands.filter((c) => c.type === 'display');
const requests = (d: FakeDevice) => d.commands.filter((c) => c.type === 'rateReq');

test('a display that comes back online or boots is sent its call; a pad is not sent an open request again', async () => {
  f = await startHub();
  const tickets = await setUpHall(f.api, 3);
  const caller = await f.device('display', 'W1', 'disp-1');
  const pad = await f.device('pad', 'W1', 'pad-1');
  await caller.publishState(true);
  await pad.publishState(true);
  await caller.send('boot', bootBody);
  await caller.send('call', { win: 'W1', staff: null }); // A001 called
  await caller.send('call', { win: 'W1', staff: null }); // A001 done (a rating request to the pad), A002 called
  await waitFor('the call and the request', () => displays(caller).some((c) => c.type === 'display' && c.body.ticket === tickets[1]) && requests(pad).length === 1);
  const request = requests(pad)[0];

  // The display reboots: it goes offline, forgets its screen, comes back.
  await caller.publishState(false);
  caller.commands.length = 0;
  await caller.publishState(true);
  await waitFor('the display is sent its call again', () => displays(caller).length > 0, 5_000);
  const shown = displays(caller)[0];
  expect(shown.type === 'display' && shown.body).toMatchObject({ win: 'W1', ticket: tickets[1], status: 'called', waiting: 1 });

  // A pad that reboots is not sent the open request again: its rating of it may be in its outbox, unsent.
  await pad.publishState(false);
  pad.commands.length = 0;
  await pad.publishState(true);
  await waitFor('the pad had its time', () => pad.commands.some((c) => c.type === 'time'), 5_000);
  expect(requests(pad)).toHaveLength(0);

  // Once rated, a reboot brings no request back; a boot event alone (no offline in between) sends the display its state too.
  if (request.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: request.body.ticket, req: request.body.req, level: 5, reason: null, offline: false });
  await waitFor('rating acked', () => pad.unacked.size === 0);
  await pad.publishState(false);
  pad.commands.length = 0;
  await pad.publishState(true);
  caller.commands.length = 0;
  caller.boot = 2;
  caller.seq = 0;
  await caller.send('boot', bootBody);
  await waitFor('a display that booted is sent its call', () => displays(caller).length > 0, 5_000);
  await waitFor('the pad had its time', () => pad.commands.some((c) => c.type === 'time'), 5_000);
  expect(requests(pad)).toHaveLength(0);
});
