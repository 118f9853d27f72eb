/**
 * Benchmark (on demand, never in the tests): N simulated devices (default 10,000) in this process,
 * each the unchanged firmware core with its own MQTT connection, against a hub in another
 * process. Measures memory per device and the time for all to connect and report state.
 *
 *   npx tsx bench/sim-10k.ts [count]
 *
 * It re-executes itself under `ulimit -n 20000` (one socket per device here, and one per device
 * in the hub's embedded broker).
 */

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HubClient } from '../simulator/hub-client.js';
import { MemoryFlash } from '../simulator/flash.js';
import { SimDevice } from '../simulator/sim-device.js';
import { VirtualTime } from '../simulator/virtual-time.js';
import type { DeviceConfig } from '../firmware/core/config.js';

const self = fileURLToPath(import.meta.url);
const ROOT = path.join(path.dirname(self), '..');
const count = Number(process.argv[2] ?? 10_000);

if (!process.env.SANNUO_BENCH_CHILD) {
  const r = spawnSync('sh', ['-c', `ulimit -n 20000 && exec "${process.execPath}" --expose-gc --import tsx "${self}" ${count}`], { stdio: 'inherit', env: { ...process.env, SANNUO_BENCH_CHILD: '1' }, cwd: ROOT });
  process.exit(r.status ?? 1);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

async function pool<T>(items: T[], width: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) { const i = next++; await fn(items[i], i); } }));
}

const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-bench-'));
const [httpPort, mqttPort] = [await freePort(), await freePort()];
const token = `sannuo_bench_${randomBytes(16).toString('hex')}`;
const hubProc = spawn(process.execPath, [...(process.env.SANNUO_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SANNUO_BENCH_PROFILE}`] : []), '--import', 'tsx', path.join(ROOT, 'hub/main.ts')], {
  cwd: ROOT, stdio: ['ignore', process.env.SANNUO_BENCH_HUB_LOG ? 'inherit' : 'ignore', 'inherit'],
  env: { ...process.env, SANNUO_DATA: data, SANNUO_HTTP_PORT: String(httpPort), SANNUO_MQTT_PORT: String(mqttPort), SANNUO_HTTP_HOST: '127.0.0.1', SANNUO_MQTT_HOST: '127.0.0.1', SANNUO_LOG_LEVEL: 'warn', SANNUO_API_TOKEN: token },
});
const hub = new HubClient(`http://127.0.0.1:${httpPort}`, { timeoutMs: 60_000, token });
try {
  await hub.waitReady(60_000);
  let t = Date.now();
  const configs: DeviceConfig[] = new Array(count);
  await pool([...Array(count).keys()], 32, async (i) => {
    const win = `W${String(Math.floor(i / 2)).padStart(5, '0')}`;
    configs[i] = await hub.provision({ role: i % 2 ? 'pad' : 'display', win, id: `${win}-${i % 2 ? 'pad' : 'dsp'}` });
  });
  console.log(`provisioned ${count} devices in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const time = new VirtualTime(Date.now());
  const ticker = setInterval(() => time.advanceTo(Date.now()), 50); // real time
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage();
  const devices = configs.map((config) => new SimDevice({ config, time, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, flash: new MemoryFlash({ capacity: 128 * 1024 }), historyCap: 0, reconnectPeriod: 2000 }));
  t = Date.now();
  // Power on in a ramp, as a hall's breakers come on: 200 at a time.
  for (let i = 0; i < devices.length; i += 200) {
    for (const d of devices.slice(i, i + 200)) d.powerOn();
    await new Promise((r) => setTimeout(r, 20));
  }
  for (;;) {
    const up = devices.filter((d) => d.link === 'up').length;
    if (up === count) break;
    if (Date.now() - t > 600_000) throw new Error(`only ${up}/${count} connected after 10 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const connected = Date.now() - t;
  for (;;) {
    const { devices: listed } = await hub.devices();
    const online = listed.filter((d) => (d.health as { online?: boolean }).online).length;
    if (online >= count) break;
    if (Date.now() - t > 600_000) throw new Error(`hub sees ${online}/${count} online after 10 minutes`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const reported = Date.now() - t;
  (globalThis as { gc?: () => void }).gc?.();
  const after = process.memoryUsage();
  const perDevice = (after.heapUsed - before.heapUsed) / count;
  const rssPer = (after.rss - before.rss) / count;
  console.log(JSON.stringify({
    devices: count,
    allConnectedSeconds: +(connected / 1000).toFixed(1),
    allOnlineAtHubSeconds: +(reported / 1000).toFixed(1),
    heapPerDeviceKiB: +(perDevice / 1024).toFixed(1),
    rssPerDeviceKiB: +(rssPer / 1024).toFixed(1),
    heapTotalMiB: +(after.heapUsed / 1048576).toFixed(0),
  }));
  clearInterval(ticker);
  for (const d of devices) d.shutdown();
} finally {
  hubProc.kill('SIGTERM');
  await new Promise((r) => hubProc.once('exit', r));
  fs.rmSync(data, { recursive: true, force: true });
}
process.exit(0);
