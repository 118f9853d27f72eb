/**
 * MQTT over TLS on the embedded broker (mqtt.tlsListener): a device that pins the hall's
 * certificate connects over mqtts and gets its event committed; a client that does not trust
 * the certificate, and a plain-TCP client on the TLS port, get nowhere; the packet-size guard
 * holds inside TLS too. Settings that cannot work stop the start with the setting named.
 * The certificate is self-signed, made here with the openssl CLI (Debian's openssl package).
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import mqtt from 'mqtt';
import { startHub, type HubFixture } from '../../support/hub.js';
import { Hub } from '../../hub/hub.js';
import { loadSettings } from '../../hub/settings.js';
import { silentLogger } from '../../hub/log.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';

let dir: string;
let cert: string;
let key: string;
let f: HubFixture | undefined;
const devices: FakeDevice[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-tls-'));
  cert = path.join(dir, 'cert.pem');
  key = path.join(dir, 'key.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=sannuo-hub.test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`this test makes its certificate with the openssl CLI (apt-get install openssl): ${(error as Error).message}`);
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
  f = undefined;
});

const tlsSettings = () => ({ 'mqtt.tlsListener.port': 0, 'mqtt.tlsListener.cert': cert, 'mqtt.tlsListener.key': key });

/** Resolves with what became of a raw connection: closed (and any bytes the server sent first). */
function rawExchange(socket: net.Socket, bytes: Buffer, ms = 5_000): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); resolve({ closed: false, received: Buffer.concat(chunks) }); }, ms);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => { clearTimeout(timer); resolve({ closed: true, received: Buffer.concat(chunks) }); });
    socket.write(bytes);
  });
}

test('a device pinning the hall certificate commits an event over mqtts; untrusting and plain clients fail on the TLS port', async () => {
  f = await startHub(tlsSettings());
  const tlsPort = f.hub.broker!.tlsPort;
  expect(tlsPort).toBeGreaterThan(0);
  expect(tlsPort).not.toBe(f.hub.mqttPort);
  const url = `mqtts://127.0.0.1:${tlsPort}`;
  const ca = fs.readFileSync(cert);

  const pad = new FakeDevice(await f.provision('pad', 'W1', 'pad-tls'));
  await pad.connect(url, { tls: { ca, rejectUnauthorized: true } });
  devices.push(pad);
  expect(pad.client!.stream).toBeInstanceOf(tls.TLSSocket);
  await pad.send('boot', bootBody);
  await waitFor('the event over TLS acked', () => pad.unacked.size === 0, 15_000);
  expect(await f.eventRows('pad-tls')).toBe(1);

  // Not pinned: the self-signed certificate is refused by the client, nothing is sent.
  const stranger = new FakeDevice(await f.provision('pad', 'W2', 'pad-unpinned'));
  const unpinned = await stranger.connect(url, { tls: { rejectUnauthorized: true } }).then(() => undefined, (e: Error) => e);
  expect(unpinned?.message).toMatch(/self[- ]signed|unable to verify/i);

  // A plain MQTT CONNECT on the TLS port: no CONNACK, the socket closes, the refusal is counted.
  const connect = Buffer.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04, 0x70, 0x6c, 0x61, 0x69]);
  const plain = await rawExchange(net.connect(tlsPort, '127.0.0.1'), connect);
  expect(plain.closed).toBe(true);
  expect(plain.received.includes(Buffer.from([0x20, 0x02]))).toBe(false);
  const plainClient = await new Promise<string>((resolve) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${tlsPort}`, { username: 'pad-tls', password: pad.password, clientId: 'pad-plain', reconnectPeriod: 0, connectTimeout: 3_000 });
    c.on('error', () => undefined);
    c.once('connect', () => { c.end(true); resolve('connected'); });
    c.once('close', () => { c.end(true); resolve('failed'); });
  });
  expect(plainClient).toBe('failed');
  await waitFor('TLS handshake refusals counted', async () => (await f!.metric('sannuo_broker_refused_total', { reason: 'tls-handshake' })) >= 2);

  // The packet-size guard reads the decrypted bytes: a CONNECT declaring 256 MB closes the socket.
  const secure = tls.connect({ host: '127.0.0.1', port: tlsPort, ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => { secure.once('secureConnect', resolve); secure.once('error', reject); });
  const huge = await rawExchange(secure, Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x04]));
  expect(huge.closed).toBe(true);
  expect(await f.metric('sannuo_broker_refused_total', { reason: 'packet-too-large' })).toBe(1);

  // The plain listener still serves (the hub's own tools, a local simulator).
  expect(pad.client!.connected).toBe(true);
  const local = new FakeDevice(await f.provision('pad', 'W3', 'pad-plain-port'));
  await local.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
  devices.push(local);
}, 60_000);

/** Starts a hub with `overrides` that must fail; the half-started hub is stopped again. */
async function startFails(overrides: Record<string, unknown>): Promise<string> {
  const data = fs.mkdtempSync(path.join(dir, 'data-'));
  const hub = new Hub(loadSettings({ env: {}, overrides: { data, 'mqtt.port': 0, 'http.port': 0, 'mqtt.host': '127.0.0.1', 'http.host': '127.0.0.1', ...overrides } }), silentLogger());
  try {
    await hub.start();
  } catch (error) {
    return (error as Error).message;
  } finally {
    await hub.stop();
  }
  throw new Error('the hub started');
}

test('TLS settings that cannot work stop the start and name the setting', async () => {
  const missing = path.join(dir, 'nope.pem');
  expect(await startFails({ ...tlsSettings(), 'mqtt.tlsListener.cert': missing })).toMatch(`mqtt.tlsListener.cert: cannot read ${missing}: ENOENT`);
  expect(await startFails({ ...tlsSettings(), 'mqtt.tlsListener.key': '' })).toMatch(/mqtt\.tlsListener\.key: empty, but mqtt\.tlsListener\.cert is set/);
  const unreadable = path.join(dir, 'unreadable.pem');
  fs.copyFileSync(key, unreadable);
  fs.chmodSync(unreadable, 0o000);
  if (process.getuid?.() !== 0) {
    expect(await startFails({ ...tlsSettings(), 'mqtt.tlsListener.key': unreadable })).toMatch(`mqtt.tlsListener.key: cannot read ${unreadable}: EACCES`);
  }
  // A key that is not the certificate's.
  expect(await startFails({ ...tlsSettings(), 'mqtt.tlsListener.key': cert })).toMatch(/mqtt\.tlsListener\.cert, mqtt\.tlsListener\.key: .* are not a PEM certificate and its private key/);
  // A wrong type is refused by the schema, with the key.
  expect(() => loadSettings({ env: {}, overrides: { 'mqtt.tlsListener.port': 'x' } })).toThrow(/mqtt\.tlsListener\.port: /);
}, 60_000);
