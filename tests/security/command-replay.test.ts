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
import { topicFor } from '../../firmware/core/protocol.js';
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
