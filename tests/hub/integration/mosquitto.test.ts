/**
 * The hub as a client of an external Mosquitto 2 (Debian's /usr/sbin/mosquitto), which
 * authenticates devices with the password file and enforces the ACL file the hub writes from
 * its registry. Devices are MQTT.js clients, and in one test plain mosquitto_pub/mosquitto_sub
 * processes.
 */

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { startMosquitto, type RunningMosquitto } from '../../../support/mosquitto.js';
import { writeMosquittoFiles, NO_DEVICES } from '../../../hub/mqtt/mosquitto.js';
import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../../support/device.js';
import { decodeAck, isProtocolError, topicFor } from '../../../firmware/core/protocol.js';
import { nodeHmac } from '../../../hub/devices/registry.js';

const run = promisify(execFile);
let m: RunningMosquitto;
let f: HubFixture;
const devices: FakeDevice[] = [];
const hubUser = { username: '$hub', password: randomBytes(16).toString('hex') };

beforeEach(async () => {
  m = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'site1', hub: hubUser }); });
  f = await startHub({
    broker: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${m.port}`,
    'mosquitto.dir': m.filesDir, 'mosquitto.pidFile': m.pidFile,
  });
});
afterEach(async () => {
  for (const d of devices.splice(0)) await d.close();
  await f?.stop();
  await m?.stop();
});

/** Provisions through the HTTP API; the hub rewrites the files and SIGHUPs Mosquitto. */
async function device(role: 'pad' | 'display', win: string, id: string): Promise<FakeDevice> {
  const d = new FakeDevice(await f.provision(role, win, id));
  await waitFor(`${id} can log in after the reload`, async () => {
    try {
      await d.connect(m.url);
      return true;
    } catch {
      return false;
    }
  });
  devices.push(d);
  return d;
}

test('devices on Mosquitto: events committed exactly once and acked through the broker', async () => {
  await setUpHall(f.api, 2);
  const caller = await device('display', 'W1', 'disp-1');
  const boot = await caller.send('boot', bootBody);
  const call = await caller.send('call', { win: 'W1', staff: null });
  await waitFor('acks', () => caller.unacked.size === 0);
  expect(caller.verdict(2)?.verdict).toBe('committed');
  await waitFor('display command through Mosquitto', () => caller.commands.some((c) => c.type === 'display'));
  // Resend both with a new one: duplicates get the same verdicts, no new rows.
  await caller.publish([boot, call, caller.sign('pause', { win: 'W1', reason: null })].join('\n'));
  await waitFor('pause ack', () => caller.unacked.size === 0 && caller.verdicts.get('1:2')!.length === 2);
  expect(caller.verdicts.get('1:2')).toEqual([caller.verdict(2), caller.verdict(2)]);
  expect(await f.eventRows('disp-1')).toBe(3);
  expect(m.log()).not.toMatch(/Error/);
});

test('Mosquitto refuses a wrong password and drops a publish to another device\'s topic', async () => {
  const pad = await device('pad', 'W1', 'pad-1');
  const intruder = new FakeDevice(await f.provision('pad', 'W2', 'pad-2'));
  await new Promise((r) => setTimeout(r, 300)); // the SIGHUP reload
  await expect(intruder.connect(m.url, { password: 'not-the-password' })).rejects.toThrow(/Not authorized|Bad username or password/i);
  await waitFor('pad-2 logs in', async () => { try { await intruder.connect(m.url); return true; } catch { return false; } });
  devices.push(intruder);
  const line = intruder.sign('boot', bootBody);
  await intruder.client!.publishAsync(topicFor('site1', 'pad-1', 'evt'), line, { qos: 1 }); // Mosquitto acks and drops it
  await intruder.client!.publishAsync(intruder.topic('evt'), line, { qos: 1 });            // its own topic works
  await waitFor('own event acked', () => intruder.unacked.size === 0);
  await new Promise((r) => setTimeout(r, 300));
  expect(await f.eventRows('pad-2')).toBe(1);
  expect(await f.eventRows('pad-1')).toBe(0);
  expect(pad.acksReceived).toBe(0);
  // The hub never saw the out-of-ACL line: one line in, none rejected as wrong-device.
  expect(await f.metric('sannuo_events_in_total')).toBe(1);
  expect(await f.metric('sannuo_rejected_total', { reason: 'wrong-device' })).toBe(0);
});

test('plain mosquitto_rr / mosquitto_pub devices', async () => {
  const config = await f.provision('pad', 'W1', 'pad-cli');
  const d = new FakeDevice(config); // used only to sign; the MQTT traffic is mosquitto_pub/sub
  await new Promise((r) => setTimeout(r, 300));
  const auth = ['-h', '127.0.0.1', '-p', String(m.port), '-u', 'pad-cli', '-P', d.password];
  // One connection per device (use_username_as_clientid: a second one would take the first
  // over), so mosquitto_rr: it subscribes to the ack topic, publishes, and waits for the answer.
  const rr = async (message: string) => (await run('mosquitto_rr', [...auth, '-t', d.topic('evt'), '-e', d.topic('ack'), '-q', '1', '-W', '30', '-m', message])).stdout;
  const first = d.sign('boot', bootBody);
  const second = d.sign('state', { bat: 80, rssi: -60, heap: 90_000, up: 5, outbox: 1, refused: 0, dropped: 0 });
  const out = (await rr(`${first}\n${second}`)) + (await rr(first)); // the second a duplicate
  const acks = out.trim().split('\n').map((line) => decodeAck(new TextEncoder().encode(line), 'pad-cli', d.key, nodeHmac));
  for (const a of acks) if (isProtocolError(a)) throw new Error(a.message);
  const items = acks.flatMap((a) => (isProtocolError(a) ? [] : a.acks));
  expect(items).toEqual([
    { boot: 1, seq: 1, verdict: 'committed', reason: null },
    { boot: 1, seq: 2, verdict: 'committed', reason: null },
    { boot: 1, seq: 1, verdict: 'committed', reason: null },
  ]);
  expect(await f.eventRows('pad-cli')).toBe(2);
  // A wrong password: mosquitto_pub exits non-zero.
  await expect(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(m.port), '-u', 'pad-cli', '-P', 'wrong', '-t', d.topic('evt'), '-m', first])).rejects.toThrow();
});
