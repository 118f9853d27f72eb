/**
 * Finding 12: a signed hub command captured on the LAN must not be accepted again after the
 * device reboots. A real hub (embedded Aedes, its clock the simulation's virtual time) signs
 * config commands; a listener with the hub's MQTT identity stands in for the attacker who
 * captured them off the wire. The simulator's device power-cycles on the same flash and
 * storage, and the captured bytes are put to it again, as an attacker on its link would.
 */

import mqtt from 'mqtt';
import { SimDevice } from '../../simulator/sim-device.js';
import { MemoryFlash } from '../../simulator/flash.js';
import { VirtualTime } from '../../simulator/virtual-time.js';
import { parseDeviceConfig, type DeviceConfig } from '../../firmware/core/config.js';
import { deriveSigningKey, encodeCommand, topicFor } from '../../firmware/core/protocol.js';
import { Device } from '../../firmware/core/device.js';
import { fromHex, utf8Encode } from '../../firmware/core/utf8.js';
import { createSimHardware, hmacSha256, MemoryStorage } from '../../simulator/hardware.js';
import { hubMqttPassword } from '../../hub/devices/registry.js';
import { startVirtualHub, type TestHub } from '../simulator/support.js';

let hub: TestHub | undefined;
let sim: SimDevice | undefined;
let sniffer: mqtt.MqttClient | undefined;
let ticker: NodeJS.Timeout | undefined;
afterEach(async () => {
  if (ticker) clearInterval(ticker);
  sim?.shutdown();
  await sniffer?.endAsync();
  await hub?.stop();
  hub = sim = sniffer = ticker = undefined;
});

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a command captured before a reboot is refused after it; fresh commands after the reboot are applied', async () => {
  const time = new VirtualTime(Date.now());
  hub = await startVirtualHub(time);
  // Virtual time follows the wall clock (MQTT keepalives, the device's timers); the test jumps it too.
  let wall = Date.now();
  ticker = setInterval(() => { const now = Date.now(); time.advance(now - wall); wall = now; }, 20);
  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(hub!.http + pathname, { method, headers: { authorization: `Bearer ${hub!.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const parsed = parseDeviceConfig(await api('POST', '/api/devices', { role: 'pad', win: 'W1', id: 'pad-replay' }));
  if (Array.isArray(parsed)) throw new Error(JSON.stringify(parsed));
  const config: DeviceConfig = parsed;
  const cmdTopic = topicFor(config.site, config.id, 'cmd');

  // The captured traffic: every command the hub sends this pad.
  const captured: { t: number; line: Buffer }[] = [];
  sniffer = await mqtt.connectAsync(hub.mqtt, { username: hub.hub.settings.mqtt.hubUser, password: hubMqttPassword(hub.hub.key), clientId: 'sniffer', reconnectPeriod: 0 });
  sniffer.on('message', (_topic, payload) => captured.push({ t: (JSON.parse(payload.toString()) as { t: number }).t, line: Buffer.from(payload) }));
  await sniffer.subscribeAsync(cmdTopic);

  sim = new SimDevice({ config, time, mqttUrl: hub.mqtt, flash: new MemoryFlash(), reconnectPeriod: 100 });
  sim.powerOn();
  await until('the pad online', () => sim!.link === 'up' && hub!.hub.registry.health(config.id).online);

  // The command an attacker keeps: volume 3.
  await api('POST', `/api/devices/${config.id}/config`, { volume: 3 });
  await until('volume 3 applied', () => sim!.device.remoteSettings().volume === 3);
  await until('volume 3 captured', () => captured.some((c) => c.line.includes('"volume":3')));
  const old = captured.find((c) => c.line.includes('"volume":3'))!;

  // Five minutes later the technician sets volume 7.
  time.advance(5 * 60_000);
  await api('POST', `/api/devices/${config.id}/config`, { volume: 7 });
  await until('volume 7 applied', () => sim!.device.remoteSettings().volume === 7);

  // Without a reboot the replay window refuses it (as before this fix).
  sim.device.onMessage(cmdTopic, old.line);
  expect(sim.device.rejections.replay).toBe(1);
  expect(sim.device.remoteSettings().volume).toBe(7);

  // A power cut, with the link down so the hub's fresh time command cannot close the window first.
  sim.wifiDrop(60 * 60_000);
  sim.powerCut(1_000);
  time.advance(2_000);
  expect(sim.incarnation).toBe(2);
  const rebooted = sim.device;
  const volumeAtBoot = rebooted.remoteSettings().volume; // the provisioned default (the simulator keeps no settings)
  expect(volumeAtBoot).not.toBe(3);

  // The captured command, replayed into the rebooted device: refused, nothing changes.
  rebooted.onMessage(cmdTopic, old.line);
  expect(rebooted.rejections.replay).toBe(1);
  expect(rebooted.remoteSettings().volume).toBe(volumeAtBoot);

  // The link returns: the hub's fresh commands (time, the desired config) are applied.
  time.advance(60 * 60_000);
  await until('the pad online again', () => sim!.link === 'up' && hub!.hub.registry.health(config.id).online);
  await until('the desired config (volume 7) re-applied', () => rebooted.remoteSettings().volume === 7);
  expect(rebooted.clock.synced).toBe(true);
  await api('POST', `/api/devices/${config.id}/config`, { volume: 5 });
  await until('a fresh push applied', () => rebooted.remoteSettings().volume === 5);
  expect(rebooted.rejections.replay).toBe(1);
  // Not a flash write per command: at most one per half replay window of hub time.
  expect(rebooted.commandMark.writes).toBeLessThanOrEqual(2);
  expect(rebooted.commandMark.failures).toBe(0);
}, 60_000);

test('the replay mark: written rarely, kept per signing key, and a failing storage does not silence the device', () => {
  const time = new VirtualTime(1_800_000_000_000);
  const hw = createSimHardware({ time });
  const make = (secret: string) => {
    const parsed = parseDeviceConfig({ id: 'pad-unit', role: 'pad', site: 'site1', win: 'W1', secret });
    if (Array.isArray(parsed)) throw new Error(JSON.stringify(parsed));
    const device = new Device(parsed, hw);
    const key = deriveSigningKey(fromHex(secret)!, hmacSha256);
    const send = (t: number, volume: number) => device.onMessage(topicFor('site1', 'pad-unit', 'cmd'),
      utf8Encode(encodeCommand({ v: 1, dev: 'pad-unit', t, type: 'config', body: { rateTimeout: null, unsolicited: null, volume, idleText: null } }, key, hmacSha256) as string));
    return { device, send };
  };
  const t0 = time.now();
  const a = make('5a'.repeat(32));
  // One command every 2 s for 5 minutes: 150 commands, a mark write per 30 s of hub time.
  for (let i = 0; i < 150; i++) a.send(t0 + i * 2_000, i % 10);
  expect(a.device.commandMark.writes).toBeLessThanOrEqual(11);
  expect(hw.storage.writes).toBe(a.device.commandMark.writes);
  expect(hw.storage.get('cmdMark')).toMatch(/^\d+ [0-9a-f]{8}$/);
  // Rebooted: the last command before the reboot (within half a window of the mark) is refused.
  const b = make('5a'.repeat(32));
  b.send(t0 + 149 * 2_000 - 61_000, 3);
  expect(b.device.rejections.replay).toBe(1);
  b.send(t0 + 149 * 2_000 + 1_000, 4);
  expect(b.device.remoteSettings().volume).toBe(4);
  // Re-keyed (a new secret): the old key's mark means nothing, the first command is taken.
  const c = make('77'.repeat(32));
  c.send(t0, 2);
  expect(c.device.rejections.replay ?? 0).toBe(0);
  expect(c.device.remoteSettings().volume).toBe(2);
  // A storage that fails: the command still acts, the failure is counted and tried again next time.
  hw.storage.set = () => { throw new Error('nvs: no space'); };
  c.send(t0 + 120_000, 5);
  expect(c.device.remoteSettings().volume).toBe(5);
  expect(c.device.commandMark.failures).toBe(1);
  expect(c.device.lastRejection).toMatch(/command mark not stored: nvs: no space/);
  // Preference's limits hold in the simulator too.
  expect(() => new MemoryStorage().set('a-key-longer-than-15', '1')).toThrow(/expected 1–15/);
  expect(() => new MemoryStorage().set('k', 'x'.repeat(4001))).toThrow(/more than 4000 bytes/);
});
