/**
 * The embedded broker's limits before Aedes buffers anything: a packet declaring more than
 * mqtt.maxPacketBytes closes the socket (before login and after), connections per remote
 * address are bounded, and a device must use its id as its client id. Real sockets, free ports.
 */

import net from 'node:net';
import mqtt from 'mqtt';
import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor } from '../../support/device.js';
import { PacketSizeGuard } from '../../hub/mqtt/broker.js';
import { varint } from '../../support/mqtt-wire.js';

let f: HubFixture;
const devices: FakeDevice[] = [];
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
});

async function device(id: string): Promise<FakeDevice> {
  const d = new FakeDevice(await f.provision('pad', 'W1', id));
  await d.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
  devices.push(d);
  return d;
}

test('the guard follows packet boundaries across chunks and flags an oversized declaration', () => {
  const g = new PacketSizeGuard(64 * 1024);
  const small = Buffer.concat([Buffer.from([0x30]), varint(300), Buffer.alloc(300), Buffer.from([0xc0, 0x00])]); // PUBLISH + PINGREQ
  for (let i = 0; i < small.length; i++) expect(g.feed(small.subarray(i, i + 1))).toBe(true); // byte by byte
  expect(g.feed(Buffer.concat([small, small]))).toBe(true);
  expect(g.feed(Buffer.concat([Buffer.from([0x30]), varint(64 * 1024)]))).toBe(true);
  const g2 = new PacketSizeGuard(64 * 1024);
  expect(g2.feed(Buffer.concat([Buffer.from([0x30]), varint(64 * 1024 + 1)]))).toBe(false);
});

test('a raw CONNECT declaring 250 MB is cut off at once, not buffered', async () => {
  f = await startHub();
  const socket = net.connect(f.hub.mqttPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let closed = false;
  socket.on('error', () => undefined);
  socket.once('close', () => { closed = true; });
  const before = process.memoryUsage();
  const started = Date.now();
  socket.write(Buffer.concat([Buffer.from([0x10]), varint(250 * 1024 * 1024)]));
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  const total = 5 * 1024 * 1024;
  let sent = 0;
  while (!closed && sent < total) {
    await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
    sent += chunk.length;
    await new Promise((r) => setImmediate(r));
  }
  await waitFor('socket closed by the broker', () => closed, 5000);
  const after = process.memoryUsage();
  expect(Date.now() - started).toBeLessThan(3000);
  expect(sent).toBeLessThan(total); // closed before the stream was all accepted
  // Neither the parser nor the socket kept the streamed bytes (the broker runs in this process).
  expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(3 * 1024 * 1024);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'packet-too-large' })).toBe(1);
  expect(f.hub.broker!.connectedClients()).toBe(0);
});

test('a logged-in device publishing an oversized packet is disconnected', async () => {
  f = await startHub();
  const d = await device('pad-big');
  let closed = false;
  d.client!.once('close', () => { closed = true; });
  d.client!.options.reconnectPeriod = 0;
  d.client!.publish(d.topic('evt'), Buffer.alloc(200 * 1024, 0x41), { qos: 1 });
  await waitFor('device disconnected', () => closed, 5000);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'packet-too-large' })).toBe(1);
  expect(await f.eventRows()).toBe(0);
});

test('a packet of the largest protocol message still passes', async () => {
  f = await startHub();
  const d = await device('pad-ok');
  let closed = false;
  d.client!.once('close', () => { closed = true; });
  await d.client!.publishAsync(d.topic('evt'), Buffer.alloc(32 * 1024, 0x41), { qos: 1 }); // rejected by ingest, not by the broker
  await new Promise((r) => setTimeout(r, 300));
  expect(closed).toBe(false);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'packet-too-large' })).toBe(0);
});

test('connections per remote address are bounded', async () => {
  f = await startHub({ 'mqtt.maxConnectionsPerAddress': 3 });
  // Loopback is exempt in production (simulated halls); count it here.
  (f.hub.broker as unknown as { options: { limitLoopback: boolean } }).options.limitLoopback = true;
  const open = async () => {
    const s = net.connect(f.hub.mqttPort, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    return s;
  };
  const sockets = [await open(), await open(), await open()];
  const fourth = await open();
  await new Promise<void>((resolve) => fourth.once('close', () => resolve()));
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'too-many-connections' })).toBe(1);
  expect(sockets.every((s) => !s.destroyed)).toBe(true);
  sockets[0].destroy();
  await new Promise((r) => setTimeout(r, 100));
  const again = await open();
  await new Promise((r) => setTimeout(r, 100));
  expect(again.destroyed).toBe(false);
  for (const s of [...sockets, again]) s.destroy();
});

test('a device cannot take over another client id with its own credentials', async () => {
  f = await startHub();
  const victim = await device('pad-victim');
  const attacker = new FakeDevice(await f.provision('pad', 'W2', 'pad-attacker'));
  let victimClosed = false;
  victim.client!.on('close', () => { victimClosed = true; });
  const refused = await mqtt.connectAsync(`mqtt://127.0.0.1:${f.hub.mqttPort}`, {
    username: 'pad-attacker', password: attacker.password, clientId: 'pad-victim', reconnectPeriod: 0, connectTimeout: 3000,
  }).then((c) => { c.end(true); return false; }, (error: Error & { code?: number }) => error.code === 2 || /identifier/i.test(error.message));
  expect(refused).toBe(true);
  await new Promise((r) => setTimeout(r, 300));
  expect(victimClosed).toBe(false);
  expect(victim.client!.connected).toBe(true);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'client-id-mismatch' })).toBe(1);
});
