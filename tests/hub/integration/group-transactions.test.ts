/**
 * A burst larger than ingest.maxBatch is committed as several groups, each its own transaction.
 * The next group used to be started from inside the running group's transaction body, so its
 * db.tx() joined that transaction as a savepoint and resolved (and acked) before the outer
 * COMMIT and its fsync: acks for events that were not yet durable.
 */

import { startHub, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../../support/device.js';

let f: HubFixture | undefined;
afterEach(async () => { await f?.stop(); f = undefined; });

test('every group of a burst is a transaction of its own, none joins another', async () => {
  f = await startHub({ 'ingest.maxBatch': 2 });
  const pad = new FakeDevice(await f.provision('pad', 'W1', 'pad-1'));
  await pad.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
  const lines = Array.from({ length: 30 }, () => pad.sign('boot', bootBody));
  await pad.publish(lines.join('\n'));
  await waitFor('acks', () => pad.unacked.size === 0);
  await pad.close();
  expect(await f.eventRows('pad-1')).toBe(30);
  expect((f.hub.db as unknown as { joinedTransactions: number }).joinedTransactions).toBe(0);
});
