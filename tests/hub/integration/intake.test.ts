/**
 * The intake thread (hub/mqtt/intake.ts): device events verified on a worker thread with their own
 * MQTT connection. What it verifies is committed once and acked; a device provisioned after
 * start is verified there too; what it cannot verify goes to the main thread, which rejects it
 * by reason exactly as without the thread; and with the thread off the main thread does it all.
 */

import { hubPerTest, type HubFixture } from '../../../support/hub.js';
import { waitFor, bootBody } from '../../../support/device.js';

const hubs = hubPerTest();
const device = hubs.device;
let f: HubFixture;

test('with the embedded broker the default (external) keeps events on the main thread', async () => {
  f = await hubs.start();
  const pad = await device('pad', 'W1', 'pad-1');
  await pad.publish(pad.sign('boot', bootBody));
  await waitFor('ack', () => pad.unacked.size === 0);
  expect(await f.metric('sannuo_intake_messages_total', { path: 'verified' })).toBe(0);
});

test('events of a device provisioned after start are verified on the intake thread, committed once and acked', async () => {
  f = await hubs.start({ 'ingest.intakeThread': 'always' });
  const pad = await device('pad', 'W1', 'pad-late');
  for (let i = 0; i < 20; i++) await pad.publish(pad.sign('boot', bootBody));
  await waitFor('acks', () => pad.unacked.size === 0);
  expect(await f.eventRows('pad-late')).toBe(20);
  expect(await f.metric('sannuo_intake_messages_total', { path: 'verified' })).toBe(20);
  expect(await f.metric('sannuo_intake_messages_total', { path: 'raw' })).toBe(0);
});

test('what the intake thread cannot verify is handed to the main thread, rejected by reason, and changes nothing', async () => {
  f = await hubs.start({ 'ingest.intakeThread': 'always' });
  const pad = await device('pad', 'W1', 'pad-1');
  const good = pad.sign('boot', bootBody);
  pad.unacked.clear();
  await pad.publish(good.replace(/"sig":"[0-9a-f]{4}/, '"sig":"0000'));
  await pad.publish('not json at all');
  await waitFor('rejections counted', async () => (await f!.metric('sannuo_rejected_total')) >= 2);
  expect(await f.metric('sannuo_rejected_total', { reason: 'bad-signature' })).toBe(1);
  expect(await f.metric('sannuo_rejected_total', { reason: 'unsigned' })).toBe(1);
  expect(await f.metric('sannuo_intake_messages_total', { path: 'raw' })).toBe(2);
  expect(await f.eventRows()).toBe(0);
  // The real line still commits afterwards, verified on the thread.
  pad.unacked.set('1:1', good);
  await pad.publish(good);
  await waitFor('ack', () => pad.unacked.size === 0);
  expect(await f.eventRows('pad-1')).toBe(1);
  expect(await f.metric('sannuo_intake_messages_total', { path: 'verified' })).toBe(1);
});

test('with ingest.intakeThread never, the main thread receives and verifies every event', async () => {
  f = await hubs.start({ 'ingest.intakeThread': 'never' });
  const pad = await device('pad', 'W1', 'pad-1');
  for (let i = 0; i < 5; i++) await pad.publish(pad.sign('boot', bootBody));
  await waitFor('acks', () => pad.unacked.size === 0);
  expect(await f.eventRows('pad-1')).toBe(5);
  expect(await f.metric('sannuo_intake_messages_total', { path: 'verified' })).toBe(0);
});
